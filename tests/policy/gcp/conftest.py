"""A policy-pack subprocess for the GCP fixture stack: the engine hands it the GCP stack's configuration (region,
project, GCP-style peers), as it would for a gcp-* stack."""

from __future__ import annotations

import pytest

from tests.policy.conftest import CONFIG_DIR, PackSession, by_policy, dump
from tests.policy.fixtures import STACK
from tests.policy.gcp.fixtures import STACK_CONFIG, GcpStack
from tools.analyzer import PolicyAnalyzer


@pytest.fixture(scope="session")
def gcp_pack():
    with PolicyAnalyzer(stack=STACK, stack_config=STACK_CONFIG) as analyzer:
        yield PackSession(analyzer)
        stderr = analyzer.stderr
    assert "Traceback" not in stderr, stderr


def assert_gcp_violation(pack: PackSession, rule: str, case: str, mutate, expected: str) -> None:
    """One row of the GCP rule table: the mutated GCP fixture stack fails `rule`, mandatory in prod, with
    `expected` in the message, reported on the resource the mutation names."""
    stack = GcpStack()
    anchor = mutate(stack)
    analysis = pack.run(stack.records)
    hits = by_policy(analysis, rule)
    assert hits, f"{rule} did not fire for {case}: {dump(analysis)}"
    assert any(expected in d.message for d in hits), dump(analysis)
    assert {d.level for d in hits} == {"mandatory"}
    if anchor:
        assert any(d.urn.endswith(f"::{anchor}") for d in hits if expected in d.message), dump(analysis)
    assert analysis.policies[rule].remediation


__all__ = ["CONFIG_DIR", "assert_gcp_violation", "gcp_pack"]
