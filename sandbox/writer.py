"""A client that writes through the routed port and logs only acknowledged commits.

A row id enters the log only after COMMIT has returned without error, so after a failover every logged id
must be on the new leader: any missing one is an acknowledged commit the platform lost (RPO violated).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import psycopg

from dataplane.model import APP_DATABASE, APP_READWRITE_USER
from sandbox.client import Sandbox, one_row
from sandbox.processes import psql

DRILL_TABLE = "drill_acknowledged_writes"
# Paces the writer so it does not starve the cluster of CPU on a 2-core machine while still resolving
# the outage to a few hundredths of a second.
WRITE_INTERVAL_SECONDS = 0.01
RECONNECT_PAUSE_SECONDS = 0.05
# A cancelled wait for the synchronous standby returns success although the commit may be on the
# primary only; such a commit is not counted as acknowledged.
SYNC_CANCEL_MARKER = "synchronous replication"


def ensure_table(sandbox: Sandbox) -> str:
    """Create the drill's table in the schema the application user writes to; return its qualified name."""
    with sandbox.connect_write(user=APP_READWRITE_USER) as app:
        schema = one_row(app, "select current_schema()")[0]
    if schema is None:
        raise RuntimeError(f"{APP_READWRITE_USER} has no usable schema on its search_path")
    qualified = f'"{schema}".{DRILL_TABLE}'
    # The superuser has no network login (pg_hba): administration goes over the leader's socket.
    psql(
        sandbox.layout,
        sandbox.leader_member(),
        f"create table if not exists {qualified} (run text not null, id bigint not null, "
        f"written_at timestamptz not null default clock_timestamp(), primary key (run, id));"
        f"grant select, insert on {qualified} to {APP_READWRITE_USER};",
        dbname=APP_DATABASE,
    )
    return qualified


@dataclass
class WriterLog:
    acked: list[tuple[int, float]] = field(default_factory=list)  # (id, monotonic time COMMIT returned)
    errors: list[tuple[float, str]] = field(default_factory=list)
    unconfirmed: list[int] = field(default_factory=list)  # ids whose outcome the client never learnt

    def first_ack_after(self, moment: float) -> float | None:
        return next((t for _, t in self.acked if t > moment), None)

    def acked_ids(self) -> set[int]:
        return {i for i, _ in self.acked}


class AcknowledgedWriter(threading.Thread):
    def __init__(self, sandbox: Sandbox, table: str, run: str, max_seconds: float) -> None:
        super().__init__(daemon=True, name=f"writer-{run}")
        self.sandbox = sandbox
        self.table = table
        self.run_id = run
        self.deadline = time.monotonic() + max_seconds
        self.log = WriterLog()
        self._stop_requested = threading.Event()
        self._notices: list[str] = []

    def stop(self) -> None:
        self._stop_requested.set()

    def run(self) -> None:
        conn: psycopg.Connection | None = None
        next_id = 1
        while not self._stop_requested.is_set() and time.monotonic() < self.deadline:
            try:
                if conn is None:
                    conn = self.sandbox.connect_write(user=APP_READWRITE_USER)
                    conn.add_notice_handler(lambda diag: self._notices.append(diag.message_primary or ""))
                row_id = next_id
                next_id += 1  # never reuse an id whose commit may have happened without our knowing
                self._notices.clear()
                # autocommit: execute returns only after the COMMIT is acknowledged (synchronously replicated).
                conn.execute(f"insert into {self.table} (run, id) values (%s, %s)", (self.run_id, row_id))
                if any(SYNC_CANCEL_MARKER in n for n in self._notices):
                    self.log.unconfirmed.append(row_id)
                else:
                    self.log.acked.append((row_id, time.monotonic()))
                time.sleep(WRITE_INTERVAL_SECONDS)
            except (psycopg.Error, OSError) as exc:
                if conn is not None:
                    self.log.unconfirmed.append(next_id - 1)
                self.log.errors.append(
                    (
                        time.monotonic(),
                        type(exc).__name__ + ": " + str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
                    )
                )
                try:
                    if conn is not None:
                        conn.close()
                except Exception:
                    pass
                conn = None
                time.sleep(RECONNECT_PAUSE_SECONDS)
        if conn is not None:
            conn.close()


def ids_present(sandbox: Sandbox, table: str, run: str) -> set[int]:
    with sandbox.connect_write(user=APP_READWRITE_USER) as conn:
        return {r[0] for r in conn.execute(f"select id from {table} where run = %s", (run,))}
