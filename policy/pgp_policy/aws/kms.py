"""KMS: customer keys (the vault's, the volumes', the secrets') rotate."""

from __future__ import annotations

from pulumi_policy import Severity

from ..core import Rule, resource_policy, truthy
from .types import CLOUD, KMS_KEY

AREA = "backup"


# --- PGP-AWS-KMS-001 ----------------------------------------------------------------------------------------
KMS_001 = Rule(
    id="PGP-AWS-KMS-001",
    title="KMS keys rotate",
    why="Rotation limits how much data one compromised key version protects.",
    description="Customer-managed KMS keys have automatic rotation enabled.",
    severity=Severity.MEDIUM,
    control="CKV_AWS_7",
    area=AREA,
    scope="resource",
    clouds=(CLOUD,),
    remediation="Set enable_key_rotation=True on the aws.kms.Key.",
)


def _kms_rotation(args, report) -> None:
    if args.resource_type == KMS_KEY and not truthy(args.props.get("enableKeyRotation")):
        report(f"{args.name}: enableKeyRotation is not true")


POLICIES = [
    (KMS_001, resource_policy(KMS_001, _kms_rotation)),
]
