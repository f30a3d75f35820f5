"""pgbench through each way an application can reach the running sandbox: straight to the leader, through
the router's write port (HAProxy), through the pooled port (HAProxy + PgBouncer), and read-only through the
read port. What the routing and pooling layers cost is what this prints; the numbers are noisy on a
2-core machine, so compare routes within one run, not across runs.

    python bench/pgbench_routes.py [--profile prod] [--seconds 10] [--clients 4] [--scale 10]
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dataplane.model import APP_DATABASE, APP_OWNER_ROLE, APP_READONLY_USER, APP_READWRITE_USER, APP_SCHEMA
from sandbox.client import Sandbox
from sandbox.layout import DEFAULT_ROOT, LOOPBACK, build_layout
from sandbox.processes import run_as_service_user

# pgbench reports connect-per-transaction runs "including reconnection times".
TPS = re.compile(r"tps = ([0-9.]+) \((?:without initial connection time|including reconnection times)\)")


def pgbench(
    sandbox: Sandbox, args: list[str], user: str | None = None, port: int | None = None, timeout: float = 600
) -> str:
    leader = sandbox.leader_member()
    paths = sandbox.layout.member_paths(leader.name)
    binary = f"{paths.postgres_bin_dir}/pgbench"
    if user is None:
        # Initialisation as the schema owner over the socket, so default privileges cover the tables.
        env = {"PGOPTIONS": f"-c role={APP_OWNER_ROLE} -c search_path={APP_SCHEMA}"}
        argv = [binary, "-h", paths.run_dir, "-p", str(leader.ports.postgres), *args, APP_DATABASE]
    else:
        env = {
            "PGPASSWORD": sandbox.password(
                {APP_READWRITE_USER: "app-readwrite", APP_READONLY_USER: "app-readonly"}[user]
            ),
            "PGSSLMODE": "verify-full",
            "PGSSLROOTCERT": sandbox.ca_file,
        }
        argv = [binary, "-h", LOOPBACK, "-p", str(port), "-U", user, *args, APP_DATABASE]
    return run_as_service_user(argv, env=env, timeout=timeout).stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="prod")
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    parser.add_argument("--seconds", type=int, default=10, choices=range(1, 121), metavar="1-120")
    parser.add_argument("--clients", type=int, default=4, choices=range(1, 65), metavar="1-64")
    parser.add_argument("--scale", type=int, default=10, choices=range(1, 101), metavar="1-100")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("run as root (pgbench runs as the postgres user against the sandbox)")
        return 2
    sandbox = Sandbox(build_layout(args.profile, root=args.root))
    sandbox.wait_healthy(30)
    pgbench(sandbox, ["-i", "-q", "-s", str(args.scale)])
    leader = sandbox.leader_member()
    router = sandbox.layout.spec.router
    common = ["-n", "-T", str(args.seconds), "-c", str(args.clients), "-j", str(min(args.clients, 2))]
    routes = [
        ("tpcb-like", "direct to the leader", APP_READWRITE_USER, leader.ports.postgres, []),
        ("tpcb-like", "router write (HAProxy)", APP_READWRITE_USER, router.write_port, []),
        ("tpcb-like", "router pooled (HAProxy + PgBouncer)", APP_READWRITE_USER, router.pooled_port, []),
        ("select-only", "direct to the leader", APP_READONLY_USER, leader.ports.postgres, ["-S"]),
        ("select-only", "router read (HAProxy, replicas)", APP_READONLY_USER, router.read_port, ["-S"]),
        ("connect per txn", "router write (HAProxy)", APP_READONLY_USER, router.write_port, ["-S", "-C"]),
        ("connect per txn", "router pooled (HAProxy + PgBouncer)", APP_READONLY_USER, router.pooled_port, ["-S", "-C"]),
    ]
    print(f"pgbench scale {args.scale}, {args.clients} clients, {args.seconds} s per route, TLS verify-full")
    for workload, route, user, port, extra in routes:
        out = pgbench(sandbox, common + extra, user=user, port=port)
        match = TPS.search(out)
        print(f"  {workload:<16} {route:<38} {float(match.group(1)) if match else float('nan'):>9.0f} tps")
    return 0


if __name__ == "__main__":
    sys.exit(main())
