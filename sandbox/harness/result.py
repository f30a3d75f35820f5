"""A drill's definition and its result, whose `passed` is computed from measurements, never assumed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sandbox.client import Sandbox
from stacks.settings import Objectives

# How long a drill waits for the cluster to be healthy before it starts, and for a member to rejoin.
RECOVER_SECONDS = 90


@dataclass
class DrillResult:
    name: str
    passed: bool
    measurements: dict[str, object]
    objective: str
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        shown = ", ".join(f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}" for k, v in self.measurements.items())
        lines = [f"{self.name}: {'PASS' if self.passed else 'FAIL'} -- {shown}", f"  objective: {self.objective}"]
        lines += [f"  {n}" for n in self.notes]
        return "\n".join(lines)


@dataclass(frozen=True)
class DrillOptions:
    """What the operator may choose for a run; a drill reads only what concerns it."""

    repo: int = 1  # the pgBackRest repository the restore drill reads (1-based, as pgBackRest numbers them)


@dataclass(frozen=True)
class Drill:
    name: str  # the CLI name, equal to its module's name in sandbox.drills
    run: Callable[[Sandbox, DrillOptions], DrillResult]
    # Measurements (seconds) worth a min/median/max when the drill runs several times.
    timed: tuple[str, ...] = ()


def objectives(sandbox: Sandbox) -> Objectives:
    return sandbox.layout.settings.objectives
