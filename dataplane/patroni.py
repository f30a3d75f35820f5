"""patroni.yml for one member: etcd3 over TLS, the REST API over TLS, timing and replication mode from the
topology, PostgreSQL parameters and pg_hba from their own modules.

Passwords are not in the file. Patroni reads PATRONI_SUPERUSER_PASSWORD, PATRONI_REPLICATION_PASSWORD,
PATRONI_REWIND_PASSWORD and PATRONI_RESTAPI_PASSWORD (SECRET_ENV) from its environment and merges them over the
file, which is how the node's boot step hands them over (EnvironmentFile= of the Patroni unit).
"""

from __future__ import annotations

from pathlib import PurePosixPath

import yaml

from dataplane.etcd import client_url
from dataplane.model import PATRONI_REST_USER, REPLICATION_USER, REWIND_USER, SECRET_ENV, SUPERUSER, ClusterSpec, Member
from dataplane.pg_hba import hba_lines
from dataplane.pgbackrest import archive_get_command, replica_restore_command
from dataplane.postgresql import INITDB_OPTIONS, cluster_wide_parameters, postgresql_parameters
from dataplane.tls import tls_files

# Environment variables Patroni itself reads (the names its env-config loader expects).
PATRONI_ENV = tuple(SECRET_ENV[n] for n in ("superuser", "replication", "rewind", "patroni-rest"))
# Set by Patroni from `listen`/`connect_address`/recovery settings, not from `parameters`.
_PATRONI_MANAGED = ("listen_addresses", "port", "restore_command")


def config_path(spec: ClusterSpec, member: Member) -> str:
    return str(PurePosixPath(spec.paths_for(member).config_dir) / "patroni.yml")


def rest_url(member: Member) -> str:
    return f"https://{member.host}:{member.ports.patroni_rest}"


def dcs_settings(spec: ClusterSpec) -> dict:
    """bootstrap.dcs: written to etcd once by the first member, then changed only with `patronictl edit-config`."""
    topo = spec.topology
    dcs: dict = {
        "ttl": topo.ttl.value,
        "loop_wait": topo.loop_wait.value,
        "retry_timeout": topo.retry_timeout.value,
        "maximum_lag_on_failover": topo.maximum_lag_on_failover.value,
        "primary_start_timeout": topo.primary_start_timeout.value,
        # A standby whose timeline differs from the leader's must not win a race after a partition.
        "check_timeline": True,
    }
    if topo.replication.value == "synchronous-strict":
        # Strict: with no synchronous standby left, commits wait instead of the primary silently going
        # standalone, and only the synchronous standby may be promoted (RPO 0).
        dcs.update(
            synchronous_mode=True,
            synchronous_mode_strict=True,
            synchronous_node_count=topo.synchronous_node_count.value,
        )
    elif topo.replication.value == "asynchronous":
        dcs.update(synchronous_mode=False)
    else:
        raise ValueError(f"unknown replication mode {topo.replication.value!r}")
    dcs["postgresql"] = {
        "use_pg_rewind": True,
        "use_slots": True,
        "parameters": cluster_wide_parameters(spec),
    }
    return dcs


def _replication_tls(spec: ClusterSpec, member: Member) -> dict:
    tls = tls_files(spec, member)
    # verify-full: a standby streams only from a peer that proves it is a member (certificate SAN = host).
    # The member's own pair as client certificate: libpq would otherwise probe ~/.postgresql/ and fail when
    # HOME is not the service user's.
    return {"sslmode": "verify-full", "sslrootcert": tls.ca, "sslcert": tls.cert, "sslkey": tls.key}


