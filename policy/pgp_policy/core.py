"""Rule metadata and the two constructors every rule module uses.

A rule is declared once: its id becomes the CrossGuard policy name (what the engine reports), its thresholds
live only in its config schema defaults (the engine fills them in before Configure; `settings` falls back to
them for callers that do not), and the rule table in docs/policy.md is rendered from the same metadata.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pulumi_policy import (
    PolicyComplianceFramework,
    PolicyConfigSchema,
    ResourceValidationPolicy,
    Severity,
    StackValidationPolicy,
)

PACK_NAME = "pg-platform"
# Without a stage config the gate fails closed; policy/config/dev.json relaxes it to advisory.
DEFAULT_ENFORCEMENT = "mandatory"


@dataclass(frozen=True)
class Rule:
    # Stable, never reused for another check: PGP-<AREA>-<NNN> for a rule every cloud shares (through its
    # adapter), PGP-<CLOUD>-<FAMILY>-<NNN> for a rule of one cloud's own service (PGP-AWS-S3-001).
    id: str
    title: str
    why: str  # the risk it removes, for reviewers and docs/policy.md
    description: str
    severity: Severity
    control: str  # what it enforces: CIS PostgreSQL section, checkov id or seed requirement
    remediation: str
    area: str  # module / concern, also the docs grouping
    scope: str  # "resource" or "stack"
    clouds: tuple[str, ...]  # its cloud, or for a shared rule every cloud with an adapter (clouds.NAMES)
    config: dict[str, dict[str, Any]] = field(default_factory=dict)  # JSON schema per threshold, with default

    def defaults(self) -> dict[str, Any]:
        return {k: v["default"] for k, v in self.config.items() if "default" in v}


def _framework(control: str) -> PolicyComplianceFramework:
    if control.startswith("CIS"):
        return PolicyComplianceFramework(name="CIS PostgreSQL Benchmark", reference=control)
    if "CKV" in control:
        return PolicyComplianceFramework(name="checkov", reference=control)
    return PolicyComplianceFramework(name="pg-platform seed requirements", reference=control)


def settings(args: Any, rule: Rule) -> dict[str, Any]:
    """Thresholds for this evaluation: schema defaults overlaid with whatever the engine configured."""
    merged = rule.defaults()
    merged.update(_integral(dict(args.get_config() or {})))
    return merged


def _integral(value: Any) -> Any:
    """Config crosses the wire as a protobuf Struct, where every number is a double: 3 arrives as 3.0."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _integral(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_integral(v) for v in value]
    return value


def _common(rule: Rule) -> dict[str, Any]:
    return dict(
        description=rule.description,
        config_schema=PolicyConfigSchema(properties=rule.config) if rule.config else None,
        display_name=rule.title,
        severity=rule.severity,
        framework=_framework(rule.control),
        tags=[rule.area, *rule.clouds],
        remediation_steps=rule.remediation,
    )


def resource_policy(rule: Rule, validate: Callable[[Any, Callable[..., None]], None]) -> ResourceValidationPolicy:
    assert rule.scope == "resource", rule.id
    return ResourceValidationPolicy(name=rule.id, validate=validate, **_common(rule))


def stack_policy(rule: Rule, validate: Callable[[Any, Callable[..., None]], None]) -> StackValidationPolicy:
    assert rule.scope == "stack", rule.id
    return StackValidationPolicy(name=rule.id, validate=validate, **_common(rule))


# --- reading properties -----------------------------------------------------------------------------------


def plain(value: Any) -> Any:
    """Proxies from the SDK to plain dicts/lists. Touching an unknown raises UnknownValueError, which the SDK
    turns into an advisory 'cannot run during preview' diagnostic, as the engine does."""
    if isinstance(value, (str, bytes)):
        return value
    if isinstance(value, Mapping):
        return {k: plain(value[k]) for k in value}
    if isinstance(value, Sequence):
        return [plain(v) for v in value]
    return value


def dig(value: Any, *path: str | int, default: Any = None) -> Any:
    for key in path:
        if isinstance(key, int):
            if not isinstance(value, Sequence) or isinstance(value, str) or len(value) <= key:
                return default
            value = value[key]
        else:
            if not isinstance(value, Mapping) or key not in value:
                return default
            value = value[key]
        if value is None:
            return default
    return value


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, (str, Mapping)):
        return [value]
    return list(value)


def truthy(value: Any) -> bool:
    """PostgreSQL/Patroni booleans arrive as bools, 'on'/'off', 'true'/'false', 1/0."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value != 0
    if isinstance(value, str):
        return value.strip().strip("'\"").lower() in ("on", "true", "yes", "1")
    return False


def stack_config(key: str) -> Any:
    """A value of the stack's own configuration, which the engine hands a policy pack in PULUMI_CONFIG
    (namespaced keys, structured values JSON-encoded). None when absent."""
    raw = os.environ.get("PULUMI_CONFIG")
    if not raw:
        return None
    try:
        config = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(config, dict):
        return None
    # Older CLIs write `<namespace>:config:<key>`; the engine accepts both spellings.
    namespace, _, name = key.partition(":")
    value = config.get(key, config.get(f"{namespace}:config:{name}"))
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def short(urn: str) -> str:
    """type::name of a URN (without the parent type chain), for messages."""
    parts = urn.split("::")
    return f"{parts[-2].split('$')[-1]}::{parts[-1]}" if len(parts) >= 2 else urn
