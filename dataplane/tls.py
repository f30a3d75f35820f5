"""Certificates the cluster needs, as pure data, plus a small issuer for tests and the sandbox.

One CA per cluster. Every member gets one key pair whose certificate serves TLS for etcd (client and peer),
the Patroni REST API, PostgreSQL and PgBouncer, and also authenticates that member as a client (etcd peers,
pgBackRest between nodes). One separate client certificate identifies the Patroni/pgBackRest clients to
etcd and to pgBackRest's TLS server. The AWS component turns the same requests into pulumi_tls resources;
`issue` does it with `cryptography` for the sandbox and the tests.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import PurePosixPath
from typing import Any

from dataplane.model import ClusterSpec, Member

CLIENT_COMMON_NAME = "pg-platform-client"
# Long enough that a stage is not broken by expiry between rotations; the certificate-expiry alert fires
# 21 days ahead (prometheus.py).
MEMBER_VALIDITY_DAYS = 397
CA_VALIDITY_DAYS = 3650


@dataclass(frozen=True)
class CertificateRequest:
    name: str  # key of the issued pair in `issue`'s result
    common_name: str
    dns_names: tuple[str, ...] = ()
    ip_addresses: tuple[str, ...] = ()
    server: bool = False  # extendedKeyUsage serverAuth
    client: bool = False  # extendedKeyUsage clientAuth
    is_ca: bool = False
    validity_days: int = MEMBER_VALIDITY_DAYS
    organization: str = "pg-platform"


@dataclass(frozen=True)
class TlsFiles:
    """Where a member's TLS material lives (all PEM)."""

    ca: str
    cert: str
    key: str
    client_cert: str
    client_key: str


def tls_files(spec: ClusterSpec, member: Member) -> TlsFiles:
    base = PurePosixPath(spec.paths_for(member).config_dir) / "tls"
    return TlsFiles(
        ca=str(base / "ca.crt"),
        cert=str(base / "server.crt"),
        key=str(base / "server.key"),
        client_cert=str(base / "client.crt"),
        client_key=str(base / "client.key"),
    )


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def ca_request(spec: ClusterSpec) -> CertificateRequest:
    return CertificateRequest(
        name="ca", common_name=f"{spec.scope} cluster CA", is_ca=True, validity_days=CA_VALIDITY_DAYS
    )


def member_request(spec: ClusterSpec, member: Member) -> CertificateRequest:
    # Clients reach a member directly, through the router (so verify-full works against the router's
    # address), or locally (PgBouncer to PostgreSQL, health checks on the node itself).
    names = [member.name, "localhost"]
    ips = [member.host, "127.0.0.1"]
    (ips if _is_ip(spec.router.host) else names).append(spec.router.host)
    if _is_ip(member.host):
        # pgBackRest's TLS client matches a host only against CN and DNS names, never IP SANs, and peers reach
        # each other's pgBackRest server by address: the address goes in as a DNS name too.
        names.append(member.host)
    return CertificateRequest(
        name=member.name,
        common_name=member.name,
        dns_names=tuple(dict.fromkeys(names)),
        ip_addresses=tuple(dict.fromkeys(ips)),
        server=True,
        client=True,
    )


def client_request(spec: ClusterSpec) -> CertificateRequest:
    return CertificateRequest(name="client", common_name=CLIENT_COMMON_NAME, client=True)


def certificate_requests(spec: ClusterSpec) -> tuple[CertificateRequest, ...]:
    """Everything to issue for a cluster: the CA first, then the shared client, then one per member."""
    return (ca_request(spec), client_request(spec), *(member_request(spec, m) for m in spec.members))


@dataclass(frozen=True)
class IssuedPair:
    cert_pem: bytes
    key_pem: bytes


# What a certificate's key may do (X.509 KeyUsage): the CA signs certificates and CRLs; an ECDSA leaf signs its
# handshakes and agrees keys. Everything else stays off.
CA_KEY_USAGES = ("digital_signature", "key_cert_sign", "crl_sign")
LEAF_KEY_USAGES = ("digital_signature", "key_agreement")
_KEY_USAGE_FLAGS = (
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
    "encipher_only",
    "decipher_only",
)


def key_usage(allowed: tuple[str, ...]) -> Any:
    """The KeyUsage extension (`cryptography`) allowing exactly `allowed`."""
    from cryptography import x509

    return x509.KeyUsage(**{flag: flag in allowed for flag in _KEY_USAGE_FLAGS})


def issue(spec: ClusterSpec, now: datetime | None = None) -> dict[str, IssuedPair]:
    """Issue every request with `cryptography` (ECDSA P-256, signed by a fresh CA). Keys are random."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = now or datetime.now(UTC)
    requests = certificate_requests(spec)
    ca_req = requests[0]

    def name(req: CertificateRequest) -> x509.Name:
        return x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, req.organization),
                x509.NameAttribute(NameOID.COMMON_NAME, req.common_name),
            ]
        )

    def pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
        return key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    ca_key = ec.generate_private_key(ec.SECP256R1())
    out: dict[str, IssuedPair] = {}
    for req in requests:
        key = ca_key if req.is_ca else ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(name(req))
            .issuer_name(name(ca_req))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=req.validity_days))
            .add_extension(x509.BasicConstraints(ca=req.is_ca, path_length=0 if req.is_ca else None), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        )
        if req.is_ca:
            builder = builder.add_extension(key_usage(CA_KEY_USAGES), critical=True)
        else:
            builder = builder.add_extension(key_usage(LEAF_KEY_USAGES), critical=True)
            usages = ([ExtendedKeyUsageOID.SERVER_AUTH] if req.server else []) + (
                [ExtendedKeyUsageOID.CLIENT_AUTH] if req.client else []
            )
            builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
            builder = builder.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
            )
            sans = [x509.DNSName(d) for d in req.dns_names] + [
                x509.IPAddress(ipaddress.ip_address(i)) for i in req.ip_addresses
            ]
            if sans:
                builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        cert = builder.sign(ca_key, hashes.SHA256())
        out[req.name] = IssuedPair(cert.public_bytes(serialization.Encoding.PEM), pem_key(key))
    return out


def member_tls_contents(spec: ClusterSpec, member: Member, issued: dict[str, IssuedPair]) -> dict[str, bytes]:
    """File path -> PEM for one member, from `issue`'s result (or the pairs a cloud secret holds).

    Keys must end up 0600 and owned by the service user: PostgreSQL refuses a group/world-readable key.
    """
    files = tls_files(spec, member)
    return {
        files.ca: issued["ca"].cert_pem,
        files.cert: issued[member.name].cert_pem,
        files.key: issued[member.name].key_pem,
        files.client_cert: issued["client"].cert_pem,
        files.client_key: issued["client"].key_pem,
    }
