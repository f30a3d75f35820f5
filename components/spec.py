"""The cloud's ClusterSpec, derived purely from settings and topology (no Pulumi), so the data plane
renders from plain values that are known before any resource exists."""
from __future__ import annotations

from dataplane.model import ClusterSpec, Member, Repository, Router
from stacks.settings import Settings, member_node
from stacks.topology import Topology

PRIVATE_ZONE = "pg-platform.internal"


def member_names(settings: Settings, count: int) -> tuple[str, ...]:
    return tuple(f"{settings.name}-{member_node(i)}" for i in range(count))


def router_host(settings: Settings) -> str:
    """A stable private DNS name for the load balancer, so clients can verify-full against it."""
    return f"{settings.stage}.{PRIVATE_ZONE}"


def backup_bucket_name(settings: Settings, account_id: str) -> str:
    # Bucket names are global: account and region make this one unique and predictable for restores.
    return f"{settings.name}-backups-{account_id}-{settings.region}"


def cloud_cluster_spec(settings: Settings, topology: Topology, account_id: str) -> ClusterSpec:
    members = tuple(
        Member(name=name, host=host, zone=zone)
        for name, host, zone in zip(member_names(settings, topology.node_count.value),
                                    topology.node_addresses.value, topology.node_zones.value))
    repository = Repository(kind="s3", path=f"/{settings.name}", bucket=backup_bucket_name(settings, account_id),
                            region=settings.region, endpoint=f"s3.{settings.region}.amazonaws.com",
                            uri_style="host", key_type="auto")
    # pg_hba admits the allowlisted networks only; security groups narrow it further.
    client_cidrs = settings.network.allowlist.cidrs
    return ClusterSpec(scope=settings.name, topology=topology, members=members, repositories=(repository,),
                       router=Router(host=router_host(settings)), client_cidrs=client_cidrs)
