"""Drills: break the running sandbox the way production breaks, measure against the stage's objectives,
and put the cluster back so the next drill starts from a healthy state.

Each drill returns a DrillResult whose `passed` is computed from measurements, never assumed.
"""
from __future__ import annotations

import os
import shutil
import signal
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import psycopg
from psycopg import errors as pg_errors

from dataplane.model import (APP_DATABASE, APP_OWNER_ROLE, APP_READONLY_USER, APP_READWRITE_USER, SUPERUSER, Member)
from sandbox import environment, files, processes
from sandbox.services import patroni, prometheus, webhook
from sandbox.client import Sandbox
from sandbox.layout import LOOPBACK
from sandbox.supervisor import Service, ServiceError, postmaster_pid, stop_postmaster, wait_until
from sandbox.writer import AcknowledgedWriter, ensure_table, ids_present

WRITER_WARMUP_COMMITS = 20
# Writes count as resumed once this many commits in a row succeeded and the last one is this recent.
STEADY_COMMITS = 50
STEADY_MAX_GAP_SECONDS = 0.5
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


def kill_postmaster(sandbox: Sandbox, member: Member) -> int:
    """A PostgreSQL crash under a healthy Patroni: only the postmaster dies, its backends notice and exit."""
    pid = postmaster_pid(Path(sandbox.layout.member_paths(member.name).data_dir))
    if pid is None:
        raise RuntimeError(f"{member.name} has no running postmaster")
    os.kill(pid, signal.SIGKILL)
    return pid


