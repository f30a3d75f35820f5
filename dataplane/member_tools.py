"""The root-only tools a cloud member carries besides its services, as its configure step delivers and keeps
them: the post-provision and console scripts, the scheduled restore drill with its timer, the backup schedule
(so turning backups off or on reaches a running member, not only a new one) and etcd's unit."""

from __future__ import annotations

from dataplane.boot.units import ETCD_UNIT, SERVICE_USER, SYSTEM_UNIT_DIR, system_units
from dataplane.model import ClusterSpec, Member
from dataplane.operations import operation_script_files
from dataplane.pgbackrest import BACKUP_CRON_FILE, render_backup_cron
from dataplane.restore_drill import scheduled_files

# cron reads /etc/cron.d only from files root owns that nobody else may write; systemd units alike.
ROOT_FILE_MODE = 0o644
ROOT_OWNER = "root:root"


def member_tool_files(spec: ClusterSpec, member: Member) -> dict[str, tuple[str, int, str]]:
    """Path -> (content, mode, owner), configure.bundle's extra files."""
    # etcd's unit travels too: a member booted before etcd's start script existed runs etcd directly, so the
    # restart that moves etcd's data must first get the unit that runs the script.
    return {
        **operation_script_files(spec, member),
        **scheduled_files(spec, member),
        BACKUP_CRON_FILE: (render_backup_cron(spec, member, SERVICE_USER), ROOT_FILE_MODE, ROOT_OWNER),
        f"{SYSTEM_UNIT_DIR}/{ETCD_UNIT}": (system_units(spec, member)[ETCD_UNIT], ROOT_FILE_MODE, ROOT_OWNER),
    }
