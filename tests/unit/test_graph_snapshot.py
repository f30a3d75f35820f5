"""The program builds the recorded graph of every stack: a restructuring keeps each URN (or aliases it) and
every input, so a deployed stack sees no replacement. After an intended change, re-record with
`tools graph --stack <stack> --write tests/unit/graphs/<stack>.json` and review the diff in the pull request."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from tools.graph import compare, snapshot
from tools.runner import run_stack

GRAPHS = Path(__file__).parent / "graphs"


@pytest.fixture(scope="module", params=["dev", "prod"])
def recorded(request):
    return json.loads((GRAPHS / f"{request.param}.json").read_text())


@pytest.mark.parametrize("path", sorted(GRAPHS.glob("*.json")), ids=lambda p: p.stem)
def test_program_builds_the_recorded_graph(path):
    recording = json.loads(path.read_text())
    head = snapshot(run_stack(recording["stack"]))
    assert compare(recording, head) == []


def test_every_root_stack_has_a_recording():
    from stacks.files import stack_names

    assert {p.stem for p in GRAPHS.glob("*.json")} == set(stack_names())


def _one_custom(graph):
    return next(u for u, r in graph["resources"].items() if r["custom"] and "$aws:lb/targetGroup:" in u)


def _rename(graph, urn, new_name, aliases):
    graph = copy.deepcopy(graph)
    resource = graph["resources"].pop(urn)
    new_urn = urn.rsplit("::", 1)[0] + "::" + new_name
    resource["aliases"] = aliases
    graph["resources"][new_urn] = resource
    return graph, new_urn


def test_a_rename_without_an_alias_is_a_replacement(recorded):
    urn = _one_custom(recorded)
    head, new_urn = _rename(recorded, urn, "renamed", [])
    deleted = f"deleted (no resource keeps this URN or aliases it): {urn}"
    assert compare(recorded, head) == [deleted, f"added: {new_urn}"]


def test_a_rename_with_an_alias_keeps_the_resource(recorded):
    urn = _one_custom(recorded)
    old_name = urn.rsplit("::", 1)[1]
    head, _ = _rename(recorded, urn, "renamed", [{"spec": {"name": old_name}}])
    assert compare(recorded, head) == []
    head, _ = _rename(recorded, urn, "renamed", [urn])
    assert compare(recorded, head) == []


def test_a_changed_input_or_option_is_reported(recorded):
    urn = _one_custom(recorded)
    head = copy.deepcopy(recorded)
    head["resources"][urn]["inputs"]["port"] = 1
    head["resources"][urn]["protect"] = not head["resources"][urn]["protect"]
    assert compare(recorded, head) == [f"inputs changed: {urn}", f"protect changed: {urn}"]


def test_secrets_are_masked_wherever_they_sit():
    from tools.graph import _masked, path_parts

    assert path_parts("rules[1].password") == ["rules", 1, "password"]
    inputs = {"secretString": "s3cr3t", "rules": [{"password": "a"}, {"password": "b"}], "plain": "x"}
    masked = _masked(inputs, ["secretString", "rules[1].password"])
    assert masked == {"secretString": "[secret]", "rules": [{"password": "a"}, {"password": "[secret]"}], "plain": "x"}
