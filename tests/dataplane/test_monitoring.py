"""Prometheus, Alertmanager and exporters: rendered files checked by promtool/amtool, alert rules unit-tested
with `promtool test rules`, the exporter and the node metrics script run against a real instance."""

from __future__ import annotations

import re
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
import yaml
from dataplane_support import (
    as_postgres,
    cloud_spec,
    port_open,
    promtool_case,
    run_checked,
    secret_env,
    settings_for,
    stop,
    wait_for,
    write_file,
)

from dataplane import alertmanager, exporters, pgbouncer, prometheus
from dataplane.pgbackrest import config_path as pgbackrest_config_path
from dataplane.postgresql import IDLE_IN_TRANSACTION_TIMEOUT_SECONDS, postgresql_parameters

pytestmark = pytest.mark.dataplane

TARGETS = prometheus.ScrapeTargets("10.40.0.200:9090", ("10.40.0.200:9093",), "10.40.0.100:7000")


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.mark.parametrize("stack", ["prod", "dev"])
def test_promtool_accepts_config_and_rules(stack, tmp_path):
    spec = cloud_spec(stack)
    rules = _write(tmp_path / "rules.yml", prometheus.render_alert_rules(spec))
    _write(tmp_path / "ca.crt", "")
    config = _write(
        tmp_path / "prometheus.yml",
        prometheus.render_prometheus_config(spec, TARGETS, (str(rules),), str(tmp_path / "ca.crt")),
    )
    run_checked(["promtool", "check", "rules", str(rules)])
    result = run_checked(["promtool", "check", "config", str(config)])
    assert "SUCCESS" in result.stdout
    doc = yaml.safe_load(config.read_text())
    jobs = {j["job_name"]: j for j in doc["scrape_configs"]}
    assert {"postgres", "node", "patroni", "haproxy", "alertmanager", "prometheus"} <= set(jobs)
    assert jobs["patroni"]["scheme"] == "https"
    assert len(jobs["postgres"]["static_configs"]) == len(spec.members)


def test_rules_cover_the_required_alerts():
    spec = cloud_spec("prod")
    rules = prometheus.alert_rules(spec)["groups"][0]["rules"]
    names = {r["alert"] for r in rules}
    assert {
        "PostgresTargetDown",
        "PatroniNoPrimary",
        "PatroniMultiplePrimaries",
        "PostgresReplicationLag",
        "WalArchivingFailing",
        "BackupTooOld",
        "DiskFreeCritical",
        "PostgresConnectionSaturation",
        "CertificateExpiresSoon",
        "SynchronousStandbyMissing",
    } <= names
    for r in rules:
        assert r["for"] and r["labels"]["severity"] in ("critical", "warning")
        assert {"summary", "description", "runbook", "runbook_url"} <= r["annotations"].keys()
    assert "SynchronousStandbyMissing" not in {
        r["alert"] for r in prometheus.alert_rules(cloud_spec("dev"))["groups"][0]["rules"]
    }


def _expand(text: str, member: str | None, value: str | None) -> str:
    if member:
        text = text.replace("{{ $labels.member }}", member)
    if value:
        text = text.replace("{{ $value }}", value)
    return text


def _expected(rule: dict, series_labels: dict, member: str | None = None, value: str | None = None) -> dict:
    return {
        "exp_labels": {**series_labels, **rule["labels"]},
        "exp_annotations": {k: _expand(v, member, value) for k, v in rule["annotations"].items()},
    }


