"""roles: least privilege for the application roles, and default privileges on what app_owner creates later."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from psycopg import errors as pg_errors

from dataplane.model import APP_DATABASE, APP_OWNER_ROLE, APP_READONLY_USER, APP_READWRITE_USER
from sandbox.client import Sandbox, one_row
from sandbox.harness import refusals
from sandbox.harness.result import RECOVER_SECONDS, Drill, DrillOptions, DrillResult
from sandbox.processes import psql

NAME = "roles"


def roles(sandbox: Sandbox, options: DrillOptions) -> DrillResult:
    """Application roles hold exactly DML (app_rw) or SELECT (app_ro), and what app_owner creates later is
    usable by them through default privileges, with no grant after the fact."""
    layout = sandbox.layout
    sandbox.wait_healthy(RECOVER_SECONDS)
    leader = sandbox.leader_member()
    write_port = layout.spec.router.write_port
    table = f"drill_default_privileges_{uuid.uuid4().hex[:8]}"
    checks: dict[str, bool] = {}
    notes: list[str] = []
    with sandbox.connect(write_port, user=APP_READWRITE_USER) as rw:
        schema = one_row(rw, "select current_schema()")[0]
    psql(
        layout,
        leader,
        f'set role {APP_OWNER_ROLE}; create table "{schema}".{table} (id int primary key, note text);',
        dbname=APP_DATABASE,
    )
    try:

        def as_user(user: str, sql: str) -> Callable[[], object]:
            def attempt() -> object:
                with sandbox.connect(write_port, user=user) as conn:
                    return conn.execute(sql)

            return attempt

        expectations = [
            (APP_READWRITE_USER, "create role drill_intruder login", True),
            (APP_READWRITE_USER, "create database drill_intruder", True),
            (APP_READWRITE_USER, f'create table "{schema}".drill_rw_owned (id int)', True),
            (APP_READWRITE_USER, f"insert into {table} values (1, 'app_rw writes')", False),
            (APP_READWRITE_USER, f"update {table} set note = 'app_rw updates' where id = 1", False),
            (APP_READONLY_USER, f"select count(*) from {table}", False),
            (APP_READONLY_USER, f"insert into {table} values (2, 'app_ro must not write')", True),
            (APP_READONLY_USER, f"delete from {table}", True),
        ]
        for user, sql, must_refuse in expectations:
            refused, said = refusals.refused(as_user(user, sql), pg_errors.InsufficientPrivilege)
            label = f"{user}: {sql.split(' (')[0]} {'refused' if must_refuse else 'allowed'}"
            checks[label] = refused == must_refuse
            notes.append(f"{label}: {'ok' if refused == must_refuse else 'WRONG'} ({said})")
    finally:
        psql(
            layout,
            leader,
            f'drop table if exists "{schema}".{table}; drop table if exists "{schema}".drill_rw_owned;',
            dbname=APP_DATABASE,
        )
    failed = [k for k, ok in checks.items() if not ok]
    return DrillResult(
        NAME,
        not failed,
        {"checks_passed": f"{len(checks) - len(failed)}/{len(checks)}"},
        "least privilege: no CREATEROLE/CREATEDB/DDL for applications, read-only stays read-only, "
        "default privileges cover new tables",
        notes,
    )


DRILL = Drill(NAME, roles)
