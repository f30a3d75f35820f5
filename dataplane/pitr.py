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

# The auxiliary directory's name under the data volume; a leftover one is easy to find by it.
AUX_PREFIX = "pgp-aux."
# Seconds the leader's WAL up to now may take to reach the archive, and recovery to reach the target.
ARCHIVE_WAIT_SECONDS = 120
RECOVERY_WAIT_SECONDS = 3600
AUX_SHARED_BUFFERS = "128MB"
_IDENTIFIER = r"[a-z_][a-z0-9_]{0,62}"
_DATABASE = re.compile(rf"^{_IDENTIFIER}$")
_TABLE = re.compile(rf"^(?:{_IDENTIFIER}\.)?{_IDENTIFIER}$")


def auxiliary_settings(
    spec: ClusterSpec, name: str, port: int, listen: str, socket_dir: str, hba_file: str
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


def target_time(text: str, now: datetime | None = None) -> str:
    """An operator's `--time` as pgBackRest's recovery target: ISO 8601 with its offset, in the past, in UTC."""
    try:
        moment = datetime.fromisoformat(text.strip().replace(" ", "T", 1))
    except ValueError:
        raise ConsoleError(
            f"--time {text!r}: give an ISO 8601 time with its offset, e.g. 2026-12-02T21:30:00Z"
        ) from None
    if moment.tzinfo is None:
        raise ConsoleError(f"--time {text!r}: add the offset (Z or +01:00): a bare time is ambiguous")
    moment = moment.astimezone(UTC)
    if moment >= (now or datetime.now(UTC)):
        raise ConsoleError(f"--time {text!r} is not in the past: a restore can only go back")
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f+00")


def check_database(name: str, option: str) -> str:
    if not _DATABASE.match(name):
        raise ConsoleError(f"{option} {name!r}: a database name is lower-case letters, digits and _")
    return name


def check_table(name: str) -> str:
    if not _TABLE.match(name):
        raise ConsoleError(f"--table {name!r}: give [schema.]table in lower-case letters, digits and _")
    return name if "." in name else f"public.{name}"


# The script's own variables a rendered argument may expand: the auxiliary directory (made at run time), and
# the backup the restore drill chose.
_EXPANDED = ("$aux", "$backup_set", "$repo")


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

    @property
    def kind(self) -> Literal["table", "database"]:
        return "database" if self.table is None else "table"


def aux_parent(spec: ClusterSpec, member: Member) -> str:
    """On the data volume, beside the member's data directory: the space a restore needs is there."""
    return str(PurePosixPath(spec.paths_for(member).data_dir).parent)


@dataclass(frozen=True)
class AuxiliaryScript:
    """The shell of a script that restores an auxiliary instance beside a member, run as root on it: the
    pieces `pgp restore-table/-db` and the scheduled restore drill share."""

    spec: ClusterSpec
    member: Member
    name: str = "pitr"  # the instance's cluster_name suffix, what ps and its log lines show

    @property
    def bin_dir(self) -> str:
        return self.spec.paths_for(self.member).postgres_bin_dir

    @property
    def port(self) -> int:
        return self.member.ports.postgres

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
        ]

    def make_aux(self) -> list[str]:
        return [
            f'aux="$(mktemp -d {shlex.quote(aux_parent(self.spec, self.member))}/{AUX_PREFIX}XXXXXX)"',
            f'chown {SERVICE_USER}:{SERVICE_USER} "$aux"; chmod 0700 "$aux"',
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
            "cleanup() {",
            "  status=$?",
            '  if [ -n "${aux:-}" ] && [ -f "$aux/data/postmaster.pid" ]; then',
            f'    as_service {self.bin_dir}/pg_ctl -D "$aux/data" -m immediate -w stop >/dev/null 2>&1 || true',
            "  fi",
            # The instance's asynchronous archive-get outlives it, writing into the spool: ended through its lock.
            '  if [ -n "${aux:-}" ]; then',
            f"    as_service {' '.join(map(_word, stop_archive_get))} >/dev/null 2>&1 || true",
            '    for _ in 1 2 3 4 5; do rm -rf "$aux" 2>/dev/null && break; sleep 1; done',
            '    if [ -e "$aux" ]; then say "could not remove $aux: remove it by hand"; fi',
            "  fi",
            *(f"  {line}" for line in after),
            '  exit "$status"',
            "}",
            "trap cleanup EXIT",
        ]

    def restore_and_start(self, *restore_options: str) -> list[str]:
        """Restore into `$aux`, start the instance with the auxiliary settings and wait until it is promoted."""
        settings = auxiliary_settings(self.spec, self.name, self.port, "", "$aux", "$aux/pg_hba.conf")
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
        return [
            f'install -d -o {SERVICE_USER} -g {SERVICE_USER} -m 0700 "$aux/data" "$aux/pgbackrest" '
            '"$aux/pgbackrest/log"',
            f"as_service {' '.join(map(_word, restore))}",
            f"printf 'local all {SUPERUSER} peer\\n' > \"$aux/pg_hba.conf\"",
            f'cat >> "$aux/data/postgresql.auto.conf" <<SETTINGS\n{settings_lines}\nSETTINGS',
            f'chown {SERVICE_USER}:{SERVICE_USER} "$aux/pg_hba.conf"',
            'say "replaying WAL to the target"',
            f'if ! as_service {bin_dir}/pg_ctl -D "$aux/data" -l "$aux/postgres.log" -w -t {RECOVERY_WAIT_SECONDS} '
            "start >/dev/null; then",
            '  say "the auxiliary instance did not start:"; tail -n 20 "$aux/postgres.log" >&2; exit 1',
            "fi",
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
        ]


