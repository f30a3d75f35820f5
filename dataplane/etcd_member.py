"""How a member's etcd node starts, joins and leaves its cluster: the script its unit runs (`start`) and the
configure agent's etcd steps call (`leave`), sent to the node as a rendered file.

An etcd node with data in its data directory is a member already: it starts from the rendered configuration
and ignores every `initial-cluster*` setting. One without data must not simply start with
`initial-cluster-state: new` once its cluster exists, or it bootstraps a second, empty cluster under the same
name (a replaced member whose data volume is new, a member added when HA is switched on). So before etcd
starts on an empty directory this asks the other members for their membership:
- nobody answers within a few seconds: the cluster's first bootstrap (or a cluster of one); start from the
  rendered configuration (`new`);
- the membership lists this node unstarted: a bootstrap its peers began; join it;
- the membership lists this node as started: its data was lost, so it is removed and added again;
- the membership does not list it: `etcdctl member add` (retried while the cluster settles: strict
  reconfiguration refuses an add that would leave too few started members for a quorum);
- then start with `initial-cluster-state: existing` and the membership the cluster reported.

Data left in a former data directory (etcd's data lived on the root volume before it moved to the data
volume) is moved into the data directory first, so a member keeps its identity across the move.

Standard library only: it runs as the service user with the node's python3, on a cloud node and in the
sandbox alike. Usage: `etcd_member start|leave <settings JSON>`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from typing import Any

ETCDCTL_TIMEOUT_SECONDS = 10
# How long the first members of a bootstrap wait for a peer before deciding the cluster does not exist yet;
# peers booting together answer within it, and a node that finds none bootstraps with `new`.
DISCOVERY_SECONDS = 6
# Strict reconfiguration refuses an add or a remove until the remaining members have been connected for a few
# seconds and would keep a quorum of started members: both retry while the cluster settles.
RECONFIG_RETRY_SECONDS = 120
STATE_LINE = "initial-cluster-state:"
CLUSTER_LINE = "initial-cluster:"


class MembershipError(RuntimeError):
    pass


def has_data(data_dir: str) -> bool:
    return os.path.isdir(os.path.join(data_dir, "member"))


def etcdctl(settings: dict[str, Any], endpoints: list[str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            settings["etcdctl"],
            f"--endpoints={','.join(endpoints)}",
            f"--cacert={settings['ca']}",
            f"--cert={settings['cert']}",
            f"--key={settings['key']}",
            "--dial-timeout=2s",
            f"--command-timeout={ETCDCTL_TIMEOUT_SECONDS - 2}s",
            "-w",
            "json",
            *args,
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "ETCDCTL_API": "3"},
        timeout=ETCDCTL_TIMEOUT_SECONDS,
        check=False,
    )


def other_endpoints(settings: dict[str, Any]) -> list[str]:
    return [p["client"] for name, p in sorted(settings["peers"].items()) if name != settings["name"]]


def serializable(settings: dict[str, Any]) -> list[str]:
    """etcdctl's flag for a serializable member list where it has one: 3.4 always answers from the member's
    own view; 3.5 reads linearizably unless told otherwise."""
    usage = subprocess.run(
        [settings["etcdctl"], "member", "list", "--help"], capture_output=True, text=True, timeout=10, check=False
    )
    return ["--consistency=s"] if "--consistency" in usage.stdout + usage.stderr else []


def membership(settings: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The cluster's members as another member reports them, or None when none answers. A serializable read:
    a member that bootstrapped with its peers and waits for them to form the quorum still answers (listing them
    unstarted), so a late peer joins that bootstrap instead of starting a second one."""
    endpoints = other_endpoints(settings)
    if not endpoints:
        return None
    done = etcdctl(settings, endpoints, "member", "list", *serializable(settings))
    if done.returncode != 0:
        return None
    return list(json.loads(done.stdout).get("members", []))


def hex_id(member: dict[str, Any]) -> str:
    return format(int(member["ID"]), "x")


def mine(settings: dict[str, Any], members: list[dict[str, Any]]) -> dict[str, Any] | None:
    peer = settings["peers"][settings["name"]]["peer"]
    return next((m for m in members if peer in m.get("peerURLs", [])), None)


def initial_cluster(settings: dict[str, Any], members: list[dict[str, Any]]) -> str:
    """`name=peer-url,...` for etcd's initial-cluster: an unstarted member has no name yet, so it is named
    from the settings by its peer URL."""
    by_url = {p["peer"]: name for name, p in settings["peers"].items()}
    entries = []
    for m in members:
        for url in m.get("peerURLs", []):
            name = m.get("name") or by_url.get(url)
            if not name:
                raise MembershipError(f"the cluster lists {url}, which is no member of this cluster's settings")
            entries.append(f"{name}={url}")
    return ",".join(sorted(entries))


