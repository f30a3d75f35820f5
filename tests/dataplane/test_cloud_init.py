"""cloud-init user data: schema-valid (cloud-init's own validator), small enough for EC2, secret-free, and
carrying exactly the files the sandbox runs; the systemd units pass `systemd-analyze verify`."""
from __future__ import annotations

import gzip
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from dataplane.boot import apt as boot_apt
from dataplane.boot import aws as boot_aws
from dataplane.boot import data_volume as boot_data_volume
from dataplane.boot import member as boot_member
from dataplane.boot import monitoring as boot_monitoring
from dataplane.boot import units as boot_units
from dataplane.model import SECRET_ENV
from dataplane.node_files import node_files
from dataplane_support import cloud_spec, settings_for
from stacks.clouds.aws import EC2_USER_DATA_LIMIT

pytestmark = pytest.mark.dataplane

HOOK_ARN = "arn:aws:secretsmanager:eu-central-1:123456789012:secret:pgp/webhook-AbCdEf"


def boot_for(spec) -> boot_member.NodeBoot:
    return boot_member.NodeBoot(
        cloud=boot_aws.AwsBoot(region="eu-central-1"),
        secret_refs={n: f"arn:aws:secretsmanager:eu-central-1:123456789012:secret:{spec.scope}/{n}-AbCdEf"
                     for n in SECRET_ENV},
        tls_secret_refs={m.name: f"arn:aws:secretsmanager:eu-central-1:123456789012:secret:{spec.scope}/tls-{m.name}"
                         for m in spec.members})


def monitoring_boot(stack: str, **changes) -> boot_monitoring.MonitoringBoot:
    mon = settings_for(stack).monitoring
    hooks = {r.name: f"{HOOK_ARN}-{r.name}" for r in mon.receivers if r.webhook_url}
    return boot_monitoring.MonitoringBoot(**{"cloud": boot_aws.AwsBoot(region="eu-central-1"), "smtp_smarthost": mon.smtp_smarthost,
                                        "smtp_from": mon.smtp_from, "ca_cert_pem": "-----BEGIN CERTIFICATE-----\n",
                                        "webhook_secret_refs": hooks, **changes})


def _cloud_init_schema(tmp_path: Path, text: str) -> subprocess.CompletedProcess:
    path = tmp_path / "user-data.yml"
    path.write_text(text)
    return subprocess.run(["cloud-init", "schema", "--config-file", str(path)], capture_output=True, text=True)


needs_cloud_init = pytest.mark.skipif(shutil.which("cloud-init") is None,
                                      reason="cloud-init (Debian package) provides the schema validator")


@needs_cloud_init
@pytest.mark.parametrize("stack", ["prod", "dev"])
def test_node_user_data_is_valid_cloud_config(stack, tmp_path):
    spec = cloud_spec(stack)
    for member in spec.members:
        text = boot_member.render_node_user_data(spec, member, boot_for(spec))
        result = _cloud_init_schema(tmp_path, text)
        assert result.returncode == 0, result.stdout + result.stderr
        assert len(gzip.compress(text.encode(), mtime=0)) < EC2_USER_DATA_LIMIT


@needs_cloud_init
@pytest.mark.parametrize("stack", ["prod", "dev"])
def test_monitoring_user_data_is_valid_cloud_config(stack, tmp_path):
    spec = cloud_spec(stack)
    mon = settings_for(stack).monitoring
    text = boot_monitoring.render_monitoring_user_data(spec, mon.receivers, monitoring_boot(stack))
    result = _cloud_init_schema(tmp_path, text)
    assert result.returncode == 0, result.stdout + result.stderr
    doc = yaml.safe_load(text)
    paths = {f["path"] for f in doc["write_files"]}
    assert {"/etc/prometheus/prometheus.yml", boot_monitoring.ALERTMANAGER_TEMPLATE, boot_monitoring.ALERTMANAGER_FILL,
            "/etc/prometheus/pg-platform-ca.crt"} <= paths
    # Written at boot, with the webhook URLs: never in the user data.
    assert boot_monitoring.ALERTMANAGER_CONFIG not in paths


