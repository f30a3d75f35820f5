"""Azure Monitor: metric alerts are enabled and notify an action group, and action groups reach someone."""

from __future__ import annotations

from pulumi_policy import Severity

from ..core import Rule, as_list, plain, resource_policy, truthy
from .types import ACTION_GROUP, CLOUD, METRIC_ALERT

AREA = "monitoring"
RECEIVERS = (
    "emailReceivers",
    "smsReceivers",
    "webhookReceivers",
    "azureAppPushReceivers",
    "voiceReceivers",
    "logicAppReceivers",
    "azureFunctionReceivers",
    "automationRunbookReceivers",
    "armRoleReceivers",
    "eventHubReceivers",
    "itsmReceivers",
    "incidentReceivers",
)

MON_001 = Rule(
    id="PGP-AZURE-MON-001",
    title="Metric alerts notify",
    why="An alert without an action group changes state in a portal nobody watches.",
    description="Every metric alert is enabled, watches at least one resource and names at least one action group.",
    severity=Severity.MEDIUM,
    control="CIS Microsoft Azure Foundations 5.2 (activity/metric alerts); seed: alarms reach the on-call",
    area=AREA,
    scope="resource",
    clouds=(CLOUD,),
    remediation="Set actions=[{'action_group_id': group.id}] and scopes=[vm.id]; leave enabled True.",
)


def _notifies(args, report) -> None:
    if args.resource_type != METRIC_ALERT:
        return
    p = args.props
    if p.get("enabled") is not None and not truthy(p.get("enabled")):
        report(f"{args.name}: enabled is false")
    if not as_list(plain(p.get("scopes"))):
        report(f"{args.name}: no scopes")
    if not [a for a in as_list(p.get("actions")) if a.get("actionGroupId")]:
        report(f"{args.name}: no action group in actions")


MON_002 = Rule(
    id="PGP-AZURE-MON-002",
    title="Action groups reach someone",
    why="An action group without receivers, or disabled, swallows every alert routed to it.",
    description="Every action group is enabled and has at least one receiver (e-mail, webhook, SMS, ...).",
    severity=Severity.MEDIUM,
    control="seed: alarms reach the on-call receivers",
    area=AREA,
    scope="resource",
    clouds=(CLOUD,),
    remediation="Set enabled=True and add the on-call receivers (email_receivers or webhook_receivers to the "
    "paging service).",
)


def _reaches(args, report) -> None:
    if args.resource_type != ACTION_GROUP:
        return
    p = args.props
    if not truthy(p.get("enabled")):
        report(f"{args.name}: enabled is not true")
    if not any(as_list(p.get(k)) for k in RECEIVERS):
        report(f"{args.name}: no receivers")


POLICIES = [
    (MON_001, resource_policy(MON_001, _notifies)),
    (MON_002, resource_policy(MON_002, _reaches)),
]
