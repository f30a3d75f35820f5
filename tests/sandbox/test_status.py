"""`sandbox status` and the member files it points at, without starting the cluster: the links it prints are
the ones the services serve, and the patronictl it names works with the member's own paths and secrets."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from dataplane.haproxy import STATS_PATH, render_haproxy_config
from dataplane.operations import patronictl_bin, render_patronictl
from sandbox.layout import LOOPBACK, build_layout
from sandbox.node import patronictl_path, prepare_directories, write_all_member_files
from sandbox.status import status


def test_status_links_the_stats_page_haproxy_serves(tmp_path):
    layout = build_layout("prod", root=tmp_path)
    router = layout.spec.router
    report, healthy = status(layout)
    assert not healthy
    assert f" stats http://{LOOPBACK}:{router.stats_port}{STATS_PATH}\n" in report
    assert f"    stats uri {STATS_PATH}\n" in render_haproxy_config(layout.spec, str(layout.tls_dir / "ca.crt"))


def test_status_names_a_members_patronictl(tmp_path):
    layout = build_layout("prod", root=tmp_path)
    report, _ = status(layout)
    assert f"  patronictl: {patronictl_path(layout, layout.spec.members[0])} list" in report


@pytest.fixture
def sandbox_root():
    if os.geteuid() != 0:
        pytest.skip("the sandbox writes files owned by the postgres user: run as root")
    root = Path(tempfile.mkdtemp(prefix="pgp-status-"))
    root.chmod(0o755)  # the service user fills templates under it
    yield root
    shutil.rmtree(root, ignore_errors=True)


def test_every_member_gets_a_root_only_patronictl_that_loads_its_config(sandbox_root):
    layout = build_layout("prod", root=sandbox_root)
    prepare_directories(layout)
    write_all_member_files(layout)
    for member in layout.spec.members:
        wrapper = patronictl_path(layout, member)
        assert wrapper.read_text() == render_patronictl(layout.spec, member)
        st = wrapper.stat()
        assert (st.st_mode & 0o777, st.st_uid) == (0o700, 0)
        if not os.access(patronictl_bin(layout.spec, member), os.X_OK):
            continue
        # `version` loads the whole config, where bare patronictl stops without the passwords; no cluster needed.
        run = subprocess.run(
            [str(wrapper), "version"], capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"}, timeout=60
        )
        assert run.returncode == 0, run.stderr
        assert "patronictl version" in run.stdout
