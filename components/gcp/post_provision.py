"""Steps that need the running cluster, as pulumi-command resources with explicit triggers: the configure step,
which carries each member's bundle (dataplane/configure.py) to scripts/iap_configure.py so a changed setting
reaches the running members, a leave step per member, then the first backup check (stanza-create, WAL reaching
the bucket, pgBackRest's info) and the application roles, each on the leader.

They reach the private nodes over SSH through Identity-Aware Proxy's TCP forwarding (`gcloud compute ssh
--tunnel-through-iap`, OS Login), never through an external address. The step waits until every node has finished
cloud-init, then runs the node-side leader check on each node and the command where it succeeds: exactly one node
must run it, or the step retries until its deadline and fails, so a role change mid-deploy applies it neither
twice nor nowhere (as AWS's scripts/ssm_run.py does through Systems Manager).
"""

from __future__ import annotations

import hashlib
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_command as command

from components.configure_step import PROJECT_PYTHON, configure_and_leave
from components.gcp.base import GcpComponent
from dataplane.operations import APPLY_ROLES_COMMAND, BACKUP_CHECK_COMMAND, IS_LEADER_COMMAND

BOOT_TIMEOUT_SECONDS = 1800
ROLES_TIMEOUT_SECONDS = 900
# The first full backup waits for completion; allow ~30 s per GiB of data disk, at least an hour (as on AWS).
BACKUP_SECONDS_PER_GB = 30
MIN_BACKUP_TIMEOUT_SECONDS = 3600
POLL_SECONDS = 10
# Relative to the project directory, as PROJECT_PYTHON is.
IAP_CONFIGURE = "scripts/iap_configure.py"


def backup_timeout(disk_size_gb: int) -> int:
    return max(MIN_BACKUP_TIMEOUT_SECONDS, disk_size_gb * BACKUP_SECONDS_PER_GB)


def render_on_leader(
    project: str,
    nodes: Sequence[tuple[str, str]],
    node_command: str,
    timeout: int,
    boot_timeout: int = BOOT_TIMEOUT_SECONDS,
    poll_seconds: int = POLL_SECONDS,
) -> str:
    """A bash program: wait for every node's cloud-init, then run `node_command` on the one leader."""
    ssh = shlex.join(["gcloud", "compute", "ssh", "--project", project, "--tunnel-through-iap", "--quiet"])
    listed = " ".join(shlex.quote(f"{name}:{zone}") for name, zone in nodes)
    boot_wait = shlex.quote("cloud-init status --wait >/dev/null")
    leader = shlex.quote(f"sudo {IS_LEADER_COMMAND}")
    run = shlex.quote(f"sudo {node_command}")
    return "\n".join(
        [
            "set -euo pipefail",
            f"nodes=({listed})",
            f"boot_deadline=$(( $(date +%s) + {boot_timeout} ))",
            f"deadline=$(( $(date +%s) + {boot_timeout + timeout} ))",
            f'on() {{ {ssh} "${{1%%:*}}" --zone "${{1#*:}}" --command "$2"; }}',
            'for node in "${nodes[@]}"; do',
            f'  until on "$node" {boot_wait}; do',
            '    [ "$(date +%s)" -lt "$boot_deadline" ] || { echo "pg-platform: $node did not finish booting" >&2; '
            "exit 1; }",
            f"    sleep {poll_seconds}",
            "  done",
            "done",
            "while :; do",
            "  ran=0",
            '  for node in "${nodes[@]}"; do',
            f'    if on "$node" {leader}; then on "$node" {run}; ran=$((ran + 1)); fi',
            "  done",
            '  [ "$ran" -eq 1 ] && exit 0',
            '  [ "$(date +%s)" -lt "$deadline" ] || { echo "pg-platform: $ran nodes ran it, not one" >&2; exit 1; }',
            f"  sleep {poll_seconds}",
            "done",
        ]
    )


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class PostProvisionArgs:
    project: str
    instance_names: Sequence[pulumi.Input[str]]
    instance_ids: Sequence[pulumi.Input[str]]  # in the same order: what a replacement changes
    zones: Sequence[str]  # the instances' zones, in the same order
    role_sql: str  # rendered by dataplane.roles; passwords come from the node's env
    pgbackrest_config: str  # the rendered pgbackrest.conf, so a change re-runs the check
    disk_size_gb: int
    # Per member, in instance order: its name and its encoded configure bundle (no secrets; dataplane/configure.py).
    member_names: Sequence[str]
    configure_bundles: pulumi.Input[Sequence[str]]
    tags: Mapping[str, str]
    # The first backup must land in a bucket whose key, retention and grants already exist.
    after: Sequence[pulumi.Resource] = ()


class PostProvision(GcpComponent):
    def __init__(self, name: str, args: PostProvisionArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("gcp", "PostProvision", name, args.tags, opts)
        names = pulumi.Output.all(*args.instance_names)

        def on_leader(node_command: str, timeout: int) -> pulumi.Output[str]:
            return names.apply(
                lambda ns: render_on_leader(args.project, list(zip(ns, args.zones, strict=True)), node_command, timeout)
            )

        steps = configure_and_leave(
            self,
            [PROJECT_PYTHON, IAP_CONFIGURE, "--project", args.project],
            args.member_names,
            [pulumi.Output.concat(n, ":", zone) for n, zone in zip(args.instance_names, args.zones, strict=True)],
            args.configure_bundles,
            args.after,
            # A replaced instance keeps its name; its id is new.
            instance_ids=args.instance_ids,
        )
        self.configure, self.leave, self.handover = steps.configure, steps.leave, steps.handover
        bash = ["/bin/bash", "-c"]
        self.backup_check = command.local.Command(
            self.child_name("backup-check"),
            create=on_leader(BACKUP_CHECK_COMMAND, backup_timeout(args.disk_size_gb)),
            interpreter=bash,
            triggers=[names, _digest(args.pgbackrest_config)],
            # The node-side scripts it runs are the ones the configure step last wrote.
            opts=self.child_opts(depends_on=[*args.after, self.configure]),
        )
        self.roles = command.local.Command(
            self.child_name("roles"),
            create=on_leader(APPLY_ROLES_COMMAND, ROLES_TIMEOUT_SECONDS),
            interpreter=bash,
            # The SQL itself travels in the node's rendered files; the digest re-runs it when it changes.
            triggers=[names, _digest(args.role_sql)],
            opts=self.child_opts(depends_on=[self.backup_check]),
        )
        self.register_outputs(
            {"configure": self.configure.stdout, "backup_check": self.backup_check.stdout, "roles": self.roles.stdout}
        )