def render_partial_restore(spec: ClusterSpec, member: Member, job: PartialRestore) -> str:
    """The bash script, run as root on the leader. Its stderr is progress; its last stdout line is
    `rows=<n>` for a table (the rows restored) and `tables=<n>` for a database."""
    aux = AuxiliaryScript(spec, member)
    paths = spec.paths_for(member)
    bin_dir, port, aux_psql = aux.bin_dir, aux.port, aux.aux_psql
    leader_sql = shlex.join([*superuser_psql_argv(spec, member), "-q", "-A", "-t"])
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
        f'leader_sql() {{ as_service {leader_sql} -c "$1"; }}',
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
        # Recovery stops at the first commit after the target and fails at the end of the archive without one:
        # on a quiet database the commit below is that one, and the switch puts the WAL holding it in the archive.
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
        f'say "restoring the backup before {job.target} into $aux"',
        *aux.restore_and_start("--type=time", f"--target={job.target}"),
    ]
    if job.table is None:
        owner_sql = f"SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '{job.database}'"
        invalid_sql = f"SELECT datconnlimit = -2 FROM pg_database WHERE datname = '{job.database}'"
        lines += [
            f'owner="$({aux_psql} -d postgres -c "{owner_sql}")"',
            f'if [ -z "$owner" ]; then say "database {job.database} did not exist at {job.target}"; exit 1; fi',
            # DROP DATABASE marks the database invalid and removes its files before it commits, and replay stops
            # only at a commit: a time before the drop with no other commit in between restores a dropped one.
            f'if [ "$({aux_psql} -d postgres -c "{invalid_sql}")" = t ]; then',
            f'  say "{job.database} was already being dropped when replay reached a commit after {job.target}: '
            'recovery stops only at commits; give a time before the last commit ahead of the DROP DATABASE"',
            "  exit 1",
            "fi",
            f'say "creating {job.into} (owner $owner) and copying {job.database} into it"',
            f'leader_sql "CREATE DATABASE {job.into} OWNER $owner TEMPLATE template0" >/dev/null',
            "created_db=1",
        ]
    else:
        lines.append(f'say "copying {job.table} into {job.into}"')
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
