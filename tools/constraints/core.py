"""Cloud-neutral core of the constraint check: what a violation is, the rules a property can carry, how a rule is
bound to a recorded property path, and the registry a cloud plugs into.

A cloud plugin (tools/constraints/aws.py; Azure or GCP later) maps each resource type token to bindings: a path
into the recorded inputs (camelCase, as the engine receives them) and the rules of the API member that value
becomes, each with its source. The core walks the recorded resources, applies the bindings and returns every
violation; it knows nothing about any cloud.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache
from typing import Any, Protocol

# The engine's marker for a value not known during a preview: nothing to check.
from tools.constraints.naming import AutoName
from tools.protocol import UNKNOWN


@dataclass(frozen=True)
class Violation:
    urn: str
    type: str
    name: str  # the resource's logical name
    path: str  # property path as recorded, e.g. "healthCheck.interval", "tags.owner", "name"
    value: Any
    limit: str  # what the value must satisfy, e.g. "max length 32"
    source: str  # where the limit comes from, e.g. "botocore elbv2 CreateTargetGroupInput.Name"

    def __str__(self) -> str:
        return (
            f"{self.type} {self.name}: {self.path} = {self.value!r} ({_describe(self.value)}) violates "
            f"{self.source}: {self.limit}"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "urn": self.urn,
            "type": self.type,
            "name": self.name,
            "path": self.path,
            "value": self.value,
            "limit": self.limit,
            "source": self.source,
        }


def _describe(value: Any) -> str:
    if isinstance(value, str):
        return f"{len(value)} chars"
    if isinstance(value, (list, dict)):
        return f"{len(value)} items"
    return type(value).__name__


# --- rules ---------------------------------------------------------------------------------------------------
# A rule returns None when the value passes, else the limit it broke (short, human-readable).


class Rule(Protocol):
    def check(self, value: Any, context: Mapping[str, Any]) -> str | None: ...

    def describe(self) -> str: ...


@dataclass(frozen=True)
class Length:
    """String length (or item count for lists and maps)."""

    min: int | None = None
    max: int | None = None

    def check(self, value, context):
        if not isinstance(value, (str, list, dict)):
            return None
        n = len(value)
        if self.min is not None and n < self.min:
            return self.describe()
        if self.max is not None and n > self.max:
            return self.describe()
        return None

    def describe(self) -> str:
        if self.min is not None and self.max is not None:
            return f"length {self.min}..{self.max}" if self.min else f"max length {self.max}"
        return f"max length {self.max}" if self.max is not None else f"min length {self.min}"


@dataclass(frozen=True)
class Count(Length):
    def describe(self) -> str:
        if self.max is not None and self.min:
            return f"{self.min}..{self.max} items"
        return f"at most {self.max} items" if self.max is not None else f"at least {self.min} items"


@dataclass(frozen=True)
class Range:
    min: float | None = None
    max: float | None = None

    def check(self, value, context):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None
        if (self.min is not None and value < self.min) or (self.max is not None and value > self.max):
            return self.describe()
        return None

    def describe(self) -> str:
        lo = "-inf" if self.min is None else _num(self.min)
        hi = "inf" if self.max is None else _num(self.max)
        return f"between {lo} and {hi}"


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


@dataclass(frozen=True)
class OneOf:
    values: tuple[Any, ...]
    label: str = ""

    def check(self, value, context):
        if value is None:
            return None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            ok = any(isinstance(v, (int, float)) and math.isclose(v, value) for v in self.values)
        else:
            ok = value in self.values
        return None if ok else self.describe()

    def describe(self) -> str:
        shown = ", ".join(str(v) for v in self.values[:12])
        more = f", ... ({len(self.values)} values)" if len(self.values) > 12 else ""
        return f"one of {self.label or ''}{shown}{more}".replace("of  ", "of ")


@dataclass(frozen=True)
class Pattern:
    """The whole value must match (the services answer 'Member must satisfy regular expression pattern: ...'
    for a value that only contains a match). Java/Smithy classes \\p{L}, \\p{Z}, \\p{N} are translated."""

    pattern: str

    def check(self, value, context):
        if not isinstance(value, str):
            return None
        return None if compile_pattern(self.pattern).fullmatch(value) else self.describe()

    def describe(self) -> str:
        return f"pattern {self.pattern}"


@dataclass(frozen=True)
class Predicate:
    """A documented rule no model field expresses (e.g. 'must not begin or end with a hyphen')."""

    test: Callable[[Any], bool]
    text: str
    applies: Callable[[Any], bool] = lambda v: isinstance(v, str)

    def check(self, value, context):
        if not self.applies(value):
            return None
        return None if self.test(value) else self.text

    def describe(self) -> str:
        return self.text


@dataclass(frozen=True)
class When:
    """A rule that applies only when another input of the same resource has a value, e.g. EBS IOPS per volume
    type. `key` is a path relative to the resource's inputs (or to the enclosing object with `local=True`)."""

    key: str
    equals: tuple[Any, ...]
    rule: Any
    local: bool = False

    def check(self, value, context):
        scope = context.get("object") if self.local else context.get("inputs")
        other = _get(scope or {}, self.key)
        if other not in self.equals:
            return None
        broken = self.rule.check(value, context)
        return f"{broken} when {self.key} is {other}" if broken else None

    def describe(self) -> str:
        return f"{self.rule.describe()} when {self.key} in {self.equals}"


