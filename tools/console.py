"""`pgp` (also `python -m tools console`): the operator console, one place for the tasks an operator runs on a
cluster. It works on the local sandbox (the default) and on a deployed stack (`--stack NAME`, members reached
through the cloud's remote-command service), with the same member commands (dataplane/console.py).

    pgp status                      members, roles, lag, pending restarts, versions, the last backup
                                    and drills, firing alerts
    pgp switchover [--to MEMBER]    planned switchover (default: to the synchronous standby)
    pgp restart MEMBER | reload MEMBER|--all | reinit MEMBER
    pgp backup [--type full|diff|incr] | backups
    pgp user lock|unlock ROLE       an application or declared role: no new logins, its sessions ended
    pgp user rotate ROLE            a declared role's new password, shown once (only its verifier is sent)
    pgp restore-table --db D --table T --time TIME [--into D2]
                                    one table as it was at TIME, back into a database
    pgp restore-db --db D --time TIME --into NEW
                                    one database as it was at TIME, as a new database
    pgp restore-drill [--set LABEL]  the scheduled restore drill now, on the member the timer would use
    pgp clone [--at TIME] [--keep]  the cluster (newest backup, or as it was at TIME) restored beside the leader
                                    as a writable instance on its own localhost port; without --keep it is
                                    removed once proven writable (a proof that the repository restores)
    pgp clones | clone --drop NAME  the kept clones (and any scratch instance a failure left); remove one
    pgp psql [--role ROLE] [--route R] [-c SQL]
                                    an application role's session through the router, verify-full
    pgp logs MEMBER [--service S] [--lines N] [--since 2h|TIME]
    pgp config diff                 what applying the stack would change on each member
    pgp inventory                   what runs where, the last backup, drills and actions
    pgp journal [--limit N]         the stack's journal: every action, who, as which duty, when, the result

`--as operator|dba|auditor` acts as one duty (dataplane/duties.py): a command outside it is refused before
anything is sent, naming the duty that runs it; on AWS the console assumes the stage's role for the duty, and
the journal records the duty and the session that acted.

Text for people by default, `--json` for machines. A refused request exits 2 naming the argument; a member
command that fails exits 1 with its error."""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import asdict
from pathlib import Path
from typing import Any, Protocol

from dataplane import console, duties, journal, pitr, restore_drill
from dataplane.console import ConsoleError, MemberState, Ran
from dataplane.model import APP_DATABASE, APP_READWRITE_USER, ClusterSpec, Member
from sandbox.layout import DEFAULT_ROOT, PROFILES
from stacks.errors import UserError

STATUS_TIMEOUT_SECONDS = 60
SWITCHOVER_SECONDS = 120
BACKUP_TIMEOUT_SECONDS = 6 * 3600
RESTORE_TIMEOUT_SECONDS = 6 * 3600
PROGRESS_EVERY_SECONDS = 15


class Target(Protocol):
    spec: ClusterSpec
    where: str

    def patronictl(self, member: Member) -> str: ...
    def run(self, member: Member, shell: str, timeout: float) -> Ran: ...
    def service_log_command(self, member: Member, service: str, lines: int, since: str | None) -> str: ...
    def inventory(self) -> dict[str, Any]: ...
    def config_diff(self) -> list[dict[str, Any]]: ...
    def journal(self) -> journal.S3Journal: ...
    def who(self) -> str: ...
    def tool_command(self, member: Member, path: str, argv: list[str]) -> str: ...
    def alertmanager_alerts(self) -> Ran: ...
    def client_endpoints(self) -> dict[str, dict[str, Any]]: ...
    def client_login(self, role: str) -> AbstractContextManager[tuple[str, str]]: ...


