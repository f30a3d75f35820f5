"""The operator console's node side (`pgp`, tools/console.py): the inventory a stack exports, and the commands an
operation runs as root on a member. The same commands run in the sandbox (locally) and on a cloud member
(through its remote-command service), so what an operator does on a laptop is what they do in prod.

Pure: commands are built from the member's paths and ports; running them is the target's job."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from dataplane import pgbackrest
from dataplane.boot.cloud_config import UNIT_PREFIX
from dataplane.boot.units import ETCD_BIN, PGBOUNCER_BIN, SERVICE_USER
from dataplane.model import (
    APP_READONLY_USER,
    APP_READWRITE_USER,
    APP_ROLE_SECRETS,
    MONITORING_USER,
    POOLER_AUTH_USER,
    REPLICATION_USER,
    REWIND_USER,
    SUPERUSER,
    ClusterSpec,
    Member,
)
from dataplane.operations import export_secrets, setpriv_argv, superuser_psql_argv

# Application logins an operator may lock during an incident. `pulumi up` re-applies the stack's roles and
# unlocks them again: a lock is an operation, not a setting.
LOCKABLE_ROLES = (APP_READWRITE_USER, APP_READONLY_USER)
PLATFORM_ROLES = {
    SUPERUSER: "the superuser has no network login to lock, and Patroni needs it locally",
    REPLICATION_USER: "the standbys stream as it: locking it stops replication",
    REWIND_USER: "Patroni rewinds a former primary as it",
    POOLER_AUTH_USER: "PgBouncer looks up every client's password as it",
    MONITORING_USER: "the exporters query as it: locking it blinds the alerts",
}
# Services an operator reads the logs of. PostgreSQL writes its own files (logging_collector); on a cloud member
# each of the others is the systemd unit of that name.
LOG_SERVICES = ("postgresql", "patroni", "pgbouncer", "etcd", "postgres-exporter", "node-exporter")
DEFAULT_LOG_LINES = 100
BACKUP_TYPES = pgbackrest.BACKUP_TYPES


class Ran(NamedTuple):
    """What a member command returned, however the target ran it."""

    status: int
    stdout: str
    stderr: str


class ConsoleError(ValueError):
    """A request the console refuses before it runs anything: the message names the argument and the fix."""


def member_inventory(spec: ClusterSpec, member_ids: Sequence[Any]) -> dict[str, Any]:
    """What runs where, as the stack exports it: scope, and per member its zone and the cloud's id for it."""
    return {
        "scope": spec.scope,
        "members": {
            m.name: {"zone": m.zone, "id": member_id} for m, member_id in zip(spec.members, member_ids, strict=True)
        },
    }


@dataclass(frozen=True)
class Inventory:
    cloud: str
    region: str
    scope: str
    members: Mapping[str, Mapping[str, str]]  # name -> {"zone", "id"}
    monitoring_id: str | None = None  # the monitoring node (a stack deployed before it was exported has none)

    @classmethod
    def from_outputs(cls, outputs: Mapping[str, Any]) -> Inventory:
        """From `pulumi stack output --json`; a stack deployed before the inventory existed lacks it."""
        inventory = outputs.get("inventory")
        if not isinstance(inventory, Mapping) or not isinstance(inventory.get("members"), Mapping):
            raise ConsoleError(
                "the stack outputs have no `inventory`: run `pulumi up` once with this version to export it"
            )
        try:
            return cls(
                str(inventory["cloud"]),
                str(inventory["region"]),
                str(inventory["scope"]),
                {str(k): dict(v) for k, v in inventory["members"].items()},
                str(inventory["monitoring"]["id"]) if isinstance(inventory.get("monitoring"), Mapping) else None,
            )
        except (KeyError, TypeError, ValueError) as missing:
            raise ConsoleError(f"the stack's `inventory` output lacks {missing}: run `pulumi up` again") from None


def as_service_user(spec: ClusterSpec, member: Member, argv: Sequence[str]) -> str:
    """`argv` as the service user with the member's secrets exported to that one process."""
    return f"{export_secrets(spec, member)}; exec {shlex.join([*setpriv_argv(SERVICE_USER), *argv])}"


def status_command(patronictl: str) -> str:
    return shlex.join([patronictl, "list", "--format", "json"])


def switchover_command(patronictl: str, leader: str, candidate: str) -> str:
    return shlex.join([patronictl, "switchover", "--leader", leader, "--candidate", candidate, "--force"])


def member_command(patronictl: str, action: str, scope: str, member: str) -> str:
    """restart, reload or reinit of one member, without patronictl's prompt."""
    if action not in ("restart", "reload", "reinit"):
        raise ConsoleError(f"unknown member action {action!r}")
    return shlex.join([patronictl, action, scope, member, "--force"])


