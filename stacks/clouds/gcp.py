"""GCP facts the stack settings are checked against, each defined once (not yet in stacks/clouds CLOUDS: a stack
may select gcp only once components/gcp/ exists).

No GCP SDK or API model carries regions, zones or machine types offline (the compute discovery document names
none), so they are vendored here from Google's published tables and say where from. Every other limit that an
API model does carry is read from it by tools/constraints/gcp.py, which tests/unit/test_clouds_gcp.py pins
these facts against.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from stacks.clouds.model import Architecture, Cloud, Router, RoutingCheck
from stacks.clouds.peers import PeerList, PeerWording
from stacks.reader import Reader
from stacks.sizes import NodeSize

NAME = "gcp"
REGION_KEY = "gcp:region"  # pulumi-gcp's provider config; the project is `gcp:project`
PROJECT_KEY = "gcp:project"

# --- regions and zones ---------------------------------------------------------------------------------------
# Compute Engine "Regions and zones", Available regions and zones
# (https://cloud.google.com/compute/docs/regions-zones#available): region -> the letters of its zones. A zone is
# `<region>-<letter>`; the letters are not always a, b, c (europe-west1 has b, c, d; us-central1 a, b, c, f).
ZONE_LETTERS: dict[str, str] = {
    "africa-south1": "abc",
    "asia-east1": "abc",
    "asia-east2": "abc",
    "asia-northeast1": "abc",
    "asia-northeast2": "abc",
    "asia-northeast3": "abc",
    "asia-south1": "abc",
    "asia-south2": "abc",
    "asia-southeast1": "abc",
    "asia-southeast2": "abc",
    "australia-southeast1": "abc",
    "australia-southeast2": "abc",
    "europe-central2": "abc",
    "europe-north1": "abc",
    "europe-north2": "abc",
    "europe-southwest1": "abc",
    "europe-west1": "bcd",
    "europe-west2": "abc",
    "europe-west3": "abc",
    "europe-west4": "abc",
    "europe-west6": "abc",
    "europe-west8": "abc",
    "europe-west9": "abc",
    "europe-west10": "abc",
    "europe-west12": "abc",
    "me-central1": "abc",
    "me-central2": "abc",
    "me-west1": "abc",
    "northamerica-northeast1": "abc",
    "northamerica-northeast2": "abc",
    "northamerica-south1": "abc",
    "southamerica-east1": "abc",
    "southamerica-west1": "abc",
    "us-central1": "abcf",
    "us-east1": "bcd",
    "us-east4": "abc",
    "us-east5": "abc",
    "us-south1": "abc",
    "us-west1": "abc",
    "us-west2": "abc",
    "us-west3": "abc",
    "us-west4": "abc",
}
REGIONS: tuple[str, ...] = tuple(sorted(ZONE_LETTERS))
_ZONE = re.compile(r"(?P<region>[a-z]+-[a-z]+\d+)-(?P<letter>[a-z])")


def is_region(name: object) -> bool:
    return isinstance(name, str) and name in ZONE_LETTERS


def zones_of(region: str) -> tuple[str, ...]:
    return tuple(f"{region}-{letter}" for letter in ZONE_LETTERS.get(region, ""))


def region_problem(region: str) -> str | None:
    if is_region(region):
        return None
    if _ZONE.fullmatch(region):
        return "is a zone, not a region (gcp:region names the region, e.g. europe-west3)"
    return "is not a GCP region"


def zone_examples(region: str) -> tuple[str, ...]:
    return zones_of(region)


def zone_problem(zone: object, region: str | None) -> str | None:
    """Why `zone` is not a zone of `region` (None when it is one)."""
    if not isinstance(zone, str) or not zone:
        return "is not a zone name"
    match = _ZONE.fullmatch(zone)
    if not match:
        return "is not a Compute Engine zone name (<region>-<letter>, e.g. europe-west3-a)"
    owner = match["region"]
    if owner not in ZONE_LETTERS:
        return f"names {owner}, which is not a GCP region"
    if match["letter"] not in ZONE_LETTERS[owner]:
        return f"is not a zone of {owner}, whose zones are {', '.join(zones_of(owner))}"
    if region and owner != region:
        return f"is a zone of {owner}, not of the stack's region {region}"
    return None


# --- network -------------------------------------------------------------------------------------------------
# A custom-mode VPC network has no range of its own: the platform's network CIDR is its address plan, carved into
# subnets. Their primary IPv4 ranges are /29 at the smallest ("Subnets", IPv4 subnet ranges:
# https://cloud.google.com/vpc/docs/subnets#valid-ranges), and the plan is bounded by the largest RFC 1918 block.
NETWORK_PREFIX_MIN = 8
SUBNET_PREFIX_MAX = 29
# GCP reserves four addresses of every primary subnet range: the network address and the default gateway (the
# first two) and the second-to-last and broadcast address (the last two) ("Subnets", Reserved IP addresses in
# IPv4 subnets). Members take fixed addresses from the tenth on, as on AWS, so the ones between stay spare.
RESERVED_LOW = 2
RESERVED_HIGH = 2
NODE_HOST_OFFSET = 10

# --- the load balancer ---------------------------------------------------------------------------------------
# An internal passthrough Network Load Balancer checks its backends with a regional health check. The API's
# limits (Google Cloud SDK googlecloudsdk/command_lib/compute/health_checks/health_checks_utils.py, the bounds
# gcloud checks before calling compute healthChecks.insert): checkIntervalSec 1-300, timeoutSec 1-300 and not
# above checkIntervalSec (compute discovery document, HealthCheck.timeoutSec), healthy and unhealthy thresholds
# 1-10. tools/constraints/gcp.py refuses values outside them.
CHECK_INTERVAL_RANGE = (1, 300)
CHECK_TIMEOUT_RANGE = (1, 300)
CHECK_THRESHOLD_RANGE = (1, 10)
# The platform's checking: the timeout must stay below the interval (a check slower than the next one is
# pointless) and be at least the API's 1 s, so the fastest interval is 2 s. A threshold of 2 each way, as on AWS:
# one lost probe does not drop the leader, one stray answer does not admit a node.
INTERNAL_NLB = Router(
    name="GCP internal passthrough NLB",
    check=RoutingCheck(interval_seconds=2, fall=2, rise=2, timeout_seconds=1),
)

# Where Google's health checkers for internal passthrough Network Load Balancers probe from: firewall rules must
# admit them to the checked port ("Health checks overview", Probe IP ranges and firewall rules:
# https://cloud.google.com/load-balancing/docs/health-check-concepts#ip-ranges).
HEALTH_CHECK_SOURCE_RANGES = ("35.191.0.0/16", "130.211.0.0/22")
# Where Identity-Aware Proxy's TCP forwarding connects from, for operators' SSH without an external address
# ("Using IAP for TCP forwarding", Create a firewall rule: https://cloud.google.com/iap/docs/using-tcp-forwarding).
IAP_TCP_SOURCE_RANGE = "35.235.240.0/20"

# --- names and the stage -------------------------------------------------------------------------------------
# Compute resource names are RFC 1035 labels of 1-63 characters (the compute discovery document's name pattern).
# The tightest name the platform builds is a service account id: 6-30 characters (iam v1 discovery document,
# CreateServiceAccountRequest.accountId), auto-named by pulumi-gcp as `<logical name>-<7 hex>` (provider/
# resources.go google_service_account: AutoName("", 30, "-")). The GCP components' longest service account is
# the monitoring node's, `pgp-<stage>-monitoring`, so a stage's name has at most 7 characters.
RESOURCE_NAME_MAX = 63
SERVICE_ACCOUNT_ID_MAX = 30
AUTONAME_SUFFIX = len("-xxxxxxx")
LONGEST_SERVICE_ACCOUNT = "pgp-{stage}-monitoring"
STAGE_NAME_MAX = SERVICE_ACCOUNT_ID_MAX - AUTONAME_SUFFIX - len(LONGEST_SERVICE_ACCOUNT.format(stage=""))
STAGE_NAME_REASON = (
    f"GCP service account ids have at most {SERVICE_ACCOUNT_ID_MAX} characters, and "
    f"{LONGEST_SERVICE_ACCOUNT.format(stage='<stage>')} plus the 8 the provider appends must fit"
)

PROJECT_ID = re.compile(r"[a-z][-a-z0-9]{4,28}[a-z0-9]")  # Resource Manager: 6-30 characters
RFC1035_NAME = re.compile(r"[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?")


@dataclass(frozen=True)
class Peer:
    """A VPC network the platform's network peers with (VPC Network Peering): named by its project and network,
    so the GCP components build the self link `projects/<project>/global/networks/<network>`."""

    name: str
    project: str
    network: str
    cidr: str
    # Set true by the operator once the peer has created its side: a peering is ACTIVE only when both networks
    # have configured it, and until then no route to the peer exists.
    accepted: bool = False

    @property
    def self_link(self) -> str:
        return f"projects/{self.project}/global/networks/{self.network}"


PEER_KEYS = ("name", "project", "network", "cidr", "accepted")


_PEER_WORDING = PeerWording(
    network="network",
    name_use="the peering",
    platform_overlap="GCP refuses a peering whose subnet routes overlap",
    peer_overlap="GCP refuses overlapping subnet routes from two peerings",
    peer_overlap_fix="peer only networks with disjoint ranges",
)


def parse_peers(
    r: Reader, value: object, network_cidr: str | None, region: str | None
) -> tuple[tuple[Peer, ...], set[str]]:
    """The valid peers, and every name declared. A VPC network is global, so a peer has no region."""
    listed = PeerList(r, value, network_cidr, PEER_KEYS, _PEER_WORDING)
    peers: list[Peer] = []
    for e in listed.entries():
        project = r.string(
            f"{e.key}.project",
            e.fields.get("project"),
            lambda s: PROJECT_ID.fullmatch(s) is not None,
            "a GCP project id (6-30 lowercase letters, digits and '-', starting with a letter)",
        )
        network = r.string(
            f"{e.key}.network",
            e.fields.get("network"),
            lambda s: RFC1035_NAME.fullmatch(s) is not None,
            "a VPC network name (RFC 1035: 1-63 lowercase letters, digits and '-')",
        )
        if project and network:
            link = f"projects/{project}/global/networks/{network}"
            network = listed.once(f"{e.key}.network", network, link, "network")
        accepted = r.boolean(f"{e.key}.accepted", e.fields.get("accepted", False))
        if e.name and project and network and e.cidr and accepted is not None:
            peers.append(Peer(e.name, project, network, e.cidr, accepted))
    return tuple(peers), listed.declared


def parse_peer_groups(
    r: Reader, key: str, listed: list[Any], region: str | None, by_name: Mapping[str, Any], declared: set[str]
) -> tuple[()]:
    """GCP firewall rules admit by CIDR only here: a rule's source tags and source service accounts match only
    VMs "in the same VPC network" (compute discovery document, Firewall.sourceTags), never a peer's, and the
    platform's network is new, so it has no groups of its own to admit."""
    for i, g in enumerate(listed):
        peer = g.get("peer") if isinstance(g, Mapping) else None
        cidr = getattr(by_name.get(peer or ""), "cidr", None)
        r.fail(
            f"{key}[{i}]",
            g,
            "GCP firewall rules cannot admit network tags or service accounts of a peered network (they match only "
            "VMs in the rule's own network)",
            f"allowlist the peer's CIDR {cidr} instead" if cidr else "allowlist the clients' CIDRs instead",
        )
    return ()


