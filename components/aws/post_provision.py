"""Steps that need the running cluster, as pulumi-command resources with explicit triggers.

They reach the private nodes through AWS Systems Manager (the instance role carries the SSM core policy),
never through a public address or SSH. Each runs on every node; the node-side script acts only where
Patroni reports the leader, so the result does not depend on which node currently leads.
"""
from __future__ import annotations

import hashlib
import json
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import pulumi
import pulumi_command as command

from components.base import PlatformComponent

SSM_RUNNER = Path(__file__).resolve().parents[2] / "scripts" / "ssm_run.py"
# The first full backup of a fresh cluster can take a while; the step waits for it rather than race.
BACKUP_TIMEOUT_SECONDS = 3600


@dataclass(frozen=True)
class PostProvisionArgs:
    region: str
    instance_ids: Sequence[pulumi.Input[str]]
    stanza: str
    role_sql: str                    # rendered by dataplane.roles; passwords come from the node's env
    pgbackrest_config: str          # the rendered pgbackrest.conf, so a change re-runs the check
    tags: Mapping[str, str]
    # The first backup must land in a bucket whose lock, encryption and policy already exist.
    after: Sequence[pulumi.Resource] = ()


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class PostProvision(PlatformComponent):
    def __init__(self, name: str, args: PostProvisionArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aws", "PostProvision", name, args.tags, opts)
        instances = pulumi.Output.all(*args.instance_ids)
        runner = f"python3 {shlex.quote(str(SSM_RUNNER))} --region {shlex.quote(args.region)}"

        self.backup_check = command.local.Command(
            self.child_name("backup-check"),
            create=instances.apply(lambda ids: f"{runner} --instances {','.join(ids)} --on-leader "
                                               f"--timeout {BACKUP_TIMEOUT_SECONDS} -- "
                                               f"pg-platform-backup-check {shlex.quote(args.stanza)}"),
            triggers=[instances, _digest(args.pgbackrest_config)],
            opts=self.child_opts(depends_on=list(args.after)))
        self.roles = command.local.Command(
            self.child_name("roles"),
            create=instances.apply(lambda ids: f"{runner} --instances {','.join(ids)} --on-leader -- "
                                               f"pg-platform-apply-roles"),
            # The SQL itself travels in the node's rendered files; the digest re-runs it when it changes.
            triggers=[instances, _digest(args.role_sql)],
            opts=self.child_opts(depends_on=[self.backup_check]))
        self.register_outputs({"backup_check": self.backup_check.stdout, "roles": self.roles.stdout})
