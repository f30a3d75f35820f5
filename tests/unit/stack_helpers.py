"""Stack-file settings as the engine hands them to the program, for tests that vary one key."""
from __future__ import annotations

import copy
from typing import Any

from stacks.files import engine_config, namespace_values
from stacks.settings import Settings, parse_settings


def raw_settings(stack: str) -> tuple[dict[str, Any], str]:
    config = engine_config(stack)
    return namespace_values(config), config["aws:region"]


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
