"""Invalid or contradictory settings fail before any resource exists, naming key, value and fix."""

import ipaddress
import re
from pathlib import Path

import pytest

from stacks.clouds.aws import Peer, PeerGroup
from stacks.errors import SettingsError
from stacks.offline import settings_for_stack
from stacks.settings import (
    IPV4_PUBLIC_TOTAL,
    WORLD_PUBLIC_ADDRESSES,
    parse_config,
    parse_settings,
    public_addresses,
)
from stacks.topology import derive_topology
from tests.unit.stack_helpers import raw_settings, settings_from_text, settings_with, stack_text
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
    p = only(
        problems("prod", network__allowlist={"security_groups": [{"peer": "app-prod", "id": "sg-0a1b2c3d4e5f60718"}]}),
        "pg-platform:network.allowlist.cidrs",
    )
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
    peers = [
        {
            "name": "app",
            "vpc_id": "vpc-0123456789abcdef0",
            "cidr": "10.40.128.0/20",
            "account_id": "123456789012",
            "region": "eu-central-1",
        }
    ]
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
    with pytest.raises(SettingsError, match=r"pg-platform:objectives\.worm_days"):
        run_stack(
            "prod",
            overrides={
                "pg-platform:objectives": {"rpo_seconds": 0, "rto_seconds": 35, "retention_days": 30, "worm_days": 3}
            },
            mutate=registered.append,
        )
    assert registered == []


def test_prod_requires_a_worm_period():
    p = only(problems("prod", objectives__worm_days=0), "pg-platform:objectives.worm_days")
    assert "COMPLIANCE lock" in p.message


def test_iops_beyond_what_the_disk_type_allows():
    p = only(problems("prod", cluster__disk_size_gb=20, cluster__disk_iops=12000), "pg-platform:cluster.disk_iops")
    assert p.message == "gp3 allows at most 10000 IOPS on 20 GB"


# --- AWS facts: region, zones, tags -------------------------------------------------------------------------------


def test_region_that_is_not_an_aws_region():
    raw, _ = raw_settings("prod")
    with pytest.raises(SettingsError) as caught:
        parse_settings(raw, "prod", "eu-centrall-1")
    p = only(caught.value, "aws:region")
    assert p.message == "is not an AWS region" and p.fix == "use eu-central-1"


@pytest.mark.parametrize(
    "zone,message",
    [
        (123, "is not a zone name"),
        (None, "is not a zone name"),
        ("eu-west-1a", "is a zone of eu-west-1, not of the stack's region eu-central-1"),
        ("eu-central-1", "is not an availability zone name"),
        ("eu-central-1ab", "is not an availability zone name"),
        ("mars-north-1a", "is not an availability zone name"),
        ("euc1-az2", "is a zone ID"),
        ("eu-central-1-ham-1a", "is a Local or Wavelength Zone"),
    ],
)
def test_zones_must_be_availability_zones_of_the_region(zone, message):
    zones = ["eu-central-1a", "eu-central-1b", zone]
    p = only(problems("prod", network__zones=zones), "pg-platform:network.zones[2]")
    assert p.value == zone and message in p.message
    assert "eu-central-1a" in p.fix


@pytest.mark.parametrize(
    "tag,value,message",
    [
        ("owner", " team-data-platform", "starts or ends with a blank"),
        ("cost-center", "CC-4711 ", "starts or ends with a blank"),
        ("owner", "team#data", "only letters, numbers, spaces and"),
        ("owner", "x" * 257, "at most 256 characters"),
    ],
)
def test_tag_values_follow_the_aws_rules(tag, value, message):
    p = only(problems("prod", **{f"tags__{tag}": value}), f"pg-platform:tags.{tag}")
    assert message in p.message


# --- the allowlist: "world" by address arithmetic ------------------------------------------------------------


@pytest.mark.parametrize(
    "cidrs,key,message",
    [
        (["0.0.0.0/00"], "cidrs[0]", "opens PostgreSQL to the whole internet"),
        (["0.0.0.0/1", "128.0.0.0/1"], "cidrs[0]", "covers 2,092,957,696 public addresses"),
        (["10.50.0.0/16", "11.0.0.0/9", "11.128.0.0/9"], "cidrs", "together cover 16,777,216 public addresses"),
        (["::0/0"], "cidrs[0]", "IPv4 only"),
        (["10.50.0.0/16", "2001:db8::/32"], "cidrs[1]", "IPv4 only"),
    ],
    ids=["zero-padded prefix", "two halves", "public ranges that add up", "ipv6 world", "ipv6"],
)
def test_world_allowlist_however_it_is_written(cidrs, key, message):
    p = only(problems("prod", network__allowlist__cidrs=cidrs), f"pg-platform:network.allowlist.{key}")
    assert message in p.message


