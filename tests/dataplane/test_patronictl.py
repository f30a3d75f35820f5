"""pgp-patronictl: the runbooks' first command. Bare patronictl loads patroni.yml without the passwords Patroni's
unit gets from the secrets environment and stops at KeyError: 'password'; the wrapper exports them to that one
process and runs patronictl with the member's config."""

from __future__ import annotations

import dataclasses
import os
import subprocess
from pathlib import Path

import pytest
import yaml
from dataplane_support import TEST_SECRETS, boot_for, cloud_spec

from dataplane.boot import member as boot_member
from dataplane.model import SECRET_ENV
from dataplane.operations import PATRONICTL_COMMAND, operation_scripts, patronictl_bin, render_patronictl
from dataplane.patroni import config_path, render_patroni_config

# What an operator's shell might carry: no secret, so whatever patronictl sees came from the wrapper.
CLEAN_ENV = {"PATH": "/usr/bin:/bin", "HOME": "/root", "LANG": "C.UTF-8"}


def member_on_disk(root: Path, patroni_bin: str | None = None):
    """The prod spec's first member with its files under `root`: patroni.yml and the 0600 secrets environment
    exactly as the boot script writes it (single-quoted values)."""
    spec = cloud_spec("prod")
    paths = dataclasses.replace(
        spec.paths, config_dir=str(root / "etc"), patroni_bin=patroni_bin or spec.paths.patroni_bin
    )
    spec = dataclasses.replace(spec, paths=paths)
    member = spec.members[0]
    Path(paths.config_dir).mkdir(parents=True)
    Path(config_path(spec, member)).write_text(render_patroni_config(spec, member))
    env_file = Path(spec.paths_for(member).secrets_env)
    env_file.write_text("".join(f"{var}='{value}'\n" for var, value in sorted(TEST_SECRETS.items())))
    env_file.chmod(0o600)
    wrapper = root / "pgp-patronictl"
    wrapper.write_text(render_patronictl(spec, member))
    wrapper.chmod(0o700)
    return spec, member, wrapper


def test_the_wrapper_exports_the_secrets_and_runs_patronictl_with_the_members_config(tmp_path):
    out = tmp_path / "seen"
    fake = tmp_path / "venv" / "bin" / "patronictl"
    fake.parent.mkdir(parents=True)
    # Records its arguments and environment, NUL-separated so no value can be mistaken for another.
    fake.write_text(f"#!/bin/sh\nprintf '%s\\0' \"$@\" > {out}.args\nenv -0 > {out}.env\n")
    fake.chmod(0o755)
    spec, member, wrapper = member_on_disk(tmp_path, patroni_bin=str(fake.with_name("patroni")))
    assert patronictl_bin(spec, member) == str(fake)

    run = subprocess.run([str(wrapper), "list"], capture_output=True, text=True, env=CLEAN_ENV, timeout=30)

    assert run.returncode == 0, run.stderr
    assert Path(f"{out}.args").read_text().split("\0")[:-1] == ["-c", config_path(spec, member), "list"]
    seen = dict(line.split("=", 1) for line in Path(f"{out}.env").read_text().split("\0") if line)
    for var in SECRET_ENV.values():
        assert seen.get(var) == TEST_SECRETS[var], var


def test_the_wrapper_stops_when_the_secrets_cannot_be_read(tmp_path):
    """Without the secrets (an operator without sudo) it fails at once instead of running a patronictl that
    fails later with a KeyError."""
    spec, member, wrapper = member_on_disk(tmp_path, patroni_bin=str(tmp_path / "absent" / "patroni"))
    Path(spec.paths_for(member).secrets_env).unlink()
    run = subprocess.run([str(wrapper), "list"], capture_output=True, text=True, env=CLEAN_ENV, timeout=30)
    assert run.returncode != 0 and "secrets.env" in run.stderr


@pytest.mark.dataplane
def test_bare_patronictl_stops_at_the_missing_password_and_the_wrapper_does_not(tmp_path):
    """The real patronictl (Patroni's venv): loading the config is where it fails, so `version` shows it
    without a cluster; the live cluster test runs `list` through the wrapper."""
    spec, member, wrapper = member_on_disk(tmp_path)
    ctl = patronictl_bin(spec, member)
    if not os.access(ctl, os.X_OK):
        pytest.skip(f"no {ctl}: run scripts/bootstrap.sh")
    bare = subprocess.run(
        [ctl, "-c", config_path(spec, member), "version"], capture_output=True, text=True, env=CLEAN_ENV, timeout=60
    )
    assert bare.returncode != 0 and "KeyError: 'password'" in bare.stderr
    wrapped = subprocess.run([str(wrapper), "version"], capture_output=True, text=True, env=CLEAN_ENV, timeout=60)
    assert wrapped.returncode == 0, wrapped.stderr
    assert "patronictl version" in wrapped.stdout


def test_every_member_gets_the_wrapper_as_a_root_only_script():
    spec = cloud_spec("prod")
    for member in spec.members:
        assert operation_scripts(spec, member)[PATRONICTL_COMMAND] == render_patronictl(spec, member)
        doc = yaml.safe_load(boot_member.render_node_user_data(spec, member, boot_for(spec)))
        written = {f["path"]: f for f in doc["write_files"]}
        entry = written[PATRONICTL_COMMAND]
        # 0700 root: it reads the 0600 secrets environment, which only root and the services may read.
        assert entry["permissions"] == "0700" and entry["owner"] == "root:root"
        assert entry["content"] == render_patronictl(spec, member)
