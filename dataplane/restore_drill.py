"""The scheduled restore drill on a running cluster: a timer on every member, of which one (an async replica
first, then a synchronous standby, then the leader, each by name) verifies the repository that holds the
newest backup, restores that backup beside itself, reads every database end to end, and removes the instance
again. Its outcome goes to the node exporter's textfile directory (RestoreDrillTooOld, RestoreDrillFailed) and
to the stack journal (`pgp journal`, `pgp inventory`'s last restore drill).

A backup is only as good as the last restore of it: this proves, every day in prod and every week in dev, that
the repository holds a backup that restores and replays to a consistent state, with the cipher and credentials
the members hold. The restore reuses the auxiliary instance of `pgp restore-table` (dataplane/pitr.py).

Pure: renders files; the configure step (dataplane/configure.py) carries them to the members."""

from __future__ import annotations

import dataclasses
import functools
import json
import shlex
from pathlib import Path, PurePosixPath

from dataplane import journal, node_journal, pgbackrest
from dataplane.exporters import textfile_dir
from dataplane.model import SUPERUSER, ClusterSpec, Member, S3Repository
from dataplane.pitr import AuxiliaryScript, aux_parent
from dataplane.tls import tls_files
from stacks.topology import RestoreDrillSchedule

RESTORE_DRILL_COMMAND = "/usr/local/sbin/pgp-restore-drill"
USAGE = f"{PurePosixPath(RESTORE_DRILL_COMMAND).name} [--set LABEL] [--by WHO] [--scheduled]"
CRON_FILE = "/etc/cron.d/pgp-restore-drill"
LOG_TAG = "pgp-restore-drill"
METRICS_FILE = "pgp-restore-drill.prom"
METRIC_PREFIX = "pgp_restore_drill"
LAST_RUN = f"{METRIC_PREFIX}_last_run_timestamp_seconds"
LAST_SUCCESS = f"{METRIC_PREFIX}_last_success_timestamp_seconds"
DURATION = f"{METRIC_PREFIX}_duration_seconds"
SUCCESS = f"{METRIC_PREFIX}_success"
# The restored copy must leave the data volume above DiskFreeLow's threshold: the drill must not raise the
# alert it would be woken by.
MIN_FREE_AFTER = 0.15
# The designated member's last stdout line after a passed drill: "drilled=<label> <repo> <databases> <bytes>".
RESULT_PREFIX = "drilled="
# pgBackRest's backup labels: full, or a diff/incr on top of its full.
LABEL_PATTERN = r"[0-9]{8}-[0-9]{6}F(_[0-9]{8}-[0-9]{6}[DI])?"

# Patroni's /cluster: the member that runs the drill, the same answer on every member. A replica's restore
# loads neither the leader nor, in synchronous mode, the commit path.
_DESIGNATE = r"""
import json, sys
rank = {"replica": 0, "sync_standby": 1, "quorum_standby": 1, "leader": 2}
members = [m for m in json.load(sys.stdin).get("members", [])
           if m.get("role") in rank and m.get("state") in ("running", "streaming")]
members.sort(key=lambda m: (rank[m["role"]], m["name"]))
print(members[0]["name"] if members else "")
"""

# `pgbackrest info --output=json` -> "<label> <repo> <size>" of the backup to restore: the one asked for, or
# the newest of any repository.
_CHOOSE_BACKUP = r"""
import json, sys
wanted = sys.argv[1]
info = json.load(sys.stdin)
backups = [b for stanza in info for b in stanza.get("backup", [])]
if wanted:
    backups = [b for b in backups if b["label"] == wanted]
    if not backups:
        sys.exit(f"no backup labelled {wanted} in any repository (pgp backups lists them)")
if not backups:
    sys.exit("the repository holds no backup yet")
chosen = max(backups, key=lambda b: (b["timestamp"]["stop"], -b["database"]["repo-key"]))
print(chosen["label"], chosen["database"]["repo-key"], chosen["info"]["size"])
"""

# The textfile metrics of this member's last run; the last success survives a failed run.
_WRITE_METRICS = rf"""
import os, sys
path, status, started, finished = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
last_success = 0
try:
    for line in open(path):
        if line.startswith("{LAST_SUCCESS} "):
            last_success = int(float(line.split()[1]))
except FileNotFoundError:
    pass
if status == 0:
    last_success = finished
values = [
    ("{LAST_RUN}", "when the restore drill last ran on this member", finished),
    ("{LAST_SUCCESS}", "when a restore drill last succeeded on this member (0: never)", last_success),
    ("{DURATION}", "seconds the last restore drill took", finished - started),
    ("{SUCCESS}", "1 if the last restore drill succeeded", 1 if status == 0 else 0),
]
text = "".join(f"# HELP {{n}} {{h}}\n# TYPE {{n}} gauge\n{{n}} {{v}}\n" for n, h, v in values)
tmp = os.path.join(os.path.dirname(path), ".{METRICS_FILE}.tmp")
with open(tmp, "w") as f:
    f.write(text)
os.chmod(tmp, 0o644)
os.replace(tmp, path)
"""


