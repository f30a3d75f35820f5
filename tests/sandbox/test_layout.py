"""The sandbox's own building blocks, without starting the cluster: layout, ports, secrets, certificates,
and the supervisor's PID handling."""

from __future__ import annotations

import json
import os
import stat
import sys
import urllib.parse

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from dataplane.model import SECRET_ENV
from dataplane.pgbackrest import render_pgbackrest_conf
from sandbox import cluster
from sandbox import secrets as sandbox_secrets
from sandbox.environment import node_environment
from sandbox.layout import (
    DEFAULT_REPOSITORY_KINDS,
    PROFILES,
    REPOSITORY_KINDS,
    REPOSITORY_KINDS_FILE,
    build_layout,
    installed_postgres_major,
    parse_repository_kinds,
)
from sandbox.pki import LocalCA
from sandbox.services import patroni
from sandbox.services.azurite import AZURITE_ACCOUNT_KEY, shared_key_authorization
from sandbox.services.gcs import EMULATOR_TOKEN
from sandbox.services.gcs import binary as gcs_binary
from sandbox.supervisor import Service, ServiceError, Supervisor, is_alive
from stacks.sizes import SANDBOX_SIZE
from tools.drill import repository_number


def test_every_port_is_distinct_across_both_profiles_and_below_the_ephemeral_range(tmp_path):
    layouts = [build_layout(profile, root=tmp_path, repositories=REPOSITORY_KINDS) for profile in PROFILES]
    ports = [p for layout in layouts for p in layout.all_ports()]
    assert len(ports) == len(set(ports))
    assert all(1024 < p < 32768 for p in ports)


def test_prod_topology_is_the_stack_files_shrunk_to_a_sandbox_node(tmp_path):
    layout = build_layout("prod", root=tmp_path)
    topology = layout.spec.topology
    assert len(layout.spec.members) == 3
    assert topology.replication.value == "synchronous-strict"
    assert topology.node_size == SANDBOX_SIZE
    assert topology.postgres_major == installed_postgres_major()
    assert {m.host for m in layout.spec.members} == {"127.0.0.1"}
    assert len({layout.member_paths(m.name).data_dir for m in layout.spec.members}) == 3
    assert all(layout.member_paths(m.name).data_dir.startswith(str(tmp_path)) for m in layout.spec.members)
    kinds = [r.kind for r in layout.spec.repositories]
    assert kinds == ["posix", "s3"]
    assert layout.s3_repository.endpoint.startswith("localhost:")


def test_dev_profile_is_one_asynchronous_node(tmp_path):
    layout = build_layout("dev", root=tmp_path)
    assert len(layout.spec.members) == 1
    assert not layout.spec.topology.synchronous


def test_secrets_are_generated_once_and_private(tmp_path):
    path = tmp_path / "secrets.env"
    first = sandbox_secrets.load_or_create(path)
    assert set(first) == set(SECRET_ENV.values())
    assert len(set(first.values())) == len(first)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sandbox_secrets.load_or_create(path) == first


@pytest.mark.skipif(os.geteuid() != 0, reason="keys are handed to the postgres user")
def test_leaf_certificates_chain_to_the_local_ca_with_their_names(tmp_path):
    ca = LocalCA(tmp_path).ensure()
    issued = ca.issue("member", "pgp-1", dns_names=("pgp-1", "localhost"), ip_addresses=("127.0.0.1",))
    cert = x509.load_pem_x509_certificate(issued.cert.read_bytes())
    ca_cert = x509.load_pem_x509_certificate(ca.cert_path.read_bytes())
    cert.verify_directly_issued_by(ca_cert)
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["pgp-1", "localhost"]
    usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.SERVER_AUTH in usages and ExtendedKeyUsageOID.CLIENT_AUTH in usages
    assert stat.S_IMODE(issued.key.stat().st_mode) == 0o600
    assert ca.issue("member", "pgp-1").cert.read_bytes() == issued.cert.read_bytes(), "reused, not reissued"