def test_private_ranges_are_never_the_world():
    wide = ["10.0.0.0/8", "172.16.0.0/12", "100.64.0.0/10"]
    assert settings_with("prod", network__allowlist__cidrs=wide).network.allowlist.cidrs == tuple(wide)
    assert public_addresses([ipaddress.IPv4Network(c) for c in wide]) == 0
    assert public_addresses([ipaddress.IPv4Network("0.0.0.0/0")]) == IPV4_PUBLIC_TOTAL
    assert public_addresses([ipaddress.IPv4Network("11.0.0.0/9")]) < WORLD_PUBLIC_ADDRESSES


def test_ipv6_is_rejected_in_dev_too():
    p = only(problems("dev", network__allowlist__cidrs=["::/0"]), "pg-platform:network.allowlist.cidrs[0]")
    assert "IPv4 only" in p.message


def test_overlapping_allowlist_networks():
    p = only(
        problems("prod", network__allowlist__cidrs=["10.50.0.0/16", "10.50.4.0/24"]),
        "pg-platform:network.allowlist.cidrs[1]",
    )
    assert "overlaps network.allowlist.cidrs[0]" in p.message


def test_missing_or_null_allowlist_is_an_error(tmp_path):
    p = only(problems("prod", network__allowlist=None), "pg-platform:network.allowlist")
    assert "no client network reaches PostgreSQL" in p.message
    text = re.sub(r"    allowlist:\n(?:      .*\n)+", "    allowlist: null\n", stack_text("prod"))
    with pytest.raises(SettingsError) as caught:
        settings_from_text(tmp_path, text)
    assert caught.value.keys() == ["pg-platform:network.allowlist"]


# --- peers and the security groups allowlisted through them ------------------------------------------------------

APP_EU_WEST = {
    "name": "app-west",
    "vpc_id": "vpc-0123456789abcdef0",
    "cidr": "10.70.0.0/16",
    "account_id": "123456789012",
    "region": "eu-west-1",
    "accepted": True,
}


def test_stack_files_declare_peer_groups_and_acceptance(tmp_path):
    prod, dev = settings_with("prod"), settings_with("dev")
    assert prod.network.allowlist.security_groups == (PeerGroup(peer="app-prod", id="sg-0a1b2c3d4e5f60718"),)
    # Neither peer has accepted yet: the operator sets `accepted: true` afterwards.
    assert prod.network.peers == (
        Peer("app-prod", "vpc-0f1e2d3c4b5a69788", "10.50.0.0/16", "123456789012", "eu-central-1", accepted=False),
    )
    assert [p.accepted for p in dev.network.peers] == [False]
    accepted = settings_from_text(tmp_path, stack_text("prod").replace("accepted: false", "accepted: true"))
    assert accepted.network.peers[0].accepted is True


@pytest.mark.parametrize(
    "group,key,message",
    [
        ("sg-0a1b2c3d4e5f60718", "security_groups[0]", "is a bare security group id"),
        ({"peer": "app-nope", "id": "sg-0a1b2c3d4e5f60718"}, "security_groups[0].peer", "names no network.peers entry"),
        ({"peer": "app-prod", "id": "sg-12345"}, "security_groups[0].id", "a security group id"),
        ({"peer": "app-prod"}, "security_groups[0].id", "a security group id"),
        (
            {"peer": "app-west", "id": "sg-0a1b2c3d4e5f60718"},
            "security_groups[0].peer",
            "AWS does not allow security group references across regions",
        ),
        (None, "security_groups[0]", "must be a mapping"),
    ],
)
def test_allowlisted_security_groups_are_groups_of_a_peer_in_the_region(group, key, message):
    raw, _ = raw_settings("prod")
    peers = [*raw["network"]["peers"], APP_EU_WEST]
    allowlist = {"cidrs": ["10.50.0.0/16"], "security_groups": [group]}
    p = only(
        problems("prod", network__peers=peers, network__allowlist=allowlist), f"pg-platform:network.allowlist.{key}"
    )
    assert message in p.message


