"""`python -m tools revert --stack S [--yes]`: undo a stage's failed first deployment with one command.

It refuses a stack that ever deployed: the stack's configure step (the post-provision `configure` command, which
writes the journal's `up` entry through scripts/ssm_configure.py) is in the stack's state once it has completed,
and the journal's `up` entries record every configure run. Either showing a completed one means members were
configured and may hold data: that stack is changed with `pulumi up`, or taken down deliberately with
`pulumi destroy`, never reverted.

A stack that never deployed is reverted with `pulumi destroy --exclude-protected`: the protected stateful
resources (the locked backup bucket and its key, the data volumes, the secrets) are kept, and listed first, so
that the next `pulumi up` adopts them again instead of failing on names that are taken.

Without `--yes` it only says what it would do. The Pulumi CLI is reached through `PulumiCli` alone."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dataplane import journal
from stacks.errors import UserError

# The post-provision step whose completion means the members were configured (components/aws/post_provision.py
# names its children <component>-configure; ssm_configure records its run as the journal's `up`).
CONFIGURE_TYPE = "command:local:Command"
CONFIGURE_SUFFIX = "-post-provision-configure"
UP_ACTION = "up"


@dataclass(frozen=True)
class Resource:
    urn: str
    type: str
    protect: bool
    parent: str | None = None
    dependencies: tuple[str, ...] = ()
    provider: str | None = None  # "<provider urn>::<id>"

    @property
    def name(self) -> str:
        return self.urn.rsplit("::", 1)[-1]


def resources_of(export: Mapping[str, Any]) -> list[Resource]:
    """The resources of `pulumi stack export` (deployment version 3)."""
    deployment = export.get("deployment")
    if not isinstance(deployment, Mapping):
        raise UserError("the stack export has no `deployment`: is it the output of `pulumi stack export`?")
    return [
        Resource(
            urn=str(r["urn"]),
            type=str(r["type"]),
            protect=bool(r.get("protect")),
            parent=r.get("parent"),
            dependencies=tuple(r.get("dependencies") or ()),
            provider=r.get("provider"),
        )
        for r in deployment.get("resources") or []
    ]


def configured(resources: Sequence[Resource]) -> list[str]:
    """The configure steps in the state: each completed once (Pulumi records a resource once it is created)."""
    return [r.name for r in resources if r.type == CONFIGURE_TYPE and r.name.endswith(CONFIGURE_SUFFIX)]


def kept(resources: Sequence[Resource]) -> tuple[list[Resource], list[Resource]]:
    """(protected, also kept): what `--exclude-protected` leaves, the protected resources and what they need
    (their parents, their dependencies and their providers), which Pulumi keeps with them."""
    by_urn = {r.urn: r for r in resources}
    protected = [r for r in resources if r.protect]
    seen = {r.urn for r in protected}
    todo = list(protected)
    while todo:
        r = todo.pop()
        needed = [r.parent, *r.dependencies, r.provider.rsplit("::", 1)[0] if r.provider else None]
        for urn in needed:
            if urn and urn in by_urn and urn not in seen:
                seen.add(urn)
                todo.append(by_urn[urn])
    also = [r for r in resources if r.urn in seen and not r.protect and r.type != "pulumi:pulumi:Stack"]
    return protected, also


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str
    protected: list[Resource] = field(default_factory=list)
    also_kept: list[Resource] = field(default_factory=list)
    destroyed: int = 0


def decide(
    stack: str, export: Mapping[str, Any], entries: Sequence[journal.Entry] | None, journal_note: str = ""
) -> Decision:
    """Whether stack `stack` may be reverted, and what a revert keeps. `entries` is the journal, None when it
    could not be read (a first deployment that failed before its bucket existed has none)."""
    resources = resources_of(export)
    if not resources:
        return Decision(False, f"stack {stack} has no resources: there is nothing to revert")
    steps = configured(resources)
    if steps:
        return Decision(
            False,
            f"stack {stack} has deployed: its configure step completed ({', '.join(steps)}), so its members were "
            f"configured and may hold data. Fix the cause and run `pulumi up --stack {stack}` again; a deployed "
            "stage is taken down deliberately with `pulumi destroy`, never reverted",
        )
    ups = [e for e in entries or () if e.action == UP_ACTION and e.result == "ok"]
    if ups:
        return Decision(
            False,
            f"stack {stack} has deployed: the journal records a successful `up` at {ups[-1].at} by {ups[-1].who}. "
            f"Fix the cause and run `pulumi up --stack {stack}` again; a deployed stage is never reverted",
        )
    protected, also = kept(resources)
    destroyed = len([r for r in resources if r.type != "pulumi:pulumi:Stack"]) - len(protected) - len(also)
    failed = [e for e in entries or () if e.action == UP_ACTION]
    why = (
        f"the journal has {len(failed)} failed `up` and no successful one"
        if entries is not None
        else f"the journal could not be read ({journal_note or 'no bucket yet'}); the state shows no configure step"
    )
    return Decision(True, f"stack {stack} never deployed: {why}", protected, also, destroyed)


def destroy_argv(stack: str) -> list[str]:
    """The one Pulumi command a revert runs: everything but the protected resources (and what they need)."""
    return ["pulumi", "destroy", "--exclude-protected", "--yes", "--stack", stack]


class PulumiCli:
    """The Pulumi CLI, the only way this command reaches it."""

    def export(self, stack: str) -> dict[str, Any]:
        done = self._run(["pulumi", "stack", "export", "--stack", stack], capture=True)
        return dict(json.loads(done.stdout))

    def outputs(self, stack: str) -> dict[str, Any]:
        done = self._run(["pulumi", "stack", "output", "--json", "--stack", stack], capture=True)
        return dict(json.loads(done.stdout or "{}"))

    def destroy(self, stack: str) -> int:
        return self._run(destroy_argv(stack), capture=False).returncode

    def _run(self, argv: list[str], capture: bool) -> subprocess.CompletedProcess[str]:
        try:
            done = subprocess.run(argv, capture_output=capture, text=True)
        except FileNotFoundError:
            raise UserError(
                "the Pulumi CLI is not installed: install it (https://www.pulumi.com/docs/install/)"
            ) from None
        if capture and done.returncode != 0:
            raise UserError(f"{' '.join(argv)}: {done.stderr.strip()[-500:]}")
        return done


def read_journal(stack: str, outputs: Mapping[str, Any]) -> tuple[list[journal.Entry] | None, str]:
    """The stack's journal from its locked bucket (the operator's credentials), or None and why not."""
    bucket = outputs.get("backup_bucket")
    if not bucket:
        return None, "the stack exports no backup_bucket yet"
    try:
        import boto3

        from tools.console_aws import aws_spec

        scope = aws_spec(stack, str(bucket)).scope
        region = str((outputs.get("inventory") or {}).get("region") or "") or None
        return journal.S3Journal(boto3.client("s3", region_name=region), str(bucket), scope).entries(), ""
    except Exception as error:  # unreadable is reported, and the state alone decides
        return None, f"{type(error).__name__}: {error}"[:300]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = __doc__
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--stack", required=True, help="the stack whose failed first deployment to revert")
    parser.add_argument("--yes", action="store_true", help="run the destroy (without it: only say what it would do)")
    parser.add_argument("--json", action="store_true", help="print JSON for machines")


def report(decision: Decision, stack: str) -> dict[str, Any]:
    return {
        "stack": stack,
        "allowed": decision.allowed,
        "reason": decision.reason,
        "protected": [{"type": r.type, "name": r.name, "urn": r.urn} for r in decision.protected],
        "also_kept": [{"type": r.type, "name": r.name} for r in decision.also_kept],
        "destroyed": decision.destroyed,
        "command": destroy_argv(stack) if decision.allowed else None,
    }


def report_text(found: Mapping[str, Any]) -> str:
    lines = [found["reason"]]
    if found["allowed"]:
        lines.append(f"kept: {len(found['protected'])} protected resources, reused by the next `pulumi up`:")
        lines += [f"  {r['type']:<60} {r['name']}" for r in found["protected"]]
        if found["also_kept"]:
            lines.append(f"kept with them (what they need): {len(found['also_kept'])} resources")
        lines.append(f"destroyed: {found['destroyed']} resources, by: {' '.join(found['command'])}")
    return "\n".join(lines)


def run(args: argparse.Namespace, cli: PulumiCli) -> int:
    from stacks.files import resolve_stack

    stack = resolve_stack(args.stack).name
    export = cli.export(stack)
    outputs = cli.outputs(stack)
    entries, note = read_journal(stack, outputs)
    decision = decide(stack, export, entries, note)
    found = report(decision, stack)
    print(json.dumps(found, indent=1) if args.json else report_text(found))
    if not decision.allowed:
        return 2
    if not args.yes:
        print("nothing done: pass --yes to run it", file=sys.stderr)
        return 0
    return cli.destroy(stack)


def main(args: argparse.Namespace) -> int:
    try:
        return run(args, PulumiCli())
    except UserError as error:
        print(f"tools revert: {error}", file=sys.stderr)
        return 2
