"""Settings errors that name the key, the bad value and the fix."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    key: str
    value: object
    message: str
    fix: str

    def __str__(self) -> str:
        return f"{self.key} = {self.value!r}: {self.message}. Fix: {self.fix}."


class UserError(Exception):
    """A mistake the user can fix (a stack file, a flag, a value the provider would refuse). Tools print its
    message, never a traceback, and exit 2; the program fails before any resource is created."""


class SettingsError(UserError, ValueError):
    """Raised before any resource is created; lists every problem found, not just the first."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"invalid pg-platform settings ({len(self.problems)} problem(s)):\n{lines}")

    def keys(self) -> list[str]:
        return [p.key for p in self.problems]