def test_user_data_carries_arns_never_secret_values():
    spec = cloud_spec("prod")
    boot = boot_for(spec)
    member = spec.members[1]
    text = boot_member.render_node_user_data(spec, member, boot)
    for arn in boot.secret_refs.values():
        assert arn in text
    assert boot.tls_secret_refs[member.name] in text
    assert not any(arn in text for name, arn in boot.tls_secret_refs.items() if name != member.name)
    assert "PRIVATE KEY" not in text and "BEGIN CERTIFICATE" not in text
    # Every place a secret variable is assigned, the value is a ${...} placeholder filled at boot.
    for var in SECRET_ENV.values():
        for match in re.finditer(rf"\b{var}=(\S*)", text):
            assert match.group(1).startswith("${"), match.group(0)
    # The boot script only ever writes values it fetched; its configuration maps variables to ARNs.
    script = next(f["content"] for f in yaml.safe_load(text)["write_files"] if f["path"] == boot_member.BOOT_SCRIPT)
    config = json.loads(re.search(r"^CONFIG_JSON = (.*)$", script, re.M).group(1).strip("'"))
    assert set(config["env_arns"]) >= set(SECRET_ENV.values())
    assert set(config["env_arns"].values()) <= set(boot.secret_refs.values())
    compile(script, boot_member.BOOT_SCRIPT, "exec")


def test_missing_secret_arn_is_an_error():
    spec = cloud_spec("dev")
    boot = boot_for(spec)
    partial = boot_member.NodeBoot(cloud=boot.cloud, tls_secret_refs=boot.tls_secret_refs,
                                  secret_refs={k: v for k, v in boot.secret_refs.items() if k != "backup-cipher"})
    with pytest.raises(ValueError, match="backup-cipher"):
        boot_member.render_node_user_data(spec, spec.members[0], partial)
    with pytest.raises(ValueError, match="TLS"):
        boot_member.render_node_user_data(spec, spec.members[0], boot_member.NodeBoot(
            cloud=boot.cloud, secret_refs=boot.secret_refs, tls_secret_refs={}))


def test_user_data_writes_exactly_the_node_files():
    spec = cloud_spec("prod")
    member = spec.members[0]
    doc = yaml.safe_load(boot_member.render_node_user_data(spec, member, boot_for(spec)))
    written = {f["path"]: f for f in doc["write_files"]}
    for path, content in node_files(spec, member).items():
        assert written[path]["content"] == content
        assert written[path]["owner"] == "postgres:postgres" and written[path]["defer"] is True
    assert not written["/usr/sbin/policy-rc.d"].get("defer")       # before packages, or services start
    assert f"postgresql-{spec.topology.postgres_major}" in doc["packages"]
    assert any("patroni[etcd3,psycopg3]==" in " ".join(cmd) for cmd in doc["runcmd"])
    assert doc["runcmd"][-1] == [boot_member.BOOT_SCRIPT]


def test_systemd_units_verify(tmp_path):
    spec = cloud_spec("prod")
    member = spec.members[0]
    units = boot_units.system_units(spec, member)
    assert "pgp-pgbackrest-server.service" in units     # members on separate hosts back up from standbys
    for name, text in units.items():
        (tmp_path / name).write_text(text)
    result = subprocess.run(["systemd-analyze", "verify", "--man=no", *sorted(units)], cwd=tmp_path,
                            capture_output=True, text=True)
    problems = [l for l in (result.stdout + result.stderr).splitlines()
                if l.strip() and "network-online.target" not in l]
    assert result.returncode == 0 and not problems, "\n".join(problems)


def test_boot_kms_key_reaches_pgbackrest_and_bucket_is_checked():
    import dataclasses
    spec = cloud_spec("prod")
    spec = dataclasses.replace(spec, repositories=tuple(dataclasses.replace(r, kms_key_id=None)
                                                        for r in spec.repositories))
    key = "arn:aws:kms:eu-central-1:123456789012:key/abcd"
    boot = dataclasses.replace(boot_for(spec), cloud=boot_aws.AwsBoot(region="eu-central-1", kms_key_id=key,
                                                                 bucket=spec.repositories[0].bucket))
    doc = yaml.safe_load(boot_member.render_node_user_data(spec, spec.members[0], boot))
    conf = next(f["content"] for f in doc["write_files"] if f["path"].endswith("pgbackrest.conf"))
    assert f"repo1-s3-kms-key-id={key}" in conf
    with pytest.raises(ValueError, match="bucket"):
        boot_member.render_node_user_data(spec, spec.members[0], dataclasses.replace(boot, cloud=dataclasses.replace(boot.cloud, bucket="other")))


