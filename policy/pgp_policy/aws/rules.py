"""AWS's own rule families, in the order the docs list them; every id is PGP-AWS-<FAMILY>-<NNN>."""

from __future__ import annotations

from . import cloudwatch, ec2, iam, kms, network, s3, secretsmanager
from .types import CLOUD

FAMILIES = (network, s3, kms, ec2, iam, secretsmanager, cloudwatch)
POLICIES = [pair for module in FAMILIES for pair in module.POLICIES]
__all__ = ["CLOUD", "FAMILIES", "POLICIES"]