@pytest.mark.parametrize(
    "change,key,message",
    [
        ({"name": "app-prod"}, "peers[1].name", "is the name of an earlier peer too"),
        ({"vpc_id": "vpc-0f1e2d3c4b5a69788"}, "peers[1].vpc_id", "is the VPC of network.peers[0] too"),
        ({"cidr": "10.50.128.0/20"}, "peers[1].cidr", "overlaps network.peers[0]"),
        ({"cidr": "fd00::/48"}, "peers[1].cidr", "IPv4 only"),
        ({"region": "eu-centrale-1"}, "peers[1].region", "an AWS region name"),
        ({"region": "cn-north-1"}, "peers[1].region", "VPC peering does not cross partitions"),
        ({"accepted": "yes"}, "peers[1].accepted", "must be true or false"),
        ({"account_id": "12345"}, "peers[1].account_id", "a 12-digit AWS account id"),
        ({"vpc_id": "vpc-123"}, "peers[1].vpc_id", "a VPC id"),
    ],
)
def test_malformed_peers(change, key, message):
    raw, _ = raw_settings("prod")
    peers = [*raw["network"]["peers"], {**APP_EU_WEST, **change}]
    p = only(problems("prod", network__peers=peers), f"pg-platform:network.{key}")
    assert message in p.message


@pytest.mark.parametrize("entry", [None, {}, 7, "app"])
def test_empty_peer_entries_are_errors_not_skipped(entry):
    raw, _ = raw_settings("prod")
    p = only(problems("prod", network__peers=[*raw["network"]["peers"], entry]), "pg-platform:network.peers[1]")
    assert p.message == "must be a mapping"


def test_a_peer_in_another_region_of_the_partition_is_fine():
    raw, _ = raw_settings("prod")
    settings = settings_with("prod", network__peers=[*raw["network"]["peers"], APP_EU_WEST])
    assert [p.region for p in settings.network.peers] == ["eu-central-1", "eu-west-1"]


# --- monitoring --------------------------------------------------------------------------------------------------


def test_duplicate_receiver_names():
    raw, _ = raw_settings("prod")
    receivers = [*raw["monitoring"]["receivers"], {"name": "dba-oncall", "webhook_url": "https://example.com/x"}]
    p = only(problems("prod", monitoring__receivers=receivers), "pg-platform:monitoring.receivers[2].name")
    assert "is the name of monitoring.receivers[0] too" in p.message


@pytest.mark.parametrize(
    "relay",
    [
        "smtp-relay.example.com",
        "smtp-relay.example.com:0",
        "smtp-relay.example.com:99999",
        "smtp relay.example.com:587",
        "smtp://relay.example.com:587",
        587,
        "[::1]",
        ":587",
    ],
)
def test_smtp_relay_must_be_host_and_port(relay):
    p = only(problems("prod", monitoring__smtp_smarthost=relay), "pg-platform:monitoring.smtp_smarthost")
    assert "host:port" in p.message


@pytest.mark.parametrize("relay", ["smtp-relay.example.com:587", "10.0.0.25:25", "[2001:db8::25]:465"])
def test_smtp_relay_forms_accepted(relay):
    assert settings_with("prod", monitoring__smtp_smarthost=relay).monitoring.smtp_smarthost == relay


@pytest.mark.parametrize(
    "url",
    ["http://hooks.example.com/x", "https://", "https:// spaced.example.com/x", "https://hooks.example.com:99999/x"],
)
def test_webhook_urls_must_be_https_urls(url):
    raw, _ = raw_settings("prod")
    receivers = [raw["monitoring"]["receivers"][0], {"name": "hook", "webhook_url": url}]
    p = only(problems("prod", monitoring__receivers=receivers), "pg-platform:monitoring.receivers[1].webhook_url")
    assert "an https:// URL" in p.message


# --- config keys the program would never read ------------------------------------------------------------------


@pytest.mark.parametrize(
    "old,new,fix",
    [
        ("pg-platform:objectives", "pg-platfrom:objectives", "rename it pg-platform:objectives"),
        ("pg-platform:cluster", "pgplatform:cluster", "rename it pg-platform:cluster"),
        ("pg-platform:objectives", "objectives", "write it as pg-platform:objectives"),
        ("aws:region", "aws-region:eu", "use pg-platform:eu for a platform setting"),
    ],
)
def test_misspelt_config_namespaces_are_reported(old, new, fix):
    from stacks.files import engine_config

    config = dict(engine_config("prod"))
    config[new] = config.pop(old)
    with pytest.raises(SettingsError) as caught:
        parse_config(config, "prod")
    p = only(caught.value, new)
    assert "the program never reads it" in p.message and p.fix.startswith(fix)


