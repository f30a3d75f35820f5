"""The sandbox's journal (dataplane/journal.py) in its S3 emulator's locked bucket, as a stack's is in its own:
`up`, the drills and the console's actions write to it."""

from __future__ import annotations

import getpass
import os
import socket
import sys
from collections.abc import Mapping
from typing import Any

from dataplane import journal
from sandbox.layout import SandboxLayout


def local_operator() -> str:
    """Who acts on this machine: the user behind sudo, not root."""
    return f"{os.environ.get('SUDO_USER') or getpass.getuser()}@{socket.gethostname()}"


def store(layout: SandboxLayout) -> journal.S3Journal:
    from sandbox.services import s3

    return journal.S3Journal(s3.client(layout), layout.s3_repository.bucket, layout.spec.scope)


def record(
    layout: SandboxLayout,
    action: str,
    result: str,
    seconds: float | None = None,
    details: Mapping[str, Any] | None = None,
) -> None:
    """An entry, or a warning on stderr when the bucket cannot take it: what was done stays done."""
    try:
        store(layout).append(journal.entry(action, local_operator(), result, seconds, details))
    except Exception as error:  # an unreachable journal must not turn a finished action into a failure
        print(f"warning: not recorded in the journal: {type(error).__name__}: {error}", file=sys.stderr)