def backup_command(spec: ClusterSpec, member: Member, backup_type: str) -> str:
    if backup_type not in BACKUP_TYPES:
        raise ConsoleError(f"--type {backup_type!r}: use one of {', '.join(BACKUP_TYPES)}")
    return as_service_user(spec, member, shlex.split(pgbackrest.backup_command(spec, member, backup_type)))


def backups_command(spec: ClusterSpec, member: Member) -> str:
    return as_service_user(spec, member, shlex.split(pgbackrest.command(spec, member, "--output=json", "info")))


def psql_command(spec: ClusterSpec, member: Member, sql: str, database: str = "postgres") -> str:
    """SQL as the superuser on the member, its answer unaligned and without headers."""
    return as_service_user(spec, member, [*superuser_psql_argv(spec, member, database), "-q", "-A", "-t", "-c", sql])


def lockable_roles(spec: ClusterSpec) -> tuple[str, ...]:
    """The application roles and the stack's declared login roles (pg-platform:postgresql.roles)."""
    return (*LOCKABLE_ROLES, *(r.name for r in spec.declared.roles))


def lock_sql(spec: ClusterSpec, role: str, locked: bool) -> str:
    """Lock: no new logins, and the role's sessions end (pooled server connections included). Unlock: logins
    again. Refuses the platform's own roles, naming why."""
    if role in PLATFORM_ROLES:
        raise ConsoleError(f"role {role!r} is the platform's own: {PLATFORM_ROLES[role]}")
    if role not in lockable_roles(spec):
        raise ConsoleError(
            f"role {role!r}: the console locks the application roles and the stack's declared roles: "
            f"{', '.join(lockable_roles(spec))}"
        )
    if not locked:
        return f"ALTER ROLE {role} LOGIN;"
    return (
        f"ALTER ROLE {role} NOLOGIN; "
        f"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = '{role}';"
    )


SCRAM_ITERATIONS = 4096  # PostgreSQL's scram_iterations default
ROTATED_PASSWORD_BYTES = 24


def scram_verifier(password: str, salt: bytes, iterations: int = SCRAM_ITERATIONS) -> str:
    """The SCRAM-SHA-256 secret PostgreSQL stores for `password` (RFC 5802/7677, as the server's
    scram_build_secret writes it). The console sends this, never the password, so no server log, audit log or
    SSM command history holds what logs in. `password` must be ASCII (SASLprep leaves it unchanged)."""
    import base64
    import hashlib
    import hmac

    if not password.isascii():
        raise ValueError("the verifier is built for ASCII passwords only")
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()

    def b64(raw: bytes) -> str:
        return base64.b64encode(raw).decode()

    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def rotatable_roles(spec: ClusterSpec) -> tuple[str, ...]:
    return tuple(r.name for r in spec.declared.roles)


def rotate_sql(spec: ClusterSpec, role: str, verifier: str) -> str:
    """A declared role's new password, as its SCRAM secret. The application roles' passwords are the stack's
    secrets, which their nodes and clients read from the secrets store: the console refuses them."""
    if role in PLATFORM_ROLES:
        raise ConsoleError(f"role {role!r} is the platform's own: {PLATFORM_ROLES[role]}")
    if role in LOCKABLE_ROLES:
        raise ConsoleError(
            f"role {role!r}: its password is a stack secret that PgBouncer's clients read from the secrets store; "
            "replace it there with `pulumi up --replace` on its random password, so both sides change together"
        )
    if role not in rotatable_roles(spec):
        declared = ", ".join(rotatable_roles(spec)) or "none"
        raise ConsoleError(
            f"role {role!r} is not declared in pg-platform:postgresql.roles (declared: {declared}); declare it, "
            "run `pulumi up`, then rotate it"
        )
    if not verifier.startswith("SCRAM-SHA-256$") or "'" in verifier:
        raise ValueError("not a SCRAM-SHA-256 verifier")
    return (
        "SET log_statement = 'none'; SET pgaudit.log = 'none'; "
        f"ALTER ROLE {role} PASSWORD '{verifier}'; "
        f"SELECT rolname FROM pg_roles WHERE rolname = '{role}' AND rolcanlogin;"
    )


def new_password() -> tuple[str, bytes]:
    """A password (URL-safe ASCII, 192 bits) and a fresh 16-byte salt for its verifier."""
    import secrets

    return secrets.token_urlsafe(ROTATED_PASSWORD_BYTES), secrets.token_bytes(16)


