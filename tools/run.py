"""`tools run`: run the program for each stack under the mock runtime and print its resource tree."""

from __future__ import annotations

import argparse
import collections
import json
import time

from stacks.files import StackSource
from tools.runner import resource_tree, run_stack
from tools.stack_args import add_stack_argument, for_each_stack


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_stack_argument(parser)
    parser.add_argument("--json", metavar="FILE", help="also write the recorded plan of the (single) stack as JSON")
    parser.add_argument("--counts", action="store_true", help="print resource counts per type after each tree")


def main(args: argparse.Namespace) -> int:
    def show(source: StackSource) -> None:
        started = time.perf_counter()
        plan = run_stack(source.name)
        elapsed = time.perf_counter() - started
        print(resource_tree(plan))
        if args.counts:
            for type_token, count in sorted(collections.Counter(r.type for r in plan.resources).items()):
                print(f"    {count:4d}  {type_token}")
        print(
            f"stack {source.name}: {len(plan.resources)} resources in {elapsed:.1f} s; outputs: "
            f"{', '.join(sorted(plan.outputs))}\n"
        )
        if args.json:
            with open(args.json, "w") as out:
                json.dump(plan.to_json(), out, indent=1, sort_keys=True)

    return for_each_stack("run", args.stack, show)
