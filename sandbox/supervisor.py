"""Start, watch and stop the sandbox's processes by PID.

Services run as `postgres` through `setpriv`, which execs in place, so the PID we record is the service's
own (su/runuser would fork and leave us holding a wrapper). Each PID file also records the process start
time from /proc, so a recycled PID is never mistaken for ours and never signalled.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SERVICE_USER = "postgres"
POLL_SECONDS = 0.1


class ServiceError(RuntimeError):
    pass


@dataclass
class Service:
    name: str
    argv: list[str]
    ready: Callable[[], bool] | None = None
    ready_timeout: float = 30.0
    env: dict[str, str] = field(default_factory=dict)
    cwd: str | None = None
    as_service_user: bool = True


def service_uid_gid(user: str = SERVICE_USER) -> tuple[int, int]:
    entry = pwd.getpwnam(user)
    return entry.pw_uid, entry.pw_gid


def chown_service_user(*paths: Path) -> None:
    uid, gid = service_uid_gid()
    for path in paths:
        os.chown(path, uid, gid)


def process_start_time(pid: int) -> int | None:
    """Clock ticks since boot when the process started (field 22 of /proc/<pid>/stat), None if gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name (field 2) may contain spaces and parentheses: split after its closing one.
    rest = stat[stat.rindex(")") + 2 :].split()
    if rest[0] == "Z":
        return None
    return int(rest[19])


def is_alive(pid: int, start_time: int | None = None) -> bool:
    current = process_start_time(pid)
    return current is not None and (start_time is None or current == start_time)


def service_user_argv(argv: list[str]) -> list[str]:
    """`argv` run as the service user when we are root; setpriv execs in place, so the PID stays the command's."""
    if os.geteuid() != 0:
        return list(argv)
    return ["setpriv", f"--reuid={SERVICE_USER}", f"--regid={SERVICE_USER}", "--init-groups", "--", *argv]


def port_open(port: int, host: str = "127.0.0.1", timeout: float = 0.3) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_until(
    check: Callable[[], bool],
    timeout: float,
    what: str,
    interval: float = POLL_SECONDS,
    alive: Callable[[], bool] | None = None,
) -> float:
    """Poll `check` until it holds; return the seconds it took. Raise naming `what` on timeout."""
    start = time.monotonic()
    deadline = start + timeout
    while True:
        try:
            if check():
                return time.monotonic() - start
        except Exception:  # a check that cannot connect yet is simply not ready
            pass
        if alive is not None and not alive():
            raise ServiceError(f"{what}: the process exited before it was ready")
        if time.monotonic() >= deadline:
            raise ServiceError(f"{what}: not ready after {timeout:.0f} s")
        time.sleep(interval)


