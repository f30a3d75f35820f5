"""Azure Blob Storage for pgBackRest's `repo-type=azure`, emulated by Azurite (npm) serving HTTPS itself.

Azurite takes a certificate and key (--cert/--key): it presents the sandbox CA's `localhost` certificate, so
pgBackRest's Azure client verifies it as it verifies the cloud's, and no TLS proxy is needed. Azurite has one
built-in development account (`devstoreaccount1`) with a published key; pgBackRest addresses it path-style
(https://localhost:<port>/devstoreaccount1/<container>/...) with a shared access signature made from that key
(`repo-azure-key-type=sas`), the sandbox itself signs its own requests (the container) with the shared key.

What Azurite does not emulate: container immutability policies and legal holds (it accepts no WORM settings, so
nothing here can prove the container refuses a delete), customer-managed keys, private endpoints and managed
identities. Those are the cloud component's and are checked under mocks, not here.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import shutil
import ssl
import urllib.parse
from email.utils import formatdate
from pathlib import Path
from xml.etree import ElementTree

from sandbox.certificates import S3_ENDPOINT_CERTIFICATE
from sandbox.files import service_dir
from sandbox.layout import AZURITE_ACCOUNT, LOOPBACK, LOOPBACK_DNS, SandboxLayout
from sandbox.supervisor import Service, ServiceError, Supervisor, port_open

# The key Azurite documents for devstoreaccount1 (the same in every copy of Azurite; not a secret).
AZURITE_ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
# The SAS pgBackRest gets is signed with the published key above, so a fixed far expiry hides nothing.
SAS_EXPIRY = "2099-01-01T00:00:00Z"
# scripts/bootstrap.sh installs the pinned Azurite here (npm --prefix), world-readable for the postgres user.
AZURITE_PREFIX = Path("/opt/pg-platform/azurite")
AZURITE_BLOB = AZURITE_PREFIX / "node_modules" / "azurite" / "dist" / "src" / "blob" / "main.js"
# A Blob service version Azurite 3.x serves, for the requests the sandbox itself signs (container creation).
API_VERSION = "2021-08-06"
# Taken down with the other object stores, after PostgreSQL has archived its last WAL.
NAME_PREFIX = "azurite-"
NAME = f"{NAME_PREFIX}blob"


def data_dir(layout: SandboxLayout) -> Path:
    """Azurite's workspace: blobs and its metadata database persist across `down` and `up` (unlike moto)."""
    return layout.root / "azurite"


def service(layout: SandboxLayout) -> Service:
    port = layout.service_port("azure_blob")
    node = shutil.which("node") or "/usr/bin/node"
    tls = layout.tls_dir
    return Service(
        name=NAME,
        argv=[
            node,
            str(AZURITE_BLOB),
            *("--blobHost", LOOPBACK, "--blobPort", str(port)),
            *(
                "--cert",
                str(tls / f"{S3_ENDPOINT_CERTIFICATE}.crt"),
                "--key",
                str(tls / f"{S3_ENDPOINT_CERTIFICATE}.key"),
            ),
            *("--location", str(data_dir(layout))),
            # Path-style only: the account is always the first path segment, never taken from the host name.
            "--disableProductStyleUrl",
            # No telemetry from a sandbox, and no access log per request (every WAL segment is several).
            "--disableTelemetry",
            "--silent",
        ],
        ready=lambda: port_open(port),
        ready_timeout=30,
    )


def shared_key_authorization(
    method: str, path: str, query: dict[str, str], headers: dict[str, str], key: str = AZURITE_ACCOUNT_KEY
) -> str:
    """The `Authorization: SharedKey` header of a Blob service request (Azure's "Authorize with Shared Key").

    `path` is the URL path, which path-style addressing starts with the account; the canonicalized resource is
    the account followed by that path."""
    lowered = {k.lower(): v for k, v in headers.items()}
    standard = (
        "content-encoding",
        "content-language",
        "content-length",
        "content-md5",
        "content-type",
        "date",
        "if-modified-since",
        "if-match",
        "if-none-match",
        "if-unmodified-since",
        "range",
    )
    values = [lowered.get(h, "") for h in standard]
    if values[2] == "0":  # since version 2015-02-21 a zero Content-Length signs as empty
        values[2] = ""
    canonical_headers = "".join(f"{k}:{lowered[k].strip()}\n" for k in sorted(lowered) if k.startswith("x-ms-"))
    resource = f"/{AZURITE_ACCOUNT}{path}" + "".join(f"\n{k.lower()}:{query[k]}" for k in sorted(query))
    to_sign = "\n".join([method, *values]) + "\n" + canonical_headers + resource
    digest = hmac.new(base64.b64decode(key), to_sign.encode(), hashlib.sha256).digest()
    return f"SharedKey {AZURITE_ACCOUNT}:{base64.b64encode(digest).decode()}"


