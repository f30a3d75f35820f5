"""backups_toggle: pg-platform:backups.enabled turned off and on again by the configure step while a client writes
through the router. Off keeps archive_mode on and swaps archive_command for one that archives nothing (a reload,
where archive_mode would need a restart): every member must run the rendered command and no WAL segment may reach
any repository while it is off, although PostgreSQL keeps switching and "archiving" them. On restores the
pgBackRest command: `pgbackrest check` must pass (a fresh segment reaches every repository) and a full backup
succeeds, the base later point-in-time recovery needs, since the WAL of the off period is gone for good.

The settings allow backups off only in a dev stage (stacks/settings.py, and the pack's PGP-BAK-002); the sandbox
runs the prod profile, so the drill applies the rendered change directly, as the configure drill does. The
sandbox schedules no backups or restore drills by cron, so what the drill proves is the archive's part; the
timers' files are rendered and carried by the configure step on a cloud member (tests/program/aws)."""

from __future__ import annotations

import dataclasses
import json
import time

from dataplane.model import ClusterSpec, Member
from dataplane.postgresql import postgresql_parameters
from sandbox import configure, processes
from sandbox.client import Sandbox
from sandbox.harness.outage import TIMED, run_change_with_writer, write_drill_result
from sandbox.harness.result import RECOVER_SECONDS, Drill, DrillOptions, DrillResult, objectives
from sandbox.supervisor import wait_until

NAME = "backups_toggle"
# Segments switched while backups are off: each must be taken by the archiver and reach no repository.
SWITCHED_SEGMENTS = 3
TABLE = "drill_backups_toggle"


def without_backups(spec: ClusterSpec) -> ClusterSpec:
    return dataclasses.replace(spec, backups_enabled=False)


def archive_differences(sandbox: Sandbox, spec: ClusterSpec) -> list[str]:
    """Where a member archives other than `spec` renders (archive_mode stays on either way)."""
    problems = []
    for member in spec.members:
        wanted = str(postgresql_parameters(spec, member)["archive_command"])
        command = processes.psql(sandbox.layout, member, "show archive_command")
        mode = processes.psql(sandbox.layout, member, "show archive_mode")
        pending = processes.psql(sandbox.layout, member, "select count(*) from pg_settings where pending_restart")
        if command != wanted:
            problems.append(f"{member.name}: archive_command {command!r}, rendered {wanted!r}")
        if mode != "on" or pending != "0":
            problems.append(f"{member.name}: archive_mode {mode}, {pending} parameter(s) wait for a restart")
    return problems


def archive_max(sandbox: Sandbox, member: Member) -> dict[int, str]:
    """Repository -> the newest WAL segment it holds (pgbackrest info's archive max)."""
    info = json.loads(processes.pgbackrest(sandbox.layout, member, "--output=json", "info").stdout)
    return {int(a["database"]["repo-key"]): str(a.get("max") or "") for a in info[0].get("archive", [])}


def switch_segments(sandbox: Sandbox, leader: Member, count: int) -> str:
    """`count` segments with a write in each, switched; the last one's name once the archiver has taken it."""
    segment = ""
    for _ in range(count):
        out = processes.psql(
            sandbox.layout,
            leader,
            f"create table if not exists {TABLE} (at timestamptz default now()); insert into {TABLE} default values;"
            " select pg_walfile_name(pg_switch_wal())",
        )
        segment = out.splitlines()[-1]

    def archived() -> bool:
        last = processes.psql(sandbox.layout, leader, "select coalesce(last_archived_wal, '') from pg_stat_archiver")
        return last[-16:] >= segment[-16:]

    wait_until(archived, 60, f"the archiver took {segment}")
    return segment


def backups_toggle(sandbox: Sandbox, options: DrillOptions) -> DrillResult:
    notes: list[str] = []
    sandbox.wait_healthy(RECOVER_SECONDS)
    original = sandbox.layout.spec
    if not original.backups_enabled:
        raise RuntimeError("the backups_toggle drill starts with backups on")
    target = without_backups(original)
    leader_name = sandbox.leader_member().name
    rto = objectives(sandbox).rto_seconds
    reports: list[configure.MemberReport] = []

    def change(spec: ClusterSpec):
        return run_change_with_writer(
            sandbox, NAME, lambda: reports.extend(configure.apply(spec, say=notes.append)), notes
        )

    off = change(target)
    result = write_drill_result(NAME, sandbox, off, leader_name, notes)
    off_differences = archive_differences(sandbox, target)
    leader = sandbox.leader_member()
    # pgBackRest's asynchronous archive-push may still be sending what it had queued before the change.
    time.sleep(2)
    before = archive_max(sandbox, leader)
    switched = switch_segments(sandbox, leader, SWITCHED_SEGMENTS)
    after = archive_max(sandbox, leader)
    pushed_while_off = {repo: newest for repo, newest in after.items() if newest != before.get(repo)}
    if pushed_while_off:
        notes.append(f"WAL reached repositories while backups were off: {pushed_while_off} (switched to {switched})")

    on = change(original)
    on_differences = archive_differences(sandbox, original)
    leader = sandbox.leader_member()
    check = processes.pgbackrest(sandbox.layout, leader, "check", check=False)
    if check.returncode != 0:
        notes.append(f"pgbackrest check failed after backups came back: {(check.stderr or check.stdout)[-1000:]}")
    started = time.monotonic()
    backup = processes.pgbackrest(sandbox.layout, leader, "--repo=1", "--type=full", "backup", check=False)
    backup_seconds = time.monotonic() - started
    if backup.returncode != 0:
        notes.append(f"full backup failed after backups came back: {(backup.stderr or backup.stdout)[-1000:]}")
    archived_again = archive_max(sandbox, leader)
    resumed = all(newest[-16:] > switched[-16:] for newest in archived_again.values())
    processes.psql(sandbox.layout, leader, f"drop table if exists {TABLE}")
    restarts = sorted({s for r in reports for s in r.restart_needed})
    result.measurements.update(
        off_running_equals_rendered=not off_differences,
        segments_switched_while_off=SWITCHED_SEGMENTS,
        pushed_while_off=len(pushed_while_off),
        on_outage_s=on.write_outage_seconds if on.write_outage_seconds is not None else "never",
        on_lost=on.lost,
        on_running_equals_rendered=not on_differences,
        check_passed=check.returncode == 0,
        full_backup_s=round(backup_seconds, 1) if backup.returncode == 0 else "failed",
        archive_resumed=resumed,
        restart_needed=restarts or "none",
    )
    notes += off_differences + on_differences
    slow_on = on.write_outage_seconds is None or on.write_outage_seconds > rto
    if off_differences or on_differences or pushed_while_off or restarts or on.lost or slow_on:
        result.passed = False
    if check.returncode != 0 or backup.returncode != 0 or not resumed:
        result.passed = False
    return result


DRILL = Drill(NAME, backups_toggle, timed=(*TIMED, "on_outage_s"))
