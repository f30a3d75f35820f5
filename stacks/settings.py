"""Typed, validated stack settings. `parse_settings` is pure: a dict of config values in, `Settings` out.

The settings are cloud-neutral (objectives, network intent, cluster size intent, monitoring, tags); whatever the
cloud decides (its regions and zones, instance types, disk limits, tag rules, peer networks) is checked by the
stack's cloud (stacks/clouds/). Every problem is collected and reported together, each naming the config key,
the value and the fix, so a bad stack file fails before any resource is created.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from stacks import databases as dbs
from stacks.clouds import CLOUDS, SUPPORTED_CLOUDS, Cloud, NetworkPeer, Peer, PeerGroup, kubernetes
from stacks.errors import Problem, SettingsError
from stacks.pg_catalog import PLATFORM_OWNED, as_text, finding
from stacks.profiles import PROFILES, StageProfile, inherited_profile
from stacks.reader import NAMESPACE, Reader
from stacks.sizes import NodeSize
from stacks.tags import REQUIRED_TAGS, STAGE_TAG, parse_tags
from stacks.tls import PROTOCOLS, TlsSettings, cipher_problem
from stacks.world import (
    IPV4_PUBLIC_TOTAL,
    NON_PUBLIC_IPV4,
    WORLD_PUBLIC_ADDRESSES,
    is_world,
    public_addresses,
    world_message,
)

# Imported by name from here elsewhere (the pack's pinning test, the tools): the settings' public vocabulary.
__all__ = [
    "IPV4_PUBLIC_TOTAL",
    "MONITORING_NODE",
    "NAMESPACE",
    "NON_PUBLIC_IPV4",
    "REQUIRED_TAGS",
    "SECRET_LEAVES",
    "SECRET_PLACEHOLDER_HOST",
    "WORLD_PUBLIC_ADDRESSES",
    "Allowlist",
    "Backups",
    "Cluster",
    "Monitoring",
    "Network",
    "Objectives",
    "Peer",
    "PeerGroup",
    "Postgresql",
    "Receiver",
    "Settings",
    "TlsSettings",
    "is_world",
    "member_node",
    "parse_config",
    "parse_settings",
    "public_addresses",
]

# Checked against when a stack names no cloud it supports, so its other problems are still found.
DEFAULT_CLOUD = CLOUDS[SUPPORTED_CLOUDS[0]]
# Provider config the program reads as plain values (a `secure:` value there is an error offline).
PLAIN_PROVIDER_KEYS = tuple(c.region_key for c in CLOUDS.values())
# Config namespaces a stack file may use besides the program's own: the clouds' providers, the other providers
# the program uses and the engine's own. A key in any other namespace is never read, so it is reported.
PROVIDER_NAMESPACES = (
    *dict.fromkeys(c.region_key.partition(":")[0] for c in CLOUDS.values()),
    "random",
    "tls",
    "command",
    "pulumi",
)
SUPPORTED_POSTGRES_MAJORS = (14, 15, 16, 17)
# A stage names resources (pgp-<stage>-...), DNS names and buckets: lowercase letters and digits.
_STAGE_NAME = re.compile(r"[a-z][a-z0-9]*")

# Settings that may be secret (a `secure:` value in the stack file, a secret config key for the engine), each
# with the placeholder an offline run puts in its place: a value of the shape the setting checks, derived from
# the ciphertext, so plans stay deterministic and never hold the secret.
SECRET_PLACEHOLDER_HOST = "secure-value.invalid"
SECRET_LEAVES: dict[str, Callable[[str], str]] = {
    "monitoring.receivers[].webhook_url": lambda digest: f"https://{SECRET_PLACEHOLDER_HOST}/{digest}",
}
# Top-level settings the engine may report as secret keys (a key holding any secure leaf is secret as a whole).
SECRET_SETTINGS = frozenset(re.split(r"[.\[]", leaf, maxsplit=1)[0] for leaf in SECRET_LEAVES)

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_RECEIVER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")
_HOSTNAME = re.compile(
    r"(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
)


def _https_url(text: str) -> bool:
    try:
        url = urllib.parse.urlsplit(text)
        return (
            url.scheme == "https"
            and bool(url.hostname)
            and not any(c.isspace() for c in text)
            and (url.port is None or 0 < url.port < 65536)
        )
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
class Allowlist:
    cidrs: tuple[str, ...]
    security_groups: tuple[PeerGroup, ...]  # the cloud's firewall groups in peer networks


@dataclass(frozen=True)
class Network:
    cidr: str
    zones: tuple[str, ...]
    allowlist: Allowlist
    peers: tuple[Peer, ...]  # the cloud's peer networks


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
    # The processor architecture of each instance type, which decides the machine image it boots.
    architecture: str = "x86_64"
    monitoring_architecture: str = "x86_64"


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
class Postgresql:
    # The stack's PostgreSQL parameters by lower-case name (the server folds names), applied on top of the
    # platform's tunables; never one the platform owns (stacks.pg_catalog.PLATFORM_OWNED).
    parameters: Mapping[str, str | int | float] = field(default_factory=dict)
    # The databases, their extensions and the login roles the stack declares (stacks/databases.py).
    declared: dbs.Declared = field(default_factory=dbs.Declared)


@dataclass(frozen=True)
class Backups:
    # False: no WAL reaches the repository and no backup or restore drill is scheduled (a dev stage only).
    enabled: bool = True


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
    # Only with cloud kubernetes: the cluster it deploys to and the cloud that cluster runs in.
    kubernetes: kubernetes.Kubernetes | None = None
    postgresql: Postgresql = field(default_factory=Postgresql)
    tls: TlsSettings = field(default_factory=TlsSettings)
    backups: Backups = field(default_factory=Backups)

    @property
    def name(self) -> str:
        """The prefix every physical resource name starts with."""
        return f"pgp-{self.stage}"

    @property
    def cloud_facts(self) -> Cloud:
        """What the stack's cloud allows and how its load balancer checks health (stacks/clouds/)."""
        if self.kubernetes is not None:
            return kubernetes.on(CLOUDS[self.kubernetes.host])
        return CLOUDS[self.cloud]


