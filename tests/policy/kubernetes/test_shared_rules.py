"""The shared HA and alert rules on a CloudNativePG stack, through the real pack: k8s-prod passes, and each way of
breaking what they read of a Cluster (instances, zone spread, the WAL archiver, PodMonitor, PrometheusRule) fails
with the rule that reads it."""

from __future__ import annotations

import pytest

from tools.records import Plan

CLUSTER = "kubernetes:postgresql.cnpg.io/v1:Cluster"


def cluster_spec(plan: Plan) -> dict:
    (cluster,) = plan.by_type(CLUSTER)
    return cluster.inputs["spec"]


def drop(token: str):
    def edit(plan: Plan) -> None:
        plan.resources = [r for r in plan.resources if r.type != token]

    return edit


def test_the_stack_passes(analyze):
    assert analyze().mandatory == []


CASES = {
    "one instance": (lambda p: cluster_spec(p).update(instances=1), "PGP-HA-001", "1 instance(s)"),
    "no zone rule": (
        lambda p: cluster_spec(p).update(affinity={}, topologySpreadConstraints=[]),
        "PGP-HA-001",
        "guaranteed 1 zone(s)",
    ),
    "soft spread only": (
        lambda p: cluster_spec(p).update(
            affinity={"podAntiAffinityType": "preferred", "topologyKey": "topology.kubernetes.io/zone"},
            topologySpreadConstraints=[
                {**cluster_spec(p)["topologySpreadConstraints"][0], "whenUnsatisfiable": "ScheduleAnyway"}
            ],
        ),
        "PGP-HA-001",
        "guaranteed 1 zone(s)",
    ),
    "no WAL archiver": (lambda p: cluster_spec(p).update(plugins=[]), "PGP-HA-004", "no WAL archiver"),
    "archiver names another store": (
        lambda p: cluster_spec(p)["plugins"][0]["parameters"].update(barmanObjectName="elsewhere"),
        "PGP-HA-004",
        "ObjectStore elsewhere",
    ),
    "no PodMonitor": (drop("kubernetes:monitoring.coreos.com/v1:PodMonitor"), "PGP-HA-004", "no PodMonitor"),
    "no PrometheusRule": (
        drop("kubernetes:monitoring.coreos.com/v1:PrometheusRule"),
        "PGP-MON-001",
        "no alert for no-primary",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_breaking_it_fails_with_the_rule(analyze, case):
    edit, rule, expected = CASES[case]
    found = [d.detail for d in analyze(edit).mandatory if d.policy == rule]
    assert any(expected in detail for detail in found), (case, found)


OBJECT_STORE = "kubernetes:barmancloud.cnpg.io/v1:ObjectStore"


def store_spec(plan: Plan) -> dict:
    (store,) = plan.by_type(OBJECT_STORE)
    return store.inputs["spec"]


def unprotect(token: str):
    def edit(plan: Plan) -> None:
        for r in plan.by_type(token):
            r.protect = False

    return edit


def unlabel(token: str, label: str):
    def edit(plan: Plan) -> None:
        for r in plan.by_type(token):
            r.inputs["metadata"]["labels"].pop(label)

    return edit


SHARED_CASES = {
    "short recovery window": (lambda p: store_spec(p).update(retentionPolicy="2w"), "PGP-BAK-001", "keeps 14 day(s)"),
    "no recovery window": (lambda p: store_spec(p).pop("retentionPolicy"), "PGP-BAK-001", "retentionPolicy is unset"),
    "cluster unprotected": (unprotect(CLUSTER), "PGP-PRT-001", "Cluster::pgp-k8sprod-cluster-cluster is not protected"),
    "pooler without owner": (
        unlabel("kubernetes:postgresql.cnpg.io/v1:Pooler", "owner"),
        "PGP-TAG-001",
        "missing tag(s) owner",
    ),
}


@pytest.mark.parametrize("case", sorted(SHARED_CASES))
def test_shared_rules_read_kubernetes_objects(analyze, case):
    edit, rule, expected = SHARED_CASES[case]
    found = [d.detail for d in analyze(edit).mandatory if d.policy == rule]
    assert any(expected in detail for detail in found), (case, found)