def patroni_config(spec: ClusterSpec, member: Member) -> dict:
    topo = spec.topology
    paths = spec.paths_for(member)
    tls = tls_files(spec, member)
    wide = cluster_wide_parameters(spec)
    all_params = postgresql_parameters(spec, member)
    local_params = {k: v for k, v in all_params.items() if k not in wide and k not in _PATRONI_MANAGED}
    return {
        "scope": spec.scope,
        "namespace": "/service/",
        "name": member.name,
        "log": {"dir": f"{paths.log_dir}/patroni", "level": "INFO", "file_num": 4, "file_size": 25 * 1024**2},
        "restapi": {
            "listen": f"{member.host}:{member.ports.patroni_rest}",
            "connect_address": f"{member.host}:{member.ports.patroni_rest}",
            "certfile": tls.cert,
            "keyfile": tls.key,
            "cafile": tls.ca,
            # GET health checks (the router, Prometheus) need no certificate; PUT/POST/DELETE (switchover,
            # restart, config) need a certificate from the cluster CA *and* the REST user's password.
            "verify_client": "optional",
            "authentication": {"username": PATRONI_REST_USER},
        },
        "ctl": {"insecure": False, "cacert": tls.ca, "certfile": tls.client_cert, "keyfile": tls.client_key},
        "etcd3": {
            "hosts": [client_url(m).removeprefix("https://") for m in spec.members],
            "protocol": "https",
            "cacert": tls.ca,
            "cert": tls.client_cert,
            "key": tls.client_key,
        },
        "bootstrap": {
            "dcs": dcs_settings(spec),
            "initdb": [dict(o) if isinstance(o, dict) else o for o in INITDB_OPTIONS],
        },
        "postgresql": {
            "listen": f"{member.host}:{member.ports.postgres}",
            "connect_address": f"{member.host}:{member.ports.postgres}",
            "data_dir": paths.data_dir,
            "bin_dir": paths.postgres_bin_dir,
            "pgpass": f"{paths.run_dir}/pgpass-{member.name}",
            # Patroni's own superuser session goes over the socket (peer), so the superuser has no network line.
            "use_unix_socket": True,
            "use_unix_socket_repl": False,
            "authentication": {
                "superuser": {"username": SUPERUSER},
                "replication": {"username": REPLICATION_USER, **_replication_tls(spec, member)},
                "rewind": {"username": REWIND_USER, **_replication_tls(spec, member)},
            },
            "parameters": local_params,
            "recovery_conf": {"restore_command": archive_get_command(spec, member)},
            "pg_hba": hba_lines(spec),
            # A failed primary that comes back (EC2 recovery, a restarted VM, a reboot) must rejoin as a standby
            # without an operator: pg_rewind first; if it fails, or the timelines diverged where it cannot run,
            # Patroni empties the data directory and rebuilds it with create_replica_methods. Nothing is lost
            # that pg_rewind would keep: either way the old primary gives up what it wrote after the failover,
            # which no synchronous standby confirmed (RPO 0) or which maximum_lag_on_failover bounded.
            "use_pg_rewind": True,
            "remove_data_directory_on_rewind_failure": True,
            "remove_data_directory_on_diverged_timelines": True,
            # A new or rebuilt standby restores the latest backup first (cheap for the primary), and streams a
            # base backup only when there is none yet.
            "create_replica_methods": ["pgbackrest", "basebackup"],
            "pgbackrest": {"command": replica_restore_command(spec, member), "keep_data": True, "no_params": True},
            "basebackup": [{"checkpoint": "fast"}],
            "pg_ctl_timeout": max(60, topo.primary_start_timeout.value),
        },
        # Only where the device exists and Patroni may open it; elsewhere Patroni logs and carries on.
        "watchdog": {"mode": "automatic", "safety_margin": 5},
        "tags": {"nofailover": False, "noloadbalance": False, "clonefrom": False, "nosync": False, "zone": member.zone},
    }


def render_patroni_config(spec: ClusterSpec, member: Member) -> str:
    header = (
        f"# rendered by pg-platform dataplane for {spec.scope}/{member.name}; do not edit\n"
        f"# passwords come from the environment: {', '.join(PATRONI_ENV)}\n"
    )
    return header + yaml.safe_dump(patroni_config(spec, member), sort_keys=False, width=1000)
