"""`pgp --as DUTY` against the running sandbox: a command outside the duty is refused and changes nothing; the
duty's own command runs, and the journal names who acted and as which duty (no cloud call: the sandbox checks
the same command->duty mapping, dataplane/duties.py)."""

from __future__ import annotations

import json

import pytest

from sandbox.journal import local_operator
from tests.sandbox.test_operator_console import pgp

pytestmark = pytest.mark.sandbox


def _switchovers(sandbox) -> list[dict]:
    entries = json.loads(pgp(sandbox, "--json", "--as", "auditor", "journal", "--limit", "100000").stdout)
    return [e for e in entries if e["action"] == "switchover"]


def test_the_auditor_cannot_switch_over_and_the_operator_can_as_the_journal_records(sandbox):
    sandbox.wait_healthy(90)
    leader = sandbox.leader_member().name
    before = _switchovers(sandbox)

    refused = pgp(sandbox, "--as", "auditor", "switchover", expect=2)
    assert "--as auditor: `switchover` is the operator duty, not the auditor's" in refused.stderr
    assert "run it with --as operator" in refused.stderr
    assert sandbox.leader_member().name == leader
    assert _switchovers(sandbox) == before, "a refused command is not an action: nothing is journalled"

    done = json.loads(pgp(sandbox, "--json", "--as", "operator", "switchover").stdout)
    assert done["from"] == leader and done["to"] != leader
    sandbox.wait_healthy(90)
    assert sandbox.leader_member().name == done["to"]
    (entry,) = [e for e in _switchovers(sandbox) if e not in before]
    assert (entry["duty"], entry["who"], entry["result"]) == ("operator", local_operator(), "ok")
    assert "duty" not in entry["details"]

    # The auditor reads the inventory without asking the members anything.
    inventory = json.loads(pgp(sandbox, "--json", "--as", "auditor", "inventory").stdout)
    assert {m["role"] for m in inventory["members"].values()} == {"not asked (the auditor sends no member command)"}
    assert inventory["journal"]["last_switchover"]["duty"] == "operator"