# Keys of each structured setting; anything else is a typo the user should hear about. Tags are open: besides
# the required ones, any key the cloud's tag rules allow.
_SCHEMA: dict[str, tuple[str, ...]] = {
    "stage": (),
    "profile": (),
    "cloud": (),
    "objectives": ("rpo_seconds", "rto_seconds", "retention_days", "worm_days"),
    "network": ("cidr", "zones", "allowlist", "peers"),
    "cluster": (
        "postgres_major",
        "instance_type",
        "disk_size_gb",
        "disk_type",
        "disk_iops",
        "nodes",
        "monitoring_instance_type",
        "roll",
    ),
    "monitoring": ("receivers", "smtp_smarthost", "smtp_from"),
    "postgresql": ("parameters", "databases", "roles"),
    "tls": ("min_protocol_version", "ciphers"),
    "backups": ("enabled",),
    "tags": REQUIRED_TAGS,
    kubernetes.NAME: kubernetes.SCHEMA,
}
# What pg-platform:cloud may name: a cloud's own VMs, or Kubernetes in one of them (stacks/clouds/kubernetes.py).
TARGETS = (*SUPPORTED_CLOUDS, kubernetes.NAME)
_REQUIRED = ("stage", "cloud", "network", "cluster", "monitoring", "tags")


def cloud_of(raw: Mapping[str, Any]) -> Cloud:
    """The cloud a stack's `pg-platform:*` values name (the default one to check against if it names none)."""
    name = raw.get("cloud")
    if name == kubernetes.NAME:
        return kubernetes.on(CLOUDS[kubernetes.host_name(raw) or DEFAULT_CLOUD.name])
    return CLOUDS[name] if isinstance(name, str) and name in CLOUDS else DEFAULT_CLOUD


def config_key_problems(config: Mapping[str, Any]) -> list[Problem]:
    """Config keys the program would never read: not namespaced, or in a namespace that is neither the program's
    nor a provider's (`pg-platfrom:objectives` would otherwise leave the profile's defaults in force)."""
    known = (NAMESPACE, *PROVIDER_NAMESPACES)
    problems = []
    for key, value in config.items():
        namespace, sep, name = str(key).partition(":")
        if not (sep and namespace and name):
            bare = str(key).strip(":")
            fix = (
                f"write it as {NAMESPACE}:{bare}"
                if bare in _SCHEMA
                else f"name it <namespace>:<setting>, e.g. {NAMESPACE}:{sorted(_SCHEMA)[0]} or "
                f"{DEFAULT_CLOUD.region_key}"
            )
            problems.append(
                Problem(str(key), value, "is not a namespaced config key, so the program never reads it", fix)
            )
        elif namespace not in known:
            close = difflib.get_close_matches(namespace.lower(), known, n=1, cutoff=0.6)
            setting = name if re.fullmatch(r"[A-Za-z0-9_.-]+", name) else sorted(_SCHEMA)[0]
            fix = (
                f"rename it {close[0]}:{name}"
                if close
                else f"use {NAMESPACE}:{setting} for a platform setting (known namespaces: {', '.join(known)})"
            )
            problems.append(
                Problem(
                    str(key),
                    value,
                    f"is in the unknown config namespace {namespace!r}, so the program never reads it",
                    fix,
                )
            )
    return problems