# --- machine types -------------------------------------------------------------------------------------------
# A predefined machine type is `<series>-<shape>-<vCPUs>` (Compute Engine "Machine families resource and
# comparison guide", https://cloud.google.com/compute/docs/machine-resource, and each series' page under
# https://cloud.google.com/compute/docs/general-purpose-machines and .../compute-optimized-machines). Per series
# and shape: the vCPU counts offered, and the memory per vCPU. Where a series' ratio is not one number for all
# sizes (c4-standard-2 has 7 GB, larger ones 3.75 GB per vCPU), the smallest is used, so the derived memory
# parameters never overcommit a node. Compute Engine's GB are GiB.
MachineShape = tuple[tuple[int, ...], int]  # (vCPU counts, MiB per vCPU)
_N2_SIZES = (2, 4, 8, 16, 32, 48, 64, 80, 96, 128)
_C3_SIZES = (4, 8, 22, 44, 88, 176)
_C3D_SIZES = (4, 8, 16, 30, 60, 90, 180, 360)
_C4_SIZES = (2, 4, 8, 16, 24, 32, 48, 96, 144, 192, 288)
_C4A_SIZES = (1, 2, 4, 8, 16, 32, 48, 64, 72)
_N4_SIZES = (2, 4, 8, 16, 32, 48, 64, 80)
MACHINE_SERIES: dict[str, dict[str, MachineShape]] = {
    "e2": {
        "standard": ((2, 4, 8, 16, 32), 4096),
        "highmem": ((2, 4, 8, 16), 8192),
        "highcpu": ((2, 4, 8, 16, 32), 1024),
    },
    "n2": {
        "standard": (_N2_SIZES, 4096),
        "highmem": (_N2_SIZES, 8192),
        "highcpu": (_N2_SIZES[:-1], 1024),
    },
    "n2d": {
        "standard": ((*_N2_SIZES, 224), 4096),
        "highmem": (_N2_SIZES[:-1], 8192),
        "highcpu": ((*_N2_SIZES, 224), 1024),
    },
    "n4": {"standard": (_N4_SIZES, 4096), "highmem": (_N4_SIZES, 8192), "highcpu": (_N4_SIZES, 2048)},
    "c3": {"standard": (_C3_SIZES, 4096), "highmem": (_C3_SIZES, 8192), "highcpu": (_C3_SIZES, 2048)},
    "c3d": {"standard": (_C3D_SIZES, 4096), "highmem": (_C3D_SIZES, 8192), "highcpu": (_C3D_SIZES, 2048)},
    "c4": {"standard": (_C4_SIZES, 3584), "highmem": (_C4_SIZES, 7680), "highcpu": (_C4_SIZES, 2048)},
    "c4a": {"standard": (_C4A_SIZES, 4096), "highmem": (_C4A_SIZES, 8192), "highcpu": (_C4A_SIZES, 2048)},
    "t2a": {"standard": ((1, 2, 4, 8, 16, 32, 48), 4096)},
    "t2d": {"standard": ((1, 2, 4, 8, 16, 32, 48, 60), 4096)},
}
# Arm64 series: C4A (Google Axion) and T2A (Ampere Altra); all others are x86-64.
ARM64_SERIES = ("c4a", "t2a")
SHARED_CORE_TYPES = ("e2-micro", "e2-small", "e2-medium")
_TYPE = re.compile(r"(?P<series>[a-z]+\d+[a-z]?)-(?P<shape>[a-z]+)-(?P<vcpus>\d+)(?P<variant>-[a-z0-9-]+)?")
NODE_MEMORY_MIB_MIN = 4096  # as on AWS: PostgreSQL, its pooler, Patroni, etcd and the agents

