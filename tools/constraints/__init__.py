"""Offline checks of what the cloud's API would refuse, from the cloud's own published API models.

`core` is cloud-neutral (Violation, rules, bindings, Registry); each cloud is one module exposing `PLUGIN`
(a core.CloudPlugin) and listed in PLUGIN_MODULES: `aws` reads botocore's service models; `local` maps the
types no cloud sees (pulumi-random, pulumi-tls, pulumi-command). An Azure file would read the azure-mgmt SDKs'
`_validation` maps, a GCP file the discovery documents, and add themselves here.
`naming` emulates the names providers choose before any API call (used by the runner).
"""

from __future__ import annotations

import importlib
from functools import lru_cache

from tools.constraints.core import Registry, TypeConstraints, Violation, format_violations

PLUGIN_MODULES = (
    "tools.constraints.aws",
    "tools.constraints.local",
    "tools.constraints.gcp",
    "tools.constraints.azure",
    "tools.constraints.kubernetes",
)


@lru_cache(maxsize=1)
def registry() -> Registry:
    reg = Registry()
    for name in PLUGIN_MODULES:
        reg.register(importlib.import_module(name).PLUGIN)
    return reg


def autoname_rule(type_token: str):
    """The auto-naming rule a plugin declares for a type, if any."""
    for plugin in registry().plugins:
        if type_token.split(":", 1)[0] in plugin.packages and hasattr(plugin, "autoname"):
            return plugin.autoname(type_token)
    return None


__all__ = [
    "PLUGIN_MODULES",
    "Registry",
    "TypeConstraints",
    "Violation",
    "autoname_rule",
    "format_violations",
    "registry",
]