class MemberFailed(RuntimeError):
    pass


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = __doc__
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    where = parser.add_argument_group("target (default: the local sandbox)")
    where.add_argument("--stack", help="a deployed stack: its file Pulumi.<stack>.yaml and its outputs")
    where.add_argument("--outputs", type=Path, help="with --stack: `pulumi stack output --json` saved to a file")
    where.add_argument("--profile", choices=PROFILES, default="prod", help="the sandbox profile (default prod)")
    where.add_argument("--root", type=Path, default=DEFAULT_ROOT, help=f"the sandbox directory ({DEFAULT_ROOT})")
    parser.add_argument("--json", action="store_true", help="print JSON for machines")
    duty = parser.add_argument_group("separation of duties (default: your own identity, no duty)")
    duty.add_argument(
        "--as", dest="duty", choices=duties.DUTIES, help="act as this duty: its commands only, its cloud role"
    )
    duty.add_argument("--mfa-serial", metavar="ARN", help="with --stack and --as: your MFA device, for the role")
    duty.add_argument("--mfa-code", metavar="CODE", help="with --mfa-serial: the code it shows now")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("status", help="members, roles, lag and pending restarts")
    switchover = commands.add_parser("switchover", help="planned switchover")
    switchover.add_argument("--to", help="the member to take over (default: the synchronous standby)")
    for action, helptext in (("restart", "restart one member's PostgreSQL"), ("reinit", "rebuild a replica")):
        commands.add_parser(action, help=helptext).add_argument("member")
    reload = commands.add_parser("reload", help="reload configuration")
    reload.add_argument("member", nargs="?")
    reload.add_argument("--all", action="store_true", help="every member")
    backup = commands.add_parser("backup", help="a backup now, on the leader")
    backup.add_argument("--type", default="full", help=f"one of {', '.join(console.BACKUP_TYPES)} (default full)")
    commands.add_parser("backups", help="the backups in every repository")
    user = commands.add_parser("user", help="lock or unlock a login role, or rotate a declared role's password")
    user.add_argument("action", choices=("lock", "unlock", "rotate"))
    user.add_argument("role")
    for kind, helptext in (("table", "one table as it was at a time"), ("db", "one database as it was at a time")):
        restore = commands.add_parser(f"restore-{kind}", help=f"{helptext}, through an auxiliary instance")
        restore.add_argument("--db", required=True, help="the database (the one the table is in)")
        if kind == "table":
            restore.add_argument("--table", required=True, help="[schema.]table (default schema public)")
        restore.add_argument("--time", required=True, help="ISO 8601 with offset, e.g. 2026-12-02T21:30:00Z")
        restore.add_argument(
            "--into",
            required=kind == "db",
            help="the database to restore into (a table: default --db; a database: a new name)",
        )
    clone = commands.add_parser(
        "clone",
        help="a point-in-time clone beside the leader; without --keep a proof, removed once writable",
        description=(
            "Restore the newest backup (or the cluster as it was at --at) from the stage's repository into a "
            "scratch directory on the leader's data volume, start it on its own localhost port, promote it and "
            "write to it. Without --keep it is then removed: a proof that the repository restores to a writable "
            "cluster, with the restore seconds and the time to writable. With --keep it runs on (not restarted "
            "after a reboot) until `pgp clone --drop NAME`. A failure at any step removes it."
        ),
    )
    clone.add_argument("--at", help="as the cluster was then (ISO 8601 with offset); default: the newest backup")
    clone.add_argument("--keep", action="store_true", help="keep it running until `pgp clone --drop NAME`")
    clone.add_argument("--drop", metavar="NAME", help="remove this kept clone (or leftover scratch instance)")
    commands.add_parser("clones", help="the kept clones and any leftover scratch instance, on every member")
    drill = commands.add_parser("restore-drill", help="verify, restore and read the newest backup now")
    drill.add_argument("--set", metavar="LABEL", help="this backup instead of the newest (pgp backups lists them)")
    psql = commands.add_parser("psql", help="an application role's session through the router (verify-full)")
    psql.add_argument("--role", default=APP_READWRITE_USER, help=f"the role (default {APP_READWRITE_USER})")
    psql.add_argument("--route", help="write, pooled or read (default: read for the read-only role, else write)")
    psql.add_argument("--db", default=APP_DATABASE, help=f"the database (default {APP_DATABASE})")
    psql.add_argument("-c", "--sql", help="run this and print its rows instead of an interactive session")
    logs = commands.add_parser("logs", help="a member's log")
    logs.add_argument("member")
    logs.add_argument("--service", default="postgresql", help=f"one of {', '.join(console.LOG_SERVICES)}")
    logs.add_argument("--lines", type=int, default=console.DEFAULT_LOG_LINES)
    logs.add_argument("--since", help="only lines from then on: 30m, 2h, 1d, or an ISO 8601 time with its offset")
    config = commands.add_parser("config", help="configuration as code")
    config.add_argument("action", choices=("diff",))
    commands.add_parser("inventory", help="what runs where, the last backup, drills and actions")
    journal_parser = commands.add_parser("journal", help="the stack's journal of actions and drills")
    journal_parser.add_argument("--limit", type=int, default=20, help="the newest N entries (default 20)")


def target_for(args: argparse.Namespace) -> Target:
    if args.stack:
        from stacks.files import resolve_stack
        from tools.console_aws import AwsTarget, stack_outputs

        if bool(args.mfa_serial) != bool(args.mfa_code) or (args.mfa_serial and not args.duty):
            raise ConsoleError("--mfa-serial and --mfa-code go together, with --as DUTY")
        stack = resolve_stack(args.stack).name  # an unknown stack is named before the CLI is asked
        mfa = (args.mfa_serial, args.mfa_code) if args.mfa_serial else None
        return AwsTarget(stack, stack_outputs(stack, args.outputs), duty=args.duty, mfa=mfa)
    if args.outputs or args.mfa_serial or args.mfa_code:
        raise ConsoleError("--outputs, --mfa-serial and --mfa-code go with --stack NAME")
    if os.geteuid() != 0:
        raise ConsoleError("the sandbox's member commands run as root: run pgp with sudo, or pass --stack NAME")
    from sandbox.console_target import SandboxTarget
    from sandbox.layout import build_layout

    return SandboxTarget(build_layout(args.profile, root=args.root))


def member_named(target: Target, name: str) -> Member:
    names = [m.name for m in target.spec.members]
    if name not in names:
        raise ConsoleError(f"member {name!r}: no such member; members: {', '.join(names)}")
    return target.spec.member(name)


