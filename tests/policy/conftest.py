"""One policy-pack subprocess for the whole session; tests reconfigure it (Configure is cheap) instead of
restarting it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.policy.fixtures import STACK, STACK_CONFIG, Stack
from tools.analyzer import Analysis, PolicyAnalyzer, load_pack_config
from tools.records import Plan, ResourceRecord

CONFIG_DIR = Path(__file__).resolve().parents[2] / "policy" / "config"


class PackSession:
    def __init__(self, analyzer: PolicyAnalyzer):
        self.analyzer = analyzer
        self._configured: str | None = None

    def config(self, stage: str) -> dict[str, Any]:
        return load_pack_config(CONFIG_DIR / f"{stage}.json")

    def run(self, records: list[ResourceRecord], stage: str = "prod", config: dict[str, Any] | None = None) -> Analysis:
        pack_config = config if config is not None else self.config(stage)
        return self.analyzer.analyze_plan(Plan("pg-platform", STACK, records, {}), pack_config)


@pytest.fixture(scope="session")
def pack():
    with PolicyAnalyzer(stack=STACK, stack_config=STACK_CONFIG) as analyzer:
        yield PackSession(analyzer)
        stderr = analyzer.stderr
    assert "Traceback" not in stderr, stderr


def by_policy(analysis: Analysis, policy: str):
    return [d for d in analysis.diagnostics if d.policy == policy]


def dump(analysis: Analysis) -> str:
    return json.dumps([(d.policy, d.level, d.detail) for d in analysis.diagnostics], indent=1)


def assert_violation(pack: PackSession, rule: str, case: str, mutate, expected: str) -> None:
    """One row of a rule table: the mutated fixture stack fails `rule`, mandatory in prod, with `expected` in the
    message, reported on the resource the mutation names."""
    stack = Stack()
    anchor = mutate(stack)
    analysis = pack.run(stack.records)
    hits = by_policy(analysis, rule)
    assert hits, f"{rule} did not fire for {case}: {dump(analysis)}"
    assert any(expected in d.message for d in hits), dump(analysis)
    assert {d.level for d in hits} == {"mandatory"}
    assert all(d.pack == "pg-platform" and d.severity for d in hits)
    if anchor:
        assert any(d.urn.endswith(f"::{anchor}") for d in hits if expected in d.message), dump(analysis)
    # Remediation text reaches the report through GetAnalyzerInfo.
    assert analysis.policies[rule].remediation


def cloud_of(policy: str) -> str | None:
    """The cloud a rule id names (PGP-AWS-S3-001 -> "aws"), None for a shared rule (PGP-HA-001)."""
    parts = policy.split("-")
    return parts[1].lower() if len(parts) == 4 else None
