"""The ClusterSpec the data plane renders from, derived purely from settings, topology and the cloud's repository
(no Pulumi), so every node file is known before any resource exists."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from dataplane.model import ClusterSpec, Member, Repository, Router
from stacks.settings import Settings, member_node
from stacks.sizes import NodeSize
from stacks.topology import Topology

PRIVATE_ZONE = "pg-platform.internal"


def member_names(settings: Settings, count: int) -> tuple[str, ...]:
    return tuple(f"{settings.name}-{member_node(i)}" for i in range(count))


def running_sizes(
    spec: ClusterSpec, instance_types: Sequence[str], node_size: Callable[[str], NodeSize]
) -> ClusterSpec:
    """The spec for the instance types the members run (their instances' recorded types, in member order), so a
    size change reaches each member's configuration as that member is rolled onto it."""
    return spec.with_member_sizes(
        {member.name: node_size(kind) for member, kind in zip(spec.members, instance_types, strict=True)}
    )


def router_host(settings: Settings) -> str:
    """A stable private DNS name for the router, so clients can verify-full against it."""
    return f"{settings.stage}.{PRIVATE_ZONE}"


def cluster_spec(settings: Settings, topology: Topology, repository: Repository) -> ClusterSpec:
    members = tuple(
        Member(name=name, host=host, zone=zone)
        for name, host, zone in zip(
            member_names(settings, topology.node_count.value),
            topology.node_addresses.value,
            topology.node_zones.value,
            strict=True,
        )
    )
    # pg_hba admits the allowlisted networks only; the cloud's network rules narrow it further.
    return ClusterSpec(
        scope=settings.name,
        topology=topology,
        members=members,
        repositories=(repository,),
        router=Router(host=router_host(settings)),
        client_cidrs=settings.network.allowlist.cidrs,
        stack_parameters=tuple(settings.postgresql.parameters.items()),
        declared=settings.postgresql.declared,
        tls=settings.tls,
        backups_enabled=settings.backups.enabled,
    )
