"""The GCP facts in stacks/clouds/gcp.py: zones, machine types and their sizes, disks, labels, the load balancer's
timing, addresses, the stage-name limit (pinned to the constraint plugin's auto-naming) and peers."""

import ipaddress

import pytest

from stacks.clouds import CLOUDS, gcp
from stacks.reader import Reader
from stacks.sizes import NodeSize


def test_the_cloud_is_registered_by_its_name():
    assert CLOUDS["gcp"] is gcp.CLOUD and gcp.CLOUD.region_key == "gcp:region"


@pytest.mark.parametrize(
    "zone,region,problem",
    [
        ("europe-west3-a", "europe-west3", None),
        ("europe-west1-d", "europe-west1", None),
        ("us-central1-f", "us-central1", None),
        ("europe-west1-a", "europe-west1", "is not a zone of europe-west1"),
        ("europe-west3-a", "europe-west4", "is a zone of europe-west3, not of the stack's region europe-west4"),
        ("mars-north1-a", "europe-west3", "not a GCP region"),
        ("europe-west3a", "europe-west3", "not a Compute Engine zone name"),
        ("", "europe-west3", "not a zone name"),
        (None, "europe-west3", "not a zone name"),
    ],
)
def test_zones(zone, region, problem):
    found = gcp.zone_problem(zone, region)
    assert (found is None) if problem is None else (problem in found)


def test_regions():
    assert gcp.region_problem("europe-west3") is None
    assert "is a zone" in gcp.region_problem("europe-west3-a")
    assert gcp.region_problem("eu-central-1") == "is not a GCP region"
    assert all(gcp.zone_problem(z, r) is None for r in gcp.REGIONS for z in gcp.zones_of(r))
    assert all(len(gcp.zones_of(r)) >= 3 for r in gcp.REGIONS)


@pytest.mark.parametrize(
    "machine,size,arch",
    [
        ("n2-standard-4", NodeSize(4, 16384), "x86_64"),
        ("n2-highmem-8", NodeSize(8, 65536), "x86_64"),
        ("e2-standard-2", NodeSize(2, 8192), "x86_64"),
        ("c3-highmem-22", NodeSize(22, 22 * 8192), "x86_64"),
        ("c4-standard-2", NodeSize(2, 2 * 3584), "x86_64"),
        ("c4a-highmem-4", NodeSize(4, 32768), "arm64"),
        ("t2a-standard-1", NodeSize(1, 4096), "arm64"),
    ],
)
def test_machine_sizes(machine, size, arch):
    assert gcp.instance_type_problem(machine) is None and machine in gcp.instance_types()
    assert gcp.node_size(machine) == size and gcp.architecture(machine) == arch


@pytest.mark.parametrize(
    "machine,problem",
    [
        ("n2-standard-6", "a size n2-standard does not offer"),
        ("n2-ultramem-4", "shape ultramem, which series n2 does not offer"),
        ("m3-megamem-64", "series m3, on which the platform does not size"),
        ("e2-medium", "shared-core"),
        ("n2-custom-4-16384", "custom machine type"),
        ("c3-standard-4-lssd", "lssd variant"),
        ("e2-highcpu-2", "less than the 4096 MiB"),
        ("r7i.xlarge", "not a Compute Engine machine type name"),
    ],
)
def test_machines_refused(machine, problem):
    assert problem in gcp.instance_type_problem(machine)
    if "less than" not in problem:  # too small is sized, just refused
        with pytest.raises(ValueError):
            gcp.node_size(machine)


def test_reference_types_are_offered():
    assert all(gcp.instance_type_problem(t) is None for t in gcp.REFERENCE_TYPES)
    assert gcp.instance_type_problem(gcp.CLOUD.default_monitoring_instance_type) is None


def test_disks():
    assert gcp.disk_iops_ceiling("pd-balanced", 100) == 3_600
    assert gcp.disk_iops_ceiling("pd-ssd", 10_000) == 100_000
    assert gcp.disk_iops_ceiling("hyperdisk-balanced", 20) == 10_000
    assert gcp.disk_iops_ceiling("hyperdisk-balanced", 4) == 3_000
    assert gcp.disk_iops_ceiling("hyperdisk-balanced", 1_000) == 160_000
    assert gcp.CLOUD.disk_iops_max == 160_000 and gcp.CLOUD.default_disk_type in gcp.DISK_TYPES
    assert (
        gcp.disk_type_problem("c4-standard-8", "pd-balanced")
        == "c4 machine types attach Hyperdisk only, not pd-balanced"
    )
    assert gcp.disk_type_problem("c4a-standard-8", "hyperdisk-balanced") is None
    assert gcp.disk_type_problem("n2-standard-8", "pd-ssd") is None


@pytest.mark.parametrize(
    "key,problem",
    [
        ("owner", None),
        ("cost-center", None),
        ("data_classification", None),
        ("ünïcode", None),
        ("a" * 63, None),
        ("", "1 to 63"),
        ("a" * 64, "1 to 63"),
        ("Owner", "starts with a lowercase letter"),
        ("1owner", "starts with a lowercase letter"),
        ("owner.name", "only lowercase letters"),
        ("goog-pulumi-provisioned", "pulumi-gcp sets itself"),
    ],
)
def test_label_keys(key, problem):
    found = gcp.tag_key_problem(key)
    assert (found is None) if problem is None else (problem in found)


