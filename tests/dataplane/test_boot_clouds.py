"""The boot on Azure (boot/azure.py) and GCP (boot/gcp.py), and what the three clouds share.

- The secret-fetch code each cloud embeds runs for real, with python3, against a local fake of its metadata
  service (HTTP, as on the VM) and of its secrets store (HTTPS, with a throwaway CA the child trusts through
  SSL_CERT_FILE); the fakes answer only requests shaped as the real APIs document them (path, query, headers,
  bearer token). Only the boot configuration the cloud part renders points the node at them. The result is
  compared byte for byte with what the AWS path writes from moto's Secrets Manager.
- The node files of one topology are identical on the three clouds except the pgbackrest.conf lines of the
  repository, and the user data differs only in the cloud's part.
- GCP's backup lock timer (boot/gcs_lock.py) runs for real against a fake of Cloud Storage's JSON API (HTTPS,
  same CA): it patches exactly the live objects without a retention, page by page, by URL-encoded name.
"""

from __future__ import annotations

import ast
import base64
import dataclasses
import datetime
import ipaddress
import json
import os
import subprocess
import sys
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from dataplane_support import (
    TEST_SECRETS,
    cloud_init_schema,
    cloud_spec,
    free_ports,
    local_spec,
    monitoring_boot,
    needs_cloud_init,
    port_open,
    settings_for,
    stop,
    wait_for,
)

from dataplane.boot import member as boot_member
from dataplane.boot import monitoring as boot_monitoring
from dataplane.boot.aws import AwsBoot
from dataplane.boot.azure import IMDS_API_VERSION, KEY_VAULT_API_VERSION, KEY_VAULT_RESOURCE, AzureBoot
from dataplane.boot.cloud import BootCloud
from dataplane.boot.gcp import GcpBoot
from dataplane.boot.gcs_lock import LOCK_SCRIPT, LOCK_UNIT
from dataplane.model import SECRET_ENV, AzureRepository, ClusterSpec, GcsRepository, S3Repository
from dataplane.node_files import node_files, roles_sql_path
from dataplane.pgbackrest import config_path as pgbackrest_config_path
from dataplane.pgbackrest import repository_options
from dataplane.tls import issue, tls_files

pytestmark = pytest.mark.dataplane

CLIENT_ID = "6f1c2d3e-4a5b-4c6d-8e7f-90a1b2c3d4e5"
PROJECT = "pgp-prod-4711"
TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.test-token"


# --- the fakes: one HTTP server for the metadata services, one HTTPS server for the stores -------------------


@dataclasses.dataclass
class FakeCloud:
    """What the fakes hold and saw. Values by secret name (the last path element of a reference)."""

    values: dict[str, str] = dataclasses.field(default_factory=dict)
    requests: list[tuple[str, str, dict[str, str]]] = dataclasses.field(default_factory=list)  # server, path, headers
    fail_next_token: int = 0  # answer this many token requests with 503 first
    metadata_url: str = ""
    store_url: str = ""
    ca_file: str = ""
    # Cloud Storage: (bucket, name, generation) -> object resource; only `live` ones are listed.
    objects: dict[tuple[str, str, str], dict[str, Any]] = dataclasses.field(default_factory=dict)
    live: set[tuple[str, str, str]] = dataclasses.field(default_factory=set)
    patches: list[tuple[str, str, dict[str, Any]]] = dataclasses.field(default_factory=list)  # name, generation, body
    forbidden: set[str] = dataclasses.field(default_factory=set)  # names whose PATCH is refused (403)
    page_size: int = 2

    def tokens_requested(self) -> int:
        return sum(1 for server, path, _ in self.requests if server == "metadata" and "token" in path)


