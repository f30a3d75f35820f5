"""A member's systemd units and tmpfiles: the same services in the same order on every cloud."""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from dataplane import etcd, exporters, pgbouncer
from dataplane.boot.cloud_config import UNIT_PREFIX
from dataplane.model import ClusterSpec, Member
from dataplane.node_files import render_secret_files_commands
from dataplane.patroni import config_path as patroni_config_path
from dataplane.pgbackrest import needs_tls_server, server_command

SERVICE_USER = "postgres"


# The Debian packages' binaries, which the units run and the console asks for their versions.
ETCD_BIN = etcd.ETCD_BIN
PGBOUNCER_BIN = "/usr/sbin/pgbouncer"
ETCD_UNIT = f"{UNIT_PREFIX}etcd.service"
SYSTEM_UNIT_DIR = "/etc/systemd/system"
# How a VM member restarts its etcd once the configure step wrote a new unit or configuration.
ETCD_RESTART = (("systemctl", "daemon-reload"), ("systemctl", "restart", ETCD_UNIT))


def _unit(
    description: str,
    *commands: Sequence[str],
    user: str = SERVICE_USER,
    after: Sequence[str] = (),
    requires: Sequence[str] = (),
    env_files: Sequence[str] = (),
    kind: str = "simple",
    extra: Sequence[str] = (),
    unit_extra: Sequence[str] = (),
) -> str:
    """One unit; each of `commands` is an argv, one ExecStart= line each (a oneshot may run several)."""
    if not commands:
        raise ValueError(f"unit {description!r} has no command")
    lines = [
        "[Unit]",
        f"Description={description}",
        "Wants=network-online.target",
        f"After=network-online.target {' '.join(after)}".rstrip(),
    ]
    lines += [f"Requires={' '.join(requires)}"] if requires else []
    lines += list(unit_extra)
    lines += ["", "[Service]", f"Type={kind}", f"User={user}", f"Group={user}"]
    lines += [f"EnvironmentFile={f}" for f in env_files]
    # systemd expands $ and % in command lines: double them so arguments (regexes) reach the program intact.
    lines += ["ExecStart=" + shlex.join(c).replace("$", "$$").replace("%", "%%") for c in commands]
    if kind == "oneshot":
        lines.append("RemainAfterExit=yes")
    else:
        lines += ["Restart=on-failure", "RestartSec=2"]
    lines += list(extra)
    lines += ["", "[Install]", "WantedBy=multi-user.target", ""]
    return "\n".join(lines)


def system_units(spec: ClusterSpec, member: Member) -> dict[str, str]:
    """systemd unit name -> content, in start order."""
    paths = spec.paths_for(member)
    secrets = paths.secrets_env
    units = {
        ETCD_UNIT: _unit(
            f"etcd member {member.name} of {spec.scope}",
            # The start script joins a running cluster when the data directory is empty, then execs etcd.
            etcd.member_command(spec, member, "start"),
            unit_extra=[f"RequiresMountsFor={paths.etcd_data_dir}"],
            extra=["LimitNOFILE=65536"],
        ),
        f"{UNIT_PREFIX}secrets.service": _unit(
            "fill boot-time templates from the secrets environment",
            *render_secret_files_commands(spec, member),
            env_files=[secrets],
            kind="oneshot",
        ),
        f"{UNIT_PREFIX}patroni.service": _unit(
            f"Patroni member {member.name} of {spec.scope}",
            [paths.patroni_bin, patroni_config_path(spec, member)],
            after=[f"{UNIT_PREFIX}etcd.service"],
            env_files=[secrets],
            # fstab mounts the data volume `nofail`, which orders nothing: without this, a reboot could start
            # Patroni on an empty directory of the root disk before the volume is mounted over it.
            unit_extra=[f"RequiresMountsFor={paths.data_dir}"],
            # Patroni stops PostgreSQL itself; killing the whole cgroup would skip its clean shutdown.
            extra=["KillMode=process", "TimeoutStopSec=120", "ExecReload=/bin/kill -HUP $MAINPID"],
        ),
        f"{UNIT_PREFIX}pgbouncer.service": _unit(
            f"PgBouncer on {member.name}",
            [PGBOUNCER_BIN, pgbouncer.config_path(spec, member)],
            after=[f"{UNIT_PREFIX}secrets.service"],
            requires=[f"{UNIT_PREFIX}secrets.service"],
            extra=["ExecReload=/bin/kill -HUP $MAINPID", "LimitNOFILE=65536"],
        ),
        f"{UNIT_PREFIX}postgres-exporter.service": _unit(
            f"postgres_exporter on {member.name}",
            ["/usr/bin/prometheus-postgres-exporter", *exporters.postgres_exporter_args(spec, member)],
            after=[f"{UNIT_PREFIX}secrets.service"],
            requires=[f"{UNIT_PREFIX}secrets.service"],
            env_files=[exporters.env_file_path(spec, member)],
        ),
        f"{UNIT_PREFIX}node-exporter.service": _unit(
            f"node_exporter on {member.name}",
            ["/usr/bin/prometheus-node-exporter", *exporters.node_exporter_args(spec, member)],
            user="prometheus",
        ),
    }
    if needs_tls_server(spec, member):
        units[f"{UNIT_PREFIX}pgbackrest-server.service"] = _unit(
            f"pgBackRest TLS server on {member.name}", shlex.split(server_command(spec, member))
        )
    return units


def render_tmpfiles(spec: ClusterSpec, member: Member) -> str:
    paths = spec.paths_for(member)
    # The run directory is traversable (0711) so node_exporter's user reaches its textfile directory; the
    # sockets inside keep their own 0770 permissions.
    return (
        "\n".join(
            [
                f"d {paths.run_dir} 0711 {SERVICE_USER} {SERVICE_USER} -",
                f"d {exporters.textfile_dir(spec, member)} 0755 {SERVICE_USER} {SERVICE_USER} -",
                f"d {paths.pgbackrest_lock_dir} 0750 {SERVICE_USER} {SERVICE_USER} -",
            ]
        )
        + "\n"
    )
