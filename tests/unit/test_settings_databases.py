"""pg-platform:postgresql.databases and .roles: what a DBA declares is checked before anything is built (each
refusal names its key and the fix), and reaches every file that depends on it: the roles SQL, pg_hba,
PgBouncer's databases, shared_preload_libraries and the packages a member installs."""

from __future__ import annotations

import pytest

from components.aws.spec import aws_cluster_spec
from dataplane import configure, pgbouncer
from dataplane.boot.member import packages
from dataplane.pg_hba import hba_rules
from dataplane.postgresql import postgresql_parameters
from dataplane.roles import render_role_sql
from stacks.databases import EXTENSIONS, Database, Role, extension_packages, tier_role
from stacks.errors import SettingsError
from stacks.topology import derive_topology
from tests.unit.stack_helpers import settings_with

KEY = "pg-platform:postgresql"
ORDERS = {"orders": {"extensions": ["earthdistance", "pg_prewarm", "vector"]}, "app": {"extensions": ["citext"]}}
ROLES = {
    "orders_api": {"database": "orders", "tier": "rw", "connection_limit": 30},
    "orders_migrator": {"database": "orders", "tier": "owner"},
    "reporting": {"database": "app", "tier": "ro"},
}


def declared(stack: str = "prod", databases: object = ORDERS, roles: object = ROLES):
    return settings_with(stack, postgresql={"databases": databases, "roles": roles})


def refused(stack: str = "prod", databases: object = None, roles: object = None) -> dict[str, tuple[str, str]]:
    with pytest.raises(SettingsError) as caught:
        declared(stack, databases, roles)
    return {p.key: (p.message, p.fix) for p in caught.value.problems}


def spec_for(settings):
    return aws_cluster_spec(settings, derive_topology(settings), "123456789012")


def test_nothing_declared_is_the_default():
    settings = settings_with("prod")
    assert settings.postgresql.declared.databases == () and settings.postgresql.declared.roles == ()
    spec = spec_for(settings)
    assert pgbouncer.pooled_databases(spec.declared) == ("app",)


def test_declarations_parse_with_requirements_first_and_the_default_limit():
    found = declared().postgresql.declared
    assert found.databases == (
        Database("orders", ("cube", "earthdistance", "pg_prewarm", "vector")),
        Database("app", ("citext",)),
    )
    assert found.roles == (
        Role("orders_api", "orders", "rw", 30),
        Role("orders_migrator", "orders", "owner", 20),
        Role("reporting", "app", "ro", 20),
    )
    assert [r.group for r in found.roles] == ["orders_rw", "orders_owner", "app_ro"]
    assert tier_role("app", "owner") == "app_owner"


@pytest.mark.parametrize(
    ("databases", "roles", "key", "words"),
    [
        ({"Orders": None}, None, "databases.Orders", "lower-case identifier"),
        ({"o" * 58: None}, None, f"databases.{'o' * 58}", "at most 57"),
        ({"template1": None}, None, "databases.template1", "server's own databases"),
        ({"pg_orders": None}, None, "databases.pg_orders", "keeps for itself"),
        ({"orders": {"extensions": ["pg_trgrm"]}}, None, "databases.orders.extensions[0]", "not an extension"),
        ({"orders": {"extensions": ["citext", "citext"]}}, None, "databases.orders.extensions[1]", "listed twice"),
        (
            {"a": {"extensions": ["pg_cron"]}, "b": {"extensions": ["pg_cron"]}},
            None,
            "databases.b.extensions[0]",
            "one database only",
        ),
        ({"orders": {"schemas": ["x"]}}, None, "databases.orders.schemas", "unknown key"),
        (["orders"], None, "databases", "must be a mapping"),
        (None, {"orders_api": {"database": "orders", "tier": "rw"}}, "roles.orders_api.database", "not a database"),
        (None, {"api": {"database": "app", "tier": "admin"}}, "roles.api.tier", "not supported"),
        (None, {"api": {"database": "app"}}, "roles.api.tier", "is required"),
        (None, {"api": {"tier": "rw"}}, "roles.api.database", "is required"),
        (None, {"app_rw": {"database": "app", "tier": "rw"}}, "roles.app_rw", "platform creates itself"),
        (None, {"pg_api": {"database": "app", "tier": "rw"}}, "roles.pg_api", "keeps for itself"),
        (
            {"orders": None},
            {"orders_ro": {"database": "orders", "tier": "ro"}},
            "roles.orders_ro",
            "platform creates itself",
        ),
        (
            None,
            {"api": {"database": "app", "tier": "rw", "connection_limit": 0}},
            "roles.api.connection_limit",
            "range",
        ),
        (
            None,
            {"api": {"database": "app", "tier": "rw", "connection_limit": 501}},
            "roles.api.connection_limit",
            "range",
        ),
        (None, {"api": "rw"}, "roles.api", "must be a mapping"),
    ],
)
def test_each_bad_declaration_is_refused_naming_its_key(databases, roles, key, words):
    problems = refused(databases=databases, roles=roles)
    assert f"{KEY}.{key}" in problems, problems
    message, fix = problems[f"{KEY}.{key}"]
    assert words in message and fix


