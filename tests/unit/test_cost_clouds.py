"""The cost estimate on every cloud: each root stack is estimated with every type classified, the Azure and GCP
quantities are the graph's, a few lines are checked against hand-computed figures, and an unpriced size is refused
with the file to add it to."""

from __future__ import annotations

import argparse
import copy
import json

import pytest

from stacks.errors import UserError
from stacks.files import engine_config, namespace_values, stack_names
from stacks.offline import settings_for_stack
from tools import cost
from tools.cost import azure, gcp, kubernetes
from tools.runner import run_stack

H = cost.HOURS_PER_MONTH
CLOUD_STACKS = ("azure-dev", "azure-prod", "gcp-dev", "gcp-prod")


@pytest.fixture(scope="module")
def plans():
    return {stack: run_stack(stack) for stack in CLOUD_STACKS}


def _estimate(stack, plan, **kwargs):
    config = engine_config(stack)
    cloud = cost.cloud_of(config)
    return cost.estimate(plan, config[cloud.region_key], cloud=cloud, **kwargs)


@pytest.fixture(scope="module")
def estimates(plans):
    return {stack: _estimate(stack, plan) for stack, plan in plans.items()}


def _line(est, prefix):
    found = [line for line in est.lines if line.item.startswith(prefix)]
    assert len(found) == 1, (prefix, [line.item for line in est.lines])
    return found[0]


@pytest.mark.parametrize("stack", stack_names())
def test_every_root_stack_is_estimated_with_every_type_classified(plans, stack):
    plan = plans.get(stack) or run_stack(stack)
    config = engine_config(stack)
    cloud = cost.cloud_of(config)
    assert cost.unclassified(plan, cloud) == []
    est = cost.estimate(plan, config[cloud.region_key], cloud=cloud)
    assert est.lines and est.total > 0
    assert config[cloud.region_key] in cloud.prices, "the stack's region has a price table"


def test_each_stack_is_priced_by_its_own_cloud():
    assert {cost.cloud_of(engine_config(s)).name for s in stack_names()} == {"aws", "azure", "gcp", "kubernetes"}
    assert cost.CLOUDS["aws"] is cost.aws.CLOUD
    assert cost.CLOUDS["kubernetes"] is kubernetes.CLOUD


@pytest.mark.parametrize("cloud", list(cost.CLOUDS.values()), ids=list(cost.CLOUDS))
def test_a_type_is_either_billed_or_not(cloud):
    assert not set(cloud.billed) & set(cloud.not_billed)


@pytest.mark.parametrize("cloud", list(cost.CLOUDS.values()), ids=list(cost.CLOUDS))
def test_every_price_says_where_it_is_from_and_none_is_invented(cloud):
    for table in cloud.prices.values():
        for key, price in table.items():
            assert price.source, key
            if price.usd is None:
                assert price.source.startswith("not found"), key
            else:
                assert price.usd > 0 and "." in price.source, key


def test_azure_prod_counts_match_the_graph(estimates, plans):
    est, plan = estimates["azure-prod"], plans["azure-prod"]
    assert _line(est, "VM Standard_E4ds_v5 x3").quantity == 3 * H  # the members
    assert _line(est, "VM Standard_D2s_v5 x1").quantity == H  # the monitoring node
    assert _line(est, "Premium SSD v2 data disks x3").quantity == 3 * 512
    assert _line(est, "Premium SSD v2 IOPS above 3,000").quantity == 3 * (6000 - 3000)
    assert _line(est, "Premium SSD v2 throughput above 125 MBps").quantity == 0
    assert _line(est, "Premium SSD P4 OS disks x4").quantity == 4  # 30 GiB OS disks bill as P4 (32 GiB)
    assert _line(est, "Premium SSD P6 data disks x1").quantity == 1  # the monitoring node's 64 GiB
    assert _line(est, "Private DNS zones x2").quantity == 2
    assert _line(est, "Metric alerts x5 (5 time series)").quantity == 5
    assert len(plan.by_type("azure-native:monitor:MetricAlert")) == 5
    assert _line(est, "Blob Storage hot ZRS backup storage (assumed 512 GB)").quantity == 512


def test_azure_prod_hand_computed_lines(estimates):
    est = estimates["azure-prod"]
    lb = _line(est, "Standard Load Balancer x1")  # its rules are within the 5 the hourly rate covers
    assert (lb.quantity, lb.unit_price, lb.monthly) == (H, 0.025, 18.25)
    assert _line(est, "NAT gateway x1").monthly == 32.85  # 730 h x $0.045
    assert _line(est, "Standard static public IPv4 x1").monthly == 3.65
    assert _line(est, "Private endpoints x1").monthly == 7.30
    assert not any(line.item.startswith("Load balancer rules beyond") for line in est.lines)


