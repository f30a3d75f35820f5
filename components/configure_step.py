"""The day-two steps every VM cloud's post-provision runs, as pulumi-command resources: one configure step that
carries each member's bundle to a cloud's script (scripts/configure_step.py underneath), one leave step per
member whose `delete` runs the agent's `leave` mode before that member is removed, and one handover step per
member whose `delete` switches a leader over before its instance is replaced. A cloud supplies the
script, its own arguments and how each member is reached (an instance id, an instance and zone)."""

from __future__ import annotations

import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_command as command

from components.base import PlatformComponent
from dataplane import configure

# Relative to the project directory, where Pulumi runs local commands: absolute paths would differ between
# checkouts and re-run the steps whenever someone deploys from another machine. Pulumi.yaml's virtualenv
# (.venv) has what the scripts import (requirements.txt); a bare python3 may not.
PROJECT_PYTHON = ".venv/bin/python"


@dataclass(frozen=True)
class DayTwoSteps:
    configure: command.local.Command
    leave: list[command.local.Command]  # per member, in member order
    handover: list[command.local.Command]  # per member, in member order


def configure_and_leave(
    parent: PlatformComponent,
    script: Sequence[str],
    member_names: Sequence[str],
    addresses: Sequence[pulumi.Input[str]],
    bundles: pulumi.Input[Sequence[str]],
    after: Sequence[pulumi.Resource],
    configure_options: Sequence[str] = (),
    instance_ids: Sequence[pulumi.Input[str]] | None = None,
) -> DayTwoSteps:
    """`script`: the argv before the members (its interpreter, path and the cloud's own options);
    `configure_options`: the configure step's alone (where it records the run); `instance_ids`: what a
    replacement changes, per member (the addresses when they are the instance ids)."""
    reached = pulumi.Output.all(*addresses)
    encoded = pulumi.Output.from_input(bundles)
    # One step for all members: they are changed one at a time and restarted in the order
    # dataplane.configure.roll_out plans (replicas first), as `tools sandbox configure` does. A member that
    # booted with these files finds nothing to change.
    configure_step = command.local.Command(
        parent.child_name("configure"),
        create=pulumi.Output.all(reached, encoded).apply(
            lambda v: shlex.join(
                [
                    *script,
                    *configure_options,
                    *[
                        part
                        for name, where, bundle in zip(member_names, v[0], v[1], strict=True)
                        for part in ("--member", name, where, bundle)
                    ],
                ]
            )
        ),
        triggers=pulumi.Output.all(reached, encoded).apply(lambda v: [v[0], *[configure.digest(b) for b in v[1]]]),
        opts=parent.child_opts(depends_on=list(after)),
    )

    # A member leaves before its instance goes (HA switched off, fewer nodes): a leader hands over and its
    # etcd node leaves the membership, so the members that stay keep a quorum. Only `delete` runs: a changed
    # bundle or a replaced instance (a roll keeps the member, with its etcd data on the data volume) is an
    # update of this step, which runs nothing.
    def leave_command(member: str, index: int) -> Callable[[list[Any]], str]:
        def render(v: list[Any]) -> str:
            where, bundle = v[0], v[1][index]
            return shlex.join([*script, "--leave", "--member", member, where, bundle])

        return render

    # Each depends on the one before it, so members that go together leave one at a time, the last first
    # (Pulumi deletes dependents before what they depend on): never two handovers or removals at once.
    leave: list[command.local.Command] = []
    for index, (member, where) in enumerate(zip(member_names, addresses, strict=True)):
        leave.append(
            command.local.Command(
                parent.child_name(f"leave-{member}"),
                delete=pulumi.Output.all(where, encoded).apply(leave_command(member, index)),
                opts=parent.child_opts(depends_on=[configure_step, *leave[-1:]]),
            )
        )

    # A member's instance replaced by a roll takes its handover step with it, since the step's trigger is the
    # instance id: Pulumi deletes a dependent being replaced before it deletes the instance (members replace
    # delete-before-replace), so a leader switches over while it still runs, and its clients see a switchover
    # instead of a failover after the ttl. A handover that fails fails the `up` before the leader goes. Each
    # depends on its member's leave step, so a member removed for good hands over first, then leaves.
    def handover_command(member: str, index: int) -> Callable[[list[Any]], str]:
        def render(v: list[Any]) -> str:
            where, bundle = v[0], v[1][index]
            return shlex.join([*script, "--handover", "--member", member, where, bundle])

        return render

    handover = [
        command.local.Command(
            parent.child_name(f"handover-{member}"),
            delete=pulumi.Output.all(where, encoded).apply(handover_command(member, index)),
            triggers=[replaced],
            opts=parent.child_opts(depends_on=[leave[index]]),
        )
        for index, (member, where, replaced) in enumerate(
            zip(member_names, addresses, instance_ids or addresses, strict=True)
        )
    ]
    return DayTwoSteps(configure_step, leave, handover)
