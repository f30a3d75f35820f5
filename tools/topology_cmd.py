"""`tools topology`: the topology a stack's objectives derive, with the reason for every choice."""
from __future__ import annotations

import argparse
import json
import sys

from stacks.errors import UserError
from stacks.files import resolve_stack, stack_names, using_stack_file
from stacks.offline import settings_for_stack
from stacks.topology import derive_topology


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stack", action="append",
                        help="stack name or path to a Pulumi.<stack>.yaml (repeatable); default: every stack file")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")


def main(args: argparse.Namespace) -> int:
    try:
        sources = [resolve_stack(s) for s in (args.stack or stack_names())]
    except UserError as error:
        print(f"tools topology: {error}", file=sys.stderr)
        return 2
    for source in sources:
        try:
            with using_stack_file(source):
                topology = derive_topology(settings_for_stack(source.name))
        except UserError as error:
            print(f"stack {source.name}: {error}", file=sys.stderr)
            return 2
        print(json.dumps(topology.as_dict(), indent=1) if args.json else topology.explain())
    return 0
