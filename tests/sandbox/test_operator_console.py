"""`pgp`, the operator console, against the running prod-profile sandbox: each command through the same member
commands a cloud member runs, as an operator types it (a subprocess), with --json read back."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from dataplane import pitr
from dataplane.model import APP_DATABASE, APP_OWNER_ROLE, APP_READONLY_USER, APP_READWRITE_USER, REPLICATION_USER
from sandbox import processes

pytestmark = pytest.mark.sandbox


def pgp(sandbox, *argv: str, expect: int = 0) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "tools.console", "--root", str(sandbox.layout.root.parent), *argv]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == expect, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    return done


def test_status_and_inventory_name_every_member_and_one_leader(sandbox):
    sandbox.wait_healthy(90)
    report = json.loads(pgp(sandbox, "--json", "status").stdout)
    states = report["members"]
    assert set(report["versions"]) == {m.name for m in sandbox.layout.spec.members}
    assert all(v != "unknown" for found in report["versions"].values() for v in found.values()), report
    assert report["last_backup"]["label"] and isinstance(report["firing_alerts"], list), report
    assert not report["unknown"], report["unknown"]
    names = [m.name for m in sandbox.layout.spec.members]
    assert sorted(s["name"] for s in states) == sorted(names)
    assert [s["role"] for s in states].count("leader") == 1
    assert {s["role"] for s in states} >= {"leader", "sync_standby"}
    inventory = json.loads(pgp(sandbox, "--json", "inventory").stdout)
    assert list(inventory["members"]) == names
    assert {m["role"] for m in inventory["members"].values()} == {s["role"] for s in states}
    text = pgp(sandbox, "status").stdout
    assert all(name in text for name in names) and "leader" in text


def test_a_locked_application_role_cannot_log_in_until_unlocked(sandbox):
    sandbox.wait_healthy(90)
    held = sandbox.connect_write(user=APP_READWRITE_USER)
    try:
        locked = json.loads(pgp(sandbox, "--json", "user", "lock", APP_READWRITE_USER).stdout)
        assert locked["sessions_ended"] >= 1
        with pytest.raises(psycopg.OperationalError, match="not permitted to log in"):
            sandbox.connect_write(user=APP_READWRITE_USER).close()
        with pytest.raises(psycopg.OperationalError):
            held.execute("select 1")  # its session was ended too
    finally:
        held.close()
        pgp(sandbox, "user", "unlock", APP_READWRITE_USER)
    with sandbox.connect_write(user=APP_READWRITE_USER) as conn:
        assert conn.execute("select 1").fetchone() == (1,)
    refused = pgp(sandbox, "user", "lock", REPLICATION_USER, expect=2)
    assert "the standbys stream as it" in refused.stderr


def test_rotate_refuses_what_is_not_a_declared_role_and_says_how(sandbox):
    """The sandbox's stack declares no role: the application roles' passwords are stack secrets, and an unknown
    role is named with where to declare it (the databases drill rotates declared roles through the same SQL)."""
    secret = pgp(sandbox, "user", "rotate", APP_READWRITE_USER, expect=2)
    assert "stack secret" in secret.stderr and "pulumi up --replace" in secret.stderr
    unknown = pgp(sandbox, "user", "rotate", "nobody", expect=2)
    assert "not declared in pg-platform:postgresql.roles" in unknown.stderr


def test_backups_and_logs_are_read_from_the_members(sandbox):
    sandbox.wait_healthy(90)
    rows = json.loads(pgp(sandbox, "--json", "backups").stdout)
    repos = {r["repo"] for r in rows if r["type"] == "full" and not r["error"]}
    assert repos == set(range(1, len(sandbox.layout.spec.repositories) + 1))
    member = sandbox.layout.spec.members[0].name
    lines = json.loads(pgp(sandbox, "--json", "logs", member, "--service", "patroni", "--lines", "5").stdout)["lines"]
    assert 0 < len(lines) <= 5
    pg_lines = json.loads(pgp(sandbox, "--json", "logs", member, "--lines", "3").stdout)["lines"]
    assert len(pg_lines) == 3
    assert "--service 'nginx'" in pgp(sandbox, "logs", member, "--service", "nginx", expect=2).stderr


def _leader_sql(sandbox, sql: str, database: str = APP_DATABASE) -> str:
    return processes.psql(sandbox.layout, sandbox.leader_member(), sql, dbname=database)


def _leader_now(sandbox) -> str:
    """The leader's clock, which the recovery target is compared with, in the form an operator types."""
    return _leader_sql(
        sandbox, "select to_char(clock_timestamp() at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
    )


def _leftovers(sandbox) -> list[str]:
    """Auxiliary directories on any member's data volume, and processes still running from one."""
    spec = sandbox.layout.spec
    found = [str(p) for m in spec.members for p in Path(pitr.aux_parent(spec, m)).glob(f"{pitr.AUX_PREFIX}*")]
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
    return found + [line for line in ps.splitlines() if pitr.AUX_PREFIX in line]


