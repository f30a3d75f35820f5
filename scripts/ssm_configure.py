#!/usr/bin/env python3
"""Carry a day-two change to the members through AWS Systems Manager (the configure step of
components/aws/post_provision.py): scripts/configure_step.py's roll-out, each command sent to one instance as an
AWS-RunShellScript document. Exits non-zero, naming the member, when a member's agent fails.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from configure_step import (
    UP_ACTION,
    Call,
    MemberFailed,
    add_arguments,
    journal_details,
    member_runner,
    members_of,
)
from configure_step import apply as apply_all
from configure_step import leave as leave_with
from ssm_run import run, wait_until_managed

__all__ = ["MemberFailed", "journal_details", "leave", "record", "ssm_runner"]


def ssm_call(ssm) -> Call:
    def call(instance: str, shell: str, timeout: float) -> tuple[bool, str, str]:
        result = run(ssm, [instance], shell, int(timeout))[instance]
        return result["Status"] == "Success", result["Status"], result.get("StandardOutputContent", "")

    return call


def ssm_runner(ssm, members: dict[str, tuple[str, str]]):
    """Runner for roll_out: member name -> (instance id, encoded bundle)."""
    return member_runner(ssm_call(ssm), members)


def leave(ssm, members: dict[str, tuple[str, str]]) -> int:
    return leave_with(ssm_call(ssm), members)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--region", required=True)
    add_arguments(parser, "INSTANCE")
    args = parser.parse_args()
    members = members_of(args)

    import boto3  # imported here so --help works without it

    ssm = boto3.client("ssm", region_name=args.region)
    if args.leave or args.handover:
        return leave_with(ssm_call(ssm), members, "leave" if args.leave else "handover")
    ids = [instance for instance, _ in members.values()]
    wait_until_managed(ssm, ids, time.monotonic() + args.boot_timeout)
    booted = run(ssm, ids, "cloud-init status --wait", args.boot_timeout)
    if any(r["Status"] != "Success" for r in booted.values()):
        print("cloud-init did not finish on every member", file=sys.stderr)
        return 1
    return apply_all(
        ssm_call(ssm),
        members,
        lambda result, seconds, names, changed, error: record(args, boto3, result, seconds, names, changed, error),
    )


def record(args, boto3, result: str, seconds: float, members: list[str], changed: list[str], error: str = "") -> None:
    """The `pulumi up` that ran this step, as one journal entry (who: the deployer's principal). A journal that
    cannot be written is said, never a failed deploy: the change itself is done (or rolled back)."""
    if not (args.journal_bucket and args.scope):
        return
    from dataplane import journal

    try:
        who = boto3.client("sts", region_name=args.region).get_caller_identity()["Arn"]
        entry = journal.entry(UP_ACTION, who, result, seconds, journal_details(members, changed, error))
        journal.S3Journal(boto3.client("s3", region_name=args.region), args.journal_bucket, args.scope).append(entry)
    except Exception as failure:
        print(f"warning: this run is not recorded in the journal: {type(failure).__name__}: {failure}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
