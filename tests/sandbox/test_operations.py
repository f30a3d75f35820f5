"""The node commands the cloud's post-provision steps run through SSM, run for real on the sandbox members:
exactly one member answers the leader test, and on it the backup check and the role SQL succeed (twice:
pulumi-command re-runs them whenever their rendered input changes)."""

from __future__ import annotations

import subprocess
import tempfile

import pytest

from dataplane import operations

pytestmark = pytest.mark.sandbox


def run_script(text: str, timeout: float = 300) -> subprocess.CompletedProcess:
    with tempfile.NamedTemporaryFile("w", suffix=".sh", delete=False) as script:
        script.write(text)
    return subprocess.run(["bash", script.name], capture_output=True, text=True, timeout=timeout)


def test_exactly_the_leader_passes_the_leader_test(sandbox):
    sandbox.wait_healthy()
    spec = sandbox.layout.spec
    passing = [m.name for m in spec.members if run_script(operations.render_is_leader(spec, m), 30).returncode == 0]
    assert passing == [sandbox.leader_member().name]


def test_backup_check_and_roles_succeed_on_the_leader_and_are_repeatable(sandbox):
    sandbox.wait_healthy()
    spec, leader = sandbox.layout.spec, sandbox.leader_member()
    for _ in range(2):
        check = run_script(operations.render_backup_check(spec, leader))
        assert check.returncode == 0, check.stdout + check.stderr
        assert f"stanza: {spec.stanza}" in check.stdout and "status: ok" in check.stdout
        roles = run_script(operations.render_apply_roles(spec, leader))
        assert roles.returncode == 0, roles.stdout + roles.stderr
