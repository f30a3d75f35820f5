"""Drills: break the running sandbox the way production breaks, measure against the stage's objectives,
and put the cluster back so the next drill starts from a healthy state.

Each drill returns a DrillResult whose `passed` is computed from measurements, never assumed.
"""
from __future__ import annotations

import os
import shutil
import signal
import statistics
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import psycopg
from psycopg import errors as pg_errors

from dataplane.model import (APP_OWNER_ROLE, APP_READONLY_USER, APP_READWRITE_USER, SUPERUSER, Member)
from sandbox import cluster
from sandbox.client import Sandbox
from sandbox.layout import LOOPBACK
from sandbox.supervisor import (Service, ServiceError, postmaster_pid, process_start_time, stop_postmaster,
                                terminate, wait_until)
from sandbox.writer import AcknowledgedWriter, ensure_table, ids_present

WRITER_WARMUP_COMMITS = 20
AFTER_RESUME_SECONDS = 1.0
RECOVER_SECONDS = 90
RESTORE_ROWS = 100


@dataclass
class DrillResult:
    name: str
    passed: bool
    measurements: dict[str, object]
    objective: str
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        shown = ", ".join(f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}" for k, v in self.measurements.items())
        lines = [f"{self.name}: {'PASS' if self.passed else 'FAIL'} -- {shown}", f"  objective: {self.objective}"]
        lines += [f"  {n}" for n in self.notes]
        return "\n".join(lines)


def objectives(sandbox: Sandbox):
    return sandbox.layout.settings.objectives


# --- breaking and mending members ----------------------------------------------------------------------
def child_pids(parent: int) -> list[int]:
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat[stat.rindex(")") + 2:].split()[1]) == parent:
            children.append(int(entry.name))
    return children


