"""How drills and `status` talk to a running sandbox: Patroni's REST API and PostgreSQL over verified TLS."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

import psycopg

from dataplane import patroni as patroni_render
from dataplane.model import (
    APP_DATABASE,
    APP_READWRITE_USER,
    APP_ROLE_SECRETS,
    PATRONI_REST_USER,
    SUPERUSER,
    Member,
)
from sandbox import secrets as sandbox_secrets
from sandbox.layout import LOOPBACK, SandboxLayout
from sandbox.supervisor import wait_until
from sandbox.tls_client import tls_context

CONNECT_TIMEOUT_SECONDS = 2
REST_TIMEOUT_SECONDS = 2


@dataclass(frozen=True)
class ClusterState:
    leader: str | None
    sync_standbys: tuple[str, ...]
    streaming_replicas: tuple[str, ...]
    members: tuple[dict, ...]

    def member(self, name: str) -> dict | None:
        return next((m for m in self.members if m["name"] == name), None)


class Sandbox:
    """A handle on one running sandbox: its layout and secrets."""

    def __init__(self, layout: SandboxLayout) -> None:
        self.layout = layout
        self.secrets = sandbox_secrets.read(layout.secrets_file)

    def password(self, secret_name: str) -> str:
        return sandbox_secrets.secret(self.secrets, secret_name)

    @property
    def ca_file(self) -> str:
        return str(self.layout.tls_dir / "ca.crt")

    # --- Patroni REST ------------------------------------------------------------------------------
    def rest(
        self,
        member: Member,
        path: str,
        method: str = "GET",
        body: dict | None = None,
        auth: bool = False,
        timeout: float = REST_TIMEOUT_SECONDS,
    ) -> tuple[int, object]:
        url = f"{patroni_render.rest_url(member)}{path}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if auth:
            token = base64.b64encode(f"{PATRONI_REST_USER}:{self.password('patroni-rest')}".encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        # Changes (switchover, reinitialize) need a client certificate from the cluster CA as well.
        ctx = tls_context(self.layout, client_cert=auth)
        try:
            with urllib.request.urlopen(request, timeout=timeout, context=ctx) as response:
                return response.status, _decode(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, _decode(exc.read())

    def cluster(self) -> ClusterState | None:
        """The cluster as any reachable member's Patroni reports it (GET /cluster)."""
        for member in self.layout.spec.members:
            try:
                status, body = self.rest(member, "/cluster")
            except OSError:
                continue
            if status == 200 and isinstance(body, dict):
                members = tuple(body.get("members", []))
                leader = next(
                    (
                        m["name"]
                        for m in members
                        if m.get("role") in ("leader", "standby_leader") and m.get("state") == "running"
                    ),
                    None,
                )
                sync = tuple(m["name"] for m in members if m.get("role") == "sync_standby")
                streaming = tuple(
                    m["name"]
                    for m in members
                    if m.get("role") in ("replica", "sync_standby") and m.get("state") == "streaming"
                )
                return ClusterState(leader, sync, streaming, members)
        return None

    def state(self) -> ClusterState:
        """As cluster(), for a caller that cannot go on without an answer."""
        state = self.cluster()
        if state is None:
            raise RuntimeError("no Patroni member answers")
        return state

    def healthy(self) -> bool:
        """Leader running, every other member streaming, the sync standbys the topology requires in place."""
        state = self.cluster()
        if state is None or state.leader is None:
            return False
        others = len(self.layout.spec.members) - 1
        if len(state.streaming_replicas) != others:
            return False
        return len(state.sync_standbys) >= min(others, self.layout.spec.topology.synchronous_node_count.value)

    def wait_healthy(self, timeout: float = 90) -> float:
        return wait_until(
            self.healthy, timeout, "cluster healthy (leader, streaming replicas, sync standby)", interval=0.25
        )

    # --- PostgreSQL --------------------------------------------------------------------------------
    def conninfo(
        self,
        port: int,
        user: str = SUPERUSER,
        dbname: str = APP_DATABASE,
        password: str | None = None,
        sslmode: str = "verify-full",
        host: str = LOOPBACK,
        **extra,
    ) -> dict:
        if password is None:
            password = self.password({SUPERUSER: "superuser", **APP_ROLE_SECRETS}[user])
        params = dict(
            host=host,
            port=port,
            user=user,
            dbname=dbname,
            password=password,
            sslmode=sslmode,
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            application_name="pg-platform-drill",
        )
        if sslmode in ("verify-ca", "verify-full"):
            params["sslrootcert"] = self.ca_file
        params.update(extra)
        return params

    def connect(self, port: int, autocommit: bool = True, **kwargs) -> psycopg.Connection:
        return psycopg.connect(**self.conninfo(port, **kwargs), autocommit=autocommit)

    def connect_write(self, **kwargs) -> psycopg.Connection:
        return self.connect(self.layout.spec.router.write_port, **kwargs)

    def leader_member(self) -> Member:
        state = self.cluster()
        if state is None or state.leader is None:
            raise RuntimeError("no leader")
        return self.layout.spec.member(state.leader)

    def wait_router_write(self, timeout: float = 30) -> float:
        """Until the routed write port reaches the primary (HAProxy has seen Patroni's /primary)."""

        def primary_behind_router() -> bool:
            with self.connect_write(user=APP_READWRITE_USER) as conn:
                return bool(one_row(conn, "select not pg_is_in_recovery()")[0])

        return wait_until(primary_behind_router, timeout, "routed write port reaching the primary", interval=0.2)


def one_row(conn: psycopg.Connection, sql: str) -> tuple[Any, ...]:
    """The single row a query that always returns one gave back."""
    row = conn.execute(sql).fetchone()
    if row is None:
        raise RuntimeError(f"no row from {sql!r}")
    return tuple(row)


def _decode(raw: bytes) -> object:
    try:
        return json.loads(raw or b"null")
    except ValueError:
        return raw.decode(errors="replace")
