"""Point-in-time work beside a running member (`pgp restore-table`, `pgp restore-db`, the restore drill): an
auxiliary instance restored from the cluster's repository to a moment, on the member's data volume, whose
database or table is copied back into the running cluster with pg_dump and pg_restore.

Pure: the console renders one script, run as root on the leader by whichever target (locally in the sandbox,
through the cloud's remote-command service on a member). The script removes its auxiliary instance on every exit,
and a restore-db that fails drops the database it created, so a failure leaves nothing behind."""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Literal

from dataplane import pgbackrest
from dataplane.boot.units import SERVICE_USER
from dataplane.console import ConsoleError
from dataplane.model import SUPERUSER, ClusterSpec, Member
from dataplane.operations import export_secrets, setpriv_argv, superuser_psql_argv
from stacks.ports import CLONE_PORT_COUNT, CLONE_PORT_FIRST, PORTS

# The scratch instances' directory names under the data volume: an auxiliary instance of a partial restore or
# a drill (removed when it ends), and a clone (`pgp clone`, kept with --keep). A leftover one is easy to find.
AUX_PREFIX = "pgp-aux."
CLONE_PREFIX = "pgp-clone."
SCRATCH_PREFIXES = (AUX_PREFIX, CLONE_PREFIX)
# The file in a scratch directory that holds the PID of the script working in it, and a clone's port.
SCRIPT_PID_FILE = "script.pid"
PORT_FILE = "port"
# Seconds a removal waits for an interrupted script to clean up after itself before removing its instance.
REMOVE_WAIT_SECONDS = 60
# How a failed script names its step on stderr: "failed at step '<step>'" (the console reports it).
FAILED_AT = "failed at step '"
# A clone listens on its member's localhost only: a copy of the cluster's data reaches no network.
CLONE_LISTEN = "127.0.0.1"
# Seconds the leader's WAL up to now may take to reach the archive, and recovery to reach the target.
ARCHIVE_WAIT_SECONDS = 120
RECOVERY_WAIT_SECONDS = 3600
AUX_SHARED_BUFFERS = "128MB"
_IDENTIFIER = r"[a-z_][a-z0-9_]{0,62}"
_DATABASE = re.compile(rf"^{_IDENTIFIER}$")
_TABLE = re.compile(rf"^(?:{_IDENTIFIER}\.)?{_IDENTIFIER}$")


def auxiliary_settings(
    spec: ClusterSpec, name: str, port: int | str, listen: str, socket_dir: str, hba_file: str
) -> dict[str, str | int]:
    """What an instance restored beside the cluster must run with instead of the member's own settings: the
    restored directory carries the cluster's postgresql.conf, whose port, synchronous standbys and archiving
    belong to the member."""
    return {
        "port": port,
        "listen_addresses": listen,
        "unix_socket_directories": socket_dir,
        "hba_file": hba_file,
        "synchronous_standby_names": "",
        "primary_conninfo": "",
        # Replaying WAL of a time when the cluster ran a larger max_connections or max_locks_per_transaction (a
        # rolled-back change), a hot standby pauses for good: it needs at least the primary's values. Nothing
        # reads the instance before it is promoted.
        "hot_standby": "off",
        "archive_mode": "off",
        # Beside a running member on its host: the member's shared_buffers (a quarter of the memory) twice over
        # would starve both, and huge pages reserved for the member are not there for a second instance.
        "shared_buffers": AUX_SHARED_BUFFERS,
        "huge_pages": "try",
        "logging_collector": "off",
        # A readiness probe connects often: logged, it would bury recovery's own lines in the log a failure shows.
        "log_connections": "off",
        "log_disconnections": "off",
        "cluster_name": f"{spec.scope}-{name}",
    }


def target_time(text: str, now: datetime | None = None, option: str = "--time") -> str:
    """An operator's `--time` (`pgp clone --at`) as pgBackRest's recovery target: ISO 8601 with its offset, in
    the past, in UTC."""
    try:
        moment = datetime.fromisoformat(text.strip().replace(" ", "T", 1))
    except ValueError:
        raise ConsoleError(
            f"{option} {text!r}: give an ISO 8601 time with its offset, e.g. 2026-12-02T21:30:00Z"
        ) from None
    if moment.tzinfo is None:
        raise ConsoleError(f"{option} {text!r}: add the offset (Z or +01:00): a bare time is ambiguous")
    moment = moment.astimezone(UTC)
    if moment >= (now or datetime.now(UTC)):
        raise ConsoleError(f"{option} {text!r} is not in the past: a restore can only go back")
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f+00")


