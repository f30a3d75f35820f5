"""`tools topology`: the topology a stack's objectives derive, with the reason for every choice."""
from __future__ import annotations

import argparse
import json

from stacks.errors import SettingsError
from stacks.files import stack_names
from stacks.offline import settings_for_stack
from stacks.topology import derive_topology


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stack", action="append", help="stack name (repeatable); default: every stack file")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")


def main(args: argparse.Namespace) -> int:
    for stack in args.stack or stack_names():
        try:
            topology = derive_topology(settings_for_stack(stack))
        except SettingsError as error:
            print(f"stack {stack}: {error}")
            return 2
        print(json.dumps(topology.as_dict(), indent=1) if args.json else topology.explain())
    return 0
