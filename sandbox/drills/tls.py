"""tls: plain connections refused everywhere, a foreign CA refused, the superuser refused over the network."""

from __future__ import annotations

from collections.abc import Callable

import psycopg

from dataplane.model import APP_READWRITE_USER, SUPERUSER
from sandbox.client import Sandbox, one_row
from sandbox.harness import refusals
from sandbox.harness.result import RECOVER_SECONDS, Drill, DrillOptions, DrillResult

NAME = "tls"


def tls(sandbox: Sandbox, options: DrillOptions) -> DrillResult:
    """Plain connections are refused everywhere; verify-full against the cluster CA works and negotiates
    TLS >= 1.2; a client that trusts some other CA is turned away by its own verification."""
    layout = sandbox.layout
    sandbox.wait_healthy(RECOVER_SECONDS)
    leader = sandbox.leader_member()
    router = layout.spec.router
    checks: dict[str, bool] = {}
    notes: list[str] = []

    def probe(port: int, **kwargs) -> Callable[[], object]:
        def attempt() -> object:
            with sandbox.connect(port, user=APP_READWRITE_USER, **kwargs) as conn:
                return conn.execute("select 1").fetchone()

        return attempt

    for label, port in (
        ("member", leader.ports.postgres),
        ("router write", router.write_port),
        ("router pooled", router.pooled_port),
    ):
        refused, said = refusals.refused(probe(port, sslmode="disable"), psycopg.OperationalError)
        checks[f"plain to {label} refused"] = refused
        notes.append(f"plain to {label} :{port}: {said}")
    refused, said = refusals.refused(
        probe(router.write_port, sslmode="verify-full", sslrootcert="/etc/ssl/certs/ca-certificates.crt")
    )
    checks["verify-full against a foreign CA refused"] = refused
    notes.append(f"verify-full trusting the system CAs only: {said}")
    refused, said = refusals.refused(
        lambda: sandbox.connect(router.write_port, user=SUPERUSER, dbname="postgres").close()
    )
    checks["superuser over the network refused"] = refused
    notes.append(f"superuser over TLS: {said}")
    with sandbox.connect(router.write_port, user=APP_READWRITE_USER, sslmode="verify-full") as conn:
        ssl_on, version = one_row(conn, "select ssl, version from pg_stat_ssl where pid = pg_backend_pid()")
    checks["verify-full accepted with TLS >= 1.2"] = bool(ssl_on) and version in ("TLSv1.2", "TLSv1.3")
    notes.append(f"verify-full through the router: ssl={ssl_on} {version}")
    failed = [k for k, ok in checks.items() if not ok]
    return DrillResult(
        NAME,
        not failed,
        {"checks_passed": f"{len(checks) - len(failed)}/{len(checks)}"},
        "no plaintext login anywhere; verified TLS >= 1.2 for clients (CIS 6.8/6.9, 5.3)",
        notes + [f"FAILED: {k}" for k in failed],
    )


DRILL = Drill(NAME, tls)
