"""crash: only the leader's postmaster is SIGKILLed under writes; Patroni restarts it in place or fails over."""

from __future__ import annotations

from sandbox.client import Sandbox
from sandbox.harness.faults import kill_postmaster, recover_member
from sandbox.harness.outage import TIMED, run_with_writer, write_drill_result
from sandbox.harness.result import RECOVER_SECONDS, Drill, DrillOptions, DrillResult, objectives

NAME = "crash"


def crash(sandbox: Sandbox, options: DrillOptions) -> DrillResult:
    notes: list[str] = []
    sandbox.wait_healthy(RECOVER_SECONDS)
    leader = sandbox.leader_member()

    def disrupt() -> None:
        kill_postmaster(sandbox, leader)

    outage = run_with_writer(
        sandbox, NAME, disrupt, objectives(sandbox).rto_seconds * 3, notes, leader_settled=lambda now: now is not None
    )
    result = write_drill_result(NAME, sandbox, outage, leader.name, notes)
    how = "restarted in place" if outage.new_leader == leader.name else f"failed over to {outage.new_leader}"
    start_timeout = sandbox.layout.spec.topology.primary_start_timeout.value
    notes.append(f"Patroni {how} (primary_start_timeout {start_timeout} s)")
    result.measurements["healthy_again_s"] = recover_member(sandbox, leader, notes)
    return result


DRILL = Drill(NAME, crash, timed=TIMED)