def test_alert_rules_fire_on_synthetic_series(tmp_path):
    spec = cloud_spec("prod")
    rules_doc = prometheus.alert_rules(spec)
    by_name = {r["alert"]: r for r in rules_doc["groups"][0]["rules"]}
    rules = _write(tmp_path / "rules.yml", yaml.safe_dump(rules_doc))
    m1, m2, m3 = (m.name for m in spec.members)
    primary = lambda m, values: {"series": f'patroni_primary{{member="{m}"}}', "values": values}  # noqa: E731
    tests = {
        "rule_files": [str(rules)],
        "evaluation_interval": "15s",
        "tests": [
            {  # a healthy cluster: one primary, archiving fine, fresh backups: nothing fires
                "interval": "15s",
                "input_series": [
                    primary(m1, "1x40"),
                    primary(m2, "0x40"),
                    primary(m3, "0x40"),
                    {"series": f'pgp_archiver_failing{{member="{m1}"}}', "values": "0x40"},
                    {"series": f'pgp_backup_info_success{{member="{m1}"}}', "values": "1x40"},
                    {"series": f'pgp_senders_lag_bytes{{member="{m1}",sync_state="sync"}}', "values": "0x40"},
                ],
                "alert_rule_test": [
                    {"eval_time": "9m", "alertname": n, "exp_alerts": []}
                    for n in (
                        "PatroniNoPrimary",
                        "PatroniMultiplePrimaries",
                        "WalArchivingFailing",
                        "BackupMetricsMissing",
                        "SynchronousStandbyMissing",
                    )
                ],
            },
            {  # leader lost and no member took over
                "interval": "15s",
                "input_series": [primary(m1, "0x40"), primary(m2, "0x40"), primary(m3, "0x40")],
                "alert_rule_test": [
                    {
                        "eval_time": "5m",
                        "alertname": "PatroniNoPrimary",
                        "exp_alerts": [_expected(by_name["PatroniNoPrimary"], {})],
                    }
                ],
            },
            {  # split brain
                "interval": "15s",
                "input_series": [primary(m1, "1x40"), primary(m2, "1x40"), primary(m3, "0x40")],
                "alert_rule_test": [
                    {
                        "eval_time": "1m",
                        "alertname": "PatroniMultiplePrimaries",
                        "exp_alerts": [_expected(by_name["PatroniMultiplePrimaries"], {}, value="2")],
                    }
                ],
            },
            {  # archive_command keeps failing on the primary
                "interval": "15s",
                "input_series": [{"series": f'pgp_archiver_failing{{member="{m2}"}}', "values": "1x40"}],
                "alert_rule_test": [
                    {"eval_time": "3m", "alertname": "WalArchivingFailing", "exp_alerts": []},
                    {
                        "eval_time": "6m",
                        "alertname": "WalArchivingFailing",
                        "exp_alerts": [_expected(by_name["WalArchivingFailing"], {"member": m2}, member=m2)],
                    },
                ],
            },
            {  # primary up but no synchronous standby streaming: strict mode blocks commits
                "interval": "15s",
                "input_series": [
                    primary(m1, "1x40"),
                    {"series": f'pgp_senders_lag_bytes{{member="{m1}",sync_state="async"}}', "values": "0x40"},
                ],
                "alert_rule_test": [
                    {
                        "eval_time": "2m",
                        "alertname": "SynchronousStandbyMissing",
                        "exp_alerts": [_expected(by_name["SynchronousStandbyMissing"], {})],
                    }
                ],
            },
        ],
    }
    path = _write(tmp_path / "tests.yml", yaml.safe_dump(tests, sort_keys=False))
    result = subprocess.run(["promtool", "test", "rules", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_day_two_alerts_fire_on_synthetic_series(tmp_path):
    """Wraparound, long and idle transactions, slots, autovacuum: each fires on its condition after its `for`,
    names its subject, and stays quiet just below its threshold or on a standby."""
    spec = cloud_spec("prod")
    rules_doc = prometheus.alert_rules(spec)
    by_name = {r["alert"]: r for r in rules_doc["groups"][0]["rules"]}
    rules = _write(tmp_path / "rules.yml", yaml.safe_dump(rules_doc))
    m1, m2, _ = (m.name for m in spec.members)
    slot_bytes = int(re.findall(r"> (\d+) and", by_name["ReplicationSlotRetainingWal"]["expr"])[0])
    assert slot_bytes == prometheus.SLOT_RETAINED_WAL_FACTOR * 4 * 2**30  # prod's nodes: max_wal_size 4GB

    def series(metric: str, value: float | int, **labels: str) -> dict:
        text = ",".join(f'{k}="{v}"' for k, v in labels.items())
        return {"series": f"{metric}{{{text}}}", "values": f"{value}x140"}

    def fired(name: str, at: str, labels: dict | None, value: str = "") -> dict:
        return promtool_case(by_name[name], at, labels, value)

    xid = "pgp_database_xid_age"
    table = {"member": m1, "datname": "app", "relation": "app.orders"}
    vacuumed = {"member": m1, "datname": "app", "relation": "app.events"}
    small = {"member": m1, "datname": "app", "relation": "app.small"}
    tests = {
        "rule_files": [str(rules)],
        "evaluation_interval": "15s",
        "tests": [
            {
                "interval": "15s",
                "input_series": [
                    # Both members report the primary's catalog: one alert per database.
                    series(xid, 600_000_000, member=m1, datname="app"),
                    series(xid, 600_000_000, member=m2, datname="app"),
                    series(xid, prometheus.XID_AGE_WARNING, member=m1, datname="postgres"),
                    series(xid, 1_600_000_000, member=m1, datname="big"),
                ],
                "alert_rule_test": [
                    fired("TransactionIdWraparoundWarning", "14m", None),
                    {
                        **fired("TransactionIdWraparoundWarning", "16m", {"datname": "app"}, "600M"),
                        "exp_alerts": [
                            fired("TransactionIdWraparoundWarning", "16m", {"datname": d}, v)["exp_alerts"][0]
                            for d, v in (("app", "600M"), ("big", "1.6G"))
                        ],
                    },
                    fired("TransactionIdWraparoundCritical", "6m", {"datname": "big"}, "1.6G"),
                ],
            },
            {
                "interval": "15s",
                "input_series": [
                    series("pgp_connections_oldest_transaction_seconds", 2000, member=m1),
                    series(
                        "pgp_connections_oldest_transaction_seconds", prometheus.LONG_TRANSACTION_SECONDS, member=m2
                    ),
                    series("pgp_connections_oldest_idle_in_transaction_seconds", 400, member=m2),
                    series("pgp_connections_oldest_idle_in_transaction_seconds", 0, member=m1),
                ],
                "alert_rule_test": [
                    fired("PostgresLongRunningTransaction", "4m", None),
                    fired("PostgresLongRunningTransaction", "6m", {"member": m1}, "33m 20s"),
                    fired("PostgresIdleInTransaction", "2m", {"member": m2}, "6m 40s"),
                ],
            },
            {
                "interval": "15s",
                "input_series": [
                    series("pgp_replication_is_replica", 0, member=m1),
                    series("pgp_replication_is_replica", 1, member=m2),
                    series("pg_replication_slots_active", 0, member=m1, slot_name="forgotten", slot_type="physical"),
                    series("pg_replication_slots_active", 1, member=m1, slot_name=m2, slot_type="physical"),
                    # Patroni keeps the slots on a standby too, unused there.
                    series("pg_replication_slots_active", 0, member=m2, slot_name="forgotten", slot_type="physical"),
                    series("pg_replication_slots_pg_wal_lsn_diff", 2 * slot_bytes, member=m1, slot_name="forgotten"),
                    series("pg_replication_slots_pg_wal_lsn_diff", slot_bytes, member=m1, slot_name=m2),
                    series("pg_replication_slots_pg_wal_lsn_diff", 2 * slot_bytes, member=m2, slot_name="forgotten"),
                ],
                "alert_rule_test": [
                    fired("ReplicationSlotInactive", "29m", None),
                    fired(
                        "ReplicationSlotInactive",
                        "31m",
                        {"member": m1, "slot_name": "forgotten", "slot_type": "physical"},
                    ),
                    fired(
                        "ReplicationSlotRetainingWal",
                        "16m",
                        {"member": m1, "slot_name": "forgotten"},
                        f"{2 * slot_bytes // 2**30}Gi",
                    ),
                ],
            },
            {
                "interval": "15s",
                "input_series": [
                    # promtool's clock starts at 0: a vacuum "a day and a bit before" is negative.
                    series("pgp_table_dead_tuples", 50_000, **table),
                    series("pgp_table_live_tuples", 50_000, **table),
                    series("pgp_table_last_vacuum_timestamp_seconds", -100_000, **table),
                    series("pgp_table_dead_tuples", 50_000, **vacuumed),
                    series("pgp_table_live_tuples", 50_000, **vacuumed),
                    series("pgp_table_last_vacuum_timestamp_seconds", 0, **vacuumed),
                    series("pgp_table_dead_tuples", prometheus.AUTOVACUUM_MIN_DEAD_TUPLES, **small),
                    series("pgp_table_live_tuples", 0, **small),
                    series("pgp_table_last_vacuum_timestamp_seconds", -100_000, **small),
                ],
                "alert_rule_test": [
                    fired("AutovacuumFallingBehind", "29m", None),
                    fired("AutovacuumFallingBehind", "31m", table, "50k"),
                ],
            },
        ],
    }
    path = _write(tmp_path / "tests.yml", yaml.safe_dump(tests, sort_keys=False))
    result = subprocess.run(["promtool", "test", "rules", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_day_two_thresholds_are_the_ones_a_dba_defends():
    # Warning well past where anti-wraparound vacuum should have run, critical with room left before 2^31.
    assert prometheus.XID_AGE_WARNING >= 2 * prometheus.AUTOVACUUM_FREEZE_MAX_AGE
    assert prometheus.XID_AGE_WARNING < prometheus.XID_AGE_CRITICAL < 0.75 * prometheus.XID_WRAPAROUND_LIMIT
    # PostgreSQL ends idle-in-transaction sessions itself: the alert must come before that.
    assert prometheus.IDLE_IN_TRANSACTION_SECONDS < IDLE_IN_TRANSACTION_TIMEOUT_SECONDS
    params = postgresql_parameters(cloud_spec("prod"), cloud_spec("prod").members[0])
    assert params["idle_in_transaction_session_timeout"] == f"{IDLE_IN_TRANSACTION_TIMEOUT_SECONDS // 60}min"
    assert params["max_wal_size"] == "4GB"


@pytest.mark.parametrize("stack", ["prod", "dev"])
def test_amtool_accepts_config_and_routes_by_severity(stack, tmp_path):
    spec = cloud_spec(stack)
    mon = settings_for(stack).monitoring
    config = _write(
        tmp_path / "alertmanager.yml",
        alertmanager.render_alertmanager_config(spec, mon.receivers, mon.smtp_smarthost, mon.smtp_from),
    )
    run_checked(["amtool", "check-config", str(config)])

    def receivers(severity: str) -> set[str]:
        out = run_checked(
            [
                "amtool",
                "config",
                "routes",
                "test",
                f"--config.file={config}",
                f"severity={severity}",
                "alertname=X",
                f"cluster={spec.scope}",
            ]
        ).stdout
        return {r.strip() for r in out.strip().split(",") if r.strip()}

    everyone = {r.name for r in mon.receivers}
    assert receivers("critical") == everyone
    emails = {r.name for r in mon.receivers if r.email}
    assert receivers("warning") == (emails or everyone)


def test_alertmanager_refuses_receivers_without_a_target():
    from stacks.settings import Receiver

    spec = cloud_spec("dev")
    with pytest.raises(ValueError, match="neither"):
        alertmanager.alertmanager_config(spec, [Receiver("x", None, None)])
    with pytest.raises(ValueError, match="smtp"):
        alertmanager.alertmanager_config(spec, [Receiver("x", "a@example.com", None)])


# --- exporters against the real instance ---------------------------------------------------------------


@pytest.fixture(scope="module")
def exporter(pg_roles):
    spec = pg_roles
    m = spec.members[0]
    write_file(Path(exporters.queries_path(spec, m)), exporters.render_postgres_exporter_queries(), 0o644)
    template = write_file(
        Path(exporters.env_template_path(spec, m)), exporters.render_postgres_exporter_env_template(spec, m), 0o600
    )
    env_file = Path(exporters.env_file_path(spec, m))
    # The same filling step the node runs for PgBouncer's auth file.
    run_checked(
        as_postgres() + pgbouncer.template_fill_command(spec, m, str(template), str(env_file)), env=secret_env()
    )
    env = dict(line.split("=", 1) for line in env_file.read_text().splitlines() if line)
    log = Path(spec.paths_for(m).log_dir) / "postgres_exporter.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [*as_postgres(), "prometheus-postgres-exporter", *exporters.postgres_exporter_args(spec, m)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={"PATH": "/usr/bin:/bin", **env},
        )
    try:
        wait_for(lambda: port_open(m.host, m.ports.postgres_exporter), 15, "postgres_exporter", proc, log)
        yield spec
    finally:
        stop(proc)


def test_postgres_exporter_serves_custom_metrics(exporter):
    from test_tools import psql_local

    spec = exporter
    m = spec.members[0]
    psql_local(spec, "select pg_create_physical_replication_slot('probe', true)")
    # A client left idle in a transaction: psql waits on its open stdin after the statement.
    idle = subprocess.Popen(
        [*as_postgres(), "psql", "-X", "-q", "-h", spec.paths_for(m).run_dir, "-p", str(m.ports.postgres)],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    assert idle.stdin is not None
    idle.stdin.write("BEGIN; SELECT txid_current();\n")
    idle.stdin.flush()
    body = ""

    def idle_seconds(text: str) -> float:
        line = next((x for x in text.splitlines() if x.startswith("pgp_connections_oldest_idle_in_transaction")), "")
        return float(line.rsplit(" ", 1)[1]) if line else 0.0

    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            body = (
                urllib.request.urlopen(f"http://{m.host}:{m.ports.postgres_exporter}/metrics", timeout=10)
                .read()
                .decode()
            )
            if "pgp_connections_used" in body and 'slot_name="probe"' in body and idle_seconds(body) >= 1:
                break
            time.sleep(0.5)
        xid_ages = dict(
            row.split("|") for row in psql_local(spec, "select datname, age(datfrozenxid) from pg_database").split()
        )
    finally:
        idle.stdin.close()
        idle.wait(10)
        psql_local(spec, "select pg_drop_replication_slot('probe')")
    assert idle_seconds(body) >= 1, body[-2000:]
    # The exporter's own session and the platform's are not counted: no active transaction is old.
    assert "pgp_connections_oldest_transaction_seconds{" in body
    # The dashboard's sessions by state: the exporter's default query, per database.
    sessions = [x for x in body.splitlines() if x.startswith("pg_stat_activity_count{") and 'transaction"' in x]
    assert sum(float(x.rsplit(" ", 1)[1]) for x in sessions) == 1, sessions
    for datname, age in xid_ages.items():
        exported = next(x for x in body.splitlines() if x.startswith("pgp_database_xid_age{") and f'"{datname}"' in x)
        # age() grows with every transaction between the scrape and the query: close, not equal.
        assert 0 <= int(age) - float(exported.rsplit(" ", 1)[1]) < 1000, (datname, age, exported)
    assert "pg_replication_slots_pg_wal_lsn_diff{" in body and 'slot_name="probe"' in body
    samples = {
        line.split("{")[0].split(" ")[0]: line.rsplit(" ", 1)[1]
        for line in body.splitlines()
        if line and not line.startswith("#")
    }
    assert samples.get("pg_up") == "1", body[-2000:]
    for name in (
        "pgp_archiver_failing",
        "pgp_replication_is_replica",
        "pgp_connections_used",
        "pgp_connections_available",
        "pgp_checksums_failures",
        "pgp_database_xid_age",
        "pgp_connections_oldest_transaction_seconds",
        *exporters.EXPORTER_DEFAULT_GAUGES,
    ):
        assert name in samples, name
    assert samples["pgp_archiver_failing"] == "0" and samples["pgp_replication_is_replica"] == "0"
    # The dashboard's top statements: normalised text, at most TOP_STATEMENTS per scrape, never a utility
    # statement (the roles SQL's ALTER ROLE ... PASSWORD ran on this instance).
    statements = [x for x in body.splitlines() if x.startswith("pgp_statements_total_exec_seconds{")]
    assert 0 < len(statements) <= exporters.TOP_STATEMENTS, body[-2000:]
    assert not [x for x in statements if "alter role" in x.lower() or "password" in x.lower()], statements
    assert all(len(x.split('query="', 1)[1].split('"', 1)[0]) <= exporters.TOP_STATEMENT_TEXT for x in statements)


def test_node_metrics_script_exports_backup_and_certificate_state(pg_roles, tmp_path):
    spec = pg_roles
    m = spec.members[0]
    base = [*as_postgres(), "pgbackrest", f"--config={pgbackrest_config_path(spec, m)}", f"--stanza={spec.stanza}"]
    run_checked([*base, "stanza-create"], env=secret_env())
    run_checked([*base, "--type=full", "backup"], env=secret_env(), timeout=120)
    write_file(Path(exporters.node_metrics_script_path(spec, m)), exporters.render_node_metrics_script(), 0o755)
    from test_tools import psql_local

    # A table autovacuum may not touch, with more dead tuples than live ones.
    psql_local(
        spec,
        "CREATE TABLE app.pgp_probe_dead (id int) WITH (autovacuum_enabled = false); "
        "INSERT INTO app.pgp_probe_dead SELECT generate_series(1, 3000); "
        "DELETE FROM app.pgp_probe_dead WHERE id > 1000",
        db="app",
    )
    try:
        run_checked(as_postgres() + exporters.node_metrics_command(spec, m), env=secret_env())
    finally:
        psql_local(spec, "DROP TABLE app.pgp_probe_dead", db="app")
    prom = Path(exporters.textfile_dir(spec, m)) / "pgp.prom"
    text = prom.read_text()
    probe = 'datname="app",member="node1",relation="app.pgp_probe_dead"'
    assert f'pgp_table_dead_tuples{{cluster="pgp-test",{probe}}} 2000' in text, text
    assert f'pgp_table_live_tuples{{cluster="pgp-test",{probe}}} 1000' in text
    assert f'pgp_table_last_vacuum_timestamp_seconds{{cluster="pgp-test",{probe}}} 0' in text
    assert text.count("pgp_table_dead_tuples{") <= exporters.AUTOVACUUM_TOP_TABLES
    check = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert 'pgp_backup_info_success{cluster="pgp-test",member="node1"} 1' in text
    assert 'type="full"' in text
    stop_line = next(
        line for line in text.splitlines() if line.startswith("pgp_backup_last_completion_timestamp_seconds")
    )
    assert abs(int(stop_line.rsplit(" ", 1)[1]) - time.time()) < 600
    assert text.count("pgp_tls_certificate_expiry_timestamp_seconds{") == 3


def test_node_exporter_serves_the_textfile_metrics(pg_roles):
    spec = pg_roles
    m = spec.members[0]
    write_file(Path(exporters.node_metrics_script_path(spec, m)), exporters.render_node_metrics_script(), 0o755)
    run_checked(as_postgres() + exporters.node_metrics_command(spec, m), env=secret_env())
    log = Path(spec.paths_for(m).log_dir) / "node_exporter.log"
    with open(log, "w") as out:
        # As the prometheus user, like the node's unit.
        proc = subprocess.Popen(
            [
                "setpriv",
                "--reuid",
                "prometheus",
                "--regid",
                "prometheus",
                "--init-groups",
                "--",
                "/usr/bin/prometheus-node-exporter",
                *exporters.node_exporter_args(spec, m),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(lambda: port_open(m.host, m.ports.node_exporter), 15, "node_exporter", proc, log)
        body = urllib.request.urlopen(f"http://{m.host}:{m.ports.node_exporter}/metrics", timeout=10).read().decode()
    finally:
        stop(proc)
    assert 'pgp_backup_info_success{cluster="pgp-test",member="node1"}' in body
    assert "pgp_tls_certificate_expiry_timestamp_seconds" in body
    assert "node_textfile_scrape_error 0" in body
    assert "node_filesystem_avail_bytes" in body
