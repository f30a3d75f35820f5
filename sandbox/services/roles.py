"""The roles and the application database: the member's rendered roles.sql, run on the leader."""

from __future__ import annotations

from pathlib import Path

from dataplane.node_files import roles_sql_path
from sandbox.client import Sandbox
from sandbox.environment import node_environment
from sandbox.layout import SandboxLayout
from sandbox.processes import psql


def start(layout: SandboxLayout) -> None:
    """As the post-provision step runs it: passwords come from the secrets environment (the script reads
    them with printenv), never from a command line."""
    leader = Sandbox(layout).leader_member()
    psql(layout, leader, Path(roles_sql_path(layout.spec, leader)).read_text(), env=node_environment(layout))