def run_checked(target: Target, member: Member, shell: str, timeout: float) -> str:
    ran = target.run(member, shell, timeout)
    if ran.status != 0:
        detail = (ran.stderr.strip() or ran.stdout.strip())[-2000:]
        raise MemberFailed(f"{member.name}: exit {ran.status}: {detail}")
    return ran.stdout


def cluster_state(target: Target) -> list[MemberState]:
    """Asked of each member in turn until one answers: a stopped member must not hide the others."""
    errors = []
    for member in target.spec.members:
        ran = target.run(member, console.status_command(target.patronictl(member)), STATUS_TIMEOUT_SECONDS)
        if ran.status == 0:
            try:
                return console.parse_status(ran.stdout)
            except (ValueError, KeyError) as error:
                errors.append(f"{member.name}: unreadable answer ({error})")
                continue
        errors.append(f"{member.name}: {(ran.stderr.strip() or ran.stdout.strip())[-300:]}")
    raise MemberFailed("no member answered for the cluster:\n  " + "\n  ".join(errors))


def leader_member(target: Target) -> Member:
    return target.spec.member(console.leader_of(cluster_state(target)))


def _status_text(target: Target, states: list[MemberState]) -> str:
    lines = [f"{target.where}: {target.spec.scope}"]
    lines.append(f"  {'member':<28} {'role':<13} {'state':<10} {'TL':>3} {'lag MB':>7}  pending restart")
    for s in states:
        lag = "" if s.lag_mb is None else f"{s.lag_mb:g}"
        tl = "" if s.timeline is None else str(s.timeline)
        pending = "yes" if s.pending_restart else ""
        lines.append(f"  {s.name:<28} {s.role:<13} {s.state:<10} {tl:>3} {lag:>7}  {pending}")
    return "\n".join(lines)


def _say(args: argparse.Namespace, text: str) -> None:
    # Progress goes to stderr, so `--json` output on stdout stays one document.
    print(text, file=sys.stderr if args.json else sys.stdout, flush=True)


@contextmanager
def progress(args: argparse.Namespace, doing: str) -> Iterator[None]:
    """`doing` now, and how long it has taken every PROGRESS_EVERY_SECONDS until it ends: a member command
    answers only when it is done."""
    _say(args, doing)
    started = time.monotonic()
    done = threading.Event()

    def tick() -> None:
        while not done.wait(PROGRESS_EVERY_SECONDS):
            _say(args, f"  ... {time.monotonic() - started:.0f} s")

    ticker = threading.Thread(target=tick, daemon=True)
    ticker.start()
    try:
        yield
    finally:
        done.set()
        ticker.join()


def _emit(args: argparse.Namespace, data: Any, text: str) -> None:
    print(json.dumps(data, indent=1, default=str) if args.json else text)


def _last_line(ran: Ran) -> str:
    return ((ran.stderr.strip() or ran.stdout.strip()).splitlines() or [f"exit {ran.status}"])[-1][-300:]


def status_report(target: Target, states: list[MemberState]) -> dict[str, Any]:
    """What `status` adds to the members' state, each part on its own: one that cannot be read is named in
    `unknown` with why, and the others are still reported."""
    unknown: dict[str, str] = {}
    running = [target.spec.member(s.name) for s in states if s.state in ("running", "streaming")]
    versions: dict[str, dict[str, str]] = {}
    for member in running:
        ran = target.run(member, console.versions_command(target.spec, member), STATUS_TIMEOUT_SECONDS)
        if ran.status == 0:
            versions[member.name] = console.parse_versions(ran.stdout)
        else:
            unknown[f"versions on {member.name}"] = _last_line(ran)
    last_backup = None
    if running:
        ran = target.run(running[0], console.backups_command(target.spec, running[0]), STATUS_TIMEOUT_SECONDS)
        if ran.status != 0:
            unknown["last backup"] = _last_line(ran)
        else:
            try:
                done = [b for b in console.summarize_backups(ran.stdout) if not b["error"]]
                last_backup = max(done, key=lambda b: b["stopped_at"] or 0) if done else None
            except (ValueError, TypeError, KeyError, AttributeError) as error:
                unknown["last backup"] = f"unreadable pgbackrest info ({error})"
    drills: dict[str, Any] = {}
    try:
        summary = journal.summary(target.journal().entries())
        drills = {"restore": summary["last_restore_drill"], "failover": summary["last_failover_drill"]}
    except Exception as error:  # the journal is one part of the report; the cluster's state stands without it
        unknown["last drills"] = f"the journal: {type(error).__name__}: {error}"[:300]
    alerts = None
    ran = target.alertmanager_alerts()
    if ran.status != 0:
        unknown["firing alerts"] = _last_line(ran)
    else:
        try:
            alerts = console.parse_alerts(ran.stdout)
        except (ValueError, KeyError, TypeError) as error:
            unknown["firing alerts"] = f"unreadable answer from Alertmanager ({error})"
    return {
        "members": [asdict(s) for s in states],
        "versions": versions,
        "last_backup": last_backup,
        "last_drills": drills,
        "firing_alerts": alerts,
        "unknown": unknown,
    }


