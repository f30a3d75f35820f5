"""Prometheus scrape configuration and alert rules for one cluster.

Thresholds come from the topology where it has an opinion (lag bound, backup cadence, failover timing), so an
alert fires when the stage's objective is at risk rather than at a generic number.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath

import yaml

from dataplane import restore_drill
from dataplane.model import ClusterSpec
from dataplane.operations import PATRONICTL_COMMAND
from dataplane.postgresql import IDLE_IN_TRANSACTION_TIMEOUT_SECONDS, max_wal_size_mb
from dataplane.routing import read_lag_bytes
from stacks.topology import Topology

SCRAPE_INTERVAL_SECONDS = 15
CERT_WARNING_DAYS = 21
CERT_CRITICAL_DAYS = 7
DISK_FREE_CRITICAL = 0.05
DISK_FREE_WARNING = 0.15
CONNECTION_SATURATION = 0.85
# Slack on top of the schedule before a missing backup alerts: a backup of a large cluster takes hours.
BACKUP_SLACK_HOURS = 6
# Transaction-ID wraparound, in XIDs of age(datfrozenxid). Anti-wraparound autovacuum starts at
# autovacuum_freeze_max_age (200 million, the default the platform keeps): a database 2.5 times past it has had
# its freezing vacuum blocked or failing for a long time. PostgreSQL stops assigning XIDs 3 million short of
# 2^31; at the critical threshold about 650 million remain, days at a busy OLTP rate, enough to find the
# blocker (a long transaction, a forgotten slot or prepared transaction) and run VACUUM (FREEZE).
AUTOVACUUM_FREEZE_MAX_AGE = 200_000_000
XID_AGE_WARNING = 5 * AUTOVACUUM_FREEZE_MAX_AGE // 2
XID_AGE_CRITICAL = 1_500_000_000
XID_WRAPAROUND_LIMIT = 2**31
# A transaction running this long holds back vacuum on every table (and, through hot_standby_feedback, on the
# primary when it runs on a standby) and usually is a stuck job rather than work.
LONG_TRANSACTION_SECONDS = 30 * 60
# Half of the timeout at which PostgreSQL ends such a session: time to find the application before it loses
# its transaction.
IDLE_IN_TRANSACTION_SECONDS = IDLE_IN_TRANSACTION_TIMEOUT_SECONDS // 2
# A slot retaining twice max_wal_size keeps WAL checkpoints would otherwise have recycled; inactive, it retains
# more with every write until pg_wal fills the disk.
SLOT_RETAINED_WAL_FACTOR = 2
# Autovacuum falling behind: a table with this share of dead tuples (autovacuum_vacuum_scale_factor is 0.2, so
# it is past due), at least this many (small tables do not matter), and no vacuum of any kind for a day.
AUTOVACUUM_DEAD_RATIO = 0.2
AUTOVACUUM_MIN_DEAD_TUPLES = 10_000
AUTOVACUUM_STALE_SECONDS = 86400
# The node's wrapper, not bare patronictl: that one fails without the member's passwords in its environment.
PATRONICTL = PurePosixPath(PATRONICTL_COMMAND).name


@dataclass(frozen=True)
class Thresholds:
    """What the topology decides for the expressions: derived once, whichever metrics a flavour has."""

    lag_bytes: int
    any_backup_max_seconds: int
    full_backup_max_seconds: int
    synchronous_count: int
    restore_drill_max_seconds: int
    slot_retained_bytes: int


@dataclass(frozen=True)
class MetricVocabulary:
    """One flavour's metrics: the expression of each alert it can evaluate, and why it leaves out the others.

    The alerts themselves (names, severities, thresholds, `for`, texts) are cluster_alert_rules' alone, so
    every flavour raises the same alerts for the same conditions. `annotations` replaces texts that name the
    flavour's tools (alert -> annotation -> text)."""

    name: str
    exprs: Mapping[str, Callable[[Thresholds], str]]
    left_out: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, Mapping[str, str]] = field(default_factory=dict)