def test_supervisor_starts_once_stops_by_pid_and_ignores_a_recycled_pid(tmp_path):
    sup = Supervisor(tmp_path / "run", tmp_path / "log")
    service = Service("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"], as_service_user=False)
    pid = sup.start(service)
    assert sup.start(service) == pid, "a running service is not started twice"
    assert is_alive(pid)
    record = sup.record("sleeper")
    # A PID file whose start time does not match belongs to some other, later process: never ours to signal.
    sup.pid_file("sleeper").write_text(
        sup.pid_file("sleeper")
        .read_text()
        .replace(f'"start_time": {record["start_time"]}', f'"start_time": {record["start_time"] + 1}')
    )
    assert sup.running("sleeper") is None
    assert sup.stop("sleeper") is False and is_alive(pid)
    sup.pid_file("sleeper").write_text(json.dumps(record))
    assert sup.stop("sleeper", timeout=5) is True
    assert not is_alive(pid)
    assert sup.names() == []


def test_repositories_are_numbered_in_one_order_and_posix_and_s3_are_required(tmp_path):
    assert parse_repository_kinds("gcs, s3,posix") == ("posix", "s3", "gcs")
    assert parse_repository_kinds("posix,s3,azure,gcs") == REPOSITORY_KINDS
    with pytest.raises(ValueError, match="unknown repository kind"):
        parse_repository_kinds("posix,s3,azur")
    with pytest.raises(ValueError, match="add s3"):
        parse_repository_kinds("posix,azure")
    layout = build_layout("prod", root=tmp_path, repositories=("posix", "s3", "gcs"))
    assert layout.repository_kinds == ("posix", "s3", "gcs")
    assert layout.repository_index("gcs") == 3
    assert layout.azure_repository is None
    with pytest.raises(ValueError, match="no azure repository"):
        layout.repository_index("azure")


def test_the_kinds_up_chose_are_what_later_commands_build(tmp_path):
    assert build_layout("prod", root=tmp_path).repository_kinds == DEFAULT_REPOSITORY_KINDS
    (tmp_path / "prod").mkdir()
    (tmp_path / "prod" / REPOSITORY_KINDS_FILE).write_text("posix,s3,azure,gcs\n")
    layout = build_layout("prod", root=tmp_path)
    assert layout.repository_kinds == REPOSITORY_KINDS
    assert build_layout("dev", root=tmp_path).repository_kinds == DEFAULT_REPOSITORY_KINDS


def test_the_azure_and_gcs_repositories_dial_their_emulators_over_verified_tls(tmp_path):
    layout = build_layout("dev", root=tmp_path, repositories=REPOSITORY_KINDS)
    azure, gcs = layout.azure_repository, layout.gcs_repository
    assert azure is not None and gcs is not None
    assert azure.endpoint == f"localhost:{layout.service_port('azure_blob')}"
    assert (azure.account, azure.uri_style, azure.key_type) == ("devstoreaccount1", "path", "sas")
    assert gcs.endpoint == f"localhost:{layout.service_port('gcs')}"
    assert gcs.key_type == "token"
    for repo in (azure, gcs):
        assert repo.verify_tls and repo.ca_file == str(layout.tls_dir / "ca.crt")
    conf = render_pgbackrest_conf(layout.spec, layout.spec.members[0])
    assert f"repo3-azure-endpoint=localhost:{layout.service_port('azure_blob')}" in conf
    assert f"repo4-gcs-endpoint=localhost:{layout.service_port('gcs')}" in conf
    assert AZURITE_ACCOUNT_KEY not in conf and EMULATOR_TOKEN not in conf, "credentials come from the environment"


