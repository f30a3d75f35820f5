"""etcd 3.4 configuration file (`etcd --config-file`) for the member's DCS node.

Every member runs one etcd node next to Patroni, so the DCS survives the loss of any one zone exactly when
the cluster does. Client and peer traffic use TLS with client-certificate authentication: only holders of a
certificate from the cluster CA (members, the Patroni client) can read or change the leader key.
"""

from __future__ import annotations

import yaml

from dataplane.model import ClusterSpec, Member
from dataplane.tls import tls_files

# Raft timing: etcd's defaults (100 ms / 1 s) suit zones within one region and keep leader elections an
# order of magnitude below Patroni's ttl (>= 20 s), so a DCS election never expires the Patroni leader key.
HEARTBEAT_MS = 100
ELECTION_MS = 1000
QUOTA_BACKEND_BYTES = 2 * 1024**3


def client_url(member: Member) -> str:
    return f"https://{member.host}:{member.ports.etcd_client}"


def peer_url(member: Member) -> str:
    return f"https://{member.host}:{member.ports.etcd_peer}"


def initial_cluster(spec: ClusterSpec) -> str:
    return ",".join(f"{m.name}={peer_url(m)}" for m in spec.members)


def etcd_config(spec: ClusterSpec, member: Member, initial_state: str = "new") -> dict:
    """The config as a mapping. `initial_state` is "existing" when a replacement node joins a running cluster."""
    if initial_state not in ("new", "existing"):
        raise ValueError("initial_state is 'new' or 'existing'")
    tls = tls_files(spec, member)
    paths = spec.paths_for(member)
    security = {
        "cert-file": tls.cert,
        "key-file": tls.key,
        "trusted-ca-file": tls.ca,
        "client-cert-auth": True,
        "auto-tls": False,
    }
    return {
        "name": member.name,
        "data-dir": paths.etcd_data_dir,
        "listen-peer-urls": peer_url(member),
        "listen-client-urls": client_url(member),
        "initial-advertise-peer-urls": peer_url(member),
        "advertise-client-urls": client_url(member),
        "initial-cluster": initial_cluster(spec),
        "initial-cluster-token": spec.scope,
        "initial-cluster-state": initial_state,
        "strict-reconfig-check": True,
        "heartbeat-interval": HEARTBEAT_MS,
        "election-timeout": ELECTION_MS,
        "quota-backend-bytes": QUOTA_BACKEND_BYTES,
        # Patroni keeps only a few keys but rewrites them every loop_wait: compact hourly to bound the history.
        "auto-compaction-mode": "periodic",
        "auto-compaction-retention": "1",
        # The v2 API is off in 3.4; Patroni's etcd3 client speaks JSON to the gRPC gateway, which a config
        # file leaves disabled unless it says so (the command-line default does not apply).
        "enable-v2": False,
        "enable-grpc-gateway": True,
        "logger": "zap",
        "log-level": "info",
        "log-outputs": ["stderr"],
        "client-transport-security": dict(security),
        "peer-transport-security": dict(security),
    }


def render_etcd_config(spec: ClusterSpec, member: Member, initial_state: str = "new") -> str:
    header = f"# rendered by pg-platform dataplane for {spec.scope}/{member.name}; do not edit\n"
    return header + yaml.safe_dump(etcd_config(spec, member, initial_state), sort_keys=False)