def account_sas(key: str = AZURITE_ACCOUNT_KEY, expiry: str = SAS_EXPIRY) -> str:
    """An account shared access signature (Azure's "Create an account SAS", version 2019-12-12) for what pgBackRest
    does in its container: read, write, delete, list, add, create on containers and objects of the blob service,
    HTTPS only. pgBackRest appends it to every request (`repo-azure-key-type=sas`); the account key stays with
    the sandbox, which creates the container itself, as a cloud hands a node a SAS and keeps the key."""
    fields = {"sv": "2019-12-12", "ss": "b", "srt": "co", "sp": "rwdlac", "se": expiry, "spr": "https"}
    # account, permissions, services, resource types, start, expiry, IP range, protocol, version, and a newline.
    to_sign = "\n".join(
        [AZURITE_ACCOUNT, fields["sp"], fields["ss"], fields["srt"], "", expiry, "", "https", "2019-12-12"]
    )
    digest = hmac.new(base64.b64decode(key), (to_sign + "\n").encode(), hashlib.sha256).digest()
    return urllib.parse.urlencode(fields | {"sig": base64.b64encode(digest).decode()})


def request(layout: SandboxLayout, method: str, path: str, query: dict[str, str]) -> tuple[int, bytes]:
    """One signed request to Azurite over verified TLS, as `localhost` (the name its certificate carries)."""
    headers = {"x-ms-date": formatdate(usegmt=True), "x-ms-version": API_VERSION, "Content-Length": "0"}
    headers["Authorization"] = shared_key_authorization(method, path, query, headers)
    context = ssl.create_default_context(cafile=str(layout.tls_dir / "ca.crt"))
    conn = http.client.HTTPSConnection(LOOPBACK_DNS, layout.service_port("azure_blob"), context=context, timeout=30)
    target = path + ("?" + urllib.parse.urlencode(query) if query else "")
    conn.request(method, target, headers=headers)
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response.status, body


def ensure_container(layout: SandboxLayout) -> str:
    """The repository's container, created if missing (201) or kept (409 ContainerAlreadyExists)."""
    repo = layout.azure_repository
    assert repo is not None
    status, body = request(layout, "PUT", f"/{repo.account}/{repo.container}", {"restype": "container"})
    if status not in (201, 409):
        raise ServiceError(f"Azurite refused to create container {repo.container}: {status} {body[:300]!r}")
    return "created" if status == 201 else "present"


def list_blobs(layout: SandboxLayout, prefix: str) -> dict[str, int]:
    """The container's blobs under `prefix` and their sizes, read through Azurite's own List Blobs (not pgBackRest)."""
    repo = layout.azure_repository
    assert repo is not None
    blobs: dict[str, int] = {}
    marker = ""
    while True:
        query = {"restype": "container", "comp": "list", "prefix": prefix} | ({"marker": marker} if marker else {})
        status, body = request(layout, "GET", f"/{repo.account}/{repo.container}", query)
        if status != 200:
            raise ServiceError(f"Azurite List Blobs failed: {status} {body[:300]!r}")
        root = ElementTree.fromstring(body)
        for blob in root.iter("Blob"):
            blobs[blob.findtext("Name") or ""] = int(blob.findtext("Properties/Content-Length") or 0)
        marker = root.findtext("NextMarker") or ""
        if not marker:
            return blobs


def start(layout: SandboxLayout, sup: Supervisor) -> str:
    if not AZURITE_BLOB.exists():
        raise ServiceError(f"Azurite is not installed at {AZURITE_PREFIX}: run `bash scripts/bootstrap.sh`")
    service_dir(data_dir(layout))
    sup.start(service(layout))
    return f"container {ensure_container(layout)}"
