"""The sandbox's own building blocks, without starting the cluster: layout, ports, secrets, certificates,
and the supervisor's PID handling."""

from __future__ import annotations

import json
import os
import stat
import sys

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from dataplane.model import SECRET_ENV
from sandbox import secrets as sandbox_secrets
from sandbox.layout import PROFILES, build_layout, installed_postgres_major
from sandbox.pki import LocalCA
from sandbox.supervisor import Service, Supervisor, is_alive
from stacks.sizes import SANDBOX_SIZE


def test_every_port_is_distinct_across_both_profiles_and_below_the_ephemeral_range(tmp_path):
    ports = [p for profile in PROFILES for p in build_layout(profile, root=tmp_path).all_ports()]
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
