"""restore: a full backup into one pgBackRest repository, WAL archived into it, and a point-in-time restore from
it into a scratch instance on its own port: the whole backup path against that repository's storage."""

from __future__ import annotations

import json
import shutil
import signal
import time
import uuid

from dataplane import pgbackrest as pgbackrest_render
from dataplane import pitr
from dataplane.pg_hba import render_pg_hba
from sandbox import processes
from sandbox.client import Sandbox
from sandbox.environment import node_environment
from sandbox.files import service_dir, write_file
from sandbox.harness.result import RECOVER_SECONDS, Drill, DrillOptions, DrillResult, objectives
from sandbox.layout import LOOPBACK
from sandbox.supervisor import Service, stop_postmaster, wait_until

NAME = "restore"
RESTORE_ROWS = 100
SCRATCH_SERVICE = "restore-scratch"


def restore(sandbox: Sandbox, options: DrillOptions) -> DrillResult:
    layout = sandbox.layout
    repo = options.repo
    notes: list[str] = []
    sandbox.wait_healthy(RECOVER_SECONDS)
    leader = sandbox.leader_member()
    run = f"restore-{uuid.uuid4().hex[:8]}"

    def psql(sql: str) -> str:
        return processes.psql(layout, leader, sql)

    # A fresh full backup into this repository, so the restore below reads a backup written by this run.
    backup_started = time.monotonic()
    processes.pgbackrest(layout, leader, f"--repo={repo}", "--type=full", "backup")
    backup_seconds = time.monotonic() - backup_started
    # Restore exactly that backup. Left to choose, pgBackRest takes the newest backup that stopped before the
    # target, in whole seconds: a target within the second the backup stopped makes it take an older one.
    info = json.loads(processes.pgbackrest(layout, leader, f"--repo={repo}", "--output=json", "info").stdout)
    backup_set = info[0]["backup"][-1]["label"]
    psql(
        "create table if not exists drill_restore (run text, phase text, n int, "
        "at timestamptz default clock_timestamp())"
    )
    insert = "insert into drill_restore (run, phase, n) select '{run}', '{phase}', g from generate_series(1, {rows}) g"
    psql(insert.format(run=run, phase="before", rows=RESTORE_ROWS))
    # The target lies strictly between the two commits, so a correct restore has all of one and none of the other.
    time.sleep(0.2)
    target = psql("select to_char(clock_timestamp() at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'")
    time.sleep(0.2)
    psql(insert.format(run=run, phase="after", rows=RESTORE_ROWS))
    segment = psql("select pg_walfile_name(pg_switch_wal())")
    wait_until(
        lambda: (psql("select coalesce(last_archived_wal, '') from pg_stat_archiver") or "")[-16:] >= segment[-16:],
        60,
        f"WAL segment {segment} archived",
        interval=0.2,
    )

    scratch = layout.scratch_dir
    data_dir = scratch / "data"
    sup = processes.supervisor(layout)
    sup.stop(SCRATCH_SERVICE)
    stop_postmaster(data_dir)
    shutil.rmtree(scratch, ignore_errors=True)
    service_dir(scratch, 0o750)
    service_dir(data_dir, 0o700)
    run_dir = service_dir(scratch / "run")
    hba_file = scratch / "pg_hba.conf"
    write_file(hba_file, render_pg_hba(layout.spec))

    started = time.monotonic()
    processes.run_as_service_user(
        pgbackrest_render.side_restore_argv(
            layout.spec,
            leader,
            str(scratch),
            f"--repo={repo}",
            f"--set={backup_set}",
            "--type=time",
            f"--target={target}",
            "--target-action=promote",
        ),
        env=node_environment(layout),
    )
    restored_files = time.monotonic() - started
    # Recovery must fetch its WAL from the repository under test, not from the first one that has it.
    auto_conf = (data_dir / "postgresql.auto.conf").read_text()
    restore_command = next((line for line in auto_conf.splitlines() if "restore_command" in line), "")
    wal_from_repo = f"--repo={repo} " in restore_command
    # ...and under its own archive lock, so the leader archiving meanwhile cannot stall it.
    own_archive_lock = f"--lock-path={scratch}/" in restore_command
    paths = layout.member_paths(leader.name)
    overrides = pitr.auxiliary_settings(
        layout.spec, "restore-drill", layout.scratch_port, LOOPBACK, str(run_dir), str(hba_file)
    )
    argv = [f"{paths.postgres_bin_dir}/postgres", "-D", str(data_dir)]
    for key, value in overrides.items():
        argv += ["-c", f"{key}={value}"]

    def scratch_sql(sql: str) -> str:
        return processes.run_as_service_user(
            [
                f"{paths.postgres_bin_dir}/psql",
                "-X",
                "-q",
                "-A",
                "-t",
                "-h",
                str(run_dir),
                "-p",
                str(layout.scratch_port),
                "-d",
                "postgres",
                "-c",
                sql,
            ],
            timeout=30,
        ).stdout.strip()

    passed = False
    try:
        sup.start(
            Service(
                SCRATCH_SERVICE,
                argv,
                env=node_environment(layout),
                ready=lambda: scratch_sql("select pg_is_in_recovery()") == "f",
                ready_timeout=120,
            )
        )
        restore_seconds = time.monotonic() - started
        counts = dict(
            line.split("|")
            for line in scratch_sql(
                f"select phase, count(*) from drill_restore where run = '{run}' group by phase"
            ).splitlines()
            if line
        )
        before, after = int(counts.get("before", 0)), int(counts.get("after", 0))
        passed = before == RESTORE_ROWS and after == 0 and wal_from_repo and own_archive_lock
        obj = objectives(sandbox)
        passed = passed and restore_seconds <= obj.rto_seconds
        measurements = {
            "backup_s": backup_seconds,
            "restore_s": restore_seconds,
            "files_restored_s": restored_files,
            "rows_before_target": f"{before}/{RESTORE_ROWS}",
            "rows_after_target": after,
            "repo": f"repo{repo} ({layout.repository_kind(repo)})",
            "wal_from_repo": wal_from_repo,
            "own_archive_lock": own_archive_lock,
            "target": target,
            "backup_set": backup_set,
        }
    finally:
        sup.stop(SCRATCH_SERVICE, sig=signal.SIGINT)
        stop_postmaster(data_dir)
        shutil.rmtree(scratch, ignore_errors=True)
        psql(f"delete from drill_restore where run = '{run}'")
    return DrillResult(
        NAME,
        passed,
        measurements,
        f"a full backup, then all {RESTORE_ROWS} rows committed before the target and none after, replayed from "
        f"that repository's archive; restore within "
        f"RTO {objectives(sandbox).rto_seconds} s",
        notes,
    )


DRILL = Drill(NAME, restore, timed=("backup_s", "restore_s"))
