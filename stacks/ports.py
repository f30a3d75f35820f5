"""Port numbers, defined once. The cloud nodes use these; the sandbox offsets them per node."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Ports:
    postgres: int = 5432
    pgbouncer: int = 6432
    patroni_rest: int = 8008
    etcd_client: int = 2379
    etcd_peer: int = 2380
    # pgBackRest TLS server: a standby-taken backup reaches the primary through it.
    pgbackrest_server: int = 8432
    # The routed entry points (cloud load balancer listeners, HAProxy in the sandbox).
    write: int = 5432
    read: int = 5433
    pooled_write: int = 6432
    haproxy_stats: int = 7000
    postgres_exporter: int = 9187
    node_exporter: int = 9100
    pgbouncer_exporter: int = 9127
    prometheus: int = 9090
    alertmanager: int = 9093
    grafana: int = 3000


PORTS = Ports()
# The ports a clone (`pgp clone`) may take, one each, on a member's localhost: how many run at once. They listen
# on 127.0.0.1 only, so they are no node port a security group or the policy pack's NET-002 would open or guard.
CLONE_PORT_FIRST = 5500
CLONE_PORT_COUNT = 8

# Ports that only cluster members (and the monitoring node) may reach, never the allowlist.
INTRA_CLUSTER_PORTS = (PORTS.postgres, PORTS.patroni_rest, PORTS.etcd_client, PORTS.etcd_peer, PORTS.pgbackrest_server)
EXPORTER_PORTS = (PORTS.postgres_exporter, PORTS.node_exporter, PORTS.pgbouncer_exporter)
