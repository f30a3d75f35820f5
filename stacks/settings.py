"""Typed, validated stack settings. `parse_settings` is pure: a dict of config values in, `Settings` out.

Every problem is collected and reported together, each naming the config key, the value and the fix, so a
bad stack file fails before any resource is created.
"""
from __future__ import annotations

import difflib
import ipaddress
import re
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

from stacks.clouds import aws
from stacks.errors import Problem, SettingsError
from stacks.profiles import PROFILES, StageProfile
from stacks.sizes import AWS_INSTANCE_SIZES, NodeSize

NAMESPACE = "pg-platform"
REGION_KEY = "aws:region"
# Provider config the program reads as plain values (a `secure:` value there is an error offline).
PLAIN_PROVIDER_KEYS = (REGION_KEY,)
# Config namespaces a stack file may use besides the program's own: the providers the program uses and the
# engine's own. A key in any other namespace is never read, so it is reported, not ignored.
PROVIDER_NAMESPACES = ("aws", "random", "tls", "command", "pulumi")
SUPPORTED_CLOUDS = ("aws",)
SUPPORTED_POSTGRES_MAJORS = (14, 15, 16, 17)
DISK_TYPES = ("gp3", "io2")
# EBS limits per type: (max IOPS per volume, max IOPS per provisioned GB)
DISK_IOPS_LIMITS = {"gp3": (16_000, 500), "io2": (64_000, 500)}
DATA_CLASSIFICATIONS = ("public", "internal", "confidential", "restricted")
REQUIRED_TAGS = ("owner", "cost-center", "data-classification")

# Settings that may be secret (a `secure:` value in the stack file, a secret config key for the engine), each
# with the placeholder an offline run puts in its place: a value of the shape the setting checks, derived from
# the ciphertext, so plans stay deterministic and never hold the secret.
SECRET_PLACEHOLDER_HOST = "secure-value.invalid"
SECRET_LEAVES: dict[str, Callable[[str], str]] = {
    "monitoring.receivers[].webhook_url": lambda digest: f"https://{SECRET_PLACEHOLDER_HOST}/{digest}",
}
# Top-level settings the engine may report as secret keys (a key holding any secure leaf is secret as a whole).
SECRET_SETTINGS = frozenset(re.split(r"[.\[]", leaf, maxsplit=1)[0] for leaf in SECRET_LEAVES)

# "The world" is decided by address arithmetic, not by spelling: an allowlist whose networks together cover at
# least this many globally routable IPv4 addresses (a /8's worth, 0.4 % of the internet) is open to the internet,
# however it is written (0.0.0.0/0, 0.0.0.0/00, two /1 halves, ...). Private, shared and reserved ranges do not
# count, so application VPCs never come near it.
WORLD_PUBLIC_ADDRESSES = 1 << 24
NON_PUBLIC_IPV4 = tuple(ipaddress.IPv4Network(n) for n in (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.0.0.0/24",
    "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24",
    "224.0.0.0/4", "240.0.0.0/4"))
IPV4_PUBLIC_TOTAL = (1 << 32) - sum(n.num_addresses for n in NON_PUBLIC_IPV4)


def public_addresses(networks: Iterable[ipaddress.IPv4Network]) -> int:
    """Globally routable IPv4 addresses in the union of `networks`."""
    total = 0
    for net in ipaddress.collapse_addresses(networks):
        hidden = sum(s.num_addresses if s.subnet_of(net) else net.num_addresses if net.subnet_of(s) else 0
                     for s in NON_PUBLIC_IPV4)
        total += net.num_addresses - hidden
    return total


def is_world(networks: Iterable[ipaddress.IPv4Network]) -> bool:
    return public_addresses(networks) >= WORLD_PUBLIC_ADDRESSES


_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_INTEGER = re.compile(r"[-+]?[0-9]{1,18}")
_DIGITS = re.compile(r"[-+]?[0-9]+")
_PEER_NAME = re.compile(r"[a-z][a-z0-9-]{0,30}")
_RECEIVER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")
_HOSTNAME = re.compile(r"(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                       r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*")


