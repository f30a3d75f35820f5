"""The monitoring node's user data.

It installs Prometheus, Alertmanager and Grafana, mounts its data volume under their state and writes
Alertmanager's configuration at every boot from a template and the webhook URLs in the cloud's secrets store. It
gets the cloud's remote-operations agent too.
"""

from __future__ import annotations

import inspect
import json
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from dataplane import alertmanager, grafana
from dataplane.alertmanager import ReceiverLike
from dataplane.boot.apt import debian_mirrors
from dataplane.boot.cloud import BootCloud
from dataplane.boot.cloud_config import (
    POLICY_RC,
    UNIT_PREFIX,
    dump_cloud_config,
    file_entry,
    policy_rc_entry,
    service_dropin,
)
from dataplane.boot.data_volume import DATA_VOLUME_SCRIPT, render_data_volume_script
from dataplane.model import ClusterSpec
from dataplane.prometheus import ScrapeTargets, render_alert_rules, render_prometheus_config
from stacks.ports import PORTS

# Alertmanager on the monitoring node reads a configuration written at every boot from the template in the user
# data and the webhook URLs in the secrets store (alertmanager.fill_webhook_urls, the function the sandbox's
# configuration goes through too); Alertmanager does not start without it.
ALERTMANAGER_CONFIG = "/etc/prometheus/alertmanager.yml"
ALERTMANAGER_TEMPLATE = "/etc/prometheus/alertmanager.yml.tmpl"
ALERTMANAGER_WEBHOOKS = "/etc/prometheus/pg-platform-webhooks.json"
ALERTMANAGER_FILL = "/usr/local/sbin/pgp-alertmanager-config"
ALERTMANAGER_FILL_UNIT = f"{UNIT_PREFIX}alertmanager-config.service"
MONITORING_SERVICES = ("prometheus", "prometheus-alertmanager")
MONITORING_DATA_MOUNT = "/var/lib/prometheus"  # the data volume: Prometheus' TSDB and Alertmanager's state
GRAFANA_KEYRING = "/etc/apt/keyrings/grafana.asc"


@dataclass(frozen=True)
class MonitoringBoot:
    cloud: BootCloud
    smtp_smarthost: str | None = None
    smtp_from: str | None = None
    ca_cert_pem: str | None = None  # the cluster CA (public), to verify Patroni's /metrics
    # receiver name -> reference of the secret holding its webhook URL (the URL carries a token: fetched at boot)
    webhook_secret_refs: Mapping[str, str] = field(default_factory=dict)
    data_mount: str = MONITORING_DATA_MOUNT


_FILL_SECRET_HEAD = r"""

def secret(client, arn):
    for attempt in range(6):
        try:
            return """
_FILL_SECRET_TAIL = r""".strip()
        except Exception:   # credentials or the endpoint not there yet; the value is never printed
            if attempt == 5:
                raise
            time.sleep(2 ** attempt)


boot = json.load(open(sys.argv[1]))
with open(boot["template"]) as f:
    template = yaml.safe_load(f)
urls = {}
if boot["webhooks"]:
"""
_FILL_MAIN = r"""    urls = {name: secret(client, arn) for name, arn in sorted(boot["webhooks"].items())}
try:
    config = fill_webhook_urls(template, urls)
except ValueError as exc:
    sys.exit(f"pg-platform: {exc}")
tmp = boot["config"] + ".tmp"
with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as out:
"""
_FILL_TAIL = r"""    out.write(yaml.safe_dump(config, sort_keys=False, width=1000))
os.chown(tmp, 0, grp.getgrnam(boot["group"]).gr_gid)
os.chmod(tmp, 0o640)
os.replace(tmp, boot["config"])
"""


def render_alertmanager_fill_script(cloud: BootCloud) -> str:
    store = cloud.secrets_store
    return (
        "#!/usr/bin/python3\n# rendered by pg-platform dataplane: Alertmanager's configuration from its template and\n"
        f"# the webhook URLs in {store}; the file it writes is 0640 root:prometheus\n"
        "import grp, json, os, sys, time\nfrom typing import Mapping\n\nimport yaml\n\n\n"
        + inspect.getsource(alertmanager.fill_webhook_urls)
        + _FILL_SECRET_HEAD
        + cloud.secret_value("arn")
        + _FILL_SECRET_TAIL
        + cloud.secret_client("boot")
        + _FILL_MAIN
        + f"    out.write(f\"# filled at boot from {{boot['template']}} and {store}; do not edit\\n\")\n"
        + _FILL_TAIL
    )


def render_alertmanager_fill_unit(cloud: BootCloud) -> str:
    return "\n".join(
        [
            "[Unit]",
            f"Description=Alertmanager configuration: template and webhook URLs from {cloud.secrets_store}",
            "Wants=network-online.target",
            "After=network-online.target",
            "Before=prometheus-alertmanager.service",
            "",
            "[Service]",
            "Type=oneshot",
            f"ExecStart={ALERTMANAGER_FILL} {ALERTMANAGER_WEBHOOKS}",
            "RemainAfterExit=yes",
            "",
            "[Install]",
            "WantedBy=multi-user.target",
            "",
        ]
    )


def grafana_install_script(key: str) -> str:
    listing = f"deb [signed-by={key}] {grafana.APT_REPOSITORY}"
    return "\n".join(
        [
            "set -eu",
            f"keys=$(gpg --show-keys --with-colons {key})",
            "[ \"$(printf '%s\\n' \"$keys\" | grep -c '^pub:')\" = 1 ]",
            f"printf '%s\\n' \"$keys\" | grep -q '^fpr:*{grafana.APT_KEY_FINGERPRINT}:'",
            f"echo '{listing}' > /etc/apt/sources.list.d/grafana.list",
            "apt-get update",
            "apt-get install -y grafana",
            "systemctl enable --now grafana-server",
        ]
    )


