"""The `--stack` argument every tool takes, and running a tool's work once per stack.

A stack is a name (Pulumi.<name>.yaml in the repository) or the path of a Pulumi.<name>.yaml anywhere. A user's
mistake (an unknown stack, a malformed file, a setting or a value the cloud would refuse) prints one line naming
the stack and stops the tool with exit status 2; it never prints a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from stacks.errors import UserError
from stacks.files import StackSource, resolve_stack, stack_names, using_stack_file

STACK_HELP = "stack name or path to a Pulumi.<stack>.yaml"


def add_stack_argument(parser: argparse.ArgumentParser, *, repeatable: bool = True) -> None:
    if repeatable:
        parser.add_argument("--stack", action="append", help=f"{STACK_HELP} (repeatable); default: every stack file")
    else:
        parser.add_argument("--stack", required=True, help=STACK_HELP)


def for_each_stack(
    tool: str,
    stacks: Sequence[str] | None,
    work: Callable[[StackSource], None],
    describe: Callable[[UserError], str] = str,
) -> int:
    """Resolve every argument first (so a typo in the last one costs nothing), then run `work` for each stack
    with its file in effect. Returns the exit status."""
    try:
        sources = [resolve_stack(s) for s in (stacks or stack_names())]
    except UserError as error:
        print(f"tools {tool}: {error}", file=sys.stderr)
        return 2
    for source in sources:
        try:
            with using_stack_file(source):
                work(source)
        except UserError as error:
            print(f"stack {source.name}: {describe(error)}", file=sys.stderr)
            return 2
    return 0
