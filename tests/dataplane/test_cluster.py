"""The rendered node files running together: etcd, two Patroni members (leader and synchronous standby),
pgBackRest's TLS server on the standbys and a backup taken from the standby. Its own spec and ports, so it
never collides with the single-file checks of the other modules."""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from dataplane_support import (
    PATRONI,
    TEST_SECRETS,
    as_postgres,
    chown_postgres,
    etcdctl,
    local_spec,
    prepare_member_dirs,
    run_checked,
    secret_env,
    stop,
    wait_for,
    write_file,
)
from dataplane_support import psql_on as support_psql_on

from dataplane import pgbackrest
from dataplane.model import PATRONI_REST_USER, SECRET_ENV
from dataplane.node_files import etcd_config_path, node_file_mode, node_files
from dataplane.operations import render_patronictl
from dataplane.patroni import config_path as patroni_config_path
from dataplane.tls import issue, tls_files

pytestmark = pytest.mark.dataplane

# What a systemd unit with User=postgres gives its process; libpq and Patroni look under HOME.
ENV = secret_env(HOME="/var/lib/postgresql")


def _rest(member, path: str, ctx: ssl.SSLContext, method: str = "GET", auth: str | None = None) -> int:
    request = urllib.request.Request(
        f"https://{member.host}:{member.ports.patroni_rest}{path}",
        method=method,
        data=b"{}" if method != "GET" else None,
    )
    if auth:
        import base64

        request.add_header("Authorization", "Basic " + base64.b64encode(auth.encode()).decode())
    try:
        return urllib.request.urlopen(request, context=ctx, timeout=3).status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return 0


def _stop_postmaster(data_dir: str) -> None:
    # Patroni stops PostgreSQL on SIGTERM; if it could not, the postmaster is still ours to stop by its PID.
    pid_file = Path(data_dir) / "postmaster.pid"
    if pid_file.exists():
        pid = int(pid_file.read_text().split()[0])
        try:
            os.kill(pid, signal.SIGINT)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and pid_file.exists():
            time.sleep(0.2)


@pytest.fixture(scope="module")
def live(workroot):
    root = workroot / "live"
    root.mkdir()
    root.chmod(0o755)
    spec = local_spec(root, "prod", 3)
    prepare_member_dirs(spec, issue(spec))
    repo = Path(spec.repositories[0].path)
    repo.mkdir()
    chown_postgres(repo)
    for m in spec.members:
        for path, content in node_files(spec, m).items():
            write_file(Path(path), content, node_file_mode(spec, m, path))
    procs: list[subprocess.Popen] = []

    def start(member, name: str, cmd: list[str]) -> subprocess.Popen:
        with open(Path(spec.paths_for(member).log_dir) / f"{name}.out", "w") as out:
            proc = subprocess.Popen(as_postgres() + cmd, stdout=out, stderr=subprocess.STDOUT, env=ENV)
        procs.append(proc)
        return proc

    leader, standby, spare = spec.members
    ctx = ssl.create_default_context(cafile=tls_files(spec, leader).ca)
    try:
        for m in spec.members:
            start(m, "etcd", ["etcd", "--config-file", etcd_config_path(spec, m)])
        wait_for(lambda: etcdctl(spec, leader, "endpoint", "health", "--cluster").returncode == 0, 20, "etcd")
        p1 = start(leader, "patroni", [str(PATRONI), patroni_config_path(spec, leader)])
        wait_for(
            lambda: _rest(leader, "/primary", ctx) == 200,
            60,
            "Patroni leader",
            p1,
            Path(spec.paths_for(leader).log_dir) / "patroni" / "patroni.log",
        )
        p2 = start(standby, "patroni", [str(PATRONI), patroni_config_path(spec, standby)])
        wait_for(
            lambda: _rest(standby, "/sync", ctx) == 200,
            60,
            "Patroni sync standby",
            p2,
            Path(spec.paths_for(standby).log_dir) / "patroni" / "patroni.log",
        )
        # The third member runs only pgBackRest's server (no PostgreSQL): the backup must cope with it.
        for m in (standby, spare):
            start(m, "pgbackrest-server", pgbackrest.server_command(spec, m).split())
        yield spec, ctx
    finally:
        # Patroni and pgBackRest servers together (each Patroni stops its PostgreSQL), etcd last: Patroni
        # releases its leader key on the way out and would wait for a DCS that is already gone.
        etcd = procs[: len(spec.members)]
        others = procs[len(spec.members) :]
        for proc in others:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in others:
            stop(proc, timeout=60)
        for m in spec.members:
            _stop_postmaster(spec.paths_for(m).data_dir)
        for proc in etcd:
            stop(proc)


def psql_on(spec, member, sql: str) -> str:
    return support_psql_on(spec, member, sql, env=ENV)


