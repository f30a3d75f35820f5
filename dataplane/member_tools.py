"""The root-only tools a cloud member carries besides its services, as its configure step delivers and keeps
them: the post-provision and console scripts, the scheduled restore drill with its timer, and etcd's unit."""

from __future__ import annotations

from dataplane.boot.units import ETCD_UNIT, SYSTEM_UNIT_DIR, system_units
from dataplane.model import ClusterSpec, Member
from dataplane.operations import operation_script_files
from dataplane.restore_drill import scheduled_files


def member_tool_files(spec: ClusterSpec, member: Member) -> dict[str, tuple[str, int, str]]:
    """Path -> (content, mode, owner), configure.bundle's extra files."""
    # etcd's unit travels too: a member booted before etcd's start script existed runs etcd directly, so the
    # restart that moves etcd's data must first get the unit that runs the script.
    etcd_unit = (system_units(spec, member)[ETCD_UNIT], 0o644, "root:root")
    return {
        **operation_script_files(spec, member),
        **scheduled_files(spec, member),
        f"{SYSTEM_UNIT_DIR}/{ETCD_UNIT}": etcd_unit,
    }
