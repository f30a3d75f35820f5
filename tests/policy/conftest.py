"""One policy-pack subprocess for the whole session; tests reconfigure it (Configure is cheap) instead of
restarting it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.policy.fixtures import STACK, STACK_CONFIG
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
