"""A local CA and certificates for the sandbox, made with `cryptography`.

In the clouds the keys come from the secrets store; here they are generated once into the sandbox root
and kept across `up`s (regenerated only by `down --purge`), so restarts do not invalidate client trust.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from dataplane.tls import CA_KEY_USAGES, key_usage
from sandbox.supervisor import chown_service_user

# Defaults when a request does not say; dataplane.tls's requests carry the platform's own validity.
VALIDITY_DAYS = 397
CA_VALIDITY_DAYS = 3650
CA_NAME = "pg-platform sandbox CA"


@dataclass(frozen=True)
class Issued:
    cert: Path
    key: Path

    @property
    def pem_bundle(self) -> Path:
        """Certificate followed by key in one file, the form HAProxy's `crt` takes."""
        return self.cert.with_suffix(".pem")


def _write_private(path: Path, data: bytes, service_owned: bool) -> None:
    path.write_bytes(data)
    os.chmod(path, 0o600)
    if service_owned:
        chown_service_user(path)


def _key_bytes(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class LocalCA:
    def __init__(self, directory: Path, common_name: str = CA_NAME, validity_days: int = CA_VALIDITY_DAYS) -> None:
        self.directory = directory
        self.common_name = common_name
        self.validity_days = validity_days
        self.cert_path = directory / "ca.crt"
        self.key_path = directory / "ca.key"

    def ensure(self) -> LocalCA:
        if self.cert_path.exists() and self.key_path.exists():
            return self
        self.directory.mkdir(parents=True, exist_ok=True)
        os.chmod(self.directory, 0o755)
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, self.common_name)])
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(_now() - dt.timedelta(minutes=5))
            .not_valid_after(_now() + dt.timedelta(days=self.validity_days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(key_usage(CA_KEY_USAGES), critical=True)
            .sign(key, hashes.SHA256())
        )
        _write_private(self.key_path, _key_bytes(key), service_owned=False)
        self.cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        os.chmod(self.cert_path, 0o644)
        return self

    def issue(
        self,
        basename: str,
        common_name: str,
        dns_names: tuple[str, ...] = (),
        ip_addresses: tuple[str, ...] = (),
        server: bool = True,
        client: bool = True,
        directory: Path | None = None,
        validity_days: int = VALIDITY_DAYS,
    ) -> Issued:
        """A leaf certificate signed by this CA; reused if it exists and names the same subject."""
        directory = directory or self.directory
        directory.mkdir(parents=True, exist_ok=True)
        issued = Issued(directory / f"{basename}.crt", directory / f"{basename}.key")
        if issued.cert.exists() and issued.key.exists() and issued.pem_bundle.exists():
            existing = x509.load_pem_x509_certificate(issued.cert.read_bytes())
            if existing.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == common_name:
                return issued
        ca_key = serialization.load_pem_private_key(self.key_path.read_bytes(), password=None)
        if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
            raise TypeError(f"{self.key_path} is not the EC key this CA generates: `sandbox down --purge` renews it")
        ca_cert = x509.load_pem_x509_certificate(self.cert_path.read_bytes())
        key = ec.generate_private_key(ec.SECP256R1())
        sans: list[x509.GeneralName] = [x509.DNSName(d) for d in dns_names]
        sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ip_addresses]
        usages = ([ExtendedKeyUsageOID.SERVER_AUTH] if server else []) + (
            [ExtendedKeyUsageOID.CLIENT_AUTH] if client else []
        )
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(_now() - dt.timedelta(minutes=5))
            .not_valid_after(_now() + dt.timedelta(days=validity_days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        )
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        cert = builder.sign(ca_key, hashes.SHA256())
        cert_pem = cert.public_bytes(serialization.Encoding.PEM)
        key_pem = _key_bytes(key)
        # PostgreSQL refuses a key readable by others or owned by someone else.
        _write_private(issued.key, key_pem, service_owned=True)
        issued.cert.write_bytes(cert_pem)
        os.chmod(issued.cert, 0o644)
        _write_private(issued.pem_bundle, cert_pem + key_pem, service_owned=True)
        return issued