REFERENCE_TYPES = ("e2-standard-2", "n2-standard-4", "n2-highmem-4", "c3-highmem-8", "c4a-highmem-4")


def instance_types() -> frozenset[str]:
    """Every predefined type of the series above (the platform's offer; custom and shared-core types apart)."""
    return frozenset(
        f"{series}-{shape}-{n}"
        for series, shapes in MACHINE_SERIES.items()
        for shape, (counts, _) in shapes.items()
        for n in counts
    ) | frozenset(SHARED_CORE_TYPES)


def _sized(machine_type: str) -> NodeSize | str:
    if machine_type in SHARED_CORE_TYPES:
        return "is a shared-core type (a fraction of a vCPU, bursting), on which the platform does not size PostgreSQL"
    if "-custom-" in machine_type or machine_type.startswith("custom-"):
        return "is a custom machine type; the platform sizes predefined types only"
    match = _TYPE.fullmatch(machine_type)
    if not match:
        return "is not a Compute Engine machine type name (<series>-<shape>-<vCPUs>, e.g. n2-standard-4)"
    series, shape, vcpus = match["series"], match["shape"], int(match["vcpus"])
    if match["variant"]:
        return (
            f"is a {match['variant'][1:]} variant, which the platform does not size (it keeps data on persistent "
            f"disks or Hyperdisk); use {series}-{shape}-{vcpus}"
        )
    shapes = MACHINE_SERIES.get(series)
    if shapes is None:
        return (
            f"is of series {series}, on which the platform does not size PostgreSQL (it does on "
            f"{', '.join(MACHINE_SERIES)})"
        )
    if shape not in shapes:
        return f"has shape {shape}, which series {series} does not offer (it offers {', '.join(shapes)})"
    counts, per_vcpu = shapes[shape]
    if vcpus not in counts:
        return f"has {vcpus} vCPUs, a size {series}-{shape} does not offer ({', '.join(map(str, counts))})"
    return NodeSize(vcpus=vcpus, memory_mib=vcpus * per_vcpu)


