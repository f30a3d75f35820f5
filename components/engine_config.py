"""The one place that reads Pulumi config: the engine's keys, handed to the pure stage model (stacks/)."""

from __future__ import annotations

import pulumi

from stacks.settings import Settings, parse_config


def load_settings() -> Settings:
    """Read every config key the engine passes (so misspelt keys and namespaces are reported, which
    pulumi.Config would silently ignore), the provider region and the keys the engine marks secret."""
    # The engine hands config to the program through set_all_config (PULUMI_CONFIG and
    # PULUMI_CONFIG_SECRET_KEYS for older hosts); enumerating it is the only way to see keys the program does
    # not know. Secret values arrive decrypted (a structured value holding a secure leaf is secret as a whole,
    # e.g. pg-platform:monitoring); reading them here rather than through pulumi.Config.get keeps the engine
    # from warning about a secret read as plain: which settings may be secret is checked in parse_config.
    from pulumi.runtime import config as runtime_config

    everything = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    secret_keys = set(runtime_config.get_config_secret_keys_env()) | set(runtime_config._SECRET_KEYS.get())
    return parse_config(everything, stack=pulumi.get_stack(), project=pulumi.get_project(), secret_keys=secret_keys)