@pytest.fixture
def secrets_manager(tmp_path):
    """moto's Secrets Manager on a free loopback port, standing in for the region's endpoint."""
    import sys
    from dataplane_support import free_ports, port_open, stop, wait_for
    port = free_ports(1)[0]
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: port_open("127.0.0.1", port), 20, "moto server", proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(proc)


def test_boot_script_fetches_secrets_and_tls_into_private_files(secrets_manager, tmp_path):
    import dataclasses
    import os
    import sys
    import boto3
    from dataplane.tls import issue, tls_files
    from dataplane_support import TEST_SECRETS, as_postgres, local_spec

    root = tmp_path / "node"
    root.mkdir()
    root.chmod(0o755)
    spec = local_spec(root, "prod", 3)
    member = spec.members[0]
    aws_env = {**os.environ, "AWS_ENDPOINT_URL": secrets_manager, "AWS_ACCESS_KEY_ID": "test",
               "AWS_SECRET_ACCESS_KEY": "test"}
    client = boto3.client("secretsmanager", region_name="eu-central-1", endpoint_url=secrets_manager,
                          aws_access_key_id="test", aws_secret_access_key="test")
    arns = {name: client.create_secret(Name=f"pgp/{name}", SecretString=TEST_SECRETS[var])["ARN"]
            for name, var in SECRET_ENV.items()}
    issued = issue(spec)
    files = tls_files(spec, member)
    bundle = {"ca": issued["ca"].cert_pem.decode(), "cert": issued[member.name].cert_pem.decode(),
              "key": issued[member.name].key_pem.decode(), "client_cert": issued["client"].cert_pem.decode(),
              "client_key": issued["client"].key_pem.decode()}
    tls_arn = client.create_secret(Name=f"pgp/tls-{member.name}", SecretString=json.dumps(bundle))["ARN"]
    boot = boot_member.NodeBoot(cloud=boot_aws.AwsBoot(region="eu-central-1"), secret_refs=arns, tls_secret_refs={member.name: tls_arn},
                               data_mount=str(root / member.name))
    script = tmp_path / "pgp-boot"
    script.write_text(boot_member.render_boot_script(spec, member, boot))
    result = subprocess.run([sys.executable, str(script), "dirs", "secrets"], capture_output=True, text=True,
                            env=aws_env)
    assert result.returncode == 0, result.stdout + result.stderr
    env_file = Path(spec.paths_for(member).secrets_env)
    assert oct(env_file.stat().st_mode & 0o777) == "0o600" and env_file.owner() == "postgres"
    # The file means the same to sh (cron) as to systemd: source it as the service user and compare.
    shown = subprocess.run(as_postgres() + ["sh", "-c", f"set -a; . {env_file}; env"], capture_output=True,
                           text=True, env={"PATH": "/usr/bin:/bin"}).stdout
    for var, value in TEST_SECRETS.items():
        assert f"{var}={value}\n" in shown
    for field, path in dataclasses.asdict(files).items():
        assert Path(path).read_text() == bundle[field]
        assert oct(Path(path).stat().st_mode & 0o777) == "0o600" and Path(path).owner() == "postgres"
    # A value the environment file cannot carry stops the boot instead of being mangled.
    client.put_secret_value(SecretId=arns["superuser"], SecretString="it's")
    bad = subprocess.run([sys.executable, str(script), "secrets"], capture_output=True, text=True, env=aws_env)
    assert bad.returncode != 0 and "PATRONI_SUPERUSER_PASSWORD" in bad.stderr
    assert "it's" not in env_file.read_text()


