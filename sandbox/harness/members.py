"""A member's processes stopped and started as its instance's termination and boot stop and start them: what the
day-two drills that replace a node (ha_toggle, node_size) do to the sandbox in place of a cloud's replacement."""

from __future__ import annotations

import dataclasses
import json
import shutil
import urllib.request
from pathlib import Path

from dataplane import etcd as etcd_render
from dataplane.configure_agent import etcd_healthy
from dataplane.model import ClusterSpec, Member
from sandbox import node, processes
from sandbox.client import Sandbox
from sandbox.services import etcd, exporters, patroni, pgbouncer
from sandbox.supervisor import stop_postmaster, wait_until
from sandbox.tls_client import tls_context

# A new member's clone takes a basebackup; an etcd member joining waits for its `member add` to be seen.
START_SECONDS = 120


def etcd_members(sandbox: Sandbox, via: Member) -> list[str]:
    """The names in etcd's membership as `via` reports them (an unstarted member has none yet)."""
    request = urllib.request.Request(f"{etcd_render.client_url(via)}/v3/cluster/member/list", data=b"{}")
    context = tls_context(sandbox.layout, client_cert=True)
    with urllib.request.urlopen(request, timeout=5, context=context) as response:
        return sorted(m.get("name", "") for m in json.loads(response.read())["members"])


def stop_member(sandbox: Sandbox, member: Member) -> None:
    """What terminating its instance does to the member's processes (after it left or handed over)."""
    sup = processes.supervisor(sandbox.layout)
    for name in (exporters.postgres_exporter_name(member), exporters.node_exporter_name(member)):
        sup.stop(name)
    sup.stop(pgbouncer.name(member))
    sup.stop(patroni.name(member), timeout=60)
    stop_postmaster(Path(sandbox.layout.member_paths(member.name).data_dir))
    sup.stop(etcd.name(member))


def start_member(sandbox: Sandbox, spec: ClusterSpec, member: Member, *, empty_volume: bool) -> None:
    """The member as its instance boots it from `spec`: the rendered files, then etcd (whose start script joins
    the running cluster when its data directory is empty, or starts as the same member on a reattached volume),
    Patroni (which clones a replica, or starts on the data directory it finds), PgBouncer and the exporters.
    `empty_volume`: a new instance with a new volume, not a replaced one with its volume reattached."""
    layout = dataclasses.replace(sandbox.layout, spec=spec)
    paths = layout.member_paths(member.name)
    if empty_volume:
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
        START_SECONDS,
        f"etcd on {member.name} a member of the cluster",
    )
    sup.start(patroni.service(layout, member))
    sup.start(pgbouncer.service(layout, member))
    sup.start(exporters.postgres_exporter_service(layout, member))
    sup.start(exporters.node_exporter_service(layout, member))