class Supervisor:
    def __init__(self, state_dir: Path, log_dir: Path) -> None:
        self.state_dir = state_dir
        self.log_dir = log_dir

    def pid_file(self, name: str) -> Path:
        return self.state_dir / f"{name}.pid.json"

    def log_file(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def record(self, name: str) -> dict[str, Any] | None:
        try:
            return json.loads(self.pid_file(name).read_text())
        except (FileNotFoundError, ValueError):
            return None

    def running(self, name: str) -> int | None:
        rec = self.record(name)
        if rec and is_alive(rec["pid"], rec.get("start_time")):
            return rec["pid"]
        return None

    def names(self) -> list[str]:
        if not self.state_dir.is_dir():
            return []
        return sorted(p.name[: -len(".pid.json")] for p in self.state_dir.glob("*.pid.json"))

    def start(self, service: Service) -> int:
        """Start unless already running (so `up` can be repeated), then wait until it is ready."""
        pid = self.running(service.name)
        if pid is None:
            pid = self._spawn(service)
        if service.ready is not None:
            rec = self.record(service.name)
            try:
                wait_until(
                    service.ready,
                    service.ready_timeout,
                    f"{service.name} (log {self.log_file(service.name)})",
                    alive=lambda: is_alive(pid, rec.get("start_time") if rec else None),
                )
            except ServiceError as exc:
                raise ServiceError(f"{exc}\n--- last lines of its log ---\n{self.log_tail(service.name)}") from None
        return pid

    def _spawn(self, service: Service) -> int:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        argv = service_user_argv(service.argv) if service.as_service_user else list(service.argv)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", **service.env}
        if service.as_service_user:
            env["HOME"] = pwd.getpwnam(SERVICE_USER).pw_dir
        with open(self.log_file(service.name), "ab") as log:
            # A new session: the service outlives the CLI that started it and ignores its terminal's ^C.
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=service.cwd or str(self.state_dir),
                start_new_session=True,
            )
        start_time = None
        for _ in range(50):
            start_time = process_start_time(proc.pid)
            if start_time is not None:
                break
            time.sleep(0.01)
        self.pid_file(service.name).write_text(
            json.dumps({"pid": proc.pid, "start_time": start_time, "argv": service.argv})
        )
        # Popen keeps a handle to reap; detach it so a finished service does not linger as a zombie of ours.
        _REAPED.append(proc)
        return proc.pid

    def stop(self, name: str, timeout: float = 10.0, sig: int = signal.SIGTERM) -> bool:
        """Signal the recorded process, escalate to SIGKILL after `timeout`; True if it was running."""
        rec = self.record(name)
        was_running = False
        if rec:
            was_running = terminate(rec["pid"], rec.get("start_time"), timeout, sig)
        self.pid_file(name).unlink(missing_ok=True)
        return was_running

    def stop_together(self, names: list[str], timeout: float = 30.0) -> list[str]:
        """SIGTERM all at once, then wait for each: peers shutting down one by one would fail over to
        each other on the way down. Returns the names that were running."""
        records = {n: self.record(n) for n in names}
        running = {n: r for n, r in records.items() if r and is_alive(r["pid"], r.get("start_time"))}
        for rec in running.values():
            with contextlib.suppress(ProcessLookupError):
                os.kill(rec["pid"], signal.SIGTERM)
        for rec in running.values():
            terminate(rec["pid"], rec.get("start_time"), timeout, signal.SIGTERM)
        for name in names:
            self.pid_file(name).unlink(missing_ok=True)
        return list(running)

    def restart(self, name: str) -> int:
        """Stop the recorded process and start its recorded command again (as the service user): what
        `systemctl restart` is to a node's unit. Refused for a service that has no record."""
        rec = self.record(name)
        if rec is None or not rec.get("argv"):
            raise ServiceError(f"{name} has no record in {self.state_dir}: it was never started here")
        self.stop(name)
        return self._spawn(Service(name=name, argv=list(rec["argv"])))

    def kill(self, name: str) -> int | None:
        """SIGKILL, no grace: what a crashed node looks like. Returns the PID that was killed."""
        pid = self.running(name)
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
            wait_until(lambda: not is_alive(pid), 5, f"{name} to die after SIGKILL")
            _reap()
        return pid

    def log_tail(self, name: str, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_file(name).read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"


_REAPED: list[subprocess.Popen] = []


def _reap() -> None:
    for proc in list(_REAPED):
        if proc.poll() is not None:
            _REAPED.remove(proc)


def terminate(pid: int, start_time: int | None, timeout: float, sig: int = signal.SIGTERM) -> bool:
    if not is_alive(pid, start_time):
        return False
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _reap()
        if not is_alive(pid, start_time):
            return True
        time.sleep(POLL_SECONDS)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return True
    for _ in range(50):
        _reap()
        if not is_alive(pid, start_time):
            break
        time.sleep(POLL_SECONDS)
    return True


def postmaster_pid(data_dir: Path) -> int | None:
    """The running postmaster of a data directory, from its postmaster.pid, verified against /proc."""
    try:
        first = (data_dir / "postmaster.pid").read_text().splitlines()[0]
        pid = int(first)
    except (FileNotFoundError, IndexError, ValueError, PermissionError):
        return None
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (FileNotFoundError, ProcessLookupError):
        return None
    # A stale file may name a PID now used by something else: only a postgres whose -D is this directory counts.
    if not cmdline or not cmdline[0].endswith(b"postgres"):
        return None
    if str(data_dir).encode() not in b" ".join(cmdline) and not _cwd_is(pid, data_dir):
        return None
    return pid if is_alive(pid) else None


def _cwd_is(pid: int, directory: Path) -> bool:
    try:
        return os.path.realpath(f"/proc/{pid}/cwd") == os.path.realpath(directory)
    except OSError:
        return False


def stop_postmaster(data_dir: Path, timeout: float = 15.0) -> bool:
    """Fast shutdown (SIGINT) of a postmaster left behind by Patroni, then SIGKILL after `timeout`."""
    pid = postmaster_pid(data_dir)
    if pid is None:
        return False
    return terminate(pid, process_start_time(pid), timeout, signal.SIGINT)


def processes_mentioning(marker: str) -> list[tuple[int, str]]:
    """PIDs whose command line contains `marker` (the sandbox root): what `down` must leave none of."""
    found = []
    own = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == own:
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        if marker in cmdline and is_alive(int(entry.name)):
            found.append((int(entry.name), cmdline))
    return found


def listening_ports(ports: list[int]) -> list[int]:
    return [p for p in ports if port_open(p)]


def main(argv: list[str]) -> int:
    """`supervisor.py restart STATE_DIR LOG_DIR NAME`: run as a script (standard library only) by commands that
    stand in for a node's service manager, such as the configure agent's etcd restart."""
    if len(argv) != 4 or argv[0] != "restart":
        print("usage: supervisor.py restart STATE_DIR LOG_DIR NAME", file=sys.stderr)
        return 2
    try:
        Supervisor(Path(argv[1]), Path(argv[2])).restart(argv[3])
    except ServiceError as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
