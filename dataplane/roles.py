"""Role and privilege SQL, run with psql as the superuser on the primary after bootstrap; idempotent.

Applications get app_rw (DML) and app_ro (SELECT), never ownership, superuser, CREATEROLE or CREATEDB. The schema
`app` belongs to app_owner (NOLOGIN); migrations run as a member of app_owner (`SET ROLE app_owner`), and
default privileges make whatever app_owner creates usable by app_rw/app_ro without further grants.
Passwords are psql variables (`psql -v app_rw_password=...`, see PSQL_VARIABLES), never literals, and the
script turns statement/audit logging off for its own session so the password-setting statements do not land
in the server log. Replication and rewind users are created by Patroni from its authentication section.
The privileges themselves (`privileges`) are not psql's: dataplane.cnpg runs the same statements in the
Kubernetes Cluster's bootstrap.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dataplane.model import (
    APP_DATABASE,
    APP_OWNER_ROLE,
    APP_READONLY_USER,
    APP_READWRITE_USER,
    MONITORING_USER,
    POOLER_AUTH_USER,
    SECRET_ENV,
    ClusterSpec,
)
from dataplane.pgbouncer import AUTH_FUNCTION
from dataplane.postgresql import max_connections

APP_SCHEMA = "app"
# psql variable -> environment variable holding its value on the node (from SECRET_ENV).
PSQL_VARIABLES: dict[str, str] = {
    "app_rw_password": SECRET_ENV["app-readwrite"],
    "app_ro_password": SECRET_ENV["app-readonly"],
    "monitor_password": SECRET_ENV["monitoring"],
    "pooler_auth_password": SECRET_ENV["pooler-auth"],
}
_LOGIN_ROLES = (
    # role, psql variable, share of max_connections (CIS 5.5: every login role has a connection limit)
    (APP_READWRITE_USER, "app_rw_password", 0.6),
    (APP_READONLY_USER, "app_ro_password", 0.3),
)
MONITOR_CONNECTION_LIMIT = 5
POOLER_AUTH_CONNECTION_LIMIT = 10


def connection_limits(spec: ClusterSpec) -> dict[str, int]:
    total = max_connections(spec.topology.node_size)
    limits = {role: max(5, int(total * share)) for role, _, share in _LOGIN_ROLES}
    limits[MONITORING_USER] = MONITOR_CONNECTION_LIMIT
    limits[POOLER_AUTH_USER] = POOLER_AUTH_CONNECTION_LIMIT
    return limits


def _create_role(name: str, login: bool) -> str:
    kind = "LOGIN" if login else "NOLOGIN"
    return (
        f"SELECT format('CREATE ROLE %I {kind}', '{name}') "
        f"WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = '{name}')\n\\gexec"
    )


_SAFE = "NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT"


def create_nologin_role_sql(name: str) -> str:
    """The role as NOLOGIN unless it exists, as one statement for runners without psql's \\gexec (CloudNativePG's
    postInit SQL): grants can then name it before whatever manages its login and password gets to it."""
    return (
        f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = '{name}') "
        f"THEN CREATE ROLE {name} NOLOGIN; END IF; END $$;"
    )


def owner_role_sql() -> str:
    """The owner holds the application's objects and never a session of its own (migrations SET ROLE to it)."""
    return f"ALTER ROLE {APP_OWNER_ROLE} WITH NOLOGIN {_SAFE};"


def search_path_sql(role: str) -> str:
    return f"ALTER ROLE {role} SET search_path = {APP_SCHEMA};"


@dataclass(frozen=True)
class Privileges:
    """What the application roles may do, as statements grouped by the session that has to run them."""

    database: tuple[str, ...]  # the application database's ACL: any session, once the database exists
    maintenance: tuple[str, ...]  # connected to the postgres database
    application: tuple[str, ...]  # connected to the application database, once the owner and the users exist


def privileges(also_connect: Sequence[str]) -> Privileges:
    """app_rw DML and app_ro SELECT in schema `app` (app_owner's), on what exists and on what app_owner creates
    later; nothing for PUBLIC on the application database or in the public schemas. `also_connect`: the roles
    besides the application users that connect to the application database (each flavour has its own
    monitoring and pooler roles)."""
    connect = ", ".join((APP_READWRITE_USER, APP_READONLY_USER, *also_connect))
    app_users = f"{APP_READWRITE_USER}, {APP_READONLY_USER}"
    default = f"ALTER DEFAULT PRIVILEGES FOR ROLE {APP_OWNER_ROLE} IN SCHEMA {APP_SCHEMA} GRANT"
    return Privileges(
        database=(
            f"REVOKE ALL ON DATABASE {APP_DATABASE} FROM PUBLIC;",
            f"GRANT CONNECT ON DATABASE {APP_DATABASE} TO {connect};",
        ),
        # PostgreSQL before 15 lets PUBLIC create in every public schema, the postgres database's included.
        maintenance=("REVOKE CREATE ON SCHEMA public FROM PUBLIC;",),
        application=(
            "REVOKE CREATE ON SCHEMA public FROM PUBLIC;",
            "REVOKE ALL ON SCHEMA public FROM PUBLIC;",
            f"CREATE SCHEMA IF NOT EXISTS {APP_SCHEMA} AUTHORIZATION {APP_OWNER_ROLE};",
            f"ALTER SCHEMA {APP_SCHEMA} OWNER TO {APP_OWNER_ROLE};",
            f"REVOKE ALL ON SCHEMA {APP_SCHEMA} FROM PUBLIC;",
            f"GRANT USAGE ON SCHEMA {APP_SCHEMA} TO {app_users};",
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {APP_SCHEMA} TO {APP_READWRITE_USER};",
            f"GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA {APP_SCHEMA} TO {APP_READWRITE_USER};",
            f"GRANT SELECT ON ALL TABLES IN SCHEMA {APP_SCHEMA} TO {APP_READONLY_USER};",
            f"GRANT SELECT ON ALL SEQUENCES IN SCHEMA {APP_SCHEMA} TO {APP_READONLY_USER};",
            f"{default} SELECT, INSERT, UPDATE, DELETE ON TABLES TO {APP_READWRITE_USER};",
            f"{default} USAGE, SELECT, UPDATE ON SEQUENCES TO {APP_READWRITE_USER};",
            f"{default} SELECT ON TABLES TO {APP_READONLY_USER};",
            f"{default} SELECT ON SEQUENCES TO {APP_READONLY_USER};",
        ),
    )


