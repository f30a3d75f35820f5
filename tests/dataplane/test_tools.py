"""Every rendered file checked by the real tool that consumes it (Debian binaries, Patroni 4 from PyPI)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml
from dataplane_support import (
    PATRONI,
    TEST_SECRETS,
    as_postgres,
    etcdctl,
    psql_local,
    psql_sql,
    psql_tcp,
    run_checked,
    secret_env,
    write_file,
)

from dataplane.model import SECRET_ENV
from dataplane.patroni import render_patroni_config
from dataplane.pgbackrest import config_path as pgbackrest_config_path
from dataplane.postgresql import postgresql_parameters
from dataplane.tls import tls_files

pytestmark = pytest.mark.dataplane


# --- etcd --------------------------------------------------------------------------------------------


def test_etcd_members_form_one_tls_cluster(etcd_cluster):
    spec = etcd_cluster
    listing = etcdctl(spec, spec.members[0], "member", "list", "-w", "json")
    assert listing.returncode == 0, listing.stderr
    import json

    members = json.loads(listing.stdout)["members"]
    assert sorted(m["name"] for m in members) == sorted(m.name for m in spec.members)
    assert all(url.startswith("https://") for m in members for url in m["clientURLs"] + m["peerURLs"])
    put = etcdctl(spec, spec.members[1], "put", "/pgp-test/probe", "ok")
    assert put.returncode == 0, put.stderr
    assert etcdctl(spec, spec.members[2], "get", "--print-value-only", "/pgp-test/probe").stdout.strip() == "ok"


def test_etcd_json_gateway_answers_patroni_style_requests(etcd_cluster):
    # Patroni's etcd3 client does not use gRPC: it POSTs JSON to /v3/..., served by the gRPC gateway.
    import json
    import ssl
    import urllib.request

    spec = etcd_cluster
    m = spec.members[0]
    t = tls_files(spec, m)
    ctx = ssl.create_default_context(cafile=t.ca)
    ctx.load_cert_chain(t.client_cert, t.client_key)
    request = urllib.request.Request(
        f"https://{m.host}:{m.ports.etcd_client}/v3/cluster/member/list", data=b"{}", method="POST"
    )
    members = json.loads(urllib.request.urlopen(request, context=ctx, timeout=5).read())["members"]
    assert sorted(x["name"] for x in members) == sorted(x.name for x in spec.members)


def test_etcd_refuses_clients_without_a_certificate(etcd_cluster):
    spec = etcd_cluster
    result = etcdctl(spec, spec.members[0], "get", "/pgp-test/probe", client_cert=False)
    assert result.returncode != 0


# --- patroni -----------------------------------------------------------------------------------------


def _validate(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(PATRONI), "--validate-config", str(path)], capture_output=True, text=True, env=secret_env(), timeout=60
    )


def test_patroni_validates_every_members_config(etcd_cluster):
    # Members sit on 127.0.0.2-4: Patroni's validator refuses 127.0.0.1 as a connect address, and checks that
    # the etcd hosts answer and the listen ports are free.
    spec = etcd_cluster
    for m in spec.members:
        path = write_file(Path(spec.paths_for(m).config_dir) / "patroni.yml", render_patroni_config(spec, m))
        result = _validate(path)
        assert result.returncode == 0, f"{m.name}: {result.stdout}{result.stderr}"


def test_patroni_validator_catches_a_broken_config(etcd_cluster, tmp_path):
    # The validator is only evidence if it fails on a bad file: loopback connect address and a ttl too short.
    spec = etcd_cluster
    m = spec.members[0]
    cfg = yaml.safe_load(render_patroni_config(spec, m))
    cfg["postgresql"]["connect_address"] = f"127.0.0.1:{m.ports.postgres}"
    cfg["bootstrap"]["dcs"]["ttl"] = 5
    path = write_file(tmp_path / "broken.yml", yaml.safe_dump(cfg), owner_postgres=False)
    result = _validate(path)
    assert result.returncode != 0
    assert "connect_address" in result.stdout + result.stderr and "ttl" in result.stdout + result.stderr


# --- PostgreSQL with the rendered parameters and pg_hba ----------------------------------------------


def test_postgres_runs_with_the_rendered_parameters(pg_single):
    spec = pg_single
    m = spec.members[0]
    expected = postgresql_parameters(spec, m)
    for name in (
        "listen_addresses",
        "ssl",
        "ssl_min_protocol_version",
        "password_encryption",
        "shared_preload_libraries",
        "pgaudit.log",
        "log_line_prefix",
        "log_statement",
        "archive_mode",
        "wal_level",
        "shared_buffers",
        "log_file_mode",
        "archive_timeout",
        "max_connections",
    ):
        shown = psql_local(spec, f"select current_setting('{name}')").rstrip("\n")
        want = str(expected[name])
        if name == "archive_timeout":
            want = f"{want}s" if int(want) % 60 else f"{int(want) // 60}min"
        assert shown == want, f"{name}: {shown!r} != {want!r}"
    assert psql_local(spec, "show data_checksums").strip() == "on"
    assert psql_local(spec, "select count(*) from pg_hba_file_rules where error is not null").strip() == "0"


def test_hba_rejects_plaintext_and_network_superuser(pg_single):
    spec = pg_single
    plain = psql_tcp(spec, "app_rw", "disable")
    assert plain.returncode != 0 and "pg_hba.conf rejects connection" in plain.stderr
    superuser = psql_tcp(spec, "postgres", "require", db="postgres")
    assert superuser.returncode != 0 and "pg_hba.conf rejects connection" in superuser.stderr


def test_pgbackrest_stanza_create_and_check(pg_single):
    # `check` forces a WAL switch and waits until archive_command (pgBackRest archive-push with the member's
    # own --pg1-path) has stored the segment in the encrypted repository.
    spec = pg_single
    m = spec.members[0]
    base = [*as_postgres(), "pgbackrest", f"--config={pgbackrest_config_path(spec, m)}", f"--stanza={spec.stanza}"]
    run_checked([*base, "stanza-create"], env=secret_env())
    run_checked([*base, "check"], env=secret_env())
    info = run_checked([*base, "--output=json", "info"], env=secret_env()).stdout
    assert '"cipher":"aes-256-cbc"' in info.replace(" ", "")
    # pgBackRest echoes the undecryptable bytes in its error, hence errors="replace".
    wrong = subprocess.run(
        [*base, "check"],
        capture_output=True,
        text=True,
        errors="replace",
        env=secret_env(PGBACKREST_REPO1_CIPHER_PASS="not-the-passphrase"),
    )
    assert wrong.returncode != 0
    assert re.search(r"cipher|decrypt|unable", wrong.stdout + wrong.stderr, re.I)


# --- roles -------------------------------------------------------------------------------------------


def test_app_users_log_in_over_tls_only_with_scram(pg_roles):
    spec = pg_roles
    ok = psql_tcp(
        spec,
        "app_rw",
        "verify-full",
        password=TEST_SECRETS[SECRET_ENV["app-readwrite"]],
        extra=f" sslrootcert={tls_files(spec, spec.members[0]).ca}",
    )
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == "app_rw|t"
    wrong = psql_tcp(spec, "app_rw", "require", password="wrong")
    assert wrong.returncode != 0 and "password authentication failed" in wrong.stderr
    ro = psql_tcp(spec, "app_ro", "require", password=TEST_SECRETS[SECRET_ENV["app-readonly"]])
    assert ro.returncode == 0, ro.stderr


def test_role_attributes_and_privileges(pg_roles):
    spec = pg_roles
    flags = psql_local(
        spec,
        "select rolname, rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolconnlimit "
        "from pg_roles where rolname in ('app_owner','app_rw','app_ro','monitor','pgbouncer_auth') "
        "order by 1",
    ).split()
    assert len(flags) == 5
    for row in flags:
        name, su, cr, cd, rep, limit = row.split("|")
        assert (su, cr, cd, rep) == ("f", "f", "f", "f"), row
        assert name == "app_owner" or int(limit) > 0, row
    # A table created by the owner (as a migration would, via SET ROLE) is usable per role without new grants.
    psql_local(spec, "create table if not exists app.t (id int); alter table app.t owner to app_owner;", db="app")
    psql_local(spec, "set role app_owner; create table if not exists app.t2 (id int)", db="app")
    rw = TEST_SECRETS[SECRET_ENV["app-readwrite"]]
    ro = TEST_SECRETS[SECRET_ENV["app-readonly"]]
    assert psql_sql(spec, "app_rw", rw, "insert into app.t2 values (1); select count(*) from app.t2").returncode == 0
    assert psql_sql(spec, "app_ro", ro, "select count(*) from app.t2").returncode == 0
    denied = psql_sql(spec, "app_ro", ro, "insert into app.t2 values (2)")
    assert denied.returncode != 0 and "permission denied" in denied.stderr
    for sql in ("create table app.x (id int)", "create table public.x (id int)", "create role x", "create database x"):
        result = psql_sql(spec, "app_rw", rw, sql)
        assert result.returncode != 0 and "permission denied" in result.stderr, sql
    assert psql_local(spec, "select pg_has_role('monitor', 'pg_monitor', 'member')").strip() == "t"


def test_auth_lookup_exposes_only_application_users(pg_roles):
    spec = pg_roles
    pooler = TEST_SECRETS[SECRET_ENV["pooler-auth"]]
    app = psql_sql(spec, "pgbouncer_auth", pooler, "select usename from pgbouncer.get_auth('app_rw')")
    assert app.returncode == 0 and app.stdout.strip() == "app_rw", app.stderr
    su = psql_sql(spec, "pgbouncer_auth", pooler, "select count(*) from pgbouncer.get_auth('postgres')")
    assert su.returncode == 0 and su.stdout.strip() == "0"
    direct = psql_sql(spec, "pgbouncer_auth", pooler, "select count(*) from pg_shadow")
    assert direct.returncode != 0


def test_no_password_reaches_the_server_log(pg_roles):
    spec = pg_roles
    logs = Path(spec.paths_for(spec.members[0]).log_dir, "postgresql")
    text = "".join(p.read_text(errors="replace") for p in logs.glob("*.log"))
    assert "connection authorized" in text  # the log is being written (log_connections), so absence means something
    assert "ALTER ROLE" not in text or "PASSWORD" not in text
    for value in TEST_SECRETS.values():
        assert value not in text


# --- PgBouncer ---------------------------------------------------------------------------------------


def test_pgbouncer_pools_app_users_over_tls(pgbouncer_proc):
    spec = pgbouncer_proc
    m = spec.members[0]
    rw = TEST_SECRETS[SECRET_ENV["app-readwrite"]]
    pooled = psql_sql(spec, "app_rw", rw, "select current_user", port=m.ports.pgbouncer)
    assert pooled.returncode == 0 and pooled.stdout.strip() == "app_rw", pooled.stderr
    plain = psql_sql(spec, "app_rw", rw, "select 1", port=m.ports.pgbouncer, sslmode="disable")
    assert plain.returncode != 0
    wrong = psql_sql(spec, "app_rw", "not-it", "select 1", port=m.ports.pgbouncer)
    assert wrong.returncode != 0


def test_pgbouncer_admin_and_stats_consoles(pgbouncer_proc):
    spec = pgbouncer_proc
    m = spec.members[0]
    # The app pool exists once a client used it; this test must not depend on another having run first.
    rw = TEST_SECRETS[SECRET_ENV["app-readwrite"]]
    assert psql_sql(spec, "app_rw", rw, "select 1", port=m.ports.pgbouncer).returncode == 0
    admin = run_checked(
        [
            *as_postgres(),
            "psql",
            "-X",
            "-At",
            "-h",
            spec.paths_for(m).run_dir,
            "-p",
            str(m.ports.pgbouncer),
            "-U",
            "pgbouncer",
            "-d",
            "pgbouncer",
            "-c",
            "SHOW CONFIG",
        ]
    ).stdout
    assert "pool_mode|transaction" in admin and "server_tls_sslmode|verify-full" in admin
    stats = psql_sql(
        spec, "monitor", TEST_SECRETS[SECRET_ENV["monitoring"]], "SHOW POOLS", db="pgbouncer", port=m.ports.pgbouncer
    )
    assert stats.returncode == 0 and "app" in stats.stdout, stats.stderr


# --- HAProxy -----------------------------------------------------------------------------------------


class _FakeMember:
    """A member's Patroni REST API (HTTPS with its real certificate) answering health checks for a given
    role, and TCP listeners on its PostgreSQL and PgBouncer ports that name the member: enough to prove
    where the router sends connections, without running PostgreSQL."""

    def __init__(self, spec, member, role: str):
        import http.server
        import socketserver
        import ssl
        import threading

        files = tls_files(spec, member)
        self.role = role
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                path = self.path.split("?")[0]
                ok = (path == "/primary" and fake.role == "primary") or (path == "/replica" and fake.role == "replica")
                self.send_response(200 if ok else 503)
                self.end_headers()

            def log_message(self, *args):
                pass

        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(files.cert, files.key)
        self.rest = http.server.ThreadingHTTPServer((member.host, member.ports.patroni_rest), Handler)
        self.rest.socket = ctx.wrap_socket(self.rest.socket, server_side=True)

        class Named(socketserver.BaseRequestHandler):
            def handle(self):
                self.request.sendall(self.server.label.encode())

        self.tcp = []
        for port, label in ((member.ports.postgres, member.name), (member.ports.pgbouncer, f"{member.name}-pool")):
            server = socketserver.ThreadingTCPServer((member.host, port), Named)
            server.label = label
            self.tcp.append(server)
        # A short poll interval: shutdown() waits for the loop to notice, once per server.
        self.threads = [
            threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
            for s in [self.rest, *self.tcp]
        ]
        for t in self.threads:
            t.start()

    def close(self):
        for s in [self.rest, *self.tcp]:
            s.shutdown()
            s.server_close()


def _route(host: str, port: int) -> str:
    import socket

    try:
        with socket.create_connection((host, port), timeout=2) as s:
            return s.recv(64).decode()
    except OSError:
        return ""


@pytest.fixture
def haproxy_routing(cluster3, tmp_path):
    import dataclasses

    from dataplane.haproxy import render_haproxy_config
    from stacks.topology import RoutingCheck

    spec, _ = cluster3
    # The prod topology's check timing, shortened so the test converges in seconds; the rendering is the same.
    topo = spec.topology
    spec = dataclasses.replace(
        spec,
        topology=dataclasses.replace(
            topo, routing_check=dataclasses.replace(topo.routing_check, value=RoutingCheck(1, 2, 1, 1))
        ),
    )
    ca = tls_files(spec, spec.members[0]).ca
    cfg = write_file(tmp_path / "haproxy.cfg", render_haproxy_config(spec, ca), 0o644, owner_postgres=False)
    roles = {spec.members[0].name: "replica", spec.members[1].name: "primary", spec.members[2].name: "replica"}
    fakes = [_FakeMember(spec, m, roles[m.name]) for m in spec.members]
    proc = subprocess.Popen(
        ["/usr/sbin/haproxy", "-db", "-f", str(cfg)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        yield spec, cfg, fakes
    finally:
        from dataplane_support import stop

        stop(proc)
        for f in fakes:
            f.close()


def test_haproxy_config_is_valid(cluster3, tmp_path):
    from dataplane.haproxy import render_haproxy_config

    spec, _ = cluster3
    cfg = write_file(
        tmp_path / "haproxy.cfg",
        render_haproxy_config(spec, tls_files(spec, spec.members[0]).ca),
        0o644,
        owner_postgres=False,
    )
    result = subprocess.run(["/usr/sbin/haproxy", "-c", "-f", str(cfg)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    text = cfg.read_text()
    check = spec.topology.routing_check.value
    assert (
        f"default-server inter {check.interval_seconds}s fastinter 1s downinter {check.interval_seconds}s "
        f"fall {check.fall} rise {check.rise} on-marked-down shutdown-sessions"
    ) in text


def test_haproxy_routes_by_patroni_health(haproxy_routing):
    import time
    import urllib.request

    spec, _, fakes = haproxy_routing
    r = spec.router
    primary = spec.members[1].name
    # HAProxy starts every server UP and marks them down as checks fail, so wait for all backends to converge.
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        writes = {_route(r.host, r.write_port) for _ in range(6)}
        reads = {_route(r.host, r.read_port) for _ in range(6)}
        pooled = {_route(r.host, r.pooled_port) for _ in range(6)}
        if writes == {primary} and pooled == {f"{primary}-pool"} and reads and primary not in reads and "" not in reads:
            break
        time.sleep(0.3)
    assert writes == {primary}
    assert pooled == {f"{primary}-pool"}
    assert reads <= {spec.members[0].name, spec.members[2].name} and reads
    # Failover: the old primary reports replica, another member becomes primary; the router follows.
    fakes[1].role, fakes[2].role = "replica", "primary"
    new = spec.members[2].name
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and {_route(r.host, r.write_port) for _ in range(4)} != {new}:
        time.sleep(0.3)
    assert {_route(r.host, r.write_port) for _ in range(4)} == {new}
    # With no replica healthy, reads fall back to the primary.
    fakes[0].role = fakes[1].role = "down"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and {_route(r.host, r.read_port) for _ in range(4)} != {new}:
        time.sleep(0.3)
    assert {_route(r.host, r.read_port) for _ in range(4)} == {new}
    metrics = urllib.request.urlopen(f"http://{r.host}:{r.stats_port}/metrics", timeout=5).read().decode()
    assert "haproxy_backend_active_servers" in metrics or "haproxy_server_status" in metrics
