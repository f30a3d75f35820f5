"""GCP's own rule families, in the order the docs list them; every id is PGP-GCP-<FAMILY>-<NNN>."""

from __future__ import annotations

from . import compute, dns, iam, kms, lb, monitoring, network, secretmanager, storage
from .types import CLOUD

FAMILIES = (network, lb, dns, storage, kms, compute, iam, secretmanager, monitoring)
POLICIES = [pair for module in FAMILIES for pair in module.POLICIES]
__all__ = ["CLOUD", "FAMILIES", "POLICIES"]
