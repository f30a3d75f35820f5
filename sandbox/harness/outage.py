"""Write through the router while a drill disrupts the cluster, and measure the outage on the client's clock."""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from sandbox.client import Sandbox
from sandbox.harness.result import RECOVER_SECONDS, DrillResult, objectives
from sandbox.supervisor import ServiceError, wait_until
from sandbox.writer import AcknowledgedWriter, ensure_table, ids_present

WRITER_WARMUP_COMMITS = 20
# Writes count as resumed once this many commits in a row succeeded and the last one is this recent.
STEADY_COMMITS = 50
STEADY_MAX_GAP_SECONDS = 0.5
# The measurement, as each write drill reports it (and tools drill summarises over runs).
TIMED = ("write_outage_s",)


@dataclass
class Outage:
    write_outage_seconds: float | None  # longest stretch without an acknowledged commit, None if never resumed
    acked: int
    lost: int
    unconfirmed: int
    errors: int
    new_leader: str | None


def run_with_writer(
    sandbox: Sandbox,
    name: str,
    disrupt: Callable[[], object],
    max_seconds: float,
    notes: list[str],
    leader_settled: Callable[[str | None], bool],
    disruption_errors: bool = True,
) -> Outage:
    """Write through the router, `disrupt`, wait until the cluster has settled and commits have been
    acknowledged without error for a while, then count acknowledged commits missing on the leader.

    The outage is measured on the client's timeline only: the longest interval without an acknowledged
    commit, from the last one before the disruption to the end of the drill, so a commit stuck in a
    blocked session counts as downtime even if no error ever surfaces.

    A change meant to be invisible to clients (`disruption_errors=False`, such as a reload) is settled once
    commits have flowed steadily after `disrupt` returned; any error or stall still counts in the outage."""
    sandbox.wait_healthy(RECOVER_SECONDS)
    sandbox.wait_router_write()
    table = ensure_table(sandbox)
    run = f"{name}-{uuid.uuid4().hex[:8]}"
    writer = AcknowledgedWriter(sandbox, table, run, max_seconds=max_seconds + 30)
    writer.start()
    wait_until(lambda: len(writer.log.acked) >= WRITER_WARMUP_COMMITS, 15, "writer warm-up commits")
    event_at = time.monotonic()
    disrupt()
    disrupted_at = time.monotonic()

    def settled() -> bool:
        """The disruption has been seen (an error), and commits have flowed steadily since: one early
        commit followed by a stall (a primary restarted in place whose sync standby has not reconnected)
        must not end the measurement while the stall is still going on."""
        state = sandbox.cluster()
        if state is None or not leader_settled(state.leader):
            return False
        errors = [t for t, _ in writer.log.errors if t >= event_at]
        if not errors and disruption_errors:
            return False
        since = [t for _, t in writer.log.acked if t > (errors[-1] if errors else disrupted_at)]
        return len(since) >= STEADY_COMMITS and time.monotonic() - since[-1] < STEADY_MAX_GAP_SECONDS

    resumed = True
    try:
        wait_until(settled, max_seconds, "writes to resume without errors through the router", interval=0.1)
    except ServiceError as exc:
        resumed = False
        notes.append(str(exc))
    writer.stop()
    stopped_at = time.monotonic()
    writer.join(15)
    if writer.is_alive():
        notes.append("the writer was still blocked in a commit when the drill ended")
    before = [t for _, t in writer.log.acked if t < event_at]
    after = [t for _, t in writer.log.acked if event_at <= t <= stopped_at]
    timeline = before[-1:] + after + [stopped_at]
    outage = max((b - a for a, b in itertools.pairwise(timeline)), default=0.0) if resumed else None
    present = ids_present(sandbox, table, run)
    lost = sorted(writer.log.acked_ids() - present)
    if lost:
        notes.append(f"acknowledged ids missing on the leader: {lost[:20]}")
    state = sandbox.cluster()
    return Outage(
        outage,
        len(writer.log.acked),
        len(lost),
        len(writer.log.unconfirmed),
        len(writer.log.errors),
        state.leader if state else None,
    )


def run_change_with_writer(sandbox: Sandbox, name: str, change: Callable[[], object], notes: list[str]) -> Outage:
    """A day-two change that clients should not notice (a reload, or restarts rolled around a switchover),
    measured while a client writes: settled once commits flow steadily again, with three RTOs to get there."""
    return run_with_writer(
        sandbox,
        name,
        change,
        objectives(sandbox).rto_seconds * 3,
        notes,
        leader_settled=lambda now: now is not None,
        disruption_errors=False,
    )


def write_drill_result(name: str, sandbox: Sandbox, outage: Outage, old_leader: str, notes: list[str]) -> DrillResult:
    obj = objectives(sandbox)
    seconds = outage.write_outage_seconds
    passed = seconds is not None and seconds <= obj.rto_seconds and outage.lost == 0
    measurements: dict[str, object] = {
        "write_outage_s": seconds if seconds is not None else "never resumed",
        "acknowledged": outage.acked,
        "acknowledged_lost": outage.lost,
        "unacknowledged_attempts": outage.unconfirmed,
        "leader": f"{old_leader} -> {outage.new_leader}",
    }
    return DrillResult(
        name,
        passed,
        measurements,
        f"RTO {obj.rto_seconds} s, RPO {obj.rpo_seconds} s (0 acknowledged commits lost)",
        notes,
    )
