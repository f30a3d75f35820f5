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

from dataplane import cloud_init
from dataplane.model import SECRET_ENV
from dataplane.node_files import node_files
from dataplane_support import cloud_spec, settings_for

pytestmark = pytest.mark.dataplane

EC2_USER_DATA_LIMIT = 16 * 1024


def boot_for(spec) -> cloud_init.NodeBoot:
    return cloud_init.NodeBoot(
        region="eu-central-1",
        secret_arns={n: f"arn:aws:secretsmanager:eu-central-1:123456789012:secret:{spec.scope}/{n}-AbCdEf"
                     for n in SECRET_ENV},
        tls_secret_arns={m.name: f"arn:aws:secretsmanager:eu-central-1:123456789012:secret:{spec.scope}/tls-{m.name}"
                         for m in spec.members})


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
        text = cloud_init.render_node_user_data(spec, member, boot_for(spec))
        result = _cloud_init_schema(tmp_path, text)
        assert result.returncode == 0, result.stdout + result.stderr
        assert len(gzip.compress(text.encode(), mtime=0)) < EC2_USER_DATA_LIMIT


@needs_cloud_init
@pytest.mark.parametrize("stack", ["prod", "dev"])
def test_monitoring_user_data_is_valid_cloud_config(stack, tmp_path):
    spec = cloud_spec(stack)
    mon = settings_for(stack).monitoring
    boot = cloud_init.MonitoringBoot(region="eu-central-1", smtp_smarthost=mon.smtp_smarthost,
                                     smtp_from=mon.smtp_from, ca_cert_pem="-----BEGIN CERTIFICATE-----\n")
    text = cloud_init.render_monitoring_user_data(spec, mon.receivers, boot)
    result = _cloud_init_schema(tmp_path, text)
    assert result.returncode == 0, result.stdout + result.stderr
    doc = yaml.safe_load(text)
    paths = {f["path"] for f in doc["write_files"]}
    assert {"/etc/prometheus/prometheus.yml", "/etc/prometheus/alertmanager.yml",
            "/etc/prometheus/pg-platform-ca.crt"} <= paths


def test_user_data_carries_arns_never_secret_values():
    spec = cloud_spec("prod")
    boot = boot_for(spec)
    member = spec.members[1]
    text = cloud_init.render_node_user_data(spec, member, boot)
    for arn in boot.secret_arns.values():
        assert arn in text
    assert boot.tls_secret_arns[member.name] in text
    assert not any(arn in text for name, arn in boot.tls_secret_arns.items() if name != member.name)
    assert "PRIVATE KEY" not in text and "BEGIN CERTIFICATE" not in text
    # Every place a secret variable is assigned, the value is a ${...} placeholder filled at boot.
    for var in SECRET_ENV.values():
        for match in re.finditer(rf"\b{var}=(\S*)", text):
            assert match.group(1).startswith("${"), match.group(0)
    # The boot script only ever writes values it fetched; its configuration maps variables to ARNs.
    script = next(f["content"] for f in yaml.safe_load(text)["write_files"] if f["path"] == cloud_init.BOOT_SCRIPT)
    config = json.loads(re.search(r"^CONFIG_JSON = (.*)$", script, re.M).group(1).strip("'"))
    assert set(config["env_arns"]) >= set(SECRET_ENV.values())
    assert set(config["env_arns"].values()) <= set(boot.secret_arns.values())
    compile(script, cloud_init.BOOT_SCRIPT, "exec")


def test_missing_secret_arn_is_an_error():
    spec = cloud_spec("dev")
    boot = boot_for(spec)
    partial = cloud_init.NodeBoot(region=boot.region, tls_secret_arns=boot.tls_secret_arns,
                                  secret_arns={k: v for k, v in boot.secret_arns.items() if k != "backup-cipher"})
    with pytest.raises(ValueError, match="backup-cipher"):
        cloud_init.render_node_user_data(spec, spec.members[0], partial)
    with pytest.raises(ValueError, match="TLS"):
        cloud_init.render_node_user_data(spec, spec.members[0], cloud_init.NodeBoot(
            region=boot.region, secret_arns=boot.secret_arns, tls_secret_arns={}))


def test_user_data_writes_exactly_the_node_files():
    spec = cloud_spec("prod")
    member = spec.members[0]
    doc = yaml.safe_load(cloud_init.render_node_user_data(spec, member, boot_for(spec)))
    written = {f["path"]: f for f in doc["write_files"]}
    for path, content in node_files(spec, member).items():
        assert written[path]["content"] == content
        assert written[path]["owner"] == "postgres:postgres" and written[path]["defer"] is True
    assert not written["/usr/sbin/policy-rc.d"].get("defer")       # before packages, or services start
    assert f"postgresql-{spec.topology.postgres_major}" in doc["packages"]
    assert any("patroni[etcd3,psycopg3]==" in " ".join(cmd) for cmd in doc["runcmd"])
    assert doc["runcmd"][-1] == [cloud_init.BOOT_SCRIPT]


