"""pgbouncer.ini and its auth file for one member.

PgBouncer runs on every member and pools to that member's PostgreSQL; the router sends the pooled port only to
the primary's PgBouncer. Application users are looked up through `auth_query` (a SECURITY DEFINER function
that roles.py creates), so their passwords live only in PostgreSQL. The auth file holds just the lookup user
and the stats user, and because PgBouncer cannot read the environment it is rendered as a template that the
node's boot step fills from SECRET_ENV (`fill_template`): the lookup user's entry must be its plain password,
since PgBouncer uses it to log in to PostgreSQL (a SCRAM secret there cannot log in).
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from pathlib import PurePosixPath

from dataplane.model import (
    APP_DATABASE,
    APP_READONLY_USER,
    APP_READWRITE_USER,
    MONITORING_USER,
    POOLER_AUTH_USER,
    SECRET_ENV,
    ClusterSpec,
    Declared,
    Member,
)
from dataplane.postgresql import SUPERUSER_RESERVED_CONNECTIONS, max_connections
from dataplane.tls import tls_files
from stacks.tls import pgbouncer_protocols

AUTH_FUNCTION = "pgbouncer.get_auth"
# Connections PostgreSQL keeps for everything that is not the pool: exporters, Patroni, replication, backups.
NON_POOL_CONNECTIONS = 20


def pooled_databases(declared: Declared) -> tuple[str, ...]:
    return declared.database_names


def pooled_users(declared: Declared, database: str) -> tuple[str, ...]:
    """The login roles PgBouncer may look up and pool into `database`: the application users into the
    application database, and each declared role into its own."""
    platform = (APP_READWRITE_USER, APP_READONLY_USER) if database == APP_DATABASE else ()
    return (*platform, *(r.name for r in declared.roles if r.database == database))


def config_path(spec: ClusterSpec, member: Member) -> str:
    return str(PurePosixPath(spec.paths_for(member).config_dir) / "pgbouncer.ini")


def auth_file_path(spec: ClusterSpec, member: Member) -> str:
    """Where the filled auth file lives: the run directory (tmpfs on a node), never the config image."""
    return str(PurePosixPath(spec.paths_for(member).run_dir) / "pgbouncer-userlist.txt")


def auth_template_path(spec: ClusterSpec, member: Member) -> str:
    return str(PurePosixPath(spec.paths_for(member).config_dir) / "pgbouncer-userlist.txt.tmpl")


def pool_sizes(spec: ClusterSpec) -> dict[str, int]:
    # Budgeted against max_connections, which the smallest member sets for all.
    size = spec.smallest_size()
    server_budget = max_connections(size) - SUPERUSER_RESERVED_CONNECTIONS - NON_POOL_CONNECTIONS
    # Transaction pooling keeps a backend busy only while a transaction runs: a few per core saturate the CPU.
    default_pool = max(10, 4 * size.vcpus)
    return {
        "default_pool_size": min(default_pool, server_budget),
        "min_pool_size": min(2, default_pool),
        "reserve_pool_size": max(2, size.vcpus),
        "max_db_connections": server_budget,
        "max_user_connections": server_budget,
        "max_client_conn": max(500, 100 * size.vcpus),
    }


def render_pgbouncer_ini(spec: ClusterSpec, member: Member) -> str:
    paths = spec.paths_for(member)
    tls = tls_files(spec, member)
    settings: dict[str, str | int] = {
        "listen_addr": member.host,
        "listen_port": member.ports.pgbouncer,
        "unix_socket_dir": paths.run_dir,
        "unix_socket_mode": "0770",
        "pidfile": f"{paths.run_dir}/pgbouncer.pid",
        "logfile": f"{paths.log_dir}/pgbouncer.log",
        "auth_type": "scram-sha-256",
        "auth_file": auth_file_path(spec, member),
        "auth_user": POOLER_AUTH_USER,
        "auth_query": f"SELECT usename, passwd FROM {AUTH_FUNCTION}($1)",
        # The admin console is reached as user "pgbouncer" over the unix socket by the OS user running
        # PgBouncer; no network admin. The exporter reads SHOW STATS/POOLS as the monitoring user.
        "stats_users": MONITORING_USER,
        "pool_mode": "transaction",
        **pool_sizes(spec),
        "server_reset_query": "DISCARD ALL",
        "server_check_query": "select 1",
        "server_lifetime": 3600,
        "server_idle_timeout": 600,
        "server_connect_timeout": 5,
        "server_login_retry": 1,
        "query_wait_timeout": 30,
        "client_login_timeout": 30,
        "idle_transaction_timeout": 600,
        "ignore_startup_parameters": "extra_float_digits,search_path",
        # Clients must use TLS; the server side must too (PgBouncer's default "disable" is refused by the
        # hostssl-only pg_hba), and verifies the member certificate against the cluster CA.
        "client_tls_sslmode": "require",
        "client_tls_cert_file": tls.cert,
        "client_tls_key_file": tls.key,
        "client_tls_ca_file": tls.ca,
        # Both sides accept what PostgreSQL accepts (pg-platform:tls): the pooled path is no weaker than the direct.
        "client_tls_protocols": pgbouncer_protocols(spec.tls.min_protocol_version),
        "server_tls_sslmode": "verify-full",
        "server_tls_ca_file": tls.ca,
        "server_tls_protocols": pgbouncer_protocols(spec.tls.min_protocol_version),
        **(
            {"client_tls_ciphers": spec.tls.ciphers, "server_tls_ciphers": spec.tls.ciphers} if spec.tls.ciphers else {}
        ),
        "log_connections": 1,
        "log_disconnections": 1,
        "log_pooler_errors": 1,
        "stats_period": 60,
        "tcp_keepalive": 1,
        "tcp_keepidle": 60,
        "tcp_keepintvl": 10,
        "tcp_keepcnt": 6,
    }
    out = [
        f"; rendered by pg-platform dataplane for {spec.scope}/{member.name}; do not edit",
        "[databases]",
        *(
            f"{name} = host={member.host} port={member.ports.postgres} dbname={name}"
            for name in pooled_databases(spec.declared)
        ),
        "",
        "[pgbouncer]",
    ]
    out += [f"{k} = {v}" for k, v in settings.items()]
    return "\n".join(out) + "\n"


def render_auth_file_template(spec: ClusterSpec) -> str:
    """`"user" "${ENV}"` lines; `fill_template` turns them into the auth file at boot."""
    entries = ((POOLER_AUTH_USER, SECRET_ENV["pooler-auth"]), (MONITORING_USER, SECRET_ENV["monitoring"]))
    return "".join(f'"{user}" "${{{var}}}"\n' for user, var in entries)


# Shipped as source (inspect.getsource) in the node's fill script (render_fill_script): the formatter must not
# touch it, or the user data of every deployed stack changes.
# fmt: off
def _fill(template, env, allowed):
    # Runs both here and, as source, in the node's boot step (fill_command), so it uses only `re`.
    import re as _re

    def sub(match):
        var = match.group(1)
        if var not in allowed:
            raise KeyError(var + " is not a known secret variable")
        if not env.get(var):
            raise KeyError(var + " is not set")
        return env[var].replace('"', '""')

    return _re.sub(r"\$\{([A-Z0-9_]+)\}", sub, template)
# fmt: on


def fill_template(template: str, env: Mapping[str, str]) -> str:
    """Replace `${VAR}` with env values, for VARs in SECRET_ENV only; quotes are doubled as PgBouncer expects.

    Missing variables are an error: an empty password would lock the pooler out without saying why.
    """
    return _fill(template, env, set(SECRET_ENV.values()))


def render_fill_script() -> str:
    """The boot step behind `template_fill_command`: `fill_template` as a stdlib-only script for the node."""
    return (
        "\n".join(
            [
                "#!/usr/bin/python3",
                (
                    "# rendered by pg-platform dataplane; do not edit. "
                    "usage: TEMPLATE OUTPUT ALLOWED_VARS (comma-separated)"
                ),
                "import os, sys",
                "",
                inspect.getsource(_fill),
                "text = _fill(open(sys.argv[1]).read(), os.environ, set(sys.argv[3].split(',')))",
                "fd = os.open(sys.argv[2] + '.tmp', os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)",
                "os.write(fd, text.encode())",
                "os.close(fd)",
                "os.replace(sys.argv[2] + '.tmp', sys.argv[2])",
            ]
        )
        + "\n"
    )


def fill_script_path(spec: ClusterSpec, member: Member) -> str:
    return str(PurePosixPath(spec.paths_for(member).config_dir) / "pgp-fill-template.py")


def template_fill_command(spec: ClusterSpec, member: Member, template_path: str, out_path: str) -> list[str]:
    """Fill `template_path` into `out_path` (0600), failing if a variable is missing. Run it as the service
    user with the secrets environment; the script is one of the node's files (node_files)."""
    return [
        "/usr/bin/python3",
        fill_script_path(spec, member),
        template_path,
        out_path,
        ",".join(sorted(SECRET_ENV.values())),
    ]


def fill_command(spec: ClusterSpec, member: Member) -> list[str]:
    """PgBouncer's auth file from its template."""
    return template_fill_command(spec, member, auth_template_path(spec, member), auth_file_path(spec, member))
