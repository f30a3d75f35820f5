"""The Kubernetes stacks' own plans through the real pack: one analyzer per stack for the module, and each test
edits a copy of the recorded plan (the passing fixture) into a failing one."""

from __future__ import annotations

import copy
from collections.abc import Callable

import pytest

from stacks.files import engine_config
from tools import plan as plan_tool
from tools.analyzer import Analysis, PolicyAnalyzer, load_pack_config
from tools.records import Plan
from tools.runner import run_stack

Edit = Callable[[Plan], object]


def _analyzer(stack: str):
    base = run_stack(stack)
    config = load_pack_config(plan_tool.default_pack_config(engine_config(stack), stack))
    with PolicyAnalyzer(stack=stack, stack_config=engine_config(stack)) as analyzer:

        def run(edit: Edit | None = None) -> Analysis:
            plan = copy.deepcopy(base)
            if edit:
                edit(plan)
                # The engine hands AnalyzeStack each resource's state (its outputs): an edited input is what
                # the object would hold after `pulumi up`.
                for r in plan.resources:
                    if r.type.startswith("kubernetes:"):
                        r.outputs = copy.deepcopy(r.inputs)
            return analyzer.analyze_plan(plan, config)

        run.base = base  # type: ignore[attr-defined]
        yield run
        stderr = analyzer.stderr
    assert "Traceback" not in stderr, stderr


@pytest.fixture(scope="module")
def analyze():
    yield from _analyzer("k8s-prod")


@pytest.fixture(scope="module")
def analyze_dev():
    yield from _analyzer("k8s-dev")


@pytest.fixture(scope="module")
def analyze_aks():
    yield from _analyzer("k8s-azure-dev")


@pytest.fixture(scope="module")
def analyze_gke():
    yield from _analyzer("k8s-gcp-dev")
