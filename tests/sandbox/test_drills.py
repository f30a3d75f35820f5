"""The drills against a real prod-profile sandbox: each asserts the measured result, not that it ran."""

from __future__ import annotations

import pytest

from sandbox import cluster
from sandbox.drills import run_drill
from sandbox.harness.result import DrillOptions
from sandbox.processes import supervisor
from sandbox.services.pgbackrest import backup_info
from sandbox.status import status
from sandbox.supervisor import listening_ports, processes_mentioning

pytestmark = pytest.mark.sandbox


def _run(sandbox, name):
    result = run_drill(sandbox, name)
    print(result.summary())
    return result


def test_up_brings_a_healthy_cluster_with_a_backup(sandbox):
    report, healthy = status(sandbox.layout)
    print(f"up took {sandbox.up_seconds:.1f} s\n{report}")
    assert healthy
    state = sandbox.cluster()
    assert len(state.sync_standbys) == sandbox.layout.spec.topology.synchronous_node_count.value
    assert backup_info(sandbox.layout)["backup"], "up takes the first full backup"


def test_failover_loses_no_acknowledged_commit(sandbox):
    result = _run(sandbox, "failover")
    assert result.measurements["acknowledged_lost"] == 0
    assert result.measurements["acknowledged"] > 0
    before, after = result.measurements["leader"].split(" -> ")
    assert before != after
    assert result.passed, result.summary()


def test_crash_of_the_primary_postmaster(sandbox):
    result = _run(sandbox, "crash")
    assert result.measurements["acknowledged_lost"] == 0
    assert result.passed, result.summary()


def test_switchover_to_the_sync_standby(sandbox):
    result = _run(sandbox, "switchover")
    assert result.measurements["acknowledged_lost"] == 0
    assert result.passed, result.summary()


@pytest.mark.parametrize("kind", ["posix", "s3", "azure", "gcs"])
def test_backup_and_point_in_time_restore(sandbox, kind):
    repo = sandbox.layout.repository_index(kind)
    result = run_drill(sandbox, "restore", DrillOptions(repo=repo))
    print(result.summary())
    assert result.measurements["repo"] == f"repo{repo} ({kind})"
    assert isinstance(result.measurements["backup_s"], float)
    assert result.measurements["rows_before_target"] == "100/100"
    assert result.measurements["rows_after_target"] == 0
    assert result.measurements["wal_from_repo"] is True
    assert result.measurements["own_archive_lock"] is True
    assert result.passed, result.summary()


@pytest.mark.parametrize("name", ["tls", "roles", "worm"])
def test_refusals(sandbox, name):
    result = _run(sandbox, name)
    assert result.passed, result.summary()


def test_losing_a_replica_fires_its_alert_at_the_receiver(sandbox):
    result = _run(sandbox, "alerts")
    assert isinstance(result.measurements["alert_delivered_s"], float), result.summary()
    assert result.measurements["alert_delivered_s"] <= result.measurements["window_s"]
    assert result.passed, result.summary()
    assert sandbox.healthy(), "the stopped replica rejoins after the drill"


def test_day_two_alert_conditions_are_evaluated_on_the_real_primary(sandbox):
    result = _run(sandbox, "day_two_alerts")
    assert result.passed, result.summary()
    for seen in (
        "idle_in_transaction_s",
        "long_transaction_s",
        "slot_retaining_s",
        "slot_inactive_pending_s",
        "autovacuum_pending_s",
    ):
        assert isinstance(result.measurements.get(seen), float), (seen, result.summary())
    assert result.measurements["slot_retained_bytes"] > 2**20
    assert sandbox.healthy()


def test_down_leaves_nothing_running(sandbox):
    layout = sandbox.layout
    assert processes_mentioning(str(layout.root)), "the sandbox should be running before down"
    leftovers = cluster.down(layout, purge=False, say=lambda _: None)
    assert leftovers == []
    assert processes_mentioning(str(layout.root)) == []
    assert listening_ports(layout.all_ports()) == []
    assert supervisor(layout).names() == []
