"""`tools run`: run the program for each stack under the mock runtime and print its resource tree."""
from __future__ import annotations

import argparse
import collections
import json
import sys
import time

from stacks.errors import UserError
from stacks.files import resolve_stack, stack_names, using_stack_file
from tools.runner import resource_tree, run_stack


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stack", action="append",
                        help="stack name or path to a Pulumi.<stack>.yaml (repeatable); default: every stack file")
    parser.add_argument("--json", metavar="FILE", help="also write the recorded plan of the (single) stack as JSON")
    parser.add_argument("--counts", action="store_true", help="print resource counts per type after each tree")


def main(args: argparse.Namespace) -> int:
    try:
        sources = [resolve_stack(s) for s in (args.stack or stack_names())]
    except UserError as error:
        print(f"tools run: {error}", file=sys.stderr)
        return 2
    for source in sources:
        started = time.perf_counter()
        try:
            with using_stack_file(source):
                plan = run_stack(source.name)
        except UserError as error:
            print(f"stack {source.name}: {error}", file=sys.stderr)
            return 2
        elapsed = time.perf_counter() - started
        print(resource_tree(plan))
        if args.counts:
            for type_token, count in sorted(collections.Counter(r.type for r in plan.resources).items()):
                print(f"    {count:4d}  {type_token}")
        print(f"stack {source.name}: {len(plan.resources)} resources in {elapsed:.1f} s; outputs: "
              f"{', '.join(sorted(plan.outputs))}\n")
        if args.json:
            with open(args.json, "w") as out:
                json.dump(plan.to_json(), out, indent=1, sort_keys=True)
    return 0
