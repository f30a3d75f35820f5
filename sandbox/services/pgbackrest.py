"""The backup stanza and a first full backup into every repository, run from the leader's configuration."""

from __future__ import annotations

import json
import time

from sandbox.client import Sandbox
from sandbox.layout import Member, SandboxLayout
from sandbox.processes import pgbackrest, psql
from sandbox.supervisor import ServiceError

LOCK_ERROR = 50
STANZA_LOCK_RETRIES = 15
# On a loaded 2-core CI machine the first archive after stanza-create took longer than 30 s (fresh-clone CI on
# 2026-12-02: the archiver had caught up minutes later), so the wait allows two minutes before it reports.
ARCHIVER_TIMEOUT = 120.0


def start(layout: SandboxLayout) -> str:
    """stanza-create (idempotent; also recreates repo2 after the in-memory emulator restarted), then a
    full backup into every repository that has none. Run from the leader's configuration, where the
    standbys are pg2..pgN, so backup-standby copies files from a standby."""
    leader = Sandbox(layout).leader_member()
    info = backup_info(layout)
    if not stanza_in_every_repository(layout, info):
        # archive-push (async) holds the stanza's archive lock for a moment after every segment.
        for attempt in range(STANZA_LOCK_RETRIES):
            result = pgbackrest(layout, leader, "stanza-create", check=False)
            if result.returncode == 0:
                break
            if result.returncode != LOCK_ERROR or attempt == STANZA_LOCK_RETRIES - 1:
                raise ServiceError(f"pgbackrest stanza-create failed ({result.returncode}): {result.stderr}")
            time.sleep(1)
        wait_for_archiver(layout, leader)
        info = backup_info(layout)
    done = []
    for index, _ in enumerate(layout.spec.repositories, start=1):
        if not any(b.get("database", {}).get("repo-key") == index for b in info.get("backup", [])):
            pgbackrest(layout, leader, f"--repo={index}", "--type=full", "backup")
            done.append(f"repo{index}")
    return f"full backup into {', '.join(done)}" if done else "backups present"


def wait_for_archiver(layout: SandboxLayout, leader: Member, timeout: float = ARCHIVER_TIMEOUT) -> None:
    """Until the stanza existed every archive-push failed, and after three failures PostgreSQL's archiver
    sleeps for a minute unless woken: each backup below would wait that minute for the segments written
    before it. A segment switch wakes it once, but a wake-up that lands while it is still failing (pgBackRest's
    async push reports its last error once more) is spent, so until the switched segment is archived the
    archiver is woken again every second by a configuration reload (its SIGHUP handler sets its latch)."""
    segment = psql(layout, leader, "SELECT pg_walfile_name(pg_switch_wal())")
    deadline = time.monotonic() + timeout
    while True:
        archived = psql(layout, leader, "SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver")
        if archived >= segment:
            return
        if time.monotonic() > deadline:
            failed = psql(layout, leader, "SELECT coalesce(last_failed_wal, '-') FROM pg_stat_archiver")
            raise ServiceError(
                f"the leader's archiver did not archive {segment} within {timeout:.0f} s after stanza-create "
                f"(last archived {archived or '-'}, last failed {failed}); see the archive-push-async log"
            )
        time.sleep(1)
        psql(layout, leader, "SELECT pg_reload_conf()")


def stanza_in_every_repository(layout: SandboxLayout, info: dict) -> bool:
    """True when `info` shows the stanza healthy in each configured repository (a repository added to a running
    sandbox, or the in-memory S3 emulator restarted, needs a stanza-create, which keeps the existing ones)."""
    repos = {r.get("key"): r.get("status", {}).get("code") for r in info.get("repo", [])}
    return info.get("status", {}).get("code") == 0 and all(
        repos.get(index) == 0 for index in range(1, len(layout.spec.repositories) + 1)
    )


def backup_info(layout: SandboxLayout) -> dict:
    """`pgbackrest info` of the cluster's stanza, {} when there is none (or no answer)."""
    member = layout.spec.members[0]
    out = pgbackrest(layout, member, "--output=json", "info", check=False)
    try:
        stanzas = json.loads(out.stdout or "[]")
    except ValueError:
        return {}
    return next((s for s in stanzas if s.get("name") == layout.spec.stanza), {})
