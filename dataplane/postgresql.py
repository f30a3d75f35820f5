"""PostgreSQL parameters for one member, from the topology and the node size.

Patroni writes them into postgresql.conf (patroni.py); `render_postgresql_conf` gives the same settings as a
plain file for an instance started without Patroni (tests, scratch restores). Every CIS PostgreSQL control
the policy pack checks is set here, in one place.
"""

from __future__ import annotations

from dataplane.model import ClusterSpec, Member
from dataplane.pgbackrest import ARCHIVE_NOTHING_COMMAND, archive_get_command, archive_push_command
from dataplane.tls import tls_files
from stacks.databases import EXTENSIONS, MAX_CONNECTIONS, preload_libraries
from stacks.pg_catalog import PLATFORM_OWNED
from stacks.sizes import NodeSize

# A parameter value as postgresql.conf takes it: a string, an integer or a real (checkpoint_completion_target).
Parameter = str | int | float

SUPPORTED_MAJORS = (14, 15, 16, 17)
PRELOAD_LIBRARIES = ("pgaudit", "pg_stat_statements")
# Connections kept for superuser maintenance (Patroni, pgBackRest) when applications exhaust the rest.
SUPERUSER_RESERVED_CONNECTIONS = 5
# WAL senders/slots beyond the members: pg_basebackup and pgBackRest need their own.
EXTRA_WAL_SENDERS = 4
# Sessions idle in a transaction hold locks and the xmin horizon: PostgreSQL ends them after this long.
IDLE_IN_TRANSACTION_TIMEOUT_SECONDS = 600
# Initdb options; checksums can only be chosen at initdb time and protect pgBackRest's page verification.
INITDB_OPTIONS: tuple[str | dict[str, str], ...] = (
    "data-checksums",
    {"encoding": "UTF8"},
    {"locale": "C.UTF-8"},
    {"auth-local": "peer"},
    {"auth-host": "scram-sha-256"},
)


def _mb(value: int) -> str:
    return f"{max(1, value)}MB"


def max_connections(size: NodeSize) -> int:
    """Direct backends a node accepts. PgBouncer multiplexes clients, so this scales with cores, not users."""
    return max(100, min(MAX_CONNECTIONS, 50 * size.vcpus))


def max_wal_size_mb(size: NodeSize) -> int:
    """WAL between checkpoints: the slot alert's threshold is measured against it (prometheus.py)."""
    return 4096 if size.memory_mib >= 8192 else 1024


