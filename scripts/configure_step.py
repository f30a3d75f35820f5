"""The configure step every VM cloud runs in `pulumi up`, whatever carries its commands to the members (Systems
Manager on AWS, SSH through Identity-Aware Proxy on GCP): each member's bundle applied by the configure agent,
one member at a time, then the rolling restart dataplane.configure.roll_out plans, exactly as `tools sandbox
configure` does locally; and a leaving member's `leave` before its instance goes. A cloud's script supplies how
to reach a member (a Call) and how to record the run.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from dataplane import configure  # noqa: E402

# The agent waits at most two Patroni loops per apply (a diff waits for none); a restart waits for PostgreSQL
# and the replica's catch-up.
APPLY_TIMEOUT_SECONDS = 300
RESTART_TIMEOUT_SECONDS = 900
# What the journal calls a deploy's configure step (`pgp journal`, the inventory's last actions).
UP_ACTION = "up"

# Runs one shell command as root on the member at an address, within a timeout: (succeeded, status, output).
Call = Callable[[str, str, float], tuple[bool, str, str]]
# The run as one journal entry: result, seconds, members, changed members, error.
Record = Callable[[str, float, list[str], list[str], str], None]


class MemberFailed(RuntimeError):
    pass


def member_runner(call: Call, members: dict[str, tuple[str, str]]) -> configure.Runner:
    """Runner for roll_out: member name -> (address, encoded bundle); the agent's last line is its report."""

    def run_on(name: str, mode: str) -> dict[str, Any]:
        address, bundle = members[name]
        timeout = RESTART_TIMEOUT_SECONDS if mode.startswith("restart") else APPLY_TIMEOUT_SECONDS
        succeeded, status, output = call(address, configure.shell_command(bundle, mode), timeout)
        lines = output.strip().splitlines()
        try:
            report = json.loads(lines[-1])
        except (ValueError, IndexError):
            raise MemberFailed(f"{name} ({address}): {status}: {output[-1000:]}") from None
        if not succeeded or "error" in report:
            raise MemberFailed(f"{name} ({address}): {report.get('error', status)}")
        return report

    return run_on


def add_arguments(parser: argparse.ArgumentParser, address: str, journal: bool = True) -> None:
    parser.add_argument(
        "--member",
        nargs=3,
        action="append",
        metavar=("NAME", address, "BUNDLE"),
        required=True,
        help="a member, where it is reached and its encoded bundle, in roll-out order",
    )
    goes = parser.add_mutually_exclusive_group()
    goes.add_argument(
        "--leave",
        action="store_true",
        help="the one --member leaves the cluster (handover, etcd member remove) before it is deleted",
    )
    goes.add_argument(
        "--handover",
        action="store_true",
        help="the one --member, if it leads, switches over to a standby before its instance is replaced",
    )
    parser.add_argument("--boot-timeout", type=int, default=1800, help="seconds to wait for the members to boot")
    if not journal:
        return
    parser.add_argument("--journal-bucket", help="the stack's locked bucket, whose journal records this run")
    parser.add_argument("--scope", help="the cluster's scope (its journal prefix)")


def members_of(args: argparse.Namespace) -> dict[str, tuple[str, str]]:
    return {name: (address, bundle) for name, address, bundle in args.member}


def leave(call: Call, members: dict[str, tuple[str, str]], mode: str = "leave") -> int:
    """The member's agent in `leave` mode: a delete that cannot remove the member from etcd fails, since the
    members that stay would count a voter that no longer exists. In `handover` mode, a leader that cannot hand
    over fails the delete, so its instance is not replaced while it still leads."""
    if len(members) != 1:
        print(f"--{mode} takes exactly one --member", file=sys.stderr)
        return 2
    (name,) = members
    try:
        report = member_runner(call, members)(name, mode)
    except MemberFailed as failed:
        what = "leave the cluster" if mode == "leave" else "hand over"
        print(f"{name} could not {what}: {failed}", file=sys.stderr)
        return 1
    print(f"{name}: {', '.join(report.get('actions', [])) or 'nothing to hand over'}")
    return 0


def apply(call: Call, members: dict[str, tuple[str, str]], record: Record) -> int:
    """The roll-out over booted members, recorded as one journal entry either way."""
    started = time.monotonic()
    try:
        reports = configure.roll_out(list(members), member_runner(call, members), print)
    except MemberFailed as failed:
        print(f"configure failed on {failed}", file=sys.stderr)
        record("failed", time.monotonic() - started, list(members), [], str(failed))
        return 1
    changed = [r["member"] for r in reports if r.get("written") or r.get("dcs_patch")]
    record("ok", time.monotonic() - started, list(members), changed, "")
    return 0


def journal_details(members: list[str], changed: list[str], error: str = "") -> dict[str, Any]:
    return {"members": members, "changed": changed, **({"error": error[-1000:]} if error else {})}
