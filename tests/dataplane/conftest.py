"""Fixtures for the data-plane tests. Every process a fixture starts is stopped by its PID in its teardown."""

from __future__ import annotations

import dataclasses
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import pytest
from dataplane_support import (
    PG_BIN,
    as_postgres,
    chown_postgres,
    etcdctl,
    local_spec,
    port_open,
    prepare_member_dirs,
    run_checked,
    secret_env,
    stop,
    wait_for,
    write_file,
)

from dataplane import pgbouncer
from dataplane.etcd import render_etcd_config
from dataplane.node_files import node_file_mode, node_files
from dataplane.pg_hba import render_pg_hba
from dataplane.pgbackrest import config_path as pgbackrest_config_path
from dataplane.pgbackrest import render_pgbackrest_conf
from dataplane.postgresql import initdb_arguments, render_postgresql_conf
from dataplane.roles import render_role_sql
from dataplane.tls import issue
from stacks.databases import Database, Declared, Role


@pytest.fixture(scope="session")
def workroot():
    root = Path(tempfile.mkdtemp(prefix="pgp-dataplane-"))
    root.chmod(0o755)  # postgres must traverse into its directories
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def cluster3(workroot):
    """Three members on loopback aliases with issued TLS material (for etcd, Patroni, HAProxy checks)."""
    root = workroot / "c3"
    root.mkdir()
    root.chmod(0o755)
    spec = local_spec(root, "prod", 3)
    issued = issue(spec)
    prepare_member_dirs(spec, issued)
    return spec, issued


@pytest.fixture(scope="session")
def etcd_cluster(cluster3):
    """The three members' etcd nodes, each started from its rendered config, as the postgres user."""
    spec, _ = cluster3
    procs = []
    try:
        for m in spec.members:
            cfg = write_file(Path(spec.paths_for(m).config_dir) / "etcd.yml", render_etcd_config(spec, m), 0o600)
            Path(spec.paths_for(m).etcd_data_dir).parent.mkdir(parents=True, exist_ok=True)
            log = Path(spec.paths_for(m).log_dir) / "etcd.log"
            with open(log, "w") as out:
                procs.append(
                    (
                        subprocess.Popen(
                            [*as_postgres(), "etcd", "--config-file", str(cfg)], stdout=out, stderr=subprocess.STDOUT
                        ),
                        log,
                    )
                )
        for (proc, log), m in zip(procs, spec.members, strict=True):
            wait_for(
                lambda m=m: etcdctl(spec, m, "endpoint", "health").returncode == 0, 20, f"etcd {m.name}", proc, log
            )
        yield spec
    finally:
        for proc, _ in procs:
            stop(proc)


def _single_member(workroot: Path, name: str, declared: Declared | None = None):
    """One member (dev objectives) on 127.0.0.1 with issued TLS material and its repository directory."""
    root = workroot / name
    root.mkdir()
    root.chmod(0o755)
    spec = dataclasses.replace(local_spec(root, "dev", 1, hosts=["127.0.0.1"]), declared=declared or Declared())
    issued = issue(spec)
    prepare_member_dirs(spec, issued)
    repo = Path(spec.repositories[0].path)
    repo.mkdir(parents=True)
    chown_postgres(repo)
    return spec, issued


@pytest.fixture(scope="session")
def single(workroot):
    """One member (dev objectives) on 127.0.0.1 for a real PostgreSQL + pgBackRest + PgBouncer instance."""
    return _single_member(workroot, "c1")


# What a DBA declares (pg-platform:postgresql.databases and .roles): a database with a contrib extension and one
# that needs shared_preload_libraries, and a login role in each tier.
DECLARED = Declared(
    databases=(
        Database("orders", ("pg_trgm", "pg_prewarm")),
        Database("app", ("citext",)),
    ),
    roles=(
        Role("orders_migrator", "orders", "owner"),
        Role("orders_api", "orders", "rw", connection_limit=7),
        Role("orders_report", "orders", "ro"),
        Role("app_report", "app", "ro"),
    ),
)


@pytest.fixture(scope="session")
def declared_single(workroot):
    return _single_member(workroot, "c1-declared", DECLARED)


