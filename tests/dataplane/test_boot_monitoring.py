"""The monitoring node's user data (boot/monitoring.py): schema-valid, Grafana installed only from its pinned key,
its state on the data volume (boot/data_volume.py), and webhook URLs only as secret references."""

from __future__ import annotations

import json
import subprocess

import pytest
import yaml
from dataplane_support import (
    HOOK_ARN,
    boot_for,
    cloud_init_schema,
    cloud_spec,
    gpg_key,
    monitoring_boot,
    needs_cloud_init,
    settings_for,
)

from dataplane.boot import aws as boot_aws
from dataplane.boot import data_volume as boot_data_volume
from dataplane.boot import member as boot_member
from dataplane.boot import monitoring as boot_monitoring
from dataplane.boot import units as boot_units

pytestmark = pytest.mark.dataplane


@needs_cloud_init
@pytest.mark.parametrize("stack", ["prod", "dev"])
def test_monitoring_user_data_is_valid_cloud_config(stack, tmp_path):
    spec = cloud_spec(stack)
    mon = settings_for(stack).monitoring
    text = boot_monitoring.render_monitoring_user_data(spec, mon.receivers, monitoring_boot(stack))
    result = cloud_init_schema(tmp_path, text)
    assert result.returncode == 0, result.stdout + result.stderr
    doc = yaml.safe_load(text)
    paths = {f["path"] for f in doc["write_files"]}
    assert {
        "/etc/prometheus/prometheus.yml",
        boot_monitoring.ALERTMANAGER_TEMPLATE,
        boot_monitoring.ALERTMANAGER_FILL,
        "/etc/prometheus/pg-platform-ca.crt",
    } <= paths
    # Written at boot, with the webhook URLs: never in the user data.
    assert boot_monitoring.ALERTMANAGER_CONFIG not in paths


def test_monitoring_user_data_installs_grafana_with_a_pinned_key():
    from dataplane import grafana

    spec = cloud_spec("prod")
    receivers = [type("R", (), {"name": "hook", "email": None, "webhook_url": "https://example.com/hook"})()]
    doc = yaml.safe_load(
        boot_monitoring.render_monitoring_user_data(
            spec,
            receivers,
            boot_monitoring.MonitoringBoot(
                boot_aws.AwsBoot(region="eu-central-1"), webhook_secret_refs={"hook": HOOK_ARN}
            ),
        )
    )
    written = {f["path"]: f["content"] for f in doc["write_files"]}
    assert json.loads(written[f"{grafana.DASHBOARDS_DIR}/{spec.scope}.json"])["panels"]
    commands = [" ".join(c) for c in doc["runcmd"]]
    # One command: the fingerprint check guards the repository and the install (runcmd has no `set -e`).
    (install,) = [c for c in commands if "grafana.list" in c]
    assert grafana.APT_KEY_FINGERPRINT in install and "apt-get install -y grafana" in install
    assert install.index(grafana.APT_KEY_FINGERPRINT) < install.index("grafana.list") and "set -eu" in install


def test_monitoring_state_lives_on_the_data_volume(tmp_path):
    """Prometheus' TSDB and Alertmanager's state are on the data volume that outlives the instance: installed
    held back, started only once the volume is mounted over their directory, and on every later boot only
    after that mount."""
    spec = cloud_spec("prod")
    boot = monitoring_boot("prod")
    doc = yaml.safe_load(
        boot_monitoring.render_monitoring_user_data(spec, settings_for("prod").monitoring.receivers, boot)
    )
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
    assert (
        f"RequiresMountsFor={spec.paths_for(spec.members[0]).data_dir}"
        in boot_units.system_units(spec, spec.members[0])["pgp-patroni.service"]
    )


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
            boot_monitoring.render_monitoring_user_data(
                spec, mon.receivers, monitoring_boot("prod", webhook_secret_refs=missing)
            )


def test_monitoring_units_verify(tmp_path):
    spec = cloud_spec("prod")
    doc = yaml.safe_load(
        boot_monitoring.render_monitoring_user_data(
            spec, settings_for("prod").monitoring.receivers, monitoring_boot("prod")
        )
    )
    written = {f["path"]: f["content"] for f in doc["write_files"]}
    unit = tmp_path / boot_monitoring.ALERTMANAGER_FILL_UNIT
    unit.write_text(
        written[f"/etc/systemd/system/{boot_monitoring.ALERTMANAGER_FILL_UNIT}"].replace(
            boot_monitoring.ALERTMANAGER_FILL, "/bin/true"
        )
    )
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", unit.name], cwd=tmp_path, capture_output=True, text=True
    )
    problems = [
        line
        for line in (result.stdout + result.stderr).splitlines()
        if line.strip() and "network-online.target" not in line and "prometheus-alertmanager" not in line
    ]
    assert result.returncode == 0 and not problems, "\n".join(problems)


def test_grafana_is_installed_only_from_exactly_its_pinned_key(tmp_path, gnupg_homes, monkeypatch):
    """The monitoring node's Grafana step, its key check run for real with gpg: only a file holding exactly the
    pinned key reaches the install commands (runcmd has no `set -e`, so the check must guard them itself)."""
    from dataplane import grafana

    keys = {}
    for name in ("pinned", "other"):
        home = gnupg_homes(name)
        keys[name] = gpg_key(home, name)
        listing = subprocess.run(
            ["gpg", "--homedir", str(home), "--with-colons", "--list-keys"], check=True, capture_output=True, text=True
        ).stdout
        keys[f"{name}-fpr"] = next(line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:"))
    monkeypatch.setattr(grafana, "APT_KEY_FINGERPRINT", keys["pinned-fpr"])
    script = boot_monitoring.grafana_install_script(str(tmp_path / "key.asc"))
    reached = tmp_path / "reached"
    # Everything after the checks stands in for the commands they guard.
    guarded = script.split("\necho ", 1)[0] + f"\ntouch {reached}\n"
    for case, content, expected in (
        ("pinned", keys["pinned"], True),
        ("other", keys["other"], False),
        ("both", keys["pinned"] + keys["other"], False),
    ):
        (tmp_path / "key.asc").write_text(content)
        reached.unlink(missing_ok=True)
        subprocess.run(
            ["sh", "-c", guarded],
            capture_output=True,
            env={"PATH": "/usr/bin:/bin", "GNUPGHOME": str(tmp_path / "gnupg-pinned")},
        )
        assert reached.exists() is expected, case
