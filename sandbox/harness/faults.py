"""Breaking and mending members: the faults drills inject, and putting the cluster back to healthy."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

from dataplane.model import Member
from sandbox.client import Sandbox
from sandbox.harness.result import RECOVER_SECONDS
from sandbox.processes import supervisor
from sandbox.services import patroni
from sandbox.supervisor import ServiceError, postmaster_pid, wait_until


def child_pids(parent: int) -> list[int]:
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat[stat.rindex(")") + 2 :].split()[1]) == parent:
            children.append(int(entry.name))
    return children


def kill_postmaster(sandbox: Sandbox, member: Member) -> int:
    """A PostgreSQL crash under a healthy Patroni: only the postmaster dies, its backends notice and exit."""
    pid = postmaster_pid(Path(sandbox.layout.member_paths(member.name).data_dir))
    if pid is None:
        raise RuntimeError(f"{member.name} has no running postmaster")
    os.kill(pid, signal.SIGKILL)
    return pid


def kill_node(sandbox: Sandbox, member: Member) -> None:
    """What losing the machine looks like to the rest of the cluster: Patroni and every PostgreSQL process
    gone at once, nothing shut down cleanly (etcd is left alone: losing a DCS voter is a separate failure)."""
    sup = supervisor(sandbox.layout)
    data_dir = Path(sandbox.layout.member_paths(member.name).data_dir)
    postmaster = postmaster_pid(data_dir)
    victims = [postmaster, *child_pids(postmaster)] if postmaster else []
    sup.kill(patroni.name(member))
    for victim in victims:
        with contextlib.suppress(ProcessLookupError):
            os.kill(victim, signal.SIGKILL)


def recover_member(sandbox: Sandbox, member: Member, notes: list[str]) -> float:
    """Restart the member's Patroni; it rejoins as a replica (pg_rewind if it diverged). If it cannot,
    reinitialise it from the leader. Returns the seconds until the cluster is healthy again."""
    layout = sandbox.layout
    start = time.monotonic()
    sup = supervisor(layout)
    if sup.running(patroni.name(member)) is None:
        # Backends of a killed postmaster may still hold its shared memory for a moment.
        wait_until(
            lambda: postmaster_pid(Path(layout.member_paths(member.name).data_dir)) is None,
            15,
            f"{member.name}'s old postmaster to be gone",
        )
        sup.start(patroni.service(layout, member))
    try:
        sandbox.wait_healthy(RECOVER_SECONDS)
    except ServiceError as not_rejoined:
        notes.append(f"{member.name} did not rejoin by itself; reinitialising it from the leader")
        status, body = sandbox.rest(member, "/reinitialize", "POST", {"force": True}, auth=True)
        if status != 200:
            raise RuntimeError(f"reinitialize {member.name}: HTTP {status} {body}") from not_rejoined
        sandbox.wait_healthy(RECOVER_SECONDS * 2)
    return time.monotonic() - start