def test_the_misspelt_namespace_fails_the_program_instead_of_using_the_profile_defaults():
    from stacks.files import engine_config

    objectives = engine_config("prod")["pg-platform:objectives"]
    with pytest.raises(SettingsError, match="pg-platfrom:objectives"):
        run_stack("prod", overrides={"pg-platfrom:objectives": objectives})


def test_the_engine_may_mark_monitoring_secret_but_nothing_else():
    from stacks.files import engine_config

    config = engine_config("prod")
    settings = parse_config(config, "prod", secret_keys=["pg-platform:monitoring", "aws:secretKey"])
    assert settings.secret_keys == {"pg-platform:monitoring", "aws:secretKey"}
    assert settings.monitoring.receivers[1].webhook_url == "https://events.example.com/v2/enqueue/pg-platform-prod"
    with pytest.raises(SettingsError) as caught:
        parse_config(config, "prod", secret_keys=["pg-platform:monitoring", "pg-platform:cluster"])
    assert caught.value.keys() == ["pg-platform:cluster"]


# --- the stage model: stages inherit a profile, extra tags, the cloud's instance types -------------------------

STAGING = Path(__file__).parent / "stacks" / "Pulumi.staging.yaml"


def staging_with(tmp_path, old: str, new: str) -> SettingsError:
    text = STAGING.read_text()
    assert text.count(old) == 1, old
    with pytest.raises(SettingsError) as caught:
        settings_from_text(tmp_path, text.replace(old, new), stack="staging")
    return caught.value


def test_a_staging_stage_inherits_prod():
    settings = settings_for_stack("staging", STAGING.parent)
    assert (settings.stage, settings.profile.name, settings.name) == ("staging", "prod", "pgp-staging")
    topology = derive_topology(settings)
    assert topology.synchronous and topology.protect_stateful.value and topology.lock_mode.value == "COMPLIANCE"
    assert topology.policy_enforcement.value == "mandatory"
    assert topology.protect_stateful.reason.startswith("prod: ")
    assert topology.explain().startswith("topology for stage staging (profile prod, PostgreSQL 17):")
    assert derive_topology(settings_for_stack("prod")).explain().startswith("topology for stage prod (PostgreSQL 17):")
    assert settings.tags["stage"] == "staging" and settings.tags["environment-tier"] == "pre-production"
    prod = settings_for_stack("prod")
    assert settings.objectives == prod.objectives  # the stack file states none: the profile's
    assert settings.cluster.size.memory_mib < prod.cluster.size.memory_mib


def test_a_stage_that_is_not_a_profile_must_name_one(tmp_path):
    p = only(staging_with(tmp_path, "  pg-platform:profile: prod\n", ""), "pg-platform:profile")
    assert "stage 'staging' is not a profile" in p.message
    assert p.fix == "add `pg-platform:profile: prod` (or another of dev, prod) to Pulumi.staging.yaml"


def test_an_unknown_profile(tmp_path):
    p = only(staging_with(tmp_path, "pg-platform:profile: prod", "pg-platform:profile: prd"), "pg-platform:profile")
    assert (p.value, p.message, p.fix) == ("prd", "is not a profile", "use prod")


def test_the_profile_decides_the_rules_a_stage_is_checked_against(tmp_path):
    # Inheriting dev, the same file may leave its backups unlocked; inheriting prod it may not.
    text = STAGING.read_text().replace(
        "  pg-platform:network:", "  pg-platform:objectives: {worm_days: 0}\n  pg-platform:network:"
    )
    with pytest.raises(SettingsError, match="COMPLIANCE lock"):
        settings_from_text(tmp_path, text, stack="staging")
    relaxed = settings_from_text(tmp_path, text.replace("profile: prod", "profile: dev"), stack="staging")
    assert relaxed.profile.name == "dev" and relaxed.objectives.worm_days == 0


