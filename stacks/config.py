"""The one place that reads Pulumi config."""
from __future__ import annotations

import pulumi

from stacks.files import namespace_values
from stacks.settings import NAMESPACE, Settings, parse_settings


def load_settings() -> Settings:
    """Read every `pg-platform:*` key (so misspelt ones are reported, which pulumi.Config would silently
    ignore) and the provider region."""
    # The engine hands config to the program through set_all_config (PULUMI_CONFIG for older hosts);
    # enumerating it is the only way to see keys the program does not know.
    from pulumi.runtime import config as runtime_config

    everything = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    region = pulumi.Config("aws").get("region")
    return parse_settings(namespace_values(everything, NAMESPACE), stack=pulumi.get_stack(), region=region,
                          project=pulumi.get_project())
