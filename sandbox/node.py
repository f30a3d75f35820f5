"""A member's machine before its services start: directories, then the files cloud-init would write."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from dataplane import node_files as node_files_render
from dataplane import operations
from dataplane import tls as tls_render
from dataplane.model import Member
from sandbox.environment import node_environment
from sandbox.files import service_dir, write_file
from sandbox.layout import SandboxLayout
from sandbox.processes import run_as_service_user


def prepare_directories(layout: SandboxLayout) -> None:
    service_dir(layout.root, 0o755)
    for d in (
        layout.state_dir,
        layout.log_dir,
        layout.shared_config_dir,
        layout.posix_repo_dir,
        layout.monitoring_dir,
    ):
        service_dir(d)
    service_dir(layout.root / "members", 0o755)
    for member in layout.spec.members:
        paths = layout.member_paths(member.name)
        service_dir(layout.member_root(member.name), 0o755)
        for path in (
            paths.config_dir,
            paths.log_dir,
            paths.run_dir,
            paths.etcd_data_dir,
            paths.pgbackrest_spool_dir,
            paths.pgbackrest_lock_dir,
        ):
            service_dir(path)
        for sub in ("patroni", "pgbackrest", "postgresql"):
            service_dir(Path(paths.log_dir) / sub)
        service_dir(Path(tls_render.tls_files(layout.spec, member).key).parent, 0o700)
        # initdb and pgBackRest insist on 0700 for the data directory.
        service_dir(paths.data_dir, 0o700)


def patronictl_path(layout: SandboxLayout, member: Member) -> Path:
    """The member's pgp-patronictl: on a node it is one per host in /usr/local/sbin, here one per member root."""
    return layout.member_root(member.name) / "sbin" / PurePosixPath(operations.PATRONICTL_COMMAND).name


def write_all_member_files(layout: SandboxLayout) -> None:
    for member in layout.spec.members:
        write_member_files(layout, member)


def write_member_files(layout: SandboxLayout, member: Member) -> None:
    """The member's files exactly as cloud-init writes them (node_files), its secrets environment as the
    boot step writes it, then the templates filled by the same commands the node's secrets unit runs."""
    spec = layout.spec
    for path, content in node_files_render.node_files(spec, member).items():
        write_file(path, content, node_files_render.node_file_mode(spec, member, path))
    env = node_environment(layout)
    write_file(
        layout.member_paths(member.name).secrets_env,
        "".join(f"{var}='{value}'\n" for var, value in sorted(env.items())),
        0o600,
    )
    for command in node_files_render.render_secret_files_commands(spec, member):
        run_as_service_user(command, env=env, timeout=30)
    # Root's, 0700, as cloud-init writes it: it reads the 0600 secrets environment.
    write_file(patronictl_path(layout, member), operations.render_patronictl(spec, member), 0o700, service_owned=False)