def test_leader_streams_to_a_synchronous_standby_over_tls(live):
    spec, ctx = live
    leader, standby, _ = spec.members
    assert _rest(leader, "/primary", ctx) == 200 and _rest(standby, "/primary", ctx) == 503
    assert _rest(standby, "/replica", ctx) == 200
    deadline = time.monotonic() + 20
    rows = ""
    while time.monotonic() < deadline:
        rows = psql_on(
            spec,
            leader,
            "select application_name, sync_state, s.ssl from pg_stat_replication r join pg_stat_ssl s using (pid)",
        ).strip()
        if rows == f"{standby.name}|sync|t":
            break
        time.sleep(0.5)
    assert rows == f"{standby.name}|sync|t"
    # A commit in strict synchronous mode returns only once the standby has it.
    psql_on(spec, leader, "create table if not exists probe (id int); insert into probe values (1)")
    assert psql_on(spec, leader, "show synchronous_standby_names").strip() in (
        standby.name,
        f'"{standby.name}"',
        f"1 ({standby.name})",
        f'1 ("{standby.name}")',
    )


def test_dcs_holds_the_topologys_timing(live):
    spec, ctx = live
    config = json.loads(
        urllib.request.urlopen(
            f"https://{spec.members[0].host}:{spec.members[0].ports.patroni_rest}/config", context=ctx, timeout=3
        ).read()
    )
    topo = spec.topology
    assert (config["ttl"], config["loop_wait"], config["retry_timeout"]) == (
        topo.ttl.value,
        topo.loop_wait.value,
        topo.retry_timeout.value,
    )
    assert config["synchronous_mode"] is True and config["synchronous_mode_strict"] is True
    assert config["maximum_lag_on_failover"] == topo.maximum_lag_on_failover.value


def test_the_runbooks_patronictl_lists_the_live_cluster(live, tmp_path):
    """pgp-patronictl as a node has it, from a shell without any secret: the member's secrets file, written as the
    boot script writes it, is all it needs (bare patronictl stops at KeyError: 'password', test_patronictl)."""
    spec, _ = live
    leader, standby, _ = spec.members
    secrets = "".join(f"{var}='{value}'\n" for var, value in sorted(TEST_SECRETS.items()))
    write_file(Path(spec.paths_for(leader).secrets_env), secrets, 0o600, owner_postgres=False)
    wrapper = write_file(tmp_path / "pgp-patronictl", render_patronictl(spec, leader), 0o700, owner_postgres=False)
    listed = run_checked([str(wrapper), "list", "--format", "json"], env={"PATH": "/usr/bin:/bin", "HOME": "/root"})
    roles = {m["Member"]: m["Role"] for m in json.loads(listed.stdout)}
    assert roles == {leader.name: "Leader", standby.name: "Sync Standby"}


def test_patroni_wrote_the_rendered_hba(live):
    spec, _ = live
    rules = (
        psql_on(
            spec,
            spec.members[0],
            "select type, database[1], user_name[1], address, auth_method, error "
            "from pg_hba_file_rules order by line_number",
        )
        .strip()
        .splitlines()
    )
    assert rules[-2:] == ["host|all|all|0.0.0.0|reject|", "host|all|all|::|reject|"]
    assert all(r.endswith("|") for r in rules)  # no rule has an error


def test_unsafe_rest_calls_need_a_certificate_and_the_password(live):
    spec, ctx = live
    leader = spec.members[0]
    password = TEST_SECRETS[SECRET_ENV["patroni-rest"]]
    assert _rest(leader, "/reload", ctx, "POST", auth=f"{PATRONI_REST_USER}:{password}") == 403
    t = tls_files(spec, leader)
    client = ssl.create_default_context(cafile=t.ca)
    client.load_cert_chain(t.client_cert, t.client_key)
    assert _rest(leader, "/reload", client, "POST") == 401
    assert _rest(leader, "/reload", client, "POST", auth=f"{PATRONI_REST_USER}:wrong") == 401
    assert _rest(leader, "/reload", client, "POST", auth=f"{PATRONI_REST_USER}:{password}") in (200, 202)


def test_pgbackrest_backs_up_from_the_standby_through_its_tls_server(live):
    spec, _ = live
    leader = spec.members[0]
    base = [*as_postgres(), "pgbackrest", f"--config={pgbackrest.config_path(spec, leader)}", f"--stanza={spec.stanza}"]
    run_checked([*base, "stanza-create"], env=ENV, timeout=120)
    run_checked([*base, "check"], env=ENV, timeout=120)
    run_checked([*base, "--type=full", "backup"], env=ENV, timeout=180)
    info = json.loads(run_checked([*base, "--output=json", "info"], env=ENV).stdout)
    assert [b["type"] for b in info[0]["backup"]] == ["full"]
    log = (Path(spec.paths_for(leader).log_dir) / "pgbackrest" / f"{spec.stanza}-backup.log").read_text()
    assert "replay on the standby reached" in log
