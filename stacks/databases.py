"""The databases, roles and extensions a stack declares (`pg-platform:postgresql.databases` and `.roles`), and
the platform's own, defined once: stacks/ is the layer every other one may import (dataplane.model re-exports
the platform's names).

The privilege model is an onion of three tiers per database, each a NOLOGIN group: `<db>_owner` owns the
database and its schema `app` (migrations run as it), `<db>_rw` may read and write what the owner creates and
`<db>_ro` may read it, through default privileges, so no grant is ever needed after a migration. A declared
role is a LOGIN role in exactly one tier of one database. The platform's application database keeps its
historical names: app_owner, and the login users app_rw and app_ro are its rw and ro tiers.

Extensions come from a catalogue: each names the package a node installs for it (None: PostgreSQL's contrib,
always installed), the library it needs in shared_preload_libraries, whether CREATE EXTENSION may place it in
schema `app` (a relocatable one; the others create their own schema), and whether CloudNativePG's standard
operand image carries it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SUPERUSER = "postgres"
REPLICATION_USER = "replicator"
REWIND_USER = "rewinder"
POOLER_AUTH_USER = "pgbouncer_auth"
MONITORING_USER = "monitor"
APP_DATABASE = "app"
APP_OWNER_ROLE = "app_owner"  # NOLOGIN, owns the schema
APP_READWRITE_USER = "app_rw"
APP_READONLY_USER = "app_ro"
# Every database keeps its objects in this schema, never in public (closed to PUBLIC).
APP_SCHEMA = "app"

TIERS = ("owner", "rw", "ro")
# The databases the server itself has, and the platform's: none of them may be declared again.
SYSTEM_DATABASES = ("postgres", "template0", "template1")
PLATFORM_ROLES = (
    SUPERUSER,
    REPLICATION_USER,
    REWIND_USER,
    POOLER_AUTH_USER,
    MONITORING_USER,
    APP_OWNER_ROLE,
    APP_READWRITE_USER,
    APP_READONLY_USER,
)
# An unquoted identifier the server keeps as written: lower case, at most NAMEDATALEN - 1 = 63 bytes. The tier
# suffixes (_owner is the longest) must still fit, so a database name is shorter.
IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]*")
MAX_IDENTIFIER = 63
MAX_DATABASE_NAME = MAX_IDENTIFIER - len("_owner")
# The server reserves role names starting pg_ (CREATE ROLE refuses them), and the platform its own prefix.
RESERVED_ROLE_PREFIXES = ("pg_", "pgp_")
DEFAULT_CONNECTION_LIMIT = 20
# The most backends a node accepts (dataplane.postgresql.max_connections), so no role's limit may exceed it.
MAX_CONNECTIONS = 500
# Where the roles step records what it created, so what a stack stops declaring is removed (in every database).
TRACKING_SCHEMA = "pgp_platform"


def tier_role(database: str, tier: str) -> str:
    """The group a tier of `database` is; the application database's are the platform's historical roles."""
    if tier not in TIERS:
        raise ValueError(f"unknown tier {tier!r}")
    if database == APP_DATABASE:
        return {"owner": APP_OWNER_ROLE, "rw": APP_READWRITE_USER, "ro": APP_READONLY_USER}[tier]
    return f"{database}_{tier}"


@dataclass(frozen=True)
class Extension:
    name: str
    # The Debian/PGDG package holding it ({major} filled in); None for contrib, which postgresql-<major> ships.
    package: str | None = None
    preload: str | None = None  # the library shared_preload_libraries must load before CREATE EXTENSION works
    relocatable: bool = True  # CREATE EXTENSION ... SCHEMA app; the others create and keep their own schema
    on_kubernetes: bool = True  # in CloudNativePG's standard operand image
    requires: tuple[str, ...] = ()  # created first (CREATE EXTENSION ... CASCADE would pick their schema itself)
    # The server setting naming the one database the extension runs in (pg_cron's scheduler): set from the
    # database that lists it, and so at most one database may.
    database_parameter: str | None = None
    note: str = ""

    @property
    def one_database(self) -> bool:
        return self.database_parameter is not None

    def package_for(self, major: int) -> str | None:
        return self.package.format(major=major) if self.package else None


_CONTRIB = (
    "amcheck",
    "btree_gin",
    "btree_gist",
    "citext",
    "cube",
    "fuzzystrmatch",
    "hstore",
    "intarray",
    "ltree",
    "pg_buffercache",
    "pg_stat_statements",
    "pg_trgm",
    "pg_visibility",
    "pgcrypto",
    "pgrowlocks",
    "pgstattuple",
    "tablefunc",
    "unaccent",
    "uuid-ossp",
)
EXTENSIONS: dict[str, Extension] = {
    **{name: Extension(name) for name in _CONTRIB},
    "earthdistance": Extension("earthdistance", requires=("cube",)),
    # Its autoprewarm worker, which reloads the buffer cache after a restart or a failover, needs the preload.
    "pg_prewarm": Extension("pg_prewarm", preload="pg_prewarm"),
    "vector": Extension("vector", package="postgresql-{major}-pgvector"),
    "postgis": Extension("postgis", package="postgresql-{major}-postgis-3", on_kubernetes=False),
    "hypopg": Extension("hypopg", package="postgresql-{major}-hypopg", on_kubernetes=False),
    "pg_repack": Extension("pg_repack", package="postgresql-{major}-repack", relocatable=False, on_kubernetes=False),
    "pg_cron": Extension(
        "pg_cron",
        package="postgresql-{major}-cron",
        preload="pg_cron",
        relocatable=False,
        on_kubernetes=False,
        database_parameter="cron.database_name",
    ),
}


@dataclass(frozen=True)
class Database:
    name: str
    extensions: tuple[str, ...] = ()  # in creation order: each extension's requirements before it


@dataclass(frozen=True)
class Role:
    name: str
    database: str
    tier: str
    connection_limit: int = DEFAULT_CONNECTION_LIMIT

    @property
    def group(self) -> str:
        return tier_role(self.database, self.tier)


@dataclass(frozen=True)
class Declared:
    """What a stack declares beyond the platform's own roles and database."""

    databases: tuple[Database, ...] = ()
    roles: tuple[Role, ...] = ()

    def database(self, name: str) -> Database | None:
        return next((d for d in self.databases if d.name == name), None)

    @property
    def extra_databases(self) -> tuple[Database, ...]:
        """The databases the platform creates for the stack (the application database always exists)."""
        return tuple(d for d in self.databases if d.name != APP_DATABASE)

    @property
    def database_names(self) -> tuple[str, ...]:
        """Every database the stack's roles may work in: the application database and the declared ones."""
        return (APP_DATABASE, *(d.name for d in self.extra_databases))

    @property
    def extensions(self) -> tuple[Extension, ...]:
        names = dict.fromkeys(e for d in self.databases for e in d.extensions)
        return tuple(EXTENSIONS[n] for n in names)


def preload_libraries(declared: Declared) -> tuple[str, ...]:
    """The libraries the declared extensions need preloaded, in catalogue order."""
    return tuple(dict.fromkeys(e.preload for e in declared.extensions if e.preload))


def extension_packages(declared: Declared, major: int) -> tuple[str, ...]:
    return tuple(p for p in dict.fromkeys(e.package_for(major) for e in declared.extensions) if p)


def with_requirements(names: list[str]) -> tuple[str, ...]:
    """`names` with each extension's requirements added before it, once each."""
    ordered: dict[str, None] = {}
    for name in names:
        for required in EXTENSIONS[name].requires:
            ordered.setdefault(required)
        ordered.setdefault(name)
    return tuple(ordered)