@pytest.mark.parametrize(
    "value,problem",
    [
        ("cc-4711", None),
        ("", None),
        ("confidential", None),
        ("a" * 63, None),
        ("CC-4711", "write 'cc-4711'"),
        ("a" * 64, "at most 63"),
        ("team data", "only lowercase letters"),
    ],
)
def test_label_values_are_refused_not_lowercased(value, problem):
    found = gcp.tag_value_problem(value)
    assert (found is None) if problem is None else (problem in found)


def test_labels_per_resource_leave_room_for_the_providers():
    assert gcp.CLOUD.tags_per_resource == 63


def test_router_within_the_health_check_limits():
    check = gcp.INTERNAL_NLB.check
    lo, hi = gcp.CHECK_INTERVAL_RANGE
    assert lo <= check.interval_seconds <= hi and gcp.CHECK_TIMEOUT_RANGE[0] <= check.timeout_seconds
    assert check.timeout_seconds < check.interval_seconds
    assert all(gcp.CHECK_THRESHOLD_RANGE[0] <= n <= gcp.CHECK_THRESHOLD_RANGE[1] for n in (check.fall, check.rise))
    # the fastest interval whose timeout can stay below it and at the API's minimum
    assert check.interval_seconds == gcp.CHECK_TIMEOUT_RANGE[0] + 1 and check.admission_seconds == 4


def test_addresses():
    smallest = ipaddress.ip_network("10.0.0.0/26")  # a /24 network split in four, the smallest the topology carves
    assert gcp.RESERVED_LOW <= gcp.NODE_HOST_OFFSET < smallest.num_addresses - gcp.RESERVED_HIGH
    assert gcp.SUBNET_PREFIX_MAX == 29 and gcp.NETWORK_PREFIX_MIN == 8


def test_stage_name_limit_is_the_service_account_autoname():
    from tools.constraints import naming
    from tools.constraints.gcp import AUTONAMING

    rule = AUTONAMING["gcp:serviceaccount/account:Account"]
    urn = "urn:pulumi:s::p::gcp:serviceaccount/account:Account::"
    fits = naming.compute(rule, urn + gcp.LONGEST_SERVICE_ACCOUNT.format(stage="a" * gcp.STAGE_NAME_MAX), {})
    over = naming.compute(rule, urn + gcp.LONGEST_SERVICE_ACCOUNT.format(stage="a" * (gcp.STAGE_NAME_MAX + 1)), {})
    assert gcp.STAGE_NAME_MAX == 7 and fits.failure is None and len(fits.value) == 30
    assert "longer than maximum length 30" in over.failure


def _peers(value, cidr="10.40.0.0/16"):
    r = Reader()
    peers, declared = gcp.parse_peers(r, value, cidr, "europe-west3")
    return peers, declared, [f"{p.key}: {p.message}" for p in r.problems]


def test_peers():
    peers, declared, problems = _peers(
        [{"name": "app-prod", "project": "acme-app-prod", "network": "app", "cidr": "10.50.0.0/16", "accepted": True}]
    )
    assert problems == [] and declared == {"app-prod"}
    assert peers[0].self_link == "projects/acme-app-prod/global/networks/app" and peers[0].accepted


@pytest.mark.parametrize(
    "entry,problem",
    [
        ({"project": "ab", "network": "app", "cidr": "10.50.0.0/16"}, "network.peers[0].project"),
        ({"project": "acme-app-prod", "network": "App_1", "cidr": "10.50.0.0/16"}, "network.peers[0].network"),
        ({"project": "acme-app-prod", "network": "app", "cidr": "10.40.1.0/24"}, "overlaps the platform network"),
        ({"project": "acme-app-prod", "network": "app", "cidr": "10.50.0.0/16", "vpc_id": "vpc-1"}, "vpc_id"),
    ],
)
def test_peers_refused(entry, problem):
    peers, _, problems = _peers([{"name": "app", **entry}])
    assert any(problem in p for p in problems), problems
    assert peers == () or problem == "vpc_id"  # an unknown key is reported; the peer itself is whole


def test_two_peers_on_one_network_or_range():
    base = {"project": "acme-app-prod", "network": "app", "cidr": "10.50.0.0/16"}
    _, _, problems = _peers([{"name": "a", **base}, {"name": "b", **base, "cidr": "10.60.0.0/16"}])
    assert any("network of network.peers[0] too" in p for p in problems)
    _, _, problems = _peers([{"name": "a", **base}, {"name": "b", **base, "network": "other", "cidr": "10.50.1.0/24"}])
    assert any("overlaps network.peers[0]" in p for p in problems)


def test_allowlisted_groups_are_refused():
    peers, declared, _ = _peers([{"name": "app", "project": "acme-app-prod", "network": "app", "cidr": "10.50.0.0/16"}])
    r = Reader()
    groups = gcp.parse_peer_groups(r, "k", [{"peer": "app", "id": "web"}], "europe-west3", {"app": peers[0]}, declared)
    assert groups == () and "allowlist the peer's CIDR 10.50.0.0/16" in r.problems[0].fix