def instance_type_problem(machine_type: str) -> str | None:
    sized = _sized(machine_type)
    if isinstance(sized, str):
        return sized
    if sized.memory_mib < NODE_MEMORY_MIB_MIN:
        return f"has {sized.memory_mib} MiB of memory, less than the {NODE_MEMORY_MIB_MIN} MiB a node needs"
    return None


def node_size(machine_type: str) -> NodeSize:
    sized = _sized(machine_type)
    if isinstance(sized, str):
        raise ValueError(f"{machine_type} {sized}")
    return sized


def architecture(machine_type: str) -> Architecture:
    """The processor architecture of a machine type, which decides the image it boots."""
    return "arm64" if machine_type.partition("-")[0] in ARM64_SERIES else "x86_64"


# --- disks ---------------------------------------------------------------------------------------------------
# The platform's data disks. Persistent disks are not provisioned: their IOPS follow their size (pd-balanced a
# baseline of 3,000 plus 6 per GiB, pd-ssd 6,000 plus 30 per GiB, up to 80,000 and 100,000 per disk: "Persistent
# Disk performance", https://cloud.google.com/compute/docs/disks/performance). Hyperdisk Balanced is
# provisioned: 3,000 to 160,000 IOPS and at most 500 per GiB ("Hyperdisk performance limits",
# https://cloud.google.com/compute/docs/disks/hyperdisk-perf-limits). C4, C4A and N4 attach Hyperdisk only.
DISK_TYPES = ("pd-balanced", "pd-ssd", "hyperdisk-balanced")
PROVISIONED_IOPS_TYPES = ("hyperdisk-balanced",)
DISK_IOPS_BY_SIZE = {"pd-balanced": (3_000, 6, 80_000), "pd-ssd": (6_000, 30, 100_000)}  # baseline, per GiB, max
HYPERDISK_BALANCED_IOPS = (3_000, 160_000)
HYPERDISK_BALANCED_IOPS_PER_GIB = 500
DISK_IOPS_MIN = 3_000
DISK_SIZE_GB_MAX = 65_536
HYPERDISK_ONLY_SERIES = ("c4", "c4a", "n4")


