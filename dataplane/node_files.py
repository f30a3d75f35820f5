"""Every configuration file a member gets, by path: one list for cloud-init and the sandbox alike.

None of these files contains a secret. Secrets reach a node as environment variables (SECRET_ENV, in
Paths.secrets_env, 0600) and as TLS files (dataplane.tls.tls_files); the two files that cannot read the
environment (PgBouncer's auth file, the exporter's environment) are templates filled at boot by
`render_secret_files_command`.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from dataplane import etcd, exporters, pgbouncer
from dataplane.etcd import config_path as etcd_config_path
from dataplane.etcd import render_etcd_config
from dataplane.model import ClusterSpec, Member
from dataplane.patroni import config_path as patroni_config_path
from dataplane.patroni import render_patroni_config
from dataplane.pgbackrest import config_path as pgbackrest_config_path
from dataplane.pgbackrest import render_pgbackrest_conf
from dataplane.roles import render_role_sql

FILE_MODE = 0o640
EXECUTABLE_MODE = 0o750


def roles_sql_path(spec: ClusterSpec, member: Member) -> str:
    return str(PurePosixPath(spec.paths_for(member).config_dir) / "roles.sql")


def node_files(spec: ClusterSpec, member: Member) -> dict[str, str]:
    """Path -> content of every rendered file of one member (paths are that member's own)."""
    return {
        etcd_config_path(spec, member): render_etcd_config(spec, member),
        etcd.member_script_path(spec, member): etcd.MEMBER_SCRIPT_SOURCE,
        etcd.member_settings_path(spec, member): etcd.render_member_settings(spec, member),
        patroni_config_path(spec, member): render_patroni_config(spec, member),
        pgbackrest_config_path(spec, member): render_pgbackrest_conf(spec, member),
        pgbouncer.config_path(spec, member): pgbouncer.render_pgbouncer_ini(spec, member),
        pgbouncer.auth_template_path(spec, member): pgbouncer.render_auth_file_template(spec),
        exporters.queries_path(spec, member): exporters.render_postgres_exporter_queries(),
        exporters.env_template_path(spec, member): exporters.render_postgres_exporter_env_template(spec, member),
        exporters.node_metrics_script_path(spec, member): exporters.render_node_metrics_script(),
        pgbouncer.fill_script_path(spec, member): pgbouncer.render_fill_script(),
        # Applied once by the post-provision step on the primary; kept on every node for operators.
        roles_sql_path(spec, member): render_role_sql(spec, variables_from_env=True),
    }


def program_files(spec: ClusterSpec, member: Member) -> dict[str, str]:
    """The node files that are programs and queries rather than configuration: the same on every member and
    every stage, and the bulk of a member's files (a cloud with little room for user data fetches them)."""
    paths = (
        etcd.member_script_path(spec, member),
        exporters.node_metrics_script_path(spec, member),
        exporters.queries_path(spec, member),
        pgbouncer.fill_script_path(spec, member),
    )
    files = node_files(spec, member)
    return {path: files[path] for path in paths}


def node_file_mode(spec: ClusterSpec, member: Member, path: str) -> int:
    scripts = (
        exporters.node_metrics_script_path(spec, member),
        pgbouncer.fill_script_path(spec, member),
        etcd.member_script_path(spec, member),
    )
    return EXECUTABLE_MODE if path in scripts else FILE_MODE


def render_secret_files_commands(spec: ClusterSpec, member: Member) -> list[list[str]]:
    """Commands (run as the service user with the secrets environment) that fill the boot-time templates."""
    return [
        pgbouncer.fill_command(spec, member),
        pgbouncer.template_fill_command(
            spec, member, exporters.env_template_path(spec, member), exporters.env_file_path(spec, member)
        ),
    ]