def test_azure_dev_baseline_iops_is_free(estimates):
    est = estimates["azure-dev"]
    assert _line(est, "VM Standard_D2s_v5 x1").quantity == H
    assert _line(est, "VM Standard_B2s x1").quantity == H
    assert _line(est, "Premium SSD v2 data disks x1").quantity == 64
    assert _line(est, "Premium SSD v2 IOPS above 3,000").quantity == 0


def test_gcp_prod_counts_and_hand_computed_lines(estimates, plans):
    est, plan = estimates["gcp-prod"], plans["gcp-prod"]
    members = _line(est, "n2-highmem-4 x3 (Linux, on-demand)")
    assert (members.quantity, members.monthly) == (3 * H, 739.29)  # 2,190 h x $0.337576
    assert _line(est, "e2-standard-2 x1 (Linux, on-demand)").monthly == 63.02  # 730 h x $0.08633556
    data = _line(est, "pd-ssd postgres-data disks x3")
    assert (data.quantity, data.monthly) == (3 * 500, 306.00)  # 1,500 GB x $0.204
    assert _line(est, "pd-balanced postgres-boot disks x3").quantity == 3 * 20
    assert _line(est, "Forwarding rules x3").quantity == 3 * H
    nat = _line(est, "Cloud NAT x1 serving 4 VMs")
    assert (nat.quantity, nat.monthly) == (4 * H, 4.09)  # 2,920 VM-hours x $0.0014
    assert _line(est, "External IPv4 addresses x1").quantity == H  # the NAT's; every Address is internal
    assert _line(est, "KMS software keys x3").monthly == 0.18
    versions = len(plan.by_type("gcp:secretmanager/secretVersion:SecretVersion"))
    assert _line(est, f"Secret Manager active versions x{versions}").quantity == versions  # one location each
    assert _line(est, "Cloud DNS managed zones x1").monthly == 0.20
    conditions = sum(len(p.inputs["conditions"]) for p in plan.by_type("gcp:monitoring/alertPolicy:AlertPolicy"))
    assert _line(est, "Alerting policies").quantity == conditions
    assert _line(est, "Cloud Storage Standard backup storage (assumed 500 GB)").monthly == 11.50  # x $0.023


def test_gcp_dev_counts(estimates):
    est = estimates["gcp-dev"]
    nodes = _line(est, "e2-standard-2 x2 (Linux, on-demand)")
    assert (nodes.quantity, nodes.monthly) == (2 * H, 126.05)
    assert _line(est, "pd-balanced postgres-data disks x1").quantity == 50


@pytest.mark.parametrize("stack", CLOUD_STACKS)
def test_total_is_the_sum_of_its_priced_lines_and_says_what_it_leaves_out(estimates, stack):
    est = estimates[stack]
    priced = [line for line in est.lines if line.unit_price is not None]
    assert priced
    for line in priced:
        assert line.monthly == round(line.quantity * line.unit_price, 2)
    assert est.total == round(sum(line.monthly for line in priced), 2)
    data = est.to_json()
    assert json.loads(json.dumps(data)) == data and data["not_modelled"]
    text = cost.render_text(est)
    assert f"${est.total:,.2f}" in text and "assumptions:" in text
    for item in est.excluded:
        assert item in text


@pytest.mark.parametrize(
    ("stack", "type_token", "path", "value", "file"),
    [
        (
            "azure-dev",
            "azure-native:compute:VirtualMachine",
            ("hardwareProfile", "vmSize"),
            "Standard_E8ds_v5",
            "azure",
        ),
        ("gcp-dev", "gcp:compute/instance:Instance", ("machineType",), "n2-standard-8", "gcp"),
    ],
)
def test_an_unpriced_size_is_refused_with_the_file_to_add_it_to(plans, stack, type_token, path, value, file):
    plan = copy.deepcopy(plans[stack])
    record = plan.by_type(type_token)[0]
    target = record.inputs
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(UserError, match=rf"{value}.*tools/cost/{file}\.py"):
        _estimate(stack, plan)


def test_the_cli_reports_a_refusal_without_a_traceback(plans, monkeypatch, capsys):
    plan = copy.deepcopy(plans["azure-dev"])
    plan.by_type("azure-native:compute:VirtualMachine")[0].inputs["hardwareProfile"]["vmSize"] = "Standard_E8ds_v5"
    monkeypatch.setattr("tools.runner.run_stack", lambda stack: plan)
    assert cost.main(argparse.Namespace(stack=["azure-dev"], json=False, s3_gb=None)) == 2
    assert "Standard_E8ds_v5" in capsys.readouterr().err


