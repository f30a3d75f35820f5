"""The tls_settings drill's probe: a client offering exactly one TLS version, after PostgreSQL's SSLRequest, against
a local server that speaks that much of the protocol with a given lowest version."""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from sandbox.tls_client import SSL_REQUEST, TLS_VERSIONS, postgres_tls_version


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    """A self-signed server certificate (its own CA), as (cert, key)."""
    directory = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "probe")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "server.crt", directory / "server.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def serve_once(certificate: tuple[Path, Path], minimum: str, answer: bytes = b"S") -> tuple[int, list[bytes]]:
    """A one-connection server: reads the SSLRequest, answers `answer`, then handshakes at >= `minimum`."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = TLS_VERSIONS[minimum]
    ctx.load_cert_chain(*certificate)
    listener = socket.create_server(("127.0.0.1", 0))
    received: list[bytes] = []

    def run() -> None:
        with listener:
            conn, _ = listener.accept()
            with conn:
                received.append(conn.recv(8))
                conn.sendall(answer)
                if answer == b"S":
                    try:
                        with ctx.wrap_socket(conn, server_side=True):
                            pass
                    except (ssl.SSLError, OSError):
                        pass

    threading.Thread(target=run, daemon=True).start()
    return listener.getsockname()[1], received


@pytest.mark.parametrize(
    "minimum,offered,negotiated",
    [("TLSv1.2", "TLSv1.2", "TLSv1.2"), ("TLSv1.2", "TLSv1.3", "TLSv1.3"), ("TLSv1.3", "TLSv1.3", "TLSv1.3")],
)
def test_a_version_the_server_accepts_is_negotiated(certificate, minimum, offered, negotiated):
    port, received = serve_once(certificate, minimum)
    assert postgres_tls_version("127.0.0.1", port, str(certificate[0]), offered) == negotiated
    assert received == [SSL_REQUEST]


def test_a_tls_1_2_only_client_is_refused_by_a_tls_1_3_server(certificate):
    port, _ = serve_once(certificate, "TLSv1.3")
    assert postgres_tls_version("127.0.0.1", port, str(certificate[0]), "TLSv1.2") is None


def test_a_server_without_tls_is_an_error_not_a_refusal(certificate):
    port, _ = serve_once(certificate, "TLSv1.2", answer=b"N")
    with pytest.raises(RuntimeError, match="not 'S'"):
        postgres_tls_version("127.0.0.1", port, str(certificate[0]), "TLSv1.2")