def disk_iops_ceiling(disk_type: str, size_gb: int) -> int:
    if disk_type in DISK_IOPS_BY_SIZE:
        baseline, per_gib, most = DISK_IOPS_BY_SIZE[disk_type]
        return min(most, baseline + per_gib * size_gb)
    return min(HYPERDISK_BALANCED_IOPS[1], max(HYPERDISK_BALANCED_IOPS[0], size_gb * HYPERDISK_BALANCED_IOPS_PER_GIB))


def disk_type_problem(machine_type: str, disk_type: str) -> str | None:
    """Why a machine type cannot attach a disk type (the GCP components ask it; the Cloud interface has no hook)."""
    series = machine_type.partition("-")[0]
    if series in HYPERDISK_ONLY_SERIES and not disk_type.startswith("hyperdisk-"):
        return f"{series} machine types attach Hyperdisk only, not {disk_type}"
    return None


# --- labels --------------------------------------------------------------------------------------------------
# The stage's tags become GCP labels, whose rules every labelled service shares (Resource Manager "Requirements
# for labels", https://cloud.google.com/resource-manager/docs/labels-overview#requirements; the secretmanager v1
# discovery document's Secret.labels states them as patterns): keys 1-63 characters, starting with a lowercase
# letter, values 0-63; both only lowercase letters, digits, '_' and '-' (international lowercase letters too);
# at most 64 per resource, of which pulumi-gcp takes one (goog-pulumi-provisioned, its renamed Terraform
# attribution label, added unless addPulumiAttributionLabel is false).
LABEL_MAX = 63
LABELS_PER_RESOURCE = 64
PROVIDER_LABELS = ("goog-pulumi-provisioned",)


