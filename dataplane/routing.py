"""How the router (the cloud's load balancer, HAProxy in the sandbox) tells members apart: Patroni's REST
health endpoints, one definition for the NLB target groups and haproxy.cfg alike."""
from __future__ import annotations

from stacks.topology import Topology

WRITE_CHECK_PATH = "/primary"
# A replica further behind than this serves no reads. Synchronous stages promote with zero lag but replicas
# still trail by a few transactions, so they get one WAL segment of slack instead of 0.
READ_LAG_CAP_BYTES = 16 * 1024 * 1024


def read_lag_bytes(topology: Topology) -> int:
    bound = topology.maximum_lag_on_failover.value
    return min(bound, READ_LAG_CAP_BYTES) if bound > 0 else READ_LAG_CAP_BYTES


def read_check_path(topology: Topology) -> str:
    return f"/replica?lag={read_lag_bytes(topology)}"