def kill_node(sandbox: Sandbox, member: Member) -> None:
    """What losing the machine looks like to the rest of the cluster: Patroni and every PostgreSQL process
    gone at once, nothing shut down cleanly (etcd is left alone: losing a DCS voter is a separate failure)."""
    sup = processes.supervisor(sandbox.layout)
    data_dir = Path(sandbox.layout.member_paths(member.name).data_dir)
    postmaster = postmaster_pid(data_dir)
    victims = ([postmaster] + child_pids(postmaster)) if postmaster else []
    sup.kill(patroni.name(member))
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
    sup = processes.supervisor(layout)
    if sup.running(patroni.name(member)) is None:
        # Backends of a killed postmaster may still hold its shared memory for a moment.
        wait_until(lambda: postmaster_pid(Path(layout.member_paths(member.name).data_dir)) is None, 15,
                   f"{member.name}'s old postmaster to be gone")
        sup.start(patroni.service(layout, member))
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
        """The disruption has been seen (an error), and commits have flowed steadily since: one early
        commit followed by a stall (a primary restarted in place whose sync standby has not reconnected)
        must not end the measurement while the stall is still going on."""
        state = sandbox.cluster()
        if state is None or not leader_settled(state.leader):
            return False
        errors = [t for t, _ in writer.log.errors if t >= event_at]
        if not errors:
            return False
        since = [t for _, t in writer.log.acked if t > errors[-1]]
        return len(since) >= STEADY_COMMITS and time.monotonic() - since[-1] < STEADY_MAX_GAP_SECONDS

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
    outage = run_with_writer(sandbox, "crash", lambda: kill_postmaster(sandbox, leader),
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

    def psql(sql: str) -> str:
        return processes.psql(layout, leader, sql)

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
    sup = processes.supervisor(layout)
    sup.stop(SCRATCH_SERVICE)
    stop_postmaster(data_dir)
    shutil.rmtree(scratch, ignore_errors=True)
    files.service_dir(scratch, 0o750)
    files.service_dir(data_dir, 0o700)
    run_dir = files.service_dir(scratch / "run")
    hba_file = scratch / "pg_hba.conf"
    from dataplane.pg_hba import render_pg_hba
    files.write_file(hba_file, render_pg_hba(layout.spec))

    started = time.monotonic()
    processes.pgbackrest(layout, leader, f"--pg1-path={data_dir}", f"--repo={repo}", "--type=time",
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
        return processes.run_as_service_user(
            [f"{paths.postgres_bin_dir}/psql", "-X", "-q", "-A", "-t", "-h", str(run_dir), "-p",
             str(layout.scratch_port), "-d", "postgres", "-c", sql], timeout=30).stdout.strip()

    passed = False
    try:
        sup.start(Service(SCRATCH_SERVICE, argv, env=environment.node_environment(layout),
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
                        "repo": f"repo{repo} ({layout.repository_kind(repo)})", "target": target}
    finally:
        sup.stop(SCRATCH_SERVICE, sig=signal.SIGINT)
        stop_postmaster(data_dir)
        shutil.rmtree(scratch, ignore_errors=True)
        psql(f"delete from drill_restore where run = '{run}'")
    return DrillResult("restore", passed, measurements,
                       f"all {RESTORE_ROWS} rows committed before the target and none after; restore within "
                       f"RTO {objectives(sandbox).rto_seconds} s", notes)


# --- refusals: TLS, roles, WORM ------------------------------------------------------------------------
def _refused(attempt: Callable[[], object], refusal: type[BaseException] | tuple = (psycopg.Error, OSError)
             ) -> tuple[bool, str]:
    """(refused?, what the server or client said). Only `refusal` counts: a typo in the drill's own SQL
    must not pass as a privilege being denied."""
    try:
        attempt()
    except refusal as exc:
        return True, (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
    return False, "accepted"


def tls(sandbox: Sandbox) -> DrillResult:
    """Plain connections are refused everywhere; verify-full against the cluster CA works and negotiates
    TLS >= 1.2; a client that trusts some other CA is turned away by its own verification."""
    layout = sandbox.layout
    sandbox.wait_healthy(RECOVER_SECONDS)
    leader = sandbox.leader_member()
    router = layout.spec.router
    checks: dict[str, bool] = {}
    notes: list[str] = []

    def probe(port: int, **kwargs) -> Callable[[], object]:
        def attempt() -> object:
            with sandbox.connect(port, user=APP_READWRITE_USER, **kwargs) as conn:
                return conn.execute("select 1").fetchone()
        return attempt

    for label, port in (("member", leader.ports.postgres), ("router write", router.write_port),
                        ("router pooled", router.pooled_port)):
        refused, said = _refused(probe(port, sslmode="disable"), psycopg.OperationalError)
        checks[f"plain to {label} refused"] = refused
        notes.append(f"plain to {label} :{port}: {said}")
    refused, said = _refused(probe(router.write_port, sslmode="verify-full", sslrootcert="/etc/ssl/certs/ca-certificates.crt"))
    checks["verify-full against a foreign CA refused"] = refused
    notes.append(f"verify-full trusting the system CAs only: {said}")
    refused, said = _refused(lambda: sandbox.connect(router.write_port, user=SUPERUSER, dbname="postgres").close())
    checks["superuser over the network refused"] = refused
    notes.append(f"superuser over TLS: {said}")
    with sandbox.connect(router.write_port, user=APP_READWRITE_USER, sslmode="verify-full") as conn:
        ssl_on, version = conn.execute("select ssl, version from pg_stat_ssl where pid = pg_backend_pid()").fetchone()
    checks["verify-full accepted with TLS >= 1.2"] = bool(ssl_on) and version in ("TLSv1.2", "TLSv1.3")
    notes.append(f"verify-full through the router: ssl={ssl_on} {version}")
    failed = [k for k, ok in checks.items() if not ok]
    return DrillResult("tls", not failed, {"checks_passed": f"{len(checks) - len(failed)}/{len(checks)}"},
                       "no plaintext login anywhere; verified TLS >= 1.2 for clients (CIS 6.8/6.9, 5.3)",
                       notes + [f"FAILED: {k}" for k in failed])


def roles(sandbox: Sandbox) -> DrillResult:
    """Application roles hold exactly DML (app_rw) or SELECT (app_ro), and what app_owner creates later is
    usable by them through default privileges, with no grant after the fact."""
    layout = sandbox.layout
    sandbox.wait_healthy(RECOVER_SECONDS)
    leader = sandbox.leader_member()
    write_port = layout.spec.router.write_port
    table = f"drill_default_privileges_{uuid.uuid4().hex[:8]}"
    checks: dict[str, bool] = {}
    notes: list[str] = []
    with sandbox.connect(write_port, user=APP_READWRITE_USER) as rw:
        schema = rw.execute("select current_schema()").fetchone()[0]
    processes.psql(layout, leader, f"set role {APP_OWNER_ROLE}; create table \"{schema}\".{table} (id int primary key, note text);",
                 dbname=APP_DATABASE)
    try:
        def as_user(user: str, sql: str) -> Callable[[], object]:
            def attempt() -> object:
                with sandbox.connect(write_port, user=user) as conn:
                    return conn.execute(sql)
            return attempt

        expectations = [
            (APP_READWRITE_USER, "create role drill_intruder login", True),
            (APP_READWRITE_USER, "create database drill_intruder", True),
            (APP_READWRITE_USER, f"create table \"{schema}\".drill_rw_owned (id int)", True),
            (APP_READWRITE_USER, f"insert into {table} values (1, 'app_rw writes')", False),
            (APP_READWRITE_USER, f"update {table} set note = 'app_rw updates' where id = 1", False),
            (APP_READONLY_USER, f"select count(*) from {table}", False),
            (APP_READONLY_USER, f"insert into {table} values (2, 'app_ro must not write')", True),
            (APP_READONLY_USER, f"delete from {table}", True),
        ]
        for user, sql, must_refuse in expectations:
            refused, said = _refused(as_user(user, sql), pg_errors.InsufficientPrivilege)
            label = f"{user}: {sql.split(' (')[0]} {'refused' if must_refuse else 'allowed'}"
            checks[label] = refused == must_refuse
            notes.append(f"{label}: {'ok' if refused == must_refuse else 'WRONG'} ({said})")
    finally:
        processes.psql(layout, leader, f"drop table if exists \"{schema}\".{table}; "
                                     f"drop table if exists \"{schema}\".drill_rw_owned;", dbname=APP_DATABASE)
    failed = [k for k, ok in checks.items() if not ok]
    return DrillResult("roles", not failed, {"checks_passed": f"{len(checks) - len(failed)}/{len(checks)}"},
                       "least privilege: no CREATEROLE/CREATEDB/DDL for applications, read-only stays read-only, "
                       "default privileges cover new tables", notes)


def worm(sandbox: Sandbox) -> DrillResult:
    """On the locked bucket a backup object's version cannot be deleted, and a delete without a version only
    hides it behind a delete marker; removing the marker brings the object back, proving nothing was lost."""
    from sandbox.services import s3
    layout = sandbox.layout
    repo = layout.s3_repository
    client = s3.client(layout)
    prefix = repo.path.strip("/") + "/"
    versions = client.list_object_versions(Bucket=repo.bucket, Prefix=prefix + "archive/").get("Versions", [])
    versions = [v for v in versions if v["IsLatest"] and not v["Key"].endswith((".info", ".info.copy"))]
    if not versions:
        return DrillResult("worm", False, {"objects": 0}, "locked backup objects",
                            ["no archived WAL in the bucket yet"])
    # The newest archived segment: pgBackRest wrote it moments ago, so it proves today's uploads get the lock.
    target = sorted(versions, key=lambda v: v["LastModified"])[-1]
    key, version_id = target["Key"], target["VersionId"]
    checks: dict[str, bool] = {}
    notes = [f"object {key} version {version_id}"]
    def retention() -> tuple[str | None, object]:
        head = client.head_object(Bucket=repo.bucket, Key=key, VersionId=version_id)
        return head.get("ObjectLockMode"), head.get("ObjectLockRetainUntilDate")

    lock = layout.spec.topology
    mode, until = retention()
    checks[f"locked {lock.lock_mode.value}"] = mode == lock.lock_mode.value
    notes.append(f"retention {mode} until {until}")
    try:
        client.delete_object(Bucket=repo.bucket, Key=key, VersionId=version_id)
        checks["versioned delete refused"] = False
        notes.append("versioned delete was ACCEPTED")
    except client.exceptions.ClientError as exc:
        checks["versioned delete refused"] = exc.response["Error"]["Code"] in ("AccessDenied", "InvalidRequest")
        notes.append(f"versioned delete: {exc.response['Error']['Code']}")
    marker = client.delete_object(Bucket=repo.bucket, Key=key)
    checks["plain delete leaves a delete marker"] = bool(marker.get("DeleteMarker"))
    still_there = client.get_object(Bucket=repo.bucket, Key=key, VersionId=version_id)["Body"].read()
    checks["locked version still readable"] = len(still_there) > 0
    # Delete markers carry no lock: removing it restores the object for pgBackRest.
    client.delete_object(Bucket=repo.bucket, Key=key, VersionId=marker["VersionId"])
    checks["object visible again after removing the marker"] = \
        client.head_object(Bucket=repo.bucket, Key=key)["VersionId"] == version_id
    failed = [k for k, ok in checks.items() if not ok]
    return DrillResult("worm", not failed, {"checks_passed": f"{len(checks) - len(failed)}/{len(checks)}"},
                       f"{lock.lock_mode.value} lock for {lock.lock_days.value} days: no version of a backup object "
                       f"can be deleted; a plain delete only hides it", notes + [f"FAILED: {k}" for k in failed])


# --- alerting ------------------------------------------------------------------------------------------
# What losing a standby raises in the rendered rules: its PostgreSQL stops answering the exporter, and its
# Patroni stops answering scrapes. Either reaching the receiver proves the path rules -> Alertmanager -> hook.
REPLICA_LOSS_ALERTS = ("PostgresDown", "PostgresTargetDown")
ALERT_SLACK_SECONDS = 30


def _duration_seconds(text: str) -> int:
    units = {"s": 1, "m": 60, "h": 3600}
    return int(text[:-1]) * units[text[-1]]


def alert_window_seconds(layout, alert: str) -> int:
    """The rule's `for` plus one scrape and one evaluation (the sample showing the outage may arrive one
    interval late) plus Alertmanager's group_wait: the latest a correct pipeline can deliver."""
    import yaml
    from dataplane import alertmanager as alertmanager_render
    from dataplane import prometheus as prometheus_render
    rules = yaml.safe_load(prometheus.rules_file(layout).read_text())
    rule = next(r for g in rules["groups"] for r in g["rules"] if r["alert"] == alert)
    return (_duration_seconds(rule["for"]) + 2 * prometheus_render.SCRAPE_INTERVAL_SECONDS
            + _duration_seconds(alertmanager_render.GROUP_WAIT))


def _deliveries(layout) -> list[dict]:
    import json
    path = webhook.deliveries_file(layout)
    out = []
    for line in path.read_text().splitlines() if path.exists() else []:
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


def _alertmanager_group_interval() -> str:
    from dataplane import alertmanager as alertmanager_render
    return alertmanager_render.GROUP_INTERVAL


def _last_delivery_per_member(layout) -> dict[str, float]:
    last: dict[str, float] = {}
    for delivery in _deliveries(layout):
        for alert in delivery["payload"].get("alerts", []):
            member = alert.get("labels", {}).get("member")
            if member:
                last[member] = max(last.get(member, 0.0), delivery["received_at"])
    return last


def alerts(sandbox: Sandbox) -> DrillResult:
    """Stop a standby (Patroni and its PostgreSQL, cleanly) and wait for its alert at the webhook receiver."""
    layout = sandbox.layout
    notes: list[str] = []
    sandbox.wait_healthy(RECOVER_SECONDS)
    state = sandbox.cluster()
    if not state.streaming_replicas:
        return DrillResult("alerts", False, {"replicas": 0}, "a standby to stop",
                           ["this profile has no standby: run the alerts drill on the prod profile"])
    # Alertmanager keeps a member's alert group until a group_interval after it resolved, and an alert
    # firing again in that group waits for the interval instead of group_wait: stop the standby alerted
    # longest ago, the asynchronous one on a tie so commits keep flowing.
    last_alerted = _last_delivery_per_member(layout)
    replica = layout.spec.member(min(state.streaming_replicas, key=lambda name: (
        last_alerted.get(name, 0.0), name in state.sync_standbys)))
    window = max(alert_window_seconds(layout, a) for a in REPLICA_LOSS_ALERTS)
    group_interval = _duration_seconds(_alertmanager_group_interval())
    if time.time() - last_alerted.get(replica.name, 0.0) < group_interval + window:
        notes.append(f"{replica.name} was alerted less than group_interval ({group_interval} s) ago: delivery "
                     f"may wait for that interval")
    seen_before = len(_deliveries(layout))
    stopped_at = time.time()
    processes.supervisor(layout).stop(patroni.name(replica), timeout=30)
    stop_postmaster(Path(layout.member_paths(replica.name).data_dir))

    def delivered() -> dict | None:
        for delivery in _deliveries(layout)[seen_before:]:
            for alert in delivery["payload"].get("alerts", []):
                labels = alert.get("labels", {})
                if alert.get("status") == "firing" and labels.get("alertname") in REPLICA_LOSS_ALERTS \
                        and labels.get("member") == replica.name:
                    return {"at": delivery["received_at"], "alert": labels["alertname"],
                            "job": labels.get("job", "-")}
        return None

    found = None
    try:
        wait_until(lambda: delivered() is not None, window + ALERT_SLACK_SECONDS,
                   f"an alert for {replica.name} at the webhook", interval=1.0)
        found = delivered()
    except ServiceError as exc:
        notes.append(str(exc))
    in_alertmanager = []
    try:
        import json as _json
        import urllib.request
        with urllib.request.urlopen(f"http://{LOOPBACK}:{layout.alertmanager_port}/api/v2/alerts", timeout=3) as r:
            in_alertmanager = sorted({a["labels"]["alertname"] for a in _json.loads(r.read())
                                      if a["labels"].get("member") == replica.name})
    except OSError as exc:
        notes.append(f"Alertmanager API: {exc}")
    notes.append(f"stopped {replica.name}; Alertmanager holds for it: {', '.join(in_alertmanager) or 'nothing'}")
    rejoined = recover_member(sandbox, replica, notes)
    if found is None:
        return DrillResult("alerts", False, {"alert_delivered_s": "never", "window_s": window},
                           f"alert at the receiver within {window} s", notes)
    seconds = found["at"] - stopped_at
    notes.append(f"first delivery: {found['alert']} (job {found['job']})")
    return DrillResult("alerts", seconds <= window,
                       {"alert_delivered_s": seconds, "window_s": window, "alert": found["alert"],
                        "rejoined_s": rejoined},
                       f"alert at the receiver within rule `for` + scrape + evaluation + group_wait = {window} s",
                       notes)


DRILLS: dict[str, Callable[[Sandbox], DrillResult]] = {
    "failover": failover,
    "crash": crash,
    "switchover": switchover,
    "restore": restore,
    "tls": tls,
    "roles": roles,
    "worm": worm,
    "alerts": alerts,
}


def run_drill(sandbox: Sandbox, name: str, repo: int = 1) -> DrillResult:
    """Run one drill (`repo`: which pgBackRest repository the restore drill reads); an exception is a failed
    drill with its reason, not a crash of the runner."""
    try:
        if name == "restore":
            return restore(sandbox, repo=repo)
        return DRILLS[name](sandbox)
    except Exception as exc:  # the report must say which drill broke and how
        return DrillResult(name, False, {"error": type(exc).__name__}, "drill completed", [str(exc)[:2000]])