# Expressions of the VM flavour's alerts that take their threshold, so a drill can evaluate the same expression
# with a threshold it can reach in seconds (a 30-minute transaction, 500 million XIDs).
def vm_xid_age_above(xids: int) -> str:
    # Standbys report the primary's catalog: one value per database.
    return f"max by (datname) (pgp_database_xid_age) > {xids}"


def vm_oldest_transaction_above(seconds: int) -> str:
    return f"max by (member) (pgp_connections_oldest_transaction_seconds) > {seconds}"


def vm_idle_in_transaction_above(seconds: int) -> str:
    return f"max by (member) (pgp_connections_oldest_idle_in_transaction_seconds) > {seconds}"


_ON_PRIMARY = "and on (member) pgp_replication_is_replica == 0"


def vm_slot_inactive() -> str:
    # Patroni keeps the members' slots on standbys too, where they retain nothing the primary needs.
    return f"pg_replication_slots_active == 0 {_ON_PRIMARY}"


def vm_slot_retains_above(bytes_: int) -> str:
    return f"pg_replication_slots_pg_wal_lsn_diff > {bytes_} {_ON_PRIMARY}"


def vm_autovacuum_behind(ratio: float, min_dead: int, stale_seconds: int) -> str:
    dead, live = "pgp_table_dead_tuples", "pgp_table_live_tuples"
    return (
        f"{dead} > {min_dead} and {dead} / clamp_min({dead} + {live}, 1) > {ratio} "
        f"and time() - pgp_table_last_vacuum_timestamp_seconds > {stale_seconds}"
    )


