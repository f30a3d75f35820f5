"""pg-platform:postgresql.databases and .roles on a real PostgreSQL 15 and PgBouncer: the roles step creates
each database with its tier groups, schema `app` and default privileges, each login role in its tier, and
each extension (one of them preloaded); applied again it changes nothing, and what a stack stops declaring is
removed without losing an object."""

from __future__ import annotations

import dataclasses

from conftest import DECLARED, apply_roles
from dataplane_support import psql_local, psql_sql

from stacks.databases import Database, Declared, Role

PASSWORD = "declared-role-S3cr3t-01"


def _set_password(spec, role: str) -> None:
    # What `pgp user rotate` does for a declared role: the platform never sets one in the roles step.
    psql_local(spec, f"set log_statement = 'none'; alter role {role} password '{PASSWORD}'")


def test_the_declared_database_has_its_tiers_schema_and_extensions(pg_declared):
    spec = pg_declared
    assert psql_local(spec, "select pg_get_userbyid(datdba) from pg_database where datname = 'orders'") == (
        "orders_owner\n"
    )
    groups = psql_local(
        spec, "select rolname, rolcanlogin from pg_roles where rolname like 'orders\\_%' order by 1"
    ).split()
    assert groups == [
        "orders_api|t",
        "orders_migrator|t",
        "orders_owner|f",
        "orders_report|t",
        "orders_ro|f",
        "orders_rw|f",
    ]
    extensions = psql_local(
        spec,
        "select extname, extnamespace::regnamespace from pg_extension where extname <> 'plpgsql' order by 1",
        "orders",
    ).split()
    assert extensions == ["pg_prewarm|app", "pg_trgm|app"]
    assert psql_local(spec, "select extnamespace::regnamespace from pg_extension where extname = 'citext'", "app") == (
        "app\n"
    )
    assert psql_local(spec, "show shared_preload_libraries").strip().split(",")[-1] == "pg_prewarm"
    limit = psql_local(spec, "select rolconnlimit from pg_roles where rolname = 'orders_api'")
    assert limit.strip() == "7"
    # Nobody but the tiers (and the platform's monitoring and pooler roles) may connect.
    public = psql_local(spec, "select has_database_privilege('public', 'orders', 'connect')")
    assert public.strip() == "f"


def test_each_tier_gets_what_the_owner_creates_later(pg_declared):
    spec = pg_declared
    for role in ("orders_migrator", "orders_api", "orders_report"):
        _set_password(spec, role)
    created = psql_sql(
        spec, "orders_migrator", PASSWORD, "create table t (id int, note text); select current_user", db="orders"
    )
    assert created.returncode == 0, created.stderr
    # The owner tier's sessions act as the group, so the table is the group's and the default privileges apply.
    assert created.stdout.split() == ["CREATE", "TABLE", "orders_owner"]
    assert psql_local(spec, "select tableowner from pg_tables where tablename = 't'", "orders").strip() == (
        "orders_owner"
    )
    wrote = psql_sql(spec, "orders_api", PASSWORD, "insert into t values (1, 'x'); select count(*) from t", db="orders")
    assert wrote.returncode == 0 and wrote.stdout.split()[-1] == "1", wrote.stderr
    read = psql_sql(spec, "orders_report", PASSWORD, "select count(*) from t", db="orders")
    assert read.returncode == 0 and read.stdout.strip() == "1", read.stderr
    for role, sql in (
        ("orders_report", "insert into t values (2)"),
        ("orders_api", "create table u (id int)"),
        ("orders_api", "drop table t"),
    ):
        denied = psql_sql(spec, role, PASSWORD, sql, db="orders")
        assert denied.returncode != 0, (role, sql)
        assert "must be owner" in denied.stderr or "permission denied" in denied.stderr, denied.stderr
    # A role of one database reaches no other (only the final reject matches it there).
    other = psql_sql(spec, "orders_api", PASSWORD, "select 1", db="app")
    assert other.returncode != 0 and "pg_hba.conf rejects connection" in other.stderr, other.stderr


def test_pgbouncer_pools_a_declared_role_into_its_database(pg_declared):
    spec = pg_declared
    m = spec.members[0]
    _set_password(spec, "orders_api")
    pooled = psql_sql(
        spec, "orders_api", PASSWORD, "select current_database(), current_user", db="orders", port=m.ports.pgbouncer
    )
    assert pooled.returncode == 0 and pooled.stdout.strip() == "orders|orders_api", pooled.stderr
    # The lookup in orders admits only orders' roles, never an application user of another database.
    lookup = psql_local(spec, "select count(*) from pgbouncer.get_auth('app_rw')", "orders")
    assert lookup.strip() == "0"


def test_a_tier_change_and_removals_apply_without_losing_an_object(pg_declared):
    spec = pg_declared
    psql_local(spec, "create table if not exists app.kept (id int); alter table app.kept owner to app_report", "app")
    changed = Declared(
        databases=(Database("orders", ("pg_prewarm",)), Database("app", ())),
        roles=(
            Role("orders_migrator", "orders", "owner"),
            Role("orders_api", "orders", "ro"),  # was rw
        ),
    )
    try:
        done = apply_roles(dataclasses.replace(spec, declared=changed))
        # orders_report is gone; app_report owns a table, so it stays, without login.
        roles = psql_local(spec, "select rolname, rolcanlogin from pg_roles where rolname like '%\\_report' order by 1")
        assert roles.split() == ["app_report|f"]
        assert "owns objects: kept as NOLOGIN" in done.stderr
        tier = psql_local(
            spec,
            "select string_agg(g.rolname, ',' order by 1) from pg_auth_members m join pg_roles g on g.oid = m.roleid "
            "join pg_roles u on u.oid = m.member where u.rolname = 'orders_api'",
        )
        assert tier.strip() == "orders_ro"
        assert psql_local(spec, "select count(*) from pg_extension where extname = 'pg_trgm'", "orders").strip() == "0"
        assert psql_local(spec, "select count(*) from pg_extension where extname = 'citext'", "app").strip() == "0"
        # The database and its data stay whatever the declarations say.
        assert psql_local(spec, "select count(*) from pg_database where datname = 'orders'").strip() == "1"
        again = apply_roles(dataclasses.replace(spec, declared=changed))
        assert "WARNING" in again.stderr  # app_report still owns its table: said again, still kept
    finally:
        psql_local(spec, "drop table if exists app.kept", "app")
        apply_roles(dataclasses.replace(spec, declared=DECLARED))
    assert psql_local(spec, "select rolcanlogin from pg_roles where rolname = 'app_report'").strip() == "t"
    assert psql_local(spec, "select count(*) from pg_extension where extname = 'pg_trgm'", "orders").strip() == "1"


def test_rotate_sets_a_password_the_server_accepts_without_ever_receiving_it(pg_declared):
    from dataplane import console

    spec = pg_declared
    password, salt = console.new_password()
    sql = console.rotate_sql(spec, "orders_report", console.scram_verifier(password, salt))
    assert password not in sql
    assert psql_local(spec, sql).split()[-1] == "orders_report"
    logged_in = psql_sql(spec, "orders_report", password, "select current_user", db="orders")
    assert logged_in.returncode == 0 and logged_in.stdout.strip() == "orders_report", logged_in.stderr
    assert psql_sql(spec, "orders_report", PASSWORD, "select 1", db="orders").returncode != 0
    # The verifier is what the server stores: the server built the same one from the same salt.
    stored = psql_local(spec, "select rolpassword from pg_authid where rolname = 'orders_report'").strip()
    assert stored == console.scram_verifier(password, salt)