def check_database(name: str, option: str) -> str:
    if not _DATABASE.match(name):
        raise ConsoleError(f"{option} {name!r}: a database name is lower-case letters, digits and _")
    return name


def check_table(name: str) -> str:
    if not _TABLE.match(name):
        raise ConsoleError(f"--table {name!r}: give [schema.]table in lower-case letters, digits and _")
    return name if "." in name else f"public.{name}"


# The script's own variables a rendered argument may expand: the auxiliary directory (made at run time), the
# backup the restore drill chose, and the port a clone found free.
_EXPANDED = ("$aux", "$backup_set", "$repo", "$port")


def _word(text: str) -> str:
    """One bash word; the variables in _EXPANDED expand, nothing else does."""
    if not any(name in text for name in _EXPANDED):
        return shlex.quote(text)
    rest = text
    for name in _EXPANDED:
        rest = rest.replace(name, "")
    if any(c in rest for c in '"`\\$'):
        raise ValueError(f"unexpected character in {text!r}")
    return f'"{text}"'


@dataclass(frozen=True)
class PartialRestore:
    """One database (`table` None) or one table of it, as it was at `target`, into database `into`."""

    database: str
    into: str
    target: str  # from target_time()
    table: str | None = None
    # The auxiliary directory's name after AUX_PREFIX (scratch_name()): chosen by the console, so that it can
    # remove the instance itself when the script could not (killed, or its member unreachable).
    scratch: str | None = None

    @property
    def kind(self) -> Literal["table", "database"]:
        return "database" if self.table is None else "table"


def aux_parent(spec: ClusterSpec, member: Member) -> str:
    """On the data volume, beside the member's data directory: the space a restore needs is there."""
    return str(PurePosixPath(spec.paths_for(member).data_dir).parent)


_SCRATCH_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


def scratch_name() -> str:
    """A scratch instance's name: short, as its directory holds the instance's socket and a socket's path has at
    most 107 bytes (the listing gives its age)."""
    import secrets

    return secrets.token_hex(3)


def check_scratch_name(name: str, option: str) -> str:
    if not _SCRATCH_NAME.match(name):
        raise ConsoleError(f"{option} {name!r}: a scratch instance's name is lower-case letters, digits and -")
    return name


def scratch_dir(spec: ClusterSpec, member: Member, prefix: str, name: str) -> str:
    if prefix not in SCRATCH_PREFIXES:
        raise ValueError(f"{prefix!r} is not a scratch prefix")
    return str(PurePosixPath(aux_parent(spec, member)) / f"{prefix}{check_scratch_name(name, 'the name')}")


def clone_ports(member: Member) -> range:
    """The ports a clone may take on the member's host: CLONE_PORT_FIRST on, as far from the member's own
    PostgreSQL port as on a node (the sandbox shifts every member's ports, so its clones shift with them)."""
    first = member.ports.postgres + CLONE_PORT_FIRST - PORTS.postgres
    return range(first, first + CLONE_PORT_COUNT)


def remove_instance_lines(bin_dir: str, stop_archive_get: str) -> list[str]:
    """Shell that stops the instance in `$aux` and removes the directory: the script's own cleanup, and a
    removal from outside (remove_scratch_command)."""
    return [
        'if [ -f "$aux/data/postmaster.pid" ]; then',
        f'  as_service {bin_dir}/pg_ctl -D "$aux/data" -m immediate -w stop >/dev/null 2>&1 || true',
        "fi",
        # The instance's asynchronous archive-get outlives it, writing into the spool: ended through its lock.
        f"as_service {stop_archive_get} >/dev/null 2>&1 || true",
        'for _ in 1 2 3 4 5; do rm -rf "$aux" 2>/dev/null && break; sleep 1; done',
        'if [ -e "$aux" ]; then say "could not remove $aux: remove it by hand"; else say "removed $aux"; fi',
    ]