def run_postgres(spec):
    """A PostgreSQL 15 instance started from the rendered parameters and pg_hba, without Patroni, until the
    generator is closed."""
    m = spec.members[0]
    paths = spec.paths_for(m)
    etc = Path(paths.config_dir)
    # Everything a node gets, as cloud-init writes it; the steps below add what only a plain instance needs.
    for path, content in node_files(spec, m).items():
        write_file(Path(path), content, node_file_mode(spec, m, path))
    hba = write_file(etc / "pg_hba.conf", render_pg_hba(spec))
    conf = write_file(etc / "postgresql.conf", render_postgresql_conf(spec, m, hba_file=str(hba)))
    write_file(Path(pgbackrest_config_path(spec, m)), render_pgbackrest_conf(spec, m), 0o640)
    run_checked([*as_postgres(), str(PG_BIN / "initdb"), "-D", paths.data_dir, *initdb_arguments()])
    log = Path(paths.log_dir) / "postmaster.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [*as_postgres(), str(PG_BIN / "postgres"), "-D", paths.data_dir, "-c", f"config_file={conf}"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=secret_env(),
        )
    try:
        wait_for(
            lambda: (
                subprocess.run(["pg_isready", "-q", "-h", paths.run_dir, "-p", str(m.ports.postgres)]).returncode == 0
            ),
            30,
            "postgres",
            proc,
            log,
        )
        yield spec
    finally:
        stop(proc, signal.SIGINT, 30)  # fast shutdown; archive-push of the last segment finishes first


def apply_roles(spec, times: int = 1) -> subprocess.CompletedProcess:
    """The role SQL as the post-provision step runs it, passwords from the environment."""
    m = spec.members[0]
    sql = write_file(
        Path(spec.paths_for(m).config_dir) / "roles.sql", render_role_sql(spec, variables_from_env=True), 0o600
    )
    argv = [*as_postgres(), "psql", "-X", "-q", "-h", spec.paths_for(m).run_dir, "-p", str(m.ports.postgres)]
    for _ in range(times):
        done = run_checked([*argv, "-d", "postgres", "-f", str(sql)], env=secret_env())
    return done


def run_pgbouncer(spec):
    """PgBouncer from the rendered ini, its auth file filled by the same command a node's boot step runs."""
    m = spec.members[0]
    ini = write_file(Path(pgbouncer.config_path(spec, m)), pgbouncer.render_pgbouncer_ini(spec, m), 0o600)
    write_file(Path(pgbouncer.auth_template_path(spec, m)), pgbouncer.render_auth_file_template(spec), 0o600)
    write_file(Path(pgbouncer.fill_script_path(spec, m)), pgbouncer.render_fill_script(), 0o750)
    run_checked(as_postgres() + pgbouncer.fill_command(spec, m), env=secret_env())
    log = Path(spec.paths_for(m).log_dir) / "pgbouncer.stdout"
    with open(log, "w") as out:
        proc = subprocess.Popen([*as_postgres(), "/usr/sbin/pgbouncer", str(ini)], stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: port_open(m.host, m.ports.pgbouncer), 15, "pgbouncer", proc, log)
        yield spec
    finally:
        stop(proc)


@pytest.fixture(scope="session")
def pg_single(single):
    spec, _ = single
    yield from run_postgres(spec)


@pytest.fixture(scope="session")
def pg_roles(pg_single):
    """The role SQL applied twice (it must be idempotent), reading the passwords from the environment."""
    apply_roles(pg_single, times=2)
    return pg_single


@pytest.fixture(scope="session")
def pgbouncer_proc(pg_roles):
    yield from run_pgbouncer(pg_roles)


@pytest.fixture(scope="session")
def pg_declared(declared_single):
    """An instance with the declared databases, roles and extensions, the role SQL applied twice, and
    PgBouncer pooling into each database."""
    spec, _ = declared_single
    for running in run_postgres(spec):
        apply_roles(running, times=2)
        yield from run_pgbouncer(running)


@pytest.fixture
def gnupg_homes(tmp_path):
    """Throwaway GnuPG homes; gpg starts a gpg-agent daemon per home, stopped here so none outlives the test."""
    homes: list[Path] = []

    def make(name: str) -> Path:
        home = tmp_path / f"gnupg-{name}"
        home.mkdir(mode=0o700)
        homes.append(home)
        return home

    yield make
    for home in homes:
        subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "all"], capture_output=True, timeout=30)
