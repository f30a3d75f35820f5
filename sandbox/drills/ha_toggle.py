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
import json
import shutil
import urllib.request
from pathlib import Path

from dataplane import etcd as etcd_render
from dataplane.configure_agent import etcd_healthy
from dataplane.model import ClusterSpec, Member
from sandbox import configure, node, processes
from sandbox.client import Sandbox
from sandbox.harness.outage import TIMED, run_change_with_writer, write_drill_result
from sandbox.harness.result import RECOVER_SECONDS, Drill, DrillOptions, DrillResult
from sandbox.services import etcd, exporters, patroni, pgbouncer
from sandbox.supervisor import stop_postmaster, wait_until
from sandbox.tls_client import tls_context
from stacks.topology import Choice

NAME = "ha_toggle"
# Patroni drops a stopped member's key after its ttl; the new members' clones take a basebackup each.
SETTLE_SECONDS = 120


def asynchronous(spec: ClusterSpec) -> ClusterSpec:
    return dataclasses.replace(
        spec, topology=dataclasses.replace(spec.topology, replication=Choice("asynchronous", "HA off"))
    )


def etcd_members(sandbox: Sandbox, via: Member) -> list[str]:
    """The names in etcd's membership as `via` reports them (an unstarted member has none yet)."""
    request = urllib.request.Request(f"{etcd_render.client_url(via)}/v3/cluster/member/list", data=b"{}")
    context = tls_context(sandbox.layout, client_cert=True)
    with urllib.request.urlopen(request, timeout=5, context=context) as response:
        return sorted(m.get("name", "") for m in json.loads(response.read())["members"])


def patroni_members(sandbox: Sandbox) -> list[str]:
    state = sandbox.cluster()
    return sorted(m["name"] for m in state.members) if state else []


def stop_member(sandbox: Sandbox, member: Member) -> None:
    """What terminating its instance does to the member's processes (after it left)."""
    sup = processes.supervisor(sandbox.layout)
    for name in (exporters.postgres_exporter_name(member), exporters.node_exporter_name(member)):
        sup.stop(name)
    sup.stop(pgbouncer.name(member))
    sup.stop(patroni.name(member), timeout=60)
    stop_postmaster(Path(sandbox.layout.member_paths(member.name).data_dir))
    sup.stop(etcd.name(member))


def start_new_member(sandbox: Sandbox, spec: ClusterSpec, member: Member) -> None:
    """The member as a new instance starts it: empty data and etcd directories, the rendered files, then etcd
    (whose start script joins the running cluster), Patroni (which clones a replica), PgBouncer, exporters."""
    layout = dataclasses.replace(sandbox.layout, spec=spec)
    paths = layout.member_paths(member.name)
    for directory in (paths.data_dir, paths.etcd_data_dir):
        for entry in Path(directory).iterdir():
            shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
    node.write_member_files(layout, member)
    sup = processes.supervisor(layout)
    sup.start(etcd.service(layout, member))
    context = tls_context(layout, client_cert=True)
    wait_until(
        lambda: (
            etcd_healthy(etcd_render.client_url(member), context)
            and etcd_members(sandbox, spec.members[0]).count(member.name) == 1
        ),
        SETTLE_SECONDS,
        f"etcd on {member.name} joined",
    )
    sup.start(patroni.service(layout, member))
    sup.start(pgbouncer.service(layout, member))
    sup.start(exporters.postgres_exporter_service(layout, member))
    sup.start(exporters.node_exporter_service(layout, member))


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
            start_new_member(sandbox, three, member)
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
