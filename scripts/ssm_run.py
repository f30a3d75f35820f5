#!/usr/bin/env python3
"""Run a command on private nodes through AWS Systems Manager and wait for it (used by pulumi-command).

With --on-leader the command runs only where Patroni's REST API answers /primary; exactly one node must
run it, or the step fails, so a role change mid-deploy cannot apply it twice or nowhere.
"""
from __future__ import annotations

import argparse
import shlex
import sys
import time

PATRONI_PRIMARY_CHECK = "curl -sfk -o /dev/null https://127.0.0.1:8008/primary"
NOT_LEADER = "pg-platform: not the leader, skipped"
POLL_SECONDS = 5


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--region", required=True)
    parser.add_argument("--instances", required=True, help="comma-separated instance ids")
    parser.add_argument("--on-leader", action="store_true")
    parser.add_argument("--timeout", type=int, default=900)
    parser.add_argument("cmd", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    cmd = " ".join(shlex.quote(c) for c in args.cmd[1:] if c) if args.cmd[:1] == ["--"] else " ".join(args.cmd)
    if args.on_leader:
        cmd = f"if {PATRONI_PRIMARY_CHECK}; then {cmd}; else echo {shlex.quote(NOT_LEADER)}; fi"

    import boto3  # imported here so --help works without it

    ssm = boto3.client("ssm", region_name=args.region)
    ids = args.instances.split(",")
    sent = ssm.send_command(InstanceIds=ids, DocumentName="AWS-RunShellScript",
                            Parameters={"commands": [cmd], "executionTimeout": [str(args.timeout)]},
                            TimeoutSeconds=min(args.timeout, 2592000))
    command_id = sent["Command"]["CommandId"]
    deadline = time.monotonic() + args.timeout + 60
    results: dict[str, dict] = {}
    while len(results) < len(ids):
        if time.monotonic() > deadline:
            print(f"timed out waiting for {sorted(set(ids) - set(results))}", file=sys.stderr)
            return 1
        time.sleep(POLL_SECONDS)
        for instance in ids:
            if instance in results:
                continue
            try:
                inv = ssm.get_command_invocation(CommandId=command_id, InstanceId=instance)
            except ssm.exceptions.InvocationDoesNotExist:
                continue
            if inv["Status"] not in ("Pending", "InProgress", "Delayed"):
                results[instance] = inv
    failed = [i for i, r in results.items() if r["Status"] != "Success"]
    ran = [i for i, r in results.items() if NOT_LEADER not in r.get("StandardOutputContent", "")]
    for instance, r in results.items():
        print(f"== {instance}: {r['Status']}\n{r.get('StandardOutputContent', '')}{r.get('StandardErrorContent', '')}")
    if failed:
        return 1
    if args.on_leader and len(ran) != 1:
        print(f"expected exactly one leader to run the command, got {len(ran)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