def render_role_sql(spec: ClusterSpec, variables_from_env: bool = False) -> str:
    """The script. With `variables_from_env` it sets the psql variables itself from the environment
    (SECRET_ENV names), so no password appears on a command line (`ps` shows psql's -v arguments)."""
    limits = connection_limits(spec)
    grants = privileges(also_connect=(MONITORING_USER, POOLER_AUTH_USER))
    out = [
        f"-- rendered by pg-platform dataplane for {spec.scope}; run as the superuser with psql -v for "
        + ", ".join(PSQL_VARIABLES),
        "\\set ON_ERROR_STOP on",
    ]
    if variables_from_env:
        out += [f"\\set {name} `printenv {var}`" for name, var in PSQL_VARIABLES.items()]
    out += [
        # Keep the password statements out of the server log and the audit log (this session only).
        "SET log_statement = 'none';",
        "SET pgaudit.log = 'none';",
        "SET log_min_duration_statement = -1;",
    ]
    # An empty password would silently disable the login (PostgreSQL clears it): stop instead.
    for name in PSQL_VARIABLES:
        out += [
            f"SELECT :'{name}' = '' AS pgp_empty \\gset",
            "\\if :pgp_empty",
            f"DO $$ BEGIN RAISE EXCEPTION 'psql variable {name} is empty'; END $$;",
            "\\endif",
        ]
    out += [
        "",
        "-- roles",
        _create_role(APP_OWNER_ROLE, login=False),
        owner_role_sql(),
    ]
    for role, var, _ in _LOGIN_ROLES:
        out += [
            _create_role(role, login=True),
            f"ALTER ROLE {role} WITH LOGIN {_SAFE} CONNECTION LIMIT {limits[role]} PASSWORD :'{var}';",
            search_path_sql(role),
        ]
    out += [
        _create_role(MONITORING_USER, login=True),
        f"ALTER ROLE {MONITORING_USER} WITH LOGIN {_SAFE} CONNECTION LIMIT {limits[MONITORING_USER]} "
        f"PASSWORD :'monitor_password';",
        f"GRANT pg_monitor TO {MONITORING_USER};",
        _create_role(POOLER_AUTH_USER, login=True),
        f"ALTER ROLE {POOLER_AUTH_USER} WITH LOGIN {_SAFE} CONNECTION LIMIT {limits[POOLER_AUTH_USER]} "
        f"PASSWORD :'pooler_auth_password';",
        "",
        "-- the application database",
        f"SELECT 'CREATE DATABASE {APP_DATABASE} OWNER {APP_OWNER_ROLE}' "
        f"WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_database WHERE datname = '{APP_DATABASE}')\n\\gexec",
        f"ALTER DATABASE {APP_DATABASE} OWNER TO {APP_OWNER_ROLE};",
        *grants.database,
        *grants.maintenance,
        "",
        f"\\connect {APP_DATABASE}",
        "SET log_statement = 'none';",
        "SET pgaudit.log = 'none';",
        *grants.application,
        "",
        "-- PgBouncer's auth_query: a SECURITY DEFINER lookup limited to the application users, so the lookup",
        "-- role never reads pg_shadow itself and can never fetch the superuser's or replication's secret.",
        "CREATE SCHEMA IF NOT EXISTS pgbouncer;",
        "REVOKE ALL ON SCHEMA pgbouncer FROM PUBLIC;",
        f"GRANT USAGE ON SCHEMA pgbouncer TO {POOLER_AUTH_USER};",
        f"CREATE OR REPLACE FUNCTION {AUTH_FUNCTION}(p_usename text)",
        "RETURNS TABLE (usename name, passwd text)",
        "LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$",
        "    SELECT s.usename, s.passwd FROM pg_catalog.pg_shadow s",
        f"    WHERE s.usename = p_usename AND s.usename IN ('{APP_READWRITE_USER}', '{APP_READONLY_USER}')",
        "$$;",
        f"REVOKE ALL ON FUNCTION {AUTH_FUNCTION}(text) FROM PUBLIC;",
        f"GRANT EXECUTE ON FUNCTION {AUTH_FUNCTION}(text) TO {POOLER_AUTH_USER};",
    ]
    return "\n".join(out) + "\n"


def psql_variable_arguments(env: dict[str, str]) -> list[str]:
    """`-v name=value` arguments for psql from the node's environment (values never touch a file)."""
    missing = [var for var in PSQL_VARIABLES.values() if not env.get(var)]
    if missing:
        raise KeyError(f"missing secret variables: {', '.join(missing)}")
    return [arg for name, var in PSQL_VARIABLES.items() for arg in ("-v", f"{name}={env[var]}")]
