"""HAProxy terminating TLS in front of a plain-HTTP storage emulator on loopback.

pgBackRest's object-store clients speak HTTPS only and verify DNS names, so each emulator (moto for S3,
fake-gcs-server for GCS) listens on plain HTTP and HAProxy presents the `localhost` certificate the sandbox CA
issued (sandbox.certificates).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from sandbox.certificates import S3_ENDPOINT_CERTIFICATE
from sandbox.files import write_file
from sandbox.layout import LOOPBACK, SandboxLayout
from sandbox.supervisor import Service, Supervisor, port_open

TIMEOUT_SECONDS = 120  # a large file's upload or a restore's range read


def render(
    comment: Sequence[str],
    label: str,
    listen_port: int,
    backend_port: int,
    bundle: Path,
    mode: Literal["tcp", "http"] = "tcp",
    backend_rules: Sequence[str] = (),
) -> str:
    """The proxy's haproxy.cfg; `backend_rules` are extra lines of the backend (http mode only)."""
    return "\n".join(
        [
            *(f"# {line}" for line in comment),
            "global",
            "  maxconn 256",
            "defaults",
            f"  mode {mode}",
            "  timeout connect 5s",
            f"  timeout client {TIMEOUT_SECONDS}s",
            f"  timeout server {TIMEOUT_SECONDS}s",
            f"frontend {label}_https",
            f"  bind {LOOPBACK}:{listen_port} ssl crt {bundle}",
            f"  default_backend {label}_emulator",
            f"backend {label}_emulator",
            *(f"  {rule}" for rule in backend_rules),
            f"  server {label} {LOOPBACK}:{backend_port}",
            "",
        ]
    )


def start(layout: SandboxLayout, sup: Supervisor, name: str, listen_port: int, config_text: str) -> None:
    """Write the config next to the other shared ones and start the proxy; ready once it accepts connections."""
    config = layout.shared_config_dir / f"{name}.cfg"
    write_file(config, config_text)
    sup.start(
        Service(
            name=name,
            argv=["/usr/sbin/haproxy", "-db", "-f", str(config)],
            ready=lambda: port_open(listen_port),
            ready_timeout=15,
        )
    )


def certificate_bundle(layout: SandboxLayout) -> Path:
    return layout.tls_dir / f"{S3_ENDPOINT_CERTIFICATE}.pem"