@dataclass(frozen=True)
class AuxiliaryScript:
    """The shell of a script that restores an auxiliary instance beside a member, run as root on it: the
    pieces `pgp restore-table/-db` and the scheduled restore drill share."""

    spec: ClusterSpec
    member: Member
    name: str = "pitr"  # the instance's cluster_name suffix, what ps and its log lines show
    # The directory, when the caller names it (scratch_dir()); else a fresh one under aux_parent().
    directory: str | None = None
    # A clone listens on localhost on a port it finds free (`$port`); an auxiliary instance on its socket only,
    # with the member's port number (the socket is in its own directory).
    listen: str = ""

    @property
    def bin_dir(self) -> str:
        return self.spec.paths_for(self.member).postgres_bin_dir

    @property
    def port(self) -> int | str:
        return "$port" if self.listen else self.member.ports.postgres

    @property
    def aux_psql(self) -> str:
        return f'as_service {self.bin_dir}/psql -X -q -A -t -v ON_ERROR_STOP=1 -h "$aux" -p {self.port} -U {SUPERUSER}'

    def prelude(self, what: str) -> list[str]:
        """Shebang, secrets, helpers and the auxiliary directory `$aux` on the data volume."""
        return [
            "#!/bin/bash",
            f"# rendered by pg-platform dataplane: {what}",
            "set -euo pipefail",
            export_secrets(self.spec, self.member),
            f'as_service() {{ {shlex.join(setpriv_argv(SERVICE_USER))} "$@"; }}',
            'say() { printf \'%s %s\\n\' "$(date -u +%H:%M:%S)" "$*" >&2; }',
            # The step under way, which a failure names (the console reports it).
            'step_now="preparing"; step() { step_now="$1"; say "$1"; }',
            # Seconds since a `date +%s.%N`, to a tenth.
            'elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" \'BEGIN { printf "%.1f", b - a }\'; }',
        ]

    def make_aux(self) -> list[str]:
        if self.directory is None:
            made = f'aux="$(mktemp -d {shlex.quote(aux_parent(self.spec, self.member))}/{AUX_PREFIX}XXXXXX)"'
        else:
            # mkdir, not -p: an existing directory is another instance's, never this one's to take over.
            made = f'aux={shlex.quote(self.directory)}; mkdir -m 0700 "$aux"'
        return [
            made,
            f'chown {SERVICE_USER}:{SERVICE_USER} "$aux"; chmod 0700 "$aux"',
            # Who works in it: a removal from outside (remove_scratch_command) asks this script to end first.
            f'echo "$$" > "$aux/{SCRIPT_PID_FILE}"',
        ]

    def cleanup(self, after: list[str]) -> list[str]:
        """A `cleanup` trap that stops and removes the instance on every exit, then runs `after` ($status is
        the script's exit status), and exits with that status."""
        stop_archive_get = [
            *pgbackrest.side_restore_argv(self.spec, self.member, "$aux")[:3],
            *pgbackrest.side_instance_options("$aux"),
            "--force",
            "stop",
        ]
        return [
            "keep_instance=0",
            "cleanup() {",
            "  status=$?",
            f'  [ "$status" -eq 0 ] || say "{FAILED_AT}$step_now\'"',
            '  if [ -n "${aux:-}" ] && { [ "$status" -ne 0 ] || [ "$keep_instance" -ne 1 ]; }; then',
            *(f"    {line}" for line in remove_instance_lines(self.bin_dir, " ".join(map(_word, stop_archive_get)))),
            "  fi",
            *(f"  {line}" for line in after),
            '  exit "$status"',
            "}",
            "trap cleanup EXIT",
            # A script ended by a signal (a timeout, an operator's removal) cleans up too: bash runs the EXIT trap
            # on exit, not on a signal's default action.
            "trap 'exit 129' HUP; trap 'exit 130' INT; trap 'exit 143' TERM",
        ]

    def leader_sql(self) -> list[str]:
        """`leader_sql SQL`: SQL on the running member, as its superuser over its socket."""
        psql = shlex.join([*superuser_psql_argv(self.spec, self.member), "-q", "-A", "-t"])
        return [f'leader_sql() {{ as_service {psql} -c "$1"; }}']

    def archive_now(self) -> list[str]:
        """The member's WAL up to now into the archive, before a restore to a time (needs leader_sql())."""
        return [
            # Recovery stops at the first commit after the target and fails at the end of the archive without
            # one: on a quiet database the commit below is that one, and the switch puts the WAL holding it in
            # the archive.
            "step archive",
            'say "archiving the WAL up to now"',
            'leader_sql "SELECT pg_current_xact_id()" >/dev/null',
            'segment="$(leader_sql "SELECT pg_walfile_name(pg_switch_wal())")"',
            f"for _ in $(seq {ARCHIVE_WAIT_SECONDS}); do",
            '  archived="$(leader_sql "SELECT coalesce(last_archived_wal, \'\') FROM pg_stat_archiver")"',
            '  if [[ ! "$archived" < "$segment" ]]; then break; fi',
            "  sleep 1",
            "done",
            'if [[ "$archived" < "$segment" ]]; then',
            f'  say "WAL segment $segment not archived within {ARCHIVE_WAIT_SECONDS} s: see pgp logs and pgp backups"',
            "  exit 1",
            "fi",
        ]

    def restore_and_start(self, *restore_options: str) -> list[str]:
        """Restore into `$aux`, start the instance with the auxiliary settings and wait until it is promoted."""
        settings = auxiliary_settings(self.spec, self.name, self.port, self.listen, "$aux", "$aux/pg_hba.conf")
        settings_lines = "\n".join(f"{key} = '{value}'" for key, value in settings.items())
        restore = pgbackrest.side_restore_argv(
            self.spec,
            self.member,
            "$aux",
            *restore_options,
            "--target-action=promote",
            # The member's configuration asks for delta restores; into an empty directory there is nothing to
            # compare.
            "--no-delta",
            "--log-level-console=warn",
        )
        bin_dir, aux_psql = self.bin_dir, self.aux_psql
        # A clone's clients log in over localhost as the cluster's roles, with their passwords; its superuser
        # as on a member, over the socket.
        hba = [
            f"local all {SUPERUSER} peer",
            *([f"host all all {self.listen}/32 scram-sha-256"] if self.listen else []),
        ]
        return [
            "step 'restore from the repository'",
            f'install -d -o {SERVICE_USER} -g {SERVICE_USER} -m 0700 "$aux/data" "$aux/pgbackrest" '
            '"$aux/pgbackrest/log"',
            "restore_started=$(date +%s.%N)",
            f"as_service {' '.join(map(_word, restore))}",
            'restore_seconds=$(elapsed "$restore_started")',
            f"printf '%s\\n' {' '.join(shlex.quote(line) for line in hba)} > \"$aux/pg_hba.conf\"",
            f'cat >> "$aux/data/postgresql.auto.conf" <<SETTINGS\n{settings_lines}\nSETTINGS',
            f'chown {SERVICE_USER}:{SERVICE_USER} "$aux/pg_hba.conf"',
            "step start",
            "start_started=$(date +%s.%N)",
            'say "replaying WAL to the target"',
            f'if ! as_service {bin_dir}/pg_ctl -D "$aux/data" -l "$aux/postgres.log" -w -t {RECOVERY_WAIT_SECONDS} '
            "start >/dev/null; then",
            '  say "the auxiliary instance did not start:"; tail -n 20 "$aux/postgres.log" >&2; exit 1',
            "fi",
            "step promote",
            # pg_ctl's wait ends at a consistent state; with hot_standby off nothing connects until recovery ends.
            f"for _ in $(seq {RECOVERY_WAIT_SECONDS}); do",
            f'  if ! as_service {bin_dir}/pg_ctl -D "$aux/data" status >/dev/null; then',
            '    say "the auxiliary instance stopped before the target:"; tail -n 20 "$aux/postgres.log" >&2; exit 1',
            "  fi",
            f'  [ "$({aux_psql} -d postgres -c "SELECT pg_is_in_recovery()" 2>/dev/null)" = f ] && break',
            "  sleep 1",
            "done",
            f'if [ "$({aux_psql} -d postgres -c "SELECT pg_is_in_recovery()")" != f ]; then',
            f'  say "the auxiliary instance is still in recovery after {RECOVERY_WAIT_SECONDS} s"; exit 1',
            "fi",
            'promoted_seconds=$(elapsed "$start_started")',
        ]


