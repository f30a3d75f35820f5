"""Day-two changes against the running prod-profile sandbox, through the configure command a cloud member runs:
they reach every member without a write outage beyond the RTO, the running configuration equals the rendered
one, a second apply changes nothing, and a change that needs a restart is reported, not silently ignored."""

from __future__ import annotations

import dataclasses

import pytest

from sandbox.drills import run_drill
from sandbox.harness.result import objectives

pytestmark = pytest.mark.sandbox


def test_a_reloadable_change_reaches_every_member_without_an_outage(sandbox):
    result = run_drill(sandbox, "configure")
    print(result.summary())
    measured = result.measurements
    assert measured["members_changed"] == len(sandbox.layout.spec.members)
    assert measured["running_equals_rendered"] is True
    assert measured["second_apply_changed_nothing"] is True
    assert measured["restored"] is True
    assert measured["acknowledged_lost"] == 0
    assert isinstance(measured["write_outage_s"], float)
    assert measured["write_outage_s"] <= objectives(sandbox).rto_seconds
    assert result.passed, result.summary()


def _values(sandbox, name: str) -> dict[str, tuple[int, str]]:
    from sandbox import processes

    out = {}
    for member in sandbox.layout.spec.members:
        value = processes.psql(sandbox.layout, member, f"show {name}")
        pending = processes.psql(sandbox.layout, member, "select count(*) from pg_settings where pending_restart")
        out[member.name] = (int(value), pending)
    return out


def test_a_restart_parameter_rolls_replicas_first_when_raised_and_the_leader_first_when_lowered(sandbox):
    """max_locks_per_transaction is postmaster-context, cluster-wide (in the DCS) and a hot-standby setting: raised,
    the replicas restart first and the leader last after a switchover; lowered back, the leader restarts in
    place first (no standby could run below the primary). Each time every member ends on the rendered value with
    nothing pending."""
    from sandbox import configure

    original = sandbox.layout.spec
    sandbox.wait_healthy(90)
    leader_before = sandbox.leader_member().name
    current = _values(sandbox, "max_locks_per_transaction")[leader_before][0]
    raised = dataclasses.replace(original, stack_parameters=(("max_locks_per_transaction", current + 64),))
    said: list[str] = []
    restored = False
    try:
        reports = configure.apply(raised, say=said.append)
        print("\n".join(said))
        assert all("postgresql" in r.restart_needed for r in reports), reports
        restarts = [line for line in said if line.startswith("restart ")]
        assert len(restarts) == 3 and restarts[-1].startswith(f"restart {leader_before}:"), said
        assert "switched over to" in restarts[-1]
        sandbox.wait_healthy(90)
        assert set(_values(sandbox, "max_locks_per_transaction").values()) == {(current + 64, "0")}

        said.clear()
        leader_now = sandbox.leader_member().name
        configure.apply(original, say=said.append)
        restored = True
        print("\n".join(said))
        restarts = [line for line in said if line.startswith("restart ")]
        assert restarts[0].startswith(f"restart {leader_now}:") and "in place" in restarts[0], said
        sandbox.wait_healthy(90)
        assert set(_values(sandbox, "max_locks_per_transaction").values()) == {(current, "0")}
    finally:
        if not restored:
            configure.apply(original, say=print)
        sandbox.wait_healthy(90)


@pytest.mark.parametrize("drill", ["replication", "rolling_restart"])
def test_an_rpo_change_and_a_rolling_restart_keep_writes_within_the_rto(sandbox, drill):
    result = run_drill(sandbox, drill)
    print(result.summary())
    assert result.measurements["acknowledged_lost"] == 0
    assert isinstance(result.measurements["write_outage_s"], float)
    assert result.measurements["write_outage_s"] <= objectives(sandbox).rto_seconds
    assert result.passed, result.summary()