def secret_key_problems(secret_keys: Iterable[str]) -> list[Problem]:
    """Secret config keys (as the engine reports them) that hold no setting a secret belongs in."""
    problems = []
    for key in sorted(secret_keys):
        namespace, _, name = key.partition(":")
        name = name.removeprefix("config:")
        if namespace == NAMESPACE and name not in SECRET_SETTINGS:
            problems.append(
                Problem(
                    key,
                    "[secret]",
                    f"is secret (it holds a secure value), but nothing in {name} is a secret",
                    f"write it in plain text; only {', '.join(SECRET_LEAVES)} may be secure",
                )
            )
    return problems


def parse_config(
    config: Mapping[str, Any], stack: str, project: str = NAMESPACE, secret_keys: Iterable[str] = ()
) -> Settings:
    """Settings from a whole engine config map (namespaced keys, structured values JSON-encoded), as the engine
    hands it to the program or the offline reader builds it from a stack file."""
    from stacks.files import namespace_values

    secret_keys = frozenset(secret_keys)
    raw = namespace_values(config, NAMESPACE)
    namespace, _, name = cloud_of(raw).region_key.partition(":")
    region = namespace_values(config, namespace).get(name)  # JSON-decoded like every value: null is missing
    return parse_settings(
        raw,
        stack=stack,
        region=region,
        project=project,
        secret_keys=secret_keys,
        problems=[*config_key_problems(config), *secret_key_problems(secret_keys)],
    )


def parse_settings(
    raw: Mapping[str, Any],
    stack: str,
    region: object,
    project: str = NAMESPACE,
    *,
    secret_keys: Iterable[str] = (),
    problems: Iterable[Problem] = (),
) -> Settings:
    """Validate the `pg-platform:*` config values of one stack; raise SettingsError listing every problem."""
    r = Reader()
    r.problems.extend(problems)
    for unknown in sorted(set(raw) - set(_SCHEMA), key=str):
        r.fail(unknown, raw[unknown], "unknown key", f"remove it or use one of: {', '.join(sorted(_SCHEMA))}")
    for key in _REQUIRED:
        if raw.get(key) in (None, "", {}):
            r.fail(key, None, "is required", f"add `{NAMESPACE}:{key}` to Pulumi.{stack}.yaml")
    cloud = r.choice("cloud", raw.get("cloud"), TARGETS) if raw.get("cloud") is not None else None
    facts = cloud_of(raw)
    checked_region = _region(r, region, facts, stack)
    on_kubernetes = None
    if cloud == kubernetes.NAME:
        on_kubernetes = kubernetes.parse(r, raw.get(kubernetes.NAME), checked_region)
    elif raw.get(kubernetes.NAME) is not None:
        r.fail(
            kubernetes.NAME,
            raw.get(kubernetes.NAME),
            f"is read only when pg-platform:cloud is {kubernetes.NAME}",
            f"remove it, or set pg-platform:cloud to {kubernetes.NAME}",
        )

    stage = _stage(r, raw.get("stage"), facts)
    profile = _profile(r, raw.get("profile"), raw.get("stage") if stage else None, stack)
    # An unknown profile is checked against prod's rules: they are the safe ones.
    rules = profile or PROFILES["prod"]

    objectives = _objectives(r, raw.get("objectives"), rules)
    network = _network(r, raw.get("network"), rules, checked_region, facts)
    cluster = _cluster(r, raw.get("cluster"), rules, facts)
    monitoring = _monitoring(r, raw.get("monitoring"))
    postgresql = _postgresql(r, raw.get("postgresql"), cluster.postgres_major if cluster else None, cloud)
    tags = parse_tags(r, raw.get("tags"), facts)
    tls = _tls(r, raw.get("tls"))
    backups = _backups(r, raw.get("backups"), rules, raw.get("objectives"), cloud)
    if cloud == kubernetes.NAME and network and (network.peers or network.allowlist.security_groups):
        r.fail(
            "network.peers" if network.peers else "network.allowlist.security_groups",
            [p.name for p in network.peers] or [g.id for g in network.allowlist.security_groups],
            "names cloud networks or firewall groups, but on Kubernetes clients are admitted by NetworkPolicy "
            "(namespaces and CIDRs); peering belongs to the cluster's own network",
            f"remove it and list the clients' namespaces in {kubernetes.NAME}.client_namespaces or their networks in "
            "network.allowlist.cidrs",
        )

    if r.problems:
        raise SettingsError(r.problems)
    assert stage and cloud and checked_region and profile and network and cluster and monitoring and objectives
    return Settings(
        project=project,
        stack=stack,
        stage=stage,
        cloud=cloud,
        region=checked_region,
        profile=profile,
        objectives=objectives,
        network=network,
        cluster=cluster,
        monitoring=monitoring,
        tags={**tags, STAGE_TAG: stage},
        secret_keys=frozenset(secret_keys),
        kubernetes=on_kubernetes,
        postgresql=postgresql,
        tls=tls,
        backups=backups,
    )