def render_partial_restore(spec: ClusterSpec, member: Member, job: PartialRestore) -> str:
    """The bash script, run as root on the leader. Its stderr is progress; its last stdout line is
    `rows=<n>` for a table (the rows restored) and `tables=<n>` for a database."""
    directory = None if job.scratch is None else scratch_dir(spec, member, AUX_PREFIX, job.scratch)
    aux = AuxiliaryScript(spec, member, directory=directory)
    paths = spec.paths_for(member)
    bin_dir, port, aux_psql = aux.bin_dir, aux.port, aux.aux_psql
    leader_into = shlex.join([*superuser_psql_argv(spec, member, job.into), "-q", "-A", "-t"])
    dump = [f"{bin_dir}/pg_dump", "-h", '"$aux"', "-p", str(port), "-U", SUPERUSER, "-d", job.database, "-Fc"]
    if job.table is not None:
        dump += ["--strict-names", f"--table={job.table}"]
    into_restore = [
        f"{bin_dir}/pg_restore",
        *("-h", shlex.quote(paths.run_dir), "-p", str(port), "-U", SUPERUSER, "-d", job.into),
        "--exit-on-error",
        "--single-transaction",
    ]
    lines = [
        *aux.prelude(f"restore {job.kind} {job.table or job.database} as of {job.target}"),
        *aux.leader_sql(),
        'created_db=""',
        *aux.make_aux(),
        *aux.cleanup(
            [
                'if [ "$status" -ne 0 ] && [ -n "$created_db" ]; then',
                f'  leader_sql "DROP DATABASE IF EXISTS {job.into}" >/dev/null 2>&1 || true',
                f'  say "dropped {job.into}, which this restore created"',
                "fi",
                '[ "$status" -eq 0 ] || say "failed: the auxiliary instance is removed"',
            ]
        ),
        *aux.archive_now(),
        f'say "restoring the backup before {job.target} into $aux"',
        *aux.restore_and_start("--type=time", f"--target={job.target}"),
    ]
    if job.table is None:
        owner_sql = f"SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '{job.database}'"
        invalid_sql = f"SELECT datconnlimit = -2 FROM pg_database WHERE datname = '{job.database}'"
        lines += [
            "step 'read the database'",
            f'owner="$({aux_psql} -d postgres -c "{owner_sql}")"',
            f'if [ -z "$owner" ]; then say "database {job.database} did not exist at {job.target}"; exit 1; fi',
            # DROP DATABASE marks the database invalid and removes its files before it commits, and replay stops
            # only at a commit: a time before the drop with no other commit in between restores a dropped one.
            f'if [ "$({aux_psql} -d postgres -c "{invalid_sql}")" = t ]; then',
            f'  say "{job.database} was already being dropped when replay reached a commit after {job.target}: '
            'recovery stops only at commits; give a time before the last commit ahead of the DROP DATABASE"',
            "  exit 1",
            "fi",
            f'step "copy: creating {job.into} (owner $owner) and copying {job.database} into it"',
            f'leader_sql "CREATE DATABASE {job.into} OWNER $owner TEMPLATE template0" >/dev/null',
            "created_db=1",
        ]
    else:
        lines.append(f'step "copy: {job.table} into {job.into}"')
    lines += [
        f"as_service {' '.join(dump)} | as_service {' '.join(into_restore)}",
        'say "copied; removing the auxiliary instance"',
    ]
    if job.table is None:
        count = "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
        lines.append(f'echo "tables=$(as_service {leader_into} -c "{count}")"')
    else:
        lines.append(f'echo "rows=$(as_service {leader_into} -c "SELECT count(*) FROM {job.table}")"')
    return "\n".join(lines) + "\n"