def check_log_request(service: str, lines: int) -> None:
    if service not in LOG_SERVICES:
        raise ConsoleError(f"--service {service!r}: use one of {', '.join(LOG_SERVICES)}")
    if lines < 1:
        raise ConsoleError(f"--lines {lines}: give a positive number")


_AGO = re.compile(r"^(\d+)([mhd])$")
_AGO_SECONDS = {"m": 60, "h": 3600, "d": 86400}


def since_time(text: str, now: datetime | None = None) -> str:
    """An operator's `--since` (`30m`, `2h`, `1d`, or ISO 8601 with its offset) as `YYYY-MM-DD HH:MM:SS` in
    UTC: how PostgreSQL's log lines begin (log_timezone UTC) and what journalctl takes with ` UTC` appended."""
    current = now or datetime.now(UTC)
    ago = _AGO.match(text.strip())
    if ago:
        moment = current - timedelta(seconds=int(ago.group(1)) * _AGO_SECONDS[ago.group(2)])
    else:
        try:
            moment = datetime.fromisoformat(text.strip().replace(" ", "T", 1))
        except ValueError:
            raise ConsoleError(f"--since {text!r}: give 30m, 2h, 1d or an ISO 8601 time with its offset") from None
        if moment.tzinfo is None:
            raise ConsoleError(f"--since {text!r}: add the offset (Z or +01:00): a bare time is ambiguous")
    if moment > current:
        raise ConsoleError(f"--since {text!r} is in the future")
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def postgresql_log_command(spec: ClusterSpec, member: Member, lines: int, since: str | None = None) -> str:
    """The newest of PostgreSQL's own log files (one per weekday), the same on every target; with `since`, every
    file's lines from then on (a line without a timestamp, such as a statement's continuation, goes with the
    line before it)."""
    directory = shlex.quote(f"{spec.paths_for(member).log_dir}/postgresql")
    if since is None:
        return f'tail -n {int(lines)} "$(ls -t {directory}/postgresql-*.log | head -n 1)"'
    # Spelled out: Debian's mawk takes no {n} repetitions.
    stamp = "[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9] [0-9][0-9]:"
    keep = f"/^{stamp}/ {{ keep = (substr($0, 1, 19) >= since) }} keep"
    return (
        f"ls -tr {directory}/postgresql-*.log | xargs cat | awk -v since={shlex.quote(since)} {shlex.quote(keep)} "
        f"| tail -n {int(lines)}"
    )


# What `pgp status` reports the version of, in that order.
VERSIONED = ("postgresql", "patroni", "pgbackrest", "pgbouncer", "etcd")


def versions_command(spec: ClusterSpec, member: Member) -> str:
    """One `<component> <version>` line each (VERSIONED), `unknown` for one that does not answer: the binaries
    the member's services run, not what a package database claims."""
    paths = spec.paths_for(member)
    argv = {
        "postgresql": [f"{paths.postgres_bin_dir}/postgres", "--version"],
        "patroni": [paths.patroni_bin, "--version"],
        "pgbackrest": [paths.pgbackrest_bin, "version"],
        "pgbouncer": [PGBOUNCER_BIN, "--version"],
        "etcd": [ETCD_BIN, "--version"],
    }
    # The version is the last word of each first line, but the third of postgres' ("postgres (PostgreSQL) 17.2
    # (Debian 17.2-1.pgdg12+1)").
    field = {"postgresql": "$3"}
    return "; ".join(
        f"printf '{name} %s\\n' \"$({shlex.join(argv[name])} 2>/dev/null | head -n 1 | "
        f"awk '{{print {field.get(name, '$NF')}}}')\""
        for name in VERSIONED
    )


def parse_versions(text: str) -> dict[str, str]:
    found = dict(line.split(" ", 1) for line in text.splitlines() if " " in line)
    return {name: (found.get(name) or "").strip() or "unknown" for name in VERSIONED}


def alerts_command(host: str, port: int) -> str:
    """Alertmanager's alerts that notify now (not silenced or inhibited), asked where it listens."""
    query = "active=true&silenced=false&inhibited=false"
    return shlex.join(["curl", "-sf", "--max-time", "10", f"http://{host}:{port}/api/v2/alerts?{query}"])


def parse_alerts(text: str) -> list[dict[str, Any]]:
    """Alertmanager API v2 alerts: name, severity, member (when one), since; the oldest first."""
    rows = [
        {
            "alert": a["labels"].get("alertname", ""),
            "severity": a["labels"].get("severity", ""),
            "member": a["labels"].get("member"),
            "since": a.get("startsAt", ""),
        }
        for a in json.loads(text)
        if a.get("status", {}).get("state", "active") == "active"
    ]
    return sorted(rows, key=lambda r: (r["since"], r["alert"]))


