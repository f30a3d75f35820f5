#!/usr/bin/env python3
"""Carry a day-two change to the members over SSH through Identity-Aware Proxy (the configure step of
components/gcp/post_provision.py): scripts/configure_step.py's roll-out, each command run as root on one instance
by `gcloud compute ssh --tunnel-through-iap` (OS Login), as the post-provision steps reach the private nodes.
The command travels on the session's standard input, so no argument limit of the remote shell applies. Exits
non-zero, naming the member, when a member's agent fails.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from configure_step import Call, add_arguments, members_of
from configure_step import apply as apply_all
from configure_step import leave as leave_with

# Between SSH attempts while a node boots (its guest agent must publish the OS Login keys first).
POLL_SECONDS = 10
# gcloud's own exit status when the SSH connection itself failed (the remote command's status otherwise).
SSH_FAILED = 255


def address(instance: str, zone: str) -> str:
    """How a member is named on the command line: INSTANCE:ZONE."""
    return f"{instance}:{zone}"


def ssh_argv(project: str, member_address: str) -> list[str]:
    instance, _, zone = member_address.partition(":")
    if not (instance and zone):
        raise ValueError(f"member address {member_address!r}: use INSTANCE:ZONE")
    return [
        "gcloud",
        "compute",
        "ssh",
        instance,
        "--zone",
        zone,
        "--project",
        project,
        "--tunnel-through-iap",
        "--quiet",
        "--command",
        "sudo bash -s",
    ]


def iap_call(project: str, gcloud: str = "gcloud") -> Call:
    def call(member_address: str, shell: str, timeout: float) -> tuple[bool, str, str]:
        argv = [gcloud, *ssh_argv(project, member_address)[1:]]
        try:
            done = subprocess.run(argv, input=shell + "\n", capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return False, f"no answer within {timeout:.0f} s", ""
        except FileNotFoundError:
            return False, f"{gcloud} is not installed: install the Google Cloud CLI (gcloud) where `pulumi up` runs", ""
        status = "exit 0" if done.returncode == 0 else f"exit {done.returncode}: {done.stderr.strip()[-500:]}"
        return done.returncode == 0, status, done.stdout

    return call


def wait_booted(call: Call, addresses: list[str], timeout: float, poll_seconds: float = POLL_SECONDS) -> str | None:
    """Until every member answers over SSH and its cloud-init has finished; what stopped it otherwise."""
    deadline = time.monotonic() + timeout
    for member_address in addresses:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return f"{member_address} did not finish booting within {timeout:.0f} s"
            succeeded, status, _ = call(member_address, "cloud-init status --wait >/dev/null", left)
            if succeeded:
                break
            if not status.startswith(f"exit {SSH_FAILED}") and "no answer" not in status:
                return f"cloud-init did not finish on {member_address}: {status}"
            time.sleep(poll_seconds)
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--project", required=True)
    add_arguments(parser, "INSTANCE:ZONE", journal=False)
    args = parser.parse_args()
    members = members_of(args)
    call = iap_call(args.project)
    if args.leave or args.handover:
        return leave_with(call, members, "leave" if args.leave else "handover")
    stopped = wait_booted(call, [a for a, _ in members.values()], args.boot_timeout)
    if stopped:
        print(stopped, file=sys.stderr)
        return 1
    # No journal yet on GCP: the stack journal is written to S3 (dataplane.journal); the roll-out says its steps.
    return apply_all(call, members, lambda *_: None)


if __name__ == "__main__":
    sys.exit(main())
