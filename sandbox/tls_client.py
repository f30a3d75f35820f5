"""Clients of the services' TLS endpoints (Patroni REST, etcd, PostgreSQL and PgBouncer through the SSLRequest),
trusting the cluster CA."""

from __future__ import annotations

import socket
import ssl
import struct
import urllib.request

from dataplane import tls as tls_render
from sandbox.layout import SandboxLayout


def tls_context(layout: SandboxLayout, client_cert: bool = False) -> ssl.SSLContext:
    member = layout.spec.members[0]
    files = tls_render.tls_files(layout.spec, member)
    ctx = ssl.create_default_context(cafile=files.ca)
    if client_cert:
        ctx.load_cert_chain(files.client_cert, files.client_key)
    return ctx


def https_ok(url: str, ctx: ssl.SSLContext, timeout: float = 1.0) -> bool:
    with urllib.request.urlopen(url, context=ctx, timeout=timeout) as response:
        return bool(response.status == 200)


def http_ok(url: str, timeout: float = 1.0) -> bool:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return bool(response.status == 200)


# PostgreSQL's SSLRequest: length 8, then the request code 1234.5679 (PgBouncer answers it too).
SSL_REQUEST = struct.pack("!ii", 8, 80877103)
TLS_VERSIONS = {"TLSv1.2": ssl.TLSVersion.TLSv1_2, "TLSv1.3": ssl.TLSVersion.TLSv1_3}


def postgres_tls_version(host: str, port: int, ca_file: str, version: str, timeout: float = 5.0) -> str | None:
    """The protocol a PostgreSQL-protocol server (PostgreSQL or PgBouncer) negotiates with a client that offers
    exactly `version`, or None when the server refuses the handshake. libpq cannot cap its maximum protocol, so
    this speaks the SSLRequest itself and then TLS through Python's ssl, the server certificate verified against
    the cluster CA (its name is not the point here)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.load_verify_locations(ca_file)
    ctx.minimum_version = ctx.maximum_version = TLS_VERSIONS[version]
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(SSL_REQUEST)
        answer = sock.recv(1)
        if answer != b"S":
            raise RuntimeError(f"{host}:{port} answered {answer!r} to SSLRequest, not 'S'")
        try:
            with ctx.wrap_socket(sock) as tls:
                return tls.version()
        except ssl.SSLCertVerificationError:
            raise
        except (ssl.SSLError, ConnectionResetError):
            return None
