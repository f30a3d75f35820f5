"""Settings straight from a stack file, for tools that run without the Pulumi engine (sandbox, topology)."""
from __future__ import annotations

from pathlib import Path

from stacks.files import ROOT, engine_config, namespace_values
from stacks.settings import Settings, parse_settings


def settings_for_stack(stack: str, root: Path = ROOT) -> Settings:
    config = engine_config(stack, root)
    return parse_settings(namespace_values(config), stack=stack, region=config.get("aws:region"))