def memory_parameters(size: NodeSize) -> dict[str, str]:
    mem = size.memory_mib
    conns = max_connections(size)
    shared = mem // 4
    # work_mem is per sort/hash node: a quarter of the memory that is not shared buffers, spread over all
    # connections running two such nodes each, so a busy node does not swap.
    work = max(4, (mem - shared) // 4 // (conns * 2))
    return {
        "shared_buffers": _mb(shared),
        "effective_cache_size": _mb(mem * 3 // 4),
        "work_mem": _mb(work),
        "maintenance_work_mem": _mb(min(2048, max(64, mem // 16))),
        "autovacuum_work_mem": _mb(min(1024, max(64, mem // 32))),
        "wal_buffers": _mb(min(64, max(4, shared // 32))),
        "huge_pages": "try",
    }


def stack_parameters(spec: ClusterSpec) -> dict[str, Parameter]:
    """The stack's own parameters (pg-platform:postgresql.parameters), which the settings checked."""
    owned = sorted(name for name, _ in spec.stack_parameters if name in PLATFORM_OWNED)
    if owned:
        raise ValueError(f"the platform owns {', '.join(owned)}; stacks.settings refuses them")
    return dict(spec.stack_parameters)


def cluster_wide_parameters(spec: ClusterSpec) -> dict[str, Parameter]:
    """Settings every member must share (Patroni keeps these in the DCS, standbys refuse lower values), with the
    stack's value where it sets one of them. Derived from the smallest member, which a standby needs."""
    size = spec.smallest_size()
    members = len(spec.members)
    wide: dict[str, Parameter] = {
        "max_connections": max_connections(size),
        "max_wal_senders": members + EXTRA_WAL_SENDERS,
        "max_replication_slots": members + EXTRA_WAL_SENDERS,
        "max_worker_processes": max(8, size.vcpus * 2),
        "max_prepared_transactions": 0,
        "max_locks_per_transaction": 64,
        "track_commit_timestamp": "off",
        "wal_level": "replica",
        "wal_log_hints": "on",  # pg_rewind needs it (checksums would suffice, but be explicit)
        "hot_standby": "on",
        "wal_keep_size": "1GB",
    }
    wide.update((k, v) for k, v in stack_parameters(spec).items() if k in wide)
    return wide


def logging_parameters(spec: ClusterSpec, member: Member) -> dict[str, str | int]:
    """CIS PostgreSQL 3.1.x / 7.2 logging, and pgaudit (3.2)."""
    return {
        "logging_collector": "on",
        "log_destination": "stderr",
        "log_directory": f"{spec.paths_for(member).log_dir}/postgresql",
        "log_filename": "postgresql-%a.log",
        "log_truncate_on_rotation": "on",
        "log_rotation_age": "1d",
        "log_rotation_size": 0,
        "log_file_mode": "0600",
        "log_connections": "on",
        "log_disconnections": "on",
        "log_checkpoints": "on",
        "log_lock_waits": "on",
        "log_temp_files": 0,
        "log_autovacuum_min_duration": "10s",
        "log_min_duration_statement": "1s",
        "log_line_prefix": "%m [%p] %q%u@%d app=%a host=%h ",
        "log_statement": "ddl",
        "log_min_messages": "warning",
        "log_min_error_statement": "error",
        "log_replication_commands": "on",
        "log_error_verbosity": "default",
        "log_timezone": "UTC",
        "pgaudit.log": "ddl,role,write",
        "pgaudit.log_catalog": "off",
        "pgaudit.log_relation": "on",
        "pgaudit.log_parameter": "off",  # parameters may carry application secrets
    }


def extension_parameters(spec: ClusterSpec) -> dict[str, Parameter]:
    """What a declared extension needs set before the server starts: pg_cron's scheduler runs in the one
    database that lists it."""
    return {
        parameter: database.name
        for database in spec.declared.databases
        for parameter in (EXTENSIONS[e].database_parameter for e in database.extensions)
        if parameter
    }


def postgresql_parameters(spec: ClusterSpec, member: Member) -> dict[str, Parameter]:
    """All parameters of one member. `listen_addresses` is the member's own address, never '*'."""
    topo = spec.topology
    if topo.postgres_major not in SUPPORTED_MAJORS:
        raise ValueError(f"PostgreSQL {topo.postgres_major} is not supported; use one of {SUPPORTED_MAJORS}")
    tls = tls_files(spec, member)
    paths = spec.paths_for(member)
    size = spec.size_of(member)
    params: dict[str, Parameter] = {
        "listen_addresses": member.host,
        "port": member.ports.postgres,
        "unix_socket_directories": paths.run_dir,
        "unix_socket_permissions": "0770",
        "cluster_name": spec.scope,
        "superuser_reserved_connections": SUPERUSER_RESERVED_CONNECTIONS,
        # CIS 6.8/6.9 and 7.5: TLS for every client and for replication.
        "ssl": "on",
        "ssl_min_protocol_version": spec.tls.min_protocol_version,
        "ssl_prefer_server_ciphers": "on",
        "ssl_cert_file": tls.cert,
        "ssl_key_file": tls.key,
        "ssl_ca_file": tls.ca,
        "password_encryption": "scram-sha-256",
        # A declared extension's library joins at the next restart, which the configure step rolls.
        "shared_preload_libraries": ",".join(dict.fromkeys((*PRELOAD_LIBRARIES, *preload_libraries(spec.declared)))),
        "pg_stat_statements.track": "top",
        # Utility statements keep their literals (ALTER ROLE ... PASSWORD): never tracked, so never exported.
        "pg_stat_statements.track_utility": "off",
        "track_io_timing": "on",
        # WAL archiving (CIS 7.4) bounds data loss when the whole cluster is lost to archive_timeout.
        "archive_mode": "on",
        # Backups off (a dev stage) keeps archive_mode on and archives nothing: archive_mode needs a restart,
        # archive_command only a reload, so turning backups off and on again never restarts a member.
        "archive_command": archive_push_command(spec, member) if spec.backups_enabled else ARCHIVE_NOTHING_COMMAND,
        "archive_timeout": topo.archive_timeout.value,
        "restore_command": archive_get_command(spec, member),
        "autovacuum": "on",
        "autovacuum_max_workers": max(3, min(8, size.vcpus)),
        "checkpoint_timeout": "15min",
        "max_wal_size": f"{max_wal_size_mb(size) // 1024}GB",
        "min_wal_size": "256MB",
        "checkpoint_completion_target": 0.9,
        "random_page_cost": 1.1,  # EBS / SSD storage
        "effective_io_concurrency": 200,
        "idle_in_transaction_session_timeout": f"{IDLE_IN_TRANSACTION_TIMEOUT_SECONDS // 60}min",
        "statement_timeout": 0,
        "tcp_keepalives_idle": 60,
        "tcp_keepalives_interval": 10,
        "tcp_keepalives_count": 6,
        "hot_standby_feedback": "on",
        "wal_compression": "on",
        "timezone": "UTC",
    }
    if spec.tls.ciphers:
        params["ssl_ciphers"] = spec.tls.ciphers
    params.update(memory_parameters(size))
    params.update(cluster_wide_parameters(spec))
    params.update(logging_parameters(spec, member))
    params.update(extension_parameters(spec))
    # Last: the stack's tunables win over the platform's defaults (it may set none of the above it owns).
    params.update(stack_parameters(spec))
    return params


def _quote(value: Parameter) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def render_postgresql_conf(
    spec: ClusterSpec, member: Member, hba_file: str | None = None, overrides: dict[str, Parameter] | None = None
) -> str:
    """The parameters as a postgresql.conf (an instance run without Patroni: tests, scratch restores)."""
    params = postgresql_parameters(spec, member)
    # recovery settings belong to a standby; on a plain primary restore_command is harmless but noisy.
    params.pop("restore_command", None)
    if hba_file:
        params["hba_file"] = hba_file
    params.update(overrides or {})
    lines = [f"# rendered by pg-platform dataplane for {spec.scope}/{member.name}; do not edit"]
    lines += [f"{k} = {_quote(v)}" for k, v in params.items()]
    return "\n".join(lines) + "\n"


def initdb_arguments() -> list[str]:
    """INITDB_OPTIONS as initdb's command-line flags (Patroni takes the list form itself)."""
    args: list[str] = []
    for option in INITDB_OPTIONS:
        if isinstance(option, dict):
            args += [f"--{k}={v}" for k, v in option.items()]
        else:
            args.append(f"--{option}")
    return args