def test_node_user_data_carries_the_post_provision_commands_and_disk_metrics():
    """The SSM steps call these paths; the CloudWatch alarm names exactly the dimensions the agent publishes."""
    from dataplane import operations

    spec = cloud_spec("prod")
    member = spec.members[0]
    doc = yaml.safe_load(boot_member.render_node_user_data(spec, member, boot_for(spec)))
    written = {f["path"]: f for f in doc["write_files"]}
    for path in (operations.BACKUP_CHECK_COMMAND, operations.APPLY_ROLES_COMMAND):
        assert written[path]["permissions"] == "0700" and written[path]["owner"] == "root:root"
        syntax = subprocess.run(["bash", "-n"], input=written[path]["content"], capture_output=True, text=True)
        assert syntax.returncode == 0, syntax.stderr
    agent = json.loads(written[boot_aws.CLOUDWATCH_AGENT_CONFIG]["content"])["metrics"]
    assert agent["namespace"] == boot_aws.CLOUDWATCH_NAMESPACE
    assert agent["aggregation_dimensions"] == [["InstanceId", "path"]]
    assert agent["metrics_collected"]["disk"]["resources"] == [boot_member.MEMBER_DATA_MOUNT]
    runcmd = [" ".join(c) for c in doc["runcmd"]]
    agents = boot_aws.aws_agent_commands("eu-central-1")
    assert runcmd.index(" ".join(agents[-1])) < runcmd.index(boot_member.BOOT_SCRIPT)
    assert "systemctl enable --now amazon-ssm-agent" in runcmd


def test_every_package_source_is_https_and_the_pgdg_key_is_pinned(tmp_path):
    """Nodes may leave the VPC on 443 only: no http mirror, no hkp keyserver. PGDG's key is fetched over HTTPS
    before apt is configured and both PGDG sources trust only that keyring; the pin is PGDG's own key."""
    spec = cloud_spec("prod")
    text = boot_member.render_node_user_data(spec, spec.members[0], boot_for(spec))
    doc = yaml.safe_load(text)
    apt = doc["apt"]
    sources = [s["source"] for s in apt["sources"].values()]
    uris = [apt["primary"][0]["uri"], apt["security"][0]["uri"], *sources]
    uris += [c[-1] for c in doc["runcmd"] if c[0] == "curl"]
    (fetch,) = doc["bootcmd"]
    uris.append(fetch[-3])
    assert all("https://" in u and "http://" not in u for u in uris), uris
    assert not any({"key", "keyid", "keyserver"} & set(s) for s in apt["sources"].values())
    assert all(f"[signed-by={boot_apt.PGDG_KEYRING}]" in s for s in sources)
    assert fetch[-3:] == [boot_apt.PGDG_KEY_URL, boot_apt.PGDG_KEY_FINGERPRINT, boot_apt.PGDG_KEYRING]
    key_material = [l for l in boot_apt.PGDG_KEY_FILE.read_text().splitlines() if len(l) == 64]
    assert key_material and not any(line in text for line in key_material)
    shown = subprocess.run(["gpg", "--show-keys", "--with-colons", str(boot_apt.PGDG_KEY_FILE)],
                           capture_output=True, text=True, check=True).stdout
    assert f"fpr:::::::::{boot_apt.PGDG_KEY_FINGERPRINT}:" in shown


@pytest.fixture
def https_files(tmp_path):
    """A loopback HTTPS server for files put in its directory; its CA is the only one the client trusts."""
    import http.server
    import ssl
    import threading
    from functools import partial

    root = tmp_path / "www"
    root.mkdir()
    cert, key = tmp_path / "server.crt", tmp_path / "server.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"https://127.0.0.1:{server.server_address[1]}", cert
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def gnupg_homes(tmp_path):
    """Throwaway GnuPG homes; gpg starts a gpg-agent daemon per home, stopped here so none outlives the test."""
    homes: list[Path] = []

    def make(name: str) -> Path:
        home = tmp_path / f"gnupg-{name}"
        home.mkdir(mode=0o700)
        homes.append(home)
        return home

    yield make
    for home in homes:
        subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "all"], capture_output=True, timeout=30)


def _gpg_key(home: Path, name: str) -> str:
    gpg = ["gpg", "--homedir", str(home), "--batch", "--pinentry-mode", "loopback", "--passphrase", ""]
    subprocess.run(gpg + ["--quick-gen-key", f"{name} <{name}@example.com>", "ed25519", "sign", "never"],
                   check=True, capture_output=True)
    return subprocess.run(gpg + ["--armor", "--export"], check=True, capture_output=True, text=True).stdout


