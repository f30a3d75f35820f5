"""PostgreSQL's own parameters per supported major, and whether a value is one the server would accept.

The catalogue (stacks/catalog/pg<major>.tsv) is what `postgres --describe-config` prints for the parameters a
configuration file may set (name, context, type, min, max), plus the unit and the enum values from the same
build's `pg_settings`; scripts/gen_pg_catalog.py writes it. It lives in stacks/ because the stack settings check
values before anything is built, and stacks/ is the layer everything else may import (tests/test_boundaries.py).

`finding` parses a value the way the server's GUC code does (guc.c parse_bool, parse_int, parse_real,
convert_to_base_unit, config_enum_lookup_by_name) and checks it against the range. What it cannot check: a
string parameter's own syntax (search_path, DateStyle ...), which the server's check hooks decide at start or
reload, and the hidden enum aliases kept for old spellings (wal_level=hot_standby, client_min_messages=debug),
which it refuses in favour of the current name. Boolean spellings of on/off enums (huge_pages=true) are accepted,
as the server does.
"""

from __future__ import annotations

import difflib
import functools
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import NamedTuple

from stacks.databases import EXTENSIONS

CATALOG_DIR = Path(__file__).resolve().parent / "catalog"
COLUMNS = ("name", "context", "type", "unit", "min", "max", "enumvals")
ENUM_SEPARATOR = "|"
# A change to a postmaster parameter takes effect at the next restart; every other context on reload (the
# backend ones for sessions started after it). `internal` parameters are fixed at build or initdb time.
RESTART_CONTEXTS = frozenset({"postmaster"})
RELOAD_CONTEXTS = frozenset({"sighup", "superuser-backend", "backend", "superuser", "user"})

# A value as a stack file gives it (YAML scalars).
Value = str | int | float | bool

# guc.c's unit tables: how many base units one unit is, per base unit, largest first (the order decides how a
# fractional value is rounded: to the next smaller unit of the same base).
_MEMORY_UNITS: tuple[str, ...] = ("TB", "GB", "MB", "kB", "B")
_MEMORY_BYTES = {"TB": 1024**4, "GB": 1024**3, "MB": 1024**2, "kB": 1024, "B": 1}
_TIME_UNITS: tuple[str, ...] = ("d", "h", "min", "s", "ms", "us")
_TIME_US = {"d": 86_400_000_000, "h": 3_600_000_000, "min": 60_000_000, "s": 1_000_000, "ms": 1000, "us": 1}
_BASE_BYTES = {"B": 1, "kB": 1024, "8kB": 8192, "MB": 1024**2}
_BASE_US = {"us": 1, "ms": 1000, "s": 1_000_000, "min": 60_000_000}
_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")
# What a C isspace() skips, which the server allows around a number and its unit.
_SPACE = " \t\n\r\f\v"
_INT = re.compile(r"[+-]?(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)")
_REAL = re.compile(r"[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|inf(?:inity)?|nan)", re.IGNORECASE)


