"""Grafana on the monitoring node: the Prometheus datasource and one dashboard for the cluster.

Alerting is Prometheus + Alertmanager; the dashboard is for the trends behind those alerts (the seed's
"monitoring informs decisions"), so its panels use the same metrics the rules do.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import yaml

from dataplane.model import ClusterSpec
from dataplane.prometheus import CERT_WARNING_DAYS, DISK_FREE_CRITICAL, XID_AGE_WARNING
from stacks.ports import PORTS

# Grafana is not in Debian; its own repository is pinned by the signing key's full fingerprint.
APT_REPOSITORY = "https://apt.grafana.com stable main"
APT_KEY_URL = "https://apt.grafana.com/gpg.key"
APT_KEY_FINGERPRINT = "B53AE77BADB630A683046005963FA27710458545"
DASHBOARDS_DIR = "/var/lib/grafana/dashboards"
SERVICE_OVERRIDE = "/etc/systemd/system/grafana-server.service.d/pg-platform.conf"
DATASOURCE_UID = "pgp-prometheus"
# The one panel another flavour may lack (CloudNativePG without the CA's expiry): named for its left-out reason.
CERTIFICATE_PANEL = f"Certificate validity left (warning at {CERT_WARNING_DAYS} days)"
XID_AGE_PANEL = f"Transaction ID age per database (warning at {XID_AGE_WARNING / 1e6:g} million)"


def render_service_override() -> str:
    """Grafana listens on loopback only and shows dashboards read-only without a login: operators reach it
    through an SSM port-forwarding session (their IAM identity is the access control), so no default admin
    password is ever reachable and no security group opens its port."""
    settings = {
        "GF_SERVER_HTTP_ADDR": "127.0.0.1",
        "GF_SERVER_HTTP_PORT": str(PORTS.grafana),
        "GF_AUTH_DISABLE_LOGIN_FORM": "true",
        "GF_AUTH_ANONYMOUS_ENABLED": "true",
        "GF_AUTH_ANONYMOUS_ORG_ROLE": "Viewer",
        "GF_USERS_ALLOW_SIGN_UP": "false",
        "GF_ANALYTICS_REPORTING_ENABLED": "false",
        "GF_ANALYTICS_CHECK_FOR_UPDATES": "false",
    }
    return "[Service]\n" + "".join(f"Environment={k}={v}\n" for k, v in settings.items())


def render_datasource(prometheus_url: str = f"http://localhost:{PORTS.prometheus}") -> str:
    return yaml.safe_dump(
        {
            "apiVersion": 1,
            "datasources": [
                {
                    "name": "Prometheus",
                    "uid": DATASOURCE_UID,
                    "type": "prometheus",
                    "access": "proxy",
                    "url": prometheus_url,
                    "isDefault": True,
                    "editable": False,
                }
            ],
        },
        sort_keys=False,
    )


def render_dashboard_provider(path: str = DASHBOARDS_DIR) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": 1,
            "providers": [
                {
                    "name": "pg-platform",
                    "type": "file",
                    "disableDeletion": True,
                    "allowUiUpdates": False,
                    "options": {"path": path},
                }
            ],
        },
        sort_keys=False,
    )


TOP_STATEMENTS_PANEL = "Top statements by execution time"


class Panel(NamedTuple):
    title: str
    expr: str  # PromQL
    legend: str
    unit: str  # Grafana's unit id


@dataclass(frozen=True)
class PanelSet:
    """One flavour's dashboard, as MetricVocabulary is its alerts: the panels it can draw in its metrics, in the
    VM dashboard's titles and reading order, and why it leaves out the others (VM panel title -> reason)."""

    name: str
    panels: Sequence[Panel]
    left_out: Mapping[str, str] = field(default_factory=dict)