def _report_text(report: dict[str, Any]) -> str:
    lines = []
    distinct = {tuple(v.items()) for v in report["versions"].values()}
    for names, found in (
        [("every member", next(iter(report["versions"].values())))]
        if len(distinct) == 1
        else list(report["versions"].items())
    ):
        lines.append(f"  versions ({names}): " + ", ".join(f"{k} {v}" for k, v in found.items()))
    backup = report["last_backup"]
    if backup:
        stopped = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(backup["stopped_at"] or 0))
        size = (backup["size_bytes"] or 0) / 2**20
        where = f"{backup['type']}, repo {backup['repo']}"
        lines.append(f"  last backup: {backup['label']} ({where}), {stopped}, {size:.1f} MiB")
    elif "last backup" not in report["unknown"]:
        lines.append("  last backup: none in any repository")
    for kind, entry in report["last_drills"].items():
        took = "" if not entry or entry["seconds"] is None else f" ({entry['seconds']} s)"
        seen = f"{entry['result']} at {entry['at'][:19]}Z by {entry['who']}{took}" if entry else "none recorded"
        lines.append(f"  last {kind} drill: {seen}")
    alerts = report["firing_alerts"]
    if alerts is not None:
        named = [f"{a['alert']} ({a['severity']}{', ' + a['member'] if a['member'] else ''})" for a in alerts]
        lines.append(f"  firing alerts: {', '.join(named) if named else 'none'}")
    lines += [f"  unknown: {what}: {why}" for what, why in report["unknown"].items()]
    return "\n".join(lines)


def cmd_status(target: Target, args: argparse.Namespace) -> int:
    states = cluster_state(target)
    report = status_report(target, states)
    _emit(args, report, _status_text(target, states) + "\n" + _report_text(report))
    leaders = [s for s in states if s.role == "leader"]
    return 0 if len(leaders) == 1 and all(s.state in ("running", "streaming") for s in states) else 1


def cmd_switchover(target: Target, args: argparse.Namespace) -> int:
    states = cluster_state(target)
    leader = console.leader_of(states)
    candidate = console.switchover_candidate(states, args.to)
    _say(args, f"switching over {leader} -> {candidate}")
    started = time.monotonic()
    run_checked(
        target,
        target.spec.member(leader),
        console.switchover_command(target.patronictl(target.spec.member(leader)), leader, candidate),
        SWITCHOVER_SECONDS,
    )
    deadline = started + SWITCHOVER_SECONDS
    while True:
        try:
            now = cluster_state(target)
            if console.leader_of(now) == candidate and all(s.state in ("running", "streaming") for s in now):
                break
        except (ConsoleError, MemberFailed):
            pass  # mid-switchover: no leader, or a member restarting
        if time.monotonic() > deadline:
            raise MemberFailed(f"{candidate} did not lead with every member running within {SWITCHOVER_SECONDS} s")
        time.sleep(1)
    seconds = round(time.monotonic() - started, 1)
    _emit(
        args,
        {"from": leader, "to": candidate, "seconds": seconds},
        f"{candidate} leads; {leader} follows ({seconds} s)",
    )
    return 0


def cmd_member_action(target: Target, args: argparse.Namespace) -> int:
    action = args.command
    if action == "reload" and args.all == bool(args.member):
        raise ConsoleError("reload: name one MEMBER or pass --all")
    members = list(target.spec.members) if action == "reload" and args.all else [member_named(target, args.member)]
    if action == "reinit" and members[0].name == leader_member(target).name:
        raise ConsoleError(f"reinit {members[0].name}: it is the leader; switch over first (`pgp switchover`)")
    done = []
    for member in members:
        _say(args, f"{action} {member.name}")
        shell = console.member_command(target.patronictl(member), action, target.spec.scope, member.name)
        run_checked(target, member, shell, SWITCHOVER_SECONDS * 3)
        done.append(member.name)
    _emit(args, {"action": action, "members": done}, f"{action}: done on {', '.join(done)}")
    return 0


def cmd_backup(target: Target, args: argparse.Namespace) -> int:
    leader = leader_member(target)
    shell = console.backup_command(target.spec, leader, args.type)
    # With standbys, pgBackRest copies the files from one (backup-standby) and only coordinates on the leader.
    source = "a standby" if len(target.spec.members) > 1 else leader.name
    started = time.monotonic()
    with progress(args, f"{args.type} backup through {leader.name}, files from {source}"):
        run_checked(target, leader, shell, BACKUP_TIMEOUT_SECONDS)
    seconds = round(time.monotonic() - started, 1)
    _emit(args, {"type": args.type, "seconds": seconds}, f"{args.type} backup done in {seconds} s")
    return 0


def cmd_backups(target: Target, args: argparse.Namespace) -> int:
    leader = leader_member(target)
    rows = console.summarize_backups(
        run_checked(target, leader, console.backups_command(target.spec, leader), STATUS_TIMEOUT_SECONDS * 5)
    )
    text = [f"{target.where}: {len(rows)} backup(s)"]
    for r in rows:
        stopped = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(r["stopped_at"])) if r["stopped_at"] else "?"
        size = f"{(r['size_bytes'] or 0) / 2**20:.1f} MiB"
        text.append(f"  repo{r['repo']} {r['label']:<36} {r['type']:<5} {stopped} UTC {size}" + (" ERROR" * r["error"]))
    _emit(args, rows, "\n".join(text))
    return 0


