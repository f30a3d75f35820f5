"""The sandbox's alert receiver (sandbox/alert_receiver.py), replacing the stack's e-mail and webhook
receivers: every delivery is a JSON line the alerts drill reads."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from sandbox.files import write_file
from sandbox.layout import LOOPBACK, SandboxLayout
from sandbox.supervisor import Service, Supervisor, port_open

NAME = "alert-webhook"
RECEIVER_PROGRAM = Path(__file__).resolve().parent.parent / "alert_receiver.py"


def url(layout: SandboxLayout) -> str:
    return f"http://{LOOPBACK}:{layout.service_port('alert_webhook')}/alerts"


def deliveries_file(layout: SandboxLayout) -> Path:
    return layout.monitoring_dir / "webhook-deliveries.jsonl"


def deliveries(layout: SandboxLayout) -> list[dict]:
    """Every delivery received so far, oldest first (a line cut short by a concurrent write is skipped)."""
    path = deliveries_file(layout)
    out = []
    for line in path.read_text().splitlines() if path.exists() else []:
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


def service(layout: SandboxLayout) -> Service:
    port = layout.service_port("alert_webhook")
    out = deliveries_file(layout)
    if not out.exists():
        write_file(out, "", 0o640)
    return Service(
        name=NAME,
        argv=[sys.executable, str(RECEIVER_PROGRAM), "--port", str(port), "--out", str(out)],
        ready=lambda: port_open(port),
        ready_timeout=15,
    )


def start(layout: SandboxLayout, sup: Supervisor) -> None:
    sup.start(service(layout))