@pytest.mark.parametrize(
    "stage,message",
    [
        ("integration", "has 11 characters, but on AWS a stage name has at most 7"),
        ("Staging", "must be a stage name of lowercase letters and digits"),
        ("qa-1", "must be a stage name of lowercase letters and digits"),
    ],
)
def test_stage_names_fit_the_resource_names(tmp_path, stage, message):
    p = only(staging_with(tmp_path, "pg-platform:stage: staging", f"pg-platform:stage: {stage}"), "pg-platform:stage")
    assert message in p.message
    if "characters" in message:
        assert "target group" in p.message and p.fix.endswith("e.g. integra")


def test_the_pack_config_follows_the_profile():
    from stacks.files import engine_config
    from tools.plan import default_pack_config

    staging = engine_config("staging", STAGING.parent)
    assert default_pack_config(staging, "staging").name == "prod.json"
    assert default_pack_config(engine_config("dev"), "dev").name == "dev.json"


def test_extra_tags_are_kept():
    tags = {"owner": "o", "cost-center": "c", "data-classification": "internal", "team:cost/unit": "A 1+2=3 @x"}
    assert settings_with("dev", tags=tags).tags["team:cost/unit"] == "A 1+2=3 @x"


@pytest.mark.parametrize(
    "key,value,message",
    [
        ("aws:project", "x", "is not an AWS tag key: tag keys starting with aws: are reserved for AWS"),
        ("project#1", "x", "is not an AWS tag key: a tag key holds only letters"),
        ("k" * 129, "x", "is not an AWS tag key: a tag key has 1 to 128 characters"),
        ("project", "a;b", "only letters, numbers, spaces and"),
        ("project", " padded", "starts or ends with a blank"),
        ("project", 1234, "must be a string"),
        ("Name", "mine", "is a tag the program sets itself"),
        ("stage", "prod", "is a tag the program sets itself"),
    ],
)
def test_extra_tags_follow_the_clouds_rules(key, value, message):
    tags = {"owner": "o", "cost-center": "c", "data-classification": "internal", key: value}
    p = only(problems("dev", tags=tags), f"pg-platform:tags.{key}")
    assert message in p.message


def test_too_many_tags_for_one_resource():
    tags = {"owner": "o", "cost-center": "c", "data-classification": "internal"}
    tags |= {f"extra-{i}": "x" for i in range(44)}
    p = only(problems("dev", tags=tags), "pg-platform:tags")
    assert "at most 50 tags" in p.message and p.fix == "keep at most 46 tags"


@pytest.mark.parametrize(
    "itype,arch,vcpus,memory",
    [
        ("r7g.xlarge", "arm64", 4, 32768),
        ("m7g.large", "arm64", 2, 8192),
        ("t4g.large", "arm64", 2, 8192),
        ("r8g.2xlarge", "arm64", 8, 65536),
        ("m6i.4xlarge", "x86_64", 16, 65536),
        ("m7i-flex.large", "x86_64", 2, 8192),
        ("r7a.medium", "x86_64", 1, 8192),
    ],
)
def test_instance_types_from_the_clouds_own_list(itype, arch, vcpus, memory):
    cluster = settings_with("prod", cluster__instance_type=itype).cluster
    assert (cluster.architecture, cluster.size.vcpus, cluster.size.memory_mib) == (arch, vcpus, memory)
    assert settings_with("prod", cluster__monitoring_instance_type=itype).cluster.monitoring_architecture == arch


@pytest.mark.parametrize(
    "itype,message,fix",
    [
        ("r7i.xxlarge", "is not an EC2 instance type", "use r7i.xlarge or r7iz.xlarge"),
        ("r7g.metal", "bare metal", "use a type such as t3.medium"),
        ("i4i.large", "is an EC2 type of family i4i, on which the platform does not size PostgreSQL", None),
        ("t3.small", "has 2048 MiB of memory, less than the 4096 MiB a node needs", None),
        ("t2.large", "family t2, on which the platform does not size PostgreSQL", "use t3.large or t4g.large"),
        ("m4.large", "family m4", None),
        ("r6id.xlarge", "has instance store volumes, so EC2 cannot recover it", None),
        ("m5d.large", "when its host fails; m5.large is the same size without them", "use m5.large"),
        (17, "must be an AWS instance type", None),
    ],
)
def test_instance_types_the_platform_refuses(itype, message, fix):
    p = only(problems("prod", cluster__instance_type=itype), "pg-platform:cluster.instance_type")
    assert message in p.message
    if fix:
        assert p.fix == fix
