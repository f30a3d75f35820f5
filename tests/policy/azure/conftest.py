"""One policy-pack subprocess for the Azure tables, started with an Azure stack's configuration (its network,
allowlist and peers are what the Azure network rules read)."""

from __future__ import annotations

import pytest

from tests.policy.azure.fixtures import STACK_CONFIG
from tests.policy.conftest import PackSession
from tools.analyzer import PolicyAnalyzer


@pytest.fixture(scope="session")
def azure_pack():
    with PolicyAnalyzer(stack="azure-test", stack_config=STACK_CONFIG) as analyzer:
        yield PackSession(analyzer)
        stderr = analyzer.stderr
    assert "Traceback" not in stderr, stderr
