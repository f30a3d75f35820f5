"""Backups as the nodes run them: pgBackRest's retention and the full-backup schedule in each node's files, or
the retention policy of an operator's ObjectStore. Shared by every cloud; the vault itself (the store and its
lock) is each cloud's own family (aws/s3.py)."""

from __future__ import annotations

import re

from pulumi_policy import Severity

from . import operators
from .clouds import NAMES, machine_node, machine_nodes
from .core import Rule, resource_policy, settings

AREA = "backup"

_CRON = re.compile(r"^\s*([\d*/,-]+)\s+([\d*/,-]+)\s+([\d*/,-]+)\s+([\w*/,-]+)\s+([\w*/,-]+)\s+(.*)$")


def _interval_days(dom: str, dow: str) -> int:
    if dow != "*":
        if "-" in dow or "/" in dow:
            return 1
        return max(1, 7 // len(dow.split(",")))
    if dom != "*":
        return max(1, 28 // len(dom.split(",")))
    return 1


def full_backup_interval_days(resources) -> int | None:
    """Days between full backups as scheduled on the nodes (crontab lines running `pgbackrest ... --type=full`).
    The lock must cover this much, or some backup chain has an unlocked full."""
    intervals = []
    for _, _, node in machine_nodes(resources):
        for content in node.files.values():
            for line in content.splitlines():
                m = _CRON.match(line)
                if m and "pgbackrest" in m.group(6) and "--type=full" in m.group(6):
                    intervals.append(_interval_days(m.group(3), m.group(5)))
    return max(intervals) if intervals else None


# --- PGP-BAK-001 -----------------------------------------------------------------------------------------
BAK_001 = Rule(
    id="PGP-BAK-001",
    title="Backup retention meets the stage minimum",
    why="Point-in-time recovery is only possible as far back as full backups are kept.",
    description="Every PostgreSQL node's pgBackRest repository keeps full backups (time-based), and every "
    "Barman Cloud ObjectStore its recovery window, for at least the stage's minimum number of days.",
    severity=Severity.HIGH,
    control="seed: prod keeps 30 days of point-in-time recovery",
    area=AREA,
    scope="resource",
    clouds=NAMES,
    remediation="Set objectives.retention_days; the rendered pgbackrest.conf must carry "
    "repoN-retention-full-type=time and repoN-retention-full >= the minimum.",
    config={"min_retention_days": {"type": "integer", "minimum": 1, "default": 30}},
)


def _retention(args, report) -> None:
    if args.resource_type == operators.OBJECT_STORE:
        _window(args, report)
        return
    node = machine_node(args.resource_type, args.props)
    if node is None or not node.is_postgres_node:
        return
    minimum = settings(args, BAK_001)["min_retention_days"]
    options: dict[str, str] = {}
    for section in node.pgbackrest().values():
        options.update(section)
    repos = sorted({m.group(1) for k in options for m in [re.match(r"^(repo\d+)-", k)] if m})
    if not repos:
        report(f"{args.name}: no pgBackRest repository configured")
        return
    for repo in repos:
        kind = options.get(f"{repo}-retention-full-type", "count")
        value = options.get(f"{repo}-retention-full")
        if kind != "time":
            report(f"{args.name}: {repo}-retention-full-type is {kind}; use time so retention is in days")
        elif value is None or int(value) < minimum:
            report(f"{args.name}: {repo} keeps full backups {value or 'unset'} day(s), minimum {minimum}")


def _window(args, report) -> None:
    minimum = settings(args, BAK_001)["min_retention_days"]
    policy = operators.spec_of(args).get("retentionPolicy")
    days = operators.retention_days(policy)
    if days is None:
        shown = policy or "unset (nothing is ever pruned)"
        report(f"{args.name}: retentionPolicy is {shown}; give a window such as {minimum}d")
    elif days < minimum:
        report(f"{args.name}: retentionPolicy {policy} keeps {days} day(s), minimum {minimum}")


# --- PGP-BAK-002 -----------------------------------------------------------------------------------------
BAK_002 = Rule(
    id="PGP-BAK-002",
    title="Backups on",
    why="A stage that archives no WAL and schedules no full backup loses everything written since it was "
    "created when its cluster is lost; only a throwaway stage may choose that.",
    description="Every PostgreSQL node's archive_command pushes WAL to pgBackRest (archive-push) and its cron "
    "schedules a full pgBackRest backup. A dev stage may turn both off (pg-platform:backups.enabled: false); "
    "its config sets require_backups to false.",
    severity=Severity.CRITICAL,
    control="CIS PostgreSQL 7.4; seed: a governed stage always keeps point-in-time recovery",
    area=AREA,
    scope="resource",
    clouds=NAMES,
    remediation="Remove pg-platform:backups.enabled (or set it to true); the rendered archive_command must run "
    "pgbackrest archive-push and /etc/cron.d/pgp-backup must schedule --type=full.",
    config={"require_backups": {"type": "boolean", "default": True}},
)


def archives_to_repository(node) -> bool:
    """Whether a PostgreSQL node's archive_command hands WAL to pgBackRest (not a no-op such as /bin/true)."""
    command = str(node.postgres_parameters().get("archive_command") or "")
    return "pgbackrest" in command and "archive-push" in command


def schedules_full_backup(node) -> bool:
    return any(
        (m := _CRON.match(line)) and "pgbackrest" in m.group(6) and "--type=full" in m.group(6)
        for content in node.files.values()
        for line in content.splitlines()
    )


def _backups_on(args, report) -> None:
    node = machine_node(args.resource_type, args.props)
    if node is None or not node.is_postgres_node or not settings(args, BAK_002)["require_backups"]:
        return
    if not archives_to_repository(node):
        shown = node.postgres_parameters().get("archive_command") or "unset"
        report(f"{args.name}: archive_command is {shown!r}, which pushes no WAL to pgBackRest")
    if not schedules_full_backup(node):
        report(f"{args.name}: no cron line schedules a full pgBackRest backup")


POLICIES = [
    (BAK_001, resource_policy(BAK_001, _retention)),
    (BAK_002, resource_policy(BAK_002, _backups_on)),
]