def journal_bucket(spec: ClusterSpec) -> node_journal.Bucket | None:
    """The journal's bucket as a member reaches it: the first S3 repository, with pgBackRest's credentials."""
    for index, repo in enumerate(spec.repositories, start=1):
        if isinstance(repo, S3Repository):
            key_env = ("", "")
            if repo.key_type == "shared":
                key_env = (f"PGBACKREST_REPO{index}_S3_KEY", f"PGBACKREST_REPO{index}_S3_KEY_SECRET")
                assert set(key_env) <= set(pgbackrest.repo_environment(spec)), "the names pgBackRest reads"
            return node_journal.Bucket(
                name=repo.bucket,
                region=repo.region,
                endpoint=repo.endpoint,
                uri_style=repo.uri_style,
                key_type=repo.key_type,
                key_env=key_env,
                ca_file=repo.ca_file,
                verify_tls=repo.verify_tls,
            )
    return None


@functools.cache
def journal_append_program() -> str:
    """A python3 program (stdin) whose argv is node_journal.main's: the journal's own modules, by their source,
    so the member writes entries exactly as the console reads them."""
    sources = {
        "pgp_journal": Path(journal.__file__).read_text(),
        "pgp_node_journal": Path(node_journal.__file__).read_text(),
    }
    return "\n".join(
        [
            "import sys, types",
            f"SOURCES = {sources!r}",
            "def load(name):",
            "    module = types.ModuleType(name)",
            "    sys.modules[name] = module  # dataclasses look their module up while the class is made",
            "    exec(compile(SOURCES[name], name, 'exec'), module.__dict__)",
            "    return module",
            "sys.exit(load('pgp_node_journal').main(load('pgp_journal'), sys.argv[1:]))",
        ]
    )


def metrics_path(spec: ClusterSpec, member: Member) -> str:
    return str(PurePosixPath(textfile_dir(spec, member)) / METRICS_FILE)


def lock_path(spec: ClusterSpec, member: Member) -> str:
    return str(PurePosixPath(spec.paths_for(member).run_dir) / "pgp-restore-drill.lock")


def _python(program: str, *args: str) -> str:
    return shlex.join(["python3", "-c", program.strip() + "\n", *args])