def test_restore_table_brings_back_one_dropped_table_as_it_was_and_touches_no_other(sandbox):
    sandbox.wait_healthy(90)
    _leader_sql(
        sandbox,
        "create table pitr_lost (id int generated always as identity primary key, v text);"
        "create table pitr_kept (id int primary key);"
        "insert into pitr_lost (v) select 'before-' || g from generate_series(1, 40) g;"
        "insert into pitr_kept select generate_series(1, 10);"
        f"alter table pitr_lost owner to {APP_OWNER_ROLE}; grant select on pitr_lost to {APP_READONLY_USER}",
    )
    try:
        time.sleep(0.2)
        moment = _leader_now(sandbox)
        time.sleep(0.2)
        _leader_sql(sandbox, "insert into pitr_lost (v) values ('after'); insert into pitr_kept values (11)")
        _leader_sql(sandbox, "drop table pitr_lost")
        done = json.loads(
            pgp(
                sandbox, "--json", "restore-table", "--db", APP_DATABASE, "--table", "pitr_lost", "--time", moment
            ).stdout
        )
        assert done["rows"] == 40 and done["into"] == APP_DATABASE
        assert _leader_sql(sandbox, "select count(*), max(v) from pitr_lost where v like 'before-%'") == "40|before-9"
        assert _leader_sql(sandbox, "select count(*) from pitr_lost where v = 'after'") == "0"
        assert _leader_sql(sandbox, "select pg_get_userbyid(relowner) from pg_class where relname = 'pitr_lost'") == (
            APP_OWNER_ROLE
        )
        assert _leader_sql(sandbox, f"select has_table_privilege('{APP_READONLY_USER}', 'pitr_lost', 'select')") == "t"
        assert _leader_sql(sandbox, "select count(*) from pitr_kept") == "11"  # its change after the moment stays
        # The restored table replicates like any other.
        replica = next(m for m in sandbox.layout.spec.members if m.name != sandbox.leader_member().name)
        assert processes.psql(sandbox.layout, replica, "select count(*) from pitr_lost", dbname=APP_DATABASE) == "40"
        refused = pgp(
            sandbox, "restore-table", "--db", APP_DATABASE, "--table", "pitr_kept", "--time", moment, expect=2
        )
        assert "public.pitr_kept exists in app: rename or drop it first" in refused.stderr
        assert _leftovers(sandbox) == []
    finally:
        _leader_sql(sandbox, "drop table if exists pitr_lost, pitr_kept")


def test_restore_db_brings_a_database_back_as_a_new_one(sandbox):
    sandbox.wait_healthy(90)
    _leader_sql(sandbox, "create database pitr_src", database="postgres")
    try:
        _leader_sql(sandbox, "create table t (n int); insert into t select generate_series(1, 25)", database="pitr_src")
        time.sleep(0.2)
        moment = _leader_now(sandbox)
        time.sleep(0.2)
        # Replay stops at the first commit after the moment. DROP DATABASE removes the files before its own
        # commit, so a commit must come between (on a quiet database the script refuses, see below).
        _leader_sql(sandbox, "create table pitr_marker (); drop table pitr_marker", database="postgres")
        _leader_sql(sandbox, "drop database pitr_src", database="postgres")
        done = json.loads(
            pgp(sandbox, "--json", "restore-db", "--db", "pitr_src", "--into", "pitr_copy", "--time", moment).stdout
        )
        assert done["tables"] == 1
        assert _leader_sql(sandbox, "select count(*) from t", database="pitr_copy") == "25"
        assert _leftovers(sandbox) == []
    finally:
        _leader_sql(sandbox, "drop database if exists pitr_src", database="postgres")
        _leader_sql(sandbox, "drop database if exists pitr_copy", database="postgres")


def test_a_failed_restore_removes_its_instance_and_the_database_it_created(sandbox):
    sandbox.wait_healthy(90)
    moment = _leader_now(sandbox)
    time.sleep(0.2)
    # Fails after the auxiliary instance is up: the table was never there.
    failed = pgp(sandbox, "restore-table", "--db", APP_DATABASE, "--table", "never_was", "--time", moment, expect=1)
    assert 'no matching tables were found for pattern "public.never_was"' in failed.stderr
    assert "the auxiliary instance is removed" in failed.stderr
    assert _leftovers(sandbox) == []
    # Fails in the copy, after creating the new database: an owner that no longer exists.
    _leader_sql(sandbox, "create role pitr_gone nologin", database="postgres")
    _leader_sql(sandbox, "create database pitr_orphan", database="postgres")
    try:
        _leader_sql(sandbox, "create table t (n int); alter table t owner to pitr_gone", database="pitr_orphan")
        time.sleep(0.2)
        moment = _leader_now(sandbox)
        time.sleep(0.2)
        _leader_sql(sandbox, "create table pitr_marker (); drop table pitr_marker", database="postgres")
        _leader_sql(sandbox, "drop database pitr_orphan", database="postgres")
        _leader_sql(sandbox, "drop role pitr_gone", database="postgres")
        failed = pgp(sandbox, "restore-db", "--db", "pitr_orphan", "--into", "pitr_half", "--time", moment, expect=1)
        assert 'role "pitr_gone" does not exist' in failed.stderr
        assert "dropped pitr_half, which this restore created" in failed.stderr
        assert _leader_sql(sandbox, "select count(*) from pg_database where datname = 'pitr_half'", "postgres") == "0"
        assert _leftovers(sandbox) == []
    finally:
        _leader_sql(sandbox, "drop database if exists pitr_orphan", "postgres")
        _leader_sql(sandbox, "drop role if exists pitr_gone", "postgres")


