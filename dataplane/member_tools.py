"""The root-only tools a cloud member carries besides its services, as its configure step delivers and keeps
them: the post-provision and console scripts, the scheduled restore drill with its timer, and the backup
schedule (so turning backups off or on reaches a running member, not only a new one)."""

from __future__ import annotations

from dataplane.boot.units import SERVICE_USER
from dataplane.model import ClusterSpec, Member
from dataplane.operations import operation_script_files
from dataplane.pgbackrest import BACKUP_CRON_FILE, render_backup_cron
from dataplane.restore_drill import scheduled_files

# cron reads /etc/cron.d only from files root owns that nobody else may write.
CRON_MODE = 0o644
CRON_OWNER = "root:root"


def member_tool_files(spec: ClusterSpec, member: Member) -> dict[str, tuple[str, int, str]]:
    """Path -> (content, mode, owner), configure.bundle's extra files."""
    return {
        **operation_script_files(spec, member),
        **scheduled_files(spec, member),
        BACKUP_CRON_FILE: (render_backup_cron(spec, member, SERVICE_USER), CRON_MODE, CRON_OWNER),
    }