def _tls(r: Reader, value: object) -> TlsSettings:
    t = r.mapping("tls", value, _SCHEMA["tls"])
    default = TlsSettings()
    minimum = r.choice(
        "tls.min_protocol_version", t.get("min_protocol_version", default.min_protocol_version), PROTOCOLS
    )
    ciphers = t.get("ciphers")
    if ciphers is not None:
        if not isinstance(ciphers, str) or not ciphers.strip():
            r.fail(
                "tls.ciphers",
                ciphers,
                "must be an OpenSSL cipher list",
                "write it as one string, e.g. 'HIGH:!aNULL:!MD5', or remove it to keep the servers' defaults",
            )
            ciphers = None
        elif problem := cipher_problem(ciphers):
            r.fail(
                "tls.ciphers",
                ciphers,
                problem,
                "list only strong suites and exclude the weak ones with '!', e.g. 'HIGH:!aNULL:!MD5'",
            )
            ciphers = None
        elif minimum == PROTOCOLS[-1]:
            r.fail(
                "tls.ciphers",
                ciphers,
                f"has no effect when tls.min_protocol_version is {minimum}: the cipher list governs TLS 1.2 and "
                "below, and TLS 1.3's suites are not configurable in PostgreSQL",
                "remove tls.ciphers",
            )
            ciphers = None
    return TlsSettings(minimum or default.min_protocol_version, ciphers)


def _backups(r: Reader, value: object, profile: StageProfile, objectives: object, cloud: str | None) -> Backups:
    b = r.mapping("backups", value, _SCHEMA["backups"])
    enabled = r.boolean("backups.enabled", b.get("enabled", Backups().enabled))
    if enabled is False and cloud == kubernetes.NAME:
        r.fail(
            "backups.enabled",
            False,
            "is read by the virtual-machine flavours' archive and backup schedule; on Kubernetes CloudNativePG's "
            "Barman Cloud plugin archives and backs up, and the platform does not map this setting onto it yet",
            "remove backups.enabled from this stack",
        )
    elif enabled is False and not profile.backups_optional:
        r.fail(
            "backups.enabled",
            False,
            f"turns off the WAL archive and the backups, which a {profile.name} stage must keep (PGP-BAK-002): "
            "without them losing the cluster loses its data",
            "remove backups.enabled (or set it to true); only a stage of a profile that allows it, such as dev, "
            "may run without backups",
        )
    elif enabled is False and isinstance(objectives, Mapping) and "rpo_seconds" in objectives:
        # Whole-cluster loss is bounded only by the archive (archive_timeout is half the RPO): a stated RPO
        # with nothing archived would be a promise the stage cannot keep.
        r.fail(
            "backups.enabled",
            False,
            f"turns off the WAL archive, but objectives.rpo_seconds states an RPO of {objectives['rpo_seconds']} s, "
            "which only the archive meets when the cluster is lost",
            "keep backups on, or remove objectives.rpo_seconds: a stage without backups promises no recovery point "
            "for the loss of its cluster",
        )
    return Backups(enabled is not False)


def _region(r: Reader, region: object, facts: Cloud, stack: str) -> str | None:
    if region in (None, ""):
        r.problems.append(
            Problem(facts.region_key, None, "is required", f"add `{facts.region_key}` to Pulumi.{stack}.yaml")
        )
        return None
    problem = facts.region_problem(region) if isinstance(region, str) else f"is not an {facts.label} region"
    if problem:
        close = difflib.get_close_matches(str(region), facts.regions, n=1)
        fix = f"use {close[0]}" if close else f"use one of: {', '.join(facts.regions)}"
        r.problems.append(Problem(facts.region_key, region, problem, fix))
        return None
    assert isinstance(region, str)
    return region


def _stage(r: Reader, value: object, facts: Cloud) -> str | None:
    """The stage's name: it names every resource (pgp-<stage>-...), so the cloud's name limits bound it."""
    if value is None:
        return None  # reported as required
    stage = r.string(
        "stage",
        value,
        lambda s: _STAGE_NAME.fullmatch(s) is not None,
        "a stage name of lowercase letters and digits, starting with a letter (e.g. staging)",
    )
    if stage and len(stage) > facts.stage_name_max:
        r.fail(
            "stage",
            stage,
            f"has {len(stage)} characters, but on {facts.label} a stage name has at most {facts.stage_name_max} "
            f"({facts.stage_name_reason})",
            f"use a stage name of at most {facts.stage_name_max} characters, e.g. {stage[: facts.stage_name_max]}",
        )
        return None
    return stage