def client_route(role: str, routes: Sequence[str], asked: str | None) -> str:
    """The router's route `pgp psql` takes: the read route for the read-only role where a stack has one."""
    if role not in APP_ROLE_SECRETS:
        raise ConsoleError(
            f"--role {role}: use one of {', '.join(APP_ROLE_SECRETS)}; the platform's own roles do not log in "
            "through the router (the member commands use them on the nodes)"
        )
    route = asked or ("read" if role == APP_READONLY_USER and "read" in routes else "write")
    if route not in routes:
        raise ConsoleError(f"--route {route}: this stack routes {', '.join(routes)}")
    return route


def client_conninfo(host: str, port: int, user: str, database: str, ca_file: str) -> str:
    """libpq's conninfo that verifies the router's certificate and name against the cluster CA."""
    words = {
        "host": host,
        "port": port,
        "dbname": database,
        "user": user,
        "sslmode": "verify-full",
        "sslrootcert": ca_file,
        "connect_timeout": 10,
        "application_name": "pgp psql",
    }
    return " ".join(f"{k}={shlex.quote(str(v))}" for k, v in words.items())


def journal_command(service: str, lines: int, since: str | None = None) -> str:
    """A cloud member's log of one of its services (the systemd unit); `since` is since_time()'s."""
    check_log_request(service, lines)
    window = ["--since", f"{since} UTC"] if since else []
    return shlex.join(["journalctl", "--no-pager", "-u", f"{UNIT_PREFIX}{service}", *window, "-n", str(lines)])


@dataclass(frozen=True)
class MemberState:
    name: str
    role: str  # leader, sync_standby, replica, ...
    state: str  # running, streaming, stopped, ...
    timeline: int | None
    lag_mb: float | None
    pending_restart: bool


_ROLE_NAMES = {"leader": "leader", "sync standby": "sync_standby", "replica": "replica"}


def parse_status(text: str) -> list[MemberState]:
    """`patronictl list --format json`: one row per member."""
    rows = json.loads(text)
    out = []
    for row in rows:
        lag = row.get("Lag in MB")
        out.append(
            MemberState(
                name=str(row["Member"]),
                role=_ROLE_NAMES.get(str(row.get("Role", "")).lower(), str(row.get("Role", "")).lower()),
                state=str(row.get("State", "")),
                timeline=int(row["TL"]) if isinstance(row.get("TL"), int) else None,
                lag_mb=float(lag) if isinstance(lag, (int, float)) else None,
                pending_restart=bool(row.get("Pending restart")),
            )
        )
    return out


def leader_of(states: Sequence[MemberState]) -> str:
    leaders = [s.name for s in states if s.role == "leader"]
    if len(leaders) != 1:
        raise ConsoleError(f"the cluster has {len(leaders)} leaders right now: run `pgp status` and wait for one")
    return leaders[0]


def switchover_candidate(states: Sequence[MemberState], requested: str | None) -> str:
    """The requested member if it can take over, else the synchronous standby, else a streaming replica."""
    leader = leader_of(states)
    healthy = [s for s in states if s.name != leader and s.state in ("streaming", "running")]
    if requested is not None:
        if requested == leader:
            raise ConsoleError(f"--to {requested}: it is already the leader")
        if requested not in {s.name for s in states}:
            raise ConsoleError(f"--to {requested}: no such member; members: {', '.join(s.name for s in states)}")
        if requested not in {s.name for s in healthy}:
            raise ConsoleError(f"--to {requested}: it is not streaming; `pgp status` shows its state")
        return requested
    preferred = [s for s in healthy if s.role == "sync_standby"] or healthy
    if not preferred:
        raise ConsoleError("no standby is streaming: a switchover has nowhere to go")
    return preferred[0].name


_ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def check_role_name(role: str) -> str:
    if not _ROLE_NAME.match(role):
        raise ConsoleError(f"role {role!r}: a PostgreSQL role name is lower-case letters, digits and _")
    return role


def summarize_backups(text: str) -> list[dict[str, Any]]:
    """`pgbackrest info --output=json`: per repository, its backups (label, type, stop time, size) newest last."""
    info = json.loads(text)
    rows = []
    for stanza in info:
        for backup in stanza.get("backup", []):
            rows.append(
                {
                    "repo": backup.get("database", {}).get("repo-key"),
                    "label": backup.get("label"),
                    "type": backup.get("type"),
                    "stopped_at": backup.get("timestamp", {}).get("stop"),
                    "size_bytes": backup.get("info", {}).get("size"),
                    "error": bool(backup.get("error")),
                }
            )
    return sorted(rows, key=lambda r: (r["repo"] or 0, r["stopped_at"] or 0))
