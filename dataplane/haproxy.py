"""haproxy.cfg: the stand-in for the cloud's internal load balancer.

TCP passthrough (clients negotiate TLS with PostgreSQL/PgBouncer themselves) with HTTPS health checks
against each member's Patroni REST API, verified against the cluster CA: the write and pooled ports follow
`/primary`, the read port follows `/replica?lag=...`. Check timing is the topology's routing check, and a
server marked down has its sessions cut so clients reconnect to the new primary at once.
"""

from __future__ import annotations

from dataplane.model import ClusterSpec
from dataplane.routing import WRITE_CHECK_PATH, read_check_path

# Client/server timeouts long enough for idle pooled application sessions; TCP keepalives catch dead peers.
SESSION_TIMEOUT = "30m"
MAX_CONNECTIONS = 4096
# The stats page's path on the stats port: what `sandbox status` links to must be what HAProxy serves.
STATS_PATH = "/stats"


def _checked_server(name: str, host: str, port: int, rest_port: int, ca_file: str, extra: str = "") -> str:
    return (
        f"    server {name} {host}:{port} check port {rest_port} check-ssl verify required "
        f"ca-file {ca_file}{(' ' + extra) if extra else ''}"
    )


def _backend(name: str, path: str, servers: list[str]) -> list[str]:
    return [
        f"backend {name}",
        "    option httpchk",
        f"    http-check send meth GET uri {path}",
        "    http-check expect status 200",
        *servers,
        "",
    ]


def render_haproxy_config(spec: ClusterSpec, ca_file: str) -> str:
    """`ca_file` is the cluster CA as the router host sees it (the router is not a member)."""
    check = spec.topology.routing_check.value
    router = spec.router
    members = spec.members

    def servers(port_of, suffix: str = "", extra: str = "") -> list[str]:
        return [
            _checked_server(f"{m.name}{suffix}", m.host, port_of(m), m.ports.patroni_rest, ca_file, extra)
            for m in members
        ]

    out = [
        f"# rendered by pg-platform dataplane for {spec.scope}; do not edit",
        "global",
        f"    maxconn {MAX_CONNECTIONS}",
        "    log stdout format raw local0 notice",
        "    ssl-default-server-options ssl-min-ver TLSv1.2",
        "",
        "defaults",
        "    mode tcp",
        "    log global",
        "    option tcplog",
        "    option clitcpka",
        "    option srvtcpka",
        "    timeout connect 3s",
        f"    timeout client {SESSION_TIMEOUT}",
        f"    timeout server {SESSION_TIMEOUT}",
        f"    timeout check {check.timeout_seconds}s",
        # fastinter 1s: once a check fails, confirm quickly so the RTO budget is spent on promotion, not here.
        f"    default-server inter {check.interval_seconds}s fastinter 1s downinter {check.interval_seconds}s "
        f"fall {check.fall} rise {check.rise} on-marked-down shutdown-sessions",
        "",
        "frontend write",
        f"    bind {router.host}:{router.write_port}",
        "    default_backend primary",
        "",
        "frontend read",
        f"    bind {router.host}:{router.read_port}",
        "    default_backend replicas",
        "",
        "frontend pooled",
        f"    bind {router.host}:{router.pooled_port}",
        "    default_backend primary_pooled",
        "",
        "frontend stats",
        "    mode http",
        f"    bind {router.host}:{router.stats_port}",
        "    option httplog",
        "    http-request use-service prometheus-exporter if { path /metrics }",
        "    stats enable",
        f"    stats uri {STATS_PATH}",
        "    stats refresh 5s",
        "    stats show-legends",
        "    timeout client 30s",
        "",
    ]
    out += _backend("primary", WRITE_CHECK_PATH, servers(lambda m: m.ports.postgres))
    out += [
        "backend replicas",
        "    balance leastconn",
        "    option httpchk",
        f"    http-check send meth GET uri {read_check_path(spec.topology)}",
        "    http-check expect status 200",
    ]
    out += servers(lambda m: m.ports.postgres)
    # When no replica qualifies (one node, or every standby lagging) the primary serves reads rather than the
    # read port refusing every connection. A backend has one check definition, so these backup servers
    # `track` the primary backend's servers instead of checking /primary themselves.
    out += [f"    server {m.name}-primary {m.host}:{m.ports.postgres} backup track primary/{m.name}" for m in members]
    out += ["", *_backend("primary_pooled", WRITE_CHECK_PATH, servers(lambda m: m.ports.pgbouncer))]
    return "\n".join(out).rstrip() + "\n"