def _profile(r: Reader, value: object, stage: object, stack: str) -> StageProfile | None:
    """The profile a stage inherits: `pg-platform:profile`, or the profile the stage is named after."""
    name = inherited_profile(stage, value)
    if name in PROFILES:
        return PROFILES[name]
    known = ", ".join(PROFILES)
    if value is None:
        if isinstance(stage, str):
            r.fail(
                "profile",
                None,
                f"is required: stage {stage!r} is not a profile, so it must name the profile it inherits ({known})",
                f"add `{NAMESPACE}:profile: prod` (or another of {known}) to Pulumi.{stack}.yaml",
            )
        return None
    close = difflib.get_close_matches(str(value), PROFILES, n=1)
    r.fail("profile", value, "is not a profile", f"use {close[0]}" if close else f"use one of: {known}")
    return None


def _objectives(r: Reader, value: object, profile: StageProfile) -> Objectives | None:
    o = r.mapping("objectives", value, _SCHEMA["objectives"])
    rpo = r.integer("objectives.rpo_seconds", o.get("rpo_seconds", profile.rpo_seconds), 0, 86_400)
    rto = r.integer("objectives.rto_seconds", o.get("rto_seconds", profile.rto_seconds), 1, 86_400)
    retention = r.integer(
        "objectives.retention_days",
        o.get("retention_days", profile.retention_days),
        profile.min_retention_days,
        3650,
    )
    worm = r.integer("objectives.worm_days", o.get("worm_days", profile.worm_days), 0, 3650)
    if worm == 0 and profile.lock_mode == "COMPLIANCE":
        r.fail(
            "objectives.worm_days",
            worm,
            f"{profile.name} keeps its backups under a COMPLIANCE lock",
            f"set objectives.worm_days to the agreed WORM period ({profile.name} default {profile.worm_days})",
        )
    if rpo is None or rto is None or retention is None or worm is None:
        return None
    return Objectives(rpo_seconds=rpo, rto_seconds=rto, retention_days=retention, worm_days=worm)


# The platform carves one subnet per zone, plus the egress subnet, out of at most a /24.
NETWORK_PREFIX_MAX = 24


def _network(r: Reader, value: object, profile: StageProfile, region: str | None, facts: Cloud) -> Network | None:
    n = r.mapping("network", value, _SCHEMA["network"])
    if not n:
        return None
    cidr = r.cidr("network.cidr", n.get("cidr"))
    if cidr and not facts.network_prefix_min <= ipaddress.ip_network(cidr).prefixlen <= NETWORK_PREFIX_MAX:
        r.fail(
            "network.cidr",
            cidr,
            f"VPC prefix must be between /{facts.network_prefix_min} and /{NETWORK_PREFIX_MAX}",
            f"choose a /{facts.network_prefix_min} to /{NETWORK_PREFIX_MAX} private range",
        )
        cidr = None
    zones = _zones(r, n.get("zones"), region, facts)
    peers, declared = facts.parse_peers(r, n.get("peers"), cidr, region)
    allowlist = _allowlist(r, n.get("allowlist"), profile, region, peers, declared, facts)
    if cidr is None or not zones or allowlist is None:
        return None
    return Network(cidr=cidr, zones=zones, allowlist=allowlist, peers=peers)


def _zones(r: Reader, value: object, region: str | None, facts: Cloud) -> tuple[str, ...]:
    listed = r.listing("network.zones", value)
    examples = ", ".join(facts.zone_examples(region or facts.region_example))
    if not listed:
        r.fail("network.zones", value, "needs at least one availability zone", f"list the zones, e.g. [{examples}]")
        return ()
    zones = []
    for i, zone in enumerate(listed):
        problem = facts.zone_problem(zone, region)
        if problem:
            r.fail(
                f"network.zones[{i}]",
                zone,
                problem,
                f"list availability zones of {region}, e.g. {examples}"
                if region
                else f"list availability zones of the stack's {facts.region_key}",
            )
        else:
            zones.append(zone)
    if len(set(zones)) != len(zones):
        r.fail("network.zones", list(listed), "lists a zone twice", "list each availability zone once")
        return ()
    return tuple(zones) if len(zones) == len(listed) else ()


