"""`python -m tools drill <name> [--runs N]`: measure the running sandbox against the stage objectives.

Exits non-zero when any run misses its objective. Destructive drills put the cluster back to healthy
before they return, so drills can run back to back.
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from sandbox.layout import DEFAULT_ROOT, PROFILES

if TYPE_CHECKING:
    from sandbox.harness.result import DrillResult
    from sandbox.layout import SandboxLayout


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from sandbox import drills

    parser.add_argument("name", choices=[*drills.names(), "all"])
    parser.add_argument("--runs", type=int, default=1, help="repeat the drill N times (1-20)")
    parser.add_argument(
        "--repo",
        default="1",
        help="restore: the pgBackRest repository to back up into and restore from, by number or kind "
        "(1 or posix, 2 or s3; azure and gcs when `sandbox up --repos` brought them up)",
    )
    parser.add_argument("--profile", choices=PROFILES, default="prod")
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT)


def spread(name: str, key: str, results: Sequence[DrillResult]) -> str | None:
    """min/median/max of one timed measurement over several runs; None when no run measured it."""
    values = [v for v in (r.measurements.get(key) for r in results) if isinstance(v, float)]
    if not values:
        return None
    return (
        f"{name} {key}: min {min(values):.2f}  median {statistics.median(values):.2f}  "
        f"max {max(values):.2f}  over {len(values)} run(s); "
        f"{sum(r.passed for r in results)}/{len(results)} passed"
    )


def repository_number(layout: SandboxLayout, repo: str) -> int:
    """`--repo` as pgBackRest's repository number: a number this sandbox has, or a kind it runs."""
    if repo.isdigit():
        count = len(layout.spec.repositories)
        if not 1 <= int(repo) <= count:
            raise ValueError(
                f"--repo {repo}: this sandbox has repositories 1-{count} ({', '.join(layout.repository_kinds)})"
            )
        return int(repo)
    return layout.repository_index(repo)


def main(args: argparse.Namespace) -> int:
    from sandbox import drills
    from sandbox.client import Sandbox
    from sandbox.harness.result import DrillOptions
    from sandbox.layout import build_layout

    if not 1 <= args.runs <= 20:
        print("--runs must be between 1 and 20")
        return 2
    sandbox = Sandbox(build_layout(args.profile, root=args.root))
    if not sandbox.secrets:
        print(f"no sandbox at {sandbox.layout.root}: run `python -m tools sandbox up --profile {args.profile}` first")
        return 2
    try:
        repo = repository_number(sandbox.layout, args.repo)
    except ValueError as error:
        print(error)
        return 2
    names = drills.names() if args.name == "all" else [args.name]
    options = DrillOptions(repo=repo)
    failed = 0
    for name in names:
        results = []
        for run in range(1, args.runs + 1):
            result = drills.run_drill(sandbox, name, options)
            results.append(result)
            prefix = f"[{run}/{args.runs}] " if args.runs > 1 else ""
            print(prefix + result.summary(), flush=True)
            failed += 0 if result.passed else 1
        if args.runs > 1:
            for key in drills.registry()[name].timed:
                line = spread(name, key, results)
                if line:
                    print(line)
    return 1 if failed else 0
