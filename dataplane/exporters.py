"""What each member exports to Prometheus, beyond Patroni's own /metrics.

- postgres_exporter: connects as the monitoring user over TLS to the member's own address. Its password
  arrives through an environment file rendered as a template and filled at boot (DATA_SOURCE_PASS), like
  PgBouncer's auth file. Custom queries add archiver, replication, connection and checksum gauges that the
  alert rules use, with names of our own (pgp_*) so they do not depend on the exporter version's defaults.
- node_exporter: host metrics plus a textfile directory, where `node_metrics_script` writes what neither
  exporter can see: the last pgBackRest backup of each type (from `pgbackrest info`) and the expiry of the
  member's TLS certificates. A timer runs it every few minutes.
"""

from __future__ import annotations

import shlex
from pathlib import PurePosixPath

import yaml

from dataplane.model import APP_DATABASE, MONITORING_USER, SECRET_ENV, SUPERUSER, ClusterSpec, Member
from dataplane.pgbackrest import config_path as pgbackrest_config_path
from dataplane.tls import tls_files

METRICS_INTERVAL_MINUTES = 5

# The tables of the application database the node metrics script reports, the most dead tuples first: the
# autovacuum alert needs the worst ones, and the series stay bounded however many tables there are.
AUTOVACUUM_TOP_TABLES = 10
# Queries only the dashboard reads: no threshold on them would mean one thing on every stack.
DASHBOARD_ONLY_QUERIES = ("pgp_statements",)
# The statements the dashboard ranks, and how much of each one's normalised text its label keeps.
TOP_STATEMENTS = 10
TOP_STATEMENT_TEXT = 80
# postgres_exporter's own gauges the dashboard draws (grafana.py), served by its default queries: the tests
# check the installed exporter serves them.
EXPORTER_DEFAULT_GAUGES = ("pg_database_size_bytes", "pg_stat_activity_count", "pg_stat_database_xact_commit")
# Gauges the alert rules rely on (prometheus.py). Names: pgp_<query>_<column>.
CUSTOM_QUERIES: dict[str, dict] = {
    "pgp_archiver": {
        "query": (
            "SELECT archived_count, failed_count, "
            "COALESCE(EXTRACT(EPOCH FROM last_archived_time), 0) AS last_archived_time, "
            "COALESCE(EXTRACT(EPOCH FROM last_failed_time), 0) AS last_failed_time, "
            # 1 while the most recent archive attempt failed: WAL is piling up and PITR coverage stops growing.
            "CASE WHEN last_failed_time IS NOT NULL AND (last_archived_time IS NULL "
            "OR last_failed_time > last_archived_time) THEN 1 ELSE 0 END AS failing "
            "FROM pg_stat_archiver"
        ),
        "metrics": [
            {"archived_count": {"usage": "COUNTER", "description": "WAL segments archived"}},
            {"failed_count": {"usage": "COUNTER", "description": "failed archive attempts"}},
            {"last_archived_time": {"usage": "GAUGE", "description": "time of the last archived segment"}},
            {"last_failed_time": {"usage": "GAUGE", "description": "time of the last failed attempt"}},
            {"failing": {"usage": "GAUGE", "description": "1 if the last archive attempt failed"}},
        ],
    },
    "pgp_replication": {
        "query": (
            "SELECT CASE WHEN pg_is_in_recovery() THEN 1 ELSE 0 END AS is_replica, "
            "CASE WHEN pg_is_in_recovery() THEN COALESCE(pg_wal_lsn_diff(pg_last_wal_receive_lsn(), "
            "pg_last_wal_replay_lsn()), 0) ELSE 0 END AS replay_lag_bytes, "
            "CASE WHEN NOT pg_is_in_recovery() OR pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0 "
            "ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 0) END AS replay_lag_seconds"
        ),
        "metrics": [
            {"is_replica": {"usage": "GAUGE", "description": "1 on a standby"}},
            {"replay_lag_bytes": {"usage": "GAUGE", "description": "WAL received but not yet replayed"}},
            {"replay_lag_seconds": {"usage": "GAUGE", "description": "age of the last replayed transaction"}},
        ],
    },
    "pgp_senders": {
        "query": (
            "SELECT application_name, sync_state, "
            "COALESCE(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn), 0) AS lag_bytes "
            "FROM pg_stat_replication WHERE NOT pg_is_in_recovery()"
        ),
        "metrics": [
            {"application_name": {"usage": "LABEL", "description": "standby name"}},
            {"sync_state": {"usage": "LABEL", "description": "sync, potential, quorum or async"}},
            {"lag_bytes": {"usage": "GAUGE", "description": "WAL the standby has not replayed yet"}},
        ],
    },
    # Client backends only: no WAL sender, autovacuum or other background worker (the long-transaction and
    # idle-in-transaction alerts are about applications).
    "pgp_connections": {
        "query": (
            "SELECT count(*) AS used, current_setting('max_connections')::int - "
            "current_setting('superuser_reserved_connections')::int AS available, "
            "COALESCE(EXTRACT(EPOCH FROM max(now() - xact_start) FILTER (WHERE state = 'active')), 0) "
            "AS oldest_transaction_seconds, COALESCE(EXTRACT(EPOCH FROM max(now() - state_change) "
            "FILTER (WHERE state LIKE 'idle in transaction%')), 0) AS oldest_idle_in_transaction_seconds "
            "FROM pg_stat_activity WHERE backend_type = 'client backend'"
        ),
        "metrics": [
            {"used": {"usage": "GAUGE", "description": "client backends"}},
            {"available": {"usage": "GAUGE", "description": "max_connections minus the superuser reserve"}},
            {"oldest_transaction_seconds": {"usage": "GAUGE", "description": "of an active session"}},
            {"oldest_idle_in_transaction_seconds": {"usage": "GAUGE", "description": "since its state_change"}},
        ],
    },
    # Replaces the exporter's built-in query of the same name, which calls pg_current_wal_lsn() and so fails
    # on every scrape of a standby (Patroni keeps member slots on standbys too).
    "pg_replication_slots": {
        "query": (
            "SELECT slot_name, slot_type, CASE WHEN active THEN 1 ELSE 0 END AS active, "
            "COALESCE(pg_wal_lsn_diff(CASE WHEN pg_is_in_recovery() THEN pg_last_wal_receive_lsn() "
            "ELSE pg_current_wal_lsn() END, restart_lsn), 0) AS pg_wal_lsn_diff FROM pg_replication_slots"
        ),
        "metrics": [
            {"slot_name": {"usage": "LABEL", "description": "replication slot"}},
            {"slot_type": {"usage": "LABEL", "description": "physical or logical"}},
            {"active": {"usage": "GAUGE", "description": "1 while a receiver uses the slot"}},
            {"pg_wal_lsn_diff": {"usage": "GAUGE", "description": "WAL the slot retains, in bytes"}},
        ],
    },
    # Per database (the primary's catalog, on every member): the wraparound alerts.
    "pgp_database": {
        "query": "SELECT datname, age(datfrozenxid) AS xid_age FROM pg_database",
        "metrics": [
            {"datname": {"usage": "LABEL", "description": "database"}},
            {"xid_age": {"usage": "GAUGE", "description": "age(datfrozenxid)"}},
        ],
    },
    # The statements that take the most time, for the dashboard (bounded: ten series per member). Normalised
    # text only: the server tracks no utility statement (pg_stat_statements.track_utility off), so no
    # ALTER ROLE ... PASSWORD can reach a label.
    "pgp_statements": {
        "query": (
            "SELECT d.datname, s.queryid::text AS queryid, left(regexp_replace(s.query, '\\s+', ' ', 'g'), "
            f"{TOP_STATEMENT_TEXT}) AS query, s.calls, s.total_exec_time / 1000 AS total_exec_seconds "
            "FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid "
            f"ORDER BY s.total_exec_time DESC LIMIT {TOP_STATEMENTS}"
        ),
        "metrics": [
            {"datname": {"usage": "LABEL", "description": "database"}},
            {"queryid": {"usage": "LABEL", "description": "pg_stat_statements queryid"}},
            {"query": {"usage": "LABEL", "description": "normalised statement text, shortened"}},
            {"calls": {"usage": "COUNTER", "description": "times executed"}},
            {"total_exec_seconds": {"usage": "COUNTER", "description": "time spent executing"}},
        ],
    },
    "pgp_checksums": {
        "query": "SELECT COALESCE(sum(checksum_failures), 0) AS failures FROM pg_stat_database",
        "metrics": [{"failures": {"usage": "COUNTER", "description": "data page checksum failures"}}],
    },
}