def test_a_misspelt_extension_is_answered_with_the_close_one():
    _, fix = refused(databases={"orders": {"extensions": ["pg_trgrm"]}})[f"{KEY}.databases.orders.extensions[0]"]
    assert "pg_trgm" in fix


def test_kubernetes_stacks_refuse_declarations_with_the_way_there():
    problems = refused("k8s-dev", databases={"orders": None})
    message, fix = problems[f"{KEY}.databases"]
    assert "CloudNativePG" in message and "Database resource" in fix


def test_declarations_reach_roles_hba_pooler_preload_and_packages():
    spec = spec_for(declared())
    member = spec.members[0]
    sql = render_role_sql(spec, variables_from_env=True)
    for expected in (
        "CREATE DATABASE orders OWNER orders_owner",
        "ALTER ROLE orders_api WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT "
        "CONNECTION LIMIT 30;",
        "GRANT orders_rw TO orders_api;",
        "ALTER ROLE orders_migrator SET role = 'orders_owner';",
        "GRANT app_ro TO reporting;",
        "\\connect orders\nSET log_statement",
        'CREATE EXTENSION IF NOT EXISTS "cube" SCHEMA app;',
        "ALTER DEFAULT PRIVILEGES FOR ROLE orders_owner IN SCHEMA app GRANT SELECT ON TABLES TO orders_ro;",
        "s.usename IN ('orders_api', 'orders_migrator')",
        "s.usename IN ('app_rw', 'app_ro', 'reporting')",
    ):
        assert expected in sql, expected
    # The application database takes its extension in the session the script already has on it.
    assert sql.count("\\connect app") == 1 and 'CREATE EXTENSION IF NOT EXISTS "citext" SCHEMA app;' in sql
    # pg_cron is not relocatable: it keeps its own schema.
    assert 'CREATE EXTENSION IF NOT EXISTS "pg_cron";' in render_role_sql(
        spec_for(declared(databases={"jobs": {"extensions": ["pg_cron"]}}, roles={})), variables_from_env=True
    )
    rules = {(r.database, r.user, r.address) for r in hba_rules(spec)}
    client = spec.client_cidrs[0]
    assert ("orders", "orders_api,orders_migrator", client) in rules
    assert ("app", "app_rw,app_ro,reporting", client) in rules
    assert ("orders", "pgbouncer_auth", f"{member.host}/32") in rules
    ini = pgbouncer.render_pgbouncer_ini(spec, member)
    assert f"orders = host={member.host} port={member.ports.postgres} dbname=orders" in ini
    preload = postgresql_parameters(spec, member)["shared_preload_libraries"]
    assert preload == "pgaudit,pg_stat_statements,pg_prewarm"
    major = spec.topology.postgres_major
    assert extension_packages(spec.declared, major) == (f"postgresql-{major}-pgvector",)
    assert f"postgresql-{major}-pgvector" in packages(spec, _aws_boot())
    assert configure.bundle(spec, member)["packages"] == [f"postgresql-{major}-pgvector"]


def test_pg_cron_runs_in_the_database_that_lists_it():
    spec = spec_for(declared(databases={"jobs": {"extensions": ["pg_cron"]}}, roles={}))
    params = postgresql_parameters(spec, spec.members[0])
    assert params["cron.database_name"] == "jobs"
    assert params["shared_preload_libraries"].endswith(",pg_cron")
    assert "cron.database_name" not in postgresql_parameters(spec_for(declared()), spec.members[0])


def test_a_database_without_login_roles_gets_no_pg_hba_line():
    spec = spec_for(declared(databases={"archive": None}, roles={}))
    assert not [r for r in hba_rules(spec) if r.database == "archive"]
    assert "archive = host=" in pgbouncer.render_pgbouncer_ini(spec, spec.members[0])


def test_every_catalogued_package_is_per_major_and_every_preload_is_its_own_library():
    for extension in EXTENSIONS.values():
        if extension.package:
            assert "{major}" in extension.package, extension
        if extension.preload:
            assert extension.preload == extension.name, extension
        for required in extension.requires:
            assert required in EXTENSIONS


def _aws_boot():
    from dataplane.boot.aws import AwsBoot

    return AwsBoot(region="eu-west-1")