def _allowlist(
    r: Reader,
    value: object,
    profile: StageProfile,
    region: str | None,
    peers: tuple[NetworkPeer, ...],
    declared: set[str],
    facts: Cloud,
) -> Allowlist | None:
    key = "network.allowlist"
    if value is None:
        r.fail(
            key,
            value,
            "is required: without it no client network reaches PostgreSQL",
            "add network.allowlist with the cidrs of the application networks (and their security groups)",
        )
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
            r.fail(
                f"{key}.cidrs[{i}]",
                c,
                f"overlaps network.allowlist.cidrs[{clash}] ({networks[clash]})",
                "list each network once",
            )
            continue
        if is_world([net]) and not profile.allow_world_allowlist:
            r.fail(
                f"{key}.cidrs[{i}]",
                c,
                world_message(net, profile.name),
                "list the application networks' CIDRs or security groups instead",
            )
            continue
        cidrs.append(parsed)
        networks.append(net)
    if is_world(networks) and not profile.allow_world_allowlist:
        r.fail(
            f"{key}.cidrs",
            list(a.get("cidrs") or []),
            world_message(networks, profile.name),
            "list the application networks' CIDRs or security groups instead",
        )
        cidrs = []
    if not a.get("cidrs"):
        # Security groups filter at the network layer, but pg_hba matches addresses: without the CIDRs those
        # clients connect from, pg_hba would refuse them (or the allowlist admits nobody at all).
        r.fail(
            f"{key}.cidrs",
            a.get("cidrs"),
            "lists no network, so pg_hba admits no client",
            "list the CIDRs the application clients (including those in allowlisted security groups) connect from",
        )
    listed = r.listing(f"{key}.security_groups", a.get("security_groups"))
    groups = facts.parse_peer_groups(r, f"{key}.security_groups", listed, region, {p.name: p for p in peers}, declared)
    return Allowlist(tuple(cidrs), groups)


def _cluster(r: Reader, value: object, profile: StageProfile, facts: Cloud) -> Cluster | None:
    c = r.mapping("cluster", value, _SCHEMA["cluster"])
    if not c:
        return None
    major = r.choice("cluster.postgres_major", c.get("postgres_major", 17), SUPPORTED_POSTGRES_MAJORS)
    itype = _instance_type(r, "cluster.instance_type", c.get("instance_type"), facts)
    mtype = _instance_type(
        r,
        "cluster.monitoring_instance_type",
        c.get("monitoring_instance_type", facts.default_monitoring_instance_type),
        facts,
    )
    disk = r.integer("cluster.disk_size_gb", c.get("disk_size_gb", 100), 20, facts.disk_size_gb_max)
    dtype = r.choice("cluster.disk_type", c.get("disk_type", facts.default_disk_type), facts.disk_types)
    iops = r.integer(
        "cluster.disk_iops", c.get("disk_iops", facts.disk_iops_min), facts.disk_iops_min, facts.disk_iops_max
    )
    nodes = r.integer("cluster.nodes", c.get("nodes", profile.node_count), 1, 9)
    if iops and dtype and disk:
        ceiling = facts.disk_iops_ceiling(dtype, disk)
        if iops > ceiling:
            r.fail(
                "cluster.disk_iops",
                iops,
                f"{dtype} allows at most {ceiling} IOPS on {disk} GB",
                f"lower disk_iops to {ceiling} or raise disk_size_gb",
            )
    roll = _roll(r, c.get("roll"), nodes)
    if major is None or itype is None or mtype is None or disk is None or dtype is None:
        return None
    if iops is None or nodes is None or roll is None:
        return None
    return Cluster(
        postgres_major=major,
        instance_type=itype,
        size=facts.node_size(itype),
        disk_size_gb=disk,
        disk_type=dtype,
        disk_iops=iops,
        nodes=nodes,
        monitoring_instance_type=mtype,
        roll=roll,
        architecture=facts.architecture(itype),
        monitoring_architecture=facts.architecture(mtype),
    )


def _instance_type(r: Reader, key: str, value: object, facts: Cloud) -> str | None:
    """An instance type the cloud offers and the platform can size its node on."""
    if not isinstance(value, str) or not value.strip():
        r.fail(
            key,
            value,
            f"must be an {facts.label} instance type",
            f"set {key}, e.g. to {facts.default_monitoring_instance_type}",
        )
        return None
    problem = facts.instance_type_problem(value)
    if problem:
        close = [
            t
            for t in difflib.get_close_matches(value, sorted(facts.instance_types()), n=5)
            if not facts.instance_type_problem(t)
        ]
        r.fail(
            key,
            value,
            problem,
            f"use {' or '.join(close[:2])}"
            if close
            else f"use a type such as {facts.default_monitoring_instance_type}",
        )
        return None
    return value


def _postgresql(r: Reader, value: object, major: int | None, cloud: str | None) -> Postgresql:
    p = r.mapping("postgresql", value, _SCHEMA["postgresql"])
    declared = _declared(r, p.get("databases"), p.get("roles"), cloud)
    return Postgresql(_parameters(r, p.get("parameters"), major), declared)