def queries_path(spec: ClusterSpec, member: Member) -> str:
    return str(PurePosixPath(spec.paths_for(member).config_dir) / "postgres_exporter_queries.yml")


def env_template_path(spec: ClusterSpec, member: Member) -> str:
    return str(PurePosixPath(spec.paths_for(member).config_dir) / "postgres_exporter.env.tmpl")


def env_file_path(spec: ClusterSpec, member: Member) -> str:
    return str(PurePosixPath(spec.paths_for(member).run_dir) / "postgres_exporter.env")


def textfile_dir(spec: ClusterSpec, member: Member) -> str:
    return str(PurePosixPath(spec.paths_for(member).run_dir) / "node-exporter-textfile")


def render_postgres_exporter_queries() -> str:
    return yaml.safe_dump(CUSTOM_QUERIES, sort_keys=False, width=1000)


def render_postgres_exporter_env_template(spec: ClusterSpec, member: Member) -> str:
    """KEY=value lines for the exporter's EnvironmentFile; ${...} is filled at boot (pgbouncer.fill_command)."""
    tls = tls_files(spec, member)
    uri = (
        f"{member.host}:{member.ports.postgres}/postgres?sslmode=verify-full&sslrootcert={tls.ca}"
        f"&application_name=postgres_exporter"
    )
    return "".join(
        f"{k}={v}\n"
        for k, v in (
            ("DATA_SOURCE_URI", uri),
            ("DATA_SOURCE_USER", MONITORING_USER),
            ("DATA_SOURCE_PASS", f"${{{SECRET_ENV['monitoring']}}}"),
            ("PG_EXPORTER_EXTEND_QUERY_PATH", queries_path(spec, member)),
        )
    )


