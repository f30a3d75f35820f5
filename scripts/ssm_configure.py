#!/usr/bin/env python3
"""Carry a day-two change to the members through AWS Systems Manager (the configure step of
components/aws/post_provision.py): each member's bundle applied by the configure agent, one member at a time,
then the rolling restart that dataplane.configure.roll_out plans, exactly as `tools sandbox configure` does
locally. Exits non-zero, naming the member, when a member's agent fails.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from ssm_run import run, wait_until_managed  # noqa: E402

from dataplane import configure  # noqa: E402

# The agent waits at most two Patroni loops per apply (a diff waits for none); a restart waits for PostgreSQL
# and the replica's catch-up.
APPLY_TIMEOUT_SECONDS = 300
# What the journal calls a deploy's configure step (`pgp journal`, the inventory's last actions).
UP_ACTION = "up"
RESTART_TIMEOUT_SECONDS = 900


class MemberFailed(RuntimeError):
    pass


def ssm_runner(ssm, members: dict[str, tuple[str, str]]):
    """Runner for roll_out: member name -> (instance id, encoded bundle)."""

    def run_on(name: str, mode: str) -> dict:
        instance, bundle = members[name]
        timeout = RESTART_TIMEOUT_SECONDS if mode.startswith("restart") else APPLY_TIMEOUT_SECONDS
        result = run(ssm, [instance], configure.shell_command(bundle, mode), timeout)[instance]
        output = result.get("StandardOutputContent", "")
        lines = output.strip().splitlines()
        try:
            report = json.loads(lines[-1])
        except (ValueError, IndexError):
            raise MemberFailed(f"{name} ({instance}): {result['Status']}: {output[-1000:]}") from None
        if result["Status"] != "Success" or "error" in report:
            raise MemberFailed(f"{name} ({instance}): {report.get('error', result['Status'])}")
        return report

    return run_on


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--region", required=True)
    parser.add_argument(
        "--member",
        nargs=3,
        action="append",
        metavar=("NAME", "INSTANCE", "BUNDLE"),
        required=True,
        help="a member, its instance id and its encoded bundle, in roll-out order",
    )
    parser.add_argument(
        "--leave",
        action="store_true",
        help="the one --member leaves the cluster (handover, etcd member remove) before it is deleted",
    )
    parser.add_argument("--boot-timeout", type=int, default=1800, help="seconds to wait for SSM and cloud-init")
    parser.add_argument("--journal-bucket", help="the stack's locked bucket, whose journal records this run")
    parser.add_argument("--scope", help="the cluster's scope (its journal prefix)")
    args = parser.parse_args()
    members = {name: (instance, bundle) for name, instance, bundle in args.member}

    import boto3  # imported here so --help works without it

    ssm = boto3.client("ssm", region_name=args.region)
    if args.leave:
        return leave(ssm, members)
    ids = [instance for instance, _ in members.values()]
    wait_until_managed(ssm, ids, time.monotonic() + args.boot_timeout)
    booted = run(ssm, ids, "cloud-init status --wait", args.boot_timeout)
    if any(r["Status"] != "Success" for r in booted.values()):
        print("cloud-init did not finish on every member", file=sys.stderr)
        return 1
    started = time.monotonic()
    try:
        reports = configure.roll_out(list(members), ssm_runner(ssm, members), print)
    except MemberFailed as failed:
        print(f"configure failed on {failed}", file=sys.stderr)
        record(args, boto3, "failed", time.monotonic() - started, list(members), [], str(failed))
        return 1
    changed = [r["member"] for r in reports if r.get("written") or r.get("dcs_patch")]
    record(args, boto3, "ok", time.monotonic() - started, list(members), changed)
    return 0


def leave(ssm, members: dict[str, tuple[str, str]]) -> int:
    """The member's agent in `leave` mode: a delete that cannot remove the member from etcd fails, since the
    members that stay would count a voter that no longer exists."""
    if len(members) != 1:
        print("--leave takes exactly one --member", file=sys.stderr)
        return 2
    (name,) = members
    try:
        report = ssm_runner(ssm, members)(name, "leave")
    except MemberFailed as failed:
        print(f"{name} could not leave the cluster: {failed}", file=sys.stderr)
        return 1
    print(f"{name}: {', '.join(report.get('actions', []))}")
    return 0


def journal_details(members: list[str], changed: list[str], error: str = "") -> dict:
    return {"members": members, "changed": changed, **({"error": error[-1000:]} if error else {})}


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