def _parameters(r: Reader, listed: object, major: int | None) -> dict[str, str | int | float]:
    """The stack's PostgreSQL parameters, each checked against `major`'s catalogue (skipped while the cluster's
    major is itself wrong, which is reported) and refused when the platform owns it."""
    if listed is None:
        return {}
    if not isinstance(listed, Mapping):
        r.fail(
            "postgresql.parameters", listed, "must be a mapping", "write it as name: value lines, e.g. work_mem: 64MB"
        )
        return {}
    parameters: dict[str, str | int | float] = {}
    written: dict[str, str] = {}
    for name, given in listed.items():
        key = f"postgresql.parameters.{name}"
        folded = str(name).lower()
        if folded in written:
            r.fail(key, given, f"sets {written[folded]} again (names are case-insensitive)", "set each parameter once")
            continue
        written[folded] = str(name)
        if folded in PLATFORM_OWNED:
            r.fail(key, given, f"is set by the platform: {PLATFORM_OWNED[folded]}", "remove it")
            continue
        if isinstance(given, (list, dict)) or given is None:
            r.fail(key, given, "must be a single value", f"set {name} to one value; write a list as one string: 'a, b'")
            continue
        found = finding(major, str(name), given) if major is not None else None
        if found:
            r.fail(key, given, found.message, found.fix)
            continue
        parameters[folded] = as_text(given) if isinstance(given, bool) else given
    return parameters


def _identifier(r: Reader, key: str, value: object, longest: int, what: str) -> str | None:
    """A name the server keeps as written (unquoted, lower case) and that fits once the platform derives
    names from it."""
    text = str(value)
    if not dbs.IDENTIFIER.fullmatch(text):
        r.fail(
            key,
            value,
            "is not a plain lower-case identifier (letters a-z, digits and '_', not starting with a digit)",
            f"name the {what} e.g. {re.sub(r'[^a-z0-9_]', '_', text.lower()).lstrip('0123456789') or 'orders'}",
        )
        return None
    if len(text) > longest:
        r.fail(key, value, f"is {len(text)} characters; a {what} name has at most {longest}", "use a shorter name")
        return None
    return text


def _declared(r: Reader, databases: object, roles: object, cloud: str | None) -> dbs.Declared:
    if databases is None and roles is None:
        return dbs.Declared()
    if cloud == kubernetes.NAME:
        r.fail(
            "postgresql.databases" if databases is not None else "postgresql.roles",
            databases if databases is not None else roles,
            "are created by the virtual-machine flavours' roles step; on Kubernetes CloudNativePG owns the roles "
            "and databases of a Cluster, and the platform does not map these settings onto it yet",
            "remove them from this stack, and create the database with a CloudNativePG Database resource",
        )
        return dbs.Declared()
    declared = _databases(r, databases)
    return dbs.Declared(declared, _roles(r, roles, {d.name for d in declared}))


def _databases(r: Reader, value: object) -> tuple[dbs.Database, ...]:
    if value is None:
        return ()
    if not isinstance(value, Mapping):
        r.fail(
            "postgresql.databases",
            value,
            "must be a mapping",
            "write it as name: {extensions: [...]} lines, e.g. orders: {extensions: [pg_trgm]}",
        )
        return ()
    found: list[dbs.Database] = []
    owners: dict[str, str] = {}  # one-database extension -> the database that has it
    for name, entry in value.items():
        key = f"postgresql.databases.{name}"
        checked = _identifier(r, key, name, dbs.MAX_DATABASE_NAME, "database")
        if checked in dbs.SYSTEM_DATABASES or (checked or "").startswith(dbs.RESERVED_ROLE_PREFIXES):
            r.fail(
                key,
                name,
                "is a name the server or the platform keeps for itself (its tier roles would start with pg_ or "
                "pgp_, which CREATE ROLE refuses)"
                if checked not in dbs.SYSTEM_DATABASES
                else "is one of the server's own databases",
                "choose another name",
            )
            checked = None
        item = r.mapping(key, entry, ("extensions",))
        listed = r.listing(f"{key}.extensions", item.get("extensions"))
        extensions: list[str] = []
        for i, ext in enumerate(listed):
            ext_key = f"{key}.extensions[{i}]"
            known = dbs.EXTENSIONS.get(str(ext))
            if known is None:
                close = difflib.get_close_matches(str(ext), sorted(dbs.EXTENSIONS), n=3)
                r.fail(
                    ext_key,
                    ext,
                    "is not an extension the platform installs",
                    f"use {' or '.join(close)}" if close else f"use one of: {', '.join(sorted(dbs.EXTENSIONS))}",
                )
            elif known.name in extensions:
                r.fail(ext_key, ext, "is listed twice", "list each extension once")
            elif known.one_database and owners.setdefault(known.name, str(name)) != str(name):
                r.fail(
                    ext_key,
                    ext,
                    f"runs in one database only, and postgresql.databases.{owners[known.name]} has it",
                    "keep it in one database",
                )
            else:
                extensions.append(known.name)
        if checked:
            found.append(dbs.Database(checked, dbs.with_requirements(extensions)))
    return tuple(found)


