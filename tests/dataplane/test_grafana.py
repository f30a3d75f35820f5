"""The Grafana dashboard: valid JSON wired to the provisioned datasource, and PromQL the real promtool parses
over metrics that the exporters and rules of this project actually produce."""

import json
import re
import shutil
import subprocess

import pytest
import yaml
from dataplane_support import cloud_spec

from dataplane import exporters, grafana, prometheus


@pytest.fixture(scope="module")
def spec():
    return cloud_spec("prod")


def test_dashboard_uses_the_provisioned_datasource(spec):
    dashboard = json.loads(grafana.render_dashboard(spec))
    datasource = yaml.safe_load(grafana.render_datasource())["datasources"][0]
    assert dashboard["uid"] == "pgp-pgp-prod" and dashboard["panels"]
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == datasource["uid"]
        assert panel["targets"][0]["expr"]
    assert (
        yaml.safe_load(grafana.render_dashboard_provider())["providers"][0]["options"]["path"] == grafana.DASHBOARDS_DIR
    )


def test_panels_read_metrics_the_platform_produces(spec):
    """A panel on a metric nobody exports is a blank graph on the worst day: every pgp_* name must come from
    the exporter queries or the node metrics script, and the rules must watch the same families."""
    produced = {
        f"{query}_{column}"
        for query, body in exporters.CUSTOM_QUERIES.items()
        for metric in body["metrics"]
        for column in metric
    }
    produced |= set(re.findall(r"\b(pgp_[a-z_]+)", exporters.render_node_metrics_script()))
    rules_text = prometheus.render_alert_rules(spec)
    for _, expr, _, _ in grafana.panels(spec):
        for name in re.findall(r"\b(pgp_[a-z_]+)", expr):
            assert name in produced, f"{name} is not exported"
            family = next((q for q in exporters.CUSTOM_QUERIES if name.startswith(q + "_")), name)
            assert family in rules_text, f"no alert rule watches {family}"


@pytest.mark.dataplane
@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is installed by scripts/bootstrap.sh")
def test_promtool_parses_every_panel_query(spec, tmp_path):
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"dashboard:panel_{i}", "expr": expr}
                    for i, (_, expr, _, _) in enumerate(grafana.panels(spec))
                ],
            }
        ]
    }
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump(rules))
    result = subprocess.run(["promtool", "check", "rules", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(grafana.panels(spec))} rules found" in result.stdout
