"""What the stage model asks of a cloud: the facts and checks each stacks/clouds/<cloud>.py provides.

A cloud is one `Cloud` value. The cloud-neutral settings and the topology derivation read only this interface,
so a new cloud adds a module and its entry in the registry (stacks/clouds/__init__.py), nothing else in stacks/.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from stacks.reader import Reader
from stacks.sizes import NodeSize

Architecture = Literal["x86_64", "arm64"]


@dataclass(frozen=True)
class RoutingCheck:
    """How the cloud's load balancer checks Patroni's health endpoints (the sandbox's HAProxy copies it)."""

    interval_seconds: int
    fall: int
    rise: int
    timeout_seconds: int  # a check slower than this counts as failed; must stay below the interval

    @property
    def admission_seconds(self) -> int:
        return self.interval_seconds * self.rise


@dataclass(frozen=True)
class Router:
    """The cloud's load balancer, as the failover timing sees it."""

    name: str  # as a person reads it in a reason or an error ("AWS NLB")
    check: RoutingCheck  # its fastest health checking
    # Set when something other than Patroni's leader key decides that the primary is lost (CloudNativePG on
    # Kubernetes): the seconds that takes, and why, so the RTO is derived from it instead of Patroni's ttl.
    failure_detection_seconds: int | None = None
    failure_detection_reason: str = ""


class NetworkPeer(Protocol):
    """What the cloud-neutral settings read of a peer network; each cloud's peer has more."""

    @property
    def name(self) -> str: ...

    @property
    def cidr(self) -> str: ...


@dataclass(frozen=True)
class Cloud:
    name: str  # the value of pg-platform:cloud
    label: str  # "AWS", in messages
    region_key: str  # the provider config key holding the region ("aws:region")
    region_example: str
    regions: Sequence[str]
    region_problem: Callable[[str], str | None]
    zone_problem: Callable[[object, str | None], str | None]
    zone_examples: Callable[[str], tuple[str, ...]]  # zones of a region, as a stack file lists them (for messages)
    router: Router
    # Placement: the largest network the cloud allows, its smallest subnet, and the first host of a subnet the
    # platform gives a member (the cloud reserves the addresses below it, and the rest up to it stay spare).
    network_prefix_min: int
    subnet_prefix_max: int
    node_host_offset: int
    instance_types: Callable[[], Collection[str]]  # every type the cloud offers
    # Instances: None when the cloud offers the type and the platform can size PostgreSQL on it, else why not.
    instance_type_problem: Callable[[str], str | None]
    node_size: Callable[[str], NodeSize]
    architecture: Callable[[str], Architecture]
    default_monitoring_instance_type: str
    # Disks
    disk_types: Sequence[str]
    default_disk_type: str
    disk_size_gb_max: int
    disk_iops_min: int
    disk_iops_max: int
    disk_iops_ceiling: Callable[[str, int], int]  # (type, size in GB) -> the most IOPS it allows
    # Tags (labels): the rules every taggable resource shares, and how many one resource may carry.
    tag_key_problem: Callable[[str], str | None]
    tag_value_problem: Callable[[str], str | None]
    tags_per_resource: int
    # Stage names: the longest one whose resource names the cloud still accepts.
    stage_name_max: int
    stage_name_reason: str
    # Peer networks and the firewall groups of theirs an allowlist may name.
    parse_peers: Callable[[Reader, object, str | None, str | None], tuple[tuple[Any, ...], set[str]]]
    parse_peer_groups: Callable[[Reader, str, list[Any], str | None, Mapping[str, Any], set[str]], tuple[Any, ...]]
    # Derived choices this target does not use, each with why (a VM cloud uses them all): `tools topology` says
    # so instead of presenting Patroni timings to an operator-run cluster.
    unused_choices: tuple[tuple[str, str], ...] = ()


# The scheduled restore drill reaches a member through the day-two configure step (dataplane/restore_drill.py).
NO_CONFIGURE_STEP = (
    "restore_drill",
    "the scheduled restore drill is delivered by the day-two configure step, which this cloud's members do not "
    "run yet; run the restore drill in the sandbox or `pgp restore-db` meanwhile",
)
