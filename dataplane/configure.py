"""Day-two configuration: the bundle a running member is given when a stack setting changes, and the command
that applies it.

A member's files are written by cloud-init once, at first boot, and user-data drift does not replace it. So
every change after that travels as a configure bundle: the *content* of the member's rendered files and the
cluster's desired dynamic configuration, which dataplane/configure_agent.py compares with what the member runs
and applies (see that module for what reloads and what waits for a restart). The bundle holds no secret:
passwords stay in the member's secrets environment, read by the agent on the member.

The same command runs on a cloud member (through SSM on AWS) and on a sandbox member (locally), so the
sandbox's drills exercise the code path a `pulumi up` takes.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import shlex
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from dataplane import configure_agent, etcd, exporters, pgbouncer
from dataplane.boot.units import ETCD_RESTART, ETCD_UNIT, SERVICE_USER, SYSTEM_UNIT_DIR
from dataplane.model import PATRONI_REST_USER, SECRET_ENV, ClusterSpec, Member
from dataplane.node_files import node_file_mode, node_files, render_secret_files_commands
from dataplane.patroni import config_path as patroni_config_path
from dataplane.patroni import dcs_settings, rest_url
from dataplane.tls import tls_files
from stacks.databases import extension_packages

AGENT_SOURCE = Path(configure_agent.__file__).read_text()
# The member's python3 runs the agent from the command line: nothing to install, and no stale copy on the node.
_LOADER = (
    "import base64,gzip,sys;src=gzip.decompress(base64.b64decode(sys.argv[1]));"
    "sys.argv=sys.argv[1:];exec(compile(src,'pgp-configure-agent','exec'))"
)
# Linux refuses a single argument longer than MAX_ARG_STRLEN (32 pages: 131072 bytes).
MAX_ARGUMENT_BYTES = 131_072


Files = Mapping[str, tuple[str, int, str]]


def bundle(
    spec: ClusterSpec,
    member: Member,
    extra_files: Files | None = None,
    etcd_restart: Sequence[Sequence[str]] = ETCD_RESTART,
) -> dict[str, Any]:
    """What the member should run. `extra_files` (path -> content, mode, owner) adds files only a cloud member
    has, such as the root-owned operation scripts; `etcd_restart` is how the member restarts its etcd (systemd
    on a VM, the supervisor in the sandbox)."""
    owner = f"{SERVICE_USER}:{SERVICE_USER}"
    rendered = node_files(spec, member)
    files = [
        {"path": path, "content": content, "mode": node_file_mode(spec, member, path), "owner": owner}
        for path, content in sorted(rendered.items())
    ]
    files += [
        {"path": path, "content": content, "mode": mode, "owner": file_owner}
        for path, (content, mode, file_owner) in sorted((extra_files or {}).items())
    ]
    tls = tls_files(spec, member)
    paths = spec.paths_for(member)
    templates = [pgbouncer.auth_template_path(spec, member), exporters.env_template_path(spec, member)]
    return {
        "member": member.name,
        # Installed before anything is written: the restart that loads a preload library and the roles step's
        # CREATE EXTENSION both need the declared extensions' packages on the member.
        "packages": list(extension_packages(spec.declared, spec.topology.postgres_major)),
        "files": files,
        "templates": templates,
        "fill_commands": render_secret_files_commands(spec, member),
        "service_user": SERVICE_USER,
        "secrets_env": paths.secrets_env,
        "patroni_config": patroni_config_path(spec, member),
        "patroni": {
            "url": rest_url(member),
            "user": PATRONI_REST_USER,
            "password_env": SECRET_ENV["patroni-rest"],
            "ca": tls.ca,
            "cert": tls.client_cert,
            "key": tls.client_key,
        },
        "dcs": dcs_settings(spec),
        "pgbouncer_files": [pgbouncer.config_path(spec, member), pgbouncer.auth_template_path(spec, member)],
        "pgbouncer_pidfile": f"{paths.run_dir}/pgbouncer.pid",
        # The member's state before the change, for `rollback` (dataplane/configure_agent.py).
        "rollback_path": f"{paths.run_dir}/configure-rollback.json",
        # etcd reads its configuration only at start, and its start script only then moves or joins: the
        # roll-out restarts one member's etcd at a time, each once the others are healthy. The start script's
        # settings need no restart: they matter at the next start, or when the member leaves.
        "restart_files": {path: "etcd" for path in (etcd.config_path(spec, member), f"{SYSTEM_UNIT_DIR}/{ETCD_UNIT}")},
        "etcd": {
            "settings": etcd.member_settings(spec, member),
            "restart": [list(argv) for argv in etcd_restart],
            "leave": etcd.member_command(spec, member, "leave"),
        },
    }


def encoded(
    spec: ClusterSpec,
    member: Member,
    extra_files: Files | None = None,
    etcd_restart: Sequence[Sequence[str]] = ETCD_RESTART,
) -> str:
    return configure_agent.encode(bundle(spec, member, extra_files, etcd_restart))


def digest(text: str) -> str:
    """What a step's trigger carries for a rendered input: it moves exactly when the content does."""
    return hashlib.sha256(text.encode()).hexdigest()


AGENT_ARGUMENT = base64.b64encode(gzip.compress(AGENT_SOURCE.encode(), mtime=0)).decode()


MODES = tuple(configure_agent.MODES)


