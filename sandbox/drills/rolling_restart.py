"""rolling_restart: a change only a restart applies (max_locks_per_transaction, cluster-wide and a hot-standby
setting), raised and lowered back by the configure step while a client writes through the router. Raised, the
replicas restart first and the leader last after a switchover; lowered, the leader restarts in place first.
Each roll's write outage is measured, and every member must end on the rendered value with nothing pending."""

from __future__ import annotations

import dataclasses

from dataplane.model import ClusterSpec
from sandbox import configure, processes
from sandbox.client import Sandbox
from sandbox.harness.outage import TIMED, run_change_with_writer, write_drill_result
from sandbox.harness.result import RECOVER_SECONDS, Drill, DrillOptions, DrillResult, objectives

NAME = "rolling_restart"
PARAMETER = "max_locks_per_transaction"
STEP = 64


def running(sandbox: Sandbox, spec: ClusterSpec) -> set[tuple[str, str]]:
    """(value, members pending a restart) as each member reports them."""
    return {
        (
            processes.psql(sandbox.layout, m, f"show {PARAMETER}"),
            processes.psql(sandbox.layout, m, "select count(*) from pg_settings where pending_restart"),
        )
        for m in spec.members
    }


def rolling_restart(sandbox: Sandbox, options: DrillOptions) -> DrillResult:
    notes: list[str] = []
    sandbox.wait_healthy(RECOVER_SECONDS)
    original = sandbox.layout.spec
    leader = sandbox.leader_member().name
    current = int(processes.psql(sandbox.layout, original.members[0], f"show {PARAMETER}"))
    raised = dataclasses.replace(original, stack_parameters=((PARAMETER, current + STEP),))
    rto = objectives(sandbox).rto_seconds

    def roll(spec: ClusterSpec):
        return run_change_with_writer(sandbox, NAME, lambda: configure.apply(spec, say=notes.append), notes)

    up = roll(raised)
    result = write_drill_result(NAME, sandbox, up, leader, notes)
    sandbox.wait_healthy(RECOVER_SECONDS)
    raised_ok = running(sandbox, original) == {(str(current + STEP), "0")}
    down = roll(original)
    sandbox.wait_healthy(RECOVER_SECONDS)
    lowered_ok = running(sandbox, original) == {(str(current), "0")}
    result.measurements.update(
        raised_everywhere=raised_ok,
        lowered_outage_s=down.write_outage_seconds if down.write_outage_seconds is not None else "never",
        lowered_lost=down.lost,
        lowered_everywhere=lowered_ok,
    )
    if not (raised_ok and lowered_ok and down.lost == 0) or (down.write_outage_seconds or rto + 1) > rto:
        result.passed = False
    return result


DRILL = Drill(NAME, rolling_restart, timed=(*TIMED, "lowered_outage_s"))
