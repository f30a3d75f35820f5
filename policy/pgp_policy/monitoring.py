"""Monitoring: the alerts an on-call needs exist (as Prometheus rules shipped to the monitoring node or as
CloudWatch alarms), and CloudWatch alarms notify someone."""
from __future__ import annotations

import re
from typing import Any

from pulumi_policy import Severity

from .core import Rule, as_list, resource_policy, settings, short, stack_policy, truthy
from .graph import of_type, points_at
from .nodes import read_node

AREA = "monitoring"
INSTANCE = "aws:ec2/instance:Instance"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"

MON_001 = Rule(
    id="PGP-MON-001", title="Required alerts present",
    why="Each listed failure otherwise goes unnoticed until users or the restore drill find it.",
    description="The stack ships an alert for each failure an operator must hear about: instance down, no or "
                "multiple primaries, replication lag, WAL archiving failing, last backup too old, disk almost "
                "full, connection saturation, certificate expiry.",
    severity=Severity.HIGH, control="seed: monitoring alerts for every failure mode of the cluster", area=AREA,
    scope="stack",
    remediation="Add the missing alert to the rendered Prometheus rules (dataplane) or as a CloudWatch alarm.",
    config={"required_alerts": {
        "type": "object", "additionalProperties": {"type": "string"},
        "description": "concern -> regex matched (case-insensitive) against each alert's name, expression and "
                       "summary, and each CloudWatch alarm's name, description and metric",
        "default": {
            "instance-down": r"(instance|node|postgres|exporter|patroni|member|target)\w*\s*(is\s*)?down|\bup\b\s*==\s*0|StatusCheckFailed",
            "no-primary": r"no.?(primary|leader)|(primary|leader).?(missing|absent|lost)",
            "multiple-primaries": r"(multiple|split.?brain|more.?than.?one|several|two).?(primar|leader)",
            "replication-lag": r"replication.?lag|replica.?lag|lag.?bytes|replay.?lag",
            "wal-archiving": r"(wal|archiv)\w*.?(fail|error|stuck|behind|lag)|archive.?(fail|error)|pg_stat_archiver",
            "backup-age": r"backup\w*.?(too.?old|old|stale|age|missing|overdue)|last.?backup",
            "disk-space": r"disk|filesystem|volume.?(full|space)|free.?space",
            "connection-saturation": r"connection\w*.?(satur|exhaust|limit|high|max|usage)|too.?many.?connections|max_connections",
            "cert-expiry": r"cert\w*.?expir|tls.?expir|ssl.?expir|expir\w*.?cert",
        }}},
)


def alert_texts(resources) -> list[tuple[str, str]]:
    """(label, searchable text) per alert the stack ships."""
    texts: list[tuple[str, str]] = []
    for r in of_type(resources, INSTANCE):
        for a in read_node(r.props).alerts():
            ann = a.get("annotations") or {}
            texts.append((f"alert {a.get('alert')}",
                          " ".join(str(x) for x in (a.get("alert"), a.get("expr"), ann.get("summary"),
                                                    ann.get("description")) if x)))
    for r in of_type(resources, ALARM):
        p = r.props
        metrics = " ".join(str(q.get("metric", {}).get("metricName") if isinstance(q.get("metric"), dict) else "")
                           for q in as_list(p.get("metricQueries")))
        texts.append((f"alarm {p.get('name') or r.name}",
                      " ".join(str(x) for x in (p.get("name") or r.name, p.get("alarmDescription"),
                                                p.get("metricName"), metrics) if x)))
    return texts


def _alerts(args, report) -> None:
    required: dict[str, str] = settings(args, MON_001)["required_alerts"]
    texts = alert_texts(args.resources)
    for concern, pattern in required.items():
        rx = re.compile(pattern, re.IGNORECASE)
        if not any(rx.search(t) for _, t in texts):
            report(f"no alert for {concern} (none of {len(texts)} alerts/alarms matches /{pattern}/)")


MON_002 = Rule(
    id="PGP-MON-002", title="CloudWatch alarms notify",
    why="An alarm without an action changes state in a console nobody watches.",
    description="Every CloudWatch alarm is enabled and has at least one alarm action (SNS topic).",
    severity=Severity.MEDIUM, control="seed: alarms reach the on-call receivers", area=AREA, scope="resource",
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


MON_003 = Rule(
    id="PGP-MON-003", title="Every instance watched from outside",
    why="Prometheus runs on one of the instances it watches; when that node or its zone is lost, only CloudWatch "
        "still notices, so every database and monitoring instance needs an alarm of its own.",
    description="Each EC2 instance is the subject of at least one CloudWatch alarm (an alarm whose dimensions "
                "depend on the instance), e.g. StatusCheckFailed.",
    severity=Severity.HIGH, control="seed: alarms that still page when the monitoring node is gone", area=AREA,
    scope="stack",
    remediation="Add a MetricAlarm on AWS/EC2 StatusCheckFailed with dimensions={'InstanceId': instance.id} "
                "for every instance.",
)


def _watched(args, report) -> None:
    alarms = of_type(args.resources, ALARM)
    for r in of_type(args.resources, INSTANCE):
        if not any(points_at(a, "dimensions", r) for a in alarms):
            report(f"{short(r.urn)} has no CloudWatch alarm on its own metrics", r.urn)


LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
LOG_001 = Rule(
    id="PGP-LOG-001", title="Log groups encrypted and retained",
    why="Flow and database logs are evidence: they must outlive an incident's discovery and not be readable by "
        "everyone with logs:GetLogEvents.",
    description="CloudWatch log groups are encrypted with a KMS key and keep events at least the configured "
                "number of days (unset or 0 means never expire, which is accepted).",
    severity=Severity.MEDIUM, control="CKV_AWS_158, CKV_AWS_338", area=AREA, scope="resource",
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
    (MON_001, stack_policy(MON_001, _alerts)),
    (MON_002, resource_policy(MON_002, _notifies)),
    (MON_003, stack_policy(MON_003, _watched)),
    (LOG_001, resource_policy(LOG_001, _log_group)),
]
