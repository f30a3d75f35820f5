"""The sandbox's supervisor, and one-off commands run as the service user (pgBackRest, psql)."""

from __future__ import annotations

import os
import subprocess

from dataplane import pgbackrest as pgbackrest_render
from dataplane.model import Member
from sandbox.environment import node_environment
from sandbox.layout import SandboxLayout
from sandbox.supervisor import ServiceError, Supervisor, service_user_argv

COMMAND_TIMEOUT_SECONDS = 300


def supervisor(layout: SandboxLayout) -> Supervisor:
    return Supervisor(layout.state_dir, layout.log_dir)


def run_as_service_user(
    argv: list[str],
    env: dict[str, str] | None = None,
    timeout: float = COMMAND_TIMEOUT_SECONDS,
    check: bool = True,
    input_text: str | None = None,
) -> subprocess.CompletedProcess[str]:
    full = service_user_argv(argv)
    base_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "HOME": "/var/lib/postgresql"}
    result = subprocess.run(
        full,
        env={**base_env, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        input=input_text,
        cwd="/",
    )
    if check and result.returncode != 0:
        raise ServiceError(f"{' '.join(argv[:4])} ... failed ({result.returncode}):\n{result.stderr or result.stdout}")
    return result


def pgbackrest(
    layout: SandboxLayout, member: Member, *args: str, timeout: float = COMMAND_TIMEOUT_SECONDS, check: bool = True
) -> subprocess.CompletedProcess[str]:
    paths = layout.member_paths(member.name)
    argv = [
        paths.pgbackrest_bin,
        f"--config={pgbackrest_render.config_path(layout.spec, member)}",
        f"--stanza={layout.spec.stanza}",
        *args,
    ]
    return run_as_service_user(argv, env=node_environment(layout), timeout=timeout, check=check)


def psql(
    layout: SandboxLayout,
    member: Member,
    sql: str,
    dbname: str = "postgres",
    timeout: float = 60,
    env: dict[str, str] | None = None,
) -> str:
    """SQL as the superuser over the member's socket (peer): the superuser has no network login."""
    paths = layout.member_paths(member.name)
    argv = [
        f"{paths.postgres_bin_dir}/psql",
        *("-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"),
        *("-h", paths.run_dir, "-p", str(member.ports.postgres), "-d", dbname, "-f", "-"),
    ]
    return run_as_service_user(argv, env=env, timeout=timeout, input_text=sql).stdout.strip()
