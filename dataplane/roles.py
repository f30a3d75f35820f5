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
    APP_SCHEMA,
    MONITORING_USER,
    POOLER_AUTH_USER,
    SECRET_ENV,
    ClusterSpec,
)
from dataplane.pgbouncer import AUTH_FUNCTION, pooled_users
from dataplane.postgresql import max_connections
from stacks.databases import EXTENSIONS, TIERS, TRACKING_SCHEMA, Database, Declared, tier_role

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
    total = max_connections(spec.smallest_size())
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


def privileges(also_connect: Sequence[str], database: str = APP_DATABASE) -> Privileges:
    """The rw tier DML and the ro tier SELECT in schema `app` (the owner tier's), on what exists and on what
    the owner creates later; nothing for PUBLIC on the database or in its public schema. `also_connect`: the
    roles besides the tiers that connect to the database (each flavour has its own monitoring and pooler
    roles). The application database's tiers are app_owner, app_rw and app_ro (stacks.databases.tier_role)."""
    owner, rw, ro = (tier_role(database, tier) for tier in TIERS)
    connect = ", ".join((rw, ro, *also_connect))
    default = f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA {APP_SCHEMA} GRANT"
    return Privileges(
        database=(
            f"REVOKE ALL ON DATABASE {database} FROM PUBLIC;",
            f"GRANT CONNECT ON DATABASE {database} TO {connect};",
        ),
        # PostgreSQL before 15 lets PUBLIC create in every public schema, the postgres database's included.
        maintenance=("REVOKE CREATE ON SCHEMA public FROM PUBLIC;",),
        application=(
            "REVOKE CREATE ON SCHEMA public FROM PUBLIC;",
            "REVOKE ALL ON SCHEMA public FROM PUBLIC;",
            f"CREATE SCHEMA IF NOT EXISTS {APP_SCHEMA} AUTHORIZATION {owner};",
            f"ALTER SCHEMA {APP_SCHEMA} OWNER TO {owner};",
            f"REVOKE ALL ON SCHEMA {APP_SCHEMA} FROM PUBLIC;",
            f"GRANT USAGE ON SCHEMA {APP_SCHEMA} TO {rw}, {ro};",
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {APP_SCHEMA} TO {rw};",
            f"GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA {APP_SCHEMA} TO {rw};",
            f"GRANT SELECT ON ALL TABLES IN SCHEMA {APP_SCHEMA} TO {ro};",
            f"GRANT SELECT ON ALL SEQUENCES IN SCHEMA {APP_SCHEMA} TO {ro};",
            f"{default} SELECT, INSERT, UPDATE, DELETE ON TABLES TO {rw};",
            f"{default} USAGE, SELECT, UPDATE ON SEQUENCES TO {rw};",
            f"{default} SELECT ON TABLES TO {ro};",
            f"{default} SELECT ON SEQUENCES TO {ro};",
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
        # The exporter reads the top statements in the database it connects to (pg_monitor sees every user's).
        "CREATE EXTENSION IF NOT EXISTS pg_stat_statements;",
        *declared_cluster_sql(spec.declared),
        "",
        f"\\connect {APP_DATABASE}",
        *_quiet_session(),
        *grants.application,
        "",
        *pooler_lookup_sql(spec.declared, APP_DATABASE),
        # The application database always exists: what a stack declared in it and no longer does is removed too.
        *declared_extensions_sql(spec.declared.database(APP_DATABASE) or Database(APP_DATABASE)),
    ]
    for database in spec.declared.extra_databases:
        out += [
            "",
            f"\\connect {database.name}",
            *_quiet_session(),
            *privileges(also_connect=(), database=database.name).application,
            *pooler_lookup_sql(spec.declared, database.name),
            *declared_extensions_sql(database),
        ]
    return "\n".join(out) + "\n"


def _quoted(names: Sequence[str]) -> str:
    return ", ".join(f"'{n}'" for n in names)


def pooler_lookup_sql(declared: Declared, database: str) -> list[str]:
    """PgBouncer's auth_query in `database` (it runs the lookup in the database a client asks for): a SECURITY
    DEFINER function limited to the roles pooled into it, so the lookup role never reads pg_shadow itself and
    can never fetch the superuser's or replication's secret."""
    return [
        "-- PgBouncer's auth_query: a SECURITY DEFINER lookup limited to the roles pooled into this database.",
        "CREATE SCHEMA IF NOT EXISTS pgbouncer;",
        "REVOKE ALL ON SCHEMA pgbouncer FROM PUBLIC;",
        f"GRANT USAGE ON SCHEMA pgbouncer TO {POOLER_AUTH_USER};",
        f"CREATE OR REPLACE FUNCTION {AUTH_FUNCTION}(p_usename text)",
        "RETURNS TABLE (usename name, passwd text)",
        "LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$",
        "    SELECT s.usename, s.passwd FROM pg_catalog.pg_shadow s",
        f"    WHERE s.usename = p_usename AND s.usename IN ({_quoted(pooled_users(declared, database))})",
        "$$;",
        f"REVOKE ALL ON FUNCTION {AUTH_FUNCTION}(text) FROM PUBLIC;",
        f"GRANT EXECUTE ON FUNCTION {AUTH_FUNCTION}(text) TO {POOLER_AUTH_USER};",
    ]


def _quiet_session() -> list[str]:
    return ["SET log_statement = 'none';", "SET pgaudit.log = 'none';"]


def _tracking_table(table: str) -> list[str]:
    return [
        f"CREATE SCHEMA IF NOT EXISTS {TRACKING_SCHEMA};",
        f"REVOKE ALL ON SCHEMA {TRACKING_SCHEMA} FROM PUBLIC;",
        f"CREATE TABLE IF NOT EXISTS {TRACKING_SCHEMA}.{table} (name name PRIMARY KEY);",
    ]


def _array(names: Sequence[str]) -> str:
    return f"ARRAY[{_quoted(names)}]::name[]"


def _remove_undeclared_roles(declared: Declared) -> str:
    """Roles the roles step created and the stack no longer declares: dropped when they own nothing in any
    database (pg_shdepend), else kept as NOLOGIN with a warning, so no object and no data is lost."""
    return (
        "DO $$ DECLARE r record; BEGIN\n"
        f"  FOR r IN SELECT name FROM {TRACKING_SCHEMA}.managed_roles "
        f"WHERE name <> ALL ({_array([role.name for role in declared.roles])}) LOOP\n"
        "    IF EXISTS (SELECT FROM pg_shdepend d JOIN pg_roles x ON x.oid = d.refobjid\n"
        "               WHERE d.refclassid = 'pg_authid'::regclass AND x.rolname = r.name) THEN\n"
        "      EXECUTE format('ALTER ROLE %I NOLOGIN', r.name);\n"
        "      RAISE WARNING 'role % is no longer declared but owns objects: kept as NOLOGIN', r.name;\n"
        "    ELSE\n"
        "      EXECUTE format('DROP ROLE IF EXISTS %I', r.name);\n"
        f"      DELETE FROM {TRACKING_SCHEMA}.managed_roles WHERE name = r.name;\n"
        "    END IF;\n"
        "  END LOOP;\n"
        "END $$;"
    )


def _remove_undeclared_extensions(database: Database) -> str:
    """Extensions the roles step created in this database and the stack no longer lists: dropped RESTRICT, so
    one that objects still depend on stays (with a warning) instead of taking columns or indexes with it."""
    return (
        "DO $$ DECLARE r record; BEGIN\n"
        f"  FOR r IN SELECT name FROM {TRACKING_SCHEMA}.managed_extensions "
        f"WHERE name <> ALL ({_array(database.extensions)}) LOOP\n"
        "    BEGIN\n"
        "      EXECUTE format('DROP EXTENSION IF EXISTS %I RESTRICT', r.name);\n"
        f"      DELETE FROM {TRACKING_SCHEMA}.managed_extensions WHERE name = r.name;\n"
        "    EXCEPTION WHEN dependent_objects_still_exist THEN\n"
        "      RAISE WARNING 'extension % is no longer declared but objects depend on it: kept', r.name;\n"
        "    END;\n"
        "  END LOOP;\n"
        "END $$;"
    )


def _create_extension(name: str) -> str:
    schema = f" SCHEMA {APP_SCHEMA}" if EXTENSIONS[name].relocatable else ""
    return f'CREATE EXTENSION IF NOT EXISTS "{name}"{schema};'


def declared_cluster_sql(declared: Declared) -> list[str]:
    """The stack's databases (with their tier groups) and its login roles (each in one tier), in the session on
    the postgres database; then the roles it no longer declares are removed. A database is never dropped: its
    data stays, and with its pooler entry and pg_hba lines gone only the superuser reaches it."""
    out = [
        "",
        "-- declared databases and roles (pg-platform:postgresql.databases, .roles)",
        *_tracking_table("managed_roles"),
    ]
    for database in declared.extra_databases:
        name = database.name
        for tier in TIERS:
            out += [
                _create_role(tier_role(name, tier), login=False),
                f"ALTER ROLE {tier_role(name, tier)} WITH NOLOGIN {_SAFE};",
            ]
        owner = tier_role(name, "owner")
        out += [
            f"SELECT 'CREATE DATABASE {name} OWNER {owner}' "
            f"WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_database WHERE datname = '{name}')\n\\gexec",
            f"ALTER DATABASE {name} OWNER TO {owner};",
            *privileges(also_connect=(MONITORING_USER, POOLER_AUTH_USER), database=name).database,
        ]
    groups = [tier_role(d, t) for d in declared.database_names for t in TIERS]
    for role in declared.roles:
        out += [
            _create_role(role.name, login=True),
            f"ALTER ROLE {role.name} WITH LOGIN {_SAFE} CONNECTION LIMIT {role.connection_limit};",
            search_path_sql(role.name),
            # An owner-tier session acts as the owner group, so what a migration creates belongs to the group and
            # the default privileges hand it to the rw and ro tiers.
            f"ALTER ROLE {role.name} SET role = '{role.group}';"
            if role.tier == "owner"
            else f"ALTER ROLE {role.name} RESET role;",
            f"GRANT {role.group} TO {role.name};",
            "SELECT format('REVOKE %I FROM %I', g.rolname, u.rolname) FROM pg_auth_members m "
            "JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles u ON u.oid = m.member "
            f"WHERE u.rolname = '{role.name}' AND g.rolname <> '{role.group}' "
            f"AND g.rolname = ANY ({_array(groups)})\n\\gexec",
            f"INSERT INTO {TRACKING_SCHEMA}.managed_roles VALUES ('{role.name}') ON CONFLICT DO NOTHING;",
        ]
    out.append(_remove_undeclared_roles(declared))
    return out


def declared_extensions_sql(database: Database) -> list[str]:
    """The database's declared extensions, in a session on it; then those it no longer lists are removed."""
    return [
        *_tracking_table("managed_extensions"),
        *(_create_extension(e) for e in database.extensions),
        *(
            f"INSERT INTO {TRACKING_SCHEMA}.managed_extensions VALUES ('{e}') ON CONFLICT DO NOTHING;"
            for e in database.extensions
        ),
        _remove_undeclared_extensions(database),
    ]


def psql_variable_arguments(env: dict[str, str]) -> list[str]:
    """`-v name=value` arguments for psql from the node's environment (values never touch a file)."""
    missing = [var for var in PSQL_VARIABLES.values() if not env.get(var)]
    if missing:
        raise KeyError(f"missing secret variables: {', '.join(missing)}")
    return [arg for name, var in PSQL_VARIABLES.items() for arg in ("-v", f"{name}={env[var]}")]
