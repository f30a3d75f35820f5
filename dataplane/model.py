"""The cluster spec every renderer takes. Clouds and the sandbox build one; renderers never read settings.

Secrets are never rendered into files a cloud delivers in user data: renderers reference them by the
environment variables below, which a node fills at boot from its secrets store (the sandbox from local files).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Literal, TypeAlias

from stacks.databases import (
    APP_DATABASE,
    APP_OWNER_ROLE,
    APP_READONLY_USER,
    APP_READWRITE_USER,
    APP_SCHEMA,
    MONITORING_USER,
    POOLER_AUTH_USER,
    REPLICATION_USER,
    REWIND_USER,
    SUPERUSER,
    Declared,
)
from stacks.ports import PORTS
from stacks.sizes import NodeSize
from stacks.tls import TlsSettings
from stacks.topology import Topology

# The database roles are stacks.databases' (re-exported here). Applications get app_rw / app_ro, never the
# superuser. The application roles' passwords, by the secret that holds each (SECRET_ENV names its variable on
# a node).
APP_ROLE_SECRETS = {APP_READWRITE_USER: "app-readwrite", APP_READONLY_USER: "app-readonly"}
PATRONI_REST_USER = "patroni"

# Secret name -> environment variable a node's services read it from.
SECRET_ENV: dict[str, str] = {
    "superuser": "PATRONI_SUPERUSER_PASSWORD",
    "replication": "PATRONI_REPLICATION_PASSWORD",
    "rewind": "PATRONI_REWIND_PASSWORD",
    "patroni-rest": "PATRONI_RESTAPI_PASSWORD",
    "pooler-auth": "PG_POOLER_AUTH_PASSWORD",
    "monitoring": "PG_MONITOR_PASSWORD",
    "app-readwrite": "PG_APP_RW_PASSWORD",
    "app-readonly": "PG_APP_RO_PASSWORD",
    "backup-cipher": "PGBACKREST_REPO1_CIPHER_PASS",
}


@dataclass(frozen=True)
class MemberPorts:
    postgres: int = PORTS.postgres
    patroni_rest: int = PORTS.patroni_rest
    etcd_client: int = PORTS.etcd_client
    etcd_peer: int = PORTS.etcd_peer
    pgbouncer: int = PORTS.pgbouncer
    postgres_exporter: int = PORTS.postgres_exporter
    node_exporter: int = PORTS.node_exporter
    # pgBackRest's TLS server (its default port), so a backup on one member can read another's data
    # directory (backup-standby); the security groups admit it between members only.
    pgbackrest_server: int = PORTS.pgbackrest_server


@dataclass(frozen=True)
class Member:
    name: str  # Patroni member and etcd member name
    host: str  # address peers and clients connect to (a private IP, or 127.0.0.1 in the sandbox)
    zone: str
    ports: MemberPorts = field(default_factory=MemberPorts)


@dataclass(frozen=True)
class Paths:
    """Where things live on a node. The sandbox gives each member its own root under one directory."""

    config_dir: str = "/etc/pg-platform"
    data_dir: str = "/var/lib/postgresql/data"
    log_dir: str = "/var/log/pg-platform"
    run_dir: str = "/run/pg-platform"
    postgres_bin_dir: str = "/usr/lib/postgresql/{major}/bin"
    patroni_bin: str = "/opt/pg-platform/patroni/bin/patroni"
    pgbackrest_bin: str = "/usr/bin/pgbackrest"
    # On the data volume (MEMBER_DATA_MOUNT), so a replaced member's etcd keeps its identity and data.
    etcd_data_dir: str = "/var/lib/postgresql/etcd"
    # Where etcd kept its data before, moved into etcd_data_dir when etcd next starts (dataplane/etcd_member.py):
    # the root volume, which a replaced instance does not keep.
    former_etcd_data_dir: str = "/var/lib/etcd/pg-platform"
    pgbackrest_spool_dir: str = "/var/spool/pgbackrest"
    pgbackrest_lock_dir: str = "/tmp/pgbackrest"

    @property
    def secrets_env(self) -> str:
        """The 0600 file of SECRET_ENV variables a node writes at boot; services load it, nothing else does."""
        return f"{self.config_dir}/secrets.env"

    def for_member(self, member: Member, major: int) -> Paths:
        """Paths with `{member}` and `{major}` filled in.

        A path may contain `{member}` so several members can share one host (the sandbox) while peers still
        know each other's directories (pgBackRest's pgN-path); cloud paths simply omit the placeholder.
        """
        return replace(
            self, **{f.name: getattr(self, f.name).format(member=member.name, major=major) for f in fields(self)}
        )


# pgBackRest's repository types (its repo-type option), one class each: a repository is exactly one of them, and
# `kind` is the tag pgbackrest.repository_options renders from. Credentials never appear in the rendered file:
# "auto" key types take the node's own identity (instance role, managed identity, service account); the others
# read their key from the environment (pgbackrest.repo_environment names the variables).


@dataclass(frozen=True)
class PosixRepository:
    """A directory on a POSIX file system (repo-type=posix)."""

    path: str  # repo-path: an absolute directory
    kind: Literal["posix"] = field(default="posix", init=False)

    def __post_init__(self) -> None:
        if not self.path.startswith("/"):
            raise ValueError(f"posix repository path {self.path!r} is not absolute")


@dataclass(frozen=True)
class S3Repository:
    """An S3 (or S3-compatible) bucket (repo-type=s3)."""

    path: str  # repo-path: the key prefix in the bucket
    bucket: str
    region: str
    endpoint: str  # s3.<region>.amazonaws.com, or localhost:<port> in the sandbox
    uri_style: Literal["host", "path"] = "host"
    # "auto": the instance role's credentials (clouds); "web-id": a web identity token (Kubernetes service
    # accounts); "shared": PGBACKREST_REPO<n>_S3_KEY/_KEY_SECRET from the environment (the sandbox's emulator).
    key_type: Literal["auto", "web-id", "shared"] = "auto"
    kms_key_id: str | None = None  # SSE-KMS key for uploads (repo-s3-kms-key-id)
    verify_tls: bool = True
    ca_file: str | None = None
    kind: Literal["s3"] = field(default="s3", init=False)


@dataclass(frozen=True)
class AzureRepository:
    """An Azure Blob Storage container (repo-type=azure)."""

    path: str
    account: str
    container: str
    endpoint: str = "blob.core.windows.net"
    uri_style: Literal["host", "path"] = "host"
    # "auto": the VM's managed identity; "shared" (an account key) and "sas" (a shared access signature) read
    # PGBACKREST_REPO<n>_AZURE_KEY from the environment.
    key_type: Literal["auto", "shared", "sas"] = "auto"
    verify_tls: bool = True
    ca_file: str | None = None
    kind: Literal["azure"] = field(default="azure", init=False)


@dataclass(frozen=True)
class GcsRepository:
    """A Google Cloud Storage bucket (repo-type=gcs)."""

    path: str
    bucket: str
    endpoint: str = "storage.googleapis.com"
    # "auto": the instance's service account; "service": a service-account key file at `key_file`; "token":
    # PGBACKREST_REPO<n>_GCS_KEY from the environment (a local GCS emulator).
    key_type: Literal["auto", "service", "token"] = "auto"
    key_file: str | None = None
    verify_tls: bool = True
    ca_file: str | None = None
    kind: Literal["gcs"] = field(default="gcs", init=False)

    def __post_init__(self) -> None:
        if (self.key_type == "service") != (self.key_file is not None):
            raise ValueError("a gcs repository names a key_file exactly when its key_type is 'service'")


Repository: TypeAlias = PosixRepository | S3Repository | AzureRepository | GcsRepository


@dataclass(frozen=True)
class Router:
    """The routed entry points (the cloud's internal load balancer, HAProxy in the sandbox)."""

    host: str
    write_port: int = PORTS.write
    read_port: int = PORTS.read
    pooled_port: int = PORTS.pooled_write
    stats_port: int = PORTS.haproxy_stats


@dataclass(frozen=True)
class ClusterSpec:
    scope: str  # Patroni scope, etcd cluster token, pgBackRest stanza
    topology: Topology
    members: tuple[Member, ...]
    repositories: tuple[Repository, ...]
    router: Router
    paths: Paths = field(default_factory=Paths)
    # Memory/cpus per node come from topology.node_size; the sandbox passes a smaller topology.
    # Networks whose clients may log in as the application users (direct and through the router): the stack's
    # allowlist (and peered application VPCs) in a cloud, 127.0.0.1/32 in the sandbox. Empty admits none but
    # the members themselves (PgBouncer runs on the members).
    client_cidrs: tuple[str, ...] = ()
    # Hosts scraping the members' exporters and Patroni /metrics (the monitoring node). pg_hba grants them
    # nothing: the exporters run on the members and connect locally.
    monitoring_hosts: tuple[str, ...] = ()
    # The stack's pg-platform:postgresql.parameters (lower-case names, none the platform owns), applied on top
    # of the platform's tunables by dataplane.postgresql.
    stack_parameters: tuple[tuple[str, str | int | float], ...] = ()
    # The stack's pg-platform:postgresql.databases and .roles (dataplane.roles creates them and their tiers).
    declared: Declared = field(default_factory=Declared)
    # The stack's pg-platform:tls: the lowest protocol and the TLS 1.2 ciphers PostgreSQL and PgBouncer accept.
    tls: TlsSettings = field(default_factory=TlsSettings)
    # The stack's pg-platform:backups.enabled: False archives nothing and schedules no backup or restore drill
    # (the settings allow it in a dev stage only).
    backups_enabled: bool = True
    # The size each member runs where it is not yet topology.node_size: a size change reaches a member only when
    # it is rolled (README, "Changing nodes"), so while one rolls out, members run two sizes. A cloud fills it
    # from what its instances report; members not listed run topology.node_size.
    member_sizes: tuple[tuple[str, NodeSize], ...] = ()

    @property
    def stanza(self) -> str:
        return self.scope

    def size_of(self, member: Member) -> NodeSize:
        """What this member's memory and worker settings are derived from."""
        return dict(self.member_sizes).get(member.name, self.topology.node_size)

    def smallest_size(self) -> NodeSize:
        """What settings every member shares are derived from: a standby refuses to run with a lower
        max_connections or max_worker_processes than its primary, so the smallest member sets them."""
        sizes = [self.size_of(m) for m in self.members] or [self.topology.node_size]
        return NodeSize(vcpus=min(s.vcpus for s in sizes), memory_mib=min(s.memory_mib for s in sizes))

    def with_member_sizes(self, sizes: Mapping[str, NodeSize]) -> ClusterSpec:
        """This spec with the sizes the members actually run (those equal to the topology's are left out)."""
        unknown = sorted(set(sizes) - {m.name for m in self.members})
        if unknown:
            raise ValueError(f"no member named {', '.join(unknown)} in {self.scope}")
        differing = tuple(
            (m.name, sizes[m.name])
            for m in self.members
            if sizes.get(m.name, self.topology.node_size) != self.topology.node_size
        )
        return replace(self, member_sizes=differing)

    def member(self, name: str) -> Member:
        return next(m for m in self.members if m.name == name)

    def paths_for(self, member: Member) -> Paths:
        return self.paths.for_member(member, self.topology.postgres_major)
