"""Probes that must be refused: only the expected kind of refusal counts."""

from __future__ import annotations

from collections.abc import Callable

import psycopg


def refused(
    attempt: Callable[[], object], refusal: type[BaseException] | tuple = (psycopg.Error, OSError)
) -> tuple[bool, str]:
    """(refused?, what the server or client said). Only `refusal` counts: a typo in the drill's own SQL
    must not pass as a privilege being denied."""
    try:
        attempt()
    except refusal as exc:
        return True, (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
    return False, "accepted"
