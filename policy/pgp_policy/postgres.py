"""PostgreSQL hardening, judged on the configuration each node receives in its user data (patroni.yml's
parameters and pg_hba, conf fragments), not on what the program meant to render. Shared by every cloud."""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from pulumi_policy import Severity

from .clouds import NAMES, machine_node
from .core import Rule, resource_policy, settings, truthy
from .nodes import NodeFiles

AREA = "postgres"
TLS_ORDER = ["TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"]


def _postgres_rule(check):
    """Run `check(args, node, params, report)` for machines that boot a Patroni member."""

    def validate(args, report):
        node = machine_node(args.resource_type, args.props)
        if node is not None and node.is_postgres_node:
            check(args, node, node.postgres_parameters(), report)

    return validate


def _value(params: dict[str, Any], key: str) -> str | None:
    v = params.get(key)
    if v is None:
        return None
    if isinstance(v, bool):
        return "on" if v else "off"
    return str(v).strip().strip("'\"")


# --- PGP-PG-001 ------------------------------------------------------------------------------------------
PG_001 = Rule(
    id="PGP-PG-001",
    title="pg_hba: TLS and strong authentication only, final reject",
    why="trust/password/md5/ident logins can be bypassed or replayed, and lines without TLS expose credentials and "
    "data; a final reject keeps the list an allowlist.",
    description="Network lines are hostssl with scram-sha-256 or cert (host/hostnossl only to reject); no line "
    "uses trust, password, md5 or ident; the last line rejects everything else.",
    severity=Severity.CRITICAL,
    control="CIS PostgreSQL 5.3/5.4, 7.5",
    area=AREA,
    scope="resource",
    clouds=NAMES,
    remediation="Render pg_hba as hostssl <db> <role> <cidr> scram-sha-256 (cert for replication if used), "
    "local lines with peer/scram-sha-256, and end with 'host all all 0.0.0.0/0 reject' (and ::/0).",
    config={
        "forbidden_methods": {
            "type": "array",
            "items": {"type": "string"},
            "default": ["trust", "password", "md5", "ident"],
        },
        "hostssl_methods": {
            "type": "array",
            "items": {"type": "string"},
            "default": ["scram-sha-256", "cert", "reject"],
        },
    },
)


def parse_hba(lines: list[str]) -> list[dict[str, str]]:
    entries = []
    for raw in lines:
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        tok = line.split()
        kind = tok[0]
        if kind == "local":
            method_at = 3
            address = ""
        else:
            method_at = 4
            address = tok[3] if len(tok) > 3 else ""
            if len(tok) > 4 and re.fullmatch(r"\d+\.\d+\.\d+\.\d+", tok[4]) and "/" not in address:
                method_at = 5  # address followed by a separate netmask
        entries.append(
            {
                "line": line,
                "type": kind,
                "database": tok[1] if len(tok) > 1 else "",
                "user": tok[2] if len(tok) > 2 else "",
                "address": address,
                "method": tok[method_at] if len(tok) > method_at else "",
            }
        )
    return entries


def _covers_everything(address: str) -> bool:
    if address in ("all", "0.0.0.0/0", "::/0"):
        return True
    try:
        return ipaddress.ip_network(address, strict=False).prefixlen == 0
    except ValueError:
        return False


def _hba(args, node: NodeFiles, _params, report) -> None:
    cfg = settings(args, PG_001)
    lines = node.pg_hba()
    if not lines:
        report(f"{args.name}: no pg_hba rendered (Patroni would fall back to initdb's trust defaults)")
        return
    entries = parse_hba(lines)
    for e in entries:
        if e["method"] in cfg["forbidden_methods"]:
            report(f"{args.name}: pg_hba '{e['line']}' uses {e['method']}")
        elif e["type"] == "hostssl" and e["method"] not in cfg["hostssl_methods"]:
            report(
                f"{args.name}: pg_hba '{e['line']}' uses {e['method']}, not one of {', '.join(cfg['hostssl_methods'])}"
            )
        elif e["type"] not in ("local", "hostssl") and e["method"] != "reject":
            report(f"{args.name}: pg_hba '{e['line']}' admits connections without TLS ({e['type']})")
    last = entries[-1] if entries else None
    if (
        not last
        or last["method"] != "reject"
        or last["database"] != "all"
        or last["user"] != "all"
        or (last["type"] != "local" and not _covers_everything(last["address"]))
    ):
        report(
            f"{args.name}: pg_hba does not end with a reject for all databases, users and addresses "
            f"(last line: {last['line'] if last else 'none'})"
        )


