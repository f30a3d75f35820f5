"""Settings errors that name the key, the bad value and the fix."""

from __future__ import annotations

from dataclasses import dataclass

# A value is shown at most this long in a message (a 5,000-digit number or a whole mapping would drown the fix).
MAX_SHOWN = 120


def shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= MAX_SHOWN else f"{text[: MAX_SHOWN - 20]}... ({len(text)} chars)"


@dataclass(frozen=True)
class Problem:
    key: str
    value: object
    message: str
    fix: str

    def __str__(self) -> str:
        return f"{self.key} = {shown(self.value)}: {self.message}. Fix: {self.fix}."


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


class StackFileError(UserError):
    """A stack file that cannot be read as YAML at all (missing, not UTF-8, a syntax error, not a mapping).
    The message names the file, the line and the nearest config key."""


class UnknownStackError(UserError):
    """A stack name or path that names no stack file; the message lists the stacks found."""
