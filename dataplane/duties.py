"""Separation of duties: which of the three duties (`pgp --as operator|dba|auditor`) may run which console
command. The one place for that fact: the console refuses a command outside the caller's duty before it sends
anything, and each cloud's duty identities (components/aws/duties.py) grant what these commands call.

    operator  keeps the cluster running: switchover, restart, reload, reinit, backups, the restore drill
    dba       works inside the databases: logins (lock, unlock, rotate), psql, table and database restores
    auditor   reads what was done: the journal and the inventory, never a command on a member

Both the operator and the DBA read the cluster's state (status, backups, logs, config diff): neither can act
safely blind. A clone is the DBA's, as the restores are (the operator proves the backups with the restore
drill); both list the clones. The auditor sends no member command at all, so `pgp --as auditor inventory`
lists what runs where without asking the members their roles.

Pure: no cloud call; the targets enforce it with the cloud's own identities."""

from __future__ import annotations

from collections.abc import Mapping

from dataplane.console import ConsoleError

OPERATOR, DBA, AUDITOR = "operator", "dba", "auditor"
DUTIES = (OPERATOR, DBA, AUDITOR)

# A request is the console's command, with its action for the commands that take one (`user lock`, `config diff`).
COMMAND_DUTIES: Mapping[str, frozenset[str]] = {
    "status": frozenset({OPERATOR, DBA}),
    "switchover": frozenset({OPERATOR}),
    "restart": frozenset({OPERATOR}),
    "reload": frozenset({OPERATOR}),
    "reinit": frozenset({OPERATOR}),
    "backup": frozenset({OPERATOR}),
    "backups": frozenset({OPERATOR, DBA}),
    "restore-drill": frozenset({OPERATOR}),
    "user lock": frozenset({DBA}),
    "user unlock": frozenset({DBA}),
    "user rotate": frozenset({DBA}),
    "psql": frozenset({DBA}),
    "restore-table": frozenset({DBA}),
    "restore-db": frozenset({DBA}),
    # A clone is a copy of the data (at a time, kept or as a proof): the DBA's, as the restores are; both
    # duties may list what clones exist.
    "clone": frozenset({DBA}),
    "clones": frozenset({OPERATOR, DBA}),
    "logs": frozenset({OPERATOR, DBA}),
    "config diff": frozenset({OPERATOR, DBA}),
    "inventory": frozenset({OPERATOR, DBA, AUDITOR}),
    "journal": frozenset({OPERATOR, DBA, AUDITOR}),
}
# The duties whose identity may send commands to the members (the auditor's may not).
MEMBER_COMMAND_DUTIES = frozenset({OPERATOR, DBA})


def request(command: str, action: str | None = None) -> str:
    """The mapping's key for a parsed command line: `user lock`, `config diff`, or the command alone."""
    return f"{command} {action}" if command in ("user", "config") and action else command


def duties_for(name: str) -> frozenset[str]:
    if name not in COMMAND_DUTIES:
        raise KeyError(f"no duty is mapped for the console request {name!r}")
    return COMMAND_DUTIES[name]


def check(duty: str | None, name: str) -> None:
    """Refuse `name` unless `duty` may run it, naming the duties that may. No duty (`--as` not given) is the
    caller's own identity: the cloud's permissions decide alone, as before duties existed."""
    allowed = duties_for(name)
    if duty is None:
        return
    if duty not in DUTIES:
        raise ConsoleError(f"--as {duty}: use one of {', '.join(DUTIES)}")
    if duty not in allowed:
        ordered = [d for d in DUTIES if d in allowed]
        raise ConsoleError(
            f"--as {duty}: `{name}` is the {' or '.join(ordered)} duty, not the {duty}'s; run it with "
            + " or ".join(f"--as {d}" for d in ordered)
        )


def sends_member_commands(duty: str | None) -> bool:
    return duty is None or duty in MEMBER_COMMAND_DUTIES
