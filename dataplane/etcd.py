"""etcd 3.4 configuration file (`etcd --config-file`) for the member's DCS node.

Every member runs one etcd node next to Patroni, so the DCS survives the loss of any one zone exactly when
the cluster does. Client and peer traffic use TLS with client-certificate authentication: only holders of a
certificate from the cluster CA (members, the Patroni client) can read or change the leader key.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path, PurePosixPath

import yaml

from dataplane import etcd_member
from dataplane.model import ClusterSpec, Member
from dataplane.tls import tls_files

# Raft timing: etcd's defaults (100 ms / 1 s) suit zones within one region and keep leader elections an
# order of magnitude below Patroni's ttl (>= 20 s), so a DCS election never expires the Patroni leader key.
HEARTBEAT_MS = 100
ELECTION_MS = 1000
QUOTA_BACKEND_BYTES = 2 * 1024**3
# The Debian packages' binaries (etcd-server, etcd-client), which the start script runs.
ETCD_BIN = "/usr/bin/etcd"
ETCDCTL_BIN = "/usr/bin/etcdctl"
PYTHON = "/usr/bin/python3"


def _without_docstrings(source: str) -> str:
    """The same program without its docstrings and comments: the script travels in user data, whose size EC2
    caps at 16 KiB, and its documentation stays in the repository."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef)) and body:
            first = body[0]
            documented = isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
            if documented and isinstance(first.value.value, str):
                node.body = body[1:] or [ast.Pass()]
    return "# pg-platform etcd member start script (dataplane/etcd_member.py)\n" + ast.unparse(tree) + "\n"


# The start script (dataplane/etcd_member.py) is sent as a rendered file: a member runs the program's own.
MEMBER_SCRIPT_SOURCE = _without_docstrings(Path(etcd_member.__file__).read_text())


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


def config_path(spec: ClusterSpec, member: Member) -> str:
    return str(PurePosixPath(spec.paths_for(member).config_dir) / "etcd.yml")


def member_script_path(spec: ClusterSpec, member: Member) -> str:
    return str(PurePosixPath(spec.paths_for(member).config_dir) / "etcd-member")


def member_settings_path(spec: ClusterSpec, member: Member) -> str:
    return str(PurePosixPath(spec.paths_for(member).config_dir) / "etcd-member.json")


def member_settings(spec: ClusterSpec, member: Member) -> dict:
    """What the start script needs to join or leave (no secret: the client certificate's key stays a path)."""
    paths = spec.paths_for(member)
    tls = tls_files(spec, member)
    return {
        "name": member.name,
        "config": config_path(spec, member),
        "effective_config": str(PurePosixPath(paths.run_dir) / "etcd-effective.yml"),
        "data_dir": paths.etcd_data_dir,
        "former_data_dirs": [paths.former_etcd_data_dir],
        "peers": {m.name: {"client": client_url(m), "peer": peer_url(m)} for m in spec.members},
        "etcd": ETCD_BIN,
        "etcdctl": ETCDCTL_BIN,
        "ca": tls.ca,
        "cert": tls.client_cert,
        "key": tls.client_key,
    }


def render_member_settings(spec: ClusterSpec, member: Member) -> str:
    return json.dumps(member_settings(spec, member), sort_keys=True, separators=(",", ":")) + "\n"


def member_command(spec: ClusterSpec, member: Member, action: str) -> list[str]:
    """The argv that starts this member's etcd (`start`, its service's command) or removes it (`leave`)."""
    return [PYTHON, member_script_path(spec, member), action, member_settings_path(spec, member)]