def _https_url(text: str) -> bool:
    try:
        url = urllib.parse.urlsplit(text)
        return url.scheme == "https" and bool(url.hostname) and not any(c.isspace() for c in text) and (
            url.port is None or 0 < url.port < 65536)
    except ValueError:
        return False


def _host_port(text: str) -> bool:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isascii() or not port.isdigit() or len(port) > 5 or not 0 < int(port) < 65536:
        return False
    if host.startswith("[") and host.endswith("]"):
        try:
            return ipaddress.ip_address(host[1:-1]).version == 6
        except ValueError:
            return False
    return bool(_HOSTNAME.fullmatch(host))


@dataclass(frozen=True)
class Objectives:
    rpo_seconds: int
    rto_seconds: int
    retention_days: int
    worm_days: int


@dataclass(frozen=True)
class Peer:
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
    peer: str       # the name of a network.peers entry, in the stack's region
    id: str         # sg-...


@dataclass(frozen=True)
class Allowlist:
    cidrs: tuple[str, ...]
    security_groups: tuple[PeerGroup, ...]


@dataclass(frozen=True)
class Network:
    cidr: str
    zones: tuple[str, ...]
    allowlist: Allowlist
    peers: tuple[Peer, ...]


@dataclass(frozen=True)
class Cluster:
    postgres_major: int
    instance_type: str
    size: NodeSize
    disk_size_gb: int
    disk_type: str
    disk_iops: int
    nodes: int
    monitoring_instance_type: str
    # Nodes to roll onto the current image and user data on the next `up` ("db-<i>", "monitoring"); everything
    # else keeps what it booted with (README, "Changing nodes").
    roll: tuple[str, ...] = ()


@dataclass(frozen=True)
class Receiver:
    name: str
    email: str | None
    webhook_url: str | None


@dataclass(frozen=True)
class Monitoring:
    receivers: tuple[Receiver, ...]
    smtp_smarthost: str | None
    smtp_from: str | None


@dataclass(frozen=True)
class Settings:
    project: str
    stack: str
    stage: str
    cloud: str
    region: str
    profile: StageProfile
    objectives: Objectives
    network: Network
    cluster: Cluster
    monitoring: Monitoring
    tags: Mapping[str, str] = field(default_factory=dict)
    # Config keys the engine reported as secret (holding a `secure:` value), e.g. "pg-platform:monitoring".
    secret_keys: frozenset[str] = frozenset()

    @property
    def name(self) -> str:
        """The prefix every physical resource name starts with."""
        return f"pgp-{self.stage}"


# Keys of each structured setting; anything else is a typo the user should hear about.
_PEER_KEYS = ("name", "vpc_id", "cidr", "account_id", "region", "accepted")
_SCHEMA: dict[str, tuple[str, ...]] = {
    "stage": (),
    "cloud": (),
    "objectives": ("rpo_seconds", "rto_seconds", "retention_days", "worm_days"),
    "network": ("cidr", "zones", "allowlist", "peers"),
    "cluster": ("postgres_major", "instance_type", "disk_size_gb", "disk_type", "disk_iops", "nodes",
                "monitoring_instance_type", "roll"),
    "monitoring": ("receivers", "smtp_smarthost", "smtp_from"),
    "tags": REQUIRED_TAGS,
}
_REQUIRED = ("stage", "cloud", "network", "cluster", "monitoring", "tags")