# The VM flavour: postgres_exporter with our pgp_* queries, node_exporter with the textfile metrics, Patroni.
VM_VOCABULARY = MetricVocabulary(
    name="vm",
    exprs={
        "PostgresTargetDown": lambda t: 'up{job=~"postgres|node|patroni"} == 0',
        "PostgresDown": lambda t: "pg_up == 0",
        "PatroniNoPrimary": lambda t: "(sum(patroni_primary) or vector(0)) < 1",
        "PatroniMultiplePrimaries": lambda t: "sum(patroni_primary) > 1",
        "PostgresReplicationLag": lambda t: f"max by (member) (pgp_replication_replay_lag_bytes) > {t.lag_bytes}",
        "WalArchivingFailing": lambda t: "max by (member) (pgp_archiver_failing) == 1",
        "BackupMetricsMissing": lambda t: "absent(pgp_backup_info_success) or max(pgp_backup_info_success) == 0",
        "BackupTooOld": lambda t: (
            f"time() - max(pgp_backup_last_completion_timestamp_seconds) > {t.any_backup_max_seconds}"
        ),
        "FullBackupTooOld": lambda t: (
            f'time() - max(pgp_backup_last_completion_timestamp_seconds{{type="full"}}) > {t.full_backup_max_seconds}'
        ),
        "DiskFreeCritical": lambda t: (
            f"node_filesystem_avail_bytes / node_filesystem_size_bytes < {DISK_FREE_CRITICAL} "
            f"and node_filesystem_readonly == 0"
        ),
        "DiskFreeLow": lambda t: (
            f"node_filesystem_avail_bytes / node_filesystem_size_bytes < {DISK_FREE_WARNING} "
            f"and node_filesystem_readonly == 0"
        ),
        "PostgresConnectionSaturation": lambda t: (
            f"max by (member) (pgp_connections_used / pgp_connections_available) > {CONNECTION_SATURATION}"
        ),
        "PostgresChecksumFailure": lambda t: "increase(pgp_checksums_failures[1h]) > 0",
        "CertificateExpiresSoon": lambda t: (
            f"pgp_tls_certificate_expiry_timestamp_seconds - time() < {CERT_WARNING_DAYS} * 86400"
        ),
        "CertificateExpiryCritical": lambda t: (
            f"pgp_tls_certificate_expiry_timestamp_seconds - time() < {CERT_CRITICAL_DAYS} * 86400"
        ),
        # Only once Prometheus holds a whole window of data: a new cluster has run no drill yet, and that is no
        # finding until a drill was due.
        "RestoreDrillTooOld": lambda t: (
            f"time() - max({restore_drill.LAST_SUCCESS}) > {t.restore_drill_max_seconds} "
            f"or (absent({restore_drill.LAST_SUCCESS}) and on() "
            f'time() - min(prometheus_tsdb_lowest_timestamp_seconds{{job="prometheus"}}) > '
            f"{t.restore_drill_max_seconds})"
        ),
        "RestoreDrillFailed": lambda t: f"max({restore_drill.LAST_RUN}) > max({restore_drill.LAST_SUCCESS})",
        "SynchronousStandbyMissing": lambda t: (
            f'(count(pgp_senders_lag_bytes{{sync_state=~"sync|quorum"}}) or vector(0)) '
            f"< {t.synchronous_count} and on() sum(patroni_primary) == 1"
        ),
        "TransactionIdWraparoundWarning": lambda t: vm_xid_age_above(XID_AGE_WARNING),
        "TransactionIdWraparoundCritical": lambda t: vm_xid_age_above(XID_AGE_CRITICAL),
        "PostgresLongRunningTransaction": lambda t: vm_oldest_transaction_above(LONG_TRANSACTION_SECONDS),
        "PostgresIdleInTransaction": lambda t: vm_idle_in_transaction_above(IDLE_IN_TRANSACTION_SECONDS),
        "ReplicationSlotInactive": lambda t: vm_slot_inactive(),
        "ReplicationSlotRetainingWal": lambda t: vm_slot_retains_above(t.slot_retained_bytes),
        "AutovacuumFallingBehind": lambda t: vm_autovacuum_behind(
            AUTOVACUUM_DEAD_RATIO, AUTOVACUUM_MIN_DEAD_TUPLES, AUTOVACUUM_STALE_SECONDS
        ),
    },
)
# Every alert cluster_alert_rules can raise (SynchronousStandbyMissing only on synchronous stages): the VM
# flavour evaluates them all.
ALL_ALERTS = frozenset(VM_VOCABULARY.exprs)


@dataclass(frozen=True)
class ScrapeTargets:
    """Where the monitoring node finds what is not a member: its own Prometheus/Alertmanager and the router."""

    prometheus: str  # host:port
    alertmanagers: tuple[str, ...]  # host:port
    router_metrics: str | None = None  # host:port of HAProxy's exporter (the sandbox); None behind a cloud LB


def render_prometheus_config(
    spec: ClusterSpec, targets: ScrapeTargets, rules_files: tuple[str, ...], ca_file: str | None
) -> str:
    """`ca_file` is the cluster CA on the monitoring node, to verify the members' Patroni REST certificates.

    Without it Patroni's /metrics is still scraped over TLS but unverified: a GET of public health metrics
    sends nothing secret, and losing the no-primary/split-brain alerts would be worse."""
    patroni_tls = {"ca_file": ca_file, "insecure_skip_verify": False} if ca_file else {"insecure_skip_verify": True}

    def static(port_of) -> list[dict]:
        return [
            {"targets": [f"{m.host}:{port_of(m)}"], "labels": {"member": m.name, "zone": m.zone}} for m in spec.members
        ]

    scrape = [
        {"job_name": "prometheus", "static_configs": [{"targets": [targets.prometheus]}]},
        {"job_name": "alertmanager", "static_configs": [{"targets": list(targets.alertmanagers)}]},
        {"job_name": "postgres", "static_configs": static(lambda m: m.ports.postgres_exporter)},
        {"job_name": "node", "static_configs": static(lambda m: m.ports.node_exporter)},
        {
            "job_name": "patroni",
            "scheme": "https",
            "metrics_path": "/metrics",
            "tls_config": patroni_tls,
            "static_configs": static(lambda m: m.ports.patroni_rest),
        },
    ]
    if targets.router_metrics:
        scrape.append(
            {
                "job_name": "haproxy",
                "metrics_path": "/metrics",
                "static_configs": [{"targets": [targets.router_metrics]}],
            }
        )
    config = {
        "global": {
            "scrape_interval": f"{SCRAPE_INTERVAL_SECONDS}s",
            "evaluation_interval": f"{SCRAPE_INTERVAL_SECONDS}s",
            "scrape_timeout": "10s",
            "external_labels": {"cluster": spec.scope, "stage": spec.topology.stage},
        },
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": list(targets.alertmanagers)}]}]},
        "rule_files": list(rules_files),
        "scrape_configs": scrape,
    }
    return f"# rendered by pg-platform dataplane for {spec.scope}; do not edit\n" + yaml.safe_dump(
        config, sort_keys=False, width=1000
    )


