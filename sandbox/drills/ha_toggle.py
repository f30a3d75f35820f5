"""ha_toggle: HA switched off (three members to one) and on again while a client writes through the router, by
the steps a deployed stage takes. Off: asynchronous replication first (one member cannot hold RPO 0), then each
member that goes runs the agent's `leave` (a leader hands over, its etcd node leaves the membership) before its
processes stop, last member first as the chained leave steps order it, and the configure step renders the cluster
of one. On: each returning member starts from an empty data volume, as a new instance boots, so its etcd start
script joins the running cluster (`member add`, `existing`) and Patroni clones a replica; the configure step
renders the three members, then RPO 0 again. The drill measures the write outage over the whole round trip and
checks the membership of Patroni and etcd after each half."""

from __future__ import annotations

import dataclasses

from dataplane.model import ClusterSpec
from sandbox import configure
from sandbox.client import Sandbox
from sandbox.harness.members import START_SECONDS, etcd_members, start_member, stop_member
from sandbox.harness.outage import TIMED, run_change_with_writer, write_drill_result
from sandbox.harness.result import RECOVER_SECONDS, Drill, DrillOptions, DrillResult
from sandbox.supervisor import wait_until
from stacks.topology import Choice

NAME = "ha_toggle"
# Patroni drops a stopped member's key after its ttl; the new members' clones take a basebackup each.
SETTLE_SECONDS = START_SECONDS


def asynchronous(spec: ClusterSpec) -> ClusterSpec:
    return dataclasses.replace(
        spec, topology=dataclasses.replace(spec.topology, replication=Choice("asynchronous", "HA off"))
    )


def patroni_members(sandbox: Sandbox) -> list[str]:
    state = sandbox.cluster()
    return sorted(m["name"] for m in state.members) if state else []


def ha_toggle(sandbox: Sandbox, options: DrillOptions) -> DrillResult:
    notes: list[str] = []
    sandbox.wait_healthy(RECOVER_SECONDS)
    original = sandbox.layout.spec
    kept, *going = original.members
    three = asynchronous(original)
    one = dataclasses.replace(three, members=(kept,))
    seen: dict[str, object] = {}
    leader = sandbox.leader_member().name

    def off_and_on() -> None:
        configure.apply(three, say=notes.append)
        for member in reversed(going):
            report = configure.run_member(three, member, "leave")
            notes.append(f"leave {member.name}: {', '.join(report.get('actions', []))}")
            stop_member(sandbox, member)
        configure.apply(one, say=notes.append)
        wait_until(lambda: patroni_members(sandbox) == [kept.name], SETTLE_SECONDS, "Patroni's cluster of one")
        seen["off"] = {"patroni": patroni_members(sandbox), "etcd": etcd_members(sandbox, kept)}
        for member in going:
            start_member(sandbox, three, member, empty_volume=True)
        wait_until(
            lambda: len(sandbox.state().streaming_replicas) == len(going), SETTLE_SECONDS, "the new replicas streaming"
        )
        configure.apply(three, say=notes.append)
        configure.apply(original, say=notes.append)
        sandbox.wait_healthy(SETTLE_SECONDS)
        seen["on"] = {"patroni": patroni_members(sandbox), "etcd": etcd_members(sandbox, kept)}

    outage = run_change_with_writer(sandbox, NAME, off_and_on, notes)
    result = write_drill_result(NAME, sandbox, outage, leader, notes)
    everyone = sorted(m.name for m in original.members)
    expected = {"off": {"patroni": [kept.name], "etcd": [kept.name]}, "on": {"patroni": everyone, "etcd": everyone}}
    unequal = [d for d in configure.diff(original) if d["files_differ"] or d["dcs_patch"]]
    result.measurements.update(
        members_off=seen.get("off", "not reached"),
        members_on=seen.get("on", "not reached"),
        sync_standby_again=bool(sandbox.state().sync_standbys),
        running_equals_rendered=not unequal,
    )
    if seen != expected or unequal or not sandbox.state().sync_standbys:
        notes.append(f"membership {seen}, expected {expected}; differing: {unequal}")
        result.passed = False
    return result


DRILL = Drill(NAME, ha_toggle, timed=TIMED)
