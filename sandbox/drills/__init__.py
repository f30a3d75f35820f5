"""The drills: break the running sandbox the way production breaks, measure against the stage's objectives,
and put the cluster back so the next drill starts from a healthy state.

One drill per module of this package, found by name: each module defines `DRILL`, a Drill whose name (the
CLI's) is the module's name. A new drill is a new file here; what drills share lives in sandbox.harness.
"""

from __future__ import annotations

import importlib
import pkgutil
import time
from functools import cache

from dataplane import journal
from sandbox import journal as sandbox_journal
from sandbox.client import Sandbox
from sandbox.harness.result import Drill, DrillOptions, DrillResult


@cache
def registry() -> dict[str, Drill]:
    """CLI name -> drill, from the modules of this package (imported here, so none imports another)."""
    found: dict[str, Drill] = {}
    for module_info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        drill = getattr(module, "DRILL", None)
        if not isinstance(drill, Drill):
            raise TypeError(f"{module.__file__} defines no DRILL: every module in sandbox/drills is one drill")
        if drill.name != module_info.name:
            raise ValueError(f"{module.__file__} defines the drill {drill.name!r}: name it after its module")
        found[drill.name] = drill
    return found


def names() -> list[str]:
    return sorted(registry())


def run_drill(sandbox: Sandbox, name: str, options: DrillOptions | None = None) -> DrillResult:
    """Run one drill; an exception is a failed drill with its reason, not a crash of the runner."""
    started = time.monotonic()
    try:
        result = registry()[name].run(sandbox, options or DrillOptions())
    except Exception as exc:  # the report must say which drill broke and how
        result = DrillResult(name, False, {"error": type(exc).__name__}, "drill completed", [str(exc)[:2000]])
    # Drills are part of the stack's record: the inventory reports the last restore and failover drill.
    sandbox_journal.record(
        sandbox.layout,
        journal.drill_action(name),
        "ok" if result.passed else "failed",
        time.monotonic() - started,
        {"measurements": result.measurements, "objective": result.objective},
    )
    return result
