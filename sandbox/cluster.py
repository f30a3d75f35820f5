"""Bring the sandbox up and take it down: the services composed in the order a node boots.

Each member's files come from the dataplane renderers, written under that member's own paths
(ClusterSpec.paths_for); the services (sandbox.services) are started from them in boot order: TLS material,
the DCS, the object store, Patroni (which initdb's or clones PostgreSQL), the backup stanza, roles, then
the pooler, the router and monitoring.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sandbox import certificates, node
from sandbox import journal as sandbox_journal
from sandbox.environment import secret_values
from sandbox.files import write_file
from sandbox.layout import SandboxLayout, chosen_repository_kinds
from sandbox.processes import supervisor
from sandbox.services import (
    alertmanager,
    azurite,
    etcd,
    exporters,
    gcs,
    patroni,
    pgbackrest,
    pgbouncer,
    prometheus,
    roles,
    router,
    s3,
    webhook,
)
from sandbox.supervisor import ServiceError, Supervisor, listening_ports, processes_mentioning, stop_postmaster

REQUIRED_BINARIES = (
    "etcd",
    "etcdctl",
    "pgbackrest",
    "/usr/sbin/haproxy",
    "/usr/sbin/pgbouncer",
    "prometheus",
    "prometheus-alertmanager",
    "prometheus-postgres-exporter",
    exporters.NODE_EXPORTER_BINARY,
    "setpriv",
)
BOOTSTRAP_SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "bootstrap.sh"
PATRONI_BINARY = Path("/opt/pg-platform/patroni/bin/patroni")


@dataclass
class StepTimer:
    say: Callable[[str], None]
    started: float = field(default_factory=time.monotonic)
    steps: list[tuple[str, float]] = field(default_factory=list)

    def step(self, what: str, action: Callable[[], object]) -> object:
        t0 = time.monotonic()
        result = action()
        took = time.monotonic() - t0
        self.steps.append((what, took))
        self.say(f"  {what:<48} {took:6.1f} s")
        return result

    @property
    def total(self) -> float:
        return time.monotonic() - self.started


def missing_binaries() -> list[str]:
    return [b for b in REQUIRED_BINARIES if shutil.which(b) is None]


def ensure_installed(say: Callable[[str], None]) -> None:
    missing = missing_binaries()
    if missing or not PATRONI_BINARY.exists():
        say(f"missing {', '.join(missing) or 'patroni'}: running {BOOTSTRAP_SCRIPT}")
        subprocess.run(["bash", str(BOOTSTRAP_SCRIPT)], check=True)


def prepare(layout: SandboxLayout) -> None:
    node.prepare_directories(layout)
    secret_values(layout)
    certificates.issue(layout)


def start_monitoring(layout: SandboxLayout, sup: Supervisor) -> None:
    exporters.start(layout, sup)
    webhook.start(layout, sup)
    alertmanager.start(layout, sup)
    prometheus.start(layout, sup)


def object_store_steps(layout: SandboxLayout, sup: Supervisor) -> list[tuple[str, Callable[[], object]]]:
    """The Azure and GCS emulators, for the repositories this sandbox was brought up with."""
    steps: list[tuple[str, Callable[[], object]]] = []
    if layout.azure_repository is not None:
        steps.append(("Azurite (Azure Blob), container", lambda: azurite.start(layout, sup)))
    if layout.gcs_repository is not None:
        steps.append(("fake-gcs-server (GCS), bucket", lambda: gcs.start(layout, sup)))
    return steps


def remember_repositories(layout: SandboxLayout, sup: Supervisor) -> None:
    """Kept in the root, so `status`, `drill` and `down` build the layout with the repositories `up` chose.

    A running cluster keeps the repositories it started with: PostgreSQL's archive_command runs with the
    environment Patroni started with, which holds no credentials for a repository added later, so archiving into
    every repository would fail until a restart (as on a cloud node, whose units load the secrets at start)."""
    before = chosen_repository_kinds(layout.root)
    running = [n for n in sup.names() if n.startswith(patroni.NAME_PREFIX) and sup.running(n)]
    if running and before != layout.repository_kinds:
        raise ServiceError(
            f"this sandbox runs with repositories {','.join(before)}; take it down first "
            f"(`sandbox down`, then `sandbox up --repos {','.join(layout.repository_kinds)}`)"
        )
    write_file(layout.repository_kinds_file, ",".join(layout.repository_kinds) + "\n")


def up(layout: SandboxLayout, say: Callable[[str], None] = print) -> float:
    ensure_installed(say)
    timer = StepTimer(say)
    sup = supervisor(layout)
    members = layout.spec.members
    n = len(members)
    say(f"sandbox {layout.profile} in {layout.root}")
    steps: list[tuple[str, Callable[[], object]]] = [
        ("directories, secrets, TLS", lambda: prepare(layout)),
        ("repositories " + ",".join(layout.repository_kinds), lambda: remember_repositories(layout, sup)),
        ("rendered member files", lambda: node.write_all_member_files(layout)),
        (f"etcd x{n}", lambda: etcd.start(layout, sup)),
        ("S3 emulator, TLS proxy, locked bucket", lambda: s3.start(layout, sup)),
        *object_store_steps(layout, sup),
        (f"Patroni x{n}: leader, replicas, sync", lambda: patroni.start(layout, sup)),
        ("pgBackRest stanza and first full backup", lambda: pgbackrest.start(layout)),
        ("roles and application database", lambda: roles.start(layout)),
        (f"PgBouncer x{n}", lambda: pgbouncer.start(layout, sup)),
        ("router (HAProxy following Patroni)", lambda: router.start(layout, sup)),
        ("exporters, Prometheus, Alertmanager, webhook", lambda: start_monitoring(layout, sup)),
    ]
    for what, action in steps:
        timer.step(what, action)
    say(f"up in {timer.total:.1f} s")
    sandbox_journal.record(
        layout,
        "up",
        "ok",
        timer.total,
        {"members": [m.name for m in members], "repositories": list(layout.repository_kinds)},
    )
    # Kept across runs so a slow bring-up can be traced to its step afterwards.
    with open(layout.log_dir / "up-timings.log", "a") as history:
        history.write(
            f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} total {timer.total:.1f} s; "
            + "; ".join(f"{what} {took:.1f} s" for what, took in timer.steps)
            + "\n"
        )
    return timer.total


def down(layout: SandboxLayout, purge: bool = False, say: Callable[[str], None] = print) -> list[str]:
    """Stop everything by PID; PostgreSQL before the S3 endpoint (its shutdown archives the last WAL).

    Returns the processes or ports still found afterwards (empty when clean)."""
    sup = supervisor(layout)
    members = layout.spec.members
    patronis = [patroni.name(m) for m in members]
    etcds = [etcd.name(m) for m in members]
    last = (patroni.NAME_PREFIX, etcd.NAME_PREFIX, s3.NAME_PREFIX, azurite.NAME_PREFIX, gcs.NAME_PREFIX)
    front = [n for n in sup.names() if not n.startswith(last)]
    for name in front:
        sup.stop(name)
    sup.stop_together(patronis, timeout=30)
    for member in members:
        stop_postmaster(Path(layout.member_paths(member.name).data_dir))
    stop_postmaster(layout.scratch_dir / "data")
    sup.stop_together(etcds, timeout=10)
    for name in sup.names():
        sup.stop(name)
    leftovers = [f"pid {pid}: {cmd[:120]}" for pid, cmd in processes_mentioning(str(layout.root))]
    leftovers += [f"port {p} still listening" for p in listening_ports(layout.all_ports())]
    if purge and not leftovers:
        shutil.rmtree(layout.root, ignore_errors=True)
        say(f"purged {layout.root}")
    return leftovers
