"""How the router (cloud load balancer, HAProxy in the sandbox) decides where a connection goes.

Defined once so the NLB target groups and the sandbox's HAProxy check the same Patroni endpoints.
"""
from __future__ import annotations

from stacks.topology import Topology

WRITE_CHECK_PATH = "/primary"
# A replica further behind than this serves no reads: stale reads are worse than a refused connection.
READ_MAX_LAG_BYTES = 16 * 1024 * 1024


def read_check_path(topology: Topology) -> str:
    lag = topology.maximum_lag_on_failover.value or READ_MAX_LAG_BYTES
    return f"/replica?lag={min(lag, READ_MAX_LAG_BYTES)}"