def cmd_user(target: Target, args: argparse.Namespace) -> int:
    role = console.check_role_name(args.role)
    if args.action == "rotate":
        return _rotate(target, args, role)
    sql = console.lock_sql(target.spec, role, args.action == "lock")
    leader = leader_member(target)
    out = run_checked(target, leader, console.psql_command(target.spec, leader, sql), STATUS_TIMEOUT_SECONDS)
    ended = int(out.strip().splitlines()[-1]) if args.action == "lock" and out.strip() else 0
    text = f"{role} locked: no new logins, {ended} session(s) ended" if args.action == "lock" else f"{role} unlocked"
    _emit(args, {"role": role, "action": args.action, "sessions_ended": ended}, text)
    return 0


def _rotate(target: Target, args: argparse.Namespace, role: str) -> int:
    password, salt = console.new_password()
    sql = console.rotate_sql(target.spec, role, console.scram_verifier(password, salt))
    leader = leader_member(target)
    out = run_checked(target, leader, console.psql_command(target.spec, leader, sql), STATUS_TIMEOUT_SECONDS)
    if role not in out.split():
        raise ConsoleError(f"role {role!r} has no login on {leader.name}: run `pulumi up` (or unlock it) first")
    text = (
        f"{role}: new password set on {leader.name} (the standbys replicate it). It is shown once, here; the "
        f"platform keeps no copy:\n  {password}"
    )
    _emit(args, {"role": role, "action": "rotate", "member": leader.name, "password": password}, text)
    return 0


def partial_restore_job(args: argparse.Namespace) -> pitr.PartialRestore:
    database = pitr.check_database(args.db, "--db")
    table = pitr.check_table(args.table) if args.command == "restore-table" else None
    into = pitr.check_database(args.into or database, "--into")
    return pitr.PartialRestore(database, into, pitr.target_time(args.time), table, scratch=pitr.scratch_name())


REMOVE_TIMEOUT_SECONDS = pitr.REMOVE_WAIT_SECONDS + 120


def failed_step(ran: Ran) -> str:
    """The step a scratch script names when it fails (pitr.FAILED_AT), or why there is none."""
    for line in reversed(ran.stderr.splitlines()):
        if pitr.FAILED_AT in line:
            return line.split(pitr.FAILED_AT, 1)[1].rstrip("'")
    return "unknown: the member did not answer" if ran.status == 124 else "unknown"


def scratch_failure(target: Target, member: Member, directory: str, what: str, ran: Ran) -> MemberFailed:
    """A scratch script failed: its instance removed from outside as well (the script's own cleanup may not have
    run: killed by a timeout, its member unreachable), and the failure named with its step and what is left."""
    name = Path(directory).name
    removal = target.run(member, pitr.remove_scratch_command(target.spec, member, directory), REMOVE_TIMEOUT_SECONDS)
    removed = [line for line in removal.stdout.splitlines() if line.startswith("removed=")]
    if removal.status == 0 and removed:
        # `removed=` alone: the script's own cleanup had removed it already.
        left = f"its scratch instance {directory} is removed"
    else:
        scratch = name.removeprefix(pitr.CLONE_PREFIX).removeprefix(pitr.AUX_PREFIX)
        left = (
            f"its scratch instance {directory} may be left: removing it failed ({_last_line(removal)}); "
            f"remove it with `pgp clone --drop {scratch}` once {member.name} answers"
        )
    steps = ran.stderr.strip()[-3000:] or ran.stdout.strip()[-3000:] or f"exit {ran.status}"
    return MemberFailed(f"{member.name}: {what} failed at step {failed_step(ran)}; {left}:\n{steps}")


def cmd_partial_restore(target: Target, args: argparse.Namespace) -> int:
    job = partial_restore_job(args)
    assert job.scratch is not None
    leader = leader_member(target)
    for refusal, (database, sql) in pitr.refusal_queries(job).items():
        answer = run_checked(target, leader, console.psql_command(target.spec, leader, sql, database), 60)
        if answer.strip() == "t":
            raise ConsoleError(refusal)
    what = job.table or job.database
    started = time.monotonic()
    with progress(args, f"restoring {what} as of {job.target} into {job.into}, through an instance on {leader.name}"):
        ran = target.run(leader, pitr.render_partial_restore(target.spec, leader, job), RESTORE_TIMEOUT_SECONDS)
    if ran.status != 0:
        directory = pitr.scratch_dir(target.spec, leader, pitr.AUX_PREFIX, job.scratch)
        raise scratch_failure(target, leader, directory, f"the {job.kind} restore", ran)
    key, _, count = ran.stdout.strip().splitlines()[-1].partition("=")
    seconds = round(time.monotonic() - started, 1)
    data = {
        "restored": what,
        "kind": job.kind,
        "as_of": job.target,
        "into": job.into,
        key: int(count),
        "seconds": seconds,
    }
    _emit(args, data, f"{what} as of {job.target} restored into {job.into}: {count} {key} ({seconds} s)")
    return 0


