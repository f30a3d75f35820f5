"""Alertmanager from the rendered configuration, its receivers replaced by the sandbox's webhook."""

from __future__ import annotations

from dataplane import alertmanager as alertmanager_render
from sandbox.files import service_dir, write_file
from sandbox.layout import LOOPBACK, SandboxLayout
from sandbox.services import webhook
from sandbox.supervisor import Service, Supervisor
from sandbox.tls_client import http_ok
from stacks.settings import Receiver

NAME = "alertmanager"
# The sandbox's alert receiver replaces the stack's (e-mail and external webhooks are never called from here).
RECEIVER_NAME = "sandbox-webhook"


def receivers(layout: SandboxLayout) -> list[Receiver]:
    return [Receiver(name=RECEIVER_NAME, email=None, webhook_url=webhook.url(layout))]


def service(layout: SandboxLayout) -> Service:
    mon = layout.monitoring_dir
    config = mon / "alertmanager.yml"
    write_file(config, alertmanager_render.render_alertmanager_config(layout.spec, receivers(layout)))
    port = layout.alertmanager_port
    argv = [
        "prometheus-alertmanager",
        f"--config.file={config}",
        f"--storage.path={service_dir(mon / 'alertmanager')}",
        f"--web.listen-address={LOOPBACK}:{port}",
        # An empty address turns gossip off: a single instance must not listen on all interfaces.
        "--cluster.listen-address=",
    ]
    return Service(name=NAME, argv=argv, ready=lambda: http_ok(f"http://{LOOPBACK}:{port}/-/ready"), ready_timeout=30)


def start(layout: SandboxLayout, sup: Supervisor) -> None:
    sup.start(service(layout))
