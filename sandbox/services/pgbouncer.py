"""The pooler: one PgBouncer per member, from the node's pgbouncer.ini."""

from __future__ import annotations

from dataplane import pgbouncer as pgbouncer_render
from dataplane.model import Member
from sandbox.layout import SandboxLayout
from sandbox.supervisor import Service, Supervisor, port_open


def name(member: Member) -> str:
    return f"pgbouncer-{member.name}"


def service(layout: SandboxLayout, member: Member) -> Service:
    port = member.ports.pgbouncer
    return Service(
        name=name(member),
        argv=["/usr/sbin/pgbouncer", pgbouncer_render.config_path(layout.spec, member)],
        ready=lambda: port_open(port),
        ready_timeout=15,
    )


def start(layout: SandboxLayout, sup: Supervisor) -> None:
    for member in layout.spec.members:
        sup.start(service(layout, member))
