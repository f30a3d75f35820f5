"""Where the sandbox puts things and which loopback ports it uses, derived from the real stack files.

The topology comes from the same derivation the clouds use (`Pulumi.<profile>.yaml` -> settings ->
topology), shrunk to a sandbox node size and to the PostgreSQL major Debian ships here. Ports are the
platform's own (stacks/ports.py) shifted by a per-profile base and a per-member stride, so prod and dev
sandboxes can run side by side and no number is invented twice.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

from dataplane.model import (
    AzureRepository,
    ClusterSpec,
    GcsRepository,
    Member,
    MemberPorts,
    Paths,
    PosixRepository,
    Repository,
    Router,
    S3Repository,
)
from stacks.offline import settings_for_stack
from stacks.ports import PORTS
from stacks.settings import Settings
from stacks.sizes import SANDBOX_SIZE
from stacks.topology import Topology, derive_topology

PROFILES = ("prod", "dev")
LOOPBACK = "127.0.0.1"
# A certificate must name what clients dial: pgBackRest's S3 client matches DNS names only.
LOOPBACK_DNS = "localhost"
# Below the kernel's ephemeral range (32768+), so an outgoing connection never squats a sandbox port.
PROFILE_PORT_BASE = {"prod": 20000, "dev": 10000}
# etcd's client and peer ports are adjacent (2379/2380), so members need a stride wider than one.
MEMBER_PORT_STRIDE = 10
# The router (HAProxy) and the scratch restore instance sit in member slots no real member uses.
ROUTER_SLOT = 5
SCRATCH_SLOT = 4
# Services that exist only in the sandbox, standing in for cloud services; same base as the rest.
SANDBOX_SERVICE_PORTS = {
    "s3_emulator": 4566,  # moto, plain HTTP, never dialled by pgBackRest directly
    "s3_https": 443,  # HAProxy terminating TLS for the emulator with the sandbox CA
    "alert_webhook": 5001,  # the receiver Alertmanager posts to, so the alert drill can see delivery
    "azure_blob": 10000,  # Azurite's blob service (its default port), HTTPS with the sandbox CA
    "gcs_emulator": 4444,  # fake-gcs-server, plain HTTP, never dialled by pgBackRest directly
    "gcs": 4443,  # HAProxy terminating TLS for fake-gcs-server (its default port) with the sandbox CA
}
# pgBackRest's repositories the sandbox can run, in the order they are numbered (repo1, repo2, ...). posix and s3
# are always there (replicas are created from repo1, the worm drill reads the object-locked bucket); the Azure and
# GCS emulators are brought up on request (`tools sandbox up --repos posix,s3,azure,gcs`): every WAL segment is
# archived into every repository, so each one costs every sandbox some archiving and a full backup at `up`.
REPOSITORY_KINDS = ("posix", "s3", "azure", "gcs")
DEFAULT_REPOSITORY_KINDS = ("posix", "s3")
# The kinds chosen at `up`, kept in the sandbox root so that `status`, `drill` and `down` see the same repositories.
REPOSITORY_KINDS_FILE = "repositories"
# Azurite's built-in development account and its published key (the same in every Azurite): not a secret.
AZURITE_ACCOUNT = "devstoreaccount1"
DEFAULT_ROOT = Path(os.environ.get("PG_PLATFORM_SANDBOX_ROOT", "/var/lib/pg-platform-sandbox"))
POSTGRES_LIB = Path("/usr/lib/postgresql")


def installed_postgres_major(lib: Path = POSTGRES_LIB) -> int:
    majors = (
        sorted(int(p.name) for p in lib.iterdir() if p.name.isdigit() and (p / "bin" / "postgres").exists())
        if lib.is_dir()
        else []
    )
    if not majors:
        raise RuntimeError(f"no PostgreSQL server under {lib}: run `bash scripts/bootstrap.sh`")
    return majors[-1]


def sandbox_topology(profile: str, postgres_major: int | None = None) -> Topology:
    topology = derive_topology(settings_for_stack(profile))
    return dataclasses.replace(
        topology, node_size=SANDBOX_SIZE, postgres_major=postgres_major or installed_postgres_major()
    )


@dataclass(frozen=True)
class SandboxLayout:
    """One sandbox: its profile, root directory, spec, and the ports of the stand-in services."""

    profile: str
    root: Path
    spec: ClusterSpec
    settings: Settings

    # --- directories -------------------------------------------------------------------------------
    @property
    def tls_dir(self) -> Path:
        return self.root / "tls"

    @property
    def secrets_file(self) -> Path:
        return self.root / "secrets.env"

    @property
    def state_dir(self) -> Path:
        """PID files and supervisor state."""
        return state_dir(self.root)

    @property
    def log_dir(self) -> Path:
        return log_dir(self.root)

    @property
    def shared_config_dir(self) -> Path:
        """Files of the services that are not per member: router, monitoring, S3 proxy."""
        return self.root / "etc"

    @property
    def monitoring_dir(self) -> Path:
        return self.root / "monitoring"

    @property
    def posix_repo_dir(self) -> Path:
        return Path(self.posix_repository.path)

    @property
    def scratch_dir(self) -> Path:
        return self.root / "scratch"

    def member_root(self, name: str) -> Path:
        return self.root / "members" / name

    def member_paths(self, name: str) -> Paths:
        return self.spec.paths_for(self.spec.member(name))

    # --- ports -------------------------------------------------------------------------------------
    @property
    def port_base(self) -> int:
        return PROFILE_PORT_BASE[self.profile]

    def service_port(self, name: str) -> int:
        return self.port_base + SANDBOX_SERVICE_PORTS[name]

    @property
    def prometheus_port(self) -> int:
        return self.port_base + PORTS.prometheus

    @property
    def alertmanager_port(self) -> int:
        return self.port_base + PORTS.alertmanager

    @property
    def scratch_port(self) -> int:
        return self.port_base + PORTS.postgres + SCRATCH_SLOT * MEMBER_PORT_STRIDE

    @property
    def s3_endpoint(self) -> str:
        return f"{LOOPBACK_DNS}:{self.service_port('s3_https')}"

    @property
    def repository_kinds_file(self) -> Path:
        return self.root / REPOSITORY_KINDS_FILE

    @property
    def repository_kinds(self) -> tuple[str, ...]:
        return tuple(r.kind for r in self.spec.repositories)

    # The only places besides build_layout that look inside a Repository: a change of its shape stays here.
    @property
    def s3_repository(self) -> S3Repository:
        return next(r for r in self.spec.repositories if isinstance(r, S3Repository))

    @property
    def posix_repository(self) -> PosixRepository:
        return next(r for r in self.spec.repositories if isinstance(r, PosixRepository))

    @property
    def azure_repository(self) -> AzureRepository | None:
        return next((r for r in self.spec.repositories if isinstance(r, AzureRepository)), None)

    @property
    def gcs_repository(self) -> GcsRepository | None:
        return next((r for r in self.spec.repositories if isinstance(r, GcsRepository)), None)

    def repository_index(self, kind: str) -> int:
        """pgBackRest's number of the repository stored on `kind` (posix, s3, azure, gcs)."""
        for index, repo in enumerate(self.spec.repositories, start=1):
            if repo.kind == kind:
                return index
        raise ValueError(f"this sandbox has no {kind} repository (it has {', '.join(self.repository_kinds)})")

    @property
    def shared_key_repositories(self) -> tuple[int, ...]:
        """pgBackRest's numbers (repo<n>) of the repositories whose S3 keys come from the environment."""
        return tuple(
            i
            for i, r in enumerate(self.spec.repositories, start=1)
            if isinstance(r, S3Repository) and r.key_type == "shared"
        )

    def repository_kind(self, index: int) -> str:
        """What repo<index> is stored on, for people reading a drill's result."""
        return self.spec.repositories[index - 1].kind

    def all_ports(self) -> list[int]:
        """Every port a running sandbox listens on: `down` proves none is left open."""
        ports = []
        for m in self.spec.members:
            ports += [getattr(m.ports, f.name) for f in dataclasses.fields(MemberPorts)]
        r = self.spec.router
        ports += [
            r.write_port,
            r.read_port,
            r.pooled_port,
            r.stats_port,
            self.prometheus_port,
            self.alertmanager_port,
            self.scratch_port,
        ]
        ports += [self.service_port(n) for n in SANDBOX_SERVICE_PORTS]
        return ports


