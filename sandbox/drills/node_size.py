"""node_size: every member resized as `cluster.instance_type` and `cluster.roll` resize a deployed stage, while a
client writes through the router. One member at a time is replaced with its data volume reattached: its processes
stop, it boots from the files rendered for the new size, and etcd and Patroni start on the data they find.
Replicas go first and the leader last; before each member stops, its handover step runs (the agent's `handover`
mode, which a cloud's step runs as the instance is replaced), so the leader switches over instead of failing
over. After each roll the configure step runs with the sizes the members run, as the `up` that rolled the member
runs it: a member not yet resized keeps its memory settings, and the settings members share follow the smallest,
so they rise only once the last member is larger (a rolling restart). Then back to the original size the same
way, where they fall with the first. Each round's write outage is measured, and afterwards every member runs its
rendered settings, nothing pending, `config diff` empty."""

from __future__ import annotations

import dataclasses

from dataplane import postgresql
from dataplane.model import ClusterSpec, Member
from sandbox import configure, processes
from sandbox.client import Sandbox
from sandbox.harness.members import start_member, stop_member
from sandbox.harness.outage import TIMED, run_change_with_writer, write_drill_result
from sandbox.harness.result import RECOVER_SECONDS, Drill, DrillOptions, DrillResult, objectives
from stacks.sizes import NodeSize

NAME = "node_size"
# Per member: the memory it runs and the settings all share (max_connections follows vCPUs, see postgresql.py).
CHECKED = ("shared_buffers", "effective_cache_size", "work_mem", "max_connections", "max_worker_processes")


def larger(size: NodeSize) -> NodeSize:
    """A size whose memory and vCPUs both change what is rendered: memory settings per member, and the shared
    max_connections and max_worker_processes."""
    return NodeSize(vcpus=size.vcpus * 4, memory_mib=size.memory_mib * 2)


def of_size(spec: ClusterSpec, size: NodeSize) -> ClusterSpec:
    return dataclasses.replace(spec, topology=dataclasses.replace(spec.topology, node_size=size), member_sizes=())


def running(sandbox: Sandbox, spec: ClusterSpec) -> dict[str, dict[str, str]]:
    """Each member's CHECKED settings as it reports them, and how many settings wait for a restart."""
    found = {}
    for member in spec.members:
        values = {name: processes.psql(sandbox.layout, member, f"show {name}") for name in CHECKED}
        values["pending_restart"] = processes.psql(
            sandbox.layout, member, "select count(*) from pg_settings where pending_restart"
        )
        found[member.name] = values
    return found


def rendered(spec: ClusterSpec) -> dict[str, dict[str, str]]:
    """What each member must run for `spec`, in the form `show` prints."""
    expected = {}
    for member in spec.members:
        params = postgresql.postgresql_parameters(spec, member)
        values = {name: str(params[name]) for name in CHECKED}
        values["pending_restart"] = "0"
        expected[member.name] = values
    return expected


def resize(
    sandbox: Sandbox, target: ClusterSpec, was: NodeSize, notes: list[str], seen: dict[str, object], label: str
) -> None:
    """Every member rolled onto `target`'s size, replicas first, the leader last, each after its handover step."""
    leader = sandbox.leader_member().name
    order: list[Member] = [m for m in target.members if m.name != leader] + [target.member(leader)]
    rolled: set[str] = set()
    for member in order:
        handed = configure.run_member(sandbox.layout.spec, member, "handover")
        notes.append(f"{label}: handover {member.name}: {', '.join(handed['actions']) or 'not the leader'}")
        stop_member(sandbox, member)
        rolled.add(member.name)
        runs = target.with_member_sizes({m.name: was for m in target.members if m.name not in rolled})
        start_member(sandbox, runs, member, empty_volume=False)
        sandbox.wait_healthy(RECOVER_SECONDS)
        size = runs.size_of(member)
        notes.append(f"{label}: rolled {member.name} onto {size.vcpus} vCPU {size.memory_mib} MiB")
        configure.apply(runs, say=notes.append)
        if len(rolled) == 1:
            seen[f"{label}_mixed"] = running(sandbox, runs) == rendered(runs)


def node_size(sandbox: Sandbox, options: DrillOptions) -> DrillResult:
    notes: list[str] = []
    sandbox.wait_healthy(RECOVER_SECONDS)
    original = sandbox.layout.spec
    small = original.topology.node_size
    large = larger(small)
    resized = of_size(original, large)
    leader = sandbox.leader_member().name
    rto = objectives(sandbox).rto_seconds
    seen: dict[str, object] = {}

    up = run_change_with_writer(sandbox, NAME, lambda: resize(sandbox, resized, small, notes, seen, "up"), notes)
    result = write_drill_result(NAME, sandbox, up, leader, notes)
    sandbox.wait_healthy(RECOVER_SECONDS)
    seen["up_everywhere"] = running(sandbox, resized) == rendered(resized)
    down = run_change_with_writer(sandbox, NAME, lambda: resize(sandbox, original, large, notes, seen, "down"), notes)
    sandbox.wait_healthy(RECOVER_SECONDS)
    seen["down_everywhere"] = running(sandbox, original) == rendered(original)
    unequal = [d for d in configure.diff(original) if d["files_differ"] or d["dcs_patch"]]
    result.measurements.update(
        sizes=f"{small.vcpus} vCPU {small.memory_mib} MiB <-> {large.vcpus} vCPU {large.memory_mib} MiB",
        mixed_sizes_kept=bool(seen.get("up_mixed")) and bool(seen.get("down_mixed")),
        resized_everywhere=bool(seen["up_everywhere"]),
        down_outage_s=down.write_outage_seconds if down.write_outage_seconds is not None else "never",
        down_lost=down.lost,
        back_everywhere=bool(seen["down_everywhere"]),
        running_equals_rendered=not unequal,
    )
    checks_failed = not all(seen.get(k) for k in ("up_mixed", "up_everywhere", "down_mixed", "down_everywhere"))
    if checks_failed or unequal or down.lost or (down.write_outage_seconds or rto + 1) > rto:
        notes.append(f"checks {seen}; differing after: {unequal}")
        result.passed = False
    return result


DRILL = Drill(NAME, node_size, timed=(*TIMED, "down_outage_s"))
