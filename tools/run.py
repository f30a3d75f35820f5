"""`tools run`: run the program for each stack under the mock runtime and print its resource tree."""
from __future__ import annotations

import argparse
import collections
import json
import time

from stacks.errors import SettingsError
from stacks.files import stack_names
from tools.runner import resource_tree, run_stack


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stack", action="append", help="stack name (repeatable); default: every Pulumi.<stack>.yaml")
    parser.add_argument("--json", metavar="FILE", help="also write the recorded plan of the (single) stack as JSON")
    parser.add_argument("--counts", action="store_true", help="print resource counts per type after each tree")


def main(args: argparse.Namespace) -> int:
    stacks = args.stack or stack_names()
    for stack in stacks:
        started = time.perf_counter()
        try:
            plan = run_stack(stack)
        except SettingsError as error:
            print(f"stack {stack}: {error}")
            return 2
        elapsed = time.perf_counter() - started
        print(resource_tree(plan))
        if args.counts:
            for type_token, count in sorted(collections.Counter(r.type for r in plan.resources).items()):
                print(f"    {count:4d}  {type_token}")
        print(f"stack {stack}: {len(plan.resources)} resources in {elapsed:.1f} s; outputs: "
              f"{', '.join(sorted(plan.outputs))}\n")
        if args.json:
            with open(args.json, "w") as out:
                json.dump(plan.to_json(), out, indent=1, sort_keys=True)
    return 0