def reconfigure(settings: dict[str, Any], *args: str, done_if: str = "") -> dict[str, Any]:
    """`etcdctl member <args>` through the other members, retried while strict reconfiguration refuses it;
    etcdctl's answer (an error containing `done_if` counts as done: the change was made before)."""
    deadline = time.monotonic() + RECONFIG_RETRY_SECONDS
    while True:
        done = etcdctl(settings, other_endpoints(settings), "member", *args)
        if done.returncode == 0:
            return dict(json.loads(done.stdout))
        if done_if and done_if in done.stderr:
            return {}
        if time.monotonic() > deadline:
            last = done.stderr.strip().splitlines()[-1:] or ["no answer"]
            raise MembershipError(f"etcdctl member {' '.join(args)}: {last[0]}")
        time.sleep(2)


def remove(settings: dict[str, Any], member: dict[str, Any]) -> None:
    reconfigure(settings, "remove", hex_id(member), done_if="member not found")


def add(settings: dict[str, Any]) -> list[dict[str, Any]]:
    """Add this node; the membership after the add, its own entry included."""
    peer = settings["peers"][settings["name"]]["peer"]
    return list(reconfigure(settings, "add", settings["name"], f"--peer-urls={peer}").get("members", []))


def move_former_data(settings: dict[str, Any]) -> str | None:
    """Data from a former data directory moved into the data directory (copied, then renamed into place so a
    crash midway leaves no half directory; the former one is kept, renamed, until an operator removes it)."""
    target = settings["data_dir"]
    for former in settings.get("former_data_dirs", []):
        if former == target or not has_data(former):
            continue
        staging = target.rstrip("/") + ".moving"
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(former, staging, symlinks=True)
        os.makedirs(os.path.dirname(target.rstrip("/")) or "/", exist_ok=True)
        if os.path.isdir(target):
            os.rmdir(target)  # empty: has_data(target) was false, and boot creates it empty
        os.rename(staging, target)
        os.chmod(target, 0o700)
        os.rename(former, former.rstrip("/") + f".moved-{int(time.time())}")
        return former
    return None


def effective_config(rendered: str, cluster: str) -> str:
    """The rendered configuration with `existing` and the cluster's membership in place of the bootstrap's."""
    replaced = {STATE_LINE: f"{STATE_LINE} existing", CLUSTER_LINE: f"{CLUSTER_LINE} {cluster}"}
    lines, seen = [], set()
    for line in rendered.splitlines():
        key = next((k for k in replaced if line.startswith(k)), None)
        if key:
            seen.add(key)
            line = replaced[key]
        lines.append(line)
    if seen != {STATE_LINE, CLUSTER_LINE}:
        raise MembershipError(f"the rendered etcd configuration lacks {sorted({STATE_LINE, CLUSTER_LINE} - seen)}")
    return "\n".join(lines) + "\n"


def prepare(settings: dict[str, Any], say=print) -> str:
    """The configuration file etcd must start from, after any move, removal or add this start needs."""
    data_dir = settings["data_dir"]
    moved = move_former_data(settings) if not has_data(data_dir) else None
    if moved:
        say(f"moved etcd data from {moved} to {data_dir}")
    if has_data(data_dir) or not other_endpoints(settings):
        return settings["config"]
    deadline = time.monotonic() + DISCOVERY_SECONDS
    members = membership(settings)
    while members is None and time.monotonic() < deadline:
        time.sleep(1)
        members = membership(settings)
    if members is None:
        say("no member answers: bootstrapping with the rendered configuration")
        return settings["config"]
    me = mine(settings, members)
    if me is not None and me.get("name"):
        say(f"the cluster knows {settings['name']} as started but its data is gone: removing it to add it again")
        remove(settings, me)
        me = None
    if me is None:
        members = add(settings)
        say(f"added {settings['name']} to the running cluster")
    with open(settings["config"], encoding="utf-8") as f:
        config = effective_config(f.read(), initial_cluster(settings, members))
    path = settings["effective_config"]
    fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(config)
    os.replace(path + ".tmp", path)
    return path


def start(settings: dict[str, Any]) -> None:
    config = prepare(settings, say=lambda line: print(f"pgp-etcd: {line}", file=sys.stderr, flush=True))
    # exec: the service's PID (systemd's, the sandbox supervisor's) is etcd's own.
    os.execv(settings["etcd"], [settings["etcd"], "--config-file", config])


def leave(settings: dict[str, Any]) -> dict[str, Any]:
    """Remove this node from the cluster's membership (before its member is removed for good), through the
    other members; its etcd stops by itself once removed. Idempotent: a node no longer listed is left alone."""
    members = membership(settings)
    if members is None:
        # The whole cluster is going (a destroyed stage), or this node was removed before: nothing to remove.
        return {"member": settings["name"], "actions": ["no other etcd member answers: nothing to leave"]}
    me = mine(settings, members)
    if me is None:
        return {"member": settings["name"], "actions": ["not a member of the etcd cluster"]}
    remove(settings, me)
    return {"member": settings["name"], "actions": [f"removed from the etcd cluster ({hex_id(me)})"]}


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("start", "leave"):
        print("usage: etcd_member start|leave <settings JSON file>", file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8") as f:
        settings = json.load(f)
    try:
        if argv[0] == "start":
            start(settings)  # does not return
        print(json.dumps(leave(settings), sort_keys=True))
    except (MembershipError, OSError, subprocess.SubprocessError) as exc:
        print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