class _Reader:
    """Collects problems while reading, so one run reports all of them."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def fail(self, key: str, value: object, message: str, fix: str) -> None:
        self.problems.append(Problem(f"{NAMESPACE}:{key}", value, message, fix))

    def mapping(self, key: str, value: object, allowed: tuple[str, ...], entry: bool = False) -> dict[str, Any] | None:
        """A mapping with only `allowed` keys; null is an empty mapping, except for a list `entry`, where it is
        an error (None returned)."""
        if value is None and not entry:
            return {}
        if not isinstance(value, Mapping) or (entry and not value):
            self.fail(key, value, "must be a mapping", f"write {key} as a YAML mapping with keys {', '.join(allowed)}")
            return None if entry else {}
        for unknown in sorted(set(value) - set(allowed), key=str):
            self.fail(f"{key}.{unknown}", value[unknown], "unknown key",
                      f"remove it or use one of: {', '.join(allowed)}")
        return dict(value)

    def integer(self, key: str, value: object, minimum: int, maximum: int) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int):
            text = value.strip() if isinstance(value, str) else None
            if text is not None and _INTEGER.fullmatch(text):
                value = int(text)
            elif text is not None and _DIGITS.fullmatch(text):
                self.fail(key, value, f"out of range {minimum}..{maximum}", f"set a value between {minimum} and {maximum}")
                return None
            else:
                self.fail(key, value, "must be a whole number", f"set an integer between {minimum} and {maximum}")
                return None
        if not minimum <= value <= maximum:
            self.fail(key, value, f"out of range {minimum}..{maximum}", f"set a value between {minimum} and {maximum}")
            return None
        return value

    def boolean(self, key: str, value: object) -> bool | None:
        if not isinstance(value, bool):
            self.fail(key, value, "must be true or false", f"set {key} to true or false")
            return None
        return value

    def string(self, key: str, value: object, check: Callable[[str], bool] | None = None,
               expected: str = "a non-empty string") -> str | None:
        if not isinstance(value, str) or not value.strip() or (check and not check(value)):
            self.fail(key, value, f"must be {expected}", f"set {key} to {expected}")
            return None
        return value

    def choice(self, key: str, value: object, options: tuple) -> Any:
        if value not in options:
            self.fail(key, value, "is not supported", f"use one of: {', '.join(map(str, options))}")
            return None
        return value

    def cidr(self, key: str, value: object) -> str | None:
        """An IPv4 network: the platform VPC, its routes and its security group rules are IPv4 only."""
        try:
            network = ipaddress.ip_network(str(value), strict=True)
        except ValueError as exc:
            self.fail(key, value, f"is not a valid CIDR ({exc})", "write a network address with prefix, e.g. 10.40.0.0/16")
            return None
        if network.version != 4:
            self.fail(key, value, "is an IPv6 network, but the platform VPC, its routes and its security group rules "
                                  "are IPv4 only", "list IPv4 networks, e.g. 10.50.0.0/16")
            return None
        return str(network)

    def listing(self, key: str, value: object) -> list:
        if value is None:
            return []
        if not isinstance(value, list):
            self.fail(key, value, "must be a list", f"write {key} as a YAML list")
            return []
        return value


def config_key_problems(config: Mapping[str, Any]) -> list[Problem]:
    """Config keys the program would never read: not namespaced, or in a namespace that is neither the program's
    nor a provider's (`pg-platfrom:objectives` would otherwise leave the profile's defaults in force)."""
    known = (NAMESPACE, *PROVIDER_NAMESPACES)
    problems = []
    for key, value in config.items():
        namespace, sep, name = str(key).partition(":")
        if not (sep and namespace and name):
            bare = str(key).strip(":")
            fix = (f"write it as {NAMESPACE}:{bare}" if bare in _SCHEMA else
                   f"name it <namespace>:<setting>, e.g. {NAMESPACE}:{sorted(_SCHEMA)[0]} or {REGION_KEY}")
            problems.append(Problem(str(key), value, "is not a namespaced config key, so the program never reads it",
                                    fix))
        elif namespace not in known:
            close = difflib.get_close_matches(namespace.lower(), known, n=1, cutoff=0.6)
            setting = name if re.fullmatch(r"[A-Za-z0-9_.-]+", name) else sorted(_SCHEMA)[0]
            fix = (f"rename it {close[0]}:{name}" if close else
                   f"use {NAMESPACE}:{setting} for a platform setting (known namespaces: {', '.join(known)})")
            problems.append(Problem(str(key), value, f"is in the unknown config namespace {namespace!r}, so the program "
                                                     f"never reads it", fix))
    return problems


def secret_key_problems(secret_keys: Iterable[str]) -> list[Problem]:
    """Secret config keys (as the engine reports them) that hold no setting a secret belongs in."""
    problems = []
    for key in sorted(secret_keys):
        namespace, _, name = key.partition(":")
        name = name.removeprefix("config:")
        if namespace == NAMESPACE and name not in SECRET_SETTINGS:
            problems.append(Problem(key, "[secret]", f"is secret (it holds a secure value), but nothing in {name} "
                                                     f"is a secret", f"write it in plain text; only "
                                                                     f"{', '.join(SECRET_LEAVES)} may be secure"))
    return problems


def parse_config(config: Mapping[str, Any], stack: str, project: str = NAMESPACE,
                 secret_keys: Iterable[str] = ()) -> Settings:
    """Settings from a whole engine config map (namespaced keys, structured values JSON-encoded), as the engine
    hands it to the program or the offline reader builds it from a stack file."""
    from stacks.files import namespace_values

    secret_keys = frozenset(secret_keys)
    region = namespace_values(config, "aws").get("region")      # JSON-decoded like every value: null is missing
    return parse_settings(namespace_values(config, NAMESPACE), stack=stack, region=region, project=project,
                          secret_keys=secret_keys,
                          problems=[*config_key_problems(config), *secret_key_problems(secret_keys)])


def parse_settings(raw: Mapping[str, Any], stack: str, region: object, project: str = NAMESPACE, *,
                   secret_keys: Iterable[str] = (), problems: Iterable[Problem] = ()) -> Settings:
    """Validate the `pg-platform:*` config values of one stack; raise SettingsError listing every problem."""
    r = _Reader()
    r.problems.extend(problems)
    for unknown in sorted(set(raw) - set(_SCHEMA), key=str):
        r.fail(unknown, raw[unknown], "unknown key", f"remove it or use one of: {', '.join(sorted(_SCHEMA))}")
    for key in _REQUIRED:
        if raw.get(key) in (None, "", {}):
            r.fail(key, None, "is required", f"add `{NAMESPACE}:{key}` to Pulumi.{stack}.yaml")
    if region in (None, ""):
        r.problems.append(Problem(REGION_KEY, None, "is required", f"add `{REGION_KEY}` to Pulumi.{stack}.yaml"))
        region = None
    elif not aws.is_region(region):
        close = difflib.get_close_matches(str(region), aws.REGIONS, n=1)
        r.problems.append(Problem(REGION_KEY, region, "is not an AWS region",
                                  f"use {close[0]}" if close else f"use one of: {', '.join(aws.REGIONS)}"))
        region = None
    assert region is None or isinstance(region, str)

    stage = r.choice("stage", raw.get("stage"), tuple(PROFILES)) if raw.get("stage") is not None else None
    profile = PROFILES.get(stage or "", PROFILES["prod"])  # prod's rules are the safe ones to check against
    cloud = r.choice("cloud", raw.get("cloud"), SUPPORTED_CLOUDS) if raw.get("cloud") is not None else None

    objectives = _objectives(r, raw.get("objectives"), profile)
    network = _network(r, raw.get("network"), profile, region)
    cluster = _cluster(r, raw.get("cluster"), profile)
    monitoring = _monitoring(r, raw.get("monitoring"))
    tags = _tags(r, raw.get("tags"))

    if r.problems:
        raise SettingsError(r.problems)
    assert stage and cloud and region and network and cluster and monitoring and objectives
    return Settings(project=project, stack=stack, stage=stage, cloud=cloud, region=region, profile=profile,
                    objectives=objectives, network=network, cluster=cluster, monitoring=monitoring,
                    tags={**tags, "stage": stage}, secret_keys=frozenset(secret_keys))


def _objectives(r: _Reader, value: object, profile: StageProfile) -> Objectives | None:
    o = r.mapping("objectives", value, _SCHEMA["objectives"])
    rpo = r.integer("objectives.rpo_seconds", o.get("rpo_seconds", profile.rpo_seconds), 0, 86_400)
    rto = r.integer("objectives.rto_seconds", o.get("rto_seconds", profile.rto_seconds), 1, 86_400)
    retention = r.integer("objectives.retention_days", o.get("retention_days", profile.retention_days),
                          profile.min_retention_days, 3650)
    worm = r.integer("objectives.worm_days", o.get("worm_days", profile.worm_days), 0, 3650)
    if worm == 0 and profile.lock_mode == "COMPLIANCE":
        r.fail("objectives.worm_days", worm, f"{profile.name} keeps its backups under a COMPLIANCE lock",
               "set objectives.worm_days to the agreed WORM period (prod default 14)")
    if None in (rpo, rto, retention, worm):
        return None
    return Objectives(rpo_seconds=rpo, rto_seconds=rto, retention_days=retention, worm_days=worm)


def _network(r: _Reader, value: object, profile: StageProfile, region: str | None) -> Network | None:
    n = r.mapping("network", value, _SCHEMA["network"])
    if not n:
        return None
    cidr = r.cidr("network.cidr", n.get("cidr"))
    if cidr and not 16 <= ipaddress.ip_network(cidr).prefixlen <= 24:
        r.fail("network.cidr", cidr, "VPC prefix must be between /16 and /24", "choose a /16 to /24 private range")
        cidr = None
    zones = _zones(r, n.get("zones"), region)
    peers, declared = _peers(r, n.get("peers"), cidr, region)
    allowlist = _allowlist(r, n.get("allowlist"), profile, region, peers, declared)
    if cidr is None or not zones or allowlist is None:
        return None
    return Network(cidr=cidr, zones=zones, allowlist=allowlist, peers=peers)


def _zones(r: _Reader, value: object, region: str | None) -> tuple[str, ...]:
    listed = r.listing("network.zones", value)
    if not listed:
        r.fail("network.zones", value, "needs at least one availability zone",
               f"list the AZs, e.g. [{region or 'eu-central-1'}a]")
        return ()
    zones = []
    for i, zone in enumerate(listed):
        problem = aws.zone_problem(zone, region)
        if problem:
            r.fail(f"network.zones[{i}]", zone, problem,
                   f"list availability zones of {region}, e.g. {region}a" if region else
                   "list availability zones of the stack's aws:region")
        else:
            zones.append(zone)
    if len(set(zones)) != len(zones):
        r.fail("network.zones", list(listed), "lists a zone twice", "list each availability zone once")
        return ()
    return tuple(zones) if len(zones) == len(listed) else ()


def _peers(r: _Reader, value: object, vpc_cidr: str | None, region: str | None) -> tuple[tuple[Peer, ...], set[str]]:
    """The valid peers, and every name declared (valid or not), so references to a broken peer are not reported
    a second time."""
    peers: list[Peer] = []
    declared: set[str] = set()
    vpcs: dict[str, int] = {}
    networks: dict[int, ipaddress.IPv4Network] = {}
    for i, entry in enumerate(r.listing("network.peers", value)):
        key = f"network.peers[{i}]"
        p = r.mapping(key, entry, _PEER_KEYS, entry=True)
        if p is None:
            continue
        name = r.string(f"{key}.name", p.get("name"), lambda s: _PEER_NAME.fullmatch(s) is not None,
                        "a short lowercase name (letters, digits, '-')")
        if name and name in declared:
            r.fail(f"{key}.name", name, "is the name of an earlier peer too; it names the peering connection and its "
                                        "route, so each peer needs its own", "give each peer a different name")
            name = None
        elif name:
            declared.add(name)
        vpc = r.string(f"{key}.vpc_id", p.get("vpc_id"), lambda s: aws.VPC_ID.fullmatch(s) is not None,
                       "a VPC id (vpc- and 8 or 17 hex digits)")
        if vpc and vpc in vpcs:
            r.fail(f"{key}.vpc_id", vpc, f"is the VPC of network.peers[{vpcs[vpc]}] too",
                   "declare each peer VPC once")
            vpc = None
        elif vpc:
            vpcs[vpc] = i
        peer_cidr = r.cidr(f"{key}.cidr", p.get("cidr"))
        if peer_cidr and vpc_cidr and ipaddress.ip_network(peer_cidr).overlaps(ipaddress.ip_network(vpc_cidr)):
            r.fail(f"{key}.cidr", peer_cidr, f"overlaps the platform VPC {vpc_cidr}; peering needs disjoint ranges",
                   "choose a VPC CIDR that does not overlap any peer")
            peer_cidr = None
        if peer_cidr:
            net = ipaddress.IPv4Network(peer_cidr)
            clash = next((j for j, other in networks.items() if other.overlaps(net)), None)
            if clash is not None:
                r.fail(f"{key}.cidr", peer_cidr, f"overlaps network.peers[{clash}] ({networks[clash]}), so the "
                                                 f"private route table cannot tell the peers apart",
                       "peer only VPCs with disjoint ranges")
                peer_cidr = None
            else:
                networks[i] = net
        account_raw = p.get("account_id")
        if isinstance(account_raw, int) and not isinstance(account_raw, bool):
            account_raw = str(account_raw)
        account = r.string(f"{key}.account_id", account_raw, lambda s: aws.ACCOUNT_ID.fullmatch(s) is not None,
                           "a 12-digit AWS account id (quoted, so leading zeros survive)")
        peer_region = r.string(f"{key}.region", p.get("region"), aws.is_region, "an AWS region name")
        if peer_region and region and aws.partition_of(peer_region) != aws.partition_of(region):
            r.fail(f"{key}.region", peer_region, f"is in partition {aws.partition_of(peer_region)}, the stack in "
                                                 f"{aws.partition_of(region)}; VPC peering does not cross partitions",
                   f"peer a VPC in the {aws.partition_of(region)} partition")
            peer_region = None
        accepted = r.boolean(f"{key}.accepted", p.get("accepted", False))
        if name and vpc and peer_cidr and account and peer_region and accepted is not None:
            peers.append(Peer(name, vpc, peer_cidr, account, peer_region, accepted))
    return tuple(peers), declared


def _allowlist(r: _Reader, value: object, profile: StageProfile, region: str | None, peers: tuple[Peer, ...],
               declared: set[str]) -> Allowlist | None:
    key = "network.allowlist"
    if value is None:
        r.fail(key, value, "is required: without it no client network reaches PostgreSQL",
               "add network.allowlist with the cidrs of the application networks (and their security groups)")
        return None
    a = r.mapping(key, value, ("cidrs", "security_groups"))
    if not isinstance(value, Mapping):
        return None
    cidrs: list[str] = []
    networks: list[ipaddress.IPv4Network] = []
    for i, c in enumerate(r.listing(f"{key}.cidrs", a.get("cidrs"))):
        parsed = r.cidr(f"{key}.cidrs[{i}]", c)
        if not parsed:
            continue
        net = ipaddress.IPv4Network(parsed)
        clash = next((j for j, other in enumerate(networks) if other.overlaps(net)), None)
        if clash is not None:
            r.fail(f"{key}.cidrs[{i}]", c, f"overlaps network.allowlist.cidrs[{clash}] ({networks[clash]})",
                   "list each network once")
            continue
        if is_world([net]) and not profile.allow_world_allowlist:
            r.fail(f"{key}.cidrs[{i}]", c, _world_message(net, profile),
                   "list the application networks' CIDRs or security groups instead")
            continue
        cidrs.append(parsed)
        networks.append(net)
    if is_world(networks) and not profile.allow_world_allowlist:
        r.fail(f"{key}.cidrs", list(a.get("cidrs") or []), _world_message(networks, profile),
               "list the application networks' CIDRs or security groups instead")
        cidrs = []
    if not a.get("cidrs"):
        # Security groups filter at the network layer, but pg_hba matches addresses: without the CIDRs those
        # clients connect from, pg_hba would refuse them (or the allowlist admits nobody at all).
        r.fail(f"{key}.cidrs", a.get("cidrs"), "lists no network, so pg_hba admits no client",
               "list the CIDRs the application clients (including those in allowlisted security groups) connect from")

    by_name = {p.name: p for p in peers}
    groups: list[PeerGroup] = []
    for i, g in enumerate(r.listing(f"{key}.security_groups", a.get("security_groups"))):
        gkey = f"{key}.security_groups[{i}]"
        if isinstance(g, str):
            r.fail(gkey, g, "is a bare security group id, but an allowlisted group is always in a peer VPC",
                   f"write it as {{peer: <name of a network.peers entry>, id: {g}}}")
            continue
        m = r.mapping(gkey, g, ("peer", "id"), entry=True)
        if m is None:
            continue
        peer_name = r.string(f"{gkey}.peer", m.get("peer"), expected="the name of a network.peers entry")
        sg = r.string(f"{gkey}.id", m.get("id"), lambda s: aws.SECURITY_GROUP_ID.fullmatch(s) is not None,
                      "a security group id (sg- and 8 or 17 hex digits)")
        peer = by_name.get(peer_name or "")
        if peer_name and peer is None:
            if peer_name not in declared:
                r.fail(f"{gkey}.peer", peer_name, "names no network.peers entry",
                       f"use one of: {', '.join(sorted(by_name))}" if by_name else
                       "declare the peer VPC the group is in under network.peers")
            continue
        if peer and region and peer.region != region:
            r.fail(f"{gkey}.peer", peer_name, f"peer {peer.name} is in {peer.region}, but AWS does not allow security "
                                              f"group references across regions over VPC peering (the stack is in "
                                              f"{region})", f"allowlist the peer's CIDR {peer.cidr} instead")
            continue
        if peer and sg:
            group = PeerGroup(peer.name, sg)
            if group in groups:
                r.fail(gkey, {"peer": peer.name, "id": sg}, "is listed twice", "list each security group once")
                continue
            groups.append(group)
    return Allowlist(tuple(cidrs), tuple(groups))


def _world_message(networks: ipaddress.IPv4Network | list[ipaddress.IPv4Network], profile: StageProfile) -> str:
    nets = [networks] if isinstance(networks, ipaddress.IPv4Network) else networks
    count = public_addresses(nets)
    share = 100 * count / IPV4_PUBLIC_TOTAL
    what = "covers" if len(nets) == 1 else "together cover"
    return (f"opens PostgreSQL to the whole internet: {what} {count:,} public addresses ({share:.1f} % of the "
            f"public IPv4 internet, the limit is {WORLD_PUBLIC_ADDRESSES:,}), not allowed in {profile.name}")


def _cluster(r: _Reader, value: object, profile: StageProfile) -> Cluster | None:
    c = r.mapping("cluster", value, _SCHEMA["cluster"])
    if not c:
        return None
    major = r.choice("cluster.postgres_major", c.get("postgres_major", 17), SUPPORTED_POSTGRES_MAJORS)
    itype = r.choice("cluster.instance_type", c.get("instance_type"), tuple(AWS_INSTANCE_SIZES))
    mtype = r.choice("cluster.monitoring_instance_type", c.get("monitoring_instance_type", "t3.medium"),
                     tuple(AWS_INSTANCE_SIZES))
    disk = r.integer("cluster.disk_size_gb", c.get("disk_size_gb", 100), 20, 16_384)
    dtype = r.choice("cluster.disk_type", c.get("disk_type", "gp3"), DISK_TYPES)
    iops = r.integer("cluster.disk_iops", c.get("disk_iops", 3000), 3000, 64_000)
    nodes = r.integer("cluster.nodes", c.get("nodes", profile.node_count), 1, 9)
    if iops and dtype in DISK_IOPS_LIMITS and disk:
        ceiling = min(DISK_IOPS_LIMITS[dtype][0], disk * DISK_IOPS_LIMITS[dtype][1])
        if iops > ceiling:
            r.fail("cluster.disk_iops", iops, f"{dtype} allows at most {ceiling} IOPS on {disk} GB",
                   f"lower disk_iops to {ceiling} or raise disk_size_gb")
    roll = _roll(r, c.get("roll"), nodes)
    if None in (major, itype, mtype, disk, dtype, iops, nodes, roll):
        return None
    return Cluster(postgres_major=major, instance_type=itype, size=AWS_INSTANCE_SIZES[itype], disk_size_gb=disk,
                   disk_type=dtype, disk_iops=iops, nodes=nodes, monitoring_instance_type=mtype, roll=roll)


MONITORING_NODE = "monitoring"


def member_node(index: int) -> str:
    """A member's node name within its cluster; its resources are named `<stage prefix>-<node>`."""
    return f"db-{index}"


