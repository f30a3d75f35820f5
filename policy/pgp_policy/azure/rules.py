"""Azure's own rule families, in the order the docs list them; every id is PGP-AZURE-<FAMILY>-<NNN>."""

from __future__ import annotations

from . import compute, identity, keyvault, monitor, network, privatelink, storage
from .types import CLOUD

FAMILIES = (network, privatelink, storage, keyvault, compute, identity, monitor)
POLICIES = [pair for module in FAMILIES for pair in module.POLICIES]
__all__ = ["CLOUD", "FAMILIES", "POLICIES"]
