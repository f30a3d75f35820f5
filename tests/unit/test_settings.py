"""Invalid or contradictory settings fail before any resource exists, naming key, value and fix."""
import pytest

from stacks.errors import SettingsError
from stacks.topology import derive_topology
from tests.unit.stack_helpers import settings_with
from tools.runner import run_stack


def problems(stack: str, **changes) -> SettingsError:
    with pytest.raises(SettingsError) as caught:
        derive_topology(settings_with(stack, **changes))
    return caught.value


def only(error: SettingsError, key: str):
    matching = [p for p in error.problems if p.key == key]
    assert matching, f"no problem for {key}: {error}"
    return matching[0]


def test_rpo_zero_with_fewer_than_three_nodes():
    p = only(problems("prod", cluster__nodes=1), "pg-platform:objectives.rpo_seconds")
    assert "at least 3 nodes" in p.message and "(cluster.nodes is 1)" in p.message
    assert "set cluster.nodes to 3 or more" in p.fix


def test_worm_shorter_than_full_backup_interval():
    p = only(problems("prod", objectives__worm_days=7), "pg-platform:objectives.worm_days")
    assert p.value == 7
    assert "not longer than the full-backup interval of 7 day(s)" in p.message
    assert "no complete backup chain" in p.message
    assert "raise objectives.worm_days to at least 8" in p.fix
    daily = only(problems("dev", objectives__worm_days=1), "pg-platform:objectives.worm_days")
    assert daily.fix == "raise objectives.worm_days to at least 2"


@pytest.mark.parametrize("nodes", [2, 4])
def test_even_node_counts_are_rejected(nodes):
    p = only(problems("prod", cluster__nodes=nodes), "pg-platform:cluster.nodes")
    assert "etcd runs on the members" in p.message
    assert p.fix == f"use {nodes - 1} or {nodes + 1} nodes"


def test_allowlisted_security_groups_need_the_networks_they_connect_from():
    p = only(problems("prod", network__allowlist={"security_groups": ["sg-0a1b2c3d4e5f60718"]}),
             "pg-platform:network.allowlist.cidrs")
    assert "pg_hba admits no client" in p.message


def test_world_allowlist_in_prod():
    p = only(problems("prod", network__allowlist={"cidrs": ["0.0.0.0/0"]}), "pg-platform:network.allowlist.cidrs[0]")
    assert p.value == "0.0.0.0/0" and "not allowed in prod" in p.message
    assert "application networks" in p.fix


def test_world_allowlist_is_tolerated_in_dev_where_policies_are_advisory():
    settings = settings_with("dev", network__allowlist={"cidrs": ["0.0.0.0/0"]})
    assert settings.network.allowlist.cidrs == ("0.0.0.0/0",)


@pytest.mark.parametrize("bad", ["10.40.0.0/33", "10.40.1.0/16", "not-a-cidr"])
def test_invalid_cidr(bad):
    p = only(problems("prod", network__cidr=bad), "pg-platform:network.cidr")
    assert p.value == bad and "is not a valid CIDR" in p.message
    assert "10.40.0.0/16" in p.fix


def test_unknown_keys_top_level_and_nested():
    error = problems("prod", **{"objectives__rpo_secs": 5, "replicas": 3})
    assert {"pg-platform:objectives.rpo_secs", "pg-platform:replicas"} <= set(error.keys())
    nested = only(error, "pg-platform:objectives.rpo_secs")
    assert nested.message == "unknown key" and "rpo_seconds" in nested.fix


@pytest.mark.parametrize("key", ["network", "tags", "cluster", "stage"])
def test_missing_required_key(key):
    p = only(problems("prod", **{key: None}), f"pg-platform:{key}")
    assert p.message == "is required" and "Pulumi.prod.yaml" in p.fix


def test_missing_required_tag():
    tags = {"owner": "team-data-platform", "data-classification": "confidential"}
    p = only(problems("prod", tags=tags), "pg-platform:tags.cost-center")
    assert "non-empty string" in p.message


def test_rto_shorter_than_the_router_allows():
    p = only(problems("prod", objectives__rto_seconds=30), "pg-platform:objectives.rto_seconds")
    assert "AWS NLB" in p.message and "ttl >= 20 s" in p.message
    assert p.fix == "raise objectives.rto_seconds to at least 35"


def test_rpo_that_neither_sync_nor_archiving_can_guarantee():
    p = only(problems("dev", objectives__rpo_seconds=20), "pg-platform:objectives.rpo_seconds")
    assert "cannot be guaranteed" in p.message and "at least 60" in p.fix


def test_peer_overlapping_the_vpc():
    peers = [{"name": "app", "vpc_id": "vpc-0123456789abcdef0", "cidr": "10.40.128.0/20",
              "account_id": "123456789012", "region": "eu-central-1"}]
    p = only(problems("prod", network__peers=peers), "pg-platform:network.peers[0].cidr")
    assert "overlaps the platform VPC" in p.message


def test_every_problem_is_reported_at_once():
    error = problems("prod", network__cidr="300.1.1.0/16", cluster__disk_type="st1", tags__owner="")
    assert set(error.keys()) == {"pg-platform:network.cidr", "pg-platform:cluster.disk_type", "pg-platform:tags.owner"}
    assert str(error).count("Fix:") == 3


def test_objective_conflicts_are_reported_together():
    error = problems("prod", cluster__nodes=1, objectives__worm_days=3)
    assert {"pg-platform:objectives.rpo_seconds", "pg-platform:objectives.worm_days"} <= set(error.keys())


def test_bad_stack_file_creates_no_resource():
    registered = []
    with pytest.raises(SettingsError, match="pg-platform:objectives.worm_days"):
        run_stack("prod", overrides={"pg-platform:objectives": {"rpo_seconds": 0, "rto_seconds": 35,
                                                                "retention_days": 30, "worm_days": 3}},
                  mutate=registered.append)
    assert registered == []


def test_prod_requires_a_worm_period():
    p = only(problems("prod", objectives__worm_days=0), "pg-platform:objectives.worm_days")
    assert "COMPLIANCE lock" in p.message


def test_iops_beyond_what_the_disk_type_allows():
    p = only(problems("prod", cluster__disk_size_gb=20, cluster__disk_iops=12000), "pg-platform:cluster.disk_iops")
    assert p.message == "gp3 allows at most 10000 IOPS on 20 GB"
