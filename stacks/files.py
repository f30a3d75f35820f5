"""Read a `Pulumi.<stack>.yaml` into the flat key -> value map the engine hands a program."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent


def stack_file(stack: str, root: Path = ROOT) -> Path:
    return root / f"Pulumi.{stack}.yaml"


def stack_names(root: Path = ROOT) -> list[str]:
    return sorted(p.name[len("Pulumi."):-len(".yaml")] for p in root.glob("Pulumi.*.yaml"))


def namespace_values(config: dict[str, Any], namespace: str = "pg-platform") -> dict[str, Any]:
    """`pg-platform:x` keys of an engine config map, prefix stripped and structured values decoded."""
    prefix = f"{namespace}:"
    # Keys written as `pg-platform:config:x` by older CLIs are normalised by the engine; accept both.
    return {k[len(prefix):].removeprefix("config:"): _decode(v) for k, v in config.items() if k.startswith(prefix)}


def _decode(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def engine_config(stack: str, root: Path = ROOT, overrides: dict | None = None) -> dict[str, str]:
    """Config as the engine passes it: namespaced keys, structured values JSON-encoded."""
    doc = yaml.safe_load(stack_file(stack, root).read_text()) or {}
    config = dict(doc.get("config") or {})
    config.update(overrides or {})
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}
