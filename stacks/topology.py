"""Objectives in, topology out: a pure derivation where every value carries the reason it was chosen.

Impossible objectives raise SettingsError naming the objective to change, never a silent compromise.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, fields
from typing import Generic, TypeVar

from stacks.clouds import Cloud, Router, RoutingCheck
from stacks.errors import Problem, SettingsError
from stacks.profiles import StageProfile
from stacks.reader import NAMESPACE
from stacks.settings import Objectives, Settings
from stacks.sizes import NodeSize

T = TypeVar("T")

# Patroni >= 3.2 refuses timings outside these bounds (and loop_wait + 2*retry_timeout <= ttl).
PATRONI_MIN_TTL = 20
PATRONI_MIN_LOOP_WAIT = 2
PATRONI_MIN_RETRY_TIMEOUT = 3
PATRONI_DEFAULT_TTL = 30
# Seconds the new leader needs after winning the race: promote, then the router's checks see it.
PROMOTION_SECONDS = 3
# Below this, archive_timeout forces a 16 MiB segment so often that the repository fills with padding.
MIN_ARCHIVE_TIMEOUT = 30
MAX_ARCHIVE_TIMEOUT = 300
# WAL a busy node produces, used to turn an RPO in seconds into a lag bound in bytes.
ASSUMED_WAL_BYTES_PER_SECOND = 1 << 20
RPO_MIN_ASYNC_SECONDS = 60
# Each zone's subnet is this many prefix bits longer than the network (16 zones' worth), within the cloud's limit.
SUBNET_SPLIT_BITS = 4


@dataclass(frozen=True)
class Choice(Generic[T]):
    value: T
    reason: str


@dataclass(frozen=True)
class BackupSchedule:
    full_cron: str
    diff_cron: str | None
    incr_cron: str | None
    full_interval_days: int


@dataclass(frozen=True)
class RestoreDrillSchedule:
    """The restore drill a timer runs on the cluster: the latest backup restored beside a member and read."""

    cron: str  # minute hour day-of-month month day-of-week, in UTC like the backups
    interval_days: int
    max_age_seconds: int  # the last successful drill older than this raises RestoreDrillTooOld


# After the nightly backups (01:00): the drill restores the backup that night's run took.
RESTORE_DRILL_TIME = "30 3"
# What a drill may take and a late or rebooted node may delay it by before its absence is an alert.
RESTORE_DRILL_GRACE_SECONDS = 6 * 3600


def restore_drill_schedule(interval_days: int) -> RestoreDrillSchedule:
    weekdays = {1: "*", 7: "0"}
    if interval_days not in weekdays:
        raise ValueError(f"restore drills run daily or weekly, not every {interval_days} days")
    return RestoreDrillSchedule(
        cron=f"{RESTORE_DRILL_TIME} * * {weekdays[interval_days]}",
        interval_days=interval_days,
        max_age_seconds=interval_days * 86400 + RESTORE_DRILL_GRACE_SECONDS,
    )


@dataclass(frozen=True)
class Topology:
    stage: str
    postgres_major: int
    node_size: NodeSize
    node_count: Choice[int]
    node_zones: Choice[tuple[str, ...]]
    subnet_cidrs: Choice[tuple[str, ...]]
    node_addresses: Choice[tuple[str, ...]]
    egress_subnet_cidr: Choice[str]
    replication: Choice[str]  # "synchronous-strict" | "asynchronous"
    synchronous_node_count: Choice[int]
    maximum_lag_on_failover: Choice[int]
    ttl: Choice[int]
    loop_wait: Choice[int]
    retry_timeout: Choice[int]
    primary_start_timeout: Choice[int]
    routing_check: Choice[RoutingCheck]
    archive_timeout: Choice[int]
    backup_schedule: Choice[BackupSchedule]
    restore_drill: Choice[RestoreDrillSchedule]
    retention_full_days: Choice[int]
    lock_mode: Choice[str]  # the profile's LockMode
    lock_days: Choice[int]
    noncurrent_version_expiry_days: Choice[int]
    protect_stateful: Choice[bool]
    policy_enforcement: Choice[str]
    profile: str = ""  # the profile the stage inherits, named when it is not the stage's own name
    unused: tuple[tuple[str, str], ...] = ()  # (choice, why) the target does not use (Cloud.unused_choices)

    @property
    def synchronous(self) -> bool:
        return self.replication.value != "asynchronous"

    def choices(self) -> dict[str, Choice]:
        return {f.name: getattr(self, f.name) for f in fields(self) if isinstance(getattr(self, f.name), Choice)}

    def explain(self) -> str:
        """The derivation as a person reads it: one line per decision with its reason."""
        width = max(len(n) for n in self.choices())
        inherits = f"profile {self.profile}, " if self.profile and self.profile != self.stage else ""
        lines = [f"topology for stage {self.stage} ({inherits}PostgreSQL {self.postgres_major}):"]
        unused = dict(self.unused)
        for name, choice in self.choices().items():
            if name in unused:
                lines.append(f"  {name.ljust(width)}  (not used)  -- {unused[name]}")
            else:
                lines.append(f"  {name.ljust(width)}  {_show(choice.value)}  -- {choice.reason}")
        return "\n".join(lines)

    def as_dict(self) -> dict[str, dict[str, object]]:
        unused = dict(self.unused)
        return {
            n: {"value": _plain(c.value), "reason": c.reason}
            if n not in unused
            else {"value": None, "reason": f"not used: {unused[n]}"}
            for n, c in self.choices().items()
        }


def _plain(value: object) -> object:
    if isinstance(value, (RoutingCheck, BackupSchedule, RestoreDrillSchedule)):
        return {f.name: getattr(value, f.name) for f in fields(value)}
    if isinstance(value, tuple):
        return list(value)
    return value


def _show(value: object) -> str:
    plain = _plain(value)
    if isinstance(plain, dict):
        return ", ".join(f"{k}={v}" for k, v in plain.items())
    if isinstance(plain, list):
        return ", ".join(map(str, plain))
    return str(plain)


class _Problems:
    """The impossible objectives one part finds, each naming the setting to change."""

    def __init__(self) -> None:
        self.found: list[Problem] = []

    def fail(self, key: str, value: object, message: str, fix: str) -> None:
        self.found.append(Problem(f"{NAMESPACE}:{key}", value, message, fix))


@dataclass(frozen=True)
class Placement:
    node_count: Choice[int]
    node_zones: Choice[tuple[str, ...]]
    subnet_cidrs: Choice[tuple[str, ...]]
    egress_subnet_cidr: Choice[str]
    node_addresses: Choice[tuple[str, ...]]


@dataclass(frozen=True)
class Replication:
    replication: Choice[str]
    synchronous_node_count: Choice[int]
    maximum_lag_on_failover: Choice[int]


@dataclass(frozen=True)
class FailoverTiming:
    routing_check: Choice[RoutingCheck]
    ttl: Choice[int]
    loop_wait: Choice[int]
    retry_timeout: Choice[int]
    primary_start_timeout: Choice[int]


@dataclass(frozen=True)
class Backups:
    archive_timeout: Choice[int]
    backup_schedule: Choice[BackupSchedule]
    restore_drill: Choice[RestoreDrillSchedule]
    retention_full_days: Choice[int]
    lock_mode: Choice[str]
    lock_days: Choice[int]
    noncurrent_version_expiry_days: Choice[int]


def placement(
    obj: Objectives, nodes: int, zones: tuple[str, ...], cidr: str, stage: str, cloud: Cloud, problems: _Problems
) -> Placement:
    """Members over zones, a subnet per zone, and each member's fixed address."""
    if obj.rpo_seconds == 0 and nodes < 3:
        problems.fail(
            "objectives.rpo_seconds",
            0,
            f"RPO 0 needs synchronous replication to a standby that survives a zone loss, so at least 3 nodes "
            f"(cluster.nodes is {nodes})",
            "set cluster.nodes to 3 or more, or raise objectives.rpo_seconds above 0 for asynchronous replication",
        )
    if obj.rpo_seconds == 0 and len(zones) < 3:
        problems.fail(
            "network.zones",
            list(zones),
            f"RPO 0 needs the nodes in at least 3 zones ({len(zones)} listed)",
            "list three availability zones",
        )
    if nodes > 1 and nodes % 2 == 0:
        problems.fail(
            "cluster.nodes",
            nodes,
            f"etcd runs on the members, and {nodes} members tolerate no more failures than {nodes - 1}"
            + (" (losing either of 2 loses quorum, so the primary demotes itself)" if nodes == 2 else ""),
            f"use {nodes - 1} or {nodes + 1} nodes",
        )
    if nodes > 1 and len(zones) < 2:
        problems.fail(
            "network.zones",
            list(zones),
            f"{nodes} nodes in one zone do not survive the loss of that zone",
            "list at least two availability zones",
        )

    node_zones = tuple(zones[i % len(zones)] for i in range(nodes))
    zone_reason = (
        (
            f"{nodes} node(s) spread round-robin over {len(zones)} zone(s) so no zone holds two members "
            f"while another holds none"
        )
        if nodes > 1
        else "single node: dev stage, recovery is from backup"
    )
    vpc = ipaddress.IPv4Network(cidr)
    new_prefix = min(vpc.prefixlen + SUBNET_SPLIT_BITS, cloud.subnet_prefix_max)
    carved = list(vpc.subnets(new_prefix=new_prefix))
    subnets = tuple(str(s) for s in carved[: len(zones)])
    # The last block of the VPC holds only the NAT gateway; database subnets never route to the IGW.
    egress_cidr = str(list(carved[-1].subnets(new_prefix=min(carved[-1].prefixlen + 2, cloud.subnet_prefix_max)))[-1])
    # Fixed addresses (past those the cloud reserves in a subnet) let every member's etcd and Patroni
    # configuration name its peers before any instance exists.
    addresses = tuple(
        str(ipaddress.ip_network(subnets[i % len(zones)])[cloud.node_host_offset + i // len(zones)])
        for i in range(nodes)
    )
    return Placement(
        node_count=Choice(
            nodes,
            "RPO 0 requires a leader and two standbys"
            if obj.rpo_seconds == 0 and nodes == 3
            else f"{nodes} node(s) as configured for stage {stage}",
        ),
        node_zones=Choice(node_zones, zone_reason),
        subnet_cidrs=Choice(
            subnets, f"one private /{new_prefix} per zone carved from {cidr}; no route to an internet gateway"
        ),
        egress_subnet_cidr=Choice(
            egress_cidr,
            "a small public subnet for the NAT gateway only: nodes install packages over HTTPS without a public "
            "address",
        ),
        node_addresses=Choice(addresses, "fixed private addresses, so etcd and Patroni know their peers at boot"),
    )


def replication(obj: Objectives, problems: _Problems) -> Replication:
    """Synchronous for RPO 0, else asynchronous with a promotion bound in bytes of WAL."""
    if 0 < obj.rpo_seconds < RPO_MIN_ASYNC_SECONDS:
        problems.fail(
            "objectives.rpo_seconds",
            obj.rpo_seconds,
            f"an RPO between 1 and {RPO_MIN_ASYNC_SECONDS - 1} s cannot be guaranteed by asynchronous replication "
            f"and WAL archiving",
            f"use 0 (synchronous replication) or at least {RPO_MIN_ASYNC_SECONDS}",
        )
    if obj.rpo_seconds == 0:
        return Replication(
            replication=Choice(
                "synchronous-strict",
                "RPO 0: a commit returns only after a standby has it; strict mode blocks writes rather than fall "
                "back to standalone, so the RPO never degrades silently, and only the sync standby may be promoted",
            ),
            synchronous_node_count=Choice(
                1,
                "one synchronous standby confirms each commit; with 3 nodes the other standby takes over the sync "
                "role if it fails",
            ),
            maximum_lag_on_failover=Choice(
                0, "synchronous: only the synchronous standby is promotable, so no lag is acceptable"
            ),
        )
    lag = obj.rpo_seconds * ASSUMED_WAL_BYTES_PER_SECOND
    return Replication(
        replication=Choice(
            "asynchronous", f"RPO {obj.rpo_seconds} s allows asynchronous streaming: commits do not wait for a standby"
        ),
        synchronous_node_count=Choice(0, "asynchronous replication"),
        maximum_lag_on_failover=Choice(
            lag,
            f"a standby further behind than RPO {obj.rpo_seconds} s of WAL at "
            f"{ASSUMED_WAL_BYTES_PER_SECOND >> 20} MiB/s is never promoted",
        ),
    )


def failover_timing(
    obj: Objectives, nodes: int, synchronous: bool, router: Router, problems: _Problems
) -> FailoverTiming:
    """Patroni's timing for the RTO, given how fast the cloud's load balancer admits a new leader.

    The router is the cloud's load balancer; the sandbox's HAProxy copies its timing, so drills measure what the
    cloud does. A dead leader is dropped while its key expires (in parallel with ttl); the new leader is admitted
    only after `rise` passing checks, which adds to the failover time.
    """
    check = router.check
    routing = Choice(
        check,
        f"{router.name} health checks at their fastest: every {check.interval_seconds} s, a target is dropped after "
        f"{check.fall} and admitted after {check.rise} consecutive results, so a promoted leader receives traffic "
        f"{check.admission_seconds} s after it answers /primary",
    )
    if router.failure_detection_seconds is not None and nodes > 1:
        needed = router.failure_detection_seconds + PROMOTION_SECONDS + check.admission_seconds
        if obj.rto_seconds < needed:
            problems.fail(
                "objectives.rto_seconds",
                obj.rto_seconds,
                f"{router.failure_detection_reason} ({router.failure_detection_seconds} s), then promotion "
                f"{PROMOTION_SECONDS} s and {check.admission_seconds} s until the {router.name} routes to it",
                f"raise objectives.rto_seconds to at least {needed}",
            )
    loop_wait_value = PATRONI_MIN_LOOP_WAIT if obj.rto_seconds <= 60 else 5 if obj.rto_seconds <= 300 else 10
    budget = obj.rto_seconds - loop_wait_value - check.admission_seconds - PROMOTION_SECONDS
    if nodes > 1 and budget < PATRONI_MIN_TTL:
        needed = PATRONI_MIN_TTL + loop_wait_value + check.admission_seconds + PROMOTION_SECONDS
        problems.fail(
            "objectives.rto_seconds",
            obj.rto_seconds,
            f"losing the leader node is detected only when its Patroni leader key expires (ttl >= "
            f"{PATRONI_MIN_TTL} s), then loop_wait {loop_wait_value} s, promotion {PROMOTION_SECONDS} s and "
            f"{check.admission_seconds} s until the {router.name} admits the new leader",
            f"raise objectives.rto_seconds to at least {needed}",
        )
    ttl_value = max(PATRONI_MIN_TTL, min(PATRONI_DEFAULT_TTL, budget))
    retry_value = max(PATRONI_MIN_RETRY_TIMEOUT, min(10, (ttl_value - loop_wait_value) // 2))
    assert loop_wait_value + 2 * retry_value <= ttl_value
    detected = ttl_value + loop_wait_value + PROMOTION_SECONDS + check.admission_seconds
    pst_value = max(0, min(300, obj.rto_seconds - 2 * loop_wait_value - check.admission_seconds))
    if synchronous:
        pst_reason = (
            f"a crashed primary gets {pst_value} s to restart in place before failover to the sync "
            f"standby; loop_wait + primary_start_timeout + loop_wait + admission stays within the RTO"
        )
    else:
        pst_reason = (
            f"restart in place first; bounded so a crash loop still fails over within the {obj.rto_seconds} s RTO"
        )
    return FailoverTiming(
        routing_check=routing,
        ttl=Choice(
            ttl_value,
            f"leader key lifetime: node loss is detected after ttl, and ttl + loop_wait + promotion + admission = "
            f"{detected} s fits the {obj.rto_seconds} s RTO",
        ),
        loop_wait=Choice(
            loop_wait_value,
            f"HA loop period for a {obj.rto_seconds} s RTO: shorter loops notice a failed PostgreSQL sooner at the "
            f"cost of more DCS traffic",
        ),
        retry_timeout=Choice(
            retry_value,
            f"DCS and PostgreSQL retries; loop_wait + 2*retry_timeout = {loop_wait_value + 2 * retry_value} <= ttl "
            f"{ttl_value}, as Patroni requires",
        ),
        primary_start_timeout=Choice(pst_value, pst_reason),
    )


def backups(obj: Objectives, profile: StageProfile, problems: _Problems) -> Backups:
    """WAL archive and backups: RPO for site loss, retention, WORM."""
    if obj.rpo_seconds == 0:
        at = Choice(
            60,
            "node loss is covered by synchronous replication; archive_timeout bounds loss of the whole cluster to "
            "60 s of WAL",
        )
    else:
        value = max(MIN_ARCHIVE_TIMEOUT, min(MAX_ARCHIVE_TIMEOUT, obj.rpo_seconds // 2))
        at = Choice(
            value,
            f"half the {obj.rpo_seconds} s RPO, so a segment is switched and pushed in time even when the node "
            f"then dies",
        )

    if obj.retention_days >= 14:
        schedule = BackupSchedule(
            full_cron="0 1 * * 0",
            diff_cron="0 1 * * 1-6",
            incr_cron="0 */4 * * *" if obj.rpo_seconds == 0 else "0 */12 * * *",
            full_interval_days=7,
        )
        sched_reason = (
            f"weekly full, daily differential, incrementals between: {obj.retention_days} days of "
            f"retention hold several full chains and a restore replays at most a few hours of WAL"
        )
    else:
        schedule = BackupSchedule(full_cron="0 1 * * *", diff_cron=None, incr_cron="0 */6 * * *", full_interval_days=1)
        sched_reason = (
            f"daily full with incrementals: {obj.retention_days} days of retention are too short for weekly chains"
        )

    lock_days = obj.worm_days
    # The previous chain must stay locked until the next full backup has completed: a lock exactly as long as
    # the interval expires while that backup is still running.
    min_lock = schedule.full_interval_days + 1
    if lock_days and lock_days < min_lock:
        problems.fail(
            "objectives.worm_days",
            lock_days,
            f"not longer than the full-backup interval of {schedule.full_interval_days} day(s), so no complete "
            f"backup chain (full plus its differentials and incrementals) stays locked while the next full runs",
            f"raise objectives.worm_days to at least {min_lock}"
            + (", or lower retention_days below 14 for daily full backups" if schedule.full_interval_days > 1 else ""),
        )
    if lock_days:
        lock = Choice(
            lock_days,
            f"every object version is immutable for {lock_days} day(s), covering a complete "
            f"{schedule.full_interval_days}-day backup chain",
        )
        noncurrent = Choice(
            lock_days + 1,
            "pgBackRest's expiry only leaves delete markers on a versioned, locked bucket; noncurrent versions are "
            "removed one day after their lock ends",
        )
    else:
        lock = Choice(0, "no WORM objective for this stage")
        noncurrent = Choice(1, "no lock to wait for: noncurrent versions go after a day")
    lock_reason = (
        "nobody, root included, can shorten or delete a locked version"
        if profile.lock_mode == "COMPLIANCE"
        else "holders of the bypass permission may purge a non-production bucket"
    )
    drill = restore_drill_schedule(profile.restore_drill_days)
    drill_reason = (
        f"{'daily' if drill.interval_days == 1 else 'weekly'} for a {profile.name} stage: the latest backup is "
        f"restored and read end to end; RestoreDrillTooOld fires {drill.max_age_seconds // 3600} h after the last "
        f"success"
    )
    return Backups(
        archive_timeout=at,
        backup_schedule=Choice(schedule, sched_reason),
        restore_drill=Choice(drill, drill_reason),
        retention_full_days=Choice(
            obj.retention_days,
            f"time-based: point-in-time recovery to any moment in the last {obj.retention_days} days",
        ),
        lock_mode=Choice[str](profile.lock_mode, lock_reason),
        lock_days=lock,
        noncurrent_version_expiry_days=noncurrent,
    )


def derive_topology(settings: Settings) -> Topology:
    """The parts composed; every impossible objective of every part is reported together."""
    obj, net, cluster, profile = settings.objectives, settings.network, settings.cluster, settings.profile
    problems = _Problems()
    placed = placement(obj, cluster.nodes, net.zones, net.cidr, settings.stage, settings.cloud_facts, problems)
    replicated = replication(obj, problems)
    timing = failover_timing(
        obj, cluster.nodes, replicated.replication.value != "asynchronous", settings.cloud_facts.router, problems
    )
    backed_up = backups(obj, profile, problems)
    if problems.found:
        raise SettingsError(problems.found)
    protect_reason = (
        f"{profile.name}: volumes, bucket, key and secrets cannot be deleted by an accidental `pulumi destroy`"
        if profile.protect_stateful
        else f"{profile.name}: stacks are torn down freely"
    )
    return Topology(
        stage=settings.stage,
        postgres_major=cluster.postgres_major,
        node_size=cluster.size,
        **_parts(placed, replicated, timing, backed_up),
        protect_stateful=Choice(profile.protect_stateful, protect_reason),
        policy_enforcement=Choice[str](
            profile.policy_enforcement, f"policy violations are {profile.policy_enforcement} in {settings.stage}"
        ),
        unused=settings.cloud_facts.unused_choices,
        profile=profile.name,
    )


def _parts(*parts: Placement | Replication | FailoverTiming | Backups) -> dict[str, Choice]:
    return {f.name: getattr(part, f.name) for part in parts for f in fields(part)}
