"""Secrets Manager: the stack's secrets sit under a customer key and survive an accidental deletion."""

from __future__ import annotations

from pulumi_policy import Severity

from ..core import Rule, resource_policy, settings
from .types import CLOUD, SECRET

AREA = "iam"

SEC_001 = Rule(
    id="PGP-AWS-SEC-001",
    title="Secrets encrypted with a customer key, recoverable",
    why="With the AWS-managed key anyone allowed secretsmanager:GetSecretValue reads every secret; a customer key "
    "adds a second, auditable grant. A recovery window undoes an accidental deletion.",
    description="Secrets Manager secrets name a customer-managed KMS key and keep a recovery window of at least "
    "the configured days.",
    severity=Severity.MEDIUM,
    control="CKV_AWS_149; seed: secrets in Secrets Manager",
    area=AREA,
    scope="resource",
    clouds=(CLOUD,),
    remediation="Pass kms_key_id=<the stack's secrets key arn> and recovery_window_in_days >= the minimum.",
    config={"min_recovery_window_days": {"type": "integer", "minimum": 0, "maximum": 30, "default": 7}},
)


def _secret(args, report) -> None:
    if args.resource_type != SECRET:
        return
    key = args.props.get("kmsKeyId")
    if not key or str(key).startswith("alias/aws/"):
        report(f"{args.name}: kmsKeyId is {key or 'unset'} (AWS-managed key)")
    window = args.props.get("recoveryWindowInDays")
    minimum = settings(args, SEC_001)["min_recovery_window_days"]
    if window is not None and int(window) < minimum:
        report(f"{args.name}: recoveryWindowInDays is {int(window)}, minimum {minimum}")


POLICIES = [(SEC_001, resource_policy(SEC_001, _secret))]
