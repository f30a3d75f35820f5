"""The members' exporters: postgres_exporter, and node_exporter with the node metrics script's textfile."""

from __future__ import annotations

from dataplane import exporters as exporters_render
from dataplane.model import Member
from sandbox.environment import node_environment
from sandbox.files import environment_file, service_dir
from sandbox.layout import SandboxLayout
from sandbox.processes import run_as_service_user
from sandbox.supervisor import Service, Supervisor, port_open

NODE_EXPORTER_BINARY = "prometheus-node-exporter"


def postgres_exporter_name(member: Member) -> str:
    return f"postgres-exporter-{member.name}"


def node_exporter_name(member: Member) -> str:
    return f"node-exporter-{member.name}"


def postgres_exporter_service(layout: SandboxLayout, member: Member) -> Service:
    spec = layout.spec
    port = member.ports.postgres_exporter
    return Service(
        name=postgres_exporter_name(member),
        argv=["prometheus-postgres-exporter", *exporters_render.postgres_exporter_args(spec, member)],
        env=environment_file(exporters_render.env_file_path(spec, member)),
        ready=lambda: port_open(port),
        ready_timeout=15,
    )


def node_exporter_service(layout: SandboxLayout, member: Member) -> Service:
    """Host metrics plus the textfile the node metrics script writes (last backups, certificate expiry);
    the script runs once here, where a node's timer would run it every few minutes."""
    spec = layout.spec
    service_dir(exporters_render.textfile_dir(spec, member))
    run_as_service_user(exporters_render.node_metrics_command(spec, member), env=node_environment(layout))
    port = member.ports.node_exporter
    return Service(
        name=node_exporter_name(member),
        argv=[NODE_EXPORTER_BINARY, *exporters_render.node_exporter_args(spec, member)],
        ready=lambda: port_open(port),
        ready_timeout=15,
    )


def start(layout: SandboxLayout, sup: Supervisor) -> None:
    for member in layout.spec.members:
        sup.start(postgres_exporter_service(layout, member))
    for member in layout.spec.members:
        sup.start(node_exporter_service(layout, member))
