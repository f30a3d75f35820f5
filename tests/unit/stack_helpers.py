"""Stack-file settings as the engine hands them to the program, for tests that vary one key."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stacks.files import ROOT, engine_config, namespace_values, stack_file
from stacks.offline import settings_for_stack
from stacks.settings import NAMESPACE, Settings, cloud_of, parse_settings


def raw_settings(stack: str) -> tuple[dict[str, Any], str]:
    """The pg-platform values and the region under the key of the stack's cloud (a Kubernetes stack's host's)."""
    config = engine_config(stack)
    raw = namespace_values(config)
    return raw, config[cloud_of(raw).region_key]


def settings_with(stack: str, **changes: Any) -> Settings:
    """Parse the stack's settings after replacing values named `section__key`; None deletes the key."""
    raw, region = raw_settings(stack)
    raw = copy.deepcopy(raw)
    for dotted, value in changes.items():
        *path, last = dotted.split("__")
        target = raw
        for part in path:
            target = target[part]
        if value is None:
            target.pop(last, None)
        else:
            target[last] = value
    return parse_settings(raw, stack, region)


def stack_text(stack: str) -> str:
    """The repository's stack file as text."""
    return stack_file(stack, ROOT).read_text()


def edited(stack: str, old: str, new: str) -> str:
    """The stack file with one exact piece of text replaced (it must occur exactly once)."""
    text = stack_text(stack)
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times in Pulumi.{stack}.yaml"
    return text.replace(old, new)


def write_stack(root: Path, stack: str, content: str | bytes) -> Path:
    path = root / f"Pulumi.{stack}.yaml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


def settings_from_text(root: Path, content: str | bytes, stack: str = "prod") -> Settings:
    """Settings of a stack file with this content, read the way the offline tools read it."""
    write_stack(root, stack, content)
    return settings_for_stack(stack, root)


def overridden(stack: str, section: str, edit: Callable[[Any], None]) -> dict[str, Any]:
    """`run_stack` overrides replacing one structured setting (`pg-platform:<section>`) by the stack file's value
    after `edit` changed it in place."""
    key = f"{NAMESPACE}:{section}"
    value = json.loads(engine_config(stack)[key])
    edit(value)
    return {key: value}
