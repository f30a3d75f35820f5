"""The Kubernetes Cluster's bootstrap SQL on a real PostgreSQL, in CloudNativePG's order: initdb's owner created
LOGIN, postInitSQL in postgres, the application database created for the owner, postInitApplicationSQL in it,
then the managed roles reconciled onto the roles the SQL prepared. The application roles then work as on the VMs."""

from __future__ import annotations

import signal
import subprocess

import psycopg
import pytest
from dataplane_support import PG_BIN, as_postgres, chown_postgres, free_ports, run_checked, stop, wait_for
from test_cnpg import rendered_cluster

from dataplane.model import APP_DATABASE, APP_OWNER_ROLE, APP_READONLY_USER, APP_READWRITE_USER

pytestmark = pytest.mark.dataplane

STACK = "k8s-prod"
STRANGER = "stranger"  # a login role the SQL knows nothing of: PUBLIC's privileges are all it has


@pytest.fixture(scope="module")
def bootstrapped(workroot):
    """A throwaway instance (local trust: the privileges are under test, not the authentication) bootstrapped as
    the operator bootstraps a Cluster. Yields a connect(user, dbname) function and the Cluster's managed roles."""
    root = workroot / "cnpg-grants"
    data, sockets = root / "data", root / "run"
    for d in (root, sockets):
        d.mkdir(mode=0o755)
        chown_postgres(d)
    run_checked([*as_postgres(), str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust"])
    (port,) = free_ports(1)
    log = root / "postmaster.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [
                *as_postgres(),
                str(PG_BIN / "postgres"),
                "-D",
                str(data),
                "-p",
                str(port),
                "-c",
                "listen_addresses=",
                "-c",
                f"unix_socket_directories={sockets}",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )

    def connect(user: str, dbname: str = APP_DATABASE) -> psycopg.Connection:
        return psycopg.connect(host=str(sockets), port=port, user=user, dbname=dbname, autocommit=True)

    def ready() -> bool:
        try:
            connect("postgres", "postgres").close()
        except psycopg.OperationalError:
            return False
        return True

    try:
        wait_for(ready, 30, "postgres", proc, log)
        spec = rendered_cluster(STACK)["spec"]
        initdb = spec["bootstrap"]["initdb"]
        # One statement per Exec, autocommit, as the instance manager runs them (pkg/management/postgres/initdb.go).
        with connect("postgres", "postgres") as su:
            su.execute(f"CREATE ROLE {initdb['owner']} LOGIN")
            for sql in initdb["postInitSQL"]:
                su.execute(sql)
            su.execute(f"CREATE DATABASE {initdb['database']} OWNER {initdb['owner']}")
        with connect("postgres", initdb["database"]) as su:
            for sql in initdb["postInitApplicationSQL"]:
                su.execute(sql)
        yield connect, spec["managed"]["roles"]
    finally:
        stop(proc, signal.SIGINT, 30)


def reconcile_managed_roles(connect, managed: list[dict]) -> None:
    """What CloudNativePG's role reconciler does with a spec'd role that exists but differs: ALTER it to the spec."""
    with connect("postgres", "postgres") as su:
        for role in managed:
            flags = " ".join(
                ("" if role[attr] else "NO") + attr.upper()
                for attr in ("superuser", "createdb", "createrole", "inherit", "login", "replication", "bypassrls")
            )
            su.execute(f"ALTER ROLE {role['name']} WITH {flags} CONNECTION LIMIT {int(role['connectionLimit'])}")


def denied(connect, user: str, sql: str) -> bool:
    with connect(user) as conn:
        try:
            conn.execute(sql)
        except psycopg.errors.InsufficientPrivilege:
            return True
    return False


def test_application_roles_work_once_the_managed_roles_are_reconciled(bootstrapped):
    connect, managed = bootstrapped
    # Until the reconciler gets to them, the prepared roles cannot log in.
    with pytest.raises(psycopg.OperationalError, match="not permitted to log in"):
        connect(APP_READWRITE_USER).close()
    reconcile_managed_roles(connect, managed)
    # A migration: the owner's table, with a sequence, created after the grants ran.
    with connect("postgres") as su:
        su.execute(f"SET ROLE {APP_OWNER_ROLE}; CREATE TABLE app.t (id serial PRIMARY KEY, note text)")
    with connect(APP_READWRITE_USER) as rw:
        rw.execute("INSERT INTO t (note) VALUES ('x')")  # unqualified: search_path is the app schema
        rw.execute("UPDATE t SET note = 'y'; DELETE FROM t WHERE note = 'z'")
    with connect(APP_READONLY_USER) as ro:
        assert ro.execute("SELECT count(*) FROM t").fetchone() == (1,)
    assert denied(connect, APP_READONLY_USER, "INSERT INTO t (note) VALUES ('x')")
    for sql in ("CREATE TABLE app.x (id int)", "CREATE TABLE public.x (id int)", "DROP TABLE t"):
        assert denied(connect, APP_READWRITE_USER, sql), sql


def test_nothing_is_left_to_public_and_the_owner_has_no_login(bootstrapped):
    connect, _ = bootstrapped
    with connect("postgres", "postgres") as su:
        su.execute(f"CREATE ROLE {STRANGER} LOGIN")
    with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
        connect(STRANGER).close()
    with pytest.raises(psycopg.OperationalError, match="not permitted to log in"):
        connect(APP_OWNER_ROLE).close()
    # The operator's exporter (a pg_monitor member) still reaches the application database.
    with connect("postgres", "postgres") as su:
        su.execute(f"GRANT pg_monitor TO {STRANGER}")
    connect(STRANGER).close()


def test_the_schema_is_the_owners_and_its_later_sequences_are_usable_per_role(bootstrapped):
    connect, _ = bootstrapped
    with connect("postgres") as su:
        owner = su.execute("SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = 'app'").fetchone()
        assert owner == (APP_OWNER_ROLE,)
        su.execute(f"SET ROLE {APP_OWNER_ROLE}; CREATE SEQUENCE IF NOT EXISTS app.s")
        privileges = su.execute(
            "SELECT has_sequence_privilege(%s, 'app.s', 'USAGE'), has_sequence_privilege(%s, 'app.s', 'UPDATE')",
            (APP_READWRITE_USER, APP_READONLY_USER),
        ).fetchone()
    assert privileges == (True, False)
