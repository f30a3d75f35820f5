"""Day-two changes against the running prod-profile sandbox, through the configure command a cloud member runs:
they reach every member without a write outage beyond the RTO, the running configuration equals the rendered
one, a second apply changes nothing, and a change that needs a restart is reported, not silently ignored."""

from __future__ import annotations

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


@pytest.mark.parametrize("drill", ["replication", "rolling_restart"])
def test_an_rpo_change_and_a_rolling_restart_keep_writes_within_the_rto(sandbox, drill):
    result = run_drill(sandbox, drill)
    print(result.summary())
    assert result.measurements["acknowledged_lost"] == 0
    assert isinstance(result.measurements["write_outage_s"], float)
    assert result.measurements["write_outage_s"] <= objectives(sandbox).rto_seconds
    assert result.passed, result.summary()


def test_declared_databases_roles_and_extensions_arrive_and_leave_within_the_rto(sandbox):
    """A database with a preloaded extension and two login roles, declared then taken out: each change rolls a
    restart and runs the roles step, and the declared roles work through the pooled port in between."""
    result = run_drill(sandbox, "databases")
    print(result.summary())
    measured = result.measurements
    assert measured["running_equals_rendered"] is True
    assert measured["pooled_login"] is True
    assert measured["removed_everywhere"] is True
    assert measured["acknowledged_lost"] == 0 and measured["removed_lost"] == 0
    assert isinstance(measured["write_outage_s"], float) and isinstance(measured["removed_outage_s"], float)
    assert max(measured["write_outage_s"], measured["removed_outage_s"]) <= objectives(sandbox).rto_seconds
    assert result.passed, result.summary()


def test_config_diff_names_what_would_change_and_changes_nothing(sandbox):
    import dataclasses

    from dataplane.patroni import config_path
    from sandbox import configure

    spec = sandbox.layout.spec
    sandbox.wait_healthy(90)
    assert all(not d["files_differ"] and not d["dcs_patch"] for d in configure.diff(spec))
    wider = dataclasses.replace(spec, client_cidrs=(*spec.client_cidrs, "127.0.0.3/32"))
    for _ in range(2):  # the second look finds the same: nothing was written
        found = configure.diff(wider)
        assert [d["files_differ"] for d in found] == [[config_path(spec, m)] for m in spec.members]
    assert all(not d["files_differ"] for d in configure.diff(spec))


def test_a_change_that_fails_on_one_member_leaves_every_member_as_it_was(sandbox):
    """Failure injected: the last member's bundle also holds a file no one can write (under /proc), so its agent
    fails after writing its other files. The roll-out puts every member it reached back to the last good
    configuration (files, reloads, the DCS), and the cluster then runs exactly what it ran before."""
    from dataplane import configure as configure_steps
    from sandbox import configure
    from sandbox.drills.configure import changed, running_differences

    spec = sandbox.layout.spec
    sandbox.wait_healthy(90)
    target = changed(spec)
    last = target.members[-1].name
    unwritable = {"/proc/pgp-cannot-write": ("x\n", 0o600, "root:root")}

    def run(name: str, mode: str) -> dict:
        return configure.run_member(target, target.member(name), mode, unwritable if name == last else None)

    said: list[str] = []
    with pytest.raises(configure.ConfigureError, match=last):
        configure_steps.roll_out([m.name for m in target.members], run, said.append)
    print("\n".join(said))
    assert [line.split(":")[0] for line in said if line.startswith("rollback ")] == [
        f"rollback {m.name}" for m in reversed(target.members)
    ]
    assert all("rolled back" in line for line in said if line.startswith("rollback "))
    assert running_differences(sandbox, spec) == []
    assert all(not d["files_differ"] and not d["dcs_patch"] for d in configure.diff(spec))