def _label_chars_ok(text: str) -> bool:
    """Lowercase (or caseless) letters, digits, '_' and '-': \\p{Ll}, \\p{Lo}, \\p{N}, _ and - of the patterns."""
    return all(c in "_-" or unicodedata.category(c) in ("Ll", "Lo") or unicodedata.category(c)[0] == "N" for c in text)


def tag_key_problem(key: str) -> str | None:
    if not 1 <= len(key) <= LABEL_MAX:
        return f"a label key has 1 to {LABEL_MAX} characters"
    if unicodedata.category(key[0]) not in ("Ll", "Lo"):
        return "a label key starts with a lowercase letter"
    if not _label_chars_ok(key):
        return "a label key holds only lowercase letters, digits, '_' and '-'"
    if key in PROVIDER_LABELS:
        return "is the label pulumi-gcp sets itself"
    return None


def tag_value_problem(value: str) -> str | None:
    """Values are refused, not lowercased: a silently changed value would differ between clouds and miss every
    comparison (cost reports, policies) made with the value the stack file says."""
    if len(value) > LABEL_MAX:
        return f"a GCP label value has at most {LABEL_MAX} characters ({len(value)} given)"
    if not _label_chars_ok(value):
        hint = f" (write {value.lower()!r})" if _label_chars_ok(value.lower()) else ""
        return f"a GCP label value holds only lowercase letters, digits, '_' and '-'{hint}"
    return None


CLOUD = Cloud(
    name=NAME,
    label="GCP",
    region_key=REGION_KEY,
    region_example="europe-west3",
    regions=REGIONS,
    region_problem=region_problem,
    zone_problem=zone_problem,
    zone_examples=zone_examples,
    router=INTERNAL_NLB,
    network_prefix_min=NETWORK_PREFIX_MIN,
    subnet_prefix_max=SUBNET_PREFIX_MAX,
    node_host_offset=NODE_HOST_OFFSET,
    instance_types=instance_types,
    instance_type_problem=instance_type_problem,
    node_size=node_size,
    architecture=architecture,
    default_monitoring_instance_type="e2-standard-2",
    disk_types=DISK_TYPES,
    default_disk_type="pd-balanced",
    disk_size_gb_max=DISK_SIZE_GB_MAX,
    disk_iops_min=DISK_IOPS_MIN,
    disk_iops_max=max(HYPERDISK_BALANCED_IOPS[1], *(most for _, _, most in DISK_IOPS_BY_SIZE.values())),
    disk_iops_ceiling=disk_iops_ceiling,
    tag_key_problem=tag_key_problem,
    tag_value_problem=tag_value_problem,
    tags_per_resource=LABELS_PER_RESOURCE - len(PROVIDER_LABELS),
    stage_name_max=STAGE_NAME_MAX,
    stage_name_reason=STAGE_NAME_REASON,
    parse_peers=parse_peers,
    parse_peer_groups=parse_peer_groups,
)
