"""The cluster's certificates from dataplane.tls's requests, signed by a CA kept in the sandbox root."""

from __future__ import annotations

from dataplane import tls as tls_render
from sandbox.files import write_file
from sandbox.layout import LOOPBACK, LOOPBACK_DNS, SandboxLayout
from sandbox.pki import LocalCA

S3_ENDPOINT_CERTIFICATE = "s3-endpoint"


def issue(layout: SandboxLayout) -> LocalCA:
    """Every member's TLS files where the node expects them, plus the S3 endpoint's certificate."""
    spec = layout.spec
    requests = tls_render.certificate_requests(spec)
    ca_request = next(r for r in requests if r.is_ca)
    ca = LocalCA(layout.tls_dir, common_name=ca_request.common_name, validity_days=ca_request.validity_days).ensure()
    issued: dict[str, tls_render.IssuedPair] = {
        ca_request.name: tls_render.IssuedPair(ca.cert_path.read_bytes(), ca.key_path.read_bytes())
    }
    for req in requests:
        if req.is_ca:
            continue
        pair = ca.issue(
            req.name,
            req.common_name,
            req.dns_names,
            req.ip_addresses,
            server=req.server,
            client=req.client,
            validity_days=req.validity_days,
        )
        issued[req.name] = tls_render.IssuedPair(pair.cert.read_bytes(), pair.key.read_bytes())
    for member in spec.members:
        for path, pem in tls_render.member_tls_contents(spec, member, issued).items():
            is_key = path.endswith(".key")
            write_file(path, pem, 0o600 if is_key else 0o644)
    # pgBackRest's S3 client checks the DNS name it dialled, and the emulator is reached as `localhost`.
    ca.issue(S3_ENDPOINT_CERTIFICATE, LOOPBACK_DNS, dns_names=(LOOPBACK_DNS,), ip_addresses=(LOOPBACK,), client=False)
    return ca
