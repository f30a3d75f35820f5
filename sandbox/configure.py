"""Day-two changes in the sandbox: the configure bundle of each member applied by the same command a cloud
member runs (dataplane/configure.py), here as a local process instead of through SSM."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dataplane import configure
from dataplane.model import ClusterSpec, Member
from sandbox import supervisor
from sandbox.layout import log_dir, root_of, state_dir
from sandbox.services import etcd as etcd_service

# The agent waits for one Patroni loop after a reload; a slow first TLS handshake or fill adds a few seconds.
APPLY_TIMEOUT_SECONDS = 120


class ConfigureError(RuntimeError):
    pass


@dataclass(frozen=True)
class MemberReport:
    member: str
    written: tuple[str, ...]
    actions: tuple[str, ...]
    dcs_patch: dict[str, Any]
    restart_needed: tuple[str, ...]
    pending_reason: dict[str, Any]
    role: str | None


def etcd_restart(spec: ClusterSpec, member: Member) -> list[list[str]]:
    """The sandbox's stand-in for `systemctl restart` of the member's etcd: its supervisor, as a script."""
    root = root_of(spec.paths)
    script = supervisor.__file__
    return [[sys.executable, script, "restart", str(state_dir(root)), str(log_dir(root)), etcd_service.name(member)]]


def run_member(
    spec: ClusterSpec, member: Member, mode: str, extra_files: configure.Files | None = None
) -> dict[str, Any]:
    """The agent in `mode` on one member, as the cloud's step runs it (`extra_files`: as a cloud member's)."""
    argv = configure.command(configure.encoded(spec, member, extra_files, etcd_restart(spec, member)), mode)
    done = subprocess.run(argv, capture_output=True, text=True, timeout=APPLY_TIMEOUT_SECONDS)
    try:
        report = json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise ConfigureError(f"{member.name}: the agent printed no report: {done.stderr.strip()[-2000:]}") from None
    if done.returncode != 0 or "error" in report:
        raise ConfigureError(f"{member.name}: {report.get('error', done.stderr.strip()[-2000:])}")
    return report


def _member_report(report: dict[str, Any]) -> MemberReport:
    return MemberReport(
        member=report["member"],
        written=tuple(report["written"]),
        actions=tuple(report["actions"]),
        dcs_patch=report["dcs_patch"],
        restart_needed=tuple(report["restart_needed"]),
        pending_reason=report.get("pending_reason") or {},
        role=report.get("role"),
    )


def apply(spec: ClusterSpec, say: Callable[[str], None] = print) -> list[MemberReport]:
    """Every member, then the rolling restart of those that wait for one (dataplane.configure.roll_out)."""
    reports = configure.roll_out(
        [m.name for m in spec.members], lambda name, mode: run_member(spec, spec.member(name), mode), say
    )
    return [_member_report(r) for r in reports]


def diff(spec: ClusterSpec) -> list[dict[str, Any]]:
    """Per member, what applying `spec` would change (files, DCS patch) and any restart already pending."""
    return [run_member(spec, member, "diff") for member in spec.members]