_ROUTING = "HAProxy, PgBouncer, Patroni and pg_hba reach the server at the addresses, port and socket it sets"
_TLS = "CIS 6.8/6.9 and 7.5: TLS with the platform's certificates for every client and every standby"
_ARCHIVE = "WAL archiving to pgBackRest bounds data loss to the RPO and makes point-in-time recovery possible"
_CIS_LOG = "CIS 3.1: the platform's logging, which the policy pack checks"
_PATRONI = "Patroni sets it from the RPO (synchronous replication) and the members"
_PATRONI_FILES = "Patroni places the data directory and writes the configuration files"
# Parameters the platform sets for a safety reason (dataplane/postgresql.py renders them, Patroni owns the
# replication and file ones), with the reason a stack cannot override them. pg-platform:postgresql.parameters
# refuses them on every cloud; CloudNativePG's own (dataplane.cnpg.OPERATOR_OWNED_PARAMETERS) are all among them.
PLATFORM_OWNED: Mapping[str, str] = {
    "listen_addresses": _ROUTING,
    "port": _ROUTING,
    "unix_socket_directories": _ROUTING,
    "unix_socket_permissions": _ROUTING,
    "unix_socket_group": _ROUTING,
    "cluster_name": "it is the Patroni scope the runbooks, metrics and process titles identify the cluster by",
    "max_connections": "PgBouncer's pools and every role's connection limit (CIS 5.5) are sized on it, from the "
    "node size",
    "superuser_reserved_connections": "it keeps connections for Patroni and pgBackRest, and PgBouncer's pools are "
    "sized on what is left",
    **dict.fromkeys(
        (
            "ssl",
            "ssl_ca_file",
            "ssl_cert_file",
            "ssl_key_file",
            "ssl_crl_file",
            "ssl_crl_dir",
            "ssl_ciphers",
            "ssl_ecdh_curve",
            "ssl_dh_params_file",
            "ssl_min_protocol_version",
            "ssl_max_protocol_version",
            "ssl_prefer_server_ciphers",
            "ssl_passphrase_command",
            "ssl_passphrase_command_supports_reload",
        ),
        _TLS,
    ),
    "password_encryption": "passwords are stored as SCRAM-SHA-256 only, which pg_hba's scram-sha-256 lines need",
    **dict.fromkeys(
        ("archive_mode", "archive_command", "archive_library", "archive_timeout", "restore_command"), _ARCHIVE
    ),
    "archive_cleanup_command": "pgBackRest expires WAL with the backups it keeps (objectives.retention_days)",
    "wal_level": "streaming replication and pgBackRest need replica",
    "wal_log_hints": "pg_rewind needs it to turn a failed primary into a standby after a failover",
    "shared_preload_libraries": (
        "pgaudit (CIS 3.2) and pg_stat_statements are loaded by the platform, and the libraries of the extensions "
        "listed under postgresql.databases (declare the extension there)"
    ),
    **{
        e.database_parameter: f"{e.name}'s database is the one whose postgresql.databases entry lists {e.name}"
        for e in EXTENSIONS.values()
        if e.database_parameter
    },
    **dict.fromkeys(
        (
            "logging_collector",
            "log_destination",
            "log_directory",
            "log_filename",
            "log_file_mode",
            "log_truncate_on_rotation",
            "log_rotation_age",
            "log_rotation_size",
            "log_connections",
            "log_disconnections",
            "log_checkpoints",
            "log_lock_waits",
            "log_temp_files",
            "log_line_prefix",
            "log_statement",
            "log_min_messages",
            "log_min_error_statement",
            "log_error_verbosity",
            "log_replication_commands",
            "log_timezone",
        ),
        _CIS_LOG,
    ),
    **dict.fromkeys(("pgaudit.log", "pgaudit.log_catalog", "pgaudit.log_relation", "pgaudit.log_parameter"), _CIS_LOG),
    **dict.fromkeys(
        (
            "synchronous_standby_names",
            "hot_standby",
            "max_wal_senders",
            "max_replication_slots",
            "wal_keep_size",
        ),
        _PATRONI,
    ),
    "synchronous_commit": "a commit waits for the synchronous standby only with it on, which an RPO of 0 needs",
    **dict.fromkeys(("data_directory", "config_file", "hba_file", "ident_file"), _PATRONI_FILES),
}


@dataclass(frozen=True)
class ParameterSpec:
    name: str  # as the server spells it (DateStyle, TimeZone); names match case-insensitively
    context: str  # postmaster, sighup, superuser-backend, backend, superuser, user
    type: str  # BOOLEAN, INTEGER, REAL, STRING, ENUM
    unit: str  # the base unit of INTEGER and REAL values ('8kB', 'ms', ...), '' for none
    minimum: float | None
    maximum: float | None
    values: tuple[str, ...]  # an ENUM's allowed values

    @property
    def needs_restart(self) -> bool:
        """True when a change takes effect only after a restart (else a reload applies it)."""
        return self.context in RESTART_CONTEXTS


class Finding(NamedTuple):
    message: str
    fix: str


def catalog_path(major: int) -> Path:
    return CATALOG_DIR / f"pg{major}.tsv"


