"""Kubernetes' own rule families, in the order the docs list them; every id is PGP-KUBERNETES-<FAMILY>-<NNN>."""

from __future__ import annotations

from . import backup, helm, namespaces, network, pods, poolers, roles
from .types import CLOUD

FAMILIES = (namespaces, pods, network, roles, poolers, backup, helm)
POLICIES = [pair for module in FAMILIES for pair in module.POLICIES]
__all__ = ["CLOUD", "FAMILIES", "POLICIES"]
