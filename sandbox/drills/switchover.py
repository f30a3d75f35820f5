"""switchover: Patroni's REST API (password and client certificate) hands the leadership to the sync standby."""

from __future__ import annotations

from sandbox.client import Sandbox
from sandbox.harness.faults import recover_member
from sandbox.harness.outage import TIMED, run_with_writer, write_drill_result
from sandbox.harness.result import RECOVER_SECONDS, Drill, DrillOptions, DrillResult, objectives

NAME = "switchover"


def switchover(sandbox: Sandbox, options: DrillOptions) -> DrillResult:
    notes: list[str] = []
    sandbox.wait_healthy(RECOVER_SECONDS)
    state = sandbox.state()
    if state.leader is None:
        raise RuntimeError("no leader")
    leader = sandbox.layout.spec.member(state.leader)
    # In synchronous mode only the sync standby may take over without risking acknowledged commits.
    candidate = state.sync_standbys[0] if state.sync_standbys else state.streaming_replicas[0]
    answers: list[str] = []

    def request_switchover() -> None:
        body = {"leader": leader.name, "candidate": candidate}
        status, answer = sandbox.rest(leader, "/switchover", "POST", body, auth=True, timeout=60)
        answers.append(f"HTTP {status}: {answer}")
        if status != 200:
            raise RuntimeError(f"switchover refused: HTTP {status} {answer}")

    outage = run_with_writer(
        sandbox,
        NAME,
        request_switchover,
        objectives(sandbox).rto_seconds * 3,
        notes,
        leader_settled=lambda now: now == candidate,
    )
    notes += answers
    result = write_drill_result(NAME, sandbox, outage, leader.name, notes)
    if outage.new_leader != candidate:
        result.passed = False
        notes.append(f"expected {candidate} to lead, found {outage.new_leader}")
    result.measurements["healthy_again_s"] = recover_member(sandbox, leader, notes)
    return result


DRILL = Drill(NAME, switchover, timed=TIMED)
