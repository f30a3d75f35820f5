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
            assert family in rules_text or family in exporters.DASHBOARD_ONLY_QUERIES, f"no alert rule watches {family}"


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


def test_panels_read_only_exporter_defaults_the_exporter_test_proves(spec):
    """Beyond our pgp_* queries a panel reads postgres_exporter's own gauges only where they are listed (the
    real exporter's test checks it serves each): an exporter upgrade that renames one fails a test, not a graph."""
    drawn = set()
    for _, expr, _, _ in grafana.panels(spec):
        for name in re.findall(r"\b(pg_[a-z_]+)", expr):
            assert name in exporters.EXPORTER_DEFAULT_GAUGES, name
            drawn.add(name)
    assert drawn == set(exporters.EXPORTER_DEFAULT_GAUGES)


@pytest.mark.dataplane
@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is installed by scripts/bootstrap.sh")
def test_the_day_two_panels_show_the_right_numbers(spec, tmp_path):
    """Growth per hour, sessions by state and XID age on series shaped as the exporter serves them: one line per
    database however many members report it, one per member and state."""
    exprs = {title: expr for title, expr, _, _ in grafana.panels(spec)}
    m1, m2, _ = (m.name for m in spec.members)

    def series(metric: str, values: str, **labels: str) -> dict:
        return {"series": metric + "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}", "values": values}

    def sample(value: float, **labels: str) -> dict:
        return {"labels": "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}", "value": value}

    growing = f"{2**30}+{2**20 // 4}x20"  # 1 MiB a minute
    tests = {
        "evaluation_interval": "15s",
        "tests": [
            {
                "interval": "15s",
                "input_series": [
                    series("pg_database_size_bytes", growing, member=m1, datname="app"),
                    series("pg_database_size_bytes", growing, member=m2, datname="app"),
                    series("pg_stat_activity_count", "3x20", member=m1, datname="app", state="active"),
                    series("pg_stat_activity_count", "2x20", member=m1, datname="postgres", state="active"),
                    series("pg_stat_activity_count", "1x20", member=m1, datname="app", state="idle in transaction"),
                    series("pgp_database_xid_age", "7000x20", member=m1, datname="app"),
                    series("pgp_database_xid_age", "6900x20", member=m2, datname="app"),
                ],
                "promql_expr_test": [
                    {"expr": exprs[title], "eval_time": "4m", "exp_samples": samples}
                    for title, samples in {
                        "Database growth per hour": [sample(60 * 2**20, datname="app")],
                        "Client sessions by state": [
                            sample(5, member=m1, state="active"),
                            sample(1, member=m1, state="idle in transaction"),
                        ],
                        grafana.XID_AGE_PANEL: [sample(7000, datname="app")],
                    }.items()
                ],
            }
        ],
    }
    path = tmp_path / "tests.yml"
    path.write_text(yaml.safe_dump(tests, sort_keys=False))
    result = subprocess.run(["promtool", "test", "rules", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
