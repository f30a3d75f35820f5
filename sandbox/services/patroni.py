"""Patroni on every member (it initdb's or clones PostgreSQL), started with the node's secrets environment."""

from __future__ import annotations

from pathlib import Path

from dataplane import patroni as patroni_render
from dataplane.model import Member
from sandbox.client import Sandbox
from sandbox.files import environment_file, tail
from sandbox.layout import SandboxLayout
from sandbox.supervisor import Service, ServiceError, Supervisor
from sandbox.tls_client import https_ok, tls_context

HEALTHY_SECONDS = 120
NAME_PREFIX = "patroni-"


def name(member: Member) -> str:
    return NAME_PREFIX + member.name


def service(layout: SandboxLayout, member: Member) -> Service:
    paths = layout.member_paths(member.name)
    ctx = tls_context(layout)
    url = f"{patroni_render.rest_url(member)}/liveness"
    return Service(
        name=name(member),
        argv=[paths.patroni_bin, patroni_render.config_path(layout.spec, member)],
        env=environment_file(paths.secrets_env),
        ready=lambda: https_ok(url, ctx),
        ready_timeout=30,
    )


def log_file(layout: SandboxLayout, member: Member) -> Path:
    return Path(layout.member_paths(member.name).log_dir) / "patroni" / "patroni.log"


def start(layout: SandboxLayout, sup: Supervisor) -> None:
    """Every member's Patroni, then until there is a leader, streaming replicas and the sync standbys."""
    for member in layout.spec.members:
        sup.start(service(layout, member))
    try:
        Sandbox(layout).wait_healthy(HEALTHY_SECONDS)
    except ServiceError as exc:
        tails = "\n".join(f"--- {m.name} ---\n" + tail(log_file(layout, m)) for m in layout.spec.members)
        raise ServiceError(f"{exc}\n{tails}") from None
