"""The member's user data (boot/member.py): schema-valid (cloud-init's own validator), small enough for the cloud,
secret-free, and carrying exactly the files the sandbox runs; its systemd units (boot/units.py) pass
`systemd-analyze verify`."""

from __future__ import annotations

import gzip
import json
import re
import subprocess

import pytest
import yaml
from dataplane_support import boot_for, cloud_init_schema, cloud_spec, needs_cloud_init

from dataplane.boot import member as boot_member
from dataplane.boot import units as boot_units
from dataplane.model import SECRET_ENV
from dataplane.node_files import node_files, roles_sql_path
from stacks.clouds.aws import EC2_USER_DATA_LIMIT

pytestmark = pytest.mark.dataplane


@needs_cloud_init
@pytest.mark.parametrize("stack", ["prod", "dev"])
def test_node_user_data_is_valid_cloud_config(stack, tmp_path):
    spec = cloud_spec(stack)
    for member in spec.members:
        text = boot_member.render_node_user_data(spec, member, boot_for(spec))
        result = cloud_init_schema(tmp_path, text)
        assert result.returncode == 0, result.stdout + result.stderr
        assert len(gzip.compress(text.encode(), mtime=0)) < EC2_USER_DATA_LIMIT


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
    partial = boot_member.NodeBoot(
        cloud=boot.cloud,
        tls_secret_refs=boot.tls_secret_refs,
        secret_refs={k: v for k, v in boot.secret_refs.items() if k != "backup-cipher"},
    )
    with pytest.raises(ValueError, match="backup-cipher"):
        boot_member.render_node_user_data(spec, spec.members[0], partial)
    with pytest.raises(ValueError, match="TLS"):
        boot_member.render_node_user_data(
            spec,
            spec.members[0],
            boot_member.NodeBoot(cloud=boot.cloud, secret_refs=boot.secret_refs, tls_secret_refs={}),
        )


def test_user_data_writes_exactly_the_node_files():
    spec = cloud_spec("prod")
    member = spec.members[0]
    doc = yaml.safe_load(boot_member.render_node_user_data(spec, member, boot_for(spec)))
    written = {f["path"]: f for f in doc["write_files"]}
    # AWS's configure step writes the roles SQL before the roles step runs it: EC2's 16 KB leave it out.
    assert roles_sql_path(spec, member) not in written
    for path, content in node_files(spec, member).items():
        if path == roles_sql_path(spec, member):
            continue
        assert written[path]["content"] == content
        assert written[path]["owner"] == "postgres:postgres" and written[path]["defer"] is True
    assert not written["/usr/sbin/policy-rc.d"].get("defer")  # before packages, or services start
    assert f"postgresql-{spec.topology.postgres_major}" in doc["packages"]
    assert any("patroni[etcd3,psycopg3]==" in " ".join(cmd) for cmd in doc["runcmd"])
    assert doc["runcmd"][-1] == [boot_member.BOOT_SCRIPT]


def test_systemd_units_verify(tmp_path):
    spec = cloud_spec("prod")
    member = spec.members[0]
    units = boot_units.system_units(spec, member)
    assert "pgp-pgbackrest-server.service" in units  # members on separate hosts back up from standbys
    for name, text in units.items():
        (tmp_path / name).write_text(text)
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *sorted(units)], cwd=tmp_path, capture_output=True, text=True
    )
    problems = [
        line
        for line in (result.stdout + result.stderr).splitlines()
        if line.strip() and "network-online.target" not in line
    ]
    assert result.returncode == 0 and not problems, "\n".join(problems)
