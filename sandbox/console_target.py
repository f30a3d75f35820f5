"""The sandbox as a target of the operator console (`pgp`, tools/console.py): the member commands of
dataplane/console.py run here as local processes, where on a cloud they go through its remote-command service."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from dataplane.console import ConsoleError, Ran, alerts_command, check_log_request
from dataplane.journal import S3Journal
from dataplane.member_tools import member_tool_files
from dataplane.model import APP_DATABASE, APP_ROLE_SECRETS, Member
from dataplane.routing import client_access
from sandbox.client import Sandbox
from sandbox.journal import local_operator, store
from sandbox.layout import LOOPBACK, SandboxLayout
from sandbox.node import patronictl_path
from sandbox.processes import supervisor
from sandbox.services import etcd, exporters, patroni, pgbouncer

# Seconds a command that overran is given to clean up after SIGTERM before it is killed.
STOP_GRACE_SECONDS = 60
# Each member service's supervisor log; PostgreSQL's own files are read the same way as on a node.
_SERVICE_NAMES = {
    "patroni": patroni.name,
    "pgbouncer": pgbouncer.name,
    "etcd": etcd.name,
    "postgres-exporter": exporters.postgres_exporter_name,
    "node-exporter": exporters.node_exporter_name,
}


class SandboxTarget:
    def __init__(self, layout: SandboxLayout):
        self.layout = layout
        self.spec = layout.spec
        self.where = f"sandbox {layout.profile} in {layout.root}"

    def patronictl(self, member: Member) -> str:
        return str(patronictl_path(self.layout, member))

    def run(self, member: Member, shell: str, timeout: float) -> Ran:
        """`shell` in its own process group: at the timeout the whole group is ended, the script first asked
        (SIGTERM) so that its cleanup runs, as a cloud's run-command service ends a command that overruns."""
        proc = subprocess.Popen(
            ["bash", "-c", shell], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
        )
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                out, err = proc.communicate(timeout=STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                out, err = proc.communicate()
            return Ran(124, out, f"{err}no answer from {member.name} within {timeout:.0f} s")
        return Ran(proc.returncode, out, err)

    def alertmanager_alerts(self) -> Ran:
        shell = alerts_command(LOOPBACK, self.layout.alertmanager_port)
        done = subprocess.run(["bash", "-c", shell], capture_output=True, text=True, timeout=30)
        return Ran(done.returncode, done.stdout, done.stderr or f"no answer from Alertmanager ({shell})")

    def client_endpoints(self) -> dict[str, dict[str, Any]]:
        return dict(client_access(self.spec, APP_DATABASE, {"write": "", "read": ""})["endpoints"])

    @contextmanager
    def client_login(self, role: str) -> Iterator[tuple[str, str]]:
        handle = Sandbox(self.layout)
        yield handle.password(APP_ROLE_SECRETS[role]), handle.ca_file

    def tool_command(self, member: Member, path: str, argv: list[str]) -> str:
        """A member tool's rendered text, as a cloud member has it installed at `path`: the sandbox installs
        nothing outside its directory."""
        text, _, _ = member_tool_files(self.spec, member)[path]
        return f"set -- {shlex.join(argv)}\n{text}"

    def service_log_command(self, member: Member, service: str, lines: int, since: str | None) -> str:
        check_log_request(service, lines)
        if since is not None:
            raise ConsoleError(
                "--since: the sandbox's service logs are its supervisor's files, without timestamps of their own; "
                "it applies to --service postgresql here"
            )
        if service not in _SERVICE_NAMES:
            raise ConsoleError(f"--service {service}: the sandbox reads it with --service postgresql")
        log = supervisor(self.layout).log_file(_SERVICE_NAMES[service](member))
        return shlex.join(["tail", "-n", str(lines), str(log)])

    def config_diff(self) -> list[dict[str, Any]]:
        from sandbox.configure import diff

        return diff(self.spec)

    def inventory(self) -> dict[str, Any]:
        return {
            "cloud": "sandbox",
            "region": "loopback",
            "scope": self.spec.scope,
            "members": {m.name: {"zone": m.zone, "id": f"{m.host}:{m.ports.postgres}"} for m in self.spec.members},
        }

    def journal(self) -> S3Journal:
        return store(self.layout)

    def who(self) -> str:
        return local_operator()
