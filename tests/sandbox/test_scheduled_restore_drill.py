"""The scheduled restore drill's script (dataplane/restore_drill.py), as the timer runs it on every member, for
real on the sandbox: exactly one member drills, the restored copy is read and removed, the outcome reaches the
node exporter and the journal, and Prometheus raises RestoreDrillFailed for a failed run and clears it when the
next one passes."""

from __future__ import annotations

import glob
import json
import subprocess
import sys
import tempfile
import time
import urllib.request

import pytest

from dataplane import journal, restore_drill
from dataplane.pitr import AUX_PREFIX, aux_parent
from sandbox import processes
from sandbox.journal import local_operator, store
from sandbox.layout import LOOPBACK, REPOSITORY_KINDS
from sandbox.supervisor import wait_until

pytestmark = pytest.mark.sandbox
# A valid label that no repository holds.
MISSING_BACKUP = "20000101-000000F"


def designated(sandbox) -> str:
    """An asynchronous replica drills: its restore loads neither the leader nor the synchronous commit path."""
    state = sandbox.state()
    return min(set(state.streaming_replicas) - set(state.sync_standbys) or state.streaming_replicas)


def run_drill(spec, member, *args: str) -> subprocess.CompletedProcess:
    with tempfile.NamedTemporaryFile("w", suffix=".sh", delete=False) as script:
        script.write(restore_drill.render_restore_drill(spec, member))
    return subprocess.run(["bash", script.name, "--scheduled", *args], capture_output=True, text=True, timeout=600)


def metrics(spec, member) -> dict[str, float]:
    with open(restore_drill.metrics_path(spec, member)) as f:
        return {line.split()[0]: float(line.split()[1]) for line in f if not line.startswith("#")}


def drill_alerts(layout) -> set[str]:
    with urllib.request.urlopen(f"http://{LOOPBACK}:{layout.prometheus_port}/api/v1/alerts", timeout=5) as r:
        found = json.loads(r.read())["data"]["alerts"]
    return {a["labels"]["alertname"] for a in found if a["labels"]["alertname"].startswith("RestoreDrill")}


def test_one_member_drills_and_its_outcome_reaches_the_metrics_the_journal_and_the_alerts(sandbox):
    sandbox.wait_healthy()
    layout, spec = sandbox.layout, sandbox.layout.spec
    expected = designated(sandbox)
    drilling = spec.member(expected)
    before = len(store(layout).entries())

    failed = run_drill(spec, drilling, "--set", MISSING_BACKUP)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert f"no backup labelled {MISSING_BACKUP}" in failed.stderr and "restore drill FAILED" in failed.stderr
    assert metrics(spec, drilling)[restore_drill.SUCCESS] == 0
    wait_until(lambda: "RestoreDrillFailed" in drill_alerts(layout), 90, "RestoreDrillFailed in Prometheus")

    outcomes = {m.name: run_drill(spec, m) for m in spec.members}
    for name, done in outcomes.items():
        assert done.returncode == 0, f"{name}: {done.stdout}{done.stderr}"
        if name != expected:
            assert f"the drill runs on {expected}" in done.stderr
    assert "restore drill passed" in outcomes[expected].stderr
    passed = metrics(spec, drilling)
    assert passed[restore_drill.SUCCESS] == 1
    assert passed[restore_drill.LAST_SUCCESS] == passed[restore_drill.LAST_RUN] >= time.time() - 600
    assert not glob.glob(f"{aux_parent(spec, drilling)}/{AUX_PREFIX}*"), "the restored copy is removed"

    entries = [e for e in store(layout).entries()[before:] if e.action == journal.RESTORE_DRILL]
    assert [e.result for e in entries] == ["failed", "ok"]
    assert entries[1].who == f"timer on {expected}" and entries[1].details["scheduled"] is True
    assert entries[1].details["member"] == expected and entries[1].details["databases"] >= 2
    assert entries[0].details["backup"] == MISSING_BACKUP
    wait_until(lambda: not drill_alerts(layout), 90, "the restore drill alerts cleared")


def test_a_damaged_file_in_the_repository_fails_the_drill_before_it_restores(sandbox):
    sandbox.wait_healthy()
    layout, spec = sandbox.layout, sandbox.layout.spec
    drilling = spec.member(designated(sandbox))
    info = json.loads(processes.pgbackrest(layout, drilling, "--output=json", "info").stdout)
    posix = REPOSITORY_KINDS.index("posix") + 1
    label = [b["label"] for b in info[0]["backup"] if b["database"]["repo-key"] == posix][-1]
    segment = sorted(layout.posix_repo_dir.glob("archive/*/*/*/0*-*"))[0]
    kept = segment.read_bytes()
    try:
        segment.write_bytes(kept[:100] + bytes(b ^ 0xFF for b in kept[100:108]) + kept[108:])
        damaged = run_drill(spec, drilling, "--set", label)
    finally:
        segment.write_bytes(kept)
    assert damaged.returncode != 0, damaged.stdout + damaged.stderr
    assert f"verifying repository {posix}" in damaged.stderr and "restoring backup" not in damaged.stderr
    assert metrics(spec, drilling)[restore_drill.SUCCESS] == 0
    # The repository is whole again: the next run passes and clears the alert the failure raised.
    again = run_drill(spec, drilling, "--set", label)
    assert again.returncode == 0, again.stdout + again.stderr
    assert metrics(spec, drilling)[restore_drill.SUCCESS] == 1
    wait_until(lambda: not drill_alerts(layout), 90, "the restore drill alerts cleared")


def test_an_operator_runs_it_now_through_pgp_on_the_member_the_timer_uses(sandbox):
    sandbox.wait_healthy()
    layout = sandbox.layout
    expected = designated(sandbox)
    before = len(store(layout).entries())
    command = [sys.executable, "-m", "tools.console", "--root", str(layout.root.parent), "--json", "restore-drill"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["member"] == expected and report["databases"] >= 2 and report["bytes"] > 0
    [entry] = [e for e in store(layout).entries()[before:] if e.action == journal.RESTORE_DRILL]
    assert entry.result == "ok" and entry.who == local_operator() and entry.details["scheduled"] is False
    assert entry.details["backup"] == report["backup"]