def _number(text: str) -> float | None:
    return float(text) if text else None


@functools.cache
def catalog(major: int) -> Mapping[str, ParameterSpec]:
    """The parameters of `major`, by lower-case name (the server folds names); read-only, as it is cached."""
    lines = [line for line in catalog_path(major).read_text().splitlines() if not line.startswith("#")]
    if tuple(lines[0].split("\t")) != COLUMNS:
        raise ValueError(f"{catalog_path(major)}: header is not {COLUMNS}")
    specs = {}
    for line in lines[1:]:
        name, context, vartype, unit, minimum, maximum, enums = line.split("\t")
        values = tuple(enums.split(ENUM_SEPARATOR)) if enums else ()
        specs[name.lower()] = ParameterSpec(name, context, vartype, unit, _number(minimum), _number(maximum), values)
    return MappingProxyType(specs)


def spec_of(major: int, name: str) -> ParameterSpec | None:
    return catalog(major).get(name.lower())


def as_text(value: Value) -> str:
    """The value as the server reads it from postgresql.conf (YAML booleans are on/off)."""
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def _bool(text: str) -> bool | None:
    """guc.c parse_bool: a case-insensitive prefix of true/false/yes/no, on/off (two letters at least), 1/0."""
    lowered = text.lower()
    if not lowered:
        return None
    for word, result in (("true", True), ("false", False), ("yes", True), ("no", False)):
        if word.startswith(lowered):
            return result
    if len(lowered) >= 2 and "on".startswith(lowered):
        return True
    if len(lowered) >= 2 and "off".startswith(lowered):
        return False
    return {"1": True, "0": False}.get(lowered)


def _in_base_units(number: float, unit: str, base: str) -> float | None:
    """guc.c convert_to_base_unit: `number` of `unit` in `base` units, None if the unit does not apply."""
    if base in _BASE_BYTES:
        names, sizes, base_size = _MEMORY_UNITS, _MEMORY_BYTES, _BASE_BYTES[base]
    elif base in _BASE_US:
        names, sizes, base_size = _TIME_UNITS, _TIME_US, _BASE_US[base]
    else:
        return None
    if unit not in names:
        return None
    value = number * sizes[unit] / base_size
    # A fractional value ("30.1GB") is rounded to a whole number of the next smaller unit.
    smaller = names[names.index(unit) + 1] if unit != names[-1] else None
    if smaller is not None:
        step = sizes[smaller] / base_size
        value = _rint(value / step) * step
    return value


def _rint(value: float) -> float:
    """C rint() in the default rounding mode: halves go to the even neighbour, as Python's round() does."""
    return float(round(value)) if math.isfinite(value) else value


def _split_number(text: str, integer: bool) -> tuple[float, str] | None:
    """The leading number (strtol base 0 for integers, falling back to strtod as the server does) and the rest."""
    body = text.lstrip(_SPACE)
    match = _INT.match(body) if integer else None
    if match and body[match.end() : match.end() + 1] not in (".", "e", "E"):
        digits = match.group(0)
        sign = -1 if digits.startswith("-") else 1
        digits = digits.lstrip("+-")
        if digits[:2].lower() == "0x":
            number = int(digits[2:], 16)
        elif digits.startswith("0") and len(digits) > 1:
            number = int(digits, 8)
        else:
            number = int(digits)
        return float(sign * number), body[match.end() :]
    match = _REAL.match(body)
    if not match:
        return None
    return float(match.group(0)), body[match.end() :]


