#!/usr/bin/env python3
"""Run a command on private nodes through AWS Systems Manager and wait for it (used by pulumi-command).

Waits until every node is registered with SSM and has finished cloud-init. With --on-leader the command runs
only where Patroni's REST API answers the leader check; exactly one node must run it, or the step retries
until its deadline and then fails, so a role change mid-deploy applies it neither twice nor nowhere.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time

NOT_LEADER = "pg-platform: not the leader, skipped"
POLL_SECONDS = 5


def run(ssm, ids: list[str], cmd: str, timeout: int) -> dict[str, dict]:
    sent = ssm.send_command(
        InstanceIds=ids,
        DocumentName="AWS-RunShellScript",
        Parameters={"commands": [cmd], "executionTimeout": [str(timeout)]},
    )
    command_id = sent["Command"]["CommandId"]
    deadline = time.monotonic() + timeout + 120
    results: dict[str, dict] = {}
    while len(results) < len(ids):
        if time.monotonic() > deadline:
            raise TimeoutError(f"no result from {sorted(set(ids) - set(results))}")
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
    return results


def wait_until_managed(ssm, ids: list[str], deadline: float) -> None:
    """SSM knows an instance only once its agent (installed by cloud-init) has registered."""
    while True:
        pages = ssm.get_paginator("describe_instance_information").paginate(
            Filters=[{"Key": "InstanceIds", "Values": ids}]
        )
        online = {
            i["InstanceId"]
            for page in pages
            for i in page["InstanceInformationList"]
            if i.get("PingStatus") == "Online"
        }
        if online >= set(ids):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"not registered with SSM: {sorted(set(ids) - online)}")
        time.sleep(POLL_SECONDS * 3)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--region", required=True)
    parser.add_argument("--instances", required=True, help="comma-separated instance ids")
    parser.add_argument("--leader-check", help="shell test true only on the leader (with --on-leader)")
    parser.add_argument("--on-leader", action="store_true")
    parser.add_argument("--timeout", type=int, default=900, help="seconds the command itself may take")
    parser.add_argument("--boot-timeout", type=int, default=1800, help="seconds to wait for SSM and cloud-init")
    parser.add_argument("cmd", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    words = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    cmd = shlex.join(words)
    if args.on_leader:
        if not args.leader_check:
            parser.error("--on-leader needs --leader-check")
        cmd = f"if {args.leader_check}; then {cmd}; else echo {shlex.quote(NOT_LEADER)}; fi"

    import boto3  # imported here so --help works without it

    ssm = boto3.client("ssm", region_name=args.region)
    ids = args.instances.split(",")
    deadline = time.monotonic() + args.boot_timeout
    wait_until_managed(ssm, ids, deadline)
    # cloud-init's boot script starts the cluster; until it is done there is nothing to act on.
    booted = run(ssm, ids, "cloud-init status --wait", args.boot_timeout)
    if any(r["Status"] != "Success" for r in booted.values()):
        for instance, r in booted.items():
            print(f"== {instance}: cloud-init {r['Status']}\n{r.get('StandardOutputContent', '')}", file=sys.stderr)
        return 1
    while True:
        results = run(ssm, ids, cmd, args.timeout)
        failed = [i for i, r in results.items() if r["Status"] != "Success"]
        ran = [i for i, r in results.items() if NOT_LEADER not in r.get("StandardOutputContent", "")]
        for instance, r in results.items():
            print(
                f"== {instance}: {r['Status']}\n{r.get('StandardOutputContent', '')}{r.get('StandardErrorContent', '')}"
            )
        if failed:
            return 1
        if not args.on_leader or len(ran) == 1:
            return 0
        # No leader yet (election after boot) or two answers during a switchover: ask again.
        if time.monotonic() > deadline:
            print(f"expected exactly one leader to run the command, got {len(ran)}", file=sys.stderr)
            return 1
        time.sleep(POLL_SECONDS * 2)


if __name__ == "__main__":
    sys.exit(main())