def cmd_clone(target: Target, args: argparse.Namespace) -> int:
    if args.drop is not None:
        if args.at or args.keep:
            raise ConsoleError("--drop NAME removes a clone: it takes no --at or --keep")
        return _drop_scratch(target, args, pitr.check_scratch_name(args.drop, "--drop"))
    at = pitr.target_time(args.at, option="--at") if args.at else None
    job = pitr.Clone(pitr.scratch_name(), at, args.keep)
    args.name = job.name  # the journal entry names the clone, so that a kept one can be traced to who made it
    leader = leader_member(target)
    directory = pitr.clone_directory(target.spec, leader, job.name)
    what = "the newest backup" if at is None else f"the cluster as of {at}"
    started = time.monotonic()
    with progress(args, f"clone {job.name}: restoring {what} beside {leader.name}, then promoting it"):
        ran = target.run(leader, pitr.render_clone(target.spec, leader, job), RESTORE_TIMEOUT_SECONDS)
    if ran.status != 0:
        raise scratch_failure(target, leader, directory, f"clone {job.name}", ran)
    try:
        found = pitr.parse_clone_result(ran.stdout)
    except ValueError:
        raise scratch_failure(
            target, leader, directory, f"clone {job.name}", Ran(1, ran.stdout, "no result line")
        ) from None
    port = int(found["port"])
    data = {
        "name": job.name,
        "member": leader.name,
        "of": "newest backup" if at is None else at,
        "kept": job.keep,
        "port": port,
        "directory": directory if job.keep else None,
        "dsn": pitr.clone_dsn(directory, port) if job.keep else None,
        "application_dsn": f"host={pitr.CLONE_LISTEN} port={port}" if job.keep else None,
        **{k: v for k, v in found.items() if k != "port"},
        "seconds": round(time.monotonic() - started, 1),
    }
    timing = f"restore {found['restore_seconds']} s, writable {found['writable_seconds']} s after start"
    if job.keep:
        text = (
            f"clone {job.name} of {what}: writable on {leader.name} at {pitr.CLONE_LISTEN}:{port} ({timing}, "
            f"{found['databases']} databases), kept until `pgp clone --drop {job.name}`\n"
            f"  superuser, on {leader.name} as root: setpriv --reuid=postgres -- psql '{data['dsn']}'\n"
            f"  the cluster's roles, on {leader.name}: host={pitr.CLONE_LISTEN} port={port}"
        )
    else:
        text = (
            f"clone {job.name} of {what} proven on {leader.name}: restored, promoted and written to ({timing}, "
            f"{found['databases']} databases), then removed; pass --keep to keep one"
        )
    _emit(args, data, text)
    return 0


def scratch_instances(target: Target) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Every member's scratch instances, and the members that did not answer with why."""
    rows: list[dict[str, Any]] = []
    unanswered: dict[str, str] = {}
    for member in target.spec.members:
        ran = target.run(member, pitr.list_scratch_command(target.spec, member), STATUS_TIMEOUT_SECONDS)
        if ran.status != 0:
            unanswered[member.name] = _last_line(ran)
            continue
        for row in pitr.parse_scratch_list(ran.stdout):
            prefix = pitr.CLONE_PREFIX if row["kind"] == "clone" else pitr.AUX_PREFIX
            directory = pitr.scratch_dir(target.spec, member, prefix, str(row["name"]))
            dsn = pitr.clone_dsn(directory, int(row["port"])) if row["port"] is not None else None
            rows.append({"member": member.name, **row, "directory": directory, "dsn": dsn})
    return rows, unanswered


def cmd_clones(target: Target, args: argparse.Namespace) -> int:
    rows, unanswered = scratch_instances(target)
    text = [f"{target.where}: {len(rows)} scratch instance(s)"]
    for r in rows:
        made = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(r["created"]))
        port = "" if r["port"] is None else f"port {r['port']}"
        text.append(f"  {r['name']:<24} {r['kind']:<9} {r['member']:<20} {r['state']:<8} {port:<10} {made} UTC")
    text += [f"  {name}: did not answer: {why}" for name, why in unanswered.items()]
    _emit(args, {"instances": rows, "unanswered": unanswered}, "\n".join(text))
    return 0


def _drop_scratch(target: Target, args: argparse.Namespace, name: str) -> int:
    rows, unanswered = scratch_instances(target)
    found = [r for r in rows if r["name"] == name]
    if not found:
        missing = f" ({', '.join(unanswered)} did not answer)" if unanswered else ""
        raise ConsoleError(f"--drop {name}: no clone or scratch instance of that name{missing}; pgp clones lists them")
    row = found[0]
    member = target.spec.member(row["member"])
    shell = pitr.remove_scratch_command(target.spec, member, row["directory"])
    with progress(args, f"removing {row['kind']} {name} on {member.name}"):
        run_checked(target, member, shell, REMOVE_TIMEOUT_SECONDS)
    _emit(args, {"dropped": name, "member": member.name, "directory": row["directory"]}, f"{name} removed")
    return 0