def refusal_queries(job: PartialRestore) -> Mapping[str, tuple[str, str]]:
    """SQL the console runs on the leader before the script, each answering 't' when the job must be refused:
    (database to run in, query) by the refusal's message."""
    into_exists = f"SELECT exists(SELECT 1 FROM pg_database WHERE datname = '{job.into}')"
    if job.table is None:
        return {f"--into {job.into}: the database exists; name a new one, or drop it first": ("postgres", into_exists)}
    return {
        f"--into {job.into}: no such database in the cluster; create it, or restore it with pgp restore-db": (
            "postgres",
            f"SELECT NOT exists(SELECT 1 FROM pg_database WHERE datname = '{job.into}')",
        ),
        f"{job.table} exists in {job.into}: rename or drop it first, or pass --into another database": (
            job.into,
            f"SELECT to_regclass('{job.table}') IS NOT NULL",
        ),
    }


@dataclass(frozen=True)
class Clone:
    """The cluster as it was at `target` (target_time(); None: the newest backup), as a writable instance."""

    name: str  # scratch_name()
    target: str | None = None
    keep: bool = False


# The clone script's last stdout line: "cloned=<port> <restore seconds> <seconds to writable> <databases> <backup>".
CLONE_RESULT_PREFIX = "cloned="
# The table a clone's write check makes and drops again: proof that it accepts writes.
_WRITE_CHECK = (
    "CREATE TABLE pgp_clone_write_check (n int); INSERT INTO pgp_clone_write_check VALUES (1); "
    "DROP TABLE pgp_clone_write_check"
)


