"""Prometheus with the rendered alert rules, scraping every member and the router."""

from __future__ import annotations

from pathlib import Path

from dataplane import prometheus as prometheus_render
from sandbox.files import service_dir, write_file
from sandbox.layout import LOOPBACK, SandboxLayout
from sandbox.supervisor import Service, Supervisor
from sandbox.tls_client import http_ok

NAME = "prometheus"
# Prometheus otherwise re-sends firing alerts only every minute and may drop the first one sent before
# Alertmanager answers; a short delay lets the alert drill see delivery within the rule's window.
ALERT_RESEND_DELAY = "5s"


def rules_file(layout: SandboxLayout) -> Path:
    return layout.monitoring_dir / "alert-rules.yml"


def service(layout: SandboxLayout) -> Service:
    spec = layout.spec
    mon = layout.monitoring_dir
    write_file(rules_file(layout), prometheus_render.render_alert_rules(spec))
    config = mon / "prometheus.yml"
    targets = prometheus_render.ScrapeTargets(
        prometheus=f"{LOOPBACK}:{layout.prometheus_port}",
        alertmanagers=(f"{LOOPBACK}:{layout.alertmanager_port}",),
        router_metrics=f"{LOOPBACK}:{spec.router.stats_port}",
    )
    write_file(
        config,
        prometheus_render.render_prometheus_config(
            spec, targets, (str(rules_file(layout)),), str(layout.tls_dir / "ca.crt")
        ),
    )
    port = layout.prometheus_port
    argv = [
        "prometheus",
        f"--config.file={config}",
        f"--storage.tsdb.path={service_dir(mon / 'prometheus')}",
        f"--web.listen-address={LOOPBACK}:{port}",
        "--storage.tsdb.retention.time=2d",
        f"--rules.alert.resend-delay={ALERT_RESEND_DELAY}",
    ]
    return Service(name=NAME, argv=argv, ready=lambda: http_ok(f"http://{LOOPBACK}:{port}/-/ready"), ready_timeout=30)


def start(layout: SandboxLayout, sup: Supervisor) -> None:
    sup.start(service(layout))
