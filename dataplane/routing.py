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


# Route -> (router port, member port, health check) is decided by `client_routes`; the member port names a field
# of MemberPorts. Applications use write and read; pooled is PgBouncer's transaction pool on the leader.
def client_routes(spec) -> dict[str, tuple[int, str, str]]:
    routes = {
        "write": (spec.router.write_port, "postgres", WRITE_CHECK_PATH),
        "pooled": (spec.router.pooled_port, "pgbouncer", WRITE_CHECK_PATH),
    }
    # A cloud load balancer whose targets all fail their checks sends traffic to all of them ("fail open"):
    # with no replica to pass /replica, a read route would quietly serve from the primary. One member, no route.
    if len(spec.members) > 1:
        routes["read"] = (spec.router.read_port, "postgres", read_check_path(spec.topology))
    return routes


def client_access(spec, database: str, users: dict[str, str]) -> dict:
    """What an application needs to connect, without a password: endpoints with ports, and for each route the
    URI that verifies the server against the cluster CA (the CA certificate is a separate output)."""
    endpoints, uris = {}, {}
    for route, (port, _, _) in client_routes(spec).items():
        endpoints[route] = {"host": spec.router.host, "port": port}
        user = users["read" if route == "read" else "write"]
        uris[route] = (
            f"postgresql://{user}@{spec.router.host}:{port}/{database}"
            f"?sslmode=verify-full&sslrootcert=pg-platform-ca.crt"
        )
    return {"endpoints": endpoints, "connection_uris": uris}