def _numeric(spec: ParameterSpec, text: str) -> float | Finding:
    """The value in the parameter's base unit, or why the server would refuse it."""
    integer = spec.type == "INTEGER"
    kind = "an integer" if integer else "a number"
    in_range = f"set {spec.name} to a value in {_range_text(spec)}"
    split = _split_number(text, integer)
    if split is None or math.isnan(split[0]):
        if spec.unit:
            units = _units_for(spec.unit)
            return Finding(f"must be {kind}, with or without a unit", f"{in_range}, or with a unit: {'/'.join(units)}")
        return Finding(f"must be {kind}", in_range)
    number, rest = split
    unit = rest.strip(_SPACE)
    if unit:
        converted = _in_base_units(number, unit, spec.unit) if spec.unit else None
        if converted is None:
            if not spec.unit:
                return Finding(f"must be {kind} without a unit ({spec.name} has none)", in_range)
            units = _units_for(spec.unit)
            return Finding(
                f"has unit {unit!r}, which is not one of {spec.name}'s units (case matters)",
                f"write the unit as one of {', '.join(units)}, e.g. {_format(number)}{_closest(unit, units)}",
            )
        number = converted
    return _rint(number) if integer else number


def _closest(unit: str, units: tuple[str, ...]) -> str:
    folded = [u for u in units if u.lower() == unit.lower()]
    return folded[0] if folded else (difflib.get_close_matches(unit, units, n=1) or units[0:1])[0]


def _units_for(base: str) -> tuple[str, ...]:
    return _MEMORY_UNITS if base in _BASE_BYTES else _TIME_UNITS


def _format(number: float) -> str:
    return str(int(number)) if number.is_integer() else repr(number)


def _range_text(spec: ParameterSpec) -> str:
    assert spec.minimum is not None and spec.maximum is not None
    unit = f" (in units of {spec.unit})" if spec.unit else ""
    return f"{_format(spec.minimum)}..{_format(spec.maximum)}{unit}"


def _enum_values(spec: ParameterSpec) -> tuple[str, ...]:
    """The values the server accepts for an enum: the listed ones, and boolean spellings where on/off are listed."""
    listed = tuple(v.lower() for v in spec.values)
    if "on" in listed and "off" in listed:
        return (*listed, *(v for v in (*_TRUE, *_FALSE) if v not in listed))
    return listed


def finding(major: int, name: str, value: Value) -> Finding | None:
    """Why PostgreSQL `major` would refuse `name = value` in postgresql.conf, with the fix; None if it accepts it."""
    known = catalog(major)
    spec = known.get(name.lower())
    if spec is None and "." in name:
        return Finding(
            f"is a parameter of the extension {name.partition('.')[0]!r}, which PostgreSQL's own list does not have",
            "remove it: extension parameters are not stack settings",
        )
    if spec is None:
        close = difflib.get_close_matches(name.lower(), known, n=3)
        return Finding(
            f"is not a parameter of PostgreSQL {major}",
            f"did you mean {' or '.join(known[c].name for c in close)}?"
            if close
            else f"remove it; `postgres --describe-config` of PostgreSQL {major} lists the parameters",
        )
    if spec.context not in RESTART_CONTEXTS | RELOAD_CONTEXTS:
        return Finding(f"cannot be set ({spec.context} parameter)", "remove it")
    text = as_text(value)
    if spec.type == "BOOLEAN":
        if _bool(text) is None:
            return Finding("must be a boolean", f"set {spec.name} to on or off")
        return None
    if spec.type == "ENUM":
        if text.lower() not in _enum_values(spec):
            close = difflib.get_close_matches(text.lower(), spec.values, n=1)
            return Finding(
                f"is not a value of {spec.name}",
                (f"did you mean {close[0]}? " if close else "") + f"use one of: {', '.join(spec.values)}",
            )
        return None
    if spec.type in ("INTEGER", "REAL"):
        number = _numeric(spec, text)
        if isinstance(number, Finding):
            return number
        assert spec.minimum is not None and spec.maximum is not None
        if not spec.minimum <= number <= spec.maximum:
            plain = text.strip(_SPACE) == _format(number)
            shown = f": {text.strip(_SPACE)} is {_format(number)}" if spec.unit and not plain else ""
            return Finding(
                f"is out of range {_range_text(spec)}{shown}",
                f"set {spec.name} to a value in {_range_text(spec)}",
            )
        return None
    return None  # STRING: the server's own check hook decides its syntax


def problem(major: int, name: str, value: Value) -> str | None:
    """Why PostgreSQL `major` would refuse `name = value`, or None."""
    found = finding(major, name, value)
    return found.message if found else None