def cmd_restore_drill(target: Target, args: argparse.Namespace) -> int:
    """The timer's script on each member in turn: the members that are not the designated one exit at once, and
    the one that is drills, recording the run in the journal itself (as the timer does) for this operator."""
    if args.set is not None and not re.fullmatch(restore_drill.LABEL_PATTERN, args.set):
        raise ConsoleError(f"--set {args.set!r}: not a pgBackRest backup label; pgp backups lists them")
    argv = ["--by", target.who(), *(["--set", args.set] if args.set else [])]
    started = time.monotonic()
    passed_by: list[str] = []
    with progress(args, "restore drill: verifying, restoring and reading the backup on the member the timer uses"):
        for member in target.spec.members:
            command = target.tool_command(member, restore_drill.RESTORE_DRILL_COMMAND, argv)
            ran = target.run(member, command, RESTORE_TIMEOUT_SECONDS)
            steps = ran.stderr.strip()[-3000:]
            if ran.status != 0:
                raise MemberFailed(f"{member.name}: the restore drill failed and left nothing behind:\n{steps}")
            result = [line for line in ran.stdout.splitlines() if line.startswith(restore_drill.RESULT_PREFIX)]
            if result:
                label, repo, databases, size = result[-1].removeprefix(restore_drill.RESULT_PREFIX).split()
                seconds = round(time.monotonic() - started, 1)
                data = {
                    "member": member.name,
                    "backup": label,
                    "repo": int(repo),
                    "databases": int(databases),
                    "bytes": int(size),
                    "seconds": seconds,
                }
                text = (
                    f"restore drill passed on {member.name}: backup {label} (repo {repo}) verified, restored and "
                    f"read, {databases} databases, {int(size) / 2**20:.1f} MiB ({seconds} s)"
                )
                _emit(args, data, text)
                return 0
            passed_by.append(f"{member.name}: {steps.splitlines()[-1] if steps else 'no answer'}")
    raise MemberFailed("no member took the drill:\n  " + "\n  ".join(passed_by))


