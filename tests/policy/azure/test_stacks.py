"""The real azure-prod program through the real pack: it passes its gate with no diagnostic at all (every root
stack passing its gate is tests/policy/test_stacks.py's), and breaking the recorded plan in the ways that matter
fails it with the expected rule, so the pass is the Azure rules reading the components' real records, not rules
that saw nothing."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable

import pytest

from stacks.files import engine_config
from tools import plan as plan_tool
from tools.analyzer import PolicyAnalyzer, load_pack_config
from tools.records import Plan
from tools.runner import run_stack

VM = "azure-native:compute:VirtualMachine"


def _gate(stack: str, analyzer: PolicyAnalyzer, plan: Plan):
    config = plan_tool.default_pack_config(engine_config(stack), stack)
    return analyzer.analyze_plan(plan, load_pack_config(config))


def _detail(analysis) -> str:
    return json.dumps([(d.policy, d.level, d.urn.split("::")[-1], d.detail) for d in analysis.diagnostics], indent=1)


@pytest.fixture(scope="module")
def azure_prod():
    plan = run_stack("azure-prod")
    with PolicyAnalyzer(stack="azure-prod", stack_config=engine_config("azure-prod")) as analyzer:
        yield plan, analyzer


def test_azure_prod_passes_its_gate(azure_prod):
    plan, analyzer = azure_prod
    analysis = _gate("azure-prod", analyzer, plan)
    assert analysis.diagnostics == [], _detail(analysis)
    # The pack saw the stack: three members and the monitoring node, the vault's container and its lock.
    assert len([r for r in plan.resources if r.type == VM]) == 4
    assert {c["enforcementLevel"] for c in analysis.config.values()} == {"mandatory"}


def _drop(predicate: Callable) -> Callable[[Plan], None]:
    def mutate(plan: Plan) -> None:
        plan.resources = [r for r in plan.resources if not predicate(r)]

    return mutate


def _edit(type_token: str, change: Callable[[dict], None]) -> Callable[[Plan], None]:
    """Change every record of a type, inputs and outputs alike (resource rules read the one, stack rules the
    other)."""

    def mutate(plan: Plan) -> None:
        for r in plan.resources:
            if r.type == type_token:
                change(r.inputs)
                if r.outputs:
                    change(r.outputs)

    return mutate


def _probe_path(props: dict) -> None:
    for probe in props.get("probes") or []:
        probe["requestPath"] = "/health"


def _clients_from_vnet(props: dict) -> None:
    for rule in props.get("securityRules") or []:
        if rule.get("direction") == "Inbound" and "5432" in (rule.get("destinationPortRanges") or []):
            rule.pop("sourceAddressPrefix", None)
            rule["sourceAddressPrefixes"] = ["VirtualNetwork"]


def _public_container(props: dict) -> None:
    props["publicAccess"] = "Blob"


PROD_MUTATIONS = [
    (
        "lock never runs",
        _drop(lambda r: r.type == "command:local:Command" and "lock" in str(r.inputs.get("create"))),
        "PGP-AZURE-STG-005",
        "no step of the stack locks it",
    ),
    ("db-1 unwatched", _drop(lambda r: r.name.endswith("db-1-available")), "PGP-MON-003", "has no Azure Monitor"),
    (
        "no flow log",
        _drop(lambda r: r.type == "azure-native:network:FlowLog"),
        "PGP-AZURE-NET-006",
        "has no flow log",
    ),
    ("probe path", _edit("azure-native:network:LoadBalancer", _probe_path), "PGP-HA-003", "/health"),
    (
        "clients from the VirtualNetwork tag",
        _edit("azure-native:network:NetworkSecurityGroup", _clients_from_vnet),
        "PGP-AZURE-NET-003",
        "admits VirtualNetwork to client port(s) 5432",
    ),
    ("public container", _edit("azure-native:storage:BlobContainer", _public_container), "PGP-AZURE-STG-006", "Blob"),
]


@pytest.mark.parametrize("case,mutate,rule,expected", PROD_MUTATIONS, ids=[m[0] for m in PROD_MUTATIONS])
def test_azure_prod_mutation_fails_the_gate(azure_prod, case, mutate, rule, expected):
    plan, analyzer = azure_prod
    broken = copy.deepcopy(plan)
    mutate(broken)
    analysis = _gate("azure-prod", analyzer, broken)
    hits = [d for d in analysis.mandatory if d.policy == rule]
    assert any(expected in d.message for d in hits), _detail(analysis)
