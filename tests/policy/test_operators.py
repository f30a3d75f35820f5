"""The shared HA and alert rules on a CloudNativePG stack, through the real pack: k8s-prod passes, and each way of
breaking what they read of a Cluster (instances, zone spread, the WAL archiver, PodMonitor, PrometheusRule) fails
with the rule that reads it."""

from __future__ import annotations

import copy

import pytest

from stacks.files import engine_config
from tools import plan as plan_tool
from tools.analyzer import PolicyAnalyzer, load_pack_config
from tools.records import Plan
from tools.runner import run_stack

STACK = "k8s-prod"
CLUSTER = "kubernetes:postgresql.cnpg.io/v1:Cluster"


@pytest.fixture(scope="module")
def analyze():
    base = run_stack(STACK)
    config = load_pack_config(plan_tool.default_pack_config(engine_config(STACK), STACK))
    with PolicyAnalyzer(stack=STACK, stack_config=engine_config(STACK)) as analyzer:

        def run(edit=None):
            plan = copy.deepcopy(base)
            if edit:
                edit(plan)
                # The engine hands the pack a resource's state (its outputs) as well as its inputs.
                for cluster in plan.by_type(CLUSTER):
                    cluster.outputs["spec"] = cluster.inputs["spec"]
            return analyzer.analyze_plan(plan, config)

        yield run


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
