"""The root-only tools a cloud member carries besides its services, as its configure step delivers and keeps
them: the post-provision and console scripts, and the scheduled restore drill with its timer."""

from __future__ import annotations

from dataplane.model import ClusterSpec, Member
from dataplane.operations import operation_script_files
from dataplane.restore_drill import scheduled_files


def member_tool_files(spec: ClusterSpec, member: Member) -> dict[str, tuple[str, int, str]]:
    """Path -> (content, mode, owner), configure.bundle's extra files."""
    return {**operation_script_files(spec, member), **scheduled_files(spec, member)}
