"""AWS's boot (boot/aws.py, `AwsBoot`): the vault's KMS key and bucket reach pgBackRest, the boot script and the
Alertmanager fill read Secrets Manager for real (moto), and the SSM and CloudWatch agents are installed."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml
from dataplane_support import boot_for, cloud_spec, monitoring_boot, settings_for

from dataplane.boot import aws as boot_aws
from dataplane.boot import member as boot_member
from dataplane.boot import monitoring as boot_monitoring
from dataplane.model import SECRET_ENV
from dataplane.node_files import node_file_mode, program_files

pytestmark = pytest.mark.dataplane


def test_boot_kms_key_reaches_pgbackrest_and_bucket_is_checked():
    import dataclasses

    spec = cloud_spec("prod")
    spec = dataclasses.replace(
        spec, repositories=tuple(dataclasses.replace(r, kms_key_id=None) for r in spec.repositories)
    )
    key = "arn:aws:kms:eu-central-1:123456789012:key/abcd"
    boot = dataclasses.replace(
        boot_for(spec),
        cloud=boot_aws.AwsBoot(region="eu-central-1", kms_key_id=key, bucket=spec.repositories[0].bucket),
    )
    doc = yaml.safe_load(boot_member.render_node_user_data(spec, spec.members[0], boot))
    conf = next(f["content"] for f in doc["write_files"] if f["path"].endswith("pgbackrest.conf"))
    assert f"repo1-s3-kms-key-id={key}" in conf
    with pytest.raises(ValueError, match="bucket"):
        boot_member.render_node_user_data(
            spec, spec.members[0], dataclasses.replace(boot, cloud=dataclasses.replace(boot.cloud, bucket="other"))
        )


@pytest.fixture
def secrets_manager(tmp_path):
    """moto's Secrets Manager on a free loopback port, standing in for the region's endpoint."""
    import sys

    from dataplane_support import free_ports, port_open, stop, wait_for

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


def test_boot_script_fetches_secrets_and_tls_into_private_files(secrets_manager, tmp_path):
    import dataclasses
    import os
    import sys

    import boto3
    from dataplane_support import TEST_SECRETS, as_postgres, local_spec

    from dataplane.tls import issue, tls_files

    root = tmp_path / "node"
    root.mkdir()
    root.chmod(0o755)
    spec = local_spec(root, "prod", 3)
    member = spec.members[0]
    aws_env = {
        **os.environ,
        "AWS_ENDPOINT_URL": secrets_manager,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
    }
    client = boto3.client(
        "secretsmanager",
        region_name="eu-central-1",
        endpoint_url=secrets_manager,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    arns = {
        name: client.create_secret(Name=f"pgp/{name}", SecretString=TEST_SECRETS[var])["ARN"]
        for name, var in SECRET_ENV.items()
    }
    issued = issue(spec)
    files = tls_files(spec, member)
    bundle = {
        "ca": issued["ca"].cert_pem.decode(),
        "cert": issued[member.name].cert_pem.decode(),
        "key": issued[member.name].key_pem.decode(),
        "client_cert": issued["client"].cert_pem.decode(),
        "client_key": issued["client"].key_pem.decode(),
    }
    tls_arn = client.create_secret(Name=f"pgp/tls-{member.name}", SecretString=json.dumps(bundle))["ARN"]
    boot = boot_member.NodeBoot(
        cloud=boot_aws.AwsBoot(region="eu-central-1"),
        secret_refs=arns,
        tls_secret_refs={member.name: tls_arn},
        data_mount=str(root / member.name),
        program_files_ref=client.create_secret(Name="pgp/programs", SecretString=boot_member.program_files_json(spec))[
            "ARN"
        ],
    )
    # The programs come from the secret, not the user data (EC2's 16 KiB).
    programs = program_files(spec, member)
    user_data = yaml.safe_load(boot_member.render_node_user_data(spec, member, boot))
    assert not set(programs) & {f["path"] for f in user_data["write_files"]}
    script = tmp_path / "pgp-boot"
    script.write_text(boot_member.render_boot_script(spec, member, boot))
    result = subprocess.run(
        [sys.executable, str(script), "dirs", "secrets"], capture_output=True, text=True, env=aws_env
    )
    assert result.returncode == 0, result.stdout + result.stderr
    env_file = Path(spec.paths_for(member).secrets_env)
    assert oct(env_file.stat().st_mode & 0o777) == "0o600" and env_file.owner() == "postgres"
    # The file means the same to sh (cron) as to systemd: source it as the service user and compare.
    shown = subprocess.run(
        [*as_postgres(), "sh", "-c", f"set -a; . {env_file}; env"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin"},
    ).stdout
    for var, value in TEST_SECRETS.items():
        assert f"{var}={value}\n" in shown
    for field, path in dataclasses.asdict(files).items():
        assert Path(path).read_text() == bundle[field]
        assert oct(Path(path).stat().st_mode & 0o777) == "0o600" and Path(path).owner() == "postgres"
    for path, content in programs.items():
        assert Path(path).read_text() == content
        assert Path(path).stat().st_mode & 0o777 == node_file_mode(spec, member, path)
        assert Path(path).owner() == "postgres"
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


def test_monitoring_node_installs_the_ssm_agent_through_the_s3_endpoint():
    """Debian's images have no SSM agent: without it the `dashboards` port forward and shell access fail. It
    comes from AWS's regional bucket, which the S3 gateway endpoint's policy admits, before anything else."""
    from components.aws.network import _s3_endpoint_policy

    spec = cloud_spec("prod")
    region = settings_for("prod").region
    doc = yaml.safe_load(
        boot_monitoring.render_monitoring_user_data(
            spec,
            settings_for("prod").monitoring.receivers,
            monitoring_boot("prod", cloud=boot_aws.AwsBoot(region=region)),
        )
    )
    runcmd = [" ".join(c) for c in doc["runcmd"]]
    agent = boot_aws.aws_agent_debs(region)["amazon-ssm-agent"]
    download = next(i for i, c in enumerate(runcmd) if c.startswith("curl") and c.endswith(agent))
    assert runcmd.index("apt-get install -y /var/cache/amazon-ssm-agent.deb") > download
    enable = runcmd.index("systemctl enable --now amazon-ssm-agent")
    assert enable < next(i for i, c in enumerate(runcmd) if "prometheus" in c)
    assert "amazon-cloudwatch-agent" not in " ".join(runcmd)  # no disk alarm watches this node's agent
    assert "curl" in doc["packages"]
    # The download is an s3:GetObject on the agent's bucket, which the endpoint policy allows.
    bucket = agent.split("/")[3]
    allowed = [
        s
        for s in _s3_endpoint_policy("pgp-prod-backups", region)["Statement"]
        if s["Effect"] == "Allow"
        and {"s3:GetObject", "s3:*"} & set(s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
        and f"arn:aws:s3:::{bucket}/*" in s["Resource"]
    ]
    assert allowed, bucket


def test_alertmanager_configuration_is_filled_at_boot_from_secrets_manager(secrets_manager, tmp_path):
    """The node's config unit, run for real against moto's Secrets Manager: the written configuration holds the
    URL, passes amtool, and is readable by the prometheus group only; a bad value writes nothing."""
    import grp
    import os
    import sys

    import boto3

    spec = cloud_spec("prod")
    mon = settings_for("prod").monitoring
    client = boto3.client(
        "secretsmanager",
        region_name="eu-central-1",
        endpoint_url=secrets_manager,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    urls = {
        r.name: f"https://hooks.example.com/{r.name}/T0K3N-{i}" for i, r in enumerate(mon.receivers) if r.webhook_url
    }
    arns = {
        name: client.create_secret(Name=f"pgp/webhook-{name}", SecretString=url)["ARN"] for name, url in urls.items()
    }
    doc = yaml.safe_load(
        boot_monitoring.render_monitoring_user_data(
            spec, mon.receivers, monitoring_boot("prod", webhook_secret_refs=arns)
        )
    )
    written = {f["path"]: f["content"] for f in doc["write_files"]}
    unit = written[f"/etc/systemd/system/{boot_monitoring.ALERTMANAGER_FILL_UNIT}"]
    assert f"ExecStart={boot_monitoring.ALERTMANAGER_FILL} {boot_monitoring.ALERTMANAGER_WEBHOOKS}" in unit
    assert (
        f"Requires={boot_monitoring.ALERTMANAGER_FILL_UNIT}"
        in written["/etc/systemd/system/prometheus-alertmanager.service.d/pg-platform.conf"]
    )
    template = tmp_path / "alertmanager.yml.tmpl"
    template.write_text(written[boot_monitoring.ALERTMANAGER_TEMPLATE])
    config = tmp_path / "alertmanager.yml"
    fill = {
        **json.loads(written[boot_monitoring.ALERTMANAGER_WEBHOOKS]),
        "template": str(template),
        "config": str(config),
    }
    boot_json = tmp_path / "webhooks.json"
    boot_json.write_text(json.dumps(fill))
    script = tmp_path / "pgp-alertmanager-config"
    script.write_text(written[boot_monitoring.ALERTMANAGER_FILL])
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": secrets_manager,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
    }
    result = subprocess.run([sys.executable, str(script), str(boot_json)], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    subprocess.run(["amtool", "check-config", str(config)], check=True, capture_output=True)
    filled = yaml.safe_load(config.read_text())
    got = {r["name"]: r["webhook_configs"][0]["url"] for r in filled["receivers"] if r.get("webhook_configs")}
    assert got == urls
    assert oct(config.stat().st_mode & 0o777) == "0o640" and config.stat().st_gid == grp.getgrnam("prometheus").gr_gid
    # The node's result is the configuration the sandbox and amtool tests render from the same template.
    receivers = [
        type("R", (), {"name": r.name, "email": r.email, "webhook_url": urls.get(r.name)})() for r in mon.receivers
    ]
    from dataplane import alertmanager

    assert filled == alertmanager.alertmanager_config(spec, receivers, mon.smtp_smarthost, mon.smtp_from)
    # A value that is not one https URL stops the unit (Alertmanager requires it) and writes nothing.
    config.unlink()
    client.put_secret_value(SecretId=next(iter(arns.values())), SecretString="http://plain.example.com/x")
    bad = subprocess.run([sys.executable, str(script), str(boot_json)], capture_output=True, text=True, env=env)
    assert bad.returncode != 0 and "plain.example.com" not in bad.stderr + bad.stdout
    assert not config.exists()