def member_ports(profile: str, index: int) -> MemberPorts:
    # MemberPorts' defaults are the platform's ports (stacks/ports.py): shift every one of them.
    shift = PROFILE_PORT_BASE[profile] + index * MEMBER_PORT_STRIDE
    defaults = MemberPorts()
    return MemberPorts(**{f.name: getattr(defaults, f.name) + shift for f in dataclasses.fields(MemberPorts)})


def router_for(profile: str) -> Router:
    shift = PROFILE_PORT_BASE[profile] + ROUTER_SLOT * MEMBER_PORT_STRIDE
    return Router(
        host=LOOPBACK,
        write_port=PORTS.write + shift,
        read_port=PORTS.read + shift,
        pooled_port=PORTS.pooled_write + shift,
        stats_port=PORTS.haproxy_stats + shift,
    )


def state_dir(root: Path) -> Path:
    return root / "run"


def log_dir(root: Path) -> Path:
    return root / "log"


_MEMBER_CONFIG_PARTS = ("members", "{member}", "etc")


def root_of(paths: Paths) -> Path:
    """The sandbox root whose member_path_template `paths` are (a spec carries its paths, not its root)."""
    config = Path(paths.config_dir)
    if config.parts[-3:] != _MEMBER_CONFIG_PARTS:
        raise ValueError(f"{paths.config_dir} is not a sandbox member's configuration directory")
    return config.parents[2]