def _duration(seconds: int) -> str:
    return (
        f"{seconds // 3600}h"
        if seconds % 3600 == 0 and seconds >= 3600
        else f"{seconds // 60}m"
        if seconds % 60 == 0 and seconds >= 60
        else f"{seconds}s"
    )


def _rule(
    name: str, expr: str, for_: str, severity: str, summary: str, description: str, runbook: str, runbook_base: str
) -> dict:
    return {
        "alert": name,
        "expr": expr,
        "for": for_,
        "labels": {"severity": severity},
        "annotations": {
            "summary": summary,
            "description": description,
            "runbook": runbook,
            "runbook_url": f"{runbook_base}#{name.lower()}",
        },
    }


# What a stage without backups (pg-platform:backups.enabled: false) does not ship: it takes none and restores
# none, so these could only ever fire. WalArchivingFailing stays: its archive_command cannot fail, and if it
# is ever changed back by hand to one that does, the operator must hear of the growing pg_wal.
BACKUP_ALERTS = ("BackupMetricsMissing", "BackupTooOld", "FullBackupTooOld", "RestoreDrillTooOld", "RestoreDrillFailed")


def cluster_alert_rules(
    scope: str,
    topo: Topology,
    runbook_base: str = "docs/runbooks.md",
    vocabulary: MetricVocabulary = VM_VOCABULARY,
    backups_enabled: bool = True,
) -> dict:
    """The alert rules of a cluster: they depend on its name, its derived topology and whether it backs up;
    `vocabulary` says how each is evaluated on a flavour's metrics (and which it cannot evaluate, left out)."""
    sched = topo.backup_schedule.value
    # Any backup (full, diff or incr) runs at least daily on every stage; a full every full_interval_days.
    full_max = sched.full_interval_days * 86400 + BACKUP_SLACK_HOURS * 3600
    any_max = 86400 + BACKUP_SLACK_HOURS * 3600
    # Failover normally completes within ttl + loop_wait; only a longer gap without a leader is an incident.
    no_primary_for = max(30, topo.ttl.value + topo.loop_wait.value)
    lag = read_lag_bytes(topo) if not topo.synchronous else read_lag_bytes(topo) * 4
    slot_retained = SLOT_RETAINED_WAL_FACTOR * max_wal_size_mb(topo.node_size) * 1024 * 1024
    thresholds = Thresholds(
        lag,
        any_max,
        full_max,
        topo.synchronous_node_count.value,
        topo.restore_drill.value.max_age_seconds,
        slot_retained,
    )

    def expr(name: str) -> str:
        # A left-out alert renders with an empty expression and is dropped below.
        return (
            vocabulary.exprs[name](thresholds) if name in vocabulary.exprs and name not in vocabulary.left_out else ""
        )

    rb = runbook_base
    rules = [
        _rule(
            "PostgresTargetDown",
            expr("PostgresTargetDown"),
            "1m",
            "critical",
            "{{ $labels.job }} on {{ $labels.member }} is not answering scrapes",
            "Prometheus could not scrape {{ $labels.instance }} for 1 minute: the node, the service or the "
            "network path is down.",
            "Check the instance state; on the node: "
            "systemctl status pgp-patroni pgp-postgres-exporter pgp-node-exporter; "
            f"{PATRONICTL} list shows whether the member is still in the cluster.",
            rb,
        ),
        _rule(
            "PostgresDown",
            expr("PostgresDown"),
            "1m",
            "critical",
            "PostgreSQL on {{ $labels.member }} refuses the exporter",
            "postgres_exporter is up but cannot query PostgreSQL on {{ $labels.member }}.",
            f"{PATRONICTL} list; journalctl -u pgp-patroni; check pg_hba and the monitor role's password.",
            rb,
        ),
        _rule(
            "PatroniNoPrimary",
            expr("PatroniNoPrimary"),
            _duration(no_primary_for),
            "critical",
            "no primary in cluster " + scope,
            f"No Patroni member has reported the leader role for {no_primary_for} s (longer than ttl + "
            f"loop_wait): writes are failing.",
            f"{PATRONICTL} list; {PATRONICTL} history; check etcd health (etcdctl endpoint health --cluster); in "
            "strict synchronous mode a failover needs a healthy sync standby.",
            rb,
        ),
        _rule(
            "PatroniMultiplePrimaries",
            expr("PatroniMultiplePrimaries"),
            "0s",
            "critical",
            "more than one primary in cluster " + scope,
            "{{ $value }} members report the leader role at once: a split brain risks divergent writes.",
            f"Stop traffic to all but the DCS leader ({PATRONICTL} list), then reinitialise the others "
            f"({PATRONICTL} reinit).",
            rb,
        ),
        _rule(
            "PostgresReplicationLag",
            expr("PostgresReplicationLag"),
            "2m",
            "warning",
            "standby {{ $labels.member }} is {{ $value | humanize1024 }}B behind",
            f"Replay lag above {lag} bytes for 2 minutes: reads from this standby are stale and it may not "
            f"be promotable (maximum_lag_on_failover {topo.maximum_lag_on_failover.value}).",
            "Check I/O and CPU on the standby, long queries holding replay (pg_stat_activity), network "
            "throughput between zones.",
            rb,
        ),
        _rule(
            "WalArchivingFailing",
            expr("WalArchivingFailing"),
            "5m",
            "critical",
            "WAL archiving is failing on {{ $labels.member }}",
            "The newest archive_command attempt failed and none has succeeded since: point-in-time "
            "recovery coverage has stopped and pg_wal is growing.",
            "Read the pgBackRest log under the log directory; pgbackrest check --stanza; check bucket "
            "permissions, KMS access and the spool directory's free space.",
            rb,
        ),
        _rule(
            "BackupMetricsMissing",
            expr("BackupMetricsMissing"),
            "30m",
            "critical",
            "backup state of " + scope + " is unknown or the stanza is unhealthy",
            "No member could read pgbackrest info for 30 minutes (or the stanza reports an error).",
            "Run the node metrics script by hand on a member; pgbackrest info --stanza.",
            rb,
        ),
        _rule(
            "BackupTooOld",
            expr("BackupTooOld"),
            "10m",
            "critical",
            "no backup of " + scope + " completed in {{ $value | humanizeDuration }}",
            f"The newest backup of any type is older than a day plus {BACKUP_SLACK_HOURS} h: the schedule "
            f"is not running on the primary.",
            "Check the backup cron on the primary (it runs only where /primary answers 200); run "
            "pgbackrest backup --type=incr by hand and read its log.",
            rb,
        ),
        _rule(
            "FullBackupTooOld",
            expr("FullBackupTooOld"),
            "10m",
            "warning",
            "no full backup of " + scope + " in {{ $value | humanizeDuration }}",
            f"Full backups are due every {sched.full_interval_days} day(s); the retention and the object lock "
            f"assume complete chains.",
            "pgbackrest backup --type=full on the primary; check the full backup cron line.",
            rb,
        ),
        _rule(
            "DiskFreeCritical",
            expr("DiskFreeCritical"),
            "5m",
            "critical",
            "{{ $labels.mountpoint }} on {{ $labels.member }} is below 5% free",
            "PostgreSQL stops when pg_wal cannot grow; archiving failures fill the disk quickly.",
            "Check pg_wal size and archiving; grow the volume (the data volume is gp3 and can be resized online).",
            rb,
        ),
        _rule(
            "DiskFreeLow",
            expr("DiskFreeLow"),
            "30m",
            "warning",
            "{{ $labels.mountpoint }} on {{ $labels.member }} is below 15% free",
            "Plan a volume resize before the critical threshold.",
            "Resize the data volume.",
            rb,
        ),
        _rule(
            "PostgresConnectionSaturation",
            expr("PostgresConnectionSaturation"),
            "5m",
            "warning",
            "{{ $labels.member }} uses {{ $value | humanizePercentage }} of its connections",
            "New sessions will be refused once max_connections is reached.",
            "Route applications through PgBouncer (pooled port); look for idle sessions in pg_stat_activity.",
            rb,
        ),
        _rule(
            "PostgresChecksumFailure",
            expr("PostgresChecksumFailure"),
            "0s",
            "critical",
            "data page checksum failures on {{ $labels.member }}",
            "PostgreSQL read a corrupted page: the storage under this member is damaged.",
            f"Fail over away from the member ({PATRONICTL} switchover), then reinitialise it from backup.",
            rb,
        ),
        _rule(
            "CertificateExpiresSoon",
            expr("CertificateExpiresSoon"),
            "1h",
            "warning",
            "{{ $labels.file }} on {{ $labels.member }} expires in {{ $value | humanizeDuration }}",
            "Cluster TLS certificates are renewed by the next deployment (`pulumi up`).",
            "Run pulumi up for the stack; the nodes fetch renewed certificates from the secrets store.",
            rb,
        ),
        _rule(
            "CertificateExpiryCritical",
            expr("CertificateExpiryCritical"),
            "10m",
            "critical",
            "{{ $labels.file }} on {{ $labels.member }} expires in {{ $value | humanizeDuration }}",
            "Replication, etcd and client TLS stop working when the certificate expires.",
            "Renew now: pulumi up, then restart patroni, etcd and pgbouncer on each member in turn.",
            rb,
        ),
        _rule(
            "TransactionIdWraparoundWarning",
            expr("TransactionIdWraparoundWarning"),
            "15m",
            "warning",
            "database {{ $labels.datname }} is {{ $value | humanize }} transaction IDs old",
            f"age(datfrozenxid) is above {XID_AGE_WARNING:,} ({XID_AGE_WARNING / AUTOVACUUM_FREEZE_MAX_AGE:g} x "
            f"autovacuum_freeze_max_age): anti-wraparound vacuum is not keeping up. PostgreSQL stops accepting "
            f"writes near {XID_WRAPAROUND_LIMIT:,}.",
            "Find what holds the xmin horizon back: long transactions and idle-in-transaction sessions "
            "(pg_stat_activity, backend_xmin), inactive replication slots (pg_replication_slots, xmin and "
            "catalog_xmin), prepared transactions (pg_prepared_xacts); then list the oldest tables "
            "(SELECT relname, age(relfrozenxid) FROM pg_class WHERE relkind IN ('r','t','m') ORDER BY 2 DESC) and "
            "VACUUM (FREEZE, VERBOSE) them in that database.",
            rb,
        ),
        _rule(
            "TransactionIdWraparoundCritical",
            expr("TransactionIdWraparoundCritical"),
            "5m",
            "critical",
            "database {{ $labels.datname }} is {{ $value | humanize }} transaction IDs old",
            f"age(datfrozenxid) is above {XID_AGE_CRITICAL:,} of the {XID_WRAPAROUND_LIMIT:,} limit: PostgreSQL "
            "will refuse new transactions once it is reached, and the fix then needs single-user mode.",
            "Now: end the blocker (pg_terminate_backend of the oldest backend_xmin, drop the inactive slot, "
            "ROLLBACK PREPARED), then VACUUM (FREEZE, VERBOSE) the oldest tables of that database with "
            "vacuum_cost_delay 0; watch age(datfrozenxid) fall.",
            rb,
        ),
        _rule(
            "PostgresLongRunningTransaction",
            expr("PostgresLongRunningTransaction"),
            "5m",
            "warning",
            "a transaction on {{ $labels.member }} has run for {{ $value | humanizeDuration }}",
            f"An active session's transaction is older than {_duration(LONG_TRANSACTION_SECONDS)}: it holds its "
            "locks and keeps vacuum from removing dead rows on every table (on a standby, through "
            "hot_standby_feedback, on the primary).",
            "SELECT pid, usename, application_name, now() - xact_start, query FROM pg_stat_activity WHERE "
            "state = 'active' ORDER BY xact_start; ask its owner, or pg_cancel_backend(pid) / "
            "pg_terminate_backend(pid).",
            rb,
        ),
        _rule(
            "PostgresIdleInTransaction",
            expr("PostgresIdleInTransaction"),
            "1m",
            "warning",
            "a session on {{ $labels.member }} is idle in a transaction ({{ $value | humanizeDuration }})",
            f"A client opened a transaction and stopped sending: it holds its locks and the xmin horizon, and "
            f"PostgreSQL ends it at {_duration(IDLE_IN_TRANSACTION_TIMEOUT_SECONDS)} "
            "(idle_in_transaction_session_timeout), rolling its work back.",
            "SELECT pid, usename, application_name, client_addr, now() - state_change, query FROM "
            "pg_stat_activity WHERE state LIKE 'idle in transaction%' ORDER BY state_change; fix the "
            "application's transaction handling (a missing commit, a pool returning open transactions).",
            rb,
        ),
        _rule(
            "ReplicationSlotInactive",
            expr("ReplicationSlotInactive"),
            "30m",
            "warning",
            "replication slot {{ $labels.slot_name }} on the primary {{ $labels.member }} is inactive",
            "No receiver has used the slot for 30 minutes: the primary keeps every WAL segment from its "
            "restart_lsn (and a logical slot's catalog_xmin holds back vacuum) until it is used or dropped.",
            f"{PATRONICTL} list: a member's slot is inactive while that standby is down (bring it back). Any other "
            "slot: find its consumer; if it is gone, SELECT pg_drop_replication_slot('<slot>') on the primary.",
            rb,
        ),
        _rule(
            "ReplicationSlotRetainingWal",
            expr("ReplicationSlotRetainingWal"),
            "15m",
            "warning",
            "replication slot {{ $labels.slot_name }} retains {{ $value | humanize1024 }}B of WAL",
            f"The slot holds WAL beyond {SLOT_RETAINED_WAL_FACTOR} x max_wal_size ({thresholds.slot_retained_bytes} "
            "bytes) on the primary: its receiver is behind or gone, and pg_wal grows until the disk is full.",
            "pg_replication_slots on the primary (active, restart_lsn, wal_status); a lagging standby: see "
            "PostgresReplicationLag; an abandoned slot: pg_drop_replication_slot('<slot>'). Watch DiskFreeLow "
            "on the primary.",
            rb,
        ),
        _rule(
            "AutovacuumFallingBehind",
            expr("AutovacuumFallingBehind"),
            "30m",
            "warning",
            "{{ $labels.relation }} in database {{ $labels.datname }} on {{ $labels.member }} has "
            "{{ $value | humanize }} dead tuples",
            f"More than {AUTOVACUUM_DEAD_RATIO:.0%} of the table's tuples (and over {AUTOVACUUM_MIN_DEAD_TUPLES:,}) "
            f"are dead and it has not been vacuumed for {_duration(AUTOVACUUM_STALE_SECONDS)}: it bloats, and "
            "scans read the dead rows.",
            "Check that autovacuum runs on it (pg_stat_user_tables.last_autovacuum, reloptions "
            "autovacuum_enabled), that no long transaction holds the horizon (PostgresLongRunningTransaction), "
            "and the autovacuum workers (pg_stat_progress_vacuum); VACUUM (VERBOSE) the table by hand.",
            rb,
        ),
    ]
    if topo.synchronous:
        rules.append(
            _rule(
                "SynchronousStandbyMissing",
                expr("SynchronousStandbyMissing"),
                "1m",
                "critical",
                "no synchronous standby streaming in " + scope,
                "Strict synchronous mode: commits wait until a standby confirms, so writes are blocked now.",
                f"{PATRONICTL} list; bring a standby back (check its Patroni and replication logs).",
                rb,
            )
        )
    if "restore_drill" not in dict(topo.unused):
        drill = topo.restore_drill.value
        every = "day" if drill.interval_days == 1 else f"{drill.interval_days} days"
        rules += [
            _rule(
                "RestoreDrillTooOld",
                expr("RestoreDrillTooOld"),
                "10m",
                "critical",
                "no restore drill of " + scope + " has passed in " + _duration(drill.max_age_seconds),
                f"The scheduled restore drill runs every {every} ({drill.cron} UTC); none has passed since: the "
                "backups are not proven restorable.",
                f"journalctl -t {restore_drill.LOG_TAG} on the members; pgp journal; run "
                f"{restore_drill.RESTORE_DRILL_COMMAND} as root on the member it names.",
                rb,
            ),
            _rule(
                "RestoreDrillFailed",
                expr("RestoreDrillFailed"),
                "0s",
                "critical",
                "the last restore drill of " + scope + " failed",
                "The newest backup did not restore and replay to a consistent state, or could not be read end to "
                "end: a restore from it may fail when it is needed.",
                f"journalctl -t {restore_drill.LOG_TAG} on the member that ran it names the step; fix it, then run "
                f"{restore_drill.RESTORE_DRILL_COMMAND} again (--set LABEL for one backup).",
                rb,
            ),
        ]
    names = {r["alert"] for r in rules}
    unknown = (set(vocabulary.exprs) | set(vocabulary.left_out) | set(vocabulary.annotations)) - ALL_ALERTS
    both = set(vocabulary.exprs) & set(vocabulary.left_out)
    missing = names - set(vocabulary.exprs) - set(vocabulary.left_out)
    if unknown or both or missing:
        raise ValueError(
            f"metric vocabulary {vocabulary.name}: every alert needs an expression or a reason to leave it out "
            f"(unknown {sorted(unknown)}, both {sorted(both)}, neither {sorted(missing)})"
        )
    rules = [r for r in rules if r["alert"] not in vocabulary.left_out]
    if not backups_enabled:
        rules = [r for r in rules if r["alert"] not in BACKUP_ALERTS]
    for r in rules:
        r["annotations"].update(vocabulary.annotations.get(r["alert"], {}))
        r["labels"]["cluster"] = scope
    return {"groups": [{"name": f"{scope}-postgres", "rules": rules}]}


def alert_rules(spec: ClusterSpec, runbook_base: str = "docs/runbooks.md") -> dict:
    return cluster_alert_rules(spec.scope, spec.topology, runbook_base, backups_enabled=spec.backups_enabled)


def render_alert_rules(spec: ClusterSpec, runbook_base: str = "docs/runbooks.md") -> str:
    return f"# rendered by pg-platform dataplane for {spec.scope}; do not edit\n" + yaml.safe_dump(
        alert_rules(spec, runbook_base), sort_keys=False, width=1000
    )
