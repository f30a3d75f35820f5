"""Port numbers the rules default to. The pack runs in its own environment and imports nothing of the program,
so these copy stacks/ports.py; tests/policy/test_ports.py keeps the two equal."""

from __future__ import annotations

POSTGRES = 5432
PATRONI_REST = 8008
ETCD_CLIENT = 2379
ETCD_PEER = 2380
PGBACKREST_SERVER = 8432
# The routed entry points (the cloud load balancer's listeners).
WRITE = 5432
READ = 5433
POOLED_WRITE = 6432
POSTGRES_EXPORTER = 9187
NODE_EXPORTER = 9100
PGBOUNCER_EXPORTER = 9127
PROMETHEUS = 9090
ALERTMANAGER = 9093
GRAFANA = 3000

ROUTED_PORTS = (WRITE, READ, POOLED_WRITE)
INTRA_CLUSTER_PORTS = (POSTGRES, PATRONI_REST, ETCD_CLIENT, ETCD_PEER, PGBACKREST_SERVER)
EXPORTER_PORTS = (POSTGRES_EXPORTER, NODE_EXPORTER, PGBOUNCER_EXPORTER)
MONITORING_PORTS = (PROMETHEUS, ALERTMANAGER, GRAFANA)
# Every port a node listens on: none may ever admit the world.
NODE_PORTS = tuple(dict.fromkeys(ROUTED_PORTS + INTRA_CLUSTER_PORTS + EXPORTER_PORTS + MONITORING_PORTS))
