"""Node-side commands the post-provision steps run through SSM (components/aws/post_provision.py), and the
operators' patronictl.

Each post-provision command runs as root on a member, drops to the service user for the work, and takes its
passwords from the member's 0600 secrets environment; ssm_run.py runs them only on the current leader.
"""

from __future__ import annotations

import shlex
from pathlib import PurePosixPath

from dataplane import pgbackrest
from dataplane.model import SUPERUSER, ClusterSpec, Member
from dataplane.node_files import roles_sql_path
from dataplane.patroni import config_path as patroni_config_path

BACKUP_CHECK_COMMAND = "/usr/local/sbin/pg-platform-backup-check"
APPLY_ROLES_COMMAND = "/usr/local/sbin/pg-platform-apply-roles"
# The same command on every node answers for that node: Patroni listens on each member's own address.
IS_LEADER_COMMAND = "/usr/local/sbin/pg-platform-is-leader"
# patronictl loads patroni.yml as Patroni does, passwords from the environment included: run bare, it stops at
# KeyError: 'password'. The runbooks name this instead (run as root: the secrets file is 0600).
PATRONICTL_COMMAND = "/usr/local/sbin/pgp-patronictl"


def render_is_leader(spec: ClusterSpec, member: Member) -> str:
    return (
        "#!/bin/sh\n# rendered by pg-platform dataplane: exit 0 only on the Patroni leader\n"
        f"exec {pgbackrest.primary_guard(spec, member)}\n"
    )


def patronictl_bin(spec: ClusterSpec, member: Member) -> str:
    # pip installs patronictl next to patroni, in the same venv.
    return str(PurePosixPath(spec.paths_for(member).patroni_bin).with_name("patronictl"))


def render_patronictl(spec: ClusterSpec, member: Member) -> str:
    """patronictl with this member's config; the secrets are exported to that one process only."""
    env = spec.paths_for(member).secrets_env
    ctl, config = patronictl_bin(spec, member), patroni_config_path(spec, member)
    return (
        "#!/bin/sh\n# rendered by pg-platform dataplane: patronictl with this member's config and passwords\n"
        "set -eu\n"
        f"set -a; . {shlex.quote(env)}; set +a\n"
        f'exec {shlex.quote(ctl)} -c {shlex.quote(config)} "$@"\n'
    )


def setpriv_argv(user: str) -> list[str]:
    """The prefix that runs a command as `user` from root; setpriv execs in place."""
    return ["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups", "--"]


def export_secrets(spec: ClusterSpec, member: Member) -> str:
    """Shell that exports the member's secrets to the commands after it; the file itself stays 0600."""
    return f"set -a; . {shlex.quote(spec.paths_for(member).secrets_env)}; set +a"


def superuser_psql_argv(spec: ClusterSpec, member: Member, database: str = "postgres") -> list[str]:
    """psql as the superuser over the member's socket (peer), stopping at the first error; callers add the SQL."""
    paths = spec.paths_for(member)
    return [
        f"{paths.postgres_bin_dir}/psql",
        *("-X", "-v", "ON_ERROR_STOP=1"),
        *("-h", paths.run_dir, "-p", str(member.ports.postgres), "-U", SUPERUSER, "-d", database),
    ]


def _prelude(spec: ClusterSpec, member: Member, user: str) -> list[str]:
    return [
        "#!/bin/bash",
        "# rendered by pg-platform dataplane; run by the post-provision step on the leader",
        "set -euo pipefail",
        export_secrets(spec, member),
        f'as_service() {{ {shlex.join(setpriv_argv(user))} "$@"; }}',
    ]


def render_backup_check(spec: ClusterSpec, member: Member, user: str = "postgres") -> str:
    """Stanza present and archiving verified in every repository; the first full backup taken if none exists.

    stanza-create is idempotent, `check` proves a WAL segment reaches each repository, and the info check
    makes `pulumi up` fail rather than report a platform without a restorable backup.
    """
    has_backup = (
        "import json,sys; info=json.load(sys.stdin); sys.exit(0 if info and all(s.get('backup') for s in info) else 1)"
    )
    info_json = pgbackrest.command(spec, member, "--output=json", "info")
    if not spec.backups_enabled:
        # Nothing is archived, so `check` (which waits for a segment in each repository) could only fail. The
        # stanza stays, so turning backups on again finds it, and its `check` then proves archiving is back.
        return (
            "\n".join(
                [
                    *_prelude(spec, member, user),
                    f"as_service {pgbackrest.command(spec, member, 'stanza-create')}",
                    "echo 'backups are off for this stage (pg-platform:backups.enabled: false): no check, no backup'",
                ]
            )
            + "\n"
        )
    return (
        "\n".join(
            [
                *_prelude(spec, member, user),
                f"as_service {pgbackrest.command(spec, member, 'stanza-create')}",
                f"as_service {pgbackrest.command(spec, member, 'check')}",
                f"if ! as_service {info_json} | python3 -c {shlex.quote(has_backup)}; then",
                f"  as_service {pgbackrest.backup_command(spec, member, 'full')}",
                "fi",
                f"as_service {info_json} | python3 -c {shlex.quote(has_backup)}",
                f"as_service {pgbackrest.command(spec, member, 'info')}",
            ]
        )
        + "\n"
    )


def render_apply_roles(spec: ClusterSpec, member: Member, user: str = "postgres") -> str:
    """The role SQL (idempotent; passwords from the environment as psql variables) on the local primary."""
    psql = shlex.join([*superuser_psql_argv(spec, member), "-f", roles_sql_path(spec, member)])
    return "\n".join([*_prelude(spec, member, user), f"as_service {psql}"]) + "\n"


# Root-only: they source the member's secrets environment.
SCRIPT_MODE = 0o700
SCRIPT_OWNER = "root:root"


def operation_script_files(spec: ClusterSpec, member: Member) -> dict[str, tuple[str, int, str]]:
    """Path -> (content, mode, owner) of the scripts, as the boot writes them and the configure step keeps them."""
    return {path: (text, SCRIPT_MODE, SCRIPT_OWNER) for path, text in operation_scripts(spec, member).items()}


def operation_scripts(spec: ClusterSpec, member: Member) -> dict[str, str]:
    return {
        BACKUP_CHECK_COMMAND: render_backup_check(spec, member),
        APPLY_ROLES_COMMAND: render_apply_roles(spec, member),
        IS_LEADER_COMMAND: render_is_leader(spec, member),
        PATRONICTL_COMMAND: render_patronictl(spec, member),
    }