def postgres_exporter_args(spec: ClusterSpec, member: Member) -> list[str]:
    return [
        f"--web.listen-address={member.host}:{member.ports.postgres_exporter}",
        f"--extend.query-path={queries_path(spec, member)}",
        f"--constantLabels=cluster={spec.scope},member={member.name}",
        "--log.level=warn",
    ]


def node_exporter_args(spec: ClusterSpec, member: Member) -> list[str]:
    return [
        f"--web.listen-address={member.host}:{member.ports.node_exporter}",
        f"--collector.textfile.directory={textfile_dir(spec, member)}",
        "--collector.systemd",
        # Pseudo and container file systems would drown the disk alert in noise.
        "--collector.filesystem.fs-types-exclude=^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|"
        "devtmpfs|fusectl|hugetlbfs|iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|"
        "selinuxfs|squashfs|sysfs|tracefs|tmpfs)$",
    ]


_METRICS_SCRIPT = r"""
import json, os, subprocess, sys, time
from datetime import datetime, timezone

config, stanza, outdir, cluster, member, psql, socket, port, user, database, top = sys.argv[1:12]
certs = sys.argv[12:]
lines = []

def metric(name, kind, help_text, samples):
    lines.append(f"# HELP {name} {help_text}")
    lines.append(f"# TYPE {name} {kind}")
    for labels, value in samples:
        label_text = ",".join(f'{k}="{v}"' for k, v in sorted({"cluster": cluster, "member": member, **labels}.items()))
        lines.append(f"{name}{{{label_text}}} {value}")

ok = 0
latest = {}
try:
    out = subprocess.run(["pgbackrest", f"--config={config}", f"--stanza={stanza}", "--output=json", "info"],
                         capture_output=True, text=True, timeout=120)
    if out.returncode == 0:
        for st in json.loads(out.stdout):
            for backup in st.get("backup", []):
                stop = backup["timestamp"]["stop"]
                latest[backup["type"]] = max(latest.get(backup["type"], 0), stop)
            ok = 1 if st.get("status", {}).get("code") == 0 else 0
except (OSError, ValueError, subprocess.SubprocessError):
    ok = 0
metric("pgp_backup_info_success", "gauge", "1 if pgbackrest info succeeded and the stanza is ok", [({}, ok)])
metric("pgp_backup_last_completion_timestamp_seconds", "gauge", "stop time of the newest backup of each type",
       [({"type": t}, v) for t, v in sorted(latest.items())])

expiry = []
for path in certs:
    out = subprocess.run(["openssl", "x509", "-noout", "-enddate", "-in", path], capture_output=True, text=True)
    if out.returncode == 0 and "=" in out.stdout:
        when = datetime.strptime(out.stdout.strip().split("=", 1)[1], "%b %d %H:%M:%S %Y %Z")
        expiry.append(({"file": os.path.basename(path)}, int(when.replace(tzinfo=timezone.utc).timestamp())))
metric("pgp_tls_certificate_expiry_timestamp_seconds", "gauge", "notAfter of the member's certificates", expiry)
tables = []
try:
    out = subprocess.run([psql, "-XAtF,", "-h", socket, "-p", port, "-U", user, "-d", database, "-c",
                          "SELECT n_dead_tup, n_live_tup, COALESCE(EXTRACT(EPOCH FROM GREATEST(last_vacuum, "
                          "last_autovacuum)), 0), regexp_replace(schemaname || '.' || relname, '[^[:alnum:]_.]', "
                          f"'_', 'g') FROM pg_stat_user_tables ORDER BY 1 DESC, 4 LIMIT {int(top)}"],
                         capture_output=True, text=True, timeout=60)
    tables = [row.split(",", 3) for row in out.stdout.splitlines()] if out.returncode == 0 else []
except (OSError, subprocess.SubprocessError):
    pass
for i, what in enumerate(("dead_tuples", "live_tuples", "last_vacuum_timestamp_seconds")):
    metric("pgp_table_" + what, "gauge", "pg_stat_user_tables of the application database",
           [({"datname": database, "relation": t[3]}, t[i]) for t in tables])
metric("pgp_node_metrics_last_run_timestamp_seconds", "gauge", "when this script last ran", [({}, int(time.time()))])

os.makedirs(outdir, exist_ok=True)
tmp = os.path.join(outdir, ".pgp.prom.tmp")
with open(tmp, "w") as f:
    f.write("\n".join(lines) + "\n")
os.replace(tmp, os.path.join(outdir, "pgp.prom"))
"""


