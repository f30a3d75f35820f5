"""`pgp`, the operator console, against the running prod-profile sandbox: each command through the same member
commands a cloud member runs, as an operator types it (a subprocess), with --json read back."""

from __future__ import annotations

import json
import subprocess
import sys

import psycopg
import pytest

from dataplane.model import APP_READWRITE_USER, REPLICATION_USER

pytestmark = pytest.mark.sandbox


def pgp(sandbox, *argv: str, expect: int = 0) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "tools.console", "--root", str(sandbox.layout.root.parent), *argv]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == expect, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    return done


def test_status_and_inventory_name_every_member_and_one_leader(sandbox):
    sandbox.wait_healthy(90)
    states = json.loads(pgp(sandbox, "--json", "status").stdout)
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