def test_a_database_dropped_with_no_commit_before_it_is_refused_with_why(sandbox):
    sandbox.wait_healthy(90)
    _leader_sql(sandbox, "create database pitr_quiet", database="postgres")
    try:
        time.sleep(0.2)
        moment = _leader_now(sandbox)
        time.sleep(0.2)
        _leader_sql(sandbox, "drop database pitr_quiet", database="postgres")
        failed = pgp(sandbox, "restore-db", "--db", "pitr_quiet", "--into", "pitr_q2", "--time", moment, expect=1)
        assert "pitr_quiet was already being dropped" in failed.stderr
        assert "dropped pitr_q2" not in failed.stderr  # refused before it created anything
        assert _leftovers(sandbox) == []
    finally:
        _leader_sql(sandbox, "drop database if exists pitr_quiet", "postgres")


def test_the_journal_records_up_actions_and_drills_and_the_inventory_reports_them(sandbox):
    from sandbox.drills import run_drill

    sandbox.wait_healthy(90)
    pgp(sandbox, "backup", "--type", "incr")
    assert run_drill(sandbox, "roles").passed
    pgp(sandbox, "restore-db", "--db", "nope", "--into", "nope2", "--time", _leader_now(sandbox), expect=1)
    entries = json.loads(pgp(sandbox, "--json", "journal", "--limit", "200").stdout)
    actions = [e["action"] for e in entries]
    assert actions[0] == "up" and entries[0]["details"]["members"] == [m.name for m in sandbox.layout.spec.members]
    assert actions[-3:] == ["backup", "drill roles", "restore-db"]
    backup, drill, failed = entries[-3:]
    assert backup["result"] == "ok" and backup["details"] == {"type": "incr"} and backup["seconds"] > 0
    assert drill["result"] == "ok" and "measurements" in drill["details"]
    assert failed["result"] == "failed" and "did not exist" in failed["details"]["error"]
    assert all(e["who"] for e in entries) and [e["at"] for e in entries] == sorted(e["at"] for e in entries)
    summary = json.loads(pgp(sandbox, "--json", "inventory").stdout)["journal"]
    assert summary["last_backup"] == backup
    text = pgp(sandbox, "inventory").stdout
    assert "last backup (pgp):" in text and "last restore drill:" in text


def test_psql_logs_in_as_an_application_role_through_the_router_with_tls(sandbox):
    sandbox.wait_healthy(90)
    sql = "SELECT current_user, (SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()), pg_is_in_recovery()"
    rw = json.loads(pgp(sandbox, "--json", "psql", "-c", sql).stdout)
    assert (rw["route"], rw["rows"]) == ("write", [f"{APP_READWRITE_USER}|t|f"])
    ro = json.loads(pgp(sandbox, "--json", "psql", "--role", APP_READONLY_USER, "-c", sql).stdout)
    assert (ro["route"], ro["rows"]) == ("read", [f"{APP_READONLY_USER}|t|t"])
    refused = pgp(sandbox, "psql", "--role", REPLICATION_USER, "-c", "SELECT 1", expect=2)
    assert f"--role {REPLICATION_USER}: use one of" in refused.stderr


def test_logs_since_keep_only_the_lines_from_then_on(sandbox):
    sandbox.wait_healthy(90)
    member = sandbox.leader_member().name
    processes.psql(sandbox.layout, sandbox.leader_member(), "SELECT pg_reload_conf()")  # a fresh log line
    recent = json.loads(pgp(sandbox, "--json", "logs", member, "--since", "10m", "--lines", "1000").stdout)["lines"]
    stamped = [line[:19] for line in recent if line[:4].isdigit() and line[4] == "-"]
    cutoff = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(time.time() - 660))
    assert stamped and all(stamp >= cutoff for stamp in stamped), recent[:3]
    assert any("received SIGHUP" in line for line in recent)
    refused = pgp(sandbox, "logs", member, "--service", "patroni", "--since", "1h", expect=2)
    assert "applies to --service postgresql here" in refused.stderr
    assert "--since 'soon'" in pgp(sandbox, "logs", member, "--since", "soon", expect=2).stderr
