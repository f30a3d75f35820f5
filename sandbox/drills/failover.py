"""failover: the leader's machine is lost (Patroni and every PostgreSQL process SIGKILLed) under writes."""

from __future__ import annotations

from sandbox.client import Sandbox
from sandbox.harness.faults import kill_node, recover_member
from sandbox.harness.outage import TIMED, run_with_writer, write_drill_result
from sandbox.harness.result import RECOVER_SECONDS, Drill, DrillOptions, DrillResult, objectives

NAME = "failover"


def failover(sandbox: Sandbox, options: DrillOptions) -> DrillResult:
    notes: list[str] = []
    sandbox.wait_healthy(RECOVER_SECONDS)
    leader = sandbox.leader_member()
    outage = run_with_writer(
        sandbox,
        NAME,
        lambda: kill_node(sandbox, leader),
        objectives(sandbox).rto_seconds * 3,
        notes,
        leader_settled=lambda now: now is not None and now != leader.name,
    )
    result = write_drill_result(NAME, sandbox, outage, leader.name, notes)
    result.measurements["rejoined_s"] = recover_member(sandbox, leader, notes)
    return result


DRILL = Drill(NAME, failover, timed=TIMED)
