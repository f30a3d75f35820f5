"""Settings straight from a stack file, for tools that run without the Pulumi engine (sandbox, topology)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from stacks.files import ROOT, engine_config
from stacks.settings import NAMESPACE, Settings, parse_settings


def _decode(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return value


def settings_for_stack(stack: str, root: Path = ROOT) -> Settings:
    config = engine_config(stack, root)
    prefix = f"{NAMESPACE}:"
    raw = {k[len(prefix):]: _decode(v) for k, v in config.items() if k.startswith(prefix)}
    return parse_settings(raw, stack=stack, region=config.get("aws:region"))
