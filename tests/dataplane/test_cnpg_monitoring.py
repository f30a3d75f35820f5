"""The CloudNativePG monitoring objects: valid against their CRDs, the VM's alerts (less the named left-outs) in
CloudNativePG's metrics, accepted and evaluated by promtool, and kube-prometheus-stack values without secrets."""

from __future__ import annotations

import copy
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from dataplane_support import cloud_spec, promtool_case, run_checked, settings_for

from dataplane import cnpg_monitoring, prometheus
from dataplane.cnpg_monitoring import CNPG_LEFT_OUT, CNPG_METRICS, SELECTOR_LABELS

pytestmark = pytest.mark.dataplane

CRDS = Path("/work/shared/schemas/crds")
NAMESPACE = "pgp-k8sprod"
CLUSTER = "pgp-k8sprod"
LABELS = {"app.kubernetes.io/part-of": "pg-platform", "stage": "k8sprod"}


def _strict(schema: Any) -> Any:
    """The CRD's schema as the API server applies it, strictly: OpenAPI extensions dropped, and objects with
    declared properties refuse unknown fields (the server would prune them silently, hiding a typo)."""
    if isinstance(schema, list):
        return [_strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _strict(v) for k, v in schema.items() if not k.startswith("x-kubernetes-")}
    if (
        "properties" in schema
        and "additionalProperties" not in schema
        and not schema.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    if schema.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
    if isinstance(schema.get("pattern"), str) and schema["pattern"].startswith("^(?i)"):
        # Go's RE2 takes a flag group after the anchor; Python's re only at the start.
        out["pattern"] = "(?i)^" + schema["pattern"][len("^(?i)") :]
    return out


def _validate(obj: dict, crd_file: str) -> None:
    crd = yaml.safe_load((CRDS / crd_file).read_text())
    assert obj["apiVersion"] == f"{crd['spec']['group']}/{crd['spec']['versions'][0]['name']}"
    assert obj["kind"] == crd["spec"]["names"]["kind"]
    schema = _strict(crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"])
    jsonschema.Draft7Validator(schema).validate({**obj, "metadata": {}})
    meta = obj["metadata"]
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", meta["name"]) and len(meta["name"]) <= 63
    assert meta["namespace"] == NAMESPACE and SELECTOR_LABELS.items() <= meta["labels"].items()
    assert LABELS.items() <= meta["labels"].items()


def _rule(spec):
    return cnpg_monitoring.prometheus_rule(spec, CLUSTER, NAMESPACE, LABELS)


def _rules(doc: dict) -> list[dict]:
    return [r for g in doc["groups"] for r in g["rules"]]


def test_strict_validation_refuses_an_unknown_field():
    monitor = cnpg_monitoring.pod_monitor(CLUSTER, NAMESPACE, LABELS)
    broken = copy.deepcopy(monitor)
    broken["spec"]["podMetricsEndpoints"][0]["prot"] = "metrics"
    with pytest.raises(jsonschema.ValidationError):
        _validate(broken, "monitoring.coreos.com_podmonitors.yaml")


@pytest.mark.parametrize("stack", ["prod", "dev"])
def test_objects_validate_against_their_crds(stack):
    _validate(_rule(cloud_spec(stack)), "monitoring.coreos.com_prometheusrules.yaml")
    for monitor in cnpg_monitoring.pod_monitors(CLUSTER, NAMESPACE, LABELS):
        _validate(monitor, "monitoring.coreos.com_podmonitors.yaml")


def test_pod_monitors_select_instances_and_poolers_apart():
    instances, poolers = cnpg_monitoring.pod_monitors(CLUSTER, NAMESPACE, LABELS)
    assert instances["metadata"]["name"] == CLUSTER
    # Pooler pods carry cnpg.io/cluster too: without the role, the instances' monitor would scrape them again.
    assert instances["spec"]["selector"]["matchLabels"] == {"cnpg.io/cluster": CLUSTER, "cnpg.io/podRole": "instance"}
    assert poolers["spec"]["selector"]["matchLabels"]["cnpg.io/podRole"] == "pooler"
    assert poolers["spec"]["selector"]["matchExpressions"] == [{"key": "cnpg.io/poolerName", "operator": "Exists"}]
    for monitor in (instances, poolers):
        endpoint = monitor["spec"]["podMetricsEndpoints"][0]
        assert endpoint["port"] == "metrics"
        assert {"sourceLabels": ["__meta_kubernetes_pod_name"], "targetLabel": "member", "action": "replace"} in (
            endpoint["relabelings"]
        )


@pytest.mark.parametrize("stack", ["prod", "dev"])
def test_promtool_accepts_the_rule_groups(stack, tmp_path):
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump(_rule(cloud_spec(stack))["spec"], sort_keys=False))
    assert "SUCCESS" in run_checked(["promtool", "check", "rules", str(path)]).stdout


@pytest.mark.parametrize("stack", ["prod", "dev"])
def test_same_alerts_as_the_vm_less_the_named_left_outs(stack):
    spec = cloud_spec(stack)
    vm = {r["alert"]: r for r in _rules(prometheus.alert_rules(spec))}
    k8s = {r["alert"]: r for r in _rules(_rule(spec)["spec"])}
    assert set(k8s) == set(vm) - set(CNPG_LEFT_OUT)
    assert set(CNPG_LEFT_OUT) <= set(vm) and all(len(reason) > 40 for reason in CNPG_LEFT_OUT.values())
    for name, rule in k8s.items():
        ours = vm[name]
        assert (rule["for"], rule["labels"]) == (ours["for"], ours["labels"]), name
        assert rule["annotations"]["summary"] == ours["annotations"]["summary"]
        assert rule["annotations"]["runbook_url"] == ours["annotations"]["runbook_url"]
        assert rule["expr"] != ours["expr"]
        # The same threshold, from the same topology: every number of the VM's expression is in ours.
        for number in re.findall(r"(?<![\w.])\d+(?:\.\d+)?(?![\w.])", ours["expr"]):
            assert re.search(rf"(?<![\w.]){re.escape(number)}(?![\w.])", rule["expr"]), (name, number)
        assert "patronictl" not in rule["annotations"]["runbook"] and "systemctl" not in rule["annotations"]["runbook"]


_PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool"}


def metric_names(expr: str) -> set[str]:
    """The metric names an expression selects: label matchers, quoted strings, grouping lists, ranges and
    function names removed."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)
    text = re.sub(r"\{[^}]*\}", "", text)
    text = re.sub(r"\[[^\]]*\]", "", text)
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    names = re.findall(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()", text)
    return {n for n in names if n not in _PROMQL_WORDS}


def test_metric_names_finds_what_an_expression_selects():
    assert metric_names('max by (member) (label_replace(a_b{x="y"}, "m", "$1", "l", "(.+)")) > 3 and on() c') == {
        "a_b",
        "c",
    }


def test_rules_use_only_the_cnpg_vocabulary():
    used: set[str] = set()
    for rule in _rules(_rule(cloud_spec("prod"))["spec"]):
        names = metric_names(rule["expr"])
        assert names and names <= CNPG_METRICS, (rule["alert"], names - CNPG_METRICS)
        # Every selector is narrowed to this Cluster: a Prometheus on Kubernetes scrapes many clusters.
        assert rule["expr"].count(f'namespace="{NAMESPACE}"') >= len(re.findall(r"\w\{", rule["expr"]))
        used |= names
    assert used == CNPG_METRICS  # no metric listed that no rule reads


def test_a_vocabulary_must_cover_every_alert():
    spec = cloud_spec("prod")
    vocabulary = cnpg_monitoring.cnpg_vocabulary(CLUSTER, NAMESPACE)
    exprs = {k: v for k, v in vocabulary.exprs.items() if k != "PostgresDown"}
    partial = prometheus.MetricVocabulary("partial", exprs, vocabulary.left_out)
    with pytest.raises(ValueError, match="PostgresDown"):
        prometheus.cluster_alert_rules(spec.scope, spec.topology, vocabulary=partial)


# --- the rules evaluated on synthetic CloudNativePG series (promtool test rules) ----------------------------


def _pod(n: int) -> str:
    return f"{CLUSTER}-{n}"


def _series(metric: str, values: str, **labels: str) -> dict:
    labels = {"namespace": NAMESPACE, **labels}
    return {"series": metric + "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}", "values": values}


def _in_recovery(n: int, values: str) -> dict:
    return _series("cnpg_pg_replication_in_recovery", values, pod=_pod(n), member=_pod(n))


def test_rules_fire_on_synthetic_cnpg_series(tmp_path):
    spec = cloud_spec("prod")
    doc = _rule(spec)["spec"]
    by_name = {r["alert"]: r for r in _rules(doc)}
    rules_file = tmp_path / "rules.yml"
    rules_file.write_text(yaml.safe_dump(doc))
    lag = int(re.findall(r"> (\d+)$", by_name["PostgresReplicationLag"]["expr"])[0])
    assert lag % 2**20 == 0
    lag_shown = f"{2 * lag // 2**20}Mi"  # how humanize1024 shows the synthetic lag of twice the bound
    now = 10 * 86400  # promtool evaluates time() from 0: backups "completed" at this point are fresh

    def fired(name: str, eval_time: str, labels: dict | None) -> dict:
        if labels is None:
            return {"eval_time": eval_time, "alertname": name, "exp_alerts": []}
        rule = by_name[name]
        member = labels.get("member", "")
        annotations = {
            k: v.replace("{{ $labels.member }}", member).replace("{{ $value | humanize1024 }}", lag_shown)
            for k, v in rule["annotations"].items()
        }
        return {
            "eval_time": eval_time,
            "alertname": name,
            "exp_alerts": [{"exp_labels": {**labels, **rule["labels"]}, "exp_annotations": annotations}],
        }

    healthy = [
        _in_recovery(1, "0x40"),
        _in_recovery(2, "1x40"),
        _in_recovery(3, "1x40"),
        _series("cnpg_pg_replication_streaming_replicas", "2x40", pod=_pod(1), member=_pod(1)),
        _series("cnpg_pg_stat_archiver_last_archived_time", "200x40", pod=_pod(1), member=_pod(1)),
        _series("cnpg_pg_stat_archiver_last_failed_time", "100x40", pod=_pod(1), member=_pod(1)),
        _series(
            "barman_cloud_cloudnative_pg_io_last_available_backup_timestamp", f"{now}x40", pod=_pod(1), member=_pod(1)
        ),
        _series("barman_cloud_cloudnative_pg_io_last_failed_backup_timestamp", "0x40", pod=_pod(1), member=_pod(1)),
    ]
    tests = {
        "rule_files": [str(rules_file)],
        "evaluation_interval": "15s",
        "tests": [
            {  # one primary, two standbys streaming, archiving fine, a backup: nothing fires
                "interval": "15s",
                "input_series": healthy,
                "alert_rule_test": [
                    fired(n, "9m", None)
                    for n in (
                        "PatroniNoPrimary",
                        "PatroniMultiplePrimaries",
                        "WalArchivingFailing",
                        "BackupMetricsMissing",
                        "SynchronousStandbyMissing",
                    )
                ],
            },
            {  # the primary's PostgreSQL is gone and no standby was promoted
                "interval": "15s",
                "input_series": [_in_recovery(2, "1x40"), _in_recovery(3, "1x40")],
                "alert_rule_test": [fired("PatroniNoPrimary", "5m", {})],
            },
            {  # two instances out of recovery at once
                "interval": "15s",
                "input_series": [_in_recovery(1, "0x40"), _in_recovery(2, "0x40"), _in_recovery(3, "1x40")],
                "alert_rule_test": [
                    {
                        **fired("PatroniMultiplePrimaries", "1m", {}),
                        "exp_alerts": [
                            {
                                "exp_labels": by_name["PatroniMultiplePrimaries"]["labels"],
                                "exp_annotations": {
                                    k: v.replace("{{ $value }}", "2")
                                    for k, v in by_name["PatroniMultiplePrimaries"]["annotations"].items()
                                },
                            }
                        ],
                    }
                ],
            },
            {  # the newest archive attempt failed after the last success
                "interval": "15s",
                "input_series": [
                    _series("cnpg_pg_stat_archiver_last_archived_time", "100x40", pod=_pod(2), member=_pod(2)),
                    _series("cnpg_pg_stat_archiver_last_failed_time", "200x40", pod=_pod(2), member=_pod(2)),
                ],
                "alert_rule_test": [
                    fired("WalArchivingFailing", "3m", None),
                    fired("WalArchivingFailing", "6m", {"member": _pod(2)}),
                ],
            },
            {  # the primary sees its standby far behind: the alert names the standby, not the primary
                "interval": "15s",
                "input_series": [
                    _series(
                        "cnpg_pg_stat_replication_replay_diff_bytes",
                        f"{2 * lag}x40",
                        pod=_pod(1),
                        member=_pod(1),
                        application_name=_pod(3),
                    )
                ],
                "alert_rule_test": [fired("PostgresReplicationLag", "3m", {"member": _pod(3)})],
            },
            {  # primary up, no standby streaming: commits wait (dataDurability required)
                "interval": "15s",
                "input_series": [
                    _in_recovery(1, "0x40"),
                    _series("cnpg_pg_replication_streaming_replicas", "0x40", pod=_pod(1), member=_pod(1)),
                ],
                "alert_rule_test": [fired("SynchronousStandbyMissing", "2m", {})],
            },
            {  # the WAL volume of the second instance is nearly full
                "interval": "15s",
                "input_series": [
                    _series("kubelet_volume_stats_available_bytes", "1x40", persistentvolumeclaim=f"{_pod(2)}-wal"),
                    _series("kubelet_volume_stats_capacity_bytes", "100x40", persistentvolumeclaim=f"{_pod(2)}-wal"),
                ],
                "alert_rule_test": [
                    {
                        "eval_time": "6m",
                        "alertname": "DiskFreeCritical",
                        "exp_alerts": [
                            {
                                "exp_labels": {
                                    "namespace": NAMESPACE,
                                    "persistentvolumeclaim": f"{_pod(2)}-wal",
                                    "member": _pod(2),
                                    "mountpoint": f"{_pod(2)}-wal",
                                    **by_name["DiskFreeCritical"]["labels"],
                                },
                                "exp_annotations": {
                                    k: v.replace("{{ $labels.member }}", _pod(2)).replace(
                                        "{{ $labels.mountpoint }}", f"{_pod(2)}-wal"
                                    )
                                    for k, v in by_name["DiskFreeCritical"]["annotations"].items()
                                },
                            }
                        ],
                    }
                ],
            },
        ],
    }
    path = tmp_path / "tests.yml"
    path.write_text(yaml.safe_dump(tests, sort_keys=False))
    result = subprocess.run(["promtool", "test", "rules", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_day_two_alerts_fire_on_synthetic_cnpg_series(tmp_path):
    """Wraparound, old transactions and slots in CloudNativePG's default metrics: the same alerts fire, on the
    primary's slots only, and the standbys' WAL senders are no transaction."""
    spec = cloud_spec("prod")
    doc = _rule(spec)["spec"]
    by_name = {r["alert"]: r for r in _rules(doc)}
    rules_file = tmp_path / "rules.yml"
    rules_file.write_text(yaml.safe_dump(doc))
    slot_bytes = int(re.findall(r"> (\d+) and", by_name["ReplicationSlotRetainingWal"]["expr"])[0])

    def fired(name: str, at: str, labels: dict | None, value: str = "") -> dict:
        return promtool_case(by_name[name], at, labels, value)

    def backends(n: int, state: str, seconds: int, usename: str = "app_rw") -> dict:
        return _series(
            "cnpg_backends_max_tx_duration_seconds",
            f"{seconds}x140",
            pod=_pod(n),
            member=_pod(n),
            datname="app",
            usename=usename,
            application_name="",
            state=state,
        )

    def slot(metric: str, n: int, value: int) -> dict:
        labels = {"pod": _pod(n), "member": _pod(n), "slot_name": "forgotten", "slot_type": "physical"}
        return _series(f"cnpg_pg_replication_slots_{metric}", f"{value}x140", **labels)

    primary_slot = {"namespace": NAMESPACE, "pod": _pod(1), "member": _pod(1), "slot_name": "forgotten"}
    tests = {
        "rule_files": [str(rules_file)],
        "evaluation_interval": "15s",
        "tests": [
            {
                "interval": "15s",
                "input_series": [
                    _series("cnpg_pg_database_xid_age", "1600000000x140", pod=_pod(n), member=_pod(n), datname="app")
                    for n in (1, 2)
                ],
                "alert_rule_test": [
                    fired("TransactionIdWraparoundCritical", "6m", {"datname": "app"}, "1.6G"),
                    fired("TransactionIdWraparoundWarning", "16m", {"datname": "app"}, "1.6G"),
                ],
            },
            {
                "interval": "15s",
                "input_series": [
                    backends(1, "active", 2000),
                    backends(2, "idle in transaction", 400),
                    backends(3, "active", 5000, usename="streaming_replica"),
                ],
                "alert_rule_test": [
                    fired("PostgresLongRunningTransaction", "6m", {"member": _pod(1)}, "33m 20s"),
                    fired("PostgresIdleInTransaction", "2m", {"member": _pod(2)}, "6m 40s"),
                ],
            },
            {
                "interval": "15s",
                "input_series": [
                    _in_recovery(1, "0x140"),
                    _in_recovery(2, "1x140"),
                    slot("active", 1, 0),
                    slot("active", 2, 0),
                    slot("pg_wal_lsn_diff", 1, 2 * slot_bytes),
                    slot("pg_wal_lsn_diff", 2, 2 * slot_bytes),
                ],
                "alert_rule_test": [
                    fired("ReplicationSlotInactive", "31m", {**primary_slot, "slot_type": "physical"}),
                    fired(
                        "ReplicationSlotRetainingWal",
                        "16m",
                        {**primary_slot, "slot_type": "physical"},
                        f"{2 * slot_bytes // 2**30}Gi",
                    ),
                ],
            },
        ],
    }
    path = tmp_path / "tests.yml"
    path.write_text(yaml.safe_dump(tests, sort_keys=False))
    result = subprocess.run(["promtool", "test", "rules", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


# --- kube-prometheus-stack values ----------------------------------------------------------------------------


def _values(stack: str) -> tuple[Any, dict]:
    mon = settings_for(stack).monitoring
    spec = cloud_spec(stack)
    return mon, cnpg_monitoring.kube_prometheus_stack_values(
        spec, CLUSTER, NAMESPACE, mon.receivers, mon.smtp_smarthost, mon.smtp_from
    )


@pytest.mark.parametrize("stack", ["prod", "dev"])
def test_values_carry_no_webhook_url_and_mount_them_from_a_secret(stack):
    mon, values = _values(stack)
    spec = cloud_spec(stack)
    text = json.dumps(values)
    hooks = [r for r in mon.receivers if r.webhook_url]
    assert hooks, "the stack files give every stage a webhook receiver"
    for r in hooks:
        assert r.webhook_url not in text
    secret_name = cnpg_monitoring.webhook_secret_name(spec)
    assert values["alertmanager"]["alertmanagerSpec"]["secrets"] == [secret_name]
    receivers = {r["name"]: r for r in values["alertmanager"]["config"]["receivers"]}
    secret = cnpg_monitoring.webhook_secret(spec, mon.receivers, NAMESPACE, LABELS)
    assert secret is not None and secret["metadata"]["name"] == secret_name
    for r in hooks:
        (hook,) = receivers[r.name]["webhook_configs"]
        assert "url" not in hook
        directory, key = hook["url_file"].rsplit("/", 1)
        assert directory == f"/etc/alertmanager/secrets/{secret_name}"
        assert secret["stringData"][key] == r.webhook_url


def test_webhook_secret_refuses_an_odd_url():
    from stacks.settings import Receiver

    with pytest.raises(ValueError, match="not a single https"):
        cnpg_monitoring.webhook_secret(
            cloud_spec("dev"), [Receiver("hook", None, "http://example.com/x")], NAMESPACE, LABELS
        )
    assert cnpg_monitoring.webhook_secret(cloud_spec("dev"), [Receiver("m", "a@example.com", None)], "x", {}) is None


@pytest.mark.parametrize("stack", ["prod", "dev"])
def test_amtool_routes_the_values_config_by_severity(stack, tmp_path):
    """Debian's amtool (0.25) predates url_file: the routing is checked with placeholder URLs in its place."""
    mon, values = _values(stack)
    config = copy.deepcopy(values["alertmanager"]["config"])
    for r in config["receivers"]:
        for hook in r.get("webhook_configs", []):
            hook["url"] = "https://example.invalid/" + hook.pop("url_file").rsplit("/", 1)[1]
    path = tmp_path / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config))
    run_checked(["amtool", "check-config", str(path)])
    out = run_checked(
        ["amtool", "config", "routes", "test", f"--config.file={path}", "severity=critical", "alertname=X"]
    ).stdout
    assert {x.strip() for x in out.split(",")} == {r.name for r in mon.receivers}


