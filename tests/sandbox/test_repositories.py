"""The Azure and GCS repositories against their emulators, seen from the emulators' own APIs rather than through
pgBackRest: what pgBackRest archived and backed up is there, and uploads in many chunks read back intact."""

from __future__ import annotations

import json

import pytest

from sandbox.processes import pgbackrest, psql
from sandbox.services import azurite, gcs
from sandbox.supervisor import wait_until

pytestmark = pytest.mark.sandbox

LISTERS = {"azure": azurite.list_blobs, "gcs": gcs.list_objects}
# GCS wants chunks in multiples of 256 KiB; Azure blocks may be smaller. One size both accept, far below the bundles.
SMALL_CHUNK = "256KiB"
CHUNK_BYTES = 256 * 1024


def _prefix(sandbox, what: str) -> str:
    return f"pgbackrest/{what}/{sandbox.layout.spec.stanza}/"


@pytest.mark.parametrize("kind", ["azure", "gcs"])
def test_a_switched_wal_segment_lands_in_the_emulator(sandbox, kind):
    sandbox.wait_healthy()
    leader = sandbox.leader_member()
    psql(sandbox.layout, leader, "create table if not exists drill_wal (n int); insert into drill_wal values (1)")
    segment = psql(sandbox.layout, leader, "select pg_walfile_name(pg_switch_wal())")

    def archived() -> bool:
        names = LISTERS[kind](sandbox.layout, _prefix(sandbox, "archive"))
        return any(n.rsplit("/", 1)[-1].startswith(segment + "-") for n in names)

    wait_until(archived, 60, f"{segment} in the {kind} emulator", interval=0.5)


@pytest.mark.parametrize("kind", ["azure", "gcs"])
def test_a_backup_uploaded_in_small_chunks_verifies(sandbox, kind):
    """Blocks (Azure Put Block List) and resumable uploads (GCS) are used only for files beyond one chunk; on GCS
    this needs the X-GUploader-UploadID header the sandbox's proxy adds (sandbox/services/gcs.py)."""
    layout = sandbox.layout
    repo = layout.repository_index(kind)
    leader = sandbox.leader_member()
    chunk = f"--repo{repo}-storage-upload-chunk-size={SMALL_CHUNK}"
    pgbackrest(layout, leader, f"--repo={repo}", chunk, "--type=full", "backup")
    info = json.loads(pgbackrest(layout, leader, f"--repo={repo}", "--output=json", "info").stdout)
    label = info[0]["backup"][-1]["label"]
    stored = LISTERS[kind](layout, _prefix(sandbox, "backup") + label + "/")
    bundles = {name: size for name, size in stored.items() if "/bundle/" in name}
    assert bundles, stored
    assert max(bundles.values()) > 4 * CHUNK_BYTES, f"no bundle spans several chunks: {bundles}"
    verified = pgbackrest(layout, leader, f"--repo={repo}", "--output=text", "--verbose", "verify", check=False)
    print(verified.stdout)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "status: ok" in verified.stdout and f"backup: {label}, status: valid" in verified.stdout
