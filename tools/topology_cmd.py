"""`tools topology`: the topology a stack's objectives derive, with the reason for every choice."""

from __future__ import annotations

import argparse
import json

from stacks.files import StackSource
from stacks.offline import settings_for_stack
from stacks.topology import derive_topology
from tools.stack_args import add_stack_argument, for_each_stack


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_stack_argument(parser)
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")


def main(args: argparse.Namespace) -> int:
    def show(source: StackSource) -> None:
        topology = derive_topology(settings_for_stack(source.name))
        print(json.dumps(topology.as_dict(), indent=1) if args.json else topology.explain())

    return for_each_stack("topology", args.stack, show)
