"""The GCP post-provision program, run by bash against a stand-in `gcloud` that answers like nodes behind IAP."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from components.gcp.post_provision import render_on_leader
from dataplane.operations import BACKUP_CHECK_COMMAND, IS_LEADER_COMMAND

NODES = [("pgp-x-db-0", "europe-west3-a"), ("pgp-x-db-1", "europe-west3-b"), ("pgp-x-db-2", "europe-west3-c")]

# Logs each call as "<instance> <zone>: <command>"; the leader check passes on the nodes in $LEADERS; a node
# in $BOOTING fails its first cloud-init wait (its marker file is made then), as a node still booting does.
FAKE_GCLOUD = r"""#!/bin/bash
name=""; zone=""; cmd=""
while [ $# -gt 0 ]; do
  case "$1" in
    --command) cmd="$2"; shift 2;;
    --zone) zone="$2"; shift 2;;
    --project) [ "$2" = "acme-pgp-prod" ] || exit 9; shift 2;;
    --tunnel-through-iap|--quiet|compute|ssh) shift;;
    *) name="$1"; shift;;
  esac
done
echo "$name $zone: $cmd" >> "$LOG"
case "$cmd" in
  "cloud-init status --wait >/dev/null")
    if [[ " $BOOTING " == *" $name "* && ! -e "$LOG.$name" ]]; then touch "$LOG.$name"; exit 255; fi;;
  "sudo IS_LEADER") [[ " $LEADERS " == *" $name "* ]];;
esac
"""


@pytest.fixture
def gcloud(tmp_path: Path):
    path = tmp_path / "gcloud"
    path.write_text(FAKE_GCLOUD.replace("IS_LEADER", IS_LEADER_COMMAND))
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return tmp_path


def run(gcloud: Path, leaders: str, booting: str = "", timeout: int = 1) -> tuple[int, list[str]]:
    script = render_on_leader("acme-pgp-prod", NODES, BACKUP_CHECK_COMMAND, timeout, boot_timeout=2, poll_seconds=0)
    log = gcloud / "log"
    env = {
        **os.environ,
        "PATH": f"{gcloud}:{os.environ['PATH']}",
        "LOG": str(log),
        "LEADERS": leaders,
        "BOOTING": booting,
    }
    done = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=60)
    return done.returncode, log.read_text().splitlines()


def test_waits_for_every_boot_then_runs_on_the_one_leader(gcloud):
    code, calls = run(gcloud, leaders="pgp-x-db-1", booting="pgp-x-db-2")
    assert code == 0
    waits = [c for c in calls if "cloud-init" in c]
    assert waits == [f"{n} {z}: cloud-init status --wait >/dev/null" for n, z in NODES[:2]] + [waits[-1]] * 2
    ran = [c for c in calls if BACKUP_CHECK_COMMAND in c]
    assert ran == [f"pgp-x-db-1 europe-west3-b: sudo {BACKUP_CHECK_COMMAND}"]
    assert calls.index(ran[0]) > max(i for i, c in enumerate(calls) if "cloud-init" in c)


@pytest.mark.parametrize("leaders", ["", "pgp-x-db-0 pgp-x-db-2"])
def test_no_leader_or_two_fail_at_the_deadline(gcloud, leaders):
    code, calls = run(gcloud, leaders=leaders)
    assert code == 1
    ran = {c.split(" ", 1)[0] for c in calls if BACKUP_CHECK_COMMAND in c}
    assert ran == set(leaders.split())
