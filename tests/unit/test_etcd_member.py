"""The etcd start script's pure parts: the configuration it starts a joining member from, and the initial
cluster it builds from the membership the cluster reports (real etcd: tests/dataplane/test_etcd_membership.py)."""

from __future__ import annotations

import pytest
import yaml

from dataplane import etcd
from dataplane.etcd_member import MembershipError, effective_config, initial_cluster, mine
from sandbox.layout import build_layout


@pytest.fixture(scope="module")
def spec(tmp_path_factory):
    return build_layout("prod", root=tmp_path_factory.mktemp("layout")).spec


def test_a_joining_member_starts_existing_with_the_reported_membership_and_nothing_else_changes(spec):
    member = spec.members[2]
    rendered = etcd.render_etcd_config(spec, member)
    joined = yaml.safe_load(effective_config(rendered, "a=https://x:1,b=https://y:2"))
    assert joined.pop("initial-cluster-state") == "existing"
    assert joined.pop("initial-cluster") == "a=https://x:1,b=https://y:2"
    original = yaml.safe_load(rendered)
    assert original.pop("initial-cluster-state") == "new"
    original.pop("initial-cluster")
    assert joined == original


def test_a_rendering_without_the_bootstrap_lines_is_refused():
    with pytest.raises(MembershipError, match="initial-cluster-state"):
        effective_config("name: a\ninitial-cluster: a=https://x:1\n", "a=https://x:1")


def test_unstarted_members_are_named_from_the_settings_and_strangers_refused(spec):
    settings = etcd.member_settings(spec, spec.members[1])
    peers = settings["peers"]
    first, second = spec.members[0].name, spec.members[1].name
    reported = [
        {"ID": 1, "name": first, "peerURLs": [peers[first]["peer"]]},
        {"ID": 2, "peerURLs": [peers[second]["peer"]]},  # added, not started yet: no name
    ]
    assert initial_cluster(settings, reported) == f"{first}={peers[first]['peer']},{second}={peers[second]['peer']}"
    assert mine(settings, reported) == reported[1]
    with pytest.raises(MembershipError, match="no member of this cluster"):
        initial_cluster(settings, [*reported, {"ID": 3, "peerURLs": ["https://10.9.9.9:2380"]}])


def test_the_shipped_script_is_the_same_program_without_its_documentation():
    import ast
    from pathlib import Path

    from dataplane import etcd_member

    shipped, source = ast.parse(etcd.MEMBER_SCRIPT_SOURCE), ast.parse(Path(etcd_member.__file__).read_text())
    names = sorted(n.name for n in shipped.body if isinstance(n, ast.FunctionDef))
    assert names == sorted(n.name for n in source.body if isinstance(n, ast.FunctionDef))
    assert '"""' not in etcd.MEMBER_SCRIPT_SOURCE and len(etcd.MEMBER_SCRIPT_SOURCE) < len(ast.unparse(source))
