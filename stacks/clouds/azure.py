"""Azure facts the stack settings are checked against, each defined once (pulumi-azure-native).

Not yet in stacks/clouds/__init__.py's CLOUDS: a stack can select azure only once components/azure/ exists. Pure
data and checks, importable without any Azure SDK (the Pulumi program imports stacks/ from a deploy-only
virtualenv). Where a fact comes from an SDK model or a published page, the comment names it; where the platform
chooses within a limit, the comment says so.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from stacks.clouds.model import NO_CONFIGURE_STEP, Architecture, Cloud, Router, RoutingCheck
from stacks.clouds.peers import PeerList, PeerWording
from stacks.reader import Reader
from stacks.sizes import NodeSize

NAME = "azure"
# pulumi-azure-native's provider configuration key for the default location of every resource.
REGION_KEY = "azure-native:location"

# --- locations -----------------------------------------------------------------------------------------------
# The physical regions of the Azure public, US Government and China clouds by programmatic name, and whether
# each offers availability zones, as Microsoft Learn lists them ("Azure regions list",
# https://learn.microsoft.com/azure/reliability/regions-list; no SDK ships this table, ARM lists locations only
# to a signed-in subscription). A location missing here is refused rather than guessed: add it from that page.
LOCATIONS_WITH_ZONES: tuple[str, ...] = (
    "australiaeast",
    "austriaeast",
    "belgiumcentral",
    "brazilsouth",
    "canadacentral",
    "centralindia",
    "centralus",
    "chilecentral",
    "chinanorth3",
    "eastasia",
    "eastus",
    "eastus2",
    "francecentral",
    "germanywestcentral",
    "indonesiacentral",
    "israelcentral",
    "italynorth",
    "japaneast",
    "japanwest",
    "koreacentral",
    "malaysiawest",
    "mexicocentral",
    "newzealandnorth",
    "northeurope",
    "norwayeast",
    "polandcentral",
    "qatarcentral",
    "southafricanorth",
    "southcentralus",
    "southeastasia",
    "spaincentral",
    "swedencentral",
    "switzerlandnorth",
    "uaenorth",
    "uksouth",
    "usgovvirginia",
    "westeurope",
    "westus2",
    "westus3",
)
LOCATIONS_WITHOUT_ZONES: tuple[str, ...] = (
    "australiacentral",
    "australiacentral2",
    "australiasoutheast",
    "brazilsoutheast",
    "canadaeast",
    "chinaeast2",
    "chinanorth2",
    "francesouth",
    "germanynorth",
    "jioindiacentral",
    "jioindiawest",
    "koreasouth",
    "northcentralus",
    "norwaywest",
    "southafricawest",
    "southindia",
    "swedensouth",
    "switzerlandwest",
    "uaecentral",
    "ukwest",
    "usgovarizona",
    "usgovtexas",
    "westcentralus",
    "westindia",
    "westus",
)
LOCATIONS: tuple[str, ...] = tuple(sorted(LOCATIONS_WITH_ZONES + LOCATIONS_WITHOUT_ZONES))
# Availability zones are numbered 1 to 3 in every zonal region. The numbers are logical: zone "1" of one
# subscription may be another physical zone than zone "1" of the next.
ZONES: tuple[str, ...] = ("1", "2", "3")


def is_location(name: object) -> bool:
    return isinstance(name, str) and name in LOCATIONS


def region_problem(region: str) -> str | None:
    if is_location(region):
        return None
    folded = re.sub(r"[\s-]", "", region).lower()
    if folded in LOCATIONS:
        return f"is a display name or spelling of an Azure location; write its programmatic name {folded}"
    return "is not an Azure location (its programmatic name, e.g. westeurope)"


def zone_examples(region: str) -> tuple[str, ...]:
    """Azure numbers the zones of a location with zones; the numbers are the same everywhere."""
    return ZONES


def zone_problem(zone: object, region: str | None) -> str | None:
    """Why `zone` is not an availability zone of `region` (None when it is one)."""
    if isinstance(zone, int) and not isinstance(zone, bool) and str(zone) in ZONES:
        return f"is a number; Azure zones are strings, so quote it ('{zone}')"
    if not isinstance(zone, str) or not zone:
        return "is not a zone name"
    if zone not in ZONES:
        if re.fullmatch(r"[a-z]+[0-9]*-?[0-9]", zone):
            return "is a <location>-<n> zone name; pulumi-azure-native takes the zone number alone (1, 2 or 3)"
        return "is not an Azure availability zone (1, 2 or 3)"
    if region and is_location(region) and region not in LOCATIONS_WITH_ZONES:
        return f"{region} offers no availability zones; choose a location that does (e.g. westeurope)"
    return None


# --- network -------------------------------------------------------------------------------------------------
# Azure reserves five addresses of every subnet: the network address, .1 for the default gateway, .2 and .3 for
# Azure DNS, and the broadcast address (Virtual Network FAQ, "Are there any restrictions on using IP addresses
# within these subnets?"). The smallest IPv4 subnet is a /29. The platform's network is at most 10.0.0.0/8, the
# largest private range. Members take fixed addresses from the tenth on, as on AWS, so the reserved four and
# some spare addresses stay below them.
SUBNET_RESERVED_FIRST = 4
SUBNET_RESERVED_LAST = 1
VNET_PREFIX_MIN = 8
SUBNET_PREFIX_MAX = 29
NODE_HOST_OFFSET = 10


def reserved_addresses(subnet: str) -> tuple[str, ...]:
    """The addresses of `subnet` Azure keeps for itself, in order."""
    net = ipaddress.ip_network(subnet)
    first = [str(net[i]) for i in range(SUBNET_RESERVED_FIRST)]
    return (*first, str(net[-1]))


# The internal Standard Load Balancer's health probes (azure-mgmt-network Probe): intervalInSeconds "the minimum
# value is 5", and probeThreshold consecutive results both take a backend out of rotation and put it back, so
# fall equals rise. The API accepts a threshold of 1; the platform uses 2 so that one lost probe does not take
# the primary out of rotation. The probe has no timeout of its own; 3 s is what the sandbox's HAProxy copies
# and stays below the interval.
PROBE_INTERVAL_MIN = 5
PROBE_THRESHOLD_MIN = 1
PROBE_THRESHOLD = 2
STANDARD_LB = Router(
    name="Azure Standard Load Balancer",
    check=RoutingCheck(
        interval_seconds=PROBE_INTERVAL_MIN, fall=PROBE_THRESHOLD, rise=PROBE_THRESHOLD, timeout_seconds=3
    ),
)

# --- names ---------------------------------------------------------------------------------------------------
# pulumi-azure-native auto-names a top-level resource `<logical name><8 random hex digits>` (no separator;
# provider/pkg/resources AutoNamer + getDefaultName, NewUniqueName(randomSeed, name, 8, 0)). The tightest name
# the platform builds is the backup storage account's: 3-24 lowercase letters and digits, so its logical name
# carries no hyphen. components/azure names it with storage_account_logical_name; tests/unit/test_clouds_azure.py
# pins the limit to the offline constraint check.
AUTONAME_RANDOM_CHARS = 8
STORAGE_ACCOUNT_NAME_MAX = 24
STORAGE_ACCOUNT_PREFIX = "pgp"
STORAGE_ACCOUNT_SUFFIX = "backup"
KEY_VAULT_NAME_MAX = 24


def storage_account_logical_name(stage: str) -> str:
    return f"{STORAGE_ACCOUNT_PREFIX}{stage}{STORAGE_ACCOUNT_SUFFIX}"


def key_vault_logical_name(stage: str) -> str:
    return f"pgp-{stage}-kv"


STAGE_NAME_MAX = min(
    STORAGE_ACCOUNT_NAME_MAX - AUTONAME_RANDOM_CHARS - len(storage_account_logical_name("")),
    KEY_VAULT_NAME_MAX - AUTONAME_RANDOM_CHARS - len(key_vault_logical_name("")),
)
STAGE_NAME_REASON = (
    f"Azure storage account names have at most {STORAGE_ACCOUNT_NAME_MAX} lowercase letters and digits, and "
    f"{storage_account_logical_name('<stage>')} plus the {AUTONAME_RANDOM_CHARS} hex digits pulumi-azure-native "
    f"appends must fit"
)

# Resource ids of the peer networks: ARM matches the segment names case-insensitively; the names follow the
# naming rules page (https://learn.microsoft.com/azure/azure-resource-manager/management/resource-name-rules):
# resource group 1-90 of letters, digits, '_', '-', '.', '(' and ')', not ending in '.'; virtual network 2-64 of
# alphanumerics, '_', '.' and '-', starting alphanumeric and ending alphanumeric or '_'.
SUBSCRIPTION_ID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
RESOURCE_GROUP_NAME = re.compile(r"[-\w.()]{0,89}[-\w()]")
VNET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}[A-Za-z0-9_]")
VNET_ID = re.compile(
    rf"/subscriptions/(?P<subscription>{SUBSCRIPTION_ID.pattern})/resourceGroups/(?P<group>[^/]+)"
    rf"/providers/Microsoft\.Network/virtualNetworks/(?P<name>[^/]+)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Peer:
    """A virtual network the platform's VNet peers with. Peering runs both ways: components/azure creates the
    peering in the platform VNet and the one in the peer VNet (so the deploying identity needs
    Microsoft.Network/virtualNetworks/virtualNetworkPeerings/write on the peer's resource group). Global peering
    crosses locations, so a peer has no location of its own."""

    name: str
    vnet_id: str
    cidr: str

    @property
    def subscription_id(self) -> str:
        return _vnet_part(self.vnet_id, "subscription")

    @property
    def resource_group(self) -> str:
        return _vnet_part(self.vnet_id, "group")

    @property
    def vnet_name(self) -> str:
        return _vnet_part(self.vnet_id, "name")


def _vnet_part(vnet_id: str, part: str) -> str:
    match = VNET_ID.fullmatch(vnet_id)
    assert match, vnet_id
    return match[part]


@dataclass(frozen=True)
class PeerGroup:
    """The shape an allowlisted firewall group would have; Azure refuses every one (see parse_peer_groups)."""

    peer: str
    id: str


# Same page: a subnet is 1-80 alphanumerics, '_', '.' and '-', starting alphanumeric, ending alphanumeric or '_'.
SUBNET_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,78}[A-Za-z0-9_])?")
SUBNET_ID = re.compile(rf"(?P<vnet>{VNET_ID.pattern})/subnets/(?P<subnet>[^/]+)", re.IGNORECASE)


def subnet_id_problem(value: str) -> str | None:
    """Why a subnet's resource id is not one (None when it is): its VNet part as vnet_id_problem checks it."""
    match = SUBNET_ID.fullmatch(value)
    if not match:
        return "is not a subnet resource id (<virtual network id>/subnets/<name>)"
    return vnet_id_problem(match["vnet"]) or (
        None if SUBNET_NAME.fullmatch(match["subnet"]) else "names a subnet Azure would refuse (1-80 characters)"
    )


def subnet_vnet_id(subnet_id: str) -> str:
    """The virtual network a subnet id names: where the backup account's private DNS zone is linked."""
    match = SUBNET_ID.fullmatch(subnet_id)
    assert match, subnet_id
    return match["vnet"]


PEER_KEYS = ("name", "vnet_id", "cidr")


def vnet_id_problem(value: str) -> str | None:
    match = VNET_ID.fullmatch(value)
    if not match:
        return (
            "is not a virtual network resource id (/subscriptions/<subscription id>/resourceGroups/<group>"
            "/providers/Microsoft.Network/virtualNetworks/<name>)"
        )
    if not RESOURCE_GROUP_NAME.fullmatch(match["group"]):
        return (
            "names a resource group Azure would refuse (1-90 letters, digits, '_', '-', '.', '(' and ')', not "
            "ending in '.')"
        )
    if not VNET_NAME.fullmatch(match["name"]):
        return (
            "names a virtual network Azure would refuse (2-64 alphanumerics, '_', '.' and '-', starting with an "
            "alphanumeric and ending with an alphanumeric or '_')"
        )
    return None


_PEER_WORDING = PeerWording(
    network="VNet",
    name_use="both peerings",
    platform_overlap="Azure refuses to peer overlapping address spaces",
    peer_overlap="so the platform VNet could not route to both",
    peer_overlap_fix="peer only VNets with disjoint ranges",
)


def parse_peers(
    r: Reader, value: object, vnet_cidr: str | None, region: str | None
) -> tuple[tuple[Peer, ...], set[str]]:
    """The valid peers, and every name declared (valid or not), so references to a broken peer are not reported
    a second time."""
    listed = PeerList(r, value, vnet_cidr, PEER_KEYS, _PEER_WORDING)
    peers: list[Peer] = []
    for e in listed.entries():
        vnet = r.string(f"{e.key}.vnet_id", e.fields.get("vnet_id"), expected="a virtual network resource id")
        problem = vnet_id_problem(vnet) if vnet else None
        if vnet and problem:
            r.fail(f"{e.key}.vnet_id", vnet, problem, "copy the peer VNet's id from its Properties (Resource ID)")
            vnet = None
        # ARM resource ids compare case-insensitively.
        vnet = listed.once(f"{e.key}.vnet_id", vnet, (vnet or "").lower(), "VNet")
        if e.name and vnet and e.cidr:
            peers.append(Peer(e.name, vnet, e.cidr))
    return tuple(peers), listed.declared


def parse_peer_groups(
    r: Reader, key: str, listed: list[Any], region: str | None, by_name: Mapping[str, Any], declared: set[str]
) -> tuple[PeerGroup, ...]:
    """On Azure the allowlist is CIDRs only. The NSG rule's other source, an application security group, must
    have all its network interfaces in the NSG's own virtual network: Azure refuses one of a peer VNet, and the
    platform VNet is new, so it holds no client group to admit."""
    for i, g in enumerate(listed):
        peer = g.get("peer") if isinstance(g, Mapping) else None
        cidr = getattr(by_name.get(peer or ""), "cidr", None)
        r.fail(
            f"{key}[{i}]",
            g,
            "is a security group, but an Azure NSG rule admits an application security group only from its own "
            "virtual network, never from a peered one",
            f"allowlist the peer's CIDR {cidr} instead" if cidr else "allowlist the clients' CIDRs instead",
        )
    return ()


# --- VM sizes ------------------------------------------------------------------------------------------------
# A size is Standard_<family><vCPUs>[-<constrained vCPUs>]<additive features>[_v<version>] (Microsoft Learn,
# "Azure virtual machine sizes naming conventions"); feature p means an Arm-based processor (Ampere Altra in v5,
# Azure Cobalt 100 in v6), so the node boots the arm64 image. Memory is not in the name and differs between
# families (and between the largest sizes of one family), so sizes are vendored per series from the series pages
# of Microsoft Learn ("Dsv5 sizes series" etc.): (vCPUs, GiB). Sizes outside these series are refused as
# "cannot size", never guessed.
_GIB = 1024


def _series(pattern: str, sizes: dict[int, int]) -> dict[str, NodeSize]:
    return {pattern.format(n=n): NodeSize(vcpus=n, memory_mib=gib * _GIB) for n, gib in sizes.items()}


_D_V5 = {2: 8, 4: 16, 8: 32, 16: 64, 32: 128, 48: 192, 64: 256, 96: 384}
_DL_V5 = {n: n * 2 for n in _D_V5}
_E_V5 = {2: 16, 4: 32, 8: 64, 16: 128, 20: 160, 32: 256, 48: 384, 64: 512, 96: 672}
_DP_V5 = {2: 8, 4: 16, 8: 32, 16: 64, 32: 128, 48: 192, 64: 208}
_DPL_V5 = {2: 4, 4: 8, 8: 16, 16: 32, 32: 64, 48: 96, 64: 128}
_EP_V5 = {2: 16, 4: 32, 8: 64, 16: 128, 20: 160, 32: 208}
_DP_V6 = {2: 8, 4: 16, 8: 32, 16: 64, 32: 128, 48: 192, 64: 256, 96: 384}
_DPL_V6 = {n: n * 2 for n in _DP_V6}
_F_V2 = {2: 4, 4: 8, 8: 16, 16: 32, 32: 64, 48: 96, 64: 128, 72: 144}
_B_V1 = {
    "B1s": (1, 1),
    "B1ms": (1, 2),
    "B2s": (2, 4),
    "B2ms": (2, 8),
    "B4ms": (4, 16),
    "B8ms": (8, 32),
    "B12ms": (12, 48),
    "B16ms": (16, 64),
}

VM_SIZES: dict[str, NodeSize] = {
    **_series("Standard_D{n}s_v5", _D_V5),
    **_series("Standard_D{n}ds_v5", _D_V5),
    **_series("Standard_D{n}as_v5", _D_V5),
    **_series("Standard_D{n}ads_v5", _D_V5),
    **_series("Standard_D{n}ls_v5", _DL_V5),
    **_series("Standard_D{n}lds_v5", _DL_V5),
    **_series("Standard_E{n}s_v5", _E_V5),
    **_series("Standard_E{n}ds_v5", _E_V5),
    **_series("Standard_E{n}as_v5", _E_V5),
    **_series("Standard_E{n}ads_v5", _E_V5),
    **_series("Standard_D{n}ps_v5", _DP_V5),
    **_series("Standard_D{n}pds_v5", _DP_V5),
    **_series("Standard_D{n}pls_v5", _DPL_V5),
    **_series("Standard_D{n}plds_v5", _DPL_V5),
    **_series("Standard_E{n}ps_v5", _EP_V5),
    **_series("Standard_E{n}pds_v5", _EP_V5),
    **_series("Standard_D{n}ps_v6", _DP_V6),
    **_series("Standard_D{n}pds_v6", _DP_V6),
    **_series("Standard_D{n}pls_v6", _DPL_V6),
    **_series("Standard_D{n}plds_v6", _DPL_V6),
    **_series("Standard_F{n}s_v2", _F_V2),
    **{f"Standard_{name}": NodeSize(vcpus=v, memory_mib=g * _GIB) for name, (v, g) in _B_V1.items()},
}
_SIZE_NAME = re.compile(
    r"Standard_(?P<family>[A-Z]+)(?P<vcpus>\d+)(?:-(?P<constrained>\d+))?(?P<features>[a-z]*)"
    r"(?:_(?P<accelerator>[A-Z]\d+))?(?:_v(?P<version>\d+))?"
)
NODE_MEMORY_MIB_MIN = 4096

REFERENCE_TYPES = (
    "Standard_B2s",
    "Standard_D2s_v5",
    "Standard_D4s_v5",
    "Standard_E2s_v5",
    "Standard_E4ds_v5",
    "Standard_E8s_v5",
    "Standard_D4ps_v5",
    "Standard_E4ps_v5",
    "Standard_D4ps_v6",
)


def instance_types() -> frozenset[str]:
    """The sizes the platform knows the memory of (a subset of what Azure offers: see VM_SIZES)."""
    return frozenset(VM_SIZES)


def instance_type_problem(instance_type: str) -> str | None:
    match = _SIZE_NAME.fullmatch(instance_type)
    if not match:
        return "is not an Azure VM size name (Standard_<family><vCPUs><features>_v<version>, e.g. Standard_E4ds_v5)"
    if match["constrained"]:
        return "is a constrained-vCPU size, which the platform does not size; use the size with all its vCPUs"
    sized = VM_SIZES.get(instance_type)
    if sized is None:
        return (
            "is not a size of the series the platform sizes PostgreSQL on (Dsv5, Ddsv5, Dasv5, Dadsv5, Dlsv5, "
            "Dldsv5, Esv5, Edsv5, Easv5, Eadsv5, Dpsv5, Dpdsv5, Dplsv5, Dpldsv5, Epsv5, Epdsv5, Dpsv6, Dpdsv6, "
            "Dplsv6, Dpldsv6, Fsv2, B2s and B*ms), or not a size Azure offers"
        )
    if sized.memory_mib < NODE_MEMORY_MIB_MIN:
        return f"has {sized.memory_mib} MiB of memory, less than the {NODE_MEMORY_MIB_MIN} MiB a node needs"
    return None


def node_size(instance_type: str) -> NodeSize:
    """vCPUs and memory of a size `instance_type_problem` accepts."""
    problem = instance_type_problem(instance_type)
    if problem:
        raise ValueError(f"{instance_type} {problem}")
    return VM_SIZES[instance_type]


def architecture(instance_type: str) -> Architecture:
    """arm64 for the sizes whose additive features include p (Ampere Altra, Azure Cobalt), else x86_64."""
    match = _SIZE_NAME.fullmatch(instance_type)
    return "arm64" if match and "p" in match["features"] else "x86_64"


# --- disks ---------------------------------------------------------------------------------------------------
# Premium SSD v2 (PremiumV2_LRS): 3,000 IOPS at any size, provisionable up to 500 IOPS per GiB and 80,000 per
# disk; Premium SSD (Premium_LRS): the IOPS of the performance tier its size falls into, not provisionable
# (Microsoft Learn, "Azure managed disk types"). Premium SSD v2 cannot be an OS disk, which the platform's data
# disk is not. Premium SSD disks end at 32,767 GiB (P80), Premium SSD v2 at 65,536; the platform's limit is the
# smaller, so a disk size fits whichever type a stage picks.
DISK_TYPES = ("PremiumV2_LRS", "Premium_LRS")
PREMIUM_V2_BASELINE_IOPS = 3000
PREMIUM_V2_IOPS_PER_GIB = 500
PREMIUM_V2_IOPS_MAX = 80_000
PREMIUM_TIERS: tuple[tuple[int, int], ...] = (  # (largest size in GiB, IOPS): P1 ... P80
    (4, 120),
    (8, 120),
    (16, 120),
    (32, 120),
    (64, 240),
    (128, 500),
    (256, 1100),
    (512, 2300),
    (1024, 5000),
    (2048, 7500),
    (4096, 7500),
    (8192, 16_000),
    (16_384, 18_000),
    (32_767, 20_000),
)
DISK_SIZE_GB_MAX = 32_767
DISK_IOPS_MIN = PREMIUM_V2_BASELINE_IOPS


def disk_iops_ceiling(disk_type: str, size_gb: int) -> int:
    if disk_type == "PremiumV2_LRS":
        return min(PREMIUM_V2_IOPS_MAX, max(PREMIUM_V2_BASELINE_IOPS, size_gb * PREMIUM_V2_IOPS_PER_GIB))
    if disk_type == "Premium_LRS":
        return next(iops for largest, iops in PREMIUM_TIERS if size_gb <= largest)
    raise KeyError(disk_type)


# --- tags ----------------------------------------------------------------------------------------------------
# Microsoft Learn, "Use tags to organize your Azure resources", Limitations: at most 50 tag name/value pairs per
# resource; a tag name has at most 512 characters, 128 on storage accounts, and none of < > % & \ ? /; a tag
# value at most 256 characters. The platform's stage tags go on its storage account too, so a key has at most
# 128. Names starting with azure, microsoft or windows are reserved for Azure.
TAG_KEY_MAX = 128
TAG_KEY_MAX_GENERAL = 512
TAG_VALUE_MAX = 256
TAGS_PER_RESOURCE = 50
TAG_KEY_FORBIDDEN = "<>%&\\?/"
TAG_RESERVED_PREFIXES = ("azure", "microsoft", "windows")


def tag_key_problem(key: str) -> str | None:
    if not 1 <= len(key) <= TAG_KEY_MAX:
        return (
            f"a tag name has 1 to {TAG_KEY_MAX} characters on a storage account (the platform's backup vault; "
            f"{TAG_KEY_MAX_GENERAL} elsewhere)"
        )
    bad = sorted({c for c in key if c in TAG_KEY_FORBIDDEN})
    if bad:
        return f"a tag name may not contain {' '.join(TAG_KEY_FORBIDDEN)} ({' '.join(bad)} given)"
    if key.lower().startswith(TAG_RESERVED_PREFIXES):
        return f"tag names starting with {', '.join(TAG_RESERVED_PREFIXES)} are reserved for Azure"
    return None


def tag_value_problem(value: str) -> str | None:
    if len(value) > TAG_VALUE_MAX:
        return f"a tag value has at most {TAG_VALUE_MAX} characters ({len(value)} given)"
    return None


CLOUD = Cloud(
    name=NAME,
    unused_choices=(NO_CONFIGURE_STEP,),
    label="Azure",
    region_key=REGION_KEY,
    region_example="westeurope",
    regions=LOCATIONS,
    region_problem=region_problem,
    zone_problem=zone_problem,
    zone_examples=zone_examples,
    router=STANDARD_LB,
    network_prefix_min=VNET_PREFIX_MIN,
    subnet_prefix_max=SUBNET_PREFIX_MAX,
    node_host_offset=NODE_HOST_OFFSET,
    instance_types=instance_types,
    instance_type_problem=instance_type_problem,
    node_size=node_size,
    architecture=architecture,
    default_monitoring_instance_type="Standard_D2s_v5",
    disk_types=DISK_TYPES,
    default_disk_type="PremiumV2_LRS",
    disk_size_gb_max=DISK_SIZE_GB_MAX,
    disk_iops_min=DISK_IOPS_MIN,
    disk_iops_max=PREMIUM_V2_IOPS_MAX,
    disk_iops_ceiling=disk_iops_ceiling,
    tag_key_problem=tag_key_problem,
    tag_value_problem=tag_value_problem,
    tags_per_resource=TAGS_PER_RESOURCE,
    stage_name_max=STAGE_NAME_MAX,
    stage_name_reason=STAGE_NAME_REASON,
    parse_peers=parse_peers,
    parse_peer_groups=parse_peer_groups,
)