@pytest.mark.parametrize("stack", ["prod", "dev"])
def test_values_select_our_objects_and_keep_secure_defaults(stack):
    _, values = _values(stack)
    spec = cloud_spec(stack)
    prom = values["prometheus"]["prometheusSpec"]
    rule, monitors = _rule(spec), cnpg_monitoring.pod_monitors(CLUSTER, NAMESPACE, LABELS)
    for selector, objects in ((prom["ruleSelector"], [rule]), (prom["podMonitorSelector"], monitors)):
        for obj in objects:
            assert selector["matchLabels"].items() <= obj["metadata"]["labels"].items()
    assert prom["podMonitorSelectorNilUsesHelmValues"] is False and prom["ruleSelectorNilUsesHelmValues"] is False
    assert prom["retention"] == f"{spec.topology.retention_full_days.value}d"
    grafana = values["grafana"]
    assert "adminPassword" not in grafana
    admin = cnpg_monitoring.grafana_admin_metadata(spec, "pgp-monitoring", LABELS)
    assert grafana["admin"]["existingSecret"] == admin["name"] and admin["namespace"] == "pgp-monitoring"
    assert grafana["grafana.ini"]["auth.anonymous"]["enabled"] is False
    (dashboards,) = grafana["dashboards"].values()
    for dashboard in dashboards.values():
        panels = json.loads(dashboard["json"])["panels"]
        assert panels and {p["datasource"]["uid"] for p in panels} == {grafana["sidecar"]["datasources"]["uid"]}
    assert values["defaultRules"] == {"create": False}


def test_values_differ_by_stage_retention():
    assert (
        _values("prod")[1]["prometheus"]["prometheusSpec"]["retention"]
        != (_values("dev")[1]["prometheus"]["prometheusSpec"]["retention"])
    )