def cmd_psql(target: Target, args: argparse.Namespace) -> int:
    """psql as an application role, the way its applications connect: through the router, the server's name and
    certificate verified against the cluster CA, the password from the stack's secrets store."""
    endpoints = target.client_endpoints()
    route = console.client_route(args.role, list(endpoints), args.route)
    psql = shutil.which("psql")
    if psql is None:
        raise ConsoleError("psql is not installed here: apt-get install postgresql-client")
    if args.sql is None and not sys.stdin.isatty():
        raise ConsoleError("no terminal for an interactive session: pass -c SQL")
    host, port = str(endpoints[route]["host"]), int(endpoints[route]["port"])
    with target.client_login(args.role) as (password, ca_file):
        conninfo = console.client_conninfo(host, port, args.role, args.db, ca_file)
        env = {**os.environ, "PGPASSWORD": password}
        if args.sql is None:
            _say(args, f"{args.role} on {args.db} through the {route} route ({host}:{port}), verify-full")
            return subprocess.run([psql, conninfo], env=env).returncode
        done = subprocess.run(
            [psql, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", args.sql, conninfo],
            env=env,
            capture_output=True,
            text=True,
            timeout=STATUS_TIMEOUT_SECONDS,
        )
    if done.returncode != 0:
        raise MemberFailed(f"psql as {args.role} through {host}:{port}: {done.stderr.strip()[-1000:]}")
    rows = done.stdout.rstrip("\n").splitlines()
    data = {"role": args.role, "route": route, "host": host, "port": port, "rows": rows}
    _emit(args, data, "\n".join(rows))
    return 0


def cmd_logs(target: Target, args: argparse.Namespace) -> int:
    member = member_named(target, args.member)
    console.check_log_request(args.service, args.lines)
    since = console.since_time(args.since) if args.since else None
    shell = (
        console.postgresql_log_command(target.spec, member, args.lines, since)
        if args.service == "postgresql"
        else target.service_log_command(member, args.service, args.lines, since)
    )
    out = run_checked(target, member, shell, STATUS_TIMEOUT_SECONDS)
    _emit(args, {"member": member.name, "service": args.service, "lines": out.splitlines()}, out.rstrip("\n"))
    return 0


def diff_text(found: dict[str, Any]) -> str:
    """One member's configure diff for people (`pgp config diff`, `tools sandbox configure --diff`)."""
    lines = [f"{found['member']} ({found['role']}):"]
    lines += [f"  file differs: {path}" for path in found["files_differ"]]
    if found["dcs_patch"]:
        lines.append(f"  dynamic configuration to patch: {found['dcs_patch']}")
    lines += [
        f"  restart pending: {name} {change.get('old_value')} -> {change.get('new_value')}"
        for name, change in found["pending_reason"].items()
    ]
    return "\n".join(lines) if len(lines) > 1 else f"{lines[0]} runs what the stack renders"


def anything_differs(found: list[dict[str, Any]]) -> bool:
    return any(d["files_differ"] or d["dcs_patch"] or d["pending_reason"] for d in found)


def cmd_config(target: Target, args: argparse.Namespace) -> int:
    found = target.config_diff()
    _emit(args, found, "\n".join(diff_text(d) for d in found))
    return 1 if anything_differs(found) else 0


def _entry_text(e: dict[str, Any]) -> str:
    took = "" if e["seconds"] is None else f" ({e['seconds']} s)"
    duty = f" as {e['duty']}" if e.get("duty") else ""
    return f"{e['at'][:19]}Z  {e['action']:<20} {e['result']:<6} {e['who']}{duty}{took}"


def cmd_inventory(target: Target, args: argparse.Namespace) -> int:
    found = target.inventory()
    unknown = "unreachable"
    roles: dict[str, str] = {}
    if not duties.sends_member_commands(args.duty):
        unknown = f"not asked (the {args.duty} sends no member command)"
    else:
        with suppress(MemberFailed):
            roles = {s.name: s.role for s in cluster_state(target)}
    # A copy: the target's inventory is what the stack exported, not what runs now.
    found = {**found, "members": {n: {**m, "role": roles.get(n, unknown)} for n, m in found["members"].items()}}
    text = [f"{found['scope']} on {found['cloud']} {found['region']}"]
    text += [f"  {name:<28} {m['zone']:<14} {m['id']:<22} {m['role']}" for name, m in found["members"].items()]
    try:
        found["journal"] = journal.summary(target.journal().entries())
    except Exception as error:  # the journal's bucket unreachable: what runs where is still worth showing
        found["journal"] = {"error": f"{type(error).__name__}: {error}"}
        text.append(f"journal unreadable: {found['journal']['error']}")
    else:
        for label, name in (
            ("last backup (pgp)", "last_backup"),
            ("last restore drill", "last_restore_drill"),
            ("last failover drill", "last_failover_drill"),
            ("last switchover", "last_switchover"),
        ):
            last = found["journal"][name]
            text.append(f"{label + ':':<21} {_entry_text(last) if last else 'none recorded'}")
    _emit(args, found, "\n".join(text))
    return 0


def cmd_journal(target: Target, args: argparse.Namespace) -> int:
    if args.limit < 1:
        raise ConsoleError(f"--limit {args.limit}: give a positive number")
    entries = sorted(target.journal().entries(), key=lambda e: e.at)[-args.limit :]
    rows = [asdict(e) for e in entries]
    _emit(args, rows, "\n".join(_entry_text(r) for r in rows) or "the journal is empty")
    return 0


# What changes the cluster, and so is recorded in the journal with its arguments and result.
RECORDED = ("switchover", "restart", "reload", "reinit", "backup", "user", "restore-table", "restore-db", "clone")
# Where and as whom, not what: the duty has its own field, and an MFA code is never written down.
_NOT_ARGUMENTS = {"stack", "outputs", "profile", "root", "json", "command", "duty", "mfa_serial", "mfa_code"}


def record(target: Target, args: argparse.Namespace, result: str, seconds: float, error: str = "") -> None:
    details = {k: v for k, v in vars(args).items() if k not in _NOT_ARGUMENTS and v not in (None, False)}
    if error:
        details["error"] = error[-1000:]
    action = f"user {args.action}" if args.command == "user" else args.command
    if args.command == "clone" and args.drop:
        action = "clone drop"
    try:
        target.journal().append(journal.entry(action, target.who(), result, seconds, details, duty=args.duty))
    except Exception as failure:  # an action that was done stays done; the operator is told it went unrecorded
        print(f"pgp {args.command}: warning: not recorded in the journal: {failure}", file=sys.stderr)


COMMANDS = {
    "status": cmd_status,
    "switchover": cmd_switchover,
    "restart": cmd_member_action,
    "reload": cmd_member_action,
    "reinit": cmd_member_action,
    "backup": cmd_backup,
    "backups": cmd_backups,
    "user": cmd_user,
    "restore-table": cmd_partial_restore,
    "restore-db": cmd_partial_restore,
    "restore-drill": cmd_restore_drill,
    "clone": cmd_clone,
    "clones": cmd_clones,
    "psql": cmd_psql,
    "logs": cmd_logs,
    "config": cmd_config,
    "inventory": cmd_inventory,
    "journal": cmd_journal,
}


def main(args: argparse.Namespace) -> int:
    try:
        # Before any target exists: a command outside the duty sends nothing and asks no cloud anything.
        duties.check(args.duty, duties.request(args.command, getattr(args, "action", None)))
        target = target_for(args)
        started = time.monotonic()
        try:
            code = COMMANDS[args.command](target, args)
        except MemberFailed as error:
            if args.command in RECORDED:
                record(target, args, "failed", time.monotonic() - started, str(error))
            raise
        if args.command in RECORDED:
            record(target, args, "ok" if code == 0 else "failed", time.monotonic() - started)
        return code
    except (ConsoleError, UserError) as error:
        print(f"pgp {args.command}: {error}", file=sys.stderr)
        return 2
    except MemberFailed as error:
        print(f"pgp {args.command}: {error}", file=sys.stderr)
        return 1


def run(argv: list[str] | None = None) -> int:
    """The `pgp` entry point."""
    parser = argparse.ArgumentParser(prog="pgp")
    add_arguments(parser)
    return main(parser.parse_args(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    sys.exit(run())
