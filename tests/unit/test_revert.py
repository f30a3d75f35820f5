"""`tools revert` without the Pulumi CLI: the decision on stack exports built from the prod program's recorded
resource graph (what a first `pulumi up` that failed in its configure step leaves in the state, and what a
completed one leaves), the protected resources it lists, and the one command it would run."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from dataplane import journal
from tools import revert

GRAPH = Path(__file__).resolve().parent / "graphs" / "prod.json"
ROOT = Path(__file__).resolve().parents[2]


def _graph() -> dict:
    return json.loads(GRAPH.read_text())["resources"]


def _export(graph: dict, keep=lambda urn, r: True) -> dict:
    """`pulumi stack export` (deployment v3) of the resources `keep` admits: Pulumi records a resource once its
    create succeeded, so a failed step and everything after it are missing."""
    resources = [
        {
            "urn": urn,
            "custom": r["custom"],
            "type": r["type"],
            "protect": r["protect"],
            "parent": r["parent"],
            "dependencies": r["dependencies"],
            "inputs": {},
            "outputs": {},
            **({"provider": r["provider"]} if r["provider"] else {}),
        }
        for urn, r in graph.items()
        if keep(urn, r)
    ]
    return {"version": 3, "deployment": {"manifest": {}, "resources": resources}}


def _failed_in_configure(graph: dict) -> dict:
    # The configure step failed: it and the steps after it (backup check, roles) never completed.
    return _export(graph, lambda urn, r: r["type"] != revert.CONFIGURE_TYPE)


def _up(result: str) -> journal.Entry:
    return journal.entry(revert.UP_ACTION, "arn:aws:iam::111122223333:role/deployer", result, 312.0)


def test_a_first_deployment_that_failed_is_reverted_keeping_every_protected_resource():
    graph = _graph()
    decision = revert.decide("prod", _failed_in_configure(graph), [_up("failed")])
    assert decision.allowed and "the journal has 1 failed `up` and no successful one" in decision.reason
    protected = {urn for urn, r in graph.items() if r["protect"]}
    assert {r.urn for r in decision.protected} == protected
    names = {r.name for r in decision.protected}
    # The locked backup bucket, the members' data volumes and the stack's secrets stay for the next `up`.
    assert {"pgp-prod-vault-bucket", "pgp-prod-cluster-pgp-prod-db-0-data", "pgp-prod-secrets-superuser"} <= names
    # What a protected resource needs stays with it: its parent components.
    parents = {graph[u]["parent"] for u in protected} - protected - {None}
    assert parents <= {r.urn for r in decision.also_kept}
    # Less the post-provision commands (configure, the steps after it, the leave steps), which never completed.
    everything = len(graph) - sum(1 for r in graph.values() if r["type"] == revert.CONFIGURE_TYPE)
    stack_resources = sum(1 for r in graph.values() if r["type"] == "pulumi:pulumi:Stack")
    assert decision.destroyed == everything - stack_resources - len(protected) - len(decision.also_kept) > 0
    assert revert.destroy_argv("prod") == ["pulumi", "destroy", "--exclude-protected", "--yes", "--stack", "prod"]


def test_a_stack_whose_configure_step_completed_is_refused_naming_the_fix():
    decision = revert.decide("prod", _export(_graph()), [_up("failed")])
    assert not decision.allowed
    assert "its configure step completed (pgp-prod-post-provision-configure)" in decision.reason
    assert "run `pulumi up --stack prod` again" in decision.reason


def test_a_stack_the_journal_saw_deploy_is_refused_even_when_the_state_lost_its_configure_step():
    decision = revert.decide("prod", _failed_in_configure(_graph()), [_up("ok"), _up("failed")])
    assert not decision.allowed and "the journal records a successful `up`" in decision.reason
    assert "run `pulumi up --stack prod` again" in decision.reason


def test_without_a_journal_the_state_alone_decides_and_says_so():
    decision = revert.decide("prod", _failed_in_configure(_graph()), None, "the stack exports no backup_bucket yet")
    assert decision.allowed and "the journal could not be read (the stack exports no backup_bucket yet)" in (
        decision.reason
    )
    assert not revert.decide("prod", {"version": 3, "deployment": {"resources": []}}, None).allowed


class RecordingCli:
    """The seam's calls recorded, answering with the exports built above; it runs nothing."""

    def __init__(self, export: dict):
        self.exported = export
        self.destroyed: list[str] = []

    def export(self, stack: str) -> dict:
        return self.exported

    def outputs(self, stack: str) -> dict:
        return {}

    def destroy(self, stack: str) -> int:
        self.destroyed.append(stack)
        return 0


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    revert.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_revert_runs_the_destroy_only_with_yes_and_never_on_a_deployed_stack(monkeypatch, capsys):
    monkeypatch.setattr(revert, "read_journal", lambda stack, outputs: ([_up("failed")], ""))
    failed = RecordingCli(_failed_in_configure(_graph()))
    assert revert.run(_args("--stack", "prod"), failed) == 0 and failed.destroyed == []
    out = capsys.readouterr()
    assert "protected resources, reused by the next `pulumi up`" in out.out and "pass --yes" in out.err
    assert revert.run(_args("--stack", "prod", "--yes"), failed) == 0 and failed.destroyed == ["prod"]
    capsys.readouterr()
    deployed = RecordingCli(_export(_graph()))
    assert revert.run(_args("--stack", "prod", "--yes", "--json"), deployed) == 2 and deployed.destroyed == []
    found = json.loads(capsys.readouterr().out)
    assert found["allowed"] is False and found["command"] is None


def test_without_the_pulumi_cli_the_command_says_what_to_install():
    done = subprocess.run(
        [sys.executable, "-m", "tools", "revert", "--stack", "prod"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PATH": "/nonexistent"},
    )
    if done.returncode != 2 or "Pulumi CLI is not installed" not in done.stderr:
        pytest.fail(done.stderr)