def member_path_template(root: Path) -> Paths:
    """Paths with the `{member}` placeholder the renderers fill per member (ClusterSpec.paths_for)."""
    base = root.joinpath(*_MEMBER_CONFIG_PARTS[:2])
    return Paths(
        config_dir=str(base / _MEMBER_CONFIG_PARTS[2]),
        data_dir=str(base / "data"),
        log_dir=str(base / "log"),
        run_dir=str(base / "run"),
        etcd_data_dir=str(base / "etcd"),
        former_etcd_data_dir=str(base / "etcd-former"),
        pgbackrest_spool_dir=str(base / "spool"),
        pgbackrest_lock_dir=str(base / "lock"),
    )


def parse_repository_kinds(text: str) -> tuple[str, ...]:
    """`posix,s3,azure` -> the kinds in pgBackRest's numbering order; posix and s3 are required."""
    kinds = {k.strip() for k in text.split(",") if k.strip()}
    unknown = sorted(kinds - set(REPOSITORY_KINDS))
    if unknown:
        raise ValueError(f"unknown repository kind(s) {', '.join(unknown)}; choose from {', '.join(REPOSITORY_KINDS)}")
    missing = [k for k in DEFAULT_REPOSITORY_KINDS if k not in kinds]
    if missing:
        raise ValueError(f"the sandbox always has {', '.join(DEFAULT_REPOSITORY_KINDS)}: add {', '.join(missing)}")
    return tuple(k for k in REPOSITORY_KINDS if k in kinds)


