"""Every rendered file checked by the real tool that consumes it (Debian binaries, Patroni 4 from PyPI)."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from dataplane.patroni import render_patroni_config
from dataplane.pgbackrest import config_path as pgbackrest_config_path
from dataplane.postgresql import postgresql_parameters
from dataplane_support import PATRONI, as_postgres, etcdctl, run_checked, secret_env, write_file

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


def test_etcd_refuses_clients_without_a_certificate(etcd_cluster):
    spec = etcd_cluster
    result = etcdctl(spec, spec.members[0], "get", "/pgp-test/probe", client_cert=False)
    assert result.returncode != 0


# --- patroni -----------------------------------------------------------------------------------------

def _validate(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(PATRONI), "--validate-config", str(path)], capture_output=True, text=True,
                          env=secret_env(), timeout=60)


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

def psql_local(spec, sql: str, db: str = "postgres") -> str:
    m = spec.members[0]
    return run_checked(as_postgres() + ["psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-h",
                                        spec.paths_for(m).run_dir, "-p", str(m.ports.postgres), "-d", db,
                                        "-c", sql]).stdout


def psql_tcp(spec, user: str, sslmode: str, password: str = "x", db: str = "app",
             host: str | None = None) -> subprocess.CompletedProcess:
    m = spec.members[0]
    return subprocess.run(["psql", "-X", "-At", "-c", "select current_user, ssl from pg_stat_ssl "
                           "where pid = pg_backend_pid()",
                           f"host={host or m.host} port={m.ports.postgres} dbname={db} user={user} "
                           f"sslmode={sslmode} connect_timeout=5"],
                          capture_output=True, text=True, env={**secret_env(), "PGPASSWORD": password})


def test_postgres_runs_with_the_rendered_parameters(pg_single):
    spec = pg_single
    m = spec.members[0]
    expected = postgresql_parameters(spec, m)
    for name in ("listen_addresses", "ssl", "ssl_min_protocol_version", "password_encryption",
                 "shared_preload_libraries", "pgaudit.log", "log_line_prefix", "log_statement", "archive_mode",
                 "wal_level", "shared_buffers", "log_file_mode", "archive_timeout", "max_connections"):
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
    base = as_postgres() + ["pgbackrest", f"--config={pgbackrest_config_path(spec, m)}", f"--stanza={spec.stanza}"]
    run_checked(base + ["stanza-create"], env=secret_env())
    run_checked(base + ["check"], env=secret_env())
    info = run_checked(base + ["--output=json", "info"], env=secret_env()).stdout
    assert '"cipher":"aes-256-cbc"' in info.replace(" ", "")
    wrong = subprocess.run(base + ["check"], capture_output=True, text=True,
                           env=secret_env(PGBACKREST_REPO1_CIPHER_PASS="not-the-passphrase"))
    assert wrong.returncode != 0
    assert re.search(r"cipher|decrypt|unable", wrong.stdout + wrong.stderr, re.I)