def _roles(r: Reader, value: object, databases: set[str]) -> tuple[dbs.Role, ...]:
    if value is None:
        return ()
    if not isinstance(value, Mapping):
        r.fail(
            "postgresql.roles",
            value,
            "must be a mapping",
            "write it as name: {database: D, tier: rw} lines, e.g. orders_api: {database: orders, tier: rw}",
        )
        return ()
    known = {*databases, dbs.APP_DATABASE}
    groups = {dbs.tier_role(d, t) for d in known for t in dbs.TIERS}
    found = []
    for name, entry in value.items():
        key = f"postgresql.roles.{name}"
        checked = _identifier(r, key, name, dbs.MAX_IDENTIFIER, "role")
        if checked in dbs.PLATFORM_ROLES or checked in groups:
            r.fail(key, name, "is a role the platform creates itself", "choose another name")
            checked = None
        elif checked and checked.startswith(dbs.RESERVED_ROLE_PREFIXES):
            r.fail(
                key,
                name,
                f"starts with {checked[:4].rstrip('_')}_, which the server or the platform keeps for itself",
                "choose another name",
            )
            checked = None
        item = r.entry(key, entry, ("database", "tier", "connection_limit"))
        if item is None:
            continue
        database = item.get("database")
        if database is None:
            r.fail(
                f"{key}.database", None, "is required", f"name the database the role works in, e.g. {dbs.APP_DATABASE}"
            )
        elif database not in known:
            r.fail(
                f"{key}.database",
                database,
                "is not a database of this stack",
                f"declare it under postgresql.databases, or use one of: {', '.join(sorted(known))}",
            )
            database = None
        tier = item.get("tier")
        if tier is None:
            r.fail(f"{key}.tier", None, "is required", f"use one of: {', '.join(dbs.TIERS)}")
        else:
            tier = r.choice(f"{key}.tier", tier, dbs.TIERS)
        limit = item.get("connection_limit", dbs.DEFAULT_CONNECTION_LIMIT)
        checked_limit = r.integer(f"{key}.connection_limit", limit, 1, dbs.MAX_CONNECTIONS)
        if checked and database and tier and checked_limit:
            found.append(dbs.Role(checked, str(database), tier, checked_limit))
    return tuple(found)


MONITORING_NODE = "monitoring"


def member_node(index: int) -> str:
    """A member's node name within its cluster; its resources are named `<stage prefix>-<node>`."""
    return f"db-{index}"


def _roll(r: Reader, value: object, nodes: int | None) -> tuple[str, ...] | None:
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
        r.fail(
            "cluster.roll",
            entries,
            "replaces more than one member at once, which can lose etcd's quorum and the synchronous standby",
            "roll one member at a time, replicas first; list the next after it rejoined",
        )
        return None
    return tuple(rolled)


def _monitoring(r: Reader, value: object) -> Monitoring | None:
    m = r.mapping("monitoring", value, _SCHEMA["monitoring"])
    if not m:
        return None
    receivers = []
    names: dict[str, int] = {}
    listed = r.listing("monitoring.receivers", m.get("receivers"))
    for i, entry in enumerate(listed):
        key = f"monitoring.receivers[{i}]"
        item = r.entry(key, entry, ("name", "email", "webhook_url"))
        if item is None:
            continue
        name = r.string(
            f"{key}.name",
            item.get("name"),
            lambda s: _RECEIVER_NAME.fullmatch(s) is not None,
            "a receiver name (letters, digits, '-', '_', '.')",
        )
        if name and name in names:
            r.fail(
                f"{key}.name",
                name,
                f"is the name of monitoring.receivers[{names[name]}] too; Alertmanager routes by receiver name",
                "give each receiver a different name",
            )
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
        r.fail(
            "monitoring.receivers",
            m.get("receivers"),
            "no alert receiver configured",
            "add at least one receiver with a name and an email or webhook_url",
        )
    smarthost, sender = m.get("smtp_smarthost"), m.get("smtp_from")
    if smarthost is not None:
        smarthost = r.string(
            "monitoring.smtp_smarthost",
            smarthost,
            _host_port,
            "the SMTP relay as host:port (e.g. smtp-relay.example.com:587)",
        )
    if sender is not None:
        sender = r.string(
            "monitoring.smtp_from", sender, lambda s: _EMAIL.fullmatch(s) is not None, "the sender's e-mail address"
        )
    if any(x.email for x in receivers) and not (m.get("smtp_smarthost") and m.get("smtp_from")):
        r.fail(
            "monitoring.smtp_smarthost",
            m.get("smtp_smarthost"),
            "e-mail receivers need an SMTP relay",
            "set monitoring.smtp_smarthost (host:port) and monitoring.smtp_from",
        )
    return Monitoring(tuple(receivers), smarthost, sender)
