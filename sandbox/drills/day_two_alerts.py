"""day_two_alerts: the conditions behind the wraparound, transaction and slot alerts, made for real on the primary,
and the rendered rules evaluated on them by the sandbox's Prometheus.

A session is left idle in a transaction, another runs a long statement, an inactive physical slot retains the
WAL of a write, and a table autovacuum may not touch is left mostly dead. The slot's and the table's rules, whose
conditions hold at once, must go pending in Prometheus as rendered. The
others hold for minutes (half an hour, 500 million XIDs) before they fire: for those Prometheus evaluates the
rule's own expression (dataplane.prometheus builds both) with a threshold the drill reaches in seconds, and with
the rendered threshold, which must not match. The exported values are checked against what the primary itself
says (age(datfrozenxid), pg_replication_slots)."""

from __future__ import annotations

import contextlib
import json
import threading
import urllib.parse
import urllib.request

import psycopg
import yaml

from dataplane import exporters
from dataplane import prometheus as rules
from dataplane.model import APP_DATABASE, APP_READWRITE_USER
from dataplane.postgresql import max_wal_size_mb
from sandbox import processes
from sandbox.client import Sandbox
from sandbox.environment import node_environment
from sandbox.harness.result import RECOVER_SECONDS, Drill, DrillOptions, DrillResult
from sandbox.layout import LOOPBACK
from sandbox.services import prometheus
from sandbox.supervisor import ServiceError, wait_until

NAME = "day_two_alerts"
SLOT = "pgp_drill_forgotten"
DEAD_TABLE = "app.pgp_drill_dead"
# Dead tuples the autovacuum drill leaves: twice the rule's minimum, so the rendered rule holds.
DEAD_TUPLES = 2 * rules.AUTOVACUUM_MIN_DEAD_TUPLES
# Thresholds the drill reaches within a scrape or two: seconds of idleness, a statement's runtime, WAL bytes.
DRILL_SECONDS = 5
DRILL_RETAINED_BYTES = 2**20
# A scrape, an evaluation and a little: when Prometheus must show what the primary shows.
SEEN_WITHIN_SECONDS = 3 * rules.SCRAPE_INTERVAL_SECONDS + 15
LONG_STATEMENT_SECONDS = 4 * SEEN_WITHIN_SECONDS


def _query(port: int, expr: str) -> list[dict]:
    url = f"http://{LOOPBACK}:{port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=5) as response:
        body = json.loads(response.read())
    if body.get("status") != "success":
        raise RuntimeError(f"Prometheus refused {expr!r}: {body}")
    return body["data"]["result"]