def _roll(r: _Reader, value: object, nodes: int | None) -> tuple[str, ...] | None:
    entries = r.listing("cluster.roll", value)
    members = [member_node(i) for i in range(nodes or 0)]
    allowed = (*members, MONITORING_NODE)
    rolled: list[str] = []
    for i, entry in enumerate(entries):
        if entry not in allowed:
            r.fail(f"cluster.roll[{i}]", entry, "is not a node of this cluster", f"use one of: {', '.join(allowed)}")
            return None
        if entry in rolled:
            r.fail(f"cluster.roll[{i}]", entry, "is listed twice", "list each node once")
            return None
        rolled.append(entry)
    if sum(e != MONITORING_NODE for e in rolled) > 1:
        r.fail("cluster.roll", entries, "replaces more than one member at once, which can lose etcd's quorum and "
               "the synchronous standby", "roll one member at a time, replicas first; list the next after it rejoined")
        return None
    return tuple(rolled)


def _monitoring(r: _Reader, value: object) -> Monitoring | None:
    m = r.mapping("monitoring", value, _SCHEMA["monitoring"])
    if not m:
        return None
    receivers = []
    names: dict[str, int] = {}
    listed = r.listing("monitoring.receivers", m.get("receivers"))
    for i, entry in enumerate(listed):
        key = f"monitoring.receivers[{i}]"
        item = r.mapping(key, entry, ("name", "email", "webhook_url"), entry=True)
        if item is None:
            continue
        name = r.string(f"{key}.name", item.get("name"), lambda s: _RECEIVER_NAME.fullmatch(s) is not None,
                        "a receiver name (letters, digits, '-', '_', '.')")
        if name and name in names:
            r.fail(f"{key}.name", name, f"is the name of monitoring.receivers[{names[name]}] too; Alertmanager routes "
                                        f"by receiver name", "give each receiver a different name")
            name = None
        elif name:
            names[name] = i
        email = item.get("email")
        hook = item.get("webhook_url")
        if email is not None:
            email = r.string(f"{key}.email", email, lambda s: _EMAIL.fullmatch(s) is not None, "an e-mail address")
        if hook is not None:
            hook = r.string(f"{key}.webhook_url", hook, _https_url, "an https:// URL")
        if item.get("email") is None and item.get("webhook_url") is None:
            r.fail(key, item, "has neither email nor webhook_url", "give the receiver an email or an https webhook_url")
        elif name and (email or hook):
            receivers.append(Receiver(name, email, hook))
    if not listed:
        r.fail("monitoring.receivers", m.get("receivers"), "no alert receiver configured",
               "add at least one receiver with a name and an email or webhook_url")
    smarthost, sender = m.get("smtp_smarthost"), m.get("smtp_from")
    if smarthost is not None:
        smarthost = r.string("monitoring.smtp_smarthost", smarthost, _host_port,
                             "the SMTP relay as host:port (e.g. smtp-relay.example.com:587)")
    if sender is not None:
        sender = r.string("monitoring.smtp_from", sender, lambda s: _EMAIL.fullmatch(s) is not None,
                          "the sender's e-mail address")
    if any(x.email for x in receivers) and not (m.get("smtp_smarthost") and m.get("smtp_from")):
        r.fail("monitoring.smtp_smarthost", m.get("smtp_smarthost"), "e-mail receivers need an SMTP relay",
               "set monitoring.smtp_smarthost (host:port) and monitoring.smtp_from")
    return Monitoring(tuple(receivers), smarthost, sender)


def _tags(r: _Reader, value: object) -> dict[str, str]:
    t = r.mapping("tags", value, REQUIRED_TAGS)
    if not t:
        return {}
    out = {}
    for key in REQUIRED_TAGS:
        v = r.string(f"tags.{key}", t.get(key))
        if v is None:
            continue
        if v != v.strip():
            r.fail(f"tags.{key}", v, "starts or ends with a blank, which AWS keeps and every tag comparison then "
                                     "misses", f"write {v.strip()!r}")
            continue
        problem = aws.tag_value_problem(v)
        if problem:
            r.fail(f"tags.{key}", v, problem, "write the tag value with allowed characters only")
            continue
        out[key] = v
    if out.get("data-classification") and out["data-classification"] not in DATA_CLASSIFICATIONS:
        r.fail("tags.data-classification", out["data-classification"], "is not a known classification",
               f"use one of: {', '.join(DATA_CLASSIFICATIONS)}")
    return out
