"""Steps that need the running cluster, as pulumi-command resources with explicit triggers.

They reach the private nodes through AWS Systems Manager (the instance role carries the SSM core policy),
never through a public address or SSH. The configure step runs on each member with that member's bundle
(dataplane/configure.py), so a changed setting reaches a running member; the backup check and the roles run
on every node, and their node-side scripts act only where Patroni reports the leader, so the result does not
depend on which node currently leads.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_command as command

from components.base import PlatformComponent
from components.configure_step import PROJECT_PYTHON, configure_and_leave
from dataplane import configure
from dataplane.operations import APPLY_ROLES_COMMAND, BACKUP_CHECK_COMMAND, IS_LEADER_COMMAND

# Relative to the project directory, as PROJECT_PYTHON is (components/configure_step.py).
SSM_RUNNER = "scripts/ssm_run.py"
SSM_CONFIGURE = "scripts/ssm_configure.py"
# The first full backup waits for completion; allow ~30 s per GiB of data volume, at least an hour.
BACKUP_SECONDS_PER_GB = 30
MIN_BACKUP_TIMEOUT_SECONDS = 3600


def backup_timeout(disk_size_gb: int) -> int:
    return max(MIN_BACKUP_TIMEOUT_SECONDS, disk_size_gb * BACKUP_SECONDS_PER_GB)


@dataclass(frozen=True)
class PostProvisionArgs:
    region: str
    instance_ids: Sequence[pulumi.Input[str]]
    role_sql: str  # rendered by dataplane.roles; passwords come from the node's env
    pgbackrest_config: str  # the rendered pgbackrest.conf, so a change re-runs the check
    disk_size_gb: int
    # Per member, in instance order: its name and its encoded configure bundle (no secrets; dataplane/configure.py).
    # The bundles wait for the vault's key, which the member's pgbackrest.conf names as its boot files do.
    member_names: Sequence[str]
    configure_bundles: pulumi.Input[Sequence[str]]
    # Where the configure step records the run (the stack journal in the locked bucket, under the scope).
    journal_bucket: str
    scope: str
    tags: Mapping[str, str]
    # The first backup must land in a bucket whose lock, encryption and policy already exist.
    after: Sequence[pulumi.Resource] = ()


class PostProvision(PlatformComponent):
    def __init__(self, name: str, args: PostProvisionArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aws", "PostProvision", name, args.tags, opts)
        instances = pulumi.Output.all(*args.instance_ids)
        runner = shlex.join([PROJECT_PYTHON, SSM_RUNNER, "--region", args.region, "--leader-check", IS_LEADER_COMMAND])
        steps = configure_and_leave(
            self,
            [PROJECT_PYTHON, SSM_CONFIGURE, "--region", args.region],
            args.member_names,
            args.instance_ids,
            args.configure_bundles,
            args.after,
            configure_options=["--journal-bucket", args.journal_bucket, "--scope", args.scope],
        )
        self.configure, self.leave, self.handover = steps.configure, steps.leave, steps.handover
        self.backup_check = command.local.Command(
            self.child_name("backup-check"),
            create=instances.apply(
                lambda ids: (
                    f"{runner} --instances {','.join(ids)} --on-leader "
                    f"--timeout {backup_timeout(args.disk_size_gb)} -- "
                    f"{BACKUP_CHECK_COMMAND}"
                )
            ),
            triggers=[instances, configure.digest(args.pgbackrest_config)],
            # The node-side scripts it runs are the ones the configure step last wrote.
            opts=self.child_opts(depends_on=[*args.after, self.configure]),
        )
        self.roles = command.local.Command(
            self.child_name("roles"),
            create=instances.apply(
                lambda ids: f"{runner} --instances {','.join(ids)} --on-leader -- {APPLY_ROLES_COMMAND}"
            ),
            # The SQL itself travels in the node's rendered files; the digest re-runs it when it changes.
            triggers=[instances, configure.digest(args.role_sql)],
            opts=self.child_opts(depends_on=[self.backup_check]),
        )
        self.register_outputs(
            {
                "configure": self.configure.stdout,
                "backup_check": self.backup_check.stdout,
                "roles": self.roles.stdout,
            }
        )