def render_node_metrics_script() -> str:
    return "#!/usr/bin/python3\n# rendered by pg-platform dataplane; do not edit" + _METRICS_SCRIPT


def node_metrics_script_path(spec: ClusterSpec, member: Member) -> str:
    return str(PurePosixPath(spec.paths_for(member).config_dir) / "pgp-node-metrics.py")


def node_metrics_command(spec: ClusterSpec, member: Member) -> list[str]:
    """Writes `pgp.prom` into the node exporter's textfile directory (stdlib python3, pgbackrest, openssl).

    Needs the backup cipher passphrase in its environment (pgBackRest decrypts backup.info). Reads the
    application database's table statistics (postgres_exporter connects to the postgres database, and table
    statistics are per database) as the superuser over the local socket, by peer authentication."""
    tls = tls_files(spec, member)
    paths = spec.paths_for(member)
    return [
        "/usr/bin/python3",
        node_metrics_script_path(spec, member),
        pgbackrest_config_path(spec, member),
        spec.stanza,
        textfile_dir(spec, member),
        spec.scope,
        member.name,
        f"{paths.postgres_bin_dir}/psql",
        paths.run_dir,
        str(member.ports.postgres),
        SUPERUSER,
        APP_DATABASE,
        str(AUTOVACUUM_TOP_TABLES),
        tls.cert,
        tls.client_cert,
        tls.ca,
    ]


def render_node_metrics_cron(spec: ClusterSpec, member: Member, user: str = "postgres") -> str:
    env_file = spec.paths_for(member).secrets_env
    cmd = shlex.join(node_metrics_command(spec, member))
    return (
        f"# rendered by pg-platform dataplane for {spec.scope}/{member.name}; do not edit\n"
        f"SHELL=/bin/sh\nPATH=/usr/sbin:/usr/bin:/sbin:/bin\n"
        f"*/{METRICS_INTERVAL_MINUTES} * * * * {user} set -a && . {env_file} && {cmd}\n"
    )
