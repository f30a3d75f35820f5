"""The DCS: one etcd per member, started from the etcd config file the node receives."""

from __future__ import annotations

from dataplane import etcd as etcd_render
from dataplane.model import Member
from sandbox.layout import SandboxLayout
from sandbox.supervisor import Service, ServiceError, Supervisor, wait_until
from sandbox.tls_client import https_ok, tls_context

READY_SECONDS = 30
NAME_PREFIX = "etcd-"


def name(member: Member) -> str:
    return NAME_PREFIX + member.name


def service(layout: SandboxLayout, member: Member) -> Service:
    # The node's own start script, which joins a running cluster when the data directory is empty.
    return Service(name=name(member), argv=etcd_render.member_command(layout.spec, member, "start"))


def start(layout: SandboxLayout, sup: Supervisor) -> None:
    for member in layout.spec.members:
        sup.start(service(layout, member))
    ctx = tls_context(layout, client_cert=True)

    def all_healthy() -> bool:
        return all(https_ok(f"{etcd_render.client_url(m)}/health", ctx) for m in layout.spec.members)

    try:
        wait_until(all_healthy, READY_SECONDS, "etcd cluster healthy", interval=0.2)
    except ServiceError as exc:
        tails = "\n".join(sup.log_tail(name(m), 5) for m in layout.spec.members)
        raise ServiceError(f"{exc}\n{tails}") from None