def clone_directory(spec: ClusterSpec, member: Member, name: str) -> str:
    return scratch_dir(spec, member, CLONE_PREFIX, name)


def render_clone(spec: ClusterSpec, member: Member, job: Clone) -> str:
    """The bash script, run as root on the leader: restore into a clone directory, start the instance on a free
    port of clone_ports() on localhost, wait until it is promoted, and prove it writable. Without `keep` it is
    removed again at the end (a proof that the repository restores to a writable cluster); with it, it runs on
    until `pgp clone --drop`."""
    aux = AuxiliaryScript(
        spec, member, name=f"clone-{job.name}", directory=clone_directory(spec, member, job.name), listen=CLONE_LISTEN
    )
    ports = clone_ports(member)
    parent = shlex.quote(aux_parent(spec, member))
    databases_sql = "SELECT count(*) FROM pg_database WHERE datallowconn"
    restore = ("--type=immediate",) if job.target is None else ("--type=time", f"--target={job.target}")
    what = "the newest backup" if job.target is None else f"as of {job.target}"
    lines = [
        *aux.prelude(f"clone {job.name} of the cluster, {what}"),
        *aux.leader_sql(),
        *aux.make_aux(),
        *aux.cleanup([]),
        "step 'find a port'",
        'port=""',
        f"for candidate in $(seq {ports.start} {ports.stop - 1}); do",
        # A port another process listens on, or one a kept clone holds while it is stopped, is taken.
        '  if ss -Hltn "sport = :$candidate" | grep -q .; then continue; fi',
        f'  if cat {parent}/{CLONE_PREFIX}*/{PORT_FILE} 2>/dev/null | grep -qx "$candidate"; then continue; fi',
        '  port="$candidate"; break',
        "done",
        'if [ -z "$port" ]; then',
        f'  say "no free port in {ports.start}-{ports.stop - 1} for a clone: pgp clones lists the kept ones to drop"',
        "  exit 1",
        "fi",
        f'echo "$port" > "$aux/{PORT_FILE}"',
        *(aux.archive_now() if job.target is not None else []),
        f'say "restoring {what} into $aux"',
        *aux.restore_and_start(*restore),
        "step 'write check'",
        f'{aux.aux_psql} -d postgres -c "{_WRITE_CHECK}" >/dev/null',
        'writable_seconds=$(elapsed "$start_started")',
        f'databases="$({aux.aux_psql} -d postgres -c "{databases_sql}")"',
        f'say "clone {job.name} is writable on port $port, {"kept running" if job.keep else "removing it"}"',
        # Kept, it outlives this script: its PID, reused later by another shell, must not be taken for it.
        *(["keep_instance=1", f'rm -f "$aux/{SCRIPT_PID_FILE}"'] if job.keep else []),
        f'echo "{CLONE_RESULT_PREFIX}$port $restore_seconds $writable_seconds $databases"',
    ]
    return "\n".join(lines) + "\n"


def parse_clone_result(stdout: str) -> dict[str, int | float]:
    found = [line for line in stdout.splitlines() if line.startswith(CLONE_RESULT_PREFIX)]
    if not found:
        raise ValueError("no clone result line")
    port, restore_seconds, writable_seconds, databases = found[-1].removeprefix(CLONE_RESULT_PREFIX).split()
    return {
        "port": int(port),
        "restore_seconds": float(restore_seconds),
        "writable_seconds": float(writable_seconds),
        "databases": int(databases),
    }