# --- PGP-PG-002 ------------------------------------------------------------------------------------------
PG_002 = Rule(
    id="PGP-PG-002",
    title="SCRAM password hashing",
    why="MD5 verifiers are password equivalents; SCRAM verifiers are not.",
    description="password_encryption is scram-sha-256, so stored verifiers are not replayable MD5 hashes.",
    severity=Severity.HIGH,
    control="CIS PostgreSQL 5.4 (scram-sha-256)",
    area=AREA,
    scope="resource",
    clouds=NAMES,
    remediation="Set postgresql.parameters.password_encryption: scram-sha-256.",
)


def _scram(args, _node, params, report) -> None:
    v = _value(params, "password_encryption")
    if v != "scram-sha-256":
        report(f"{args.name}: password_encryption is {v or 'unset'}")


# --- PGP-PG-003 ------------------------------------------------------------------------------------------
PG_003 = Rule(
    id="PGP-PG-003",
    title="TLS on, TLS 1.2 or newer",
    why="Clients and replicas must not fall back to clear text or broken TLS versions.",
    description="ssl is on and ssl_min_protocol_version is at least the configured minimum.",
    severity=Severity.HIGH,
    control="CIS PostgreSQL 6.8/6.9",
    area=AREA,
    scope="resource",
    clouds=NAMES,
    remediation="Set ssl: on, ssl_cert_file/ssl_key_file from the node's secrets, ssl_min_protocol_version: "
    "TLSv1.2 (or TLSv1.3).",
    config={"min_tls": {"type": "string", "enum": TLS_ORDER, "default": "TLSv1.2"}},
)


def _tls(args, _node, params, report) -> None:
    minimum = settings(args, PG_003)["min_tls"]
    if not truthy(params.get("ssl")):
        report(f"{args.name}: ssl is {_value(params, 'ssl') or 'unset (off)'}")
    v = _value(params, "ssl_min_protocol_version")
    if v not in TLS_ORDER or TLS_ORDER.index(v) < TLS_ORDER.index(minimum):
        report(f"{args.name}: ssl_min_protocol_version is {v or 'unset'}, minimum {minimum}")


# --- PGP-PG-004 ------------------------------------------------------------------------------------------
PG_004 = Rule(
    id="PGP-PG-004",
    title="pgAudit loaded and logging",
    why="pgAudit records who changed schema, roles and data, which plain statement logging does not attribute "
    "reliably.",
    description="pgaudit is in shared_preload_libraries and pgaudit.log names at least one class.",
    severity=Severity.HIGH,
    control="CIS PostgreSQL 3.2",
    area=AREA,
    scope="resource",
    clouds=NAMES,
    remediation="Add pgaudit to shared_preload_libraries and set pgaudit.log (e.g. 'ddl,role,write').",
)


def _pgaudit(args, _node, params, report) -> None:
    libs = [lib.strip() for lib in (_value(params, "shared_preload_libraries") or "").split(",")]
    if "pgaudit" not in libs:
        report(
            f"{args.name}: shared_preload_libraries ({', '.join(lib for lib in libs if lib) or 'empty'}) lacks pgaudit"
        )
    log = _value(params, "pgaudit.log")
    if not log or log.lower() == "none":
        report(f"{args.name}: pgaudit.log is {log or 'unset'}")


# --- PGP-PG-005 ------------------------------------------------------------------------------------------
PG_005 = Rule(
    id="PGP-PG-005",
    title="Connection, checkpoint, lock and statement logging",
    why="Incident response needs who connected from where, when, and what DDL ran; lock waits and temp files explain "
    "outages.",
    description="log_connections, log_disconnections, log_checkpoints and log_lock_waits are on, "
    "log_temp_files is 0, log_line_prefix carries time, pid, database, user, application and host, "
    "and log_statement is at least ddl.",
    severity=Severity.MEDIUM,
    control="CIS PostgreSQL 3.1.x",
    area=AREA,
    scope="resource",
    clouds=NAMES,
    remediation="Set the logging parameters in the rendered PostgreSQL parameters.",
    config={
        "required_on": {
            "type": "array",
            "items": {"type": "string"},
            "default": ["log_connections", "log_disconnections", "log_checkpoints", "log_lock_waits"],
        },
        "prefix_escapes": {
            "type": "array",
            "items": {"type": "string"},
            "default": ["%m", "%p", "%d", "%u", "%a", "%h"],
        },
        "log_statement": {"type": "array", "items": {"type": "string"}, "default": ["ddl", "mod", "all"]},
        "log_temp_files": {"type": "integer", "default": 0},
    },
)