def test_pgdg_key_is_trusted_only_if_it_is_exactly_the_pinned_key(https_files, tmp_path, gnupg_homes):
    """The bootcmd fetch, run for real against a loopback HTTPS server: the pinned key lands in the keyring;
    another key, the pinned key with another one appended, or a non-https URL leave no keyring behind."""
    import os
    import sys

    root, base, ca = https_files
    pinned = boot_apt.PGDG_KEY_FILE.read_text()
    other = _gpg_key(gnupg_homes("mallory"), "mallory")
    (root / "pinned.asc").write_text(pinned)
    (root / "other.asc").write_text(other)
    both_home = gnupg_homes("both")
    gpg = ["gpg", "--homedir", str(both_home), "--batch"]
    subprocess.run(gpg + ["--import"], input=(pinned + other).encode(), check=True, capture_output=True)
    (root / "both.asc").write_text(subprocess.run(gpg + ["--armor", "--export"], check=True, capture_output=True,
                                                  text=True).stdout)
    command = boot_apt.pgdg_key_command()
    assert command[:3] == ["cloud-init-per", "instance", "pgdg-key"]
    script = command[command.index("-c") + 1]
    env = {**os.environ, "SSL_CERT_FILE": str(ca)}

    def fetch(url: str, dest: Path) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", script, url, boot_apt.PGDG_KEY_FINGERPRINT, str(dest)],
                              capture_output=True, text=True, env=env, timeout=60)

    good = tmp_path / "keyrings" / "pgdg.asc"
    result = fetch(f"{base}/pinned.asc", good)
    assert result.returncode == 0, result.stderr
    assert good.read_text() == pinned and oct(good.stat().st_mode & 0o777) == "0o644"
    shown = subprocess.run(["gpg", "--show-keys", "--with-colons", str(good)], capture_output=True, text=True,
                           check=True).stdout
    assert [l.split(":")[9] for l in shown.splitlines() if l.startswith("fpr:")][0] == boot_apt.PGDG_KEY_FINGERPRINT
    for name in ("other.asc", "both.asc"):
        dest = tmp_path / f"rejected-{name}"
        result = fetch(f"{base}/{name}", dest)
        assert result.returncode != 0 and "rejected" in result.stderr, (name, result.stderr)
        assert not dest.exists() and not Path(f"{dest}.tmp").exists()
    plain = fetch(f"http://127.0.0.1:1/pinned.asc", tmp_path / "plain.asc")
    assert plain.returncode != 0 and "not https" in plain.stderr
    assert not (tmp_path / "plain.asc").exists()


def _apt_policy(pin_text: str, tmp_path: Path, package: str) -> str:
    parts = tmp_path / "preferences.d"
    parts.mkdir(exist_ok=True)
    (parts / "pg-platform.pref").write_text(pin_text)
    return subprocess.run(["apt-cache", "-o", f"Dir::Etc::PreferencesParts={parts}", "-o",
                           "Dir::Etc::Preferences=/dev/null", "policy", package],
                          capture_output=True, text=True, check=True).stdout


def _candidate(policy: str) -> str:
    return next(l.split(":", 1)[1].strip() for l in policy.splitlines() if l.strip().startswith("Candidate:"))


def test_pgbackrest_is_pinned_before_any_package_is_installed(tmp_path):
    """One pgBackRest version on every member, never one that breaks uploads to the locked bucket. apt itself
    reads the rendered preferences: against this machine's package lists (Debian's pgBackRest) the pin admits
    exactly the pinned version and refuses every other one."""
    spec = cloud_spec("prod")
    doc = yaml.safe_load(boot_member.render_node_user_data(spec, spec.members[0], boot_for(spec)))
    written = {f["path"]: f for f in doc["write_files"]}
    pin = written[boot_apt.APT_PIN_FILE]
    assert not pin.get("defer")                 # before cloud-init installs the packages
    assert pin["content"] == boot_apt.render_apt_pin("pgbackrest", boot_apt.PGBACKREST_VERSION)
    assert boot_apt.PGBACKREST_VERSION not in boot_apt.PGBACKREST_BROKEN_VERSIONS
    assert "pgbackrest" in doc["packages"]

    unpinned = subprocess.run(["apt-cache", "policy", "pgbackrest"], capture_output=True, text=True).stdout
    if "Candidate: (none)" in unpinned or "Candidate:" not in unpinned:
        pytest.skip("no pgbackrest in this machine's apt lists (run apt-get update)")
    available = _candidate(unpinned)                 # Debian's, e.g. 2.45-1
    upstream = available.split("-")[0].split(":")[-1]
    assert upstream != boot_apt.PGBACKREST_VERSION
    assert _candidate(_apt_policy(pin["content"], tmp_path, "pgbackrest")) == "(none)"
    admitted = _apt_policy(boot_apt.render_apt_pin("pgbackrest", upstream), tmp_path, "pgbackrest")
    assert _candidate(admitted) == available and f"{available} 1001" in admitted