def clone_dsn(directory: str, port: int, user: str = SUPERUSER, database: str = "postgres") -> str:
    """How to reach a clone on its member: its superuser over its socket (peer, as the service user)."""
    return f"host={directory} port={port} user={user} dbname={database}"


def remove_scratch_command(spec: ClusterSpec, member: Member, directory: str) -> str:
    """Shell, run as root on the member, that removes one scratch instance whatever became of the script that
    made it: the script, if it still runs (its member unreachable, or a timeout), is asked to end and clean up;
    then its instance is stopped and its directory removed. Its last stdout line is `removed=<directory>`, or
    `removed=` when there was nothing to remove."""
    if not any(PurePosixPath(directory).name.startswith(p) for p in SCRATCH_PREFIXES) or str(
        PurePosixPath(directory).parent
    ) != aux_parent(spec, member):
        raise ValueError(f"{directory} is not a scratch directory on {member.name}'s data volume")
    aux = AuxiliaryScript(spec, member)
    stop_archive_get = [
        *pgbackrest.side_restore_argv(spec, member, "$aux")[:3],
        *pgbackrest.side_instance_options("$aux"),
        "--force",
        "stop",
    ]
    lines = [
        *aux.prelude(f"remove the scratch instance {directory}"),
        f"aux={shlex.quote(directory)}",
        'if [ ! -e "$aux" ]; then echo "removed="; exit 0; fi',
        f'script="$(cat "$aux/{SCRIPT_PID_FILE}" 2>/dev/null || true)"',
        # Only the script's own bash: a PID reused since by another process is left alone.
        # Only a shell: a PID reused since by another process is left alone.
        'if [ -n "$script" ] && [[ "$(ps -o comm= -p "$script" 2>/dev/null)" =~ ^(bash|sh|dash)$ ]]; then',
        '  say "asking the script that made it ($script) to end"',
        # Its children too: bash runs its trap only once the command it waits for has ended.
        '  kill -TERM "$script" 2>/dev/null || true; pkill -TERM -P "$script" 2>/dev/null || true',
        f'  for _ in $(seq {REMOVE_WAIT_SECONDS}); do [ -e "$aux" ] || break; sleep 1; done',
        "fi",
        'if [ -e "$aux" ]; then',
        *(f"  {line}" for line in remove_instance_lines(aux.bin_dir, " ".join(map(_word, stop_archive_get)))),
        "fi",
        'if [ -e "$aux" ]; then exit 1; fi',
        'echo "removed=$aux"',
    ]
    return "\n".join(lines) + "\n"


# One line per scratch instance: "<prefix> <name> <port or -> <running|stopped> <created, epoch seconds>".
def list_scratch_command(spec: ClusterSpec, member: Member) -> str:
    """Shell listing the member's scratch instances (kept clones, and any auxiliary one left by a failure)."""
    bin_dir = spec.paths_for(member).postgres_bin_dir
    parent = shlex.quote(aux_parent(spec, member))
    globs = " ".join(f"{parent}/{prefix}*" for prefix in SCRATCH_PREFIXES)
    as_service = shlex.join(setpriv_argv(SERVICE_USER))
    return (
        "\n".join(
            [
                "shopt -s nullglob",
                f"for d in {globs}; do",
                '  base="$(basename "$d")"',
                f'  port="$(cat "$d/{PORT_FILE}" 2>/dev/null || echo -)"',
                "  state=stopped",
                f'  if {as_service} {bin_dir}/pg_ctl -D "$d/data" status >/dev/null 2>&1; then state=running; fi',
                '  printf \'%s %s %s %s\\n\' "$base" "$port" "$state" "$(stat -c %Y "$d")"',
                "done",
            ]
        )
        + "\n"
    )


def parse_scratch_list(text: str) -> list[dict[str, str | int | None]]:
    rows: list[dict[str, str | int | None]] = []
    for line in text.splitlines():
        words = line.split()
        if len(words) != 4:
            continue
        base, port, state, created = words
        prefix = next((p for p in SCRATCH_PREFIXES if base.startswith(p)), None)
        if prefix is None:
            continue
        rows.append(
            {
                "kind": "clone" if prefix == CLONE_PREFIX else "auxiliary",
                "name": base.removeprefix(prefix),
                "port": None if port == "-" else int(port),
                "state": state,
                "created": int(created),
            }
        )
    return rows
