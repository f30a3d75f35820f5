"""replication: an RPO change carried by the configure step while a client writes through the router. RPO 0's
strict synchronous replication is switched to asynchronous streaming and back (Patroni's synchronous_mode in
the DCS, a reload), and each time the running cluster must match: a synchronous standby under RPO 0, none
under the asynchronous setting."""

from __future__ import annotations

import dataclasses

from dataplane.model import ClusterSpec
from sandbox import configure
from sandbox.client import Sandbox
from sandbox.harness.outage import TIMED, run_change_with_writer, write_drill_result
from sandbox.harness.result import RECOVER_SECONDS, Drill, DrillOptions, DrillResult
from sandbox.supervisor import ServiceError, wait_until
from stacks.topology import Choice

NAME = "replication"


def asynchronous(spec: ClusterSpec) -> ClusterSpec:
    topo = spec.topology
    return dataclasses.replace(
        spec, topology=dataclasses.replace(topo, replication=Choice("asynchronous", "replication drill"))
    )


def _sync_standbys(sandbox: Sandbox) -> int:
    state = sandbox.cluster()
    return len(state.sync_standbys) if state else -1


def replication(sandbox: Sandbox, options: DrillOptions) -> DrillResult:
    notes: list[str] = []
    sandbox.wait_healthy(RECOVER_SECONDS)
    original = sandbox.layout.spec
    if not original.topology.synchronous:
        raise RuntimeError("the replication drill starts from RPO 0 (the prod profile)")
    leader = sandbox.leader_member().name
    seen: dict[str, bool] = {}

    def there_and_back() -> None:
        """Both changes inside one measurement: the healthy cluster run_with_writer starts from has a
        synchronous standby, which the asynchronous setting has not."""
        configure.apply(asynchronous(original), say=notes.append)
        try:
            wait_until(lambda: _sync_standbys(sandbox) == 0, 30, "no synchronous standby under asynchronous")
            seen["asynchronous"] = True
        except ServiceError as exc:
            seen["asynchronous"] = False
            notes.append(str(exc))
        configure.apply(original, say=notes.append)

    outage = run_change_with_writer(sandbox, NAME, there_and_back, notes)
    result = write_drill_result(NAME, sandbox, outage, leader, notes)
    try:
        sandbox.wait_healthy(RECOVER_SECONDS)  # healthy includes the synchronous standby RPO 0 needs
        back_sync = True
    except ServiceError as exc:
        back_sync = False
        notes.append(str(exc))
    result.measurements.update(asynchronous_reached=seen.get("asynchronous", False), synchronous_again=back_sync)
    if not (seen.get("asynchronous") and back_sync):
        result.passed = False
    return result


DRILL = Drill(NAME, replication, timed=TIMED)
