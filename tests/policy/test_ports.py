"""The pack's port lists are stacks/ports.py's. The pack runs in its own environment and keeps its own copy
(pgp_policy/ports.py); these tests keep the copy, and the rule defaults built from it, equal to the program's."""

from __future__ import annotations

import sys
from dataclasses import asdict

import pytest

from stacks import ports as program
from tools.analyzer import PACK_DIR

# HAProxy runs only in the sandbox; in a cloud the load balancer routes, so no node listens on its stats port.
SANDBOX_ONLY = {program.PORTS.haproxy_stats}


@pytest.fixture(scope="module")
def pack():
    sys.path.insert(0, str(PACK_DIR))
    try:
        from pgp_policy import ha, ports
        from pgp_policy.aws import network
    finally:
        sys.path.remove(str(PACK_DIR))
    return ports, network, ha


def test_groups_are_the_programs(pack):
    ports, _, _ = pack
    assert ports.INTRA_CLUSTER_PORTS == program.INTRA_CLUSTER_PORTS
    assert ports.EXPORTER_PORTS == program.EXPORTER_PORTS
    p = program.PORTS
    assert (p.write, p.read, p.pooled_write) == ports.ROUTED_PORTS
    assert (p.prometheus, p.alertmanager, p.grafana) == ports.MONITORING_PORTS
    assert p.patroni_rest == ports.PATRONI_REST


def test_no_node_port_may_face_the_world(pack):
    """NET-002's default covers every port a cloud node listens on, the pgBackRest TLS server's included."""
    ports, network, _ = pack
    default = network.NET_002.defaults()["ports"]
    assert default == list(ports.NODE_PORTS)
    assert set(default) == set(asdict(program.PORTS).values()) - SANDBOX_ONLY
    assert program.PORTS.pgbackrest_server in default


def test_routing_rule_checks_the_routed_ports_against_patroni(pack):
    _, _, ha = pack
    defaults = ha.HA_003.defaults()
    p = program.PORTS
    assert defaults["patroni_port"] == p.patroni_rest
    assert defaults["database_ports"] == [p.write, p.read, p.pooled_write]
