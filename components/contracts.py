"""What each role of the platform takes and gives, for every cloud: the seam a cloud's components implement.

A cloud lives in `components/<cloud>/` and exposes one entry point, `build(parent, name, settings, topology) ->
PlatformOutputs` (`CloudBuild` below), which `components.platform` finds by the stack's `cloud` setting. Inside,
the cloud builds six roles. What a role *takes* is cloud-neutral intent, derived purely from the settings and the
topology by the functions here (the cloud adds its own wiring: ids, keys, images). What a role *gives* is a
Protocol of plain attributes, so the wiring of the roles, and the contract tests (tests/program/contract/),
read every cloud alike.

    Network         takes NetworkIntent            gives private subnets per zone, egress, peering ids
    BackupVault     takes VaultIntent              gives the locked location and pgBackRest's repository
    Secrets         takes SecretsIntent            gives secret references, per-member TLS, the CA
    Identity        takes the vault and secrets    gives the identity each node runs as, the restore identity
    PostgresCluster takes ClusterIntent            gives the endpoint and the members' instance ids
    Monitoring      takes MonitoringIntent         gives the dashboards' URL

Type tokens are `pg-platform:<cloud>:<Role>` for a cloud's components (components.base.type_token) and
`pg-platform:index:PostgresPlatform` for the composition; a token never changes once deployed, because the
engine matches resources by URN and the token is part of every child's URN.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import pulumi

from components.spec import PRIVATE_ZONE
from dataplane.console import member_inventory
from dataplane.model import (
    APP_DATABASE,
    APP_READONLY_USER,
    APP_READWRITE_USER,
    APP_ROLE_SECRETS,
    ClusterSpec,
    Repository,
)
from dataplane.routing import client_access
from stacks.settings import MONITORING_NODE, Peer, PeerGroup, Receiver, Settings, member_node
from stacks.topology import Topology

ROLES = ("Network", "BackupVault", "Secrets", "Identity", "PostgresCluster", "Monitoring")


@dataclass(frozen=True)
class NetworkIntent:
    cidr: str
    zones: tuple[str, ...]
    subnet_cidrs: tuple[str, ...]  # one private subnet per zone, in zone order
    node_addresses: tuple[str, ...]  # the members' fixed private addresses, reserved in their subnets
    egress_subnet_cidr: str
    allowlist_cidrs: tuple[str, ...]
    allowlist_groups: tuple[PeerGroup, ...]  # the cloud's own group references, in peer networks
    peers: tuple[Peer, ...]
    private_zone: str  # the private DNS zone the endpoint's name lives in


@dataclass(frozen=True)
class VaultIntent:
    lock_mode: str  # COMPLIANCE | GOVERNANCE (write once, read many)
    lock_days: int  # 0: no lock (never in prod: the pack refuses it)
    noncurrent_expiry_days: int


@dataclass(frozen=True)
class ClusterIntent:
    members: tuple[str, ...]  # member names, one node each
    rolling: frozenset[str]  # member names replaced onto the current image and boot script by this `up`
    disk_size_gb: int


@dataclass(frozen=True)
class MonitoringIntent:
    receivers: tuple[Receiver, ...]
    zone: str  # the monitoring node's zone (its data volume lives there)
    rolling: bool


@dataclass(frozen=True)
class Intents:
    """Everything the roles take that is not the cloud's own: one value, derived before any resource exists."""

    protect: bool  # stateful resources are protected (prod)
    tags: Mapping[str, str]
    network: NetworkIntent
    vault: VaultIntent
    cluster: ClusterIntent
    monitoring: MonitoringIntent


def intents(settings: Settings, topology: Topology) -> Intents:
    members = tuple(f"{settings.name}-{member_node(i)}" for i in range(topology.node_count.value))
    rolled = {f"{settings.name}-{node}" for node in settings.cluster.roll if node != MONITORING_NODE}
    return Intents(
        protect=topology.protect_stateful.value,
        tags=dict(settings.tags),
        network=NetworkIntent(
            cidr=settings.network.cidr,
            zones=settings.network.zones,
            subnet_cidrs=topology.subnet_cidrs.value,
            node_addresses=topology.node_addresses.value,
            egress_subnet_cidr=topology.egress_subnet_cidr.value,
            allowlist_cidrs=settings.network.allowlist.cidrs,
            allowlist_groups=settings.network.allowlist.security_groups,
            peers=settings.network.peers,
            private_zone=PRIVATE_ZONE,
        ),
        vault=VaultIntent(
            lock_mode=topology.lock_mode.value,
            lock_days=topology.lock_days.value,
            noncurrent_expiry_days=topology.noncurrent_version_expiry_days.value,
        ),
        cluster=ClusterIntent(members=members, rolling=frozenset(rolled), disk_size_gb=settings.cluster.disk_size_gb),
        monitoring=MonitoringIntent(
            receivers=settings.monitoring.receivers,
            zone=settings.network.zones[0],
            rolling=MONITORING_NODE in settings.cluster.roll,
        ),
    )


