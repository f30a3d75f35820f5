"""CloudWatch: alarms notify someone, log groups are encrypted and kept."""

from __future__ import annotations

from typing import Any

from pulumi_policy import Severity

from ..core import Rule, as_list, resource_policy, settings, truthy
from .types import ALARM, CLOUD, LOG_GROUP

AREA = "monitoring"

MON_002 = Rule(
    id="PGP-AWS-MON-002",
    title="CloudWatch alarms notify",
    why="An alarm without an action changes state in a console nobody watches.",
    description="Every CloudWatch alarm is enabled and has at least one alarm action (SNS topic).",
    severity=Severity.MEDIUM,
    control="seed: alarms reach the on-call receivers",
    area=AREA,
    scope="resource",
    clouds=(CLOUD,),
    remediation="Set alarm_actions (and ok_actions) to the stack's SNS topic; leave actions_enabled true.",
)


def _notifies(args, report) -> None:
    if args.resource_type != ALARM:
        return
    p: Any = args.props
    if p.get("actionsEnabled") is not None and not truthy(p.get("actionsEnabled")):
        report(f"{args.name}: actionsEnabled is false")
    if not as_list(p.get("alarmActions")):
        report(f"{args.name}: no alarmActions")


LOG_001 = Rule(
    id="PGP-AWS-LOG-001",
    title="Log groups encrypted and retained",
    why="Flow and database logs are evidence: they must outlive an incident's discovery and not be readable by "
    "everyone with logs:GetLogEvents.",
    description="CloudWatch log groups are encrypted with a KMS key and keep events at least the configured "
    "number of days (unset or 0 means never expire, which is accepted).",
    severity=Severity.MEDIUM,
    control="CKV_AWS_158, CKV_AWS_338",
    area=AREA,
    scope="resource",
    clouds=(CLOUD,),
    remediation="Set kms_key_id to a customer key whose policy admits logs.<region>.amazonaws.com and "
    "retention_in_days >= the minimum.",
    config={"min_retention_days": {"type": "integer", "minimum": 1, "default": 365}},
)


def _log_group(args, report) -> None:
    if args.resource_type != LOG_GROUP:
        return
    if not args.props.get("kmsKeyId"):
        report(f"{args.name}: no kmsKeyId")
    days = args.props.get("retentionInDays")
    minimum = settings(args, LOG_001)["min_retention_days"]
    if days is not None and 0 < int(days) < minimum:
        report(f"{args.name}: retentionInDays is {int(days)}, minimum {minimum}")


POLICIES = [
    (MON_002, resource_policy(MON_002, _notifies)),
    (LOG_001, resource_policy(LOG_001, _log_group)),
]