def command(encoded_bundle: str, mode: str = "apply", python: str = "python3") -> list[str]:
    """The argv that applies a bundle on a member (`restart`: restarts it if a change waits for one), as root."""
    if mode not in MODES:
        raise ValueError(f"configure mode {mode!r}: use one of {', '.join(MODES)}")
    for argument in (encoded_bundle, AGENT_ARGUMENT):
        if len(argument) > MAX_ARGUMENT_BYTES:
            raise ValueError(
                f"configure bundle argument is {len(argument)} bytes, above Linux's {MAX_ARGUMENT_BYTES}-byte limit"
            )
    return [python, "-c", _LOADER, AGENT_ARGUMENT, mode, encoded_bundle]


def shell_command(encoded_bundle: str, mode: str = "apply") -> str:
    return shlex.join(command(encoded_bundle, mode))


# Settings a standby must hold at least at the primary's value (PostgreSQL's hot-standby checks). Patroni starts a
# standby with the larger of its own and the primary's (pg_controldata), so raising one rolls replicas first,
# but lowering one must reach the primary first: until the primary runs the lower value no standby can.
HOT_STANDBY_PARAMETERS = (
    "max_connections",
    "max_prepared_transactions",
    "max_locks_per_transaction",
    "max_worker_processes",
    "max_wal_senders",
)


def _as_int(value: Any) -> int | None:
    try:
        return int(str(value))
    except ValueError:
        return None


def lowers_hot_standby_parameter(reasons: Mapping[str, Mapping[str, Any]]) -> bool:
    """Whether a pending restart (Patroni's pending_restart_reason: name -> old_value, new_value) lowers one."""
    for name, change in reasons.items():
        old, new = _as_int(change.get("old_value")), _as_int(change.get("new_value"))
        if name.lower() in HOT_STANDBY_PARAMETERS and old is not None and new is not None and new < old:
            return True
    return False


def restart_plan(pending: Mapping[str, tuple[str | None, Mapping[str, Mapping[str, Any]]]]) -> list[tuple[str, str]]:
    """(member, agent mode) in the order a rolling restart takes the members pending one (member -> role,
    pending reasons): replicas first and the leader last after a switchover, so the cluster switches over
    once; or, when the change lowers a hot-standby parameter, the leader first, restarted in place."""
    leaders = ("primary", "master")
    leader = [name for name, (role, _) in pending.items() if role in leaders]
    replicas = sorted(name for name in pending if name not in leader)
    if any(lowers_hot_standby_parameter(reasons) for _, reasons in pending.values()):
        return [(name, "restart-in-place") for name in leader] + [(name, "restart") for name in replicas]
    return [(name, "restart") for name in replicas] + [(name, "restart") for name in leader]


# Runs the agent in a mode on one member (locally in the sandbox, through SSM on AWS) and returns its report.
Runner = Callable[[str, str], dict[str, Any]]


def _rolling_restart(reports: Sequence[dict[str, Any]], run: Runner, say: Callable[[str], None]) -> None:
    # etcd first, one member at a time (its agent refuses while another member's etcd is unhealthy), so the
    # DCS is whole again before any PostgreSQL restart needs it for a switchover.
    for name in [r["member"] for r in reports if "etcd" in (r.get("restart_needed") or [])]:
        done = run(name, "restart-etcd")
        say(f"restart etcd on {name}: {', '.join(done.get('actions', [])) or 'nothing to do'}")
    waiting = {
        r["member"]: (r.get("role"), r.get("pending_reason") or {})
        for r in reports
        if "postgresql" in (r.get("restart_needed") or [])
    }
    for name, mode in restart_plan(waiting):
        done = run(name, mode)
        still = f"; still pending: {done['still_pending']}" if done.get("still_pending") else ""
        say(f"restart {name}: {', '.join(done.get('actions', [])) or 'nothing to do'}{still}")


def roll_out(members: Sequence[str], run: Runner, say: Callable[[str], None]) -> list[dict[str, Any]]:
    """A change to every member, one at a time (each reload settles before the next member's), then the
    rolling restart of the members whose PostgreSQL waits for one (restart_plan). The sandbox and the cloud
    steps both call this with their own runner, so they order the same way.

    If any step fails, every member the change reached goes back to its last good configuration (the snapshot
    its apply took), with the restarts that needs, and the failure is raised again: a failed change leaves
    the cluster as it was, not half changed."""
    reports = []
    reached: list[str] = []
    try:
        for name in members:
            reached.append(name)
            report = run(name, "apply")
            written = report.get("written") or []
            changed = ", ".join(report.get("actions", [])) or (
                f"wrote {len(written)} file(s)" if written else "nothing to change"
            )
            needed = report.get("restart_needed") or []
            pending = f"; restart needed: {', '.join(needed)}" if needed else ""
            say(f"configure {name} ({report.get('role')}): {changed}{pending}")
            reports.append(report)
        _rolling_restart(reports, run, say)
    except Exception as failure:
        say(f"configure failed ({failure}); rolling back {', '.join(reached)} to the last good configuration")
        back = []
        for name in reversed(reached):
            report = run(name, "rollback")
            say(f"rollback {name}: {', '.join(report.get('actions', [])) or 'nothing to change'}")
            back.append(report)
        _rolling_restart(back, run, say)
        raise
    return reports
