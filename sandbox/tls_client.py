"""Clients of the services' HTTPS endpoints (Patroni REST, etcd), trusting the cluster CA."""

from __future__ import annotations

import ssl
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
