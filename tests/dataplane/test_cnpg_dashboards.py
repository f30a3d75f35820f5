"""The Kubernetes dashboard: the VM dashboard's panels, in its order, drawn in CloudNativePG's metrics narrowed to
one Cluster (the left-out ones named with why), accepted by promtool and showing the right numbers on synthetic
CloudNativePG series; the VM dashboard keeps its own metrics."""

from __future__ import annotations

import json
import re
import subprocess

import pytest
import yaml
from dataplane_support import cloud_spec, settings_for
from test_cnpg_monitoring import CLUSTER, NAMESPACE, metric_names

from dataplane import cnpg_monitoring, grafana
from dataplane.cnpg_monitoring import CNPG_DASHBOARD_METRICS, CNPG_METRICS, CNPG_PANELS_LEFT_OUT

pytestmark = pytest.mark.dataplane

CA_NOT_AFTER = 2_000_000_000
# What only the VM flavour's exporters, Patroni and node_exporter produce.
VM_ONLY = re.compile(r"\b(patroni_|pgp_|node_|pg_stat_database_)")


def _panel_set(stack: str = "prod", ca_not_after: int | None = CA_NOT_AFTER) -> grafana.PanelSet:
    return cnpg_monitoring.cnpg_panel_set(cloud_spec(stack), CLUSTER, NAMESPACE, ca_not_after)


def _vm_titles(stack: str = "prod") -> list[str]:
    return [p.title for p in grafana.panels(cloud_spec(stack))]


@pytest.mark.parametrize("ca_not_after", [CA_NOT_AFTER, None])
def test_panels_are_the_vm_dashboards_in_its_order_less_the_named_left_outs(ca_not_after):
    panel_set = _panel_set(ca_not_after=ca_not_after)
    vm = _vm_titles()
    assert [p.title for p in panel_set.panels] == [t for t in vm if t not in panel_set.left_out]
    assert set(panel_set.left_out) <= set(CNPG_PANELS_LEFT_OUT) <= set(vm)
    assert all(len(reason) > 40 for reason in CNPG_PANELS_LEFT_OUT.values())


def test_the_ca_validity_is_drawn_once_known_and_named_as_left_out_before():
    known, unknown = _panel_set(), _panel_set(ca_not_after=None)
    top = {grafana.TOP_STATEMENTS_PANEL: CNPG_PANELS_LEFT_OUT[grafana.TOP_STATEMENTS_PANEL]}
    assert known.left_out == top
    assert unknown.left_out == {grafana.CERTIFICATE_PANEL: CNPG_PANELS_LEFT_OUT[grafana.CERTIFICATE_PANEL], **top}
    (certificate,) = [p for p in known.panels if p.title == grafana.CERTIFICATE_PANEL]
    assert str(CA_NOT_AFTER) in certificate.expr and certificate.unit == "s"


@pytest.mark.parametrize("stack", ["prod", "dev"])
def test_panels_read_only_cloudnativepg_kubelet_and_prometheus_metrics(stack):
    known = CNPG_METRICS | CNPG_DASHBOARD_METRICS
    used: set[str] = set()
    for panel in _panel_set(stack).panels:
        names = metric_names(panel.expr)
        if panel.title == grafana.CERTIFICATE_PANEL:  # the CA's expiry is a constant: no series to read
            assert names == set()
            continue
        assert names and names <= known, (panel.title, names - known)
        assert not VM_ONLY.search(panel.expr), panel.title
        used |= names
    assert used >= CNPG_DASHBOARD_METRICS  # no metric listed for the panels that none reads


def test_every_selector_is_narrowed_to_the_cluster():
    narrowed = re.compile(rf'namespace(?:="{NAMESPACE}"|=~"{NAMESPACE}\|")')
    for panel in _panel_set().panels:
        selectors = re.findall(r"\w\{", panel.expr)
        assert selectors or panel.title == grafana.CERTIFICATE_PANEL, panel.title
        assert len(narrowed.findall(panel.expr)) >= len(selectors), panel.title
        if selectors:
            assert "pod=" in panel.expr or "persistentvolumeclaim=" in panel.expr or "ALERTS{" in panel.expr


