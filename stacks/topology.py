"""Objectives in, topology out: a pure derivation where every value carries the reason it was chosen.

Impossible objectives raise SettingsError naming the objective to change, never a silent compromise.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, fields
from typing import Generic, TypeVar

from stacks.errors import Problem, SettingsError
from stacks.settings import NAMESPACE, Settings
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
NODE_HOST_OFFSET = 10


@dataclass(frozen=True)
class Choice(Generic[T]):
    value: T
    reason: str


@dataclass(frozen=True)
class RoutingCheck:
    interval_seconds: int
    fall: int
    rise: int
    timeout_seconds: int        # a check slower than this counts as failed; must stay below the interval

    @property
    def admission_seconds(self) -> int:
        return self.interval_seconds * self.rise


# Fastest health checking each cloud's load balancer allows (AWS NLB: interval 5-300 s, thresholds 2-10).
# A healthy Patroni answers in milliseconds; 3 s leaves room for a loaded node and stays below the interval,
# as AWS requires.
ROUTER_CHECKS: dict[str, RoutingCheck] = {"aws": RoutingCheck(interval_seconds=5, fall=2, rise=2, timeout_seconds=3)}
ROUTER_NAMES: dict[str, str] = {"aws": "AWS NLB"}


@dataclass(frozen=True)
class BackupSchedule:
    full_cron: str
    diff_cron: str | None
    incr_cron: str | None
    full_interval_days: int


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
    replication: Choice[str]            # "synchronous-strict" | "asynchronous"
    synchronous_node_count: Choice[int]
    maximum_lag_on_failover: Choice[int]
    ttl: Choice[int]
    loop_wait: Choice[int]
    retry_timeout: Choice[int]
    primary_start_timeout: Choice[int]
    routing_check: Choice[RoutingCheck]
    archive_timeout: Choice[int]
    backup_schedule: Choice[BackupSchedule]
    retention_full_days: Choice[int]
    lock_mode: Choice[str]
    lock_days: Choice[int]
    noncurrent_version_expiry_days: Choice[int]
    protect_stateful: Choice[bool]
    policy_enforcement: Choice[str]

    @property
    def synchronous(self) -> bool:
        return self.replication.value != "asynchronous"

    def choices(self) -> dict[str, Choice]:
        return {f.name: getattr(self, f.name) for f in fields(self) if isinstance(getattr(self, f.name), Choice)}

    def explain(self) -> str:
        """The derivation as a person reads it: one line per decision with its reason."""
        width = max(len(n) for n in self.choices())
        lines = [f"topology for stage {self.stage} (PostgreSQL {self.postgres_major}):"]
        for name, choice in self.choices().items():
            lines.append(f"  {name.ljust(width)}  {_show(choice.value)}  -- {choice.reason}")
        return "\n".join(lines)

    def as_dict(self) -> dict[str, dict[str, object]]:
        return {n: {"value": _plain(c.value), "reason": c.reason} for n, c in self.choices().items()}


def _plain(value: object) -> object:
    if isinstance(value, (RoutingCheck, BackupSchedule)):
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


def derive_topology(settings: Settings) -> Topology:
    obj, net, cluster, profile = settings.objectives, settings.network, settings.cluster, settings.profile
    problems: list[Problem] = []

    def fail(key: str, value: object, message: str, fix: str) -> None:
        problems.append(Problem(f"{NAMESPACE}:{key}", value, message, fix))

    # --- placement ---------------------------------------------------------------------------------
    nodes = cluster.nodes
    zones = net.zones
    if obj.rpo_seconds == 0 and nodes < 3:
        fail("objectives.rpo_seconds", 0,
             f"RPO 0 needs synchronous replication to a standby that survives a zone loss, so at least 3 nodes "
             f"(cluster.nodes is {nodes})",
             "set cluster.nodes to 3 or more, or raise objectives.rpo_seconds above 0 for asynchronous replication")
    if obj.rpo_seconds == 0 and len(zones) < 3:
        fail("network.zones", list(zones), f"RPO 0 needs the nodes in at least 3 zones ({len(zones)} listed)",
             "list three availability zones")
    if nodes > 1 and nodes % 2 == 0:
        fail("cluster.nodes", nodes,
             f"etcd runs on the members, and {nodes} members tolerate no more failures than {nodes - 1}"
             + (" (losing either of 2 loses quorum, so the primary demotes itself)" if nodes == 2 else ""),
             f"use {nodes - 1} or {nodes + 1} nodes")
    if nodes > 1 and len(zones) < 2:
        fail("network.zones", list(zones), f"{nodes} nodes in one zone do not survive the loss of that zone",
             "list at least two availability zones")
    if 0 < obj.rpo_seconds < RPO_MIN_ASYNC_SECONDS:
        fail("objectives.rpo_seconds", obj.rpo_seconds,
             f"an RPO between 1 and {RPO_MIN_ASYNC_SECONDS - 1} s cannot be guaranteed by asynchronous replication "
             f"and WAL archiving", f"use 0 (synchronous replication) or at least {RPO_MIN_ASYNC_SECONDS}")

    node_zones = tuple(zones[i % len(zones)] for i in range(nodes))
    zone_reason = (f"{nodes} node(s) spread round-robin over {len(zones)} zone(s) so no zone holds two members "
                   f"while another holds none") if nodes > 1 else "single node: dev stage, recovery is from backup"

    vpc = ipaddress.ip_network(net.cidr)
    new_prefix = min(vpc.prefixlen + 4, 28)
    carved = list(vpc.subnets(new_prefix=new_prefix))
    subnets = tuple(str(s) for s in carved[:len(zones)])
    # The last block of the VPC holds only the NAT gateway; database subnets never route to the IGW.
    egress_cidr = str(list(carved[-1].subnets(new_prefix=min(carved[-1].prefixlen + 2, 28)))[-1])
    # Fixed addresses (AWS reserves the first four of a subnet) let every member's etcd and Patroni
    # configuration name its peers before any instance exists.
    addresses = tuple(str(ipaddress.ip_network(subnets[i % len(zones)])[NODE_HOST_OFFSET + i // len(zones)])
                      for i in range(nodes))

    # --- replication -------------------------------------------------------------------------------
    if obj.rpo_seconds == 0:
        replication = Choice("synchronous-strict",
                             "RPO 0: a commit returns only after a standby has it; strict mode blocks writes rather "
                             "than fall back to standalone, so the RPO never degrades silently, and only the sync "
                             "standby may be promoted")
        sync_count = Choice(1, "one synchronous standby confirms each commit; with 3 nodes the other standby takes "
                               "over the sync role if it fails")
        max_lag = Choice(0, "synchronous: only the synchronous standby is promotable, so no lag is acceptable")
    else:
        replication = Choice("asynchronous", f"RPO {obj.rpo_seconds} s allows asynchronous streaming: commits do "
                                             f"not wait for a standby")
        sync_count = Choice(0, "asynchronous replication")
        lag = obj.rpo_seconds * ASSUMED_WAL_BYTES_PER_SECOND
        max_lag = Choice(lag, f"a standby further behind than RPO {obj.rpo_seconds} s of WAL at "
                              f"{ASSUMED_WAL_BYTES_PER_SECOND >> 20} MiB/s is never promoted")

    # --- failover timing (RTO) ---------------------------------------------------------------------
    # The router is the cloud's load balancer; the sandbox's HAProxy copies its timing, so drills measure
    # what the cloud does. A dead leader is dropped while its key expires (in parallel with ttl); the new
    # leader is admitted only after `rise` passing checks, which adds to the failover time.
    check = ROUTER_CHECKS[settings.cloud]
    routing = Choice(check, f"{ROUTER_NAMES[settings.cloud]} health checks at their fastest: every "
                            f"{check.interval_seconds} s, a target is dropped after {check.fall} and admitted "
                            f"after {check.rise} consecutive results, so a promoted leader receives traffic "
                            f"{check.admission_seconds} s after it answers /primary")
    loop_wait_value = PATRONI_MIN_LOOP_WAIT if obj.rto_seconds <= 60 else 5 if obj.rto_seconds <= 300 else 10
    budget = obj.rto_seconds - loop_wait_value - check.admission_seconds - PROMOTION_SECONDS
    if nodes > 1 and budget < PATRONI_MIN_TTL:
        needed = PATRONI_MIN_TTL + loop_wait_value + check.admission_seconds + PROMOTION_SECONDS
        fail("objectives.rto_seconds", obj.rto_seconds,
             f"losing the leader node is detected only when its Patroni leader key expires (ttl >= "
             f"{PATRONI_MIN_TTL} s), then loop_wait {loop_wait_value} s, promotion {PROMOTION_SECONDS} s and "
             f"{check.admission_seconds} s until the {ROUTER_NAMES[settings.cloud]} admits the new leader",
             f"raise objectives.rto_seconds to at least {needed}")
    ttl_value = max(PATRONI_MIN_TTL, min(PATRONI_DEFAULT_TTL, budget))
    retry_value = max(PATRONI_MIN_RETRY_TIMEOUT, min(10, (ttl_value - loop_wait_value) // 2))
    assert loop_wait_value + 2 * retry_value <= ttl_value
    ttl = Choice(ttl_value, f"leader key lifetime: node loss is detected after ttl, and ttl + loop_wait + promotion "
                            f"+ admission = {ttl_value + loop_wait_value + PROMOTION_SECONDS + check.admission_seconds}"
                            f" s fits the {obj.rto_seconds} s RTO")
    loop_wait = Choice(loop_wait_value, f"HA loop period for a {obj.rto_seconds} s RTO: shorter loops notice a "
                                        f"failed PostgreSQL sooner at the cost of more DCS traffic")
    retry = Choice(retry_value, f"DCS and PostgreSQL retries; loop_wait + 2*retry_timeout = "
                                f"{loop_wait_value + 2 * retry_value} <= ttl {ttl_value}, as Patroni requires")
    pst_value = max(0, min(300, obj.rto_seconds - 2 * loop_wait_value - check.admission_seconds))
    if replication.value != "asynchronous":
        pst_reason = (f"a crashed primary gets {pst_value} s to restart in place before failover to the sync "
                      f"standby; loop_wait + primary_start_timeout + loop_wait + admission stays within the RTO")
    else:
        pst_reason = f"restart in place first; bounded so a crash loop still fails over within the {obj.rto_seconds} s RTO"
    primary_start = Choice(pst_value, pst_reason)

    # --- WAL archive and backups (RPO for site loss, retention, WORM) ------------------------------
    if obj.rpo_seconds == 0:
        at = Choice(60, "node loss is covered by synchronous replication; archive_timeout bounds loss of the "
                        "whole cluster to 60 s of WAL")
    else:
        value = max(MIN_ARCHIVE_TIMEOUT, min(MAX_ARCHIVE_TIMEOUT, obj.rpo_seconds // 2))
        at = Choice(value, f"half the {obj.rpo_seconds} s RPO, so a segment is switched and pushed in time even "
                           f"when the node then dies")

    if obj.retention_days >= 14:
        schedule = BackupSchedule(full_cron="0 1 * * 0", diff_cron="0 1 * * 1-6",
                                  incr_cron="0 */4 * * *" if obj.rpo_seconds == 0 else "0 */12 * * *",
                                  full_interval_days=7)
        sched_reason = (f"weekly full, daily differential, incrementals between: {obj.retention_days} days of "
                        f"retention hold several full chains and a restore replays at most a few hours of WAL")
    else:
        schedule = BackupSchedule(full_cron="0 1 * * *", diff_cron=None, incr_cron="0 */6 * * *",
                                  full_interval_days=1)
        sched_reason = f"daily full with incrementals: {obj.retention_days} days of retention are too short for weekly chains"
    backup = Choice(schedule, sched_reason)
    retention = Choice(obj.retention_days, f"time-based: point-in-time recovery to any moment in the last "
                                           f"{obj.retention_days} days")

    lock_days = obj.worm_days
    # The previous chain must stay locked until the next full backup has completed: a lock exactly as long as
    # the interval expires while that backup is still running.
    min_lock = schedule.full_interval_days + 1
    if lock_days and lock_days < min_lock:
        fail("objectives.worm_days", lock_days,
             f"not longer than the full-backup interval of {schedule.full_interval_days} day(s), so no complete "
             f"backup chain (full plus its differentials and incrementals) stays locked while the next full runs",
             f"raise objectives.worm_days to at least {min_lock}"
             + (", or lower retention_days below 14 for daily full backups" if schedule.full_interval_days > 1 else ""))
    if lock_days:
        lock = Choice(lock_days, f"every object version is immutable for {lock_days} day(s), covering a complete "
                                 f"{schedule.full_interval_days}-day backup chain")
        noncurrent = Choice(lock_days + 1, "pgBackRest's expiry only leaves delete markers on a versioned, locked "
                                           "bucket; noncurrent versions are removed one day after their lock ends")
    else:
        lock = Choice(0, "no WORM objective for this stage")
        noncurrent = Choice(1, "no lock to wait for: noncurrent versions go after a day")
    lock_mode = Choice(profile.lock_mode, "nobody, root included, can shorten or delete a locked version"
                       if profile.lock_mode == "COMPLIANCE" else
                       "holders of the bypass permission may purge a non-production bucket")

    if problems:
        raise SettingsError(problems)

    return Topology(
        stage=settings.stage,
        postgres_major=cluster.postgres_major,
        node_size=cluster.size,
        node_count=Choice(nodes, "RPO 0 requires a leader and two standbys" if obj.rpo_seconds == 0 and nodes == 3
                          else f"{nodes} node(s) as configured for stage {settings.stage}"),
        node_zones=Choice(node_zones, zone_reason),
        subnet_cidrs=Choice(subnets, f"one private /{new_prefix} per zone carved from {net.cidr}; no route to an "
                                     f"internet gateway"),
        egress_subnet_cidr=Choice(egress_cidr, "a small public subnet for the NAT gateway only: nodes install "
                                               "packages over HTTPS without a public address"),
        node_addresses=Choice(addresses, "fixed private addresses, so etcd and Patroni know their peers at boot"),
        replication=replication,
        synchronous_node_count=sync_count,
        maximum_lag_on_failover=max_lag,
        ttl=ttl,
        loop_wait=loop_wait,
        retry_timeout=retry,
        primary_start_timeout=primary_start,
        routing_check=routing,
        archive_timeout=at,
        backup_schedule=backup,
        retention_full_days=retention,
        lock_mode=lock_mode,
        lock_days=lock,
        noncurrent_version_expiry_days=noncurrent,
        protect_stateful=Choice(profile.protect_stateful, "prod: volumes, bucket, key and secrets cannot be deleted "
                                "by an accidental `pulumi destroy`" if profile.protect_stateful else
                                "dev: stacks are torn down freely"),
        policy_enforcement=Choice(profile.policy_enforcement, f"policy violations are {profile.policy_enforcement} "
                                                              f"in {settings.stage}"),
    )
