"""AWS facts the stack settings are checked against, each defined once.

The region list is generated from the endpoint data botocore ships (`python -m stacks.clouds.aws` prints it)
and vendored here, as EC2's instance types are in aws_instance_types.txt (`python -m stacks.clouds.aws
instance-types` writes it), because the Pulumi program must import `stacks/` from a deploy-only virtualenv that
may not have botocore; `tests/unit/test_clouds_aws.py` keeps both equal to the installed botocore's.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stacks.clouds.model import Architecture, Cloud, Router, RoutingCheck
from stacks.clouds.peers import PeerList, PeerWording
from stacks.reader import Reader
from stacks.sizes import NodeSize

NAME = "aws"
REGION_KEY = "aws:region"

# --- regions -------------------------------------------------------------------------------------------------
# partition -> regions offering EC2, as botocore.session.get_session().get_available_regions("ec2", partition).
# generated: start
REGIONS_BY_PARTITION: dict[str, tuple[str, ...]] = {
    "aws": (
        "af-south-1",
        "ap-east-1",
        "ap-east-2",
        "ap-northeast-1",
        "ap-northeast-2",
        "ap-northeast-3",
        "ap-south-1",
        "ap-south-2",
        "ap-southeast-1",
        "ap-southeast-2",
        "ap-southeast-3",
        "ap-southeast-4",
        "ap-southeast-5",
        "ap-southeast-6",
        "ap-southeast-7",
        "ca-central-1",
        "ca-west-1",
        "eu-central-1",
        "eu-central-2",
        "eu-north-1",
        "eu-south-1",
        "eu-south-2",
        "eu-west-1",
        "eu-west-2",
        "eu-west-3",
        "il-central-1",
        "me-central-1",
        "me-south-1",
        "mx-central-1",
        "sa-east-1",
        "us-east-1",
        "us-east-2",
        "us-west-1",
        "us-west-2",
    ),
    "aws-cn": ("cn-north-1", "cn-northwest-1"),
    "aws-us-gov": ("us-gov-east-1", "us-gov-west-1"),
    "aws-iso": ("us-iso-east-1", "us-iso-west-1"),
    "aws-iso-b": ("us-isob-east-1", "us-isob-west-1"),
    "aws-iso-e": ("eu-isoe-west-1",),
    "aws-iso-f": ("us-isof-east-1", "us-isof-south-1"),
    "aws-eusc": ("eusc-de-east-1",),
}
# generated: end
LINE_LENGTH = 120  # pyproject.toml's, so the generated block is what `ruff format` leaves alone

PARTITION_OF: dict[str, str] = {
    region: partition for partition, regions in REGIONS_BY_PARTITION.items() for region in regions
}
REGIONS: tuple[str, ...] = tuple(sorted(PARTITION_OF))


def is_region(name: object) -> bool:
    return isinstance(name, str) and name in PARTITION_OF


def partition_of(region: str) -> str | None:
    return PARTITION_OF.get(region)


# --- zones ---------------------------------------------------------------------------------------------------
# An availability zone is named after its region plus one letter (eu-central-1a). Local Zones
# (us-west-2-lax-1a) and Wavelength Zones (us-east-1-wl1-bos-wlz-1) hang off a region too, but offer neither
# the NLB nor the interface endpoints the platform needs, and zone IDs (euc1-az2) differ per account.
_AZ_SUFFIX = re.compile(r"[a-z]")
_LOCAL_ZONE_SUFFIX = re.compile(r"-[a-z]{3,}-\d+[a-z]")
_WAVELENGTH_SUFFIX = re.compile(r"-wl\d+-[a-z]{3,}-wlz-\d+")
_ZONE_ID = re.compile(r"[a-z]{2,5}\d+-(?:[a-z]{3,}\d+-)?az\d+")


def zone_region(zone: str) -> str | None:
    """The region a zone name belongs to (whatever kind of zone it is), or None."""
    for region in sorted(PARTITION_OF, key=len, reverse=True):
        if zone.startswith(region) and len(zone) > len(region):
            return region
    return None


def zone_examples(region: str) -> tuple[str, ...]:
    """Zone names as EC2 spells them: the region and a letter (every region has a, b and c)."""
    return tuple(f"{region}{letter}" for letter in "abc")


def zone_problem(zone: object, region: str | None) -> str | None:
    """Why `zone` is not an availability zone of `region` (None when it is one)."""
    if not isinstance(zone, str) or not zone:
        return "is not a zone name"
    if _ZONE_ID.fullmatch(zone):
        return "is a zone ID, which names a different zone in every account; use the zone name (e.g. eu-central-1a)"
    owner = zone_region(zone)
    if owner is None:
        return "is not an availability zone name (<region><letter>, e.g. eu-central-1a)"
    suffix = zone[len(owner) :]
    if _LOCAL_ZONE_SUFFIX.fullmatch(suffix) or _WAVELENGTH_SUFFIX.fullmatch(suffix):
        return (
            "is a Local or Wavelength Zone, which offers neither the network load balancer nor the interface "
            "endpoints the platform needs; use availability zones of the region"
        )
    if not _AZ_SUFFIX.fullmatch(suffix):
        return "is not an availability zone name (<region><letter>, e.g. eu-central-1a)"
    if region and owner != region:
        return f"is a zone of {owner}, not of the stack's region {region}"
    return None


def region_problem(region: str) -> str | None:
    return None if is_region(region) else "is not an AWS region"


# --- identifiers ---------------------------------------------------------------------------------------------
VPC_ID = re.compile(r"vpc-(?:[0-9a-f]{8}|[0-9a-f]{17})")
SECURITY_GROUP_ID = re.compile(r"sg-(?:[0-9a-f]{8}|[0-9a-f]{17})")
ACCOUNT_ID = re.compile(r"\d{12}")


# --- network -------------------------------------------------------------------------------------------------
# A VPC is at most a /16 and a subnet at least a /28. AWS reserves the first four addresses of every subnet and
# its last; members take fixed addresses from the tenth on, so the others stay free for the reservation's spare.
VPC_PREFIX_MIN = 16
SUBNET_PREFIX_MAX = 28
NODE_HOST_OFFSET = 10

# The NLB's fastest health checking (interval 5-300 s, thresholds 2-10). A healthy Patroni answers in
# milliseconds; 3 s leaves room for a loaded node and stays below the interval, as AWS requires.
NLB = Router(name="AWS NLB", check=RoutingCheck(interval_seconds=5, fall=2, rise=2, timeout_seconds=3))

# AWS names a target group in at most 32 characters; the provider auto-names it `<logical name>-<7 random>`,
# and the longest logical name is `pgp-<stage>-cluster-pool` (components/aws/cluster.py), so a stage's name has
# at most 7 characters. tests/unit/test_clouds_aws.py pins this to the offline constraint check.
TARGET_GROUP_NAME_MAX = 32
STAGE_NAME_MAX = TARGET_GROUP_NAME_MAX - len("-xxxxxxx") - len("pgp--cluster-pool")
STAGE_NAME_REASON = (
    f"AWS target group names have at most {TARGET_GROUP_NAME_MAX} characters, and pgp-<stage>-cluster-pool "
    f"plus the 8 the provider appends must fit"
)


@dataclass(frozen=True)
class Peer:
    """A VPC the platform VPC peers with."""

    name: str
    vpc_id: str
    cidr: str
    account_id: str
    region: str
    # Set true by the operator once the peer has accepted the peering connection: until then it is not active,
    # so nothing may reference the peer's security groups yet.
    accepted: bool = False


@dataclass(frozen=True)
class PeerGroup:
    """A security group in a peer VPC (the platform VPC is new: the only groups to admit are peers')."""

    peer: str  # the name of a network.peers entry, in the stack's region
    id: str  # sg-...


PEER_KEYS = ("name", "vpc_id", "cidr", "account_id", "region", "accepted")


_PEER_WORDING = PeerWording(
    network="VPC",
    name_use="the peering connection and its route",
    platform_overlap="peering needs disjoint ranges",
    peer_overlap="so the private route table cannot tell the peers apart",
    peer_overlap_fix="peer only VPCs with disjoint ranges",
)


def parse_peers(
    r: Reader, value: object, vpc_cidr: str | None, region: str | None
) -> tuple[tuple[Peer, ...], set[str]]:
    """The valid peers, and every name declared (valid or not), so references to a broken peer are not reported
    a second time."""
    listed = PeerList(r, value, vpc_cidr, PEER_KEYS, _PEER_WORDING)
    peers: list[Peer] = []
    for e in listed.entries():
        vpc = r.string(
            f"{e.key}.vpc_id",
            e.fields.get("vpc_id"),
            lambda s: VPC_ID.fullmatch(s) is not None,
            "a VPC id (vpc- and 8 or 17 hex digits)",
        )
        vpc = listed.once(f"{e.key}.vpc_id", vpc, vpc or "", "VPC")
        account_raw = e.fields.get("account_id")
        if isinstance(account_raw, int) and not isinstance(account_raw, bool):
            account_raw = str(account_raw)
        account = r.string(
            f"{e.key}.account_id",
            account_raw,
            lambda s: ACCOUNT_ID.fullmatch(s) is not None,
            "a 12-digit AWS account id (quoted, so leading zeros survive)",
        )
        peer_region = r.string(f"{e.key}.region", e.fields.get("region"), is_region, "an AWS region name")
        if peer_region and region and partition_of(peer_region) != partition_of(region):
            r.fail(
                f"{e.key}.region",
                peer_region,
                f"is in partition {partition_of(peer_region)}, the stack in {partition_of(region)}; VPC peering "
                f"does not cross partitions",
                f"peer a VPC in the {partition_of(region)} partition",
            )
            peer_region = None
        accepted = r.boolean(f"{e.key}.accepted", e.fields.get("accepted", False))
        if e.name and vpc and e.cidr and account and peer_region and accepted is not None:
            peers.append(Peer(e.name, vpc, e.cidr, account, peer_region, accepted))
    return tuple(peers), listed.declared


def parse_peer_groups(
    r: Reader, key: str, listed: list[Any], region: str | None, by_name: Mapping[str, Any], declared: set[str]
) -> tuple[PeerGroup, ...]:
    """The allowlisted security groups (`{peer, id}`), each in a declared peer VPC of the stack's region."""
    groups: list[PeerGroup] = []
    for i, g in enumerate(listed):
        gkey = f"{key}[{i}]"
        if isinstance(g, str):
            r.fail(
                gkey,
                g,
                "is a bare security group id, but an allowlisted group is always in a peer VPC",
                f"write it as {{peer: <name of a network.peers entry>, id: {g}}}",
            )
            continue
        m = r.entry(gkey, g, ("peer", "id"))
        if m is None:
            continue
        peer_name = r.string(f"{gkey}.peer", m.get("peer"), expected="the name of a network.peers entry")
        sg = r.string(
            f"{gkey}.id",
            m.get("id"),
            lambda s: SECURITY_GROUP_ID.fullmatch(s) is not None,
            "a security group id (sg- and 8 or 17 hex digits)",
        )
        peer = by_name.get(peer_name or "")
        if peer_name and peer is None:
            if peer_name not in declared:
                r.fail(
                    f"{gkey}.peer",
                    peer_name,
                    "names no network.peers entry",
                    f"use one of: {', '.join(sorted(by_name))}"
                    if by_name
                    else "declare the peer VPC the group is in under network.peers",
                )
            continue
        if peer and region and peer.region != region:
            r.fail(
                f"{gkey}.peer",
                peer_name,
                f"peer {peer.name} is in {peer.region}, but AWS does not allow security group references across "
                f"regions over VPC peering (the stack is in {region})",
                f"allowlist the peer's CIDR {peer.cidr} instead",
            )
            continue
        if peer and sg:
            group = PeerGroup(peer.name, sg)
            if group in groups:
                r.fail(gkey, {"peer": peer.name, "id": sg}, "is listed twice", "list each security group once")
                continue
            groups.append(group)
    return tuple(groups)


# --- instances -----------------------------------------------------------------------------------------------
# EC2 refuses more than 16 KB of user data in raw form, before base64 (EC2 User Guide, "Work with instance user
# data"): the renderers budget against it and the offline constraint check refuses more.
EC2_USER_DATA_LIMIT = 16 * 1024

INSTANCE_TYPES_FILE = Path(__file__).with_name("aws_instance_types.txt")


@functools.cache
def instance_types() -> frozenset[str]:
    """Every type EC2 offers (its InstanceType enum, vendored from botocore)."""
    lines = INSTANCE_TYPES_FILE.read_text().splitlines()
    return frozenset(line for line in lines if line and not line.startswith("#"))


# A type is <family>.<size>, the family <series><generation><options>[-<variant>] (c7gn, m7i-flex); an option
# letter g means a Graviton (arm64) processor (EC2 User Guide, "Amazon EC2 instance type naming conventions").
_FAMILY = re.compile(r"(?P<series>[a-z]+)(?P<generation>\d+)(?P<options>[a-z]*)(?:-(?P<variant>[a-z0-9]+))?")
_SIZE = re.compile(r"(?P<times>\d*)xlarge|large|medium")
GRAVITON_FIRST = "a1"  # the first Graviton family predates the option letter

# Memory per vCPU of the series the platform sizes PostgreSQL on, on Nitro (the generation from which every
# family of the series is Nitro-based: gp3 and io2 volumes need it). Families of a series hold at least this
# (c5n has more), so the derived memory parameters never overcommit a node.
SERIES_MEMORY_MIB_PER_VCPU: dict[str, tuple[int, int]] = {  # series -> (first Nitro generation, MiB per vCPU)
    "m": (5, 4096),
    "r": (5, 8192),
    "c": (5, 2048),
    "x": (2, 16384),
}
# The burstable families have sizes of their own (t2 is not Nitro-based).
BURSTABLE_FAMILIES = ("t3", "t3a", "t4g")
BURSTABLE_SIZES: dict[str, NodeSize] = {
    "nano": NodeSize(2, 512),
    "micro": NodeSize(2, 1024),
    "small": NodeSize(2, 2048),
    "medium": NodeSize(2, 4096),
    "large": NodeSize(2, 8192),
    "xlarge": NodeSize(4, 16384),
    "2xlarge": NodeSize(8, 32768),
}
# Below this a node cannot hold PostgreSQL, its pooler, Patroni, etcd and the agents (or Prometheus and Grafana).
NODE_MEMORY_MIB_MIN = 4096

# Sizes that span what the platform runs on, for tests of the derived parameters.
REFERENCE_TYPES = (
    "t3.medium",
    "t3.large",
    "m7i.large",
    "m7i.xlarge",
    "m7i.2xlarge",
    "r7i.large",
    "r7i.xlarge",
    "r7i.2xlarge",
    "r7i.4xlarge",
    "m7g.large",
    "r7g.xlarge",
)


def _sized(instance_type: str) -> NodeSize | str:
    family, _, size = instance_type.partition(".")
    if family in BURSTABLE_FAMILIES:
        return BURSTABLE_SIZES.get(size) or f"has no size the platform knows for the burstable family {family}"
    match = _FAMILY.fullmatch(family)
    series = match and SERIES_MEMORY_MIB_PER_VCPU.get(match["series"])
    if not match or not series or int(match["generation"]) < series[0] or match["variant"] not in (None, "flex"):
        return (
            f"is an EC2 type of family {family}, on which the platform does not size PostgreSQL (it does on "
            f"{', '.join(BURSTABLE_FAMILIES)} and on Nitro families of series m, r, c and x)"
        )
    sized = _SIZE.fullmatch(size)
    if not sized:
        return f"is a {size} size, whose vCPUs the platform cannot tell (bare metal); use a virtualised size"
    vcpus = 1 if size == "medium" else 2 if size == "large" else 4 * int(sized["times"] or 1)
    return NodeSize(vcpus=vcpus, memory_mib=vcpus * series[1])


# The option letter d means instance store volumes (EC2 User Guide, "Amazon EC2 instance type naming
# conventions"). EC2 recovers only instances whose volumes are all EBS onto new hardware (EC2 User Guide,
# "Automatic instance recovery"), and a node whose host fails must come back by itself (docs/self-healing.md).
INSTANCE_STORE_OPTION = "d"


def has_instance_store(instance_type: str) -> bool:
    match = _FAMILY.fullmatch(instance_type.partition(".")[0])
    return bool(match and INSTANCE_STORE_OPTION in match["options"])


def ebs_only_sibling(instance_type: str) -> str | None:
    """The same family and size without instance store (r6id.xlarge -> r6i.xlarge), when EC2 offers it and the
    platform accepts it."""
    family, _, size = instance_type.partition(".")
    match = _FAMILY.fullmatch(family)
    if not match:
        return None
    options = match["options"].replace(INSTANCE_STORE_OPTION, "")
    variant = f"-{match['variant']}" if match["variant"] else ""
    sibling = f"{match['series']}{match['generation']}{options}{variant}.{size}"
    return sibling if sibling in instance_types() and instance_type_problem(sibling) is None else None


def instance_type_problem(instance_type: str) -> str | None:
    if instance_type not in instance_types():
        return "is not an EC2 instance type"
    if has_instance_store(instance_type):
        sibling = ebs_only_sibling(instance_type)
        return "has instance store volumes, so EC2 cannot recover it onto new hardware when its host fails" + (
            f"; {sibling} is the same size without them" if sibling else "; use a family without the d"
        )
    sized = _sized(instance_type)
    if isinstance(sized, str):
        return sized
    if sized.memory_mib < NODE_MEMORY_MIB_MIN:
        return f"has {sized.memory_mib} MiB of memory, less than the {NODE_MEMORY_MIB_MIN} MiB a node needs"
    return None


def node_size(instance_type: str) -> NodeSize:
    """vCPUs and memory of a type `instance_type_problem` accepts."""
    sized = _sized(instance_type)
    if isinstance(sized, str):
        raise ValueError(f"{instance_type} {sized}")
    return sized


def architecture(instance_type: str) -> Architecture:
    """The processor architecture of an instance type, which decides the machine image it boots."""
    family = instance_type.partition(".")[0]
    match = _FAMILY.fullmatch(family)
    graviton = family == GRAVITON_FIRST or bool(match and "g" in match["options"])
    return "arm64" if graviton else "x86_64"


# --- disks ---------------------------------------------------------------------------------------------------
# EBS limits per volume type: (max IOPS per volume, max IOPS per provisioned GB); gp3's baseline is 3000 IOPS.
DISK_TYPES = ("gp3", "io2")
DISK_IOPS_LIMITS = {"gp3": (16_000, 500), "io2": (64_000, 500)}
DISK_IOPS_MIN = 3000
DISK_SIZE_GB_MAX = 16_384


def disk_iops_ceiling(disk_type: str, size_gb: int) -> int:
    per_volume, per_gb = DISK_IOPS_LIMITS[disk_type]
    return min(per_volume, size_gb * per_gb)


# --- tags ----------------------------------------------------------------------------------------------------
# The rules every taggable AWS service shares: key 1-128 and value 0-256 Unicode characters of letters,
# numbers, spaces and + - = . _ : / @; keys starting with aws: are reserved for AWS.
TAG_KEY_MAX = 128
TAG_VALUE_MAX = 256
TAG_RESERVED_PREFIX = "aws:"
TAG_PUNCTUATION = "+-=._:/@"
# A resource carries at most 50 user tags (the aws: ones do not count).
TAGS_PER_RESOURCE = 50


def _tag_chars_ok(text: str) -> bool:
    return all(c in TAG_PUNCTUATION or unicodedata.category(c)[0] in "LNZ" for c in text)


def tag_key_problem(key: str) -> str | None:
    if not 1 <= len(key) <= TAG_KEY_MAX:
        return f"a tag key has 1 to {TAG_KEY_MAX} characters"
    if key.lower().startswith(TAG_RESERVED_PREFIX):
        return f"tag keys starting with {TAG_RESERVED_PREFIX} are reserved for AWS"
    if not _tag_chars_ok(key):
        return f"a tag key holds only letters, numbers, spaces and {TAG_PUNCTUATION}"
    return None


def tag_value_problem(value: str) -> str | None:
    if len(value) > TAG_VALUE_MAX:
        return f"a tag value has at most {TAG_VALUE_MAX} characters ({len(value)} given)"
    if not _tag_chars_ok(value):
        return f"a tag value holds only letters, numbers, spaces and {TAG_PUNCTUATION}"
    return None


def generated_regions() -> dict[str, tuple[str, ...]]:
    """The region table as the installed botocore has it (needs botocore)."""
    import botocore.session

    session = botocore.session.get_session()
    return {
        p: tuple(session.get_available_regions("ec2", partition_name=p)) for p in session.get_available_partitions()
    }


def render_regions(table: dict[str, tuple[str, ...]]) -> str:
    """Source text for the block between the `generated` markers above, as `ruff format` lays it out."""
    lines = ["REGIONS_BY_PARTITION: dict[str, tuple[str, ...]] = {"]
    for partition, regions in table.items():
        items = ", ".join(f'"{r}"' for r in regions) + ("," if len(regions) == 1 else "")
        one = f'    "{partition}": ({items}),'
        if len(one) <= LINE_LENGTH:
            lines.append(one)
            continue
        lines.append(f'    "{partition}": (')
        lines += [f'        "{r}",' for r in regions]
        lines.append("    ),")
    lines.append("}")
    return "\n".join(lines)


def generated_instance_types() -> list[str]:
    """EC2's InstanceType enum as the installed botocore has it (needs botocore)."""
    import botocore.session

    model = botocore.session.get_session().get_service_model("ec2")
    return sorted(model.shape_for("InstanceType").enum)


def render_instance_types(types: list[str]) -> str:
    """The text of aws_instance_types.txt."""
    header = "# EC2's InstanceType enum as botocore has it (`python -m stacks.clouds.aws instance-types` writes it)."
    return "\n".join([header, *types]) + "\n"


CLOUD = Cloud(
    name=NAME,
    label="AWS",
    region_key=REGION_KEY,
    region_example="eu-central-1",
    regions=REGIONS,
    region_problem=region_problem,
    zone_problem=zone_problem,
    zone_examples=zone_examples,
    router=NLB,
    network_prefix_min=VPC_PREFIX_MIN,
    subnet_prefix_max=SUBNET_PREFIX_MAX,
    node_host_offset=NODE_HOST_OFFSET,
    instance_types=instance_types,
    instance_type_problem=instance_type_problem,
    node_size=node_size,
    architecture=architecture,
    default_monitoring_instance_type="t3.medium",
    disk_types=DISK_TYPES,
    default_disk_type="gp3",
    disk_size_gb_max=DISK_SIZE_GB_MAX,
    disk_iops_min=DISK_IOPS_MIN,
    disk_iops_max=max(limit for limit, _ in DISK_IOPS_LIMITS.values()),
    disk_iops_ceiling=disk_iops_ceiling,
    tag_key_problem=tag_key_problem,
    tag_value_problem=tag_value_problem,
    tags_per_resource=TAGS_PER_RESOURCE,
    stage_name_max=STAGE_NAME_MAX,
    stage_name_reason=STAGE_NAME_REASON,
    parse_peers=parse_peers,
    parse_peer_groups=parse_peer_groups,
)


if __name__ == "__main__":
    import sys

    if sys.argv[1:] == ["instance-types"]:
        INSTANCE_TYPES_FILE.write_text(render_instance_types(generated_instance_types()))
    else:
        print(render_regions(generated_regions()))
