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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from sandbox import drills

    parser.add_argument("name", choices=[*drills.names(), "all"])
    parser.add_argument("--runs", type=int, default=1, help="repeat the drill N times (1-20)")
    parser.add_argument(
        "--repo",
        type=int,
        choices=(1, 2),
        default=1,
        help="restore: the pgBackRest repository to restore from (1 posix, 2 the S3 emulator)",
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
    names = drills.names() if args.name == "all" else [args.name]
    options = DrillOptions(repo=args.repo)
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
