"""Monitoring: the alerts an on-call needs exist (as Prometheus rules shipped to the monitoring node or as the
cloud's own alarms), and the cloud's alarms watch every machine, so losing the monitoring node still pages.
Shared by every cloud; alarms that notify are each cloud's own family (aws/cloudwatch.py)."""

from __future__ import annotations

import re

from pulumi_policy import Severity

from . import backup, operators
from .clouds import CLOUDS, NAMES, machine_nodes, machines, of_cloud_types
from .core import Rule, settings, short, stack_policy

AREA = "monitoring"

MON_001 = Rule(
    id="PGP-MON-001",
    title="Required alerts present",
    why="Each listed failure otherwise goes unnoticed until users or the restore drill find it.",
    description="The stack ships an alert for each failure an operator must hear about: instance down, no or "
    "multiple primaries, replication lag, WAL archiving failing, last backup too old, disk almost "
    "full, connection saturation, certificate expiry.",
    severity=Severity.HIGH,
    control="seed: monitoring alerts for every failure mode of the cluster",
    area=AREA,
    scope="stack",
    clouds=NAMES,
    remediation="Add the missing alert to the rendered Prometheus rules (dataplane) or as one of the cloud's "
    "alarms (CloudWatch on AWS).",
    config={
        "required_alerts": {
            "type": "object",
            "additionalProperties": {"type": "string"},
            "description": "concern -> regex matched (case-insensitive) against each alert's name, expression and "
            "summary, and each cloud alarm's name, description and metric",
            "default": {
                "instance-down": r"(instance|node|postgres|exporter|patroni|member|target)\w*\s*(is\s*)?down"
                r"|\bup\b\s*==\s*0|StatusCheckFailed",
                "no-primary": r"no.?(primary|leader)|(primary|leader).?(missing|absent|lost)",
                "multiple-primaries": r"(multiple|split.?brain|more.?than.?one|several|two).?(primar|leader)",
                "replication-lag": r"replication.?lag|replica.?lag|lag.?bytes|replay.?lag",
                "wal-archiving": r"(wal|archiv)\w*.?(fail|error|stuck|behind|lag)|archive.?(fail|error)"
                r"|pg_stat_archiver",
                "backup-age": r"backup\w*.?(too.?old|old|stale|age|missing|overdue)|last.?backup",
                "disk-space": r"disk|filesystem|volume.?(full|space)|free.?space",
                "connection-saturation": r"connection\w*.?(satur|exhaust|limit|high|max|usage)"
                r"|too.?many.?connections|max_connections",
                "cert-expiry": r"cert\w*.?expir|tls.?expir|ssl.?expir|expir\w*.?cert",
            },
        }
    },
)


def alert_texts(resources) -> list[tuple[str, str]]:
    """(label, searchable text) per alert the stack ships."""
    texts: list[tuple[str, str]] = []
    # Rules shipped to a monitoring node, and those an operator-run cluster's PrometheusRule holds.
    rendered = [a for _, _, node in machine_nodes(resources) for a in node.alerts()]
    for a in [*rendered, *operators.rule_alerts(resources)]:
        ann = a.get("annotations") or {}
        texts.append(
            (
                f"alert {a.get('alert')}",
                " ".join(
                    str(x) for x in (a.get("alert"), a.get("expr"), ann.get("summary"), ann.get("description")) if x
                ),
            )
        )
    for cloud in CLOUDS:
        texts += [cloud.alarm_text(a) for a in of_cloud_types(resources, cloud, cloud.alarm_types)]
    return texts


# The concern a stage without backups has nothing to alert on (PGP-BAK-002 decides whether it may be one).
BACKUP_AGE = "backup-age"


def without_backups(resources) -> bool:
    """Whether the stack's PostgreSQL machines all archive nothing (pg-platform:backups.enabled: false)."""
    nodes = [node for _, _, node in machine_nodes(resources) if node.is_postgres_node]
    return bool(nodes) and not any(backup.archives_to_repository(node) for node in nodes)


def _alerts(args, report) -> None:
    required: dict[str, str] = dict(settings(args, MON_001)["required_alerts"])
    if without_backups(args.resources):
        required.pop(BACKUP_AGE, None)
    texts = alert_texts(args.resources)
    for concern, pattern in required.items():
        rx = re.compile(pattern, re.IGNORECASE)
        if not any(rx.search(t) for _, t in texts):
            report(f"no alert for {concern} (none of {len(texts)} alerts/alarms matches /{pattern}/)")


MON_003 = Rule(
    id="PGP-MON-003",
    title="Every instance watched from outside",
    why="Prometheus runs on one of the instances it watches; when that node or its zone is lost, only the cloud's "
    "own alarms still notice, so every database and monitoring instance needs an alarm of its own.",
    description="Each instance is the subject of at least one of the cloud's alarms (on AWS a CloudWatch alarm "
    "whose dimensions depend on the instance), e.g. StatusCheckFailed.",
    severity=Severity.HIGH,
    control="seed: alarms that still page when the monitoring node is gone",
    area=AREA,
    scope="stack",
    clouds=NAMES,
    remediation="On AWS, add a MetricAlarm on AWS/EC2 StatusCheckFailed with dimensions={'InstanceId': "
    "instance.id} for every instance.",
)


def _watched(args, report) -> None:
    for cloud, r in machines(args.resources):
        alarms = of_cloud_types(args.resources, cloud, cloud.alarm_types)
        if not any(cloud.watches(a, r) for a in alarms):
            report(f"{short(r.urn)} has no {cloud.alarm_label} on its own metrics", r.urn)


POLICIES = [
    (MON_001, stack_policy(MON_001, _alerts)),
    (MON_003, stack_policy(MON_003, _watched)),
]
