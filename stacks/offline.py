"""Settings straight from a stack file, for tools that run without the Pulumi engine (sandbox, topology)."""
from __future__ import annotations

from pathlib import Path

from stacks.files import ROOT, stack_config
from stacks.settings import Settings, parse_config


def settings_for_stack(stack: str, root: Path = ROOT) -> Settings:
    config = stack_config(stack, root)
    return parse_config(config.values, stack=stack, secret_keys=config.secret_keys)