def test_thresholded_panels_are_the_alerts_expressions():
    """The dashboard is for the trends behind the alerts: where an alert thresholds a quantity, its panel draws
    that same quantity."""
    exprs = {p.title: p.expr for p in _panel_set().panels}
    rules = {
        r["alert"]: r["expr"]
        for g in cnpg_monitoring.alert_rules(cloud_spec("prod"), CLUSTER, NAMESPACE, ca_not_after=CA_NOT_AFTER)[
            "groups"
        ]
        for r in g["rules"]
    }
    vm = _vm_titles()
    pairs = {
        "Connections used": "PostgresConnectionSaturation",
        "WAL archiving failing": "WalArchivingFailing",
        "Time since the last backup": "FullBackupTooOld",
        grafana.CERTIFICATE_PANEL: "CertificateExpiresSoon",
        grafana.XID_AGE_PANEL: "TransactionIdWraparoundWarning",
    }
    assert set(pairs) <= set(vm)
    for title, alert in pairs.items():
        assert rules[alert].startswith(exprs[title] + " "), (title, alert)
    (disk,) = [t for t in vm if t.startswith("Free data disk")]
    assert exprs[disk] == f"min by (member) ({rules['DiskFreeCritical'].rsplit(' < ', 1)[0]})"


def test_promtool_parses_every_panel_query(tmp_path):
    panels = [*_panel_set().panels, *_panel_set(ca_not_after=None).panels]
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [{"record": f"dashboard:panel_{i}", "expr": p.expr} for i, p in enumerate(panels)],
            }
        ]
    }
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump(rules))
    result = subprocess.run(["promtool", "check", "rules", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(panels)} rules found" in result.stdout


def _pod(n: int) -> str:
    return f"{CLUSTER}-{n}"


def _series(metric: str, value: float, **labels: str) -> dict:
    labels = {"namespace": NAMESPACE, **labels}
    return {
        "series": metric + "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}",
        "values": f"{value}x20",
    }


def _instance(metric: str, n: int, value: float, **labels: str) -> dict:
    return _series(metric, value, pod=_pod(n), member=_pod(n), **labels)


def test_panels_show_the_right_numbers_on_synthetic_cnpg_series(tmp_path):
    """promtool evaluates the panels' queries on series shaped as CloudNativePG's exporter and the kubelet
    export them, with another Cluster's series in the same Prometheus that no panel may show."""
    exprs = {p.title: p.expr for p in _panel_set().panels}
    (disk,) = [t for t in exprs if t.startswith("Free data disk")]
    other = {"namespace": "other", "pod": "other-1", "member": "other-1"}
    series = [
        _instance("cnpg_pg_replication_in_recovery", 1, 0),
        _instance("cnpg_pg_replication_in_recovery", 2, 1),
        _series("cnpg_pg_replication_in_recovery", 0, **other),
        _instance("cnpg_backends_total", 1, 30, usename="app", datname="app", application_name="", state="idle"),
        _instance("cnpg_backends_total", 1, 20, usename="app", datname="app", application_name="", state="active"),
        _instance(
            "cnpg_backends_total", 1, 2, usename="streaming_replica", datname="", application_name=_pod(2), state="x"
        ),
        _instance("cnpg_pg_settings_setting", 1, 103, name="max_connections"),
        _instance("cnpg_pg_settings_setting", 1, 3, name="superuser_reserved_connections"),
        _instance("cnpg_pg_stat_archiver_last_archived_time", 1, 100),
        _instance("cnpg_pg_stat_archiver_last_failed_time", 1, 200),
        _instance("cnpg_pg_stat_replication_replay_diff_bytes", 1, 4096, application_name=_pod(2), usename="x"),
        # The data claim has more room than the WAL claim: the member's line is the fuller one.
        _series("kubelet_volume_stats_available_bytes", 50, persistentvolumeclaim=_pod(2)),
        _series("kubelet_volume_stats_capacity_bytes", 100, persistentvolumeclaim=_pod(2)),
        _series("kubelet_volume_stats_available_bytes", 10, persistentvolumeclaim=f"{_pod(2)}-wal"),
        _series("kubelet_volume_stats_capacity_bytes", 100, persistentvolumeclaim=f"{_pod(2)}-wal"),
        _series("kubelet_volume_stats_available_bytes", 1, namespace="other", persistentvolumeclaim="other-1"),
        _series("kubelet_volume_stats_capacity_bytes", 100, namespace="other", persistentvolumeclaim="other-1"),
        _instance("cnpg_pg_database_xid_age", 1, 7000, datname="app"),
        _instance("cnpg_pg_database_xid_age", 2, 6000, datname="app"),
        _series("cnpg_pg_database_xid_age", 9000, datname="app", **other),
    ]
    # A database growing by 1 MiB a minute: 60 MiB an hour.
    series.append(
        {
            "series": f'cnpg_pg_database_size_bytes{{namespace="{NAMESPACE}",pod="{_pod(1)}",member="{_pod(1)}",'
            'datname="app"}',
            "values": f"{2**30}+{2**20 // 4}x20",
        }
    )

    def sample(value: float, **labels: str) -> dict:
        return {"labels": "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}", "value": value}

    expectations = {
        "Primary per member": [sample(1, member=_pod(1)), sample(0, member=_pod(2))],
        "Connections used": [sample(0.5, member=_pod(1))],
        "WAL archiving failing": [sample(1, member=_pod(1))],
        "Lag seen by the primary": [sample(4096, application_name=_pod(2))],
        disk: [sample(0.1, member=_pod(2))],
        "Database growth per hour": [sample(60 * 2**20, datname="app")],
        "Client sessions by state": [
            sample(20, member=_pod(1), state="active"),
            sample(30, member=_pod(1), state="idle"),
        ],
        grafana.XID_AGE_PANEL: [sample(7000, datname="app")],
    }
    tests = {
        "evaluation_interval": "15s",
        "tests": [
            {
                "interval": "15s",
                "input_series": series,
                "promql_expr_test": [
                    {"expr": exprs[title], "eval_time": "2m", "exp_samples": samples}
                    for title, samples in expectations.items()
                ],
            }
        ],
    }
    path = tmp_path / "tests.yml"
    path.write_text(yaml.safe_dump(tests, sort_keys=False))
    result = subprocess.run(["promtool", "test", "rules", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("stack", ["prod", "dev"])
def test_the_values_ship_the_cloudnativepg_dashboard_and_the_vm_keeps_its_own(stack):
    spec, mon = cloud_spec(stack), settings_for(stack).monitoring
    values = cnpg_monitoring.kube_prometheus_stack_values(
        spec, CLUSTER, NAMESPACE, mon.receivers, mon.smtp_smarthost, mon.smtp_from, ca_not_after=CA_NOT_AFTER
    )
    (dashboards,) = values["grafana"]["dashboards"].values()
    shipped = json.loads(dashboards[spec.scope]["json"])
    ours = _panel_set(stack)
    assert [p["targets"][0]["expr"] for p in shipped["panels"]] == [p.expr for p in ours.panels]
    assert [p["fieldConfig"]["defaults"]["unit"] for p in shipped["panels"]] == [p.unit for p in ours.panels]
    vm = json.loads(grafana.render_dashboard(spec))
    assert (shipped["uid"], shipped["title"]) == (vm["uid"], vm["title"])
    assert [p["targets"][0]["expr"] for p in vm["panels"]] == [p.expr for p in grafana.panels(spec)]
    assert not any("cnpg_" in p["targets"][0]["expr"] for p in vm["panels"])