def test_the_emulators_credentials_reach_pgbackrest_as_environment(tmp_path):
    layout = build_layout("dev", root=tmp_path, repositories=REPOSITORY_KINDS)
    env = node_environment(layout)
    sas = urllib.parse.parse_qs(env["PGBACKREST_REPO3_AZURE_KEY"])
    assert sas["sp"] == ["rwdlac"] and sas["spr"] == ["https"] and sas["srt"] == ["co"] and sas["sig"]
    assert AZURITE_ACCOUNT_KEY not in env.values(), "the node gets a SAS, never the account key"
    assert env["PGBACKREST_REPO4_GCS_KEY"] == EMULATOR_TOKEN
    assert env["PGBACKREST_REPO4_CIPHER_PASS"] == env["PGBACKREST_REPO1_CIPHER_PASS"]
    two = node_environment(build_layout("prod", root=tmp_path))
    assert not any("AZURE" in k or "GCS" in k for k in two)


def test_a_shared_key_signature_changes_with_every_signed_part():
    headers = {"x-ms-date": "Wed, 02 Dec 2026 00:00:00 GMT", "x-ms-version": "2021-08-06", "Content-Length": "0"}
    base = shared_key_authorization("PUT", "/devstoreaccount1/c", {"restype": "container"}, headers)
    assert base.startswith("SharedKey devstoreaccount1:")
    assert base == shared_key_authorization("PUT", "/devstoreaccount1/c", {"restype": "container"}, dict(headers))
    variants = [
        shared_key_authorization("GET", "/devstoreaccount1/c", {"restype": "container"}, headers),
        shared_key_authorization("PUT", "/devstoreaccount1/d", {"restype": "container"}, headers),
        shared_key_authorization("PUT", "/devstoreaccount1/c", {"restype": "service"}, headers),
        shared_key_authorization(
            "PUT", "/devstoreaccount1/c", {"restype": "container"}, headers | {"x-ms-version": "x"}
        ),
    ]
    assert base not in variants and len(set(variants)) == len(variants)


def test_the_drill_takes_a_repository_by_number_or_kind(tmp_path):
    layout = build_layout("prod", root=tmp_path, repositories=("posix", "s3", "gcs"))
    assert repository_number(layout, "2") == 2
    assert repository_number(layout, "gcs") == 3
    with pytest.raises(ValueError, match="repositories 1-3"):
        repository_number(layout, "4")
    with pytest.raises(ValueError, match="no azure"):
        repository_number(layout, "azure")


def test_the_gcs_emulator_binary_is_the_one_the_wheel_ships():
    path = gcs_binary()
    assert path.name.startswith("fake-gcs-server-") and os.access(path, os.X_OK)


@pytest.mark.skipif(os.geteuid() != 0, reason="the kinds file is handed to the postgres user")
def test_a_running_cluster_keeps_its_repositories_until_it_is_taken_down(tmp_path):
    """PostgreSQL archives with the environment Patroni started with: a repository added while it runs would
    have no credentials there, and archiving into every repository would fail until a restart."""
    two = build_layout("prod", root=tmp_path, repositories=DEFAULT_REPOSITORY_KINDS)
    four = build_layout("prod", root=tmp_path, repositories=REPOSITORY_KINDS)
    sup = Supervisor(two.state_dir, two.log_dir)
    cluster.remember_repositories(two, sup)
    assert build_layout("prod", root=tmp_path).repository_kinds == DEFAULT_REPOSITORY_KINDS
    name = patroni.NAME_PREFIX + two.spec.members[0].name
    sup.start(Service(name, [sys.executable, "-c", "import time; time.sleep(60)"], as_service_user=False))
    try:
        with pytest.raises(ServiceError, match="take it down first"):
            cluster.remember_repositories(four, sup)
        assert build_layout("prod", root=tmp_path).repository_kinds == DEFAULT_REPOSITORY_KINDS
        cluster.remember_repositories(two, sup)  # the same repositories again: `up` stays repeatable
    finally:
        sup.stop(name, timeout=5)
    cluster.remember_repositories(four, sup)
    assert build_layout("prod", root=tmp_path).repository_kinds == REPOSITORY_KINDS