def day_two_alerts(sandbox: Sandbox, options: DrillOptions) -> DrillResult:
    layout = sandbox.layout
    sandbox.wait_healthy(RECOVER_SECONDS)
    leader = sandbox.leader_member()
    port = layout.prometheus_port
    notes: list[str] = []
    checks: dict[str, bool] = {}
    measured: dict[str, object] = {"primary": leader.name}
    rendered = {
        r["alert"]: r["expr"]
        for g in yaml.safe_load(prometheus.rules_file(layout).read_text())["groups"]
        for r in g["rules"]
    }
    # The drill's expressions are the rendered rules' own, with only the threshold changed.
    checks["rules are the builders' expressions"] = (
        rendered["TransactionIdWraparoundWarning"] == rules.vm_xid_age_above(rules.XID_AGE_WARNING)
        and rendered["PostgresLongRunningTransaction"]
        == rules.vm_oldest_transaction_above(rules.LONG_TRANSACTION_SECONDS)
        and rendered["PostgresIdleInTransaction"]
        == rules.vm_idle_in_transaction_above(rules.IDLE_IN_TRANSACTION_SECONDS)
        and rendered["ReplicationSlotInactive"] == rules.vm_slot_inactive()
        and rendered["ReplicationSlotRetainingWal"]
        == rules.vm_slot_retains_above(
            rules.SLOT_RETAINED_WAL_FACTOR * max_wal_size_mb(layout.spec.topology.node_size) * 2**20
        )
    )

    def psql(sql: str, dbname: str = "postgres") -> str:
        return processes.psql(layout, leader, sql, dbname=dbname)

    def seen(what: str, expr: str, want: set[str], label: str = "member", among: bool = False) -> bool:
        """Whether Prometheus answers `expr` with exactly the series whose `label` is in `want` (`among`: with
        those and maybe others), in time."""

        def found() -> bool:
            got = {s["metric"].get(label, "") for s in _query(port, expr)}
            return want <= got if among else want == got

        try:
            took = wait_until(
                found,
                SEEN_WITHIN_SECONDS,
                what,
                interval=1.0,
            )
            measured[f"{what}_s"] = round(took, 1)
            return True
        except ServiceError as exc:
            notes.append(f"{exc}; Prometheus has {_query(port, expr)}")
            return False

    idle = sandbox.connect(leader.ports.postgres, user=APP_READWRITE_USER, dbname=APP_DATABASE, autocommit=False)
    busy = sandbox.connect(leader.ports.postgres, user=APP_READWRITE_USER, dbname=APP_DATABASE)
    statement = threading.Thread(
        target=lambda: _sleep_until_cancelled(busy, LONG_STATEMENT_SECONDS), name="long statement", daemon=True
    )
    try:
        idle.execute("SELECT txid_current()")  # a transaction with an XID, then nothing: idle in transaction
        statement.start()
        psql(f"SELECT pg_create_physical_replication_slot('{SLOT}', true)")
        psql("CREATE TABLE pgp_drill_wal AS SELECT generate_series(1, 100000) AS i; DROP TABLE pgp_drill_wal")
        retained = int(
            psql(
                f"SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn) FROM pg_replication_slots "
                f"WHERE slot_name = '{SLOT}'"
            )
        )
        measured["slot_retained_bytes"] = retained
        primary = {leader.name}
        checks["idle in transaction seen"] = seen(
            "idle_in_transaction", rules.vm_idle_in_transaction_above(DRILL_SECONDS), primary
        )
        checks["long transaction seen"] = seen(
            "long_transaction", rules.vm_oldest_transaction_above(DRILL_SECONDS), primary
        )
        checks["retaining slot seen"] = retained > DRILL_RETAINED_BYTES and seen(
            "slot_retaining", rules.vm_slot_retains_above(DRILL_RETAINED_BYTES), {SLOT}, label="slot_name"
        )
        quiet = {
            name: _query(port, rendered[name])
            for name in (
                "TransactionIdWraparoundWarning",
                "PostgresLongRunningTransaction",
                "PostgresIdleInTransaction",
                "ReplicationSlotRetainingWal",
            )
        }
        checks["rendered thresholds not reached"] = not any(quiet.values())
        if any(quiet.values()):
            notes.append(f"rendered rules matching already: {quiet}")
        # The rule as rendered: its condition holds now, so it is pending until its `for` has passed.
        checks["ReplicationSlotInactive pending"] = seen(
            "slot_inactive_pending",
            f'ALERTS{{alertname="ReplicationSlotInactive",alertstate="pending",slot_name="{SLOT}"}}',
            {SLOT},
            label="slot_name",
        )
        # Autovacuum: a table it may not touch, two thirds dead, read by the node metrics script as its timer
        # would, past the rendered thresholds at once (never vacuumed): the rule as rendered goes pending.
        psql(
            f"CREATE TABLE {DEAD_TABLE} (i int) WITH (autovacuum_enabled = false); "
            f"INSERT INTO {DEAD_TABLE} SELECT generate_series(1, {3 * DEAD_TUPLES // 2}); "
            f"DELETE FROM {DEAD_TABLE} WHERE i > {DEAD_TUPLES // 2}",
            dbname=APP_DATABASE,
        )
        processes.run_as_service_user(exporters.node_metrics_command(layout.spec, leader), env=node_environment(layout))
        checks["AutovacuumFallingBehind pending"] = seen(
            "autovacuum_pending",
            f'ALERTS{{alertname="AutovacuumFallingBehind",alertstate="pending",relation="{DEAD_TABLE}"}}',
            {DEAD_TABLE},
            label="relation",
        )
        # Wraparound: the exported age is the primary's, and the rule's expression selects the database once
        # its age passes the threshold; at the rendered threshold the young sandbox is far from it.
        exported = _query(port, f'max by (datname) (pgp_database_xid_age{{datname="{APP_DATABASE}"}})')
        age = int(psql(f"SELECT age(datfrozenxid) FROM pg_database WHERE datname = '{APP_DATABASE}'"))
        value = float(exported[0]["value"][1]) if exported else -1.0
        measured["xid_age"] = age
        measured["xid_age_exported"] = value
        # age() grows with every transaction since the scrape: the export may lag, never lead.
        checks["xid age exported"] = 0 <= age - value < 10_000
        checks["wraparound expression selects the database"] = value > 0 and seen(
            # Every database of a young cluster has about the same age: the others may match too.
            "xid_age",
            rules.vm_xid_age_above(int(value) - 1),
            {APP_DATABASE},
            label="datname",
            among=True,
        )
    finally:
        busy.cancel()
        statement.join(10)
        idle.rollback()
        idle.close()
        busy.close()
        psql(f"SELECT pg_drop_replication_slot('{SLOT}') FROM pg_replication_slots WHERE slot_name = '{SLOT}'")
        psql(f"DROP TABLE IF EXISTS {DEAD_TABLE}", dbname=APP_DATABASE)
        # The next run of the script forgets the table (as the node's timer would).
        processes.run_as_service_user(exporters.node_metrics_command(layout.spec, leader), env=node_environment(layout))
    failed = [name for name, ok in checks.items() if not ok]
    notes += [f"failed: {name}" for name in failed]
    return DrillResult(
        NAME,
        not failed,
        measured,
        f"each condition in Prometheus within {SEEN_WITHIN_SECONDS} s, the slot's and the table's rules pending, "
        "the rendered thresholds unmatched",
        notes,
    )


def _sleep_until_cancelled(conn: psycopg.Connection, seconds: int) -> None:
    # The drill cancels it once Prometheus has seen it.
    with contextlib.suppress(psycopg.errors.QueryCanceled):
        conn.execute(f"SELECT pg_sleep({seconds})")


DRILL = Drill(NAME, day_two_alerts, timed=("idle_in_transaction_s", "slot_inactive_pending_s"))