@runtime_checkable
class NetworkGives(Protocol):
    subnet_ids: Sequence[pulumi.Output[str]]  # per zone, usable once the member addresses are reserved
    egress_ready: pulumi.Resource  # nodes that install packages at boot wait for it
    peering_connection_ids: Mapping[str, pulumi.Output[str]]  # peer name -> the connection its owner accepts


@runtime_checkable
class BackupVaultGives(Protocol):
    location: pulumi.Output[str]  # the bucket or container, as operators name it
    repository: Repository  # how pgBackRest reaches it (known before any resource exists)


@runtime_checkable
class SecretsGives(Protocol):
    secret_refs: Mapping[str, pulumi.Output[str]]  # secret name -> the reference a node fetches it by
    member_tls_refs: Mapping[str, pulumi.Output[str]]  # member name -> its own TLS bundle
    webhook_refs: Mapping[str, pulumi.Output[str]]  # receiver name -> its webhook URL's secret
    ca_certificate: pulumi.Output[str]  # public: clients verify the endpoint against it


@runtime_checkable
class IdentityGives(Protocol):
    member_identities: Mapping[str, pulumi.Output[str]]  # member name -> the identity its node runs as
    monitoring_identity: pulumi.Output[str]
    restore_identity: pulumi.Output[str]  # break-glass: reads backup versions, destroys nothing
    # dataplane.duties.DUTIES -> the identity `pgp --as DUTY` acts as; empty where the console has none yet.
    duty_identities: Mapping[str, pulumi.Output[str]]


@runtime_checkable
class PostgresClusterGives(Protocol):
    endpoint: pulumi.Output[str]  # the router's stable private name
    member_ids: Sequence[pulumi.Output[str]]  # the cloud's instance ids, in member order


@runtime_checkable
class MonitoringGives(Protocol):
    grafana_url: pulumi.Output[str]
    node_id: pulumi.Output[str]  # the monitoring node, as the cloud names it (the members' kind of id)


ROLE_CONTRACTS: dict[str, type] = {
    "Network": NetworkGives,
    "BackupVault": BackupVaultGives,
    "Secrets": SecretsGives,
    "Identity": IdentityGives,
    "PostgresCluster": PostgresClusterGives,
    "Monitoring": MonitoringGives,
}


@dataclass
class PlatformOutputs:
    """What the stack exports, whatever the cloud (see __main__.py for the export names)."""

    endpoint: pulumi.Output[str]
    backup_location: pulumi.Output[str]
    grafana_url: pulumi.Output[str]
    peering_connection_ids: Mapping[str, pulumi.Output[str]]
    client_access: dict[str, Any]  # dataplane.routing.client_access: endpoints and URIs, no password
    ca_certificate: pulumi.Output[str]
    app_role_secret_ids: Mapping[str, pulumi.Output[str]]  # application role -> where its password lives
    restore_identity: pulumi.Output[str]
    # What runs where (dataplane.console.member_inventory): the Patroni scope and, per member, its zone and the
    # cloud's id for it, which the operator console reaches it by.
    inventory: dict[str, Any]
    # The identity each duty acts as (IdentityGives.duty_identities); none on a build without an Identity role.
    duty_identities: Mapping[str, pulumi.Output[str]] = field(default_factory=dict)


class CloudBuild(Protocol):
    def __call__(
        self, parent: pulumi.ComponentResource, name: str, settings: Settings, topology: Topology
    ) -> PlatformOutputs: ...


def the_roles_keep_their_contracts(roles: Mapping[str, object]) -> list[str]:
    """Roles (by name) that lack an attribute their contract gives; a cloud's build checks this before wiring."""
    return [role for role, component in roles.items() if not isinstance(component, ROLE_CONTRACTS[role])]


def platform_outputs(spec: ClusterSpec, roles: Mapping[str, Any]) -> PlatformOutputs:
    """What a cloud's build returns, read from its six roles only through their contracts (checked first, so a
    role that lost an attribute fails here, naming it, rather than deep inside the wiring)."""
    broken = the_roles_keep_their_contracts(roles)
    assert not broken, f"roles missing what their contracts give: {broken}"
    assert set(roles) == set(ROLES), f"a build has exactly the roles {ROLES}"
    network, vault, secrets = roles["Network"], roles["BackupVault"], roles["Secrets"]
    identity, cluster, monitoring = roles["Identity"], roles["PostgresCluster"], roles["Monitoring"]
    return PlatformOutputs(
        endpoint=cluster.endpoint,
        backup_location=vault.location,
        grafana_url=monitoring.grafana_url,
        peering_connection_ids=network.peering_connection_ids,
        client_access=client_access(spec, APP_DATABASE, {"write": APP_READWRITE_USER, "read": APP_READONLY_USER}),
        ca_certificate=secrets.ca_certificate,
        app_role_secret_ids={user: secrets.secret_refs[secret] for user, secret in APP_ROLE_SECRETS.items()},
        restore_identity=identity.restore_identity,
        duty_identities=identity.duty_identities,
        inventory={
            **member_inventory(spec, cluster.member_ids),
            # The console asks its Alertmanager for what is firing, through the same remote-command service.
            "monitoring": {"id": monitoring.node_id},
        },
    )