def render_restore_drill(spec: ClusterSpec, member: Member) -> str:
    """The bash script, run as root by the timer on every member (`--scheduled`) or by an operator, optionally
    with `--set LABEL`. It exits 0 on a member that is not the designated one, writing nothing."""
    aux = AuxiliaryScript(spec, member, name="restore-drill")
    bin_dir, port, aux_psql = aux.bin_dir, aux.port, aux.aux_psql
    tls = tls_files(spec, member)
    cluster_url = f"https://{member.host}:{member.ports.patroni_rest}/cluster"
    info_json = pgbackrest.command(spec, member, "--output=json", "info")
    bucket = journal_bucket(spec)
    dump_all = [
        f"{bin_dir}/pg_dumpall",
        *("-h", '"$aux"', "-p", str(port), "-U", SUPERUSER),
        "--no-role-passwords",
    ]
    sizes_sql = "SELECT count(*) || ' ' || sum(pg_database_size(oid)) FROM pg_database WHERE datallowconn"
    details = (
        "import json, sys; a = sys.argv[1:]; n = lambda s: int(s) if s else None; print(json.dumps({"
        '"scheduled": a[0] == "1", "member": a[1], "backup": a[2] or None, "repo": n(a[3]), '
        '"databases": n(a[4]), "bytes": n(a[5])}))'
    )
    record = (
        [
            f'if [ -n "$by" ]; then who="$by"; elif [ "$scheduled" = 1 ]; then who="timer on {member.name}"; '
            f'else who="${{SUDO_USER:-$(id -un)}} on {member.name}"; fi',
            'result=ok; [ "$status" -eq 0 ] || result=failed',
            'entry="$(python3 -c ' + shlex.quote(details) + ' "$scheduled" ' + shlex.quote(member.name) + " "
            '"${backup_set:-$wanted}" "$repo" "$databases" "$bytes")"',
            "journal_append "
            + shlex.quote(json.dumps({**dataclasses.asdict(bucket), "key_env": list(bucket.key_env)}))
            + f' {shlex.quote(spec.scope)} "$who" {shlex.quote(journal.RESTORE_DRILL)} "$result" '
            '"$(( $(date +%s) - started ))" "$entry" >&2 || say "the journal entry is missing"',
        ]
        if bucket is not None
        else ['say "no S3 repository to hold the journal: the run is in the metrics only"']
    )
    lines = [
        *aux.prelude("the scheduled restore drill"),
        f"journal_append() {{ python3 - \"$@\" <<'JOURNAL'\n{journal_append_program()}\nJOURNAL\n}}",
        "scheduled=0; backup_set=''; by=''",
        "while [ $# -gt 0 ]; do",
        '  case "$1" in',
        "    --scheduled) scheduled=1; shift ;;",
        '    --set) backup_set="${2:-}"; shift 2 || true ;;',
        # Who asked, for the journal: `pgp restore-drill` passes the operator it acts for.
        '    --by) by="${2:-}"; shift 2 || true ;;',
        f'    *) say "usage: {USAGE}"; exit 2 ;;',
        "  esac",
        "done",
        f'if [ -n "$backup_set" ] && ! [[ "$backup_set" =~ ^{LABEL_PATTERN}$ ]]; then',
        '  say "--set $backup_set: not a pgBackRest backup label (pgp backups lists them)"; exit 2',
        "fi",
        # One drill at a time on a member: a slow restore must not meet the next day's.
        f"exec 9>{shlex.quote(lock_path(spec, member))}",
        'if ! flock -n 9; then say "a restore drill is already running here"; exit 0; fi',
        f'designated="$(curl -sf --max-time 10 --cacert {shlex.quote(tls.ca)} {cluster_url} | '
        f'{_python(_DESIGNATE)})" || designated=""',
        'if [ -z "$designated" ]; then say "Patroni here names no running member: another member drills"; exit 0; fi',
        f'if [ "$designated" != {shlex.quote(member.name)} ]; then say "the drill runs on $designated"; exit 0; fi',
        'started="$(date +%s)"; wanted="$backup_set"; repo=""; databases=""; bytes=""',
        *aux.make_aux(),
        *aux.cleanup(
            [
                f'{_python(_WRITE_METRICS, metrics_path(spec, member))} "$status" "$started" "$(date +%s)" '
                '|| say "the drill metrics are not written"',
                *record,
                'if [ "$status" -eq 0 ]; then say "restore drill passed"; else say "restore drill FAILED"; fi',
            ]
        ),
        f'read -r backup_set repo size < <(as_service {info_json} | {_python(_CHOOSE_BACKUP)} "$backup_set")',
        f'free="$(df --output=avail -B1 {shlex.quote(aux_parent(spec, member))} | tail -n 1)"',
        f'total="$(df --output=size -B1 {shlex.quote(aux_parent(spec, member))} | tail -n 1)"',
        f"if [ $(( free - size )) -lt $(( total * {int(MIN_FREE_AFTER * 100)} / 100 )) ]; then",
        '  say "backup $backup_set is $size bytes restored: the data volume has $free free and would drop below '
        f'{int(MIN_FREE_AFTER * 100)} %; grow the volume"',
        "  exit 1",
        "fi",
        # The whole repository the backup is in, every file against its checksum: the restore below reads only
        # one backup and the WAL to its end.
        'say "verifying repository $repo"',
        f'as_service {pgbackrest.command(spec, member, "verify")} "--repo=$repo"',
        'say "restoring backup $backup_set (repo $repo, $size bytes) into $aux"',
        *aux.restore_and_start("--type=immediate", "--set=$backup_set", "--repo=$repo"),
        'say "reading every database end to end"',
        # Every row of every table is read (a damaged page fails it); the dump itself is not kept.
        f"as_service {' '.join(dump_all)} >/dev/null",
        f'read -r databases bytes < <({aux_psql} -d postgres -c "{sizes_sql}")',
        'say "restored $databases databases, $bytes bytes, from $backup_set"',
        # The one stdout line: what `pgp restore-drill` reports.
        f'echo "{RESULT_PREFIX}$backup_set $repo $databases $bytes"',
    ]
    return "\n".join(lines) + "\n"


def render_cron(spec: ClusterSpec, member: Member, schedule: RestoreDrillSchedule) -> str:
    """Root's timer: the script needs the secrets file and runs the instance as the service user itself."""
    header = (
        f"# rendered by pg-platform dataplane for {spec.scope}/{member.name}; do not edit\n"
        "SHELL=/bin/bash\nPATH=/usr/sbin:/usr/bin:/sbin:/bin\n"
    )
    if not spec.backups_enabled:
        # Nothing to restore: the timer's file stays (the configure step never deletes one), with no schedule.
        return header + "# no restore drill is scheduled: pg-platform:backups.enabled is false for this stage\n"
    return header + f"{schedule.cron} root {RESTORE_DRILL_COMMAND} --scheduled 2>&1 | systemd-cat -t {LOG_TAG}\n"


def scheduled_files(spec: ClusterSpec, member: Member) -> dict[str, tuple[str, int, str]]:
    """Path -> (content, mode, owner) for the configure step: the script (root only: it reads the secrets) and
    its timer."""
    return {
        RESTORE_DRILL_COMMAND: (render_restore_drill(spec, member), 0o700, "root:root"),
        CRON_FILE: (render_cron(spec, member, spec.topology.restore_drill.value), 0o644, "root:root"),
    }
