"""`python -m tools sandbox up|status|configure|down`: the local stage on loopback, built from the rendered
files. `configure` carries what the stack file renders now to the running members, through the configure
command a cloud member runs on `pulumi up` (dataplane/configure.py)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from sandbox.layout import DEFAULT_ROOT, PROFILES


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("up", "status", "configure", "down"))
    parser.add_argument(
        "--profile",
        choices=PROFILES,
        default="prod",
        help="which stack file's topology to run (prod: 3 nodes, sync; dev: 1 node)",
    )
    parser.add_argument(
        "--root",
        type=Path,
        default=DEFAULT_ROOT,
        help=f"sandbox directory (default {DEFAULT_ROOT}, or $PG_PLATFORM_SANDBOX_ROOT)",
    )
    parser.add_argument("--purge", action="store_true", help="with down: also delete data, backups and secrets")
    parser.add_argument("--json", action="store_true", help="with configure: one JSON report per member")
    parser.add_argument(
        "--diff",
        action="store_true",
        help="with configure: only show what would change on each member (exit 1 when anything would)",
    )
    parser.add_argument(
        "--repos",
        help="with up: the pgBackRest repositories, numbered in this order: posix,s3[,azure][,gcs] "
        "(default: as the last up chose, else posix,s3); azure runs Azurite, gcs fake-gcs-server",
    )


def main(args: argparse.Namespace) -> int:
    from sandbox import cluster
    from sandbox.layout import build_layout, parse_repository_kinds
    from sandbox.status import status
    from sandbox.supervisor import ServiceError

    if os.geteuid() != 0:
        print("the sandbox starts services as the postgres user and needs root")
        return 2
    if args.repos and args.action != "up":
        print("--repos applies to up only: status and down use the repositories up chose")
        return 2
    try:
        kinds = parse_repository_kinds(args.repos) if args.repos else None
    except ValueError as error:
        print(error)
        return 2
    layout = build_layout(args.profile, root=args.root, repositories=kinds)
    if args.action == "up":
        try:
            cluster.up(layout)
        except ServiceError as error:
            print(f"sandbox up failed: {error}")
            return 1
        report, healthy = status(layout)
        print(report)
        return 0 if healthy else 1
    if args.action == "configure":
        return _configure(layout, args.json, args.diff)
    if args.action == "status":
        report, healthy = status(layout)
        print(report)
        return 0 if healthy else 1
    leftovers = cluster.down(layout, purge=args.purge)
    if leftovers:
        print("still running after down:\n  " + "\n  ".join(leftovers))
        return 1
    print(f"sandbox {args.profile} is down" + (" and purged" if args.purge else ""))
    return 0


def _configure(layout, as_json: bool, only_diff: bool) -> int:
    import dataclasses
    import json

    from sandbox.configure import ConfigureError, apply, diff
    from sandbox.status import status
    from tools.console import anything_differs, diff_text

    _, healthy = status(layout)
    if not healthy:
        start = f"python -m tools sandbox up --profile {layout.profile}"
        print(f"sandbox {layout.profile} is not running healthy: start it with `{start}`")
        return 1
    try:
        if only_diff:
            found = diff(layout.spec)
            if as_json:
                print(json.dumps(found, indent=1))
            else:
                print("\n".join(diff_text(d) for d in found))
            return 1 if anything_differs(found) else 0
        reports = apply(layout.spec, say=(lambda _: None) if as_json else print)
    except ConfigureError as error:
        print(f"configure failed: {error}")
        return 1
    if as_json:
        print(json.dumps([dataclasses.asdict(r) for r in reports], indent=1))
    return 0
