"""The offline checks refuse what a Kubernetes API server (and Helm) would refuse in the objects' names and
labels, and pass every object the Kubernetes stacks create."""

from __future__ import annotations

import copy

import pytest

from tools.constraints import registry
from tools.records import ResourceRecord
from tools.runner import run_stack

CLUSTER = "kubernetes:postgresql.cnpg.io/v1:Cluster"


@pytest.fixture(scope="module")
def cluster() -> ResourceRecord:
    (record,) = run_stack("k8s-prod").by_type(CLUSTER)
    return record


def violations(record: ResourceRecord, **metadata) -> list[str]:
    changed = copy.deepcopy(record)
    changed.inputs["metadata"].update(metadata)
    found, unmapped = registry().check([changed])
    assert not unmapped
    return [f"{v.path}: {v.message}" if hasattr(v, "message") else str(v) for v in found]


def test_the_stacks_objects_pass(cluster):
    assert violations(cluster) == []


@pytest.mark.parametrize(
    ("metadata", "where"),
    [
        ({"name": "Pgp-Prod"}, "metadata.name"),  # upper case: not a DNS label
        ({"name": "p" * 61}, "metadata.name"),  # its -rw Service would be 64 characters
        ({"namespace": "app_prod"}, "metadata.namespace"),
        ({"labels": {"owner": "team data"}}, "metadata.labels"),
        ({"labels": {"owner": "x" * 64}}, "metadata.labels"),
        ({"labels": {"-bad-key": "x"}}, "metadata.labels"),
    ],
)
def test_what_the_api_server_refuses_is_refused(cluster, metadata, where):
    found = violations(cluster, **metadata)
    assert any(where in v for v in found), found


def test_helm_release_names_are_bounded():
    (release, *_) = run_stack("k8s-dev").by_type("kubernetes:helm.sh/v3:Release")
    changed = copy.deepcopy(release)
    changed.inputs["name"] = "r" * 54
    found, _ = registry().check([changed])
    assert any("name" in str(v) for v in found), found