def _handler(fake: FakeCloud, server: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def reply(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            query = dict(urllib.parse.parse_qsl(url.query))
            fake.requests.append((server, url.path, dict(self.headers)))
            if server == "metadata":
                self.metadata(url.path, query)
            elif url.path.startswith("/storage/v1/"):
                self.storage_list(url.path, query)
            else:
                self.store(url.path, query)

        def do_PATCH(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            query = dict(urllib.parse.parse_qsl(url.query))
            fake.requests.append((server, url.path, dict(self.headers)))
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"null")
            if server != "store" or self.headers.get("Authorization") != f"Bearer {TOKEN}":
                return self.reply(401, {"error": {"code": 401}})
            # PATCH /storage/v1/b/<bucket>/o/<object, URL-encoded: one path segment>?generation=<g>
            parts = url.path.strip("/").split("/")
            if (
                len(parts) != 6
                or parts[:3] != ["storage", "v1", "b"]
                or parts[4] != "o"
                or set(query) != {"generation"}
            ):
                return self.reply(400, {"error": {"code": 400, "message": "malformed"}})
            key = (urllib.parse.unquote(parts[3]), urllib.parse.unquote(parts[5]), query["generation"])
            if self.headers.get("Content-Type") != "application/json" or set(body) != {"retention"}:
                return self.reply(400, {"error": {"code": 400, "message": "not a retention patch"}})
            if key not in fake.objects:
                return self.reply(404, {"error": {"code": 404}})
            if key[1] in fake.forbidden:
                return self.reply(403, {"error": {"code": 403, "message": "storage.objects.setRetention denied"}})
            fake.patches.append((key[1], key[2], body))
            fake.objects[key]["retention"] = body["retention"]
            self.reply(200, fake.objects[key])

        def storage_list(self, path: str, query: dict[str, str]) -> None:
            """GET /storage/v1/b/<bucket>/o: the live objects, page_size a page, only the fields asked for."""
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                return self.reply(401, {"error": {"code": 401}})
            parts = path.strip("/").split("/")
            if (
                len(parts) != 5
                or parts[4] != "o"
                or query.get("fields") != ("items(name,generation,retention),nextPageToken")
            ):
                return self.reply(400, {"error": {"code": 400}})
            bucket = urllib.parse.unquote(parts[3])
            names = sorted(k for k in fake.live if k[0] == bucket)
            start = int(query.get("pageToken", "0"))
            page = names[start : start + fake.page_size]
            items = [
                {f: fake.objects[k][f] for f in ("name", "generation", "retention") if f in fake.objects[k]}
                for k in page
            ]
            body: dict[str, Any] = {"items": items} if items else {}
            if start + fake.page_size < len(names):
                body["nextPageToken"] = str(start + fake.page_size)
            self.reply(200, body)

        def metadata(self, path: str, query: dict[str, str]) -> None:
            if path == "/metadata/identity/oauth2/token":  # Azure IMDS
                wanted = {"api-version": IMDS_API_VERSION, "resource": KEY_VAULT_RESOURCE, "client_id": CLIENT_ID}
                if self.headers.get("Metadata") != "true" or query != wanted:
                    return self.reply(400, {"error": "invalid_request"})
            elif path == "/computeMetadata/v1/instance/service-accounts/default/token":  # GCE metadata server
                if self.headers.get("Metadata-Flavor") != "Google" or query:
                    return self.reply(403, {"error": "Missing Metadata-Flavor:Google header"})
            else:
                return self.reply(404, {"error": "not found"})
            if fake.fail_next_token:
                fake.fail_next_token -= 1
                return self.reply(503, {"error": "temporarily unavailable"})
            self.reply(200, {"access_token": TOKEN, "expires_in": 3599, "token_type": "Bearer"})

        def store(self, path: str, query: dict[str, str]) -> None:
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                return self.reply(401, {"error": {"code": "Unauthorized"}})
            parts = path.strip("/").split("/")
            if parts[:1] == ["secrets"] and len(parts) == 2:  # Key Vault: GET /secrets/<name>?api-version=
                if query != {"api-version": KEY_VAULT_API_VERSION} or parts[1] not in fake.values:
                    return self.reply(400 if parts[1] in fake.values else 404, {"error": {"code": "BadRequest"}})
                version = "0123456789abcdef0123456789abcdef"
                return self.reply(
                    200,
                    {
                        "value": fake.values[parts[1]],
                        "id": f"{fake.store_url}/secrets/{parts[1]}/{version}",
                        "attributes": {"enabled": True},
                    },
                )
            # Secret Manager: GET /v1/projects/<p>/secrets/<s>/versions/latest:access
            if (
                len(parts) == 7
                and parts[:2] == ["v1", "projects"]
                and parts[3] == "secrets"
                and parts[5:] == ["versions", "latest:access"]
                and not query
                and parts[4] in fake.values
            ):
                data = base64.b64encode(fake.values[parts[4]].encode()).decode()
                name = f"projects/{parts[2]}/secrets/{parts[4]}/versions/3"
                return self.reply(200, {"name": name, "payload": {"data": data}})
            self.reply(404, {"error": {"code": 404, "status": "NOT_FOUND"}})

    return Handler


def _tls_pair(tmp: Path) -> tuple[str, str, str]:
    """A throwaway CA and a server certificate for 127.0.0.1: (ca file, cert file, key file)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake cloud CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    files = tmp / "ca.pem", tmp / "server.pem", tmp / "server.key"
    files[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files[2].write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return str(files[0]), str(files[1]), str(files[2])


@pytest.fixture
def fake_cloud(tmp_path) -> Iterator[FakeCloud]:
    import ssl

    fake = FakeCloud()
    ca, cert, key = _tls_pair(tmp_path)
    metadata = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake, "metadata"))
    store = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake, "store"))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    store.socket = context.wrap_socket(store.socket, server_side=True)
    fake.metadata_url = f"http://127.0.0.1:{metadata.server_address[1]}"
    fake.store_url = f"https://127.0.0.1:{store.server_address[1]}"
    fake.ca_file = ca
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in (metadata, store)]
    for t in threads:
        t.start()
    try:
        yield fake
    finally:
        for s in (metadata, store):
            s.shutdown()
            s.server_close()
        for t in threads:
            t.join(5)


@pytest.fixture
def secrets_manager():
    """moto's Secrets Manager on a free loopback port: the AWS path the other clouds are compared with."""
    port = free_ports(1)[0]
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: port_open("127.0.0.1", port), 20, "moto server", proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(proc)


def _child_env(**extra: str) -> dict[str, str]:
    proxies = {"http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"}
    return {**{k: v for k, v in os.environ.items() if k not in proxies}, **extra}


def azure_cloud(fake: FakeCloud) -> AzureBoot:
    """Azure's boot with the endpoints pointed at the fakes, through the fields the components would leave at
    their defaults (the vault's URI is the store, IMDS the metadata fake)."""
    return AzureBoot(
        identity_client_id=CLIENT_ID,
        vault_url=fake.store_url + "/",  # Key Vault's vaultUri ends in a slash
        imds_url=f"{fake.metadata_url}/metadata/identity/oauth2/token",
    )


def gcp_cloud(fake: FakeCloud) -> GcpBoot:
    return GcpBoot(
        metadata_url=f"{fake.metadata_url}/computeMetadata/v1/instance/service-accounts/default/token",
        secret_manager_url=f"{fake.store_url}/v1",
    )


def azure_ref(vault_url: str, name: str) -> str:
    return f"{vault_url.rstrip('/')}/secrets/{name}"


def gcp_ref(name: str) -> str:
    return f"projects/{PROJECT}/secrets/{name}"


# --- the secret fetch, for real ------------------------------------------------------------------------------


def _tls_bundle(spec: ClusterSpec, member) -> dict[str, str]:
    issued = issue(spec)
    return {
        "ca": issued["ca"].cert_pem.decode(),
        "cert": issued[member.name].cert_pem.decode(),
        "key": issued[member.name].key_pem.decode(),
        "client_cert": issued["client"].cert_pem.decode(),
        "client_key": issued["client"].key_pem.decode(),
    }


def _node_result(spec: ClusterSpec, member) -> dict[str, tuple[bytes, str, str]]:
    """Every file the secrets step wrote: path -> (content, mode, owner)."""
    paths = [spec.paths_for(member).secrets_env, *dataclasses.asdict(tls_files(spec, member)).values()]
    result = {}
    for p in map(Path, paths):
        result[str(p)] = (p.read_bytes(), oct(p.stat().st_mode & 0o777), p.owner())
        p.unlink()
    return result


def _run_boot(script: Path, text: str, env: dict[str, str], *steps: str) -> subprocess.CompletedProcess:
    script.write_text(text)
    return subprocess.run([sys.executable, str(script), *steps], capture_output=True, text=True, env=env)


def test_azure_and_gcp_boot_scripts_write_the_files_the_aws_one_does(fake_cloud, secrets_manager, tmp_path):
    """The same secrets, stored in moto's Secrets Manager and in the Key Vault and Secret Manager fakes: each
    cloud's rendered boot script (`dirs secrets`) writes byte-identical files with the same modes and owner."""
    import boto3

    root = tmp_path / "node"
    root.mkdir()
    root.chmod(0o755)
    spec = local_spec(root, "prod", 3)
    member = spec.members[0]
    bundle = json.dumps(_tls_bundle(spec, member))
    values = {name: TEST_SECRETS[var] for name, var in SECRET_ENV.items()} | {f"tls-{member.name}": bundle}

    aws_env = _child_env(AWS_ENDPOINT_URL=secrets_manager, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test")
    sm = boto3.client(
        "secretsmanager",
        region_name="eu-central-1",
        endpoint_url=secrets_manager,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    arns = {name: sm.create_secret(Name=f"pgp/{name}", SecretString=value)["ARN"] for name, value in values.items()}
    fake_cloud.values.update(values)
    fake_cloud.fail_next_token = 1  # the first token request fails: the client retries it
    azure, gcp = azure_cloud(fake_cloud), gcp_cloud(fake_cloud)
    refs = {
        "aws": (AwsBoot(region="eu-central-1"), arns),
        "azure": (azure, {name: azure_ref(azure.vault_url, name) for name in values}),
        "gcp": (gcp, {name: gcp_ref(name) for name in values}),
    }
    store_env = _child_env(SSL_CERT_FILE=fake_cloud.ca_file)
    written = {}
    for name, (cloud, by_name) in refs.items():
        boot = boot_member.NodeBoot(
            cloud=cloud,
            secret_refs={n: by_name[n] for n in SECRET_ENV},
            tls_secret_refs={member.name: by_name[f"tls-{member.name}"]},
            data_mount=str(root / member.name),
        )
        text = boot_member.render_boot_script(spec, member, boot)
        result = _run_boot(
            tmp_path / f"pgp-boot-{name}", text, aws_env if name == "aws" else store_env, "dirs", "secrets"
        )
        assert result.returncode == 0, f"{name}: {result.stdout}{result.stderr}"
        written[name] = _node_result(spec, member)
    assert written["azure"] == written["aws"] == written["gcp"]
    env_file = written["aws"][spec.paths_for(member).secrets_env]
    assert env_file[1:] == ("0o600", "postgres")
    assert env_file[0].decode() == "".join(f"{var}='{TEST_SECRETS[var]}'\n" for var in sorted(TEST_SECRETS))
    # One token per run (Azure's first one after a 503), and every store request carried it.
    assert fake_cloud.tokens_requested() == 3 and fake_cloud.fail_next_token == 0
    store_requests = [h for server, _, h in fake_cloud.requests if server == "store"]
    assert len(store_requests) == 2 * len(values) and all(
        h["Authorization"] == f"Bearer {TOKEN}" for h in store_requests
    )
    assert not any("Authorization" in h for server, _, h in fake_cloud.requests if server == "metadata")


@pytest.mark.parametrize("cloud_name", ["azure", "gcp"])
def test_a_bad_value_or_a_foreign_reference_stops_the_boot(fake_cloud, cloud_name, tmp_path):
    """A value the environment file cannot carry stops the boot as on AWS; a reference outside the cloud's store
    (another vault, not a secret's resource name) stops it before the token is even requested."""
    root = tmp_path / "node"
    root.mkdir()
    root.chmod(0o755)
    spec = local_spec(root, "dev", 1, hosts=["127.0.0.1"])
    member = spec.members[0]
    cloud: BootCloud = azure_cloud(fake_cloud) if cloud_name == "azure" else gcp_cloud(fake_cloud)

    def ref(name: str) -> str:
        return azure_ref(fake_cloud.store_url, name) if cloud_name == "azure" else gcp_ref(name)

    names = [*SECRET_ENV, f"tls-{member.name}"]
    fake_cloud.values.update({n: TEST_SECRETS.get(SECRET_ENV.get(n, ""), "{}") for n in names})
    fake_cloud.values["superuser"] = "it's"
    env = _child_env(SSL_CERT_FILE=fake_cloud.ca_file)

    def boot(refs: dict[str, str]) -> boot_member.NodeBoot:
        return boot_member.NodeBoot(
            cloud=cloud,
            secret_refs={n: refs[n] for n in SECRET_ENV},
            tls_secret_refs={member.name: refs[f"tls-{member.name}"]},
            data_mount=str(root / member.name),
        )

    script = tmp_path / "pgp-boot"
    bad = _run_boot(
        script, boot_member.render_boot_script(spec, member, boot({n: ref(n) for n in names})), env, "dirs", "secrets"
    )
    assert bad.returncode != 0 and "PATRONI_SUPERUSER_PASSWORD" in bad.stderr and "it's" not in bad.stderr
    assert not Path(spec.paths_for(member).secrets_env).exists()
    # The replication password's variable sorts first, so its reference is the first one the script reads.
    before = fake_cloud.tokens_requested()
    foreign = {n: ref(n) for n in names} | {
        "replication": "https://other-vault.vault.azure.net/secrets/replication"
        if cloud_name == "azure"
        else "projects/x/secrets/replication/versions/1"
    }
    refused = _run_boot(script, boot_member.render_boot_script(spec, member, boot(foreign)), env, "secrets")
    assert refused.returncode != 0 and foreign["replication"] in refused.stderr
    assert fake_cloud.tokens_requested() == before


@pytest.mark.parametrize("cloud_name", ["azure", "gcp"])
def test_alertmanager_configuration_is_filled_from_the_clouds_store(fake_cloud, cloud_name, tmp_path):
    """The monitoring node's fill script embeds the same client: run for real, it writes the URLs it fetched."""
    from dataplane import alertmanager

    spec = cloud_spec("prod")
    mon = settings_for("prod").monitoring
    cloud: BootCloud = azure_cloud(fake_cloud) if cloud_name == "azure" else gcp_cloud(fake_cloud)
    urls = {
        r.name: f"https://hooks.example.com/{r.name}/T0K3N-{i}" for i, r in enumerate(mon.receivers) if r.webhook_url
    }
    fake_cloud.values.update({f"webhook-{n}": url for n, url in urls.items()})
    refs = {
        n: azure_ref(fake_cloud.store_url, f"webhook-{n}") if cloud_name == "azure" else gcp_ref(f"webhook-{n}")
        for n in urls
    }
    doc = yaml.safe_load(
        boot_monitoring.render_monitoring_user_data(
            spec, mon.receivers, monitoring_boot("prod", cloud=cloud, webhook_secret_refs=refs)
        )
    )
    written = {f["path"]: f["content"] for f in doc["write_files"]}
    template = tmp_path / "alertmanager.yml.tmpl"
    template.write_text(written[boot_monitoring.ALERTMANAGER_TEMPLATE])
    config = tmp_path / "alertmanager.yml"
    fill = json.loads(written[boot_monitoring.ALERTMANAGER_WEBHOOKS]) | {
        "template": str(template),
        "config": str(config),
    }
    boot_json = tmp_path / "webhooks.json"
    boot_json.write_text(json.dumps(fill))
    script = tmp_path / "pgp-alertmanager-config"
    script.write_text(written[boot_monitoring.ALERTMANAGER_FILL])
    env = _child_env(SSL_CERT_FILE=fake_cloud.ca_file)
    result = subprocess.run([sys.executable, str(script), str(boot_json)], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    receivers = [
        type("R", (), {"name": r.name, "email": r.email, "webhook_url": urls.get(r.name)})() for r in mon.receivers
    ]
    filled = yaml.safe_load(config.read_text())
    assert filled == alertmanager.alertmanager_config(spec, receivers, mon.smtp_smarthost, mon.smtp_from)


# --- one topology on three clouds ------------------------------------------------------------------------------

VAULT_URL = "https://pgp-prod-kv.vault.azure.net/"


def _specs() -> dict[str, tuple[ClusterSpec, BootCloud]]:
    """The prod topology with each cloud's repository and boot, the repository as its components describe it."""
    aws = cloud_spec("prod")
    name = aws.scope
    azure_repo = AzureRepository(path=f"/{name}", account="pgpprodbackups", container="pgbackrest")
    gcs_repo = GcsRepository(path=f"/{name}", bucket=f"{name}-backups-{PROJECT}")
    return {
        "aws": (aws, AwsBoot(region=settings_for("prod").region, bucket=aws.repositories[0].bucket)),
        "azure": (
            dataclasses.replace(aws, repositories=(azure_repo,)),
            AzureBoot(
                identity_client_id=CLIENT_ID, vault_url=VAULT_URL, account="pgpprodbackups", container="pgbackrest"
            ),
        ),
        "gcp": (
            dataclasses.replace(aws, repositories=(gcs_repo,)),
            GcpBoot(bucket=gcs_repo.bucket, lock_mode="COMPLIANCE", lock_days=14),
        ),
    }


def _refs(cloud: str, names: list[str]) -> dict[str, str]:
    if cloud == "aws":
        return {n: f"arn:aws:secretsmanager:eu-central-1:123456789012:secret:pgp-prod/{n}-AbCdEf" for n in names}
    if cloud == "azure":
        return {n: azure_ref(VAULT_URL, f"pgp-prod-{n}") for n in names}
    return {n: gcp_ref(f"pgp-prod-{n}") for n in names}


def _node_boot(cloud_name: str, spec: ClusterSpec, cloud: BootCloud) -> boot_member.NodeBoot:
    refs = _refs(cloud_name, [*SECRET_ENV, *(f"tls-{m.name}" for m in spec.members)])
    return boot_member.NodeBoot(
        cloud=cloud,
        secret_refs={n: refs[n] for n in SECRET_ENV},
        tls_secret_refs={m.name: refs[f"tls-{m.name}"] for m in spec.members},
    )


def _repository_lines(spec: ClusterSpec) -> set[str]:
    return {f"{k}={v}" for k, v in repository_options(1, spec.repositories[0])}


def test_node_files_are_identical_across_the_clouds_but_the_repository_lines():
    specs = _specs()
    for member in specs["aws"][0].members:
        files = {
            name: node_files(dataclasses.replace(spec, repositories=cloud.repositories(spec.repositories)), member)
            for name, (spec, cloud) in specs.items()
        }
        assert files["aws"].keys() == files["azure"].keys() == files["gcp"].keys()
        conf = pgbackrest_config_path(specs["aws"][0], member)
        for path in files["aws"]:
            if path != conf:
                assert files["aws"][path] == files["azure"][path] == files["gcp"][path], path
        # pgbackrest.conf: the same lines in the same places, except exactly the repository's own.
        lines = {name: f[conf].splitlines() for name, f in files.items()}
        kept = {name: [line for line in lines[name] if line not in _repository_lines(specs[name][0])] for name in specs}
        assert kept["aws"] == kept["azure"] == kept["gcp"]
        for name, (spec, _) in specs.items():
            assert _repository_lines(spec) <= set(lines[name]), name
        assert "repo1-s3-kms-key-id=" in files["aws"][conf]  # AWS's deploy-time completion reached the file
        assert "repo1-azure-key-type=auto" in files["azure"][conf] and "repo1-gcs-key-type=auto" in files["gcp"][conf]


def _without_cloud_part(spec: ClusterSpec, boot: boot_member.NodeBoot, member) -> dict[str, Any]:
    """The member's user data with every part its cloud decides taken out (and checked to be where the seam puts
    it): the header's reference noun, mirrors, the client's packages, agent commands and files, the repository
    lines, the secrets client and its configuration, and the references themselves, replaced by secret names."""
    cloud = boot.cloud
    first, header, body = boot_member.render_node_user_data(spec, member, boot).split("\n", 2)
    assert (first, header) == (
        "#cloud-config",
        f"# pg-platform member {member.name} of {spec.scope}: rendered by dataplane; secrets arrive as "
        f"{cloud.secret_ref_noun}s and are fetched at boot",
    )
    doc = yaml.safe_load(body)
    primary, security = cloud.debian_mirrors()
    assert doc["apt"].pop("primary") == [{"arches": ["default"], "uri": primary}]
    assert doc["apt"].pop("security") == [{"arches": ["default"], "uri": security}]
    extra = cloud.packages()
    assert [p for p in doc["packages"] if p in extra] == extra
    doc["packages"] = [p for p in doc["packages"] if p not in extra]
    agents = cloud.agent_commands("member")
    run = doc["runcmd"]
    start = len(run) - 1 - len(agents)  # the agents come right before the boot script
    assert run[start:-1] == agents and run[-1] == [boot_member.BOOT_SCRIPT]
    doc["runcmd"] = run[:start] + run[-1:]
    agent_paths = {f.path for f in cloud.agent_files("member", boot.data_mount)}
    completed = boot_member.with_boot_repositories(spec, boot)
    repo_lines = _repository_lines(completed)
    by_ref = {ref: n for n, ref in boot.secret_refs.items()} | {
        ref: f"tls-{m}" for m, ref in boot.tls_secret_refs.items()
    }
    files = []
    # Where the cloud's configure step writes the roles SQL (AWS), the user data leaves it out.
    assert (roles_sql_path(spec, member) in {e["path"] for e in doc["write_files"]}) != cloud.configure_writes_roles
    for entry in doc["write_files"]:
        if entry["path"] in agent_paths or entry["path"] == roles_sql_path(spec, member):
            continue
        if entry["path"] == pgbackrest_config_path(spec, member):
            entry["content"] = "\n".join(line for line in entry["content"].splitlines() if line not in repo_lines)
        if entry["path"] == boot_member.BOOT_SCRIPT:
            entry["content"] = _without_cloud_client(entry["content"], cloud, by_ref)
        files.append(entry)
    doc["write_files"] = files
    return doc


def _without_cloud_client(script: str, cloud: BootCloud, by_ref: dict[str, str]) -> str:
    client = cloud.secret_client("CONFIG")
    assert script.count(client) == 1
    script = script.replace(client, "<client>\n")
    for expr in ("arn", 'CONFIG["tls_arn"]', 'CONFIG["files_arn"]'):
        assert script.count(cloud.secret_value(expr)) == 1
        script = script.replace(cloud.secret_value(expr), "<value>")
    head, config_line, rest = script.partition("\nCONFIG_JSON = ")
    line, _, rest = rest.partition("\n")
    config = json.loads(ast.literal_eval(line))  # the repr of a str, as render_boot_script writes it
    for key, value in cloud.config().items():
        assert config.pop(key) == value
    config["env_arns"] = {var: by_ref[ref] for var, ref in config["env_arns"].items()}
    config["tls_arn"] = by_ref[config["tls_arn"]]
    return head + config_line + json.dumps(config, sort_keys=True) + "\n" + rest


def test_user_data_differs_across_the_clouds_only_in_the_cloud_part():
    specs = _specs()
    for member in specs["aws"][0].members:
        docs = {
            name: _without_cloud_part(spec, _node_boot(name, spec, cloud), member)
            for name, (spec, cloud) in specs.items()
        }
        assert docs["aws"] == docs["azure"] == docs["gcp"]
    # ...and that part does differ: what each cloud decides is its own.
    aws, azure, gcp = (c for _, c in specs.values())
    assert aws.debian_mirrors() != azure.debian_mirrors() and azure.debian_mirrors() == gcp.debian_mirrors()
    assert aws.configure_writes_roles and not azure.configure_writes_roles and not gcp.configure_writes_roles
    assert aws.packages() == ["python3-boto3"] and azure.packages() == gcp.packages() == []
    assert len({c.secret_client("CONFIG") for c in (aws, azure, gcp)}) == 3
    assert azure.agent_commands("member") == [["systemctl", "enable", "--now", "walinuxagent"]]
    assert gcp.agent_commands("monitoring") == [["systemctl", "enable", "--now", "google-guest-agent"]]
    # GCP's agent part of a member: the guest agent and the backup lock timer, its script and units.
    assert gcp.agent_commands("member")[-1] == ["systemctl", "enable", "--now", f"{LOCK_UNIT}.timer"]
    assert {f.path for f in gcp.agent_files("member", "/var/lib/postgresql")} == {
        LOCK_SCRIPT,
        f"/etc/systemd/system/{LOCK_UNIT}.service",
        f"/etc/systemd/system/{LOCK_UNIT}.timer",
    }
    assert gcp.agent_files("monitoring", "/var/lib/prometheus") == []


@needs_cloud_init
@pytest.mark.parametrize("cloud_name", ["azure", "gcp"])
def test_azure_and_gcp_user_data_is_valid_cloud_config(cloud_name, tmp_path):
    spec, cloud = _specs()[cloud_name]
    for member in spec.members:
        text = boot_member.render_node_user_data(spec, member, _node_boot(cloud_name, spec, cloud))
        result = cloud_init_schema(tmp_path, text)
        assert result.returncode == 0, result.stdout + result.stderr
        script = next(f for f in yaml.safe_load(text)["write_files"] if f["path"] == boot_member.BOOT_SCRIPT)
        compile(script["content"], boot_member.BOOT_SCRIPT, "exec")
        for entry in yaml.safe_load(text)["write_files"]:
            if entry["path"] == LOCK_SCRIPT:
                compile(entry["content"], LOCK_SCRIPT, "exec")
    mon = settings_for("prod").monitoring
    hooks = _refs(cloud_name, [f"webhook-{r.name}" for r in mon.receivers if r.webhook_url])
    text = boot_monitoring.render_monitoring_user_data(
        spec,
        mon.receivers,
        monitoring_boot(
            "prod", cloud=cloud, webhook_secret_refs={n.removeprefix("webhook-"): ref for n, ref in hooks.items()}
        ),
    )
    result = cloud_init_schema(tmp_path, text)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"secret {cloud.secret_ref_noun}s" in text.splitlines()[1]


def test_each_cloud_refuses_a_repository_it_did_not_build():
    specs = _specs()
    aws_repo = specs["aws"][0].repositories
    azure_spec, azure = specs["azure"]
    gcp_spec, gcp = specs["gcp"]
    assert azure.repositories(azure_spec.repositories) == azure_spec.repositories  # nothing to complete
    assert gcp.repositories(gcp_spec.repositories) == gcp_spec.repositories
    with pytest.raises(ValueError, match="account"):
        dataclasses.replace(azure, account="other").repositories(azure_spec.repositories)
    with pytest.raises(ValueError, match="container"):
        dataclasses.replace(azure, container="other").repositories(azure_spec.repositories)
    with pytest.raises(ValueError, match="bucket"):
        dataclasses.replace(gcp, bucket="other").repositories(gcp_spec.repositories)
    # A repository read with another cloud's identity (key type auto) cannot work on this one.
    for cloud, foreign in (
        (azure, aws_repo),
        (azure, gcp_spec.repositories),
        (gcp, aws_repo),
        (gcp, azure_spec.repositories),
    ):
        with pytest.raises(ValueError, match="key_type auto"):
            cloud.repositories(foreign)
    shared = (dataclasses.replace(aws_repo[0], key_type="shared"),)
    assert isinstance(shared[0], S3Repository) and azure.repositories(shared) == shared
    # Bearer tokens only go to an https store; a managed identity's client id is a GUID.
    with pytest.raises(ValueError, match="https"):
        AzureBoot(identity_client_id=CLIENT_ID, vault_url="http://pgp-prod-kv.vault.azure.net")
    with pytest.raises(ValueError):
        AzureBoot(identity_client_id="pgp-prod-identity", vault_url=VAULT_URL)
    with pytest.raises(ValueError, match="https"):
        GcpBoot(secret_manager_url="http://secretmanager.googleapis.com/v1")


# --- GCP's backup lock, for real -------------------------------------------------------------------------------

LOCK_BUCKET = f"pgp-prod-backups-{PROJECT}"


def _stored(fake: FakeCloud, name: str, generation: str, *, live: bool = True, retention: dict | None = None) -> None:
    key = (LOCK_BUCKET, name, generation)
    fake.objects[key] = {"name": name, "generation": generation, "bucket": LOCK_BUCKET}
    if retention:
        fake.objects[key]["retention"] = retention
    if live:
        fake.live.add(key)


def _run_lock(fake: FakeCloud, tmp_path: Path, mode: str = "COMPLIANCE", days: int = 14):
    cloud = GcpBoot(
        bucket=LOCK_BUCKET,
        lock_mode=mode,
        lock_days=days,
        metadata_url=f"{fake.metadata_url}/computeMetadata/v1/instance/service-accounts/default/token",
        storage_url=f"{fake.store_url}/storage/v1",
    )
    (script,) = [f for f in cloud.agent_files("member", "/var/lib/postgresql") if f.path == LOCK_SCRIPT]
    path = tmp_path / "pgp-gcs-lock"
    path.write_text(script.content)
    before = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    result = subprocess.run(
        [sys.executable, str(path)], capture_output=True, text=True, env=_child_env(SSL_CERT_FILE=fake.ca_file)
    )
    after = datetime.datetime.now(datetime.UTC)
    return result, before, after


def test_the_gcs_lock_locks_exactly_the_live_objects_without_a_retention(fake_cloud, tmp_path):
    earlier = {"mode": "Locked", "retainUntilTime": "2030-01-01T00:00:00Z"}
    unlocked = [
        "pgp-prod/backup/db/backup.info",
        "pgp-prod/backup/db/backup.info.copy",
        "pgp-prod/backup/db/20260101-000000F/backup.manifest",
        "pgp-prod/archive/db/17-1/000000010000000000000001-abc.gz",
        "pgp-prod/archive/db/name with space+plus.txt",
    ]
    for i, name in enumerate(unlocked):
        _stored(fake_cloud, name, str(1700000000000000 + i))
    _stored(fake_cloud, "pgp-prod/backup/db/backup.info", "1600000000000000", live=False)  # noncurrent
    _stored(fake_cloud, "pgp-prod/archive/db/archive.info", "1650000000000000", retention=earlier)  # locked before
    result, before, after = _run_lock(fake_cloud, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"locked {len(unlocked)} object(s) of {LOCK_BUCKET}"
    # Exactly the live objects without a retention, each by its generation; slashes reached the API encoded.
    assert sorted((n, g) for n, g, _ in fake_cloud.patches) == sorted(
        (n, str(1700000000000000 + i)) for i, n in enumerate(unlocked)
    )
    for _, _, body in fake_cloud.patches:
        retention = body["retention"]
        assert retention["mode"] == "Locked"
        until = datetime.datetime.strptime(retention["retainUntilTime"], "%Y-%m-%dT%H:%M:%SZ").replace(
            tzinfo=datetime.UTC
        )
        assert before + datetime.timedelta(days=14) <= until <= after + datetime.timedelta(days=14)
    assert fake_cloud.objects[(LOCK_BUCKET, "pgp-prod/archive/db/archive.info", "1650000000000000")]["retention"] == (
        earlier
    )
    listed = [p for s, p, _ in fake_cloud.requests if s == "store" and p.endswith("/o")]
    assert len(listed) == 3  # 6 live objects, 2 a page: every page followed
    assert fake_cloud.tokens_requested() == 1
    # Nothing left to lock: the next run patches nothing.
    fake_cloud.patches.clear()
    result, _, _ = _run_lock(fake_cloud, tmp_path)
    assert result.returncode == 0 and fake_cloud.patches == [], result.stderr
    assert result.stdout.strip() == f"locked 0 object(s) of {LOCK_BUCKET}"


def test_the_gcs_lock_governance_mode_and_a_refused_object(fake_cloud, tmp_path):
    for i, name in enumerate(["a/refused", "b/kept", "c/kept"]):
        _stored(fake_cloud, name, str(10 + i))
    fake_cloud.forbidden.add("a/refused")
    result, _, _ = _run_lock(fake_cloud, tmp_path, mode="GOVERNANCE", days=2)
    # One object refused: the others are still locked, and the run fails so systemd shows it.
    assert result.returncode != 0 and "1 object(s) left unlocked" in result.stderr, result.stderr
    assert "HTTP 403" in result.stderr and "denied" not in result.stderr  # the status, never a body
    assert sorted(n for n, _, _ in fake_cloud.patches) == ["b/kept", "c/kept"]
    assert {b["retention"]["mode"] for _, _, b in fake_cloud.patches} == {"Unlocked"}