def test_systemd_units_verify(tmp_path):
    spec = cloud_spec("prod")
    member = spec.members[0]
    units = cloud_init.system_units(spec, member)
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
    boot = dataclasses.replace(boot_for(spec), kms_key_id=key, bucket=spec.repositories[0].bucket)
    doc = yaml.safe_load(cloud_init.render_node_user_data(spec, spec.members[0], boot))
    conf = next(f["content"] for f in doc["write_files"] if f["path"].endswith("pgbackrest.conf"))
    assert f"repo1-s3-kms-key-id={key}" in conf
    with pytest.raises(ValueError, match="bucket"):
        cloud_init.render_node_user_data(spec, spec.members[0], dataclasses.replace(boot, bucket="other"))


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
    boot = cloud_init.NodeBoot(region="eu-central-1", secret_arns=arns, tls_secret_arns={member.name: tls_arn},
                               data_mount=str(root / member.name))
    script = tmp_path / "pgp-boot"
    script.write_text(cloud_init.render_boot_script(spec, member, boot))
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
    doc = yaml.safe_load(cloud_init.render_node_user_data(spec, member, boot_for(spec)))
    written = {f["path"]: f for f in doc["write_files"]}
    for path in (operations.BACKUP_CHECK_COMMAND, operations.APPLY_ROLES_COMMAND):
        assert written[path]["permissions"] == "0700" and written[path]["owner"] == "root:root"
        syntax = subprocess.run(["bash", "-n"], input=written[path]["content"], capture_output=True, text=True)
        assert syntax.returncode == 0, syntax.stderr
    agent = json.loads(written[cloud_init.CLOUDWATCH_AGENT_CONFIG]["content"])["metrics"]
    assert agent["namespace"] == cloud_init.CLOUDWATCH_NAMESPACE
    assert agent["aggregation_dimensions"] == [["InstanceId", "path"]]
    assert agent["metrics_collected"]["disk"]["resources"] == [cloud_init.NodeBoot.data_mount]
    runcmd = [" ".join(c) for c in doc["runcmd"]]
    agents = cloud_init.aws_agent_commands("eu-central-1")
    assert runcmd.index(" ".join(agents[-1])) < runcmd.index(cloud_init.BOOT_SCRIPT)
    assert "systemctl enable --now amazon-ssm-agent" in runcmd


def test_every_package_source_is_https_and_the_pgdg_key_is_pinned(tmp_path):
    """Nodes may leave the VPC on 443 only: no http mirror, no hkp keyserver; the key is PGDG's own."""
    spec = cloud_spec("prod")
    doc = yaml.safe_load(cloud_init.render_node_user_data(spec, spec.members[0], boot_for(spec)))
    apt = doc["apt"]
    uris = [apt["primary"][0]["uri"], apt["security"][0]["uri"], apt["sources"]["pgdg"]["source"]]
    uris += [c[-1] for c in doc["runcmd"] if c[0] == "curl"]
    assert all("https://" in u and "http://" not in u for u in uris), uris
    assert "keyserver" not in apt["sources"]["pgdg"]
    key = tmp_path / "pgdg.asc"
    key.write_text(apt["sources"]["pgdg"]["key"])
    shown = subprocess.run(["gpg", "--show-keys", "--with-colons", str(key)], capture_output=True, text=True,
                           check=True).stdout
    assert f"fpr:::::::::{cloud_init.PGDG_KEY_FINGERPRINT}:" in shown


def test_monitoring_user_data_installs_grafana_with_a_pinned_key():
    from dataplane import grafana

    spec = cloud_spec("prod")
    receivers = [type("R", (), {"name": "hook", "email": None, "webhook_url": "https://example.com/hook"})()]
    doc = yaml.safe_load(cloud_init.render_monitoring_user_data(spec, receivers, cloud_init.MonitoringBoot("eu-central-1")))
    written = {f["path"]: f["content"] for f in doc["write_files"]}
    assert json.loads(written[f"{grafana.DASHBOARDS_DIR}/{spec.scope}.json"])["panels"]
    commands = [" ".join(c) for c in doc["runcmd"]]
    key_check = next(i for i, c in enumerate(commands) if grafana.APT_KEY_FINGERPRINT in c)
    assert key_check < next(i for i, c in enumerate(commands) if "grafana.list" in c)