def sandbox_repositories(
    root: Path, scope: str, region: str, port_base: int, kinds: tuple[str, ...] = DEFAULT_REPOSITORY_KINDS
) -> tuple[Repository, ...]:
    """repo1 a directory, repo2 the emulated object-locked bucket, then the Azure and GCS emulators if chosen:
    every Repository the sandbox builds. All object stores are dialled as `localhost` over verified TLS."""
    ca_file = str(root / "tls" / "ca.crt")
    built: dict[str, Repository] = {
        "posix": PosixRepository(path=str(root / "repo1")),
        # The emulator has no instance role to take credentials from: shared keys, passed as environment.
        "s3": S3Repository(
            path="/pgbackrest",
            bucket=f"{scope}-backups",
            region=region,
            endpoint=f"{LOOPBACK_DNS}:{port_base + SANDBOX_SERVICE_PORTS['s3_https']}",
            uri_style="path",
            verify_tls=True,
            ca_file=ca_file,
            key_type="shared",
        ),
        # Azurite's well-known development account, addressed path-style (https://localhost:<port>/<account>/...)
        # with a SAS from the environment (pgBackRest 2.45 here offers Azure key types shared and sas only); a cloud
        # node uses its managed identity instead.
        "azure": AzureRepository(
            path="/pgbackrest",
            account=AZURITE_ACCOUNT,
            container=f"{scope}-backups",
            endpoint=f"{LOOPBACK_DNS}:{port_base + SANDBOX_SERVICE_PORTS['azure_blob']}",
            uri_style="path",
            key_type="sas",
            verify_tls=True,
            ca_file=ca_file,
        ),
        # fake-gcs-server accepts any bearer token: key type "token" (pgBackRest's mode "for local testing").
        "gcs": GcsRepository(
            path="/pgbackrest",
            bucket=f"{scope}-backups",
            endpoint=f"{LOOPBACK_DNS}:{port_base + SANDBOX_SERVICE_PORTS['gcs']}",
            key_type="token",
            verify_tls=True,
            ca_file=ca_file,
        ),
    }
    return tuple(built[k] for k in REPOSITORY_KINDS if k in kinds)


def chosen_repository_kinds(sandbox_root: Path) -> tuple[str, ...]:
    """The kinds the last `up` of this sandbox chose, the defaults if it chose none."""
    path = sandbox_root / REPOSITORY_KINDS_FILE
    return parse_repository_kinds(path.read_text()) if path.exists() else DEFAULT_REPOSITORY_KINDS


def build_layout(
    profile: str = "prod",
    root: Path | None = None,
    postgres_major: int | None = None,
    repositories: tuple[str, ...] | None = None,
) -> SandboxLayout:
    """The sandbox of `profile` under `root`; `repositories` (kinds) as `up` chose them unless given."""
    if profile not in PROFILES:
        raise ValueError(f"unknown sandbox profile {profile!r}; use one of {', '.join(PROFILES)}")
    sandbox_root = (root or DEFAULT_ROOT) / profile
    settings = settings_for_stack(profile)
    topology = sandbox_topology(profile, postgres_major)
    scope = f"pgp-{settings.stage}-sandbox"
    members = tuple(
        Member(name=f"{scope}-{i + 1}", host=LOOPBACK, zone=zone, ports=member_ports(profile, i))
        for i, zone in enumerate(topology.node_zones.value)
    )
    kinds = chosen_repository_kinds(sandbox_root) if repositories is None else repositories
    spec = ClusterSpec(
        scope=scope,
        topology=topology,
        members=members,
        repositories=sandbox_repositories(sandbox_root, scope, settings.region, PROFILE_PORT_BASE[profile], kinds),
        router=router_for(profile),
        paths=member_path_template(sandbox_root),
        client_cidrs=(f"{LOOPBACK}/32",),
        monitoring_hosts=(LOOPBACK,),
        # The DBA's parameters as the stack file sets them: `sandbox configure` carries an edit to the members.
        stack_parameters=tuple(settings.postgresql.parameters.items()),
        declared=settings.postgresql.declared,
        tls=settings.tls,
        backups_enabled=settings.backups.enabled,
    )
    return SandboxLayout(profile=profile, root=sandbox_root, spec=spec, settings=settings)
