"""The router: HAProxy following Patroni's health checks, standing in for the cloud's load balancer."""

from __future__ import annotations

import urllib.request
from pathlib import Path

from dataplane import haproxy as haproxy_render
from sandbox.files import write_file
from sandbox.layout import LOOPBACK, SandboxLayout
from sandbox.supervisor import Service, Supervisor, port_open, wait_until

NAME = "router-haproxy"


def config_path(layout: SandboxLayout) -> Path:
    return layout.shared_config_dir / "haproxy.cfg"


def service(layout: SandboxLayout) -> Service:
    config = config_path(layout)
    write_file(config, haproxy_render.render_haproxy_config(layout.spec, str(layout.tls_dir / "ca.crt")))
    return Service(
        name=NAME,
        argv=["/usr/sbin/haproxy", "-db", "-f", str(config)],
        ready=lambda: port_open(layout.spec.router.stats_port),
        ready_timeout=15,
    )


def servers_up(layout: SandboxLayout, backend: str) -> list[str]:
    """Servers HAProxy currently sends `backend` traffic to, from its stats CSV."""
    url = f"http://{LOOPBACK}:{layout.spec.router.stats_port}{haproxy_render.STATS_PATH};csv"
    with urllib.request.urlopen(url, timeout=2) as response:
        rows = response.read().decode().splitlines()
    header = rows[0].lstrip("# ").split(",")
    up = []
    for row in rows[1:]:
        cols = dict(zip(header, row.split(","), strict=False))
        if (
            cols.get("pxname") == backend
            and cols.get("svname") not in ("FRONTEND", "BACKEND")
            and cols.get("status") == "UP"
        ):
            up.append(cols["svname"])
    return up


def start(layout: SandboxLayout, sup: Supervisor) -> None:
    sup.start(service(layout))
    wait_until(
        lambda: len(servers_up(layout, "primary")) == 1,
        30,
        "router sending the write port to exactly one primary",
        interval=0.2,
    )