def test_monitoring_user_data_installs_grafana_with_a_pinned_key():
    from dataplane import grafana

    spec = cloud_spec("prod")
    receivers = [type("R", (), {"name": "hook", "email": None, "webhook_url": "https://example.com/hook"})()]
    doc = yaml.safe_load(boot_monitoring.render_monitoring_user_data(spec, receivers, boot_monitoring.MonitoringBoot(
        boot_aws.AwsBoot(region="eu-central-1"), webhook_secret_refs={"hook": HOOK_ARN})))
    written = {f["path"]: f["content"] for f in doc["write_files"]}
    assert json.loads(written[f"{grafana.DASHBOARDS_DIR}/{spec.scope}.json"])["panels"]
    commands = [" ".join(c) for c in doc["runcmd"]]
    # One command: the fingerprint check guards the repository and the install (runcmd has no `set -e`).
    (install,) = [c for c in commands if "grafana.list" in c]
    assert grafana.APT_KEY_FINGERPRINT in install and "apt-get install -y grafana" in install
    assert install.index(grafana.APT_KEY_FINGERPRINT) < install.index("grafana.list") and "set -eu" in install


def test_monitoring_node_installs_the_ssm_agent_through_the_s3_endpoint():
    """Debian's images have no SSM agent: without it the `dashboards` port forward and shell access fail. It
    comes from AWS's regional bucket, which the S3 gateway endpoint's policy admits, before anything else."""
    from components.aws.network import _s3_endpoint_policy

    spec = cloud_spec("prod")
    region = settings_for("prod").region
    doc = yaml.safe_load(boot_monitoring.render_monitoring_user_data(
        spec, settings_for("prod").monitoring.receivers, monitoring_boot("prod", cloud=boot_aws.AwsBoot(region=region))))
    runcmd = [" ".join(c) for c in doc["runcmd"]]
    agent = boot_aws.aws_agent_debs(region)["amazon-ssm-agent"]
    download = next(i for i, c in enumerate(runcmd) if c.startswith("curl") and c.endswith(agent))
    assert runcmd.index("apt-get install -y /var/cache/amazon-ssm-agent.deb") > download
    enable = runcmd.index("systemctl enable --now amazon-ssm-agent")
    assert enable < next(i for i, c in enumerate(runcmd) if "prometheus" in c)
    assert "amazon-cloudwatch-agent" not in " ".join(runcmd)     # no disk alarm watches this node's agent
    assert "curl" in doc["packages"]
    # The download is an s3:GetObject on the agent's bucket, which the endpoint policy allows.
    bucket = agent.split("/")[3]
    allowed = [s for s in _s3_endpoint_policy("pgp-prod-backups", region)["Statement"]
               if s["Effect"] == "Allow" and {"s3:GetObject", "s3:*"} & set(s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
               and f"arn:aws:s3:::{bucket}/*" in s["Resource"]]
    assert allowed, bucket


def test_monitoring_state_lives_on_the_data_volume(tmp_path):
    """Prometheus' TSDB and Alertmanager's state are on the data volume that outlives the instance: installed
    held back, started only once the volume is mounted over their directory, and on every later boot only
    after that mount."""
    spec = cloud_spec("prod")
    boot = monitoring_boot("prod")
    doc = yaml.safe_load(boot_monitoring.render_monitoring_user_data(spec, settings_for("prod").monitoring.receivers, boot))
    written = {f["path"]: f for f in doc["write_files"]}
    assert not written["/usr/sbin/policy-rc.d"].get("defer")
    runcmd = [" ".join(c) for c in doc["runcmd"]]
    assert runcmd[0] == "rm -f /usr/sbin/policy-rc.d"
    (start,) = [c for c in runcmd if "systemctl restart" in c]
    assert start.startswith(f"sh -c {boot_data_volume.DATA_VOLUME_SCRIPT} {boot.data_mount} prometheus prometheus && ")
    assert not any(c.startswith(("systemctl start", "systemctl restart")) for c in runcmd)
    for service in boot_monitoring.MONITORING_SERVICES:
        dropin = written[f"/etc/systemd/system/{service}.service.d/pg-platform.conf"]["content"]
        assert f"RequiresMountsFor={boot.data_mount}" in dropin
    script = written[boot_data_volume.DATA_VOLUME_SCRIPT]["content"]
    compile(script, boot_data_volume.DATA_VOLUME_SCRIPT, "exec")
    assert written[boot_data_volume.DATA_VOLUME_SCRIPT]["permissions"] == "0700"
    # The member's data volume is mounted by the same function, and Patroni waits for it on a reboot.
    assert boot_data_volume.DATA_VOLUME_SOURCE in boot_member.render_boot_script(spec, spec.members[0], boot_for(spec))
    assert f"RequiresMountsFor={spec.paths_for(spec.members[0]).data_dir}" in \
        boot_units.system_units(spec, spec.members[0])["pgp-patroni.service"]


def test_monitoring_user_data_carries_webhook_secret_refs_never_urls():
    spec = cloud_spec("prod")
    mon = settings_for("prod").monitoring
    hooks = [r for r in mon.receivers if r.webhook_url]
    assert hooks
    boot = monitoring_boot("prod")
    text = boot_monitoring.render_monitoring_user_data(spec, mon.receivers, boot)
    for r in hooks:
        assert r.webhook_url not in text
        # Not even the path, where the token usually is.
        assert r.webhook_url.split("://", 1)[1].split("/", 1)[1] not in text
        assert boot.webhook_secret_refs[r.name] in text
    doc = yaml.safe_load(text)
    written = {f["path"]: f["content"] for f in doc["write_files"]}
    template = yaml.safe_load(written[boot_monitoring.ALERTMANAGER_TEMPLATE])
    assert all("url" not in h for r in template["receivers"] for h in r.get("webhook_configs", []))
    fill = json.loads(written[boot_monitoring.ALERTMANAGER_WEBHOOKS])
    assert fill["webhooks"] == dict(boot.webhook_secret_refs)
    for missing in ({}, {**boot.webhook_secret_refs, "stranger": HOOK_ARN}):
        with pytest.raises(ValueError, match="webhook"):
            boot_monitoring.render_monitoring_user_data(spec, mon.receivers, monitoring_boot("prod", webhook_secret_refs=missing))


def test_alertmanager_configuration_is_filled_at_boot_from_secrets_manager(secrets_manager, tmp_path):
    """The node's config unit, run for real against moto's Secrets Manager: the written configuration holds the
    URL, passes amtool, and is readable by the prometheus group only; a bad value writes nothing."""
    import grp
    import os
    import sys

    import boto3

    spec = cloud_spec("prod")
    mon = settings_for("prod").monitoring
    client = boto3.client("secretsmanager", region_name="eu-central-1", endpoint_url=secrets_manager,
                          aws_access_key_id="test", aws_secret_access_key="test")
    urls = {r.name: f"https://hooks.example.com/{r.name}/T0K3N-{i}" for i, r in enumerate(mon.receivers) if r.webhook_url}
    arns = {name: client.create_secret(Name=f"pgp/webhook-{name}", SecretString=url)["ARN"] for name, url in urls.items()}
    doc = yaml.safe_load(boot_monitoring.render_monitoring_user_data(
        spec, mon.receivers, monitoring_boot("prod", webhook_secret_refs=arns)))
    written = {f["path"]: f["content"] for f in doc["write_files"]}
    unit = written[f"/etc/systemd/system/{boot_monitoring.ALERTMANAGER_FILL_UNIT}"]
    assert f"ExecStart={boot_monitoring.ALERTMANAGER_FILL} {boot_monitoring.ALERTMANAGER_WEBHOOKS}" in unit
    assert f"Requires={boot_monitoring.ALERTMANAGER_FILL_UNIT}" in \
        written["/etc/systemd/system/prometheus-alertmanager.service.d/pg-platform.conf"]
    template = tmp_path / "alertmanager.yml.tmpl"
    template.write_text(written[boot_monitoring.ALERTMANAGER_TEMPLATE])
    config = tmp_path / "alertmanager.yml"
    fill = {**json.loads(written[boot_monitoring.ALERTMANAGER_WEBHOOKS]), "template": str(template), "config": str(config)}
    boot_json = tmp_path / "webhooks.json"
    boot_json.write_text(json.dumps(fill))
    script = tmp_path / "pgp-alertmanager-config"
    script.write_text(written[boot_monitoring.ALERTMANAGER_FILL])
    env = {**os.environ, "AWS_ENDPOINT_URL": secrets_manager, "AWS_ACCESS_KEY_ID": "test",
           "AWS_SECRET_ACCESS_KEY": "test"}
    result = subprocess.run([sys.executable, str(script), str(boot_json)], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    subprocess.run(["amtool", "check-config", str(config)], check=True, capture_output=True)
    filled = yaml.safe_load(config.read_text())
    got = {r["name"]: r["webhook_configs"][0]["url"] for r in filled["receivers"] if r.get("webhook_configs")}
    assert got == urls
    assert oct(config.stat().st_mode & 0o777) == "0o640" and config.stat().st_gid == grp.getgrnam("prometheus").gr_gid
    # The node's result is the configuration the sandbox and amtool tests render from the same template.
    receivers = [type("R", (), {"name": r.name, "email": r.email, "webhook_url": urls.get(r.name)})()
                 for r in mon.receivers]
    from dataplane import alertmanager
    assert filled == alertmanager.alertmanager_config(spec, receivers, mon.smtp_smarthost, mon.smtp_from)
    # A value that is not one https URL stops the unit (Alertmanager requires it) and writes nothing.
    config.unlink()
    client.put_secret_value(SecretId=next(iter(arns.values())), SecretString="http://plain.example.com/x")
    bad = subprocess.run([sys.executable, str(script), str(boot_json)], capture_output=True, text=True, env=env)
    assert bad.returncode != 0 and "plain.example.com" not in bad.stderr + bad.stdout
    assert not config.exists()


def test_monitoring_units_verify(tmp_path):
    spec = cloud_spec("prod")
    doc = yaml.safe_load(boot_monitoring.render_monitoring_user_data(spec, settings_for("prod").monitoring.receivers,
                                                                 monitoring_boot("prod")))
    written = {f["path"]: f["content"] for f in doc["write_files"]}
    unit = tmp_path / boot_monitoring.ALERTMANAGER_FILL_UNIT
    unit.write_text(written[f"/etc/systemd/system/{boot_monitoring.ALERTMANAGER_FILL_UNIT}"].replace(
        boot_monitoring.ALERTMANAGER_FILL, "/bin/true"))
    result = subprocess.run(["systemd-analyze", "verify", "--man=no", unit.name], cwd=tmp_path, capture_output=True,
                            text=True)
    problems = [l for l in (result.stdout + result.stderr).splitlines()
                if l.strip() and "network-online.target" not in l and "prometheus-alertmanager" not in l]
    assert result.returncode == 0 and not problems, "\n".join(problems)


def test_grafana_is_installed_only_from_exactly_its_pinned_key(tmp_path, gnupg_homes, monkeypatch):
    """The monitoring node's Grafana step, its key check run for real with gpg: only a file holding exactly the
    pinned key reaches the install commands (runcmd has no `set -e`, so the check must guard them itself)."""
    from dataplane import grafana

    keys = {}
    for name in ("pinned", "other"):
        home = gnupg_homes(name)
        keys[name] = _gpg_key(home, name)
        listing = subprocess.run(["gpg", "--homedir", str(home), "--with-colons", "--list-keys"], check=True,
                                 capture_output=True, text=True).stdout
        keys[f"{name}-fpr"] = next(l.split(":")[9] for l in listing.splitlines() if l.startswith("fpr:"))
    monkeypatch.setattr(grafana, "APT_KEY_FINGERPRINT", keys["pinned-fpr"])
    script = boot_monitoring.grafana_install_script(str(tmp_path / "key.asc"))
    reached = tmp_path / "reached"
    # Everything after the checks stands in for the commands they guard.
    guarded = script.split("\necho ", 1)[0] + f"\ntouch {reached}\n"
    for case, content, expected in (("pinned", keys["pinned"], True), ("other", keys["other"], False),
                                    ("both", keys["pinned"] + keys["other"], False)):
        (tmp_path / "key.asc").write_text(content)
        reached.unlink(missing_ok=True)
        subprocess.run(["sh", "-c", guarded], capture_output=True, env={"PATH": "/usr/bin:/bin", "GNUPGHOME": str(tmp_path / "gnupg-pinned")})
        assert reached.exists() is expected, case