def test_backup_storage_assumption_is_overridable_on_every_cloud(plans):
    for stack in ("azure-prod", "gcp-prod"):
        est = _estimate(stack, plans[stack], s3_gb=1234)
        assert _line(est, "Blob Storage" if stack.startswith("azure") else "Cloud Storage").quantity == 1234
        assert any("1234 GB" in a for a in est.assumptions)


@pytest.mark.parametrize(("gib", "tier"), [(30, "P4"), (32, "P4"), (33, "P6"), (64, "P6"), (65, "P10"), (512, "P20")])
def test_premium_ssd_bills_the_tier_its_size_falls_into(gib, tier):
    assert azure.premium_tier(gib) == tier


def test_metric_alert_series_multiply_by_scopes_and_dimension_values(plans):
    alert = copy.deepcopy(plans["azure-prod"].by_type("azure-native:monitor:MetricAlert")[0])
    alert.inputs["scopes"] = ["a", "b"]
    alert.inputs["criteria"]["allOf"][0]["dimensions"] = [{"name": "FrontendPort", "values": ["5432", "6432"]}]
    assert azure.alert_time_series(alert) == 4


def test_gcp_prices_the_types_the_stacks_use():
    used = {engine_config(s)["pg-platform:cluster"] for s in ("gcp-dev", "gcp-prod")}
    types = {t for c in used for t in (json.loads(c)["instance_type"], json.loads(c)["monitoring_instance_type"])}
    assert types <= gcp.priced_types()


def test_kubernetes_prices_the_hosts_resources_and_the_capacity_the_pods_occupy():
    plan = run_stack("k8s-prod")
    est = _estimate("k8s-prod", plan)
    assert _line(est, "KMS customer keys x1").monthly == 1.0  # the host's bucket key, at aws.py's price
    nodes = _line(est, "EC2 r7i.xlarge x3")
    assert nodes.quantity == 3 * H and "(cluster capacity)" in nodes.item
    assert _line(est, "EBS gp3 postgres-data volumes x3").quantity == 3 * 500  # storage.size 500Gi
    wal = _line(est, "EBS gp3 postgres-wal volumes x3")
    assert (wal.quantity, wal.unit_price, wal.monthly) == (3 * 100, 0.0952, 28.56)  # walStorage.size 100Gi
    assert _line(est, "S3 Standard backup storage (assumed 500 GB)").quantity == 500
    assert kubernetes.CLOUD.not_billed["kubernetes:postgresql.cnpg.io/v1:Cluster"].startswith("a Kubernetes")


def test_kubernetes_refuses_an_unpriced_node_type_with_the_file_to_add_it_to(monkeypatch):
    plan = run_stack("k8s-dev")
    monkeypatch.setitem(cost.aws.PRICES, "eu-central-1", {"kms:key": cost.aws.PRICES["eu-central-1"]["kms:key"]})
    with pytest.raises(UserError, match=r"m7i\.large.*tools/cost/aws\.py"):
        _estimate("k8s-dev", plan)


@pytest.mark.parametrize(("size", "gib"), [("500Gi", 500.0), ("1Ti", 1024.0), ("512Mi", 0.5)])
def test_kubernetes_reads_storage_quantities_in_gib(size, gib):
    assert kubernetes.gib(size, "x") == gib


def test_kubernetes_refuses_a_storage_unit_it_cannot_read():
    with pytest.raises(UserError, match=r"tools/cost/kubernetes\.py"):
        kubernetes.gib("lots", "Cluster spec.storage.size")


@pytest.mark.parametrize(
    ("stack", "node", "volume", "backup"),
    [
        ("k8s-azure-dev", "VM Standard_D2s_v5 x1", "Premium SSD v2 postgres-data volumes x1", "Blob Storage hot ZRS"),
        (
            "k8s-gcp-dev",
            "GCE e2-standard-2 x1",
            "SSD persistent disk postgres-data volumes x1",
            "Cloud Storage Standard",
        ),
    ],
)
def test_kubernetes_on_aks_and_gke_prices_with_the_hosts_tables(stack, node, volume, backup):
    plan = run_stack(stack)
    config = engine_config(stack)
    cloud = cost.cloud_of(config)
    assert cloud.name == "kubernetes" and cloud.region_key == settings_region_key(stack)
    est = _estimate(stack, plan)
    data_gib = settings_for_stack(stack).cluster.disk_size_gb
    assert _line(est, node).quantity == H and "(cluster capacity)" in _line(est, node).item
    assert _line(est, volume).quantity == data_gib
    # The backups are sized on the instance's PVC, not on the (absent) VM volumes.
    assert _line(est, f"{backup} backup storage (assumed {data_gib:g} GB)").quantity == data_gib


def settings_region_key(stack: str) -> str:
    from stacks.settings import cloud_of

    return cloud_of(namespace_values(engine_config(stack))).region_key