def kill_postmaster(sandbox: Sandbox, member: Member, with_children: bool) -> int:
    data_dir = Path(sandbox.layout.member_paths(member.name).data_dir)
    pid = postmaster_pid(data_dir)
    if pid is None:
        raise RuntimeError(f"{member.name} has no running postmaster")
    victims = [pid] + (child_pids(pid) if with_children else [])
    for victim in victims:
        try:
            os.kill(victim, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return pid


def kill_node(sandbox: Sandbox, member: Member) -> None:
    """What losing the machine looks like to the rest of the cluster: Patroni and every PostgreSQL process
    gone at once, nothing shut down cleanly (etcd is left alone: losing a DCS voter is a separate failure)."""
    sup = cluster.supervisor(sandbox.layout)
    data_dir = Path(sandbox.layout.member_paths(member.name).data_dir)
    postmaster = postmaster_pid(data_dir)
    victims = ([postmaster] + child_pids(postmaster)) if postmaster else []
    sup.kill(cluster.patroni_name(member))
    for victim in victims:
        try:
            os.kill(victim, signal.SIGKILL)
        except ProcessLookupError:
            pass


def recover_member(sandbox: Sandbox, member: Member, notes: list[str]) -> float:
    """Restart the member's Patroni; it rejoins as a replica (pg_rewind if it diverged). If it cannot,
    reinitialise it from the leader. Returns the seconds until the cluster is healthy again."""
    layout = sandbox.layout
    start = time.monotonic()
    sup = cluster.supervisor(layout)
    if sup.running(cluster.patroni_name(member)) is None:
        # Backends of a killed postmaster may still hold its shared memory for a moment.
        wait_until(lambda: postmaster_pid(Path(layout.member_paths(member.name).data_dir)) is None, 15,
                   f"{member.name}'s old postmaster to be gone")
        sup.start(cluster.patroni_service(layout, member))
    try:
        sandbox.wait_healthy(RECOVER_SECONDS)
    except ServiceError:
        notes.append(f"{member.name} did not rejoin by itself; reinitialising it from the leader")
        status, body = sandbox.rest(member, "/reinitialize", "POST", {"force": True}, auth=True)
        if status != 200:
            raise RuntimeError(f"reinitialize {member.name}: HTTP {status} {body}")
        sandbox.wait_healthy(RECOVER_SECONDS * 2)
    return time.monotonic() - start


# --- the write-availability drills --------------------------------------------------------------------
@dataclass
class Outage:
    write_outage_seconds: float | None   # longest stretch without an acknowledged commit, None if never resumed
    acked: int
    lost: int
    unconfirmed: int
    errors: int
    new_leader: str | None


def run_with_writer(sandbox: Sandbox, name: str, disrupt: Callable[[], None], max_seconds: float,
                    notes: list[str], leader_settled: Callable[[str | None], bool]) -> Outage:
    """Write through the router, `disrupt`, wait until the cluster has settled and commits have been
    acknowledged without error for a while, then count acknowledged commits missing on the leader.

    The outage is measured on the client's timeline only: the longest interval without an acknowledged
    commit, from the last one before the disruption to the end of the drill, so a commit stuck in a
    blocked session counts as downtime even if no error ever surfaces."""
    sandbox.wait_healthy(RECOVER_SECONDS)
    sandbox.wait_router_write()
    table = ensure_table(sandbox)
    run = f"{name}-{uuid.uuid4().hex[:8]}"
    writer = AcknowledgedWriter(sandbox, table, run, max_seconds=max_seconds + 30)
    writer.start()
    wait_until(lambda: len(writer.log.acked) >= WRITER_WARMUP_COMMITS, 15, "writer warm-up commits")
    event_at = time.monotonic()
    disrupt()

    def settled() -> bool:
        state = sandbox.cluster()
        if state is None or not leader_settled(state.leader):
            return False
        errors = [t for t, _ in writer.log.errors if t >= event_at]
        if not errors:
            return False
        last_error = errors[-1]
        return writer.log.first_ack_after(last_error) is not None and time.monotonic() - last_error >= AFTER_RESUME_SECONDS

    resumed = True
    try:
        wait_until(settled, max_seconds, "writes to resume without errors through the router", interval=0.1)
    except ServiceError as exc:
        resumed = False
        notes.append(str(exc))
    writer.stop()
    stopped_at = time.monotonic()
    writer.join(15)
    if writer.is_alive():
        notes.append("the writer was still blocked in a commit when the drill ended")
    before = [t for _, t in writer.log.acked if t < event_at]
    after = [t for _, t in writer.log.acked if event_at <= t <= stopped_at]
    timeline = before[-1:] + after + [stopped_at]
    outage = max((b - a for a, b in zip(timeline, timeline[1:])), default=0.0) if resumed else None
    present = ids_present(sandbox, table, run)
    lost = sorted(writer.log.acked_ids() - present)
    if lost:
        notes.append(f"acknowledged ids missing on the leader: {lost[:20]}")
    state = sandbox.cluster()
    return Outage(outage, len(writer.log.acked), len(lost), len(writer.log.unconfirmed),
                  len(writer.log.errors), state.leader if state else None)


def _write_drill_result(name: str, sandbox: Sandbox, outage: Outage, old_leader: str, notes: list[str]) -> DrillResult:
    obj = objectives(sandbox)
    seconds = outage.write_outage_seconds
    passed = seconds is not None and seconds <= obj.rto_seconds and outage.lost == 0
    measurements = {"write_outage_s": seconds if seconds is not None else "never resumed",
                    "acknowledged": outage.acked, "acknowledged_lost": outage.lost,
                    "unacknowledged_attempts": outage.unconfirmed,
                    "leader": f"{old_leader} -> {outage.new_leader}"}
    return DrillResult(name, passed, measurements,
                       f"RTO {obj.rto_seconds} s, RPO {obj.rpo_seconds} s (0 acknowledged commits lost)", notes)


def failover(sandbox: Sandbox) -> DrillResult:
    notes: list[str] = []
    sandbox.wait_healthy(RECOVER_SECONDS)
    leader = sandbox.leader_member()
    outage = run_with_writer(sandbox, "failover", lambda: kill_node(sandbox, leader),
                             objectives(sandbox).rto_seconds * 3, notes,
                             leader_settled=lambda now: now is not None and now != leader.name)
    result = _write_drill_result("failover", sandbox, outage, leader.name, notes)
    result.measurements["rejoined_s"] = recover_member(sandbox, leader, notes)
    return result


def crash(sandbox: Sandbox) -> DrillResult:
    notes: list[str] = []
    sandbox.wait_healthy(RECOVER_SECONDS)
    leader = sandbox.leader_member()
    outage = run_with_writer(sandbox, "crash", lambda: kill_postmaster(sandbox, leader, with_children=False),
                             objectives(sandbox).rto_seconds * 3, notes,
                             leader_settled=lambda now: now is not None)
    result = _write_drill_result("crash", sandbox, outage, leader.name, notes)
    how = "restarted in place" if outage.new_leader == leader.name else f"failed over to {outage.new_leader}"
    notes.append(f"Patroni {how} (primary_start_timeout {sandbox.layout.spec.topology.primary_start_timeout.value} s)")
    result.measurements["healthy_again_s"] = recover_member(sandbox, leader, notes)
    return result


def switchover(sandbox: Sandbox) -> DrillResult:
    notes: list[str] = []
    sandbox.wait_healthy(RECOVER_SECONDS)
    state = sandbox.cluster()
    leader = sandbox.layout.spec.member(state.leader)
    # In synchronous mode only the sync standby may take over without risking acknowledged commits.
    candidate = state.sync_standbys[0] if state.sync_standbys else state.streaming_replicas[0]
    answers: list[str] = []

    def request_switchover() -> None:
        status, body = sandbox.rest(leader, "/switchover", "POST",
                                    {"leader": leader.name, "candidate": candidate}, auth=True, timeout=60)
        answers.append(f"HTTP {status}: {body}")
        if status != 200:
            raise RuntimeError(f"switchover refused: HTTP {status} {body}")

    outage = run_with_writer(sandbox, "switchover", request_switchover, objectives(sandbox).rto_seconds * 3, notes,
                             leader_settled=lambda now: now == candidate)
    notes += answers
    result = _write_drill_result("switchover", sandbox, outage, leader.name, notes)
    if outage.new_leader != candidate:
        result.passed = False
        notes.append(f"expected {candidate} to lead, found {outage.new_leader}")
    result.measurements["healthy_again_s"] = recover_member(sandbox, leader, notes)
    return result


# --- point-in-time restore -----------------------------------------------------------------------------
SCRATCH_SERVICE = "restore-scratch"


def restore(sandbox: Sandbox, repo: int = 1) -> DrillResult:
    layout = sandbox.layout
    notes: list[str] = []
    sandbox.wait_healthy(RECOVER_SECONDS)
    leader = sandbox.leader_member()
    run = f"restore-{uuid.uuid4().hex[:8]}"
    psql = lambda sql: cluster.psql(layout, leader, sql)  # noqa: E731
    psql("create table if not exists drill_restore (run text, phase text, n int, "
         "at timestamptz default clock_timestamp())")
    psql(f"insert into drill_restore (run, phase, n) select '{run}', 'before', g from generate_series(1, {RESTORE_ROWS}) g")
    # The target lies strictly between the two commits, so a correct restore has all of one and none of the other.
    time.sleep(0.2)
    target = psql("select to_char(clock_timestamp() at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'")
    time.sleep(0.2)
    psql(f"insert into drill_restore (run, phase, n) select '{run}', 'after', g from generate_series(1, {RESTORE_ROWS}) g")
    segment = psql("select pg_walfile_name(pg_switch_wal())")
    wait_until(lambda: (psql("select coalesce(last_archived_wal, '') from pg_stat_archiver") or "")[-16:] >= segment[-16:],
               60, f"WAL segment {segment} archived", interval=0.2)

    scratch = layout.scratch_dir
    data_dir = scratch / "data"
    sup = cluster.supervisor(layout)
    sup.stop(SCRATCH_SERVICE)
    stop_postmaster(data_dir)
    shutil.rmtree(scratch, ignore_errors=True)
    cluster.service_dir(scratch, 0o750)
    cluster.service_dir(data_dir, 0o700)
    run_dir = cluster.service_dir(scratch / "run")
    hba_file = scratch / "pg_hba.conf"
    from dataplane.pg_hba import render_pg_hba
    cluster.write_file(hba_file, render_pg_hba(layout.spec))

    started = time.monotonic()
    cluster.pgbackrest(layout, leader, f"--pg1-path={data_dir}", f"--repo={repo}", "--type=time",
                       f"--target={target}", "--target-action=promote", "restore")
    restored_files = time.monotonic() - started
    paths = layout.member_paths(leader.name)
    # The restored directory carries the cluster's postgresql.conf: a scratch instance must not take the
    # cluster's port, wait for its synchronous standbys or archive into the same stanza.
    overrides = {"port": layout.scratch_port, "listen_addresses": LOOPBACK, "unix_socket_directories": str(run_dir),
                 "hba_file": str(hba_file), "synchronous_standby_names": "", "archive_mode": "off",
                 "logging_collector": "off", "cluster_name": f"{layout.spec.scope}-restore-drill"}
    argv = [f"{paths.postgres_bin_dir}/postgres", "-D", str(data_dir)]
    for key, value in overrides.items():
        argv += ["-c", f"{key}={value}"]

    def scratch_sql(sql: str) -> str:
        return cluster.run_as_service_user(
            [f"{paths.postgres_bin_dir}/psql", "-X", "-q", "-A", "-t", "-h", str(run_dir), "-p",
             str(layout.scratch_port), "-d", "postgres", "-c", sql], timeout=30).stdout.strip()

    passed = False
    try:
        sup.start(Service(SCRATCH_SERVICE, argv, env=cluster.pgbackrest_env(layout),
                          ready=lambda: scratch_sql("select pg_is_in_recovery()") == "f", ready_timeout=120))
        restore_seconds = time.monotonic() - started
        counts = dict(line.split("|") for line in scratch_sql(
            f"select phase, count(*) from drill_restore where run = '{run}' group by phase").splitlines() if line)
        before, after = int(counts.get("before", 0)), int(counts.get("after", 0))
        passed = before == RESTORE_ROWS and after == 0
        obj = objectives(sandbox)
        passed = passed and restore_seconds <= obj.rto_seconds
        measurements = {"restore_s": restore_seconds, "files_restored_s": restored_files,
                        "rows_before_target": f"{before}/{RESTORE_ROWS}", "rows_after_target": after,
                        "repo": f"repo{repo} ({layout.spec.repositories[repo - 1].kind})", "target": target}
    finally:
        sup.stop(SCRATCH_SERVICE, sig=signal.SIGINT)
        stop_postmaster(data_dir)
        shutil.rmtree(scratch, ignore_errors=True)
        psql(f"delete from drill_restore where run = '{run}'")
    return DrillResult("restore", passed, measurements,
                       f"all {RESTORE_ROWS} rows committed before the target and none after; restore within "
                       f"RTO {objectives(sandbox).rto_seconds} s", notes)


DRILLS: dict[str, Callable[[Sandbox], DrillResult]] = {
    "failover": failover,
    "crash": crash,
    "switchover": switchover,
    "restore": restore,
}


def run_drill(sandbox: Sandbox, name: str) -> DrillResult:
    """Run one drill; an exception is a failed drill with its reason, not a crash of the runner."""
    try:
        return DRILLS[name](sandbox)
    except Exception as exc:  # the report must say which drill broke and how
        return DrillResult(name, False, {"error": type(exc).__name__}, "drill completed", [str(exc)[:2000]])
