"""Cloud Monitoring: alert policies are enabled and notify someone; notification channels are enabled and keep
their credentials in sensitive labels."""

from __future__ import annotations

import re

from pulumi_policy import Severity

from ..core import Rule, as_list, plain, resource_policy, truthy
from .types import ALERT_POLICY, CLOUD, NOTIFICATION_CHANNEL

AREA = "monitoring"
CREDENTIAL_LABEL = re.compile(r"(token|password|secret|service_key|api_key|auth)", re.IGNORECASE)
URL_CREDENTIALS = re.compile(r"://[^/\s:@]+:[^@\s/]+@")

# --- PGP-GCP-MON-001 ----------------------------------------------------------------------------------------
MON_001 = Rule(
    id="PGP-GCP-MON-001",
    title="Alert policies notify",
    why="An alert policy without a notification channel opens incidents in a console nobody watches.",
    description="Every Cloud Monitoring alert policy is enabled and has at least one notification channel.",
    severity=Severity.MEDIUM,
    control="seed: alarms reach the on-call receivers",
    area=AREA,
    scope="resource",
    clouds=(CLOUD,),
    remediation="Set notification_channels to the stack's channels; leave enabled true.",
)


def _notifies(args, report) -> None:
    if args.resource_type != ALERT_POLICY:
        return
    p = args.props
    if p.get("enabled") is not None and not truthy(p.get("enabled")):
        report(f"{args.name}: enabled is false")
    if not as_list(p.get("notificationChannels")):
        report(f"{args.name}: no notificationChannels")


# --- PGP-GCP-MON-002 ----------------------------------------------------------------------------------------
MON_002 = Rule(
    id="PGP-GCP-MON-002",
    title="Notification channels enabled, credentials sensitive",
    why="A disabled channel drops every page; a token in plain labels is readable by anyone who can list "
    "channels and sits in Pulumi state in clear.",
    description="Notification channels are enabled; auth tokens, passwords and service keys are given as "
    "sensitiveLabels, and no label holds a URL with embedded credentials.",
    severity=Severity.MEDIUM,
    control="seed: alarms reach the on-call receivers; no secrets in plain configuration",
    area=AREA,
    scope="resource",
    clouds=(CLOUD,),
    remediation="Pass sensitive_labels={'auth_token': ...} (or service_key, password) from a Pulumi secret; keep "
    "enabled true.",
)


def _channel(args, report) -> None:
    if args.resource_type != NOTIFICATION_CHANNEL:
        return
    p = args.props
    if p.get("enabled") is not None and not truthy(p.get("enabled")):
        report(f"{args.name}: enabled is false")
    labels = plain(p.get("labels")) or {}
    for key, value in labels.items() if isinstance(labels, dict) else []:
        if CREDENTIAL_LABEL.search(str(key)):
            report(f"{args.name}: labels.{key} is a credential; pass it in sensitiveLabels")
        elif URL_CREDENTIALS.search(str(value)):
            report(f"{args.name}: labels.{key} is a URL with embedded credentials")


POLICIES = [
    (MON_001, resource_policy(MON_001, _notifies)),
    (MON_002, resource_policy(MON_002, _channel)),
]