def panels(spec: ClusterSpec) -> list[Panel]:
    """The VM flavour's panels, in reading order: availability, replication, capacity, safety."""
    return [
        Panel("Primary per member", "max by (member) (patroni_primary)", "{{member}}", "none"),
        Panel("Standby replay lag", "max by (member) (pgp_replication_replay_lag_bytes)", "{{member}}", "bytes"),
        Panel(
            "Lag seen by the primary",
            "max by (application_name, sync_state) (pgp_senders_lag_bytes)",
            "{{application_name}} ({{sync_state}})",
            "bytes",
        ),
        Panel("Commits per second", "sum by (member) (rate(pg_stat_database_xact_commit[5m]))", "{{member}}", "ops"),
        Panel(
            "Connections used",
            "max by (member) (pgp_connections_used / pgp_connections_available)",
            "{{member}}",
            "percentunit",
        ),
        Panel(
            "WAL segments archived per minute",
            "sum by (member) (rate(pgp_archiver_archived_count[15m])) * 60",
            "{{member}}",
            "none",
        ),
        Panel("WAL archiving failing", "max by (member) (pgp_archiver_failing)", "{{member}}", "none"),
        Panel(
            "Time since the last backup",
            "time() - max(pgp_backup_last_completion_timestamp_seconds)",
            "last backup",
            "s",
        ),
        Panel(
            f"Free data disk (alert below {DISK_FREE_CRITICAL:.0%})",
            'min by (member) (node_filesystem_avail_bytes{fstype!~"tmpfs|overlay"} '
            '/ node_filesystem_size_bytes{fstype!~"tmpfs|overlay"})',
            "{{member}}",
            "percentunit",
        ),
        Panel(
            CERTIFICATE_PANEL,
            "min by (member, file) (pgp_tls_certificate_expiry_timestamp_seconds) - time()",
            "{{member}} {{file}}",
            "s",
        ),
        # postgres_exporter's own gauges (its pg_database and pg_stat_activity queries): drawn, not alerted on,
        # so they cost no query of ours in the members' user data. Bytes per hour: how fast the disk fills.
        Panel(
            "Database growth per hour",
            "max by (datname) (deriv(pg_database_size_bytes[1h])) * 3600",
            "{{datname}}",
            "bytes",
        ),
        Panel(
            "Client sessions by state",
            "sum by (member, state) (pg_stat_activity_count)",
            "{{member}} {{state}}",
            "none",
        ),
        Panel(XID_AGE_PANEL, "max by (datname) (pgp_database_xid_age)", "{{datname}}", "short"),
        # Seconds of execution per second, per statement: what the server spends its time on, on the primary.
        Panel(
            TOP_STATEMENTS_PANEL,
            "topk(10, max by (datname, queryid, query) (rate(pgp_statements_total_exec_seconds[5m])))",
            "{{datname}} {{query}}",
            "s",
        ),
        Panel("Firing alerts", 'sum by (alertname, severity) (ALERTS{alertstate="firing"})', "{{alertname}}", "none"),
    ]


def render_dashboard(spec: ClusterSpec, panel_set: PanelSet | None = None) -> str:
    """The cluster's dashboard in a flavour's panels, the VM's unless given; uid, title and grid are the
    cluster's, whichever flavour draws it."""
    width, height = 12, 8
    items = []
    chosen = PanelSet("vm", panels(spec)) if panel_set is None else panel_set
    for i, (title, expr, legend, unit) in enumerate(chosen.panels):
        items.append(
            {
                "id": i + 1,
                "type": "timeseries",
                "title": title,
                "gridPos": {"x": (i % 2) * width, "y": (i // 2) * height, "w": width, "h": height},
                "datasource": {"type": "prometheus", "uid": DATASOURCE_UID},
                "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
                "targets": [
                    {
                        "refId": "A",
                        "expr": expr,
                        "legendFormat": legend,
                        "datasource": {"type": "prometheus", "uid": DATASOURCE_UID},
                    }
                ],
            }
        )
    return json.dumps(
        {
            "uid": f"pgp-{spec.scope}",
            "title": f"PostgreSQL {spec.scope}",
            "tags": ["pg-platform", spec.scope],
            "timezone": "utc",
            "schemaVersion": 39,
            "refresh": "30s",
            "time": {"from": "now-6h", "to": "now"},
            "editable": False,
            "panels": items,
        },
        indent=1,
        sort_keys=True,
    )
