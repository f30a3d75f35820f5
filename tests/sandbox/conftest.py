"""One prod-profile sandbox for the whole session, in its own directory, taken down and purged at the end.

It runs every repository kind (posix, S3, Azure and GCS emulators): the drills then run with every WAL segment
archived into four repositories, and the restore drill is proven against each."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from sandbox import cluster
from sandbox.client import Sandbox
from sandbox.layout import REPOSITORY_KINDS, build_layout
from sandbox.supervisor import listening_ports

TEST_ROOT = Path(os.environ.get("PG_PLATFORM_SANDBOX_TEST_ROOT", "/var/lib/pg-platform-sandbox-test"))


def _unavailable() -> str | None:
    if os.geteuid() != 0:
        return "the sandbox starts services as the postgres user: run as root"
    if cluster.missing_binaries() and not cluster.BOOTSTRAP_SCRIPT.exists():
        return f"missing {', '.join(cluster.missing_binaries())} and no bootstrap script"
    return None


@pytest.fixture(scope="session")
def sandbox() -> Sandbox:
    reason = _unavailable()
    if reason:
        pytest.skip(reason)
    layout = build_layout("prod", root=TEST_ROOT, repositories=REPOSITORY_KINDS)
    # A leftover from an interrupted session would make `up` resume instead of bootstrap: start clean.
    cluster.down(layout, purge=True, say=lambda _: None)
    shutil.rmtree(layout.root, ignore_errors=True)
    busy = listening_ports(layout.all_ports())
    if busy:
        raise RuntimeError(f"ports {busy} are taken: is a prod sandbox running? `python -m tools sandbox down` first")
    started = time.monotonic()
    cluster.up(layout, say=print)
    handle = Sandbox(layout)
    handle.up_seconds = time.monotonic() - started
    yield handle
    cluster.down(layout, purge=True, say=lambda _: None)


def pytest_collection_modifyitems(session, config, items):
    """`down` ends the session's sandbox, so the test of it runs after every other sandbox test, whichever file
    they are in."""
    last = [i for i in items if i.name == "test_down_leaves_nothing_running"]
    items[:] = [i for i in items if i not in last] + last