def render_monitoring_user_data(spec: ClusterSpec, receivers: Sequence[ReceiverLike], boot: MonitoringBoot) -> str:
    """Prometheus and Alertmanager from Debian, configured for this cluster, their state on the data volume;
    Grafana from its repository; the cloud's agents. Webhook URLs arrive as secret references, never as values."""
    cloud = boot.cloud
    noun = cloud.secret_ref_noun
    hooks = alertmanager.webhook_receivers(receivers)
    if set(boot.webhook_secret_refs) != set(hooks):
        raise ValueError(
            f"webhook secret {noun}s for {sorted(boot.webhook_secret_refs)}, but the webhook receivers "
            f"are {sorted(hooks)}"
        )
    ca_path = "/etc/prometheus/pg-platform-ca.crt"
    rules_path = "/etc/prometheus/rules/pg-platform.yml"
    targets = ScrapeTargets(
        prometheus=f"localhost:{PORTS.prometheus}", alertmanagers=(f"localhost:{PORTS.alertmanager}",)
    )
    fill = {
        **cloud.config(),
        "template": ALERTMANAGER_TEMPLATE,
        "config": ALERTMANAGER_CONFIG,
        "group": "prometheus",
        "webhooks": dict(sorted(boot.webhook_secret_refs.items())),
    }
    # Installed with their services held back: nothing may write to the state directory before the data
    # volume is mounted over it; on later boots they wait for that mount.
    mounted = [f"RequiresMountsFor={boot.data_mount}"]
    files = [
        policy_rc_entry(),
        file_entry(rules_path, render_alert_rules(spec), 0o644),
        file_entry(
            "/etc/prometheus/prometheus.yml",
            render_prometheus_config(spec, targets, (rules_path,), ca_path if boot.ca_cert_pem else None),
            0o644,
        ),
        file_entry(
            ALERTMANAGER_TEMPLATE,
            alertmanager.render_alertmanager_template(spec, receivers, boot.smtp_smarthost, boot.smtp_from),
            0o644,
        ),
        file_entry(ALERTMANAGER_WEBHOOKS, json.dumps(fill, indent=1) + "\n", 0o644),
        file_entry(ALERTMANAGER_FILL, render_alertmanager_fill_script(cloud), 0o700),
        file_entry(f"/etc/systemd/system/{ALERTMANAGER_FILL_UNIT}", render_alertmanager_fill_unit(cloud), 0o644),
        file_entry(
            *service_dropin(
                "prometheus-alertmanager",
                [f"Requires={ALERTMANAGER_FILL_UNIT}", f"After={ALERTMANAGER_FILL_UNIT}", *mounted],
            ),
            0o644,
        ),
        file_entry(*service_dropin("prometheus", mounted), 0o644),
        file_entry(DATA_VOLUME_SCRIPT, render_data_volume_script(), 0o700),
        *(file_entry(f.path, f.content, f.mode) for f in cloud.agent_files("monitoring", boot.data_mount)),
    ]
    if boot.ca_cert_pem:
        files.append(file_entry(ca_path, boot.ca_cert_pem, 0o644))
    files += [
        file_entry("/etc/grafana/provisioning/datasources/pg-platform.yml", grafana.render_datasource(), 0o644),
        file_entry("/etc/grafana/provisioning/dashboards/pg-platform.yml", grafana.render_dashboard_provider(), 0o644),
        file_entry(f"{grafana.DASHBOARDS_DIR}/{spec.scope}.json", grafana.render_dashboard(spec), 0o644),
        file_entry(grafana.SERVICE_OVERRIDE, grafana.render_service_override(), 0o644),
    ]
    key = GRAFANA_KEYRING
    doc = {
        "apt": debian_mirrors(cloud),
        "package_update": True,
        "packages": ["prometheus", "prometheus-alertmanager", "gpg", "curl", *cloud.packages(), "e2fsprogs"],
        "write_files": files,
        "runcmd": [
            ["rm", "-f", POLICY_RC],
            # First, so an operator can reach the node whatever fails after it.
            *cloud.agent_commands("monitoring"),
            ["systemctl", "daemon-reload"],
            ["systemctl", "enable", ALERTMANAGER_FILL_UNIT, *MONITORING_SERVICES],
            # Without the data volume they stay stopped (cloud-init reports the failure) rather than keep their
            # history on the root disk, which a replacement deletes.
            [
                "sh",
                "-c",
                f"{shlex.join([DATA_VOLUME_SCRIPT, boot.data_mount, 'prometheus', 'prometheus'])} && "
                f"systemctl restart {' '.join(MONITORING_SERVICES)}",
            ],
            # Grafana's repository, trusted only after its key matches the pinned fingerprint.
            ["install", "-d", "-m", "0755", "/etc/apt/keyrings"],
            ["curl", "-fsSL", "--proto", "=https", "-o", key, grafana.APT_KEY_URL],
            # runcmd is one plain sh script without `set -e`: the check and everything it guards share one
            # command, so a key that is not exactly the pinned one (or carries another) installs nothing.
            ["sh", "-c", grafana_install_script(key)],
        ],
    }
    return (
        f"#cloud-config\n# pg-platform monitoring for {spec.scope}: rendered by dataplane; webhook URLs arrive as "
        f"secret {noun}s and are fetched at boot\n" + dump_cloud_config(doc)
    )