def _logging(args, _node, params, report) -> None:
    cfg = settings(args, PG_005)
    for key in cfg["required_on"]:
        v = _value(params, key)
        # PostgreSQL 18's log_connections also takes a list of stages; any non-off value logs.
        if v is None or v.lower() in ("off", "false", "0", "no", ""):
            report(f"{args.name}: {key} is {v or 'unset (off)'}")
    temp = _value(params, "log_temp_files")
    if temp is None or temp != str(cfg["log_temp_files"]):
        report(f"{args.name}: log_temp_files is {temp or 'unset (-1)'}, expected {cfg['log_temp_files']}")
    prefix = _value(params, "log_line_prefix") or ""
    missing = [e for e in cfg["prefix_escapes"] if e not in prefix]
    if missing:
        report(f"{args.name}: log_line_prefix '{prefix}' lacks {' '.join(missing)}")
    stmt = _value(params, "log_statement")
    if stmt not in cfg["log_statement"]:
        report(
            f"{args.name}: log_statement is {stmt or 'unset (none)'}, expected one of {', '.join(cfg['log_statement'])}"
        )


# --- PGP-PG-006 ------------------------------------------------------------------------------------------
PG_006 = Rule(
    id="PGP-PG-006",
    title="WAL archiving on",
    why="Without archiving there is no point-in-time recovery and nothing reaches the WORM repository between backups.",
    description="archive_mode is on (or always) with an archive command or library, so point-in-time recovery "
    "and the WORM repository receive every WAL segment.",
    severity=Severity.CRITICAL,
    control="CIS PostgreSQL 7.4",
    area=AREA,
    scope="resource",
    clouds=NAMES,
    remediation="Set archive_mode: on and archive_command: 'pgbackrest --stanza=<scope> archive-push %p'.",
)


def _archive(args, _node, params, report) -> None:
    mode = _value(params, "archive_mode")
    if mode not in ("on", "always", "true"):
        report(f"{args.name}: archive_mode is {mode or 'unset (off)'}")
    if not (_value(params, "archive_command") or _value(params, "archive_library")):
        report(f"{args.name}: neither archive_command nor archive_library is set")


# --- PGP-PG-007 ------------------------------------------------------------------------------------------
PG_007 = Rule(
    id="PGP-PG-007",
    title="PostgreSQL listens on the node's own address",
    why="Listening on every interface exposes PostgreSQL on networks nobody reviewed.",
    description="listen_addresses (and Patroni's postgresql.listen) name the node's address, never '*' or a "
    "wildcard address.",
    severity=Severity.MEDIUM,
    control="CIS PostgreSQL 5.2",
    area=AREA,
    scope="resource",
    clouds=NAMES,
    remediation="Set listen_addresses / postgresql.listen to the member's private address.",
)
_WILDCARDS = {"*", "0.0.0.0", "::", "[::]"}


def _listen(args, node, params, report) -> None:
    addresses = [a.strip() for a in (_value(params, "listen_addresses") or "").split(",") if a.strip()]
    listen = str((node.patroni or {}).get("postgresql", {}).get("listen") or "")
    addresses += [h.strip().rsplit(":", 1)[0] for h in listen.split(",") if h.strip()]
    wild = sorted({a for a in addresses if a in _WILDCARDS})
    if wild:
        report(f"{args.name}: PostgreSQL listens on {', '.join(wild)}")


POLICIES = [
    (PG_001, resource_policy(PG_001, _postgres_rule(_hba))),
    (PG_002, resource_policy(PG_002, _postgres_rule(_scram))),
    (PG_003, resource_policy(PG_003, _postgres_rule(_tls))),
    (PG_004, resource_policy(PG_004, _postgres_rule(_pgaudit))),
    (PG_005, resource_policy(PG_005, _postgres_rule(_logging))),
    (PG_006, resource_policy(PG_006, _postgres_rule(_archive))),
    (PG_007, resource_policy(PG_007, _postgres_rule(_listen))),
]
