"""The one place that reads Pulumi config."""
from __future__ import annotations

import json
from typing import Any

import pulumi

from stacks.settings import NAMESPACE, Settings, parse_settings


def _decode(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return value


def load_settings() -> Settings:
    """Read every `pg-platform:*` key (so unknown ones are reported) and the provider region."""
    # The engine hands config to the program through set_all_config (or PULUMI_CONFIG for older hosts);
    # enumerating it is the only way to catch misspelt keys, which pulumi.Config would silently ignore.
    from pulumi.runtime import config as runtime_config

    raw_all = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    prefix = f"{NAMESPACE}:"
    raw = {k[len(prefix):]: _decode(v) for k, v in raw_all.items() if k.startswith(prefix)}
    # Keys written as `pg-platform:config:x` by older CLIs are normalised by the engine; accept both.
    raw = {k.removeprefix("config:"): v for k, v in raw.items()}
    region = pulumi.Config("aws").get("region")
    return parse_settings(raw, stack=pulumi.get_stack(), region=region, project=pulumi.get_project())