def _get(obj: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(obj, dict):
            return None
        obj = obj.get(part)
    return obj


# Java regular expressions (which the AWS models' patterns are) know Unicode property classes that Python's `re`
# does not: \p{L} letters, \p{Z} separators, \p{N} numbers. They are translated to explicit code point ranges,
# computed once from unicodedata.
@lru_cache(maxsize=1)
def _category_ranges() -> dict[str, str]:
    spans: dict[str, list[list[int]]] = {"L": [], "Z": [], "N": [], "M": [], "P": [], "S": [], "C": []}
    for cp in range(0x110000):
        major = unicodedata.category(chr(cp))[0]
        runs = spans.setdefault(major, [])
        if runs and runs[-1][1] == cp - 1:
            runs[-1][1] = cp
        else:
            runs.append([cp, cp])
    return {k: "".join(f"\\U{a:08x}" if a == b else f"\\U{a:08x}-\\U{b:08x}" for a, b in v) for k, v in spans.items()}


@cache
def compile_pattern(pattern: str) -> re.Pattern:
    if "\\p{" not in pattern:
        return re.compile(pattern)
    out, i, in_class = [], 0, False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and pattern.startswith("\\p{", i):
            close = pattern.index("}", i)
            ranges = _category_ranges()[pattern[i + 3 : close][0]]
            out.append(ranges if in_class else f"[{ranges}]")
            i = close + 1
            continue
        if ch == "\\":
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if ch == "[" and not in_class:
            in_class = True
        elif ch == "]" and in_class:
            in_class = False
        out.append(ch)
        i += 1
    return re.compile("".join(out))


# --- bindings ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Constraint:
    rule: Any
    source: str


@dataclass(frozen=True)
class Binding:
    """`path` selects values in the recorded inputs: dotted keys, `[]` for every list item, `{key}` / `{value}`
    for every key or value of a map (tags, dimensions). `when` limits the binding to resources whose inputs
    satisfy it (e.g. a rule's description goes to IpRanges or UserIdGroupPairs depending on the source)."""

    path: str
    constraints: tuple[Constraint, ...]
    when: Callable[[Mapping[str, Any]], bool] | None = None
    member: str = ""  # the API member the value becomes, for the coverage listing


@dataclass
class TypeConstraints:
    type: str
    api: str  # the API call(s) the type becomes, or why there is none
    bindings: list[Binding] = field(default_factory=list)
    no_cloud_api: str | None = None  # set for types that no cloud API sees (local generators, commands)

    def properties(self) -> list[str]:
        return sorted({b.path for b in self.bindings})


def select(inputs: Any, path: str) -> Iterator[tuple[str, Any, Any]]:
    """(concrete path, value, enclosing object) for every value the selector reaches."""
    parts = [p for p in re.split(r"\.(?![^{]*\})", path) if p]

    def walk(node: Any, idx: int, where: str, parent: Any) -> Iterator[tuple[str, Any, Any]]:
        if idx == len(parts):
            yield where, node, parent
            return
        part = parts[idx]
        if part in ("{key}", "{value}"):
            if isinstance(node, dict):
                for k, v in node.items():
                    if part == "{key}":
                        yield from walk(k, idx + 1, f"{where}.{k} (key)", node)
                    else:
                        yield from walk(v, idx + 1, f"{where}.{k}", node)
            return
        is_list = part.endswith("[]")
        key = part[:-2] if is_list else part
        if not isinstance(node, dict) or key not in node:
            return
        child = node[key]
        here = f"{where}.{key}" if where else key
        if is_list:
            if isinstance(child, list):
                for i, item in enumerate(child):
                    yield from walk(item, idx + 1, f"{here}[{i}]", child)
            elif isinstance(child, dict):  # a MaxItemsOne block recorded as an object
                yield from walk(child, idx + 1, here, node)
            return
        yield from walk(child, idx + 1, here, node)

    yield from walk(inputs, 0, "", None)


def _checkable(value: Any) -> bool:
    if value is None or value == UNKNOWN:
        return False
    return not (isinstance(value, str) and UNKNOWN in value)


class ResourceLike(Protocol):
    urn: str
    type: str
    name: str
    custom: bool
    inputs: dict[str, Any]
    outputs: dict[str, Any]


def check_type(tc: TypeConstraints, record: ResourceLike, values: Mapping[str, Any]) -> list[Violation]:
    found: list[Violation] = []
    for binding in tc.bindings:
        if binding.when is not None and not binding.when(values):
            continue
        for where, value, parent in select(values, binding.path):
            if not _checkable(value):
                continue
            context = {"inputs": values, "object": parent if isinstance(parent, dict) else {}}
            for constraint in binding.constraints:
                broken = constraint.rule.check(value, context)
                if broken:
                    found.append(
                        Violation(record.urn, record.type, record.name, where, value, broken, constraint.source)
                    )
    return found


# --- registry ------------------------------------------------------------------------------------------------


class CloudPlugin(Protocol):
    """What a cloud file provides. `packages` are the type-token packages it answers for ("aws", "random")."""

    name: str
    packages: Sequence[str]

    def constraints(self, type_token: str) -> TypeConstraints | None: ...

    def known_types(self) -> Iterable[str]: ...

    def values(self, record: ResourceLike) -> Mapping[str, Any]:
        """The values the API would receive, from the recorded inputs (and provider-computed names)."""
        ...


@dataclass
class BuiltPlugin:
    """A cloud file whose limits are built once, on first use, from the cloud's own models (`build`), with the
    provider's auto-naming rules beside them. `values` is the request as the provider's Check leaves it."""

    name: str
    packages: tuple[str, ...]
    build: Callable[[], dict[str, TypeConstraints]] = field(repr=False)
    autonaming: Mapping[str, AutoName] = field(default_factory=dict, repr=False)
    _types: dict[str, TypeConstraints] | None = field(default=None, repr=False)

    def _all(self) -> dict[str, TypeConstraints]:
        if self._types is None:
            self._types = self.build()
        return self._types

    def constraints(self, type_token: str) -> TypeConstraints | None:
        return self._all().get(type_token)

    def known_types(self) -> Iterable[str]:
        return self._all().keys()

    def autoname(self, type_token: str) -> AutoName | None:
        return self.autonaming.get(type_token)

    def values(self, record: ResourceLike) -> Mapping[str, Any]:
        return record.inputs


class Registry:
    def __init__(self) -> None:
        self._plugins: list[CloudPlugin] = []

    def register(self, plugin: CloudPlugin) -> None:
        self._plugins.append(plugin)

    @property
    def plugins(self) -> list[CloudPlugin]:
        return list(self._plugins)

    def _plugin_for(self, type_token: str) -> CloudPlugin | None:
        package = type_token.split(":", 1)[0]
        return next((p for p in self._plugins if package in p.packages), None)

    def lookup(self, type_token: str) -> TypeConstraints | None:
        plugin = self._plugin_for(type_token)
        return plugin.constraints(type_token) if plugin else None

    def known_types(self) -> set[str]:
        return {t for p in self._plugins for t in p.known_types()}

    def check(self, records: Iterable[ResourceLike]) -> tuple[list[Violation], list[str]]:
        """Every violation in the custom resources, and the custom types no plugin maps (uncheckable)."""
        violations: list[Violation] = []
        unmapped: set[str] = set()
        for record in records:
            if not record.custom:
                continue
            plugin = self._plugin_for(record.type)
            tc = plugin.constraints(record.type) if plugin else None
            if plugin is None or tc is None:
                unmapped.add(record.type)
                continue
            if tc.no_cloud_api:
                continue
            violations.extend(check_type(tc, record, plugin.values(record)))
        return violations, sorted(unmapped)


def format_violations(violations: Sequence[Violation]) -> str:
    lines = [f"{len(violations)} value(s) the cloud would refuse:"]
    for v in violations:
        lines.append(
            f"  - {v.type} {v.name}\n      {v.path} = {v.value!r} ({_describe(v.value)})\n      {v.source}: {v.limit}"
        )
    return "\n".join(lines)
