"""Typed, validated stack settings. `parse_settings` is pure: a dict of config values in, `Settings` out.

Every problem is collected and reported together, each naming the config key, the value and the fix, so a
bad stack file fails before any resource is created.
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from stacks.errors import Problem, SettingsError
from stacks.profiles import PROFILES, StageProfile
from stacks.sizes import AWS_INSTANCE_SIZES, NodeSize

NAMESPACE = "pg-platform"
SUPPORTED_CLOUDS = ("aws",)
SUPPORTED_POSTGRES_MAJORS = (14, 15, 16, 17)
DISK_TYPES = ("gp3", "io2")
# EBS limits per type: (max IOPS per volume, max IOPS per provisioned GB)
DISK_IOPS_LIMITS = {"gp3": (16_000, 500), "io2": (64_000, 500)}
DATA_CLASSIFICATIONS = ("public", "internal", "confidential", "restricted")
REQUIRED_TAGS = ("owner", "cost-center", "data-classification")
WORLD_CIDRS = ("0.0.0.0/0", "::/0")

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_VPC_ID = re.compile(r"^vpc-[0-9a-f]{8,17}$")
_SG_ID = re.compile(r"^sg-[0-9a-f]{8,17}$")
_ACCOUNT = re.compile(r"^\d{12}$")


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


@dataclass(frozen=True)
class Allowlist:
    cidrs: tuple[str, ...]
    security_groups: tuple[str, ...]


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

    @property
    def name(self) -> str:
        """The prefix every physical resource name starts with."""
        return f"pgp-{self.stage}"


# Keys of each structured setting; anything else is a typo the user should hear about.
_SCHEMA: dict[str, tuple[str, ...]] = {
    "stage": (),
    "cloud": (),
    "objectives": ("rpo_seconds", "rto_seconds", "retention_days", "worm_days"),
    "network": ("cidr", "zones", "allowlist", "peers"),
    "cluster": ("postgres_major", "instance_type", "disk_size_gb", "disk_type", "disk_iops", "nodes",
                "monitoring_instance_type"),
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

    def mapping(self, key: str, value: object, allowed: tuple[str, ...]) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            self.fail(key, value, "must be a mapping", f"write {key} as a YAML mapping with keys {', '.join(allowed)}")
            return {}
        for unknown in sorted(set(value) - set(allowed)):
            self.fail(f"{key}.{unknown}", value[unknown], "unknown key",
                      f"remove it or use one of: {', '.join(allowed)}")
        return dict(value)

    def integer(self, key: str, value: object, minimum: int, maximum: int) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, str) and value.strip().lstrip("-").isdigit():
                value = int(value)
            else:
                self.fail(key, value, "must be a whole number", f"set an integer between {minimum} and {maximum}")
                return None
        if not minimum <= value <= maximum:
            self.fail(key, value, f"out of range {minimum}..{maximum}", f"set a value between {minimum} and {maximum}")
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
        try:
            return str(ipaddress.ip_network(str(value), strict=True))
        except ValueError as exc:
            self.fail(key, value, f"is not a valid CIDR ({exc})", "write a network address with prefix, e.g. 10.40.0.0/16")
            return None

    def listing(self, key: str, value: object) -> list:
        if value is None:
            return []
        if not isinstance(value, list):
            self.fail(key, value, "must be a list", f"write {key} as a YAML list")
            return []
        return value


def parse_settings(raw: Mapping[str, Any], stack: str, region: str | None, project: str = NAMESPACE) -> Settings:
    """Validate the `pg-platform:*` config values of one stack; raise SettingsError listing every problem."""
    r = _Reader()
    for unknown in sorted(set(raw) - set(_SCHEMA)):
        r.fail(unknown, raw[unknown], "unknown key", f"remove it or use one of: {', '.join(sorted(_SCHEMA))}")
    for key in _REQUIRED:
        if raw.get(key) in (None, "", {}):
            r.fail(key, None, "is required", f"add `{NAMESPACE}:{key}` to Pulumi.{stack}.yaml")
    if not region:
        r.problems.append(Problem("aws:region", None, "is required", f"add `aws:region` to Pulumi.{stack}.yaml"))

    stage = r.choice("stage", raw.get("stage"), tuple(PROFILES)) if raw.get("stage") is not None else None
    profile = PROFILES.get(stage or "", PROFILES["prod"])  # prod's rules are the safe ones to check against
    cloud = r.choice("cloud", raw.get("cloud"), SUPPORTED_CLOUDS) if raw.get("cloud") is not None else None

    objectives = _objectives(r, raw.get("objectives"), profile)
    network = _network(r, raw.get("network"), profile)
    cluster = _cluster(r, raw.get("cluster"), profile)
    monitoring = _monitoring(r, raw.get("monitoring"))
    tags = _tags(r, raw.get("tags"))

    if r.problems:
        raise SettingsError(r.problems)
    assert stage and cloud and region and network and cluster and monitoring and objectives
    return Settings(project=project, stack=stack, stage=stage, cloud=cloud, region=region, profile=profile,
                    objectives=objectives, network=network, cluster=cluster, monitoring=monitoring,
                    tags={**tags, "stage": stage})


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


def _network(r: _Reader, value: object, profile: StageProfile) -> Network | None:
    n = r.mapping("network", value, _SCHEMA["network"])
    if not n:
        return None
    cidr = r.cidr("network.cidr", n.get("cidr"))
    if cidr and not 16 <= ipaddress.ip_network(cidr).prefixlen <= 24:
        r.fail("network.cidr", cidr, "VPC prefix must be between /16 and /24", "choose a /16 to /24 private range")
        cidr = None
    zones_raw = r.listing("network.zones", n.get("zones"))
    zones = tuple(str(z) for z in zones_raw)
    if not zones:
        r.fail("network.zones", n.get("zones"), "needs at least one availability zone", "list the AZs, e.g. [eu-central-1a]")
    elif len(set(zones)) != len(zones):
        r.fail("network.zones", list(zones), "lists a zone twice", "list each availability zone once")

    a = r.mapping("network.allowlist", n.get("allowlist"), ("cidrs", "security_groups"))
    cidrs: list[str] = []
    for i, c in enumerate(r.listing("network.allowlist.cidrs", a.get("cidrs"))):
        key = f"network.allowlist.cidrs[{i}]"
        if str(c) in WORLD_CIDRS and not profile.allow_world_allowlist:
            r.fail(key, c, f"opens PostgreSQL to the whole internet, not allowed in {profile.name}",
                   "list the application networks' CIDRs or security groups instead")
            continue
        parsed = r.cidr(key, c)
        if parsed:
            cidrs.append(parsed)
    groups = []
    for i, g in enumerate(r.listing("network.allowlist.security_groups", a.get("security_groups"))):
        sg = r.string(f"network.allowlist.security_groups[{i}]", g, _SG_ID.match, "a security group id (sg-...)")
        if sg:
            groups.append(sg)
    if n.get("allowlist") is not None and not cidrs and not a.get("cidrs"):
        # Security groups filter at the network layer, but pg_hba matches addresses: without the CIDRs those
        # clients connect from, pg_hba would refuse them (or the allowlist admits nobody at all).
        r.fail("network.allowlist.cidrs", a.get("cidrs"), "lists no network, so pg_hba admits no client",
               "list the CIDRs the application clients (including those in allowlisted security groups) connect from")

    peers = []
    for i, p in enumerate(r.listing("network.peers", n.get("peers"))):
        key = f"network.peers[{i}]"
        p = r.mapping(key, p, ("name", "vpc_id", "cidr", "account_id", "region"))
        if not p:
            continue
        name = r.string(f"{key}.name", p.get("name"), lambda s: re.fullmatch(r"[a-z][a-z0-9-]{0,30}", s) is not None,
                        "a short lowercase name")
        vpc = r.string(f"{key}.vpc_id", p.get("vpc_id"), _VPC_ID.match, "a VPC id (vpc-...)")
        peer_cidr = r.cidr(f"{key}.cidr", p.get("cidr"))
        account = r.string(f"{key}.account_id", str(p.get("account_id", "")), _ACCOUNT.match, "a 12-digit AWS account id")
        region = r.string(f"{key}.region", p.get("region"), expected="an AWS region name")
        if peer_cidr and cidr and ipaddress.ip_network(peer_cidr).overlaps(ipaddress.ip_network(cidr)):
            r.fail(f"{key}.cidr", peer_cidr, f"overlaps the platform VPC {cidr}; peering needs disjoint ranges",
                   "choose a VPC CIDR that does not overlap any peer")
            peer_cidr = None
        if name and vpc and peer_cidr and account and region:
            peers.append(Peer(name, vpc, peer_cidr, account, region))
    if cidr is None or not zones:
        return None
    return Network(cidr=cidr, zones=zones, allowlist=Allowlist(tuple(cidrs), tuple(groups)), peers=tuple(peers))


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
    if None in (major, itype, mtype, disk, dtype, iops, nodes):
        return None
    return Cluster(postgres_major=major, instance_type=itype, size=AWS_INSTANCE_SIZES[itype], disk_size_gb=disk,
                   disk_type=dtype, disk_iops=iops, nodes=nodes, monitoring_instance_type=mtype)


def _monitoring(r: _Reader, value: object) -> Monitoring | None:
    m = r.mapping("monitoring", value, _SCHEMA["monitoring"])
    if not m:
        return None
    receivers = []
    for i, item in enumerate(r.listing("monitoring.receivers", m.get("receivers"))):
        key = f"monitoring.receivers[{i}]"
        item = r.mapping(key, item, ("name", "email", "webhook_url"))
        name = r.string(f"{key}.name", item.get("name"))
        email = item.get("email")
        hook = item.get("webhook_url")
        if email is not None:
            email = r.string(f"{key}.email", email, _EMAIL.match, "an e-mail address")
        if hook is not None:
            hook = r.string(f"{key}.webhook_url", hook, lambda s: s.startswith("https://"), "an https:// URL")
        if email is None and hook is None:
            r.fail(key, item, "has neither email nor webhook_url", "give the receiver an email or an https webhook_url")
        elif name:
            receivers.append(Receiver(name, email, hook))
    if not receivers:
        r.fail("monitoring.receivers", m.get("receivers"), "no alert receiver configured",
               "add at least one receiver with a name and an email or webhook_url")
    smarthost, sender = m.get("smtp_smarthost"), m.get("smtp_from")
    if any(x.email for x in receivers) and not (smarthost and sender):
        r.fail("monitoring.smtp_smarthost", smarthost, "e-mail receivers need an SMTP relay",
               "set monitoring.smtp_smarthost (host:port) and monitoring.smtp_from")
    return Monitoring(tuple(receivers), smarthost, sender)


def _tags(r: _Reader, value: object) -> dict[str, str]:
    t = r.mapping("tags", value, REQUIRED_TAGS)
    if not t:
        return {}
    out = {}
    for key in REQUIRED_TAGS:
        v = r.string(f"tags.{key}", t.get(key))
        if v:
            out[key] = v
    if out.get("data-classification") and out["data-classification"] not in DATA_CLASSIFICATIONS:
        r.fail("tags.data-classification", out["data-classification"], "is not a known classification",
               f"use one of: {', '.join(DATA_CLASSIFICATIONS)}")
    return out
