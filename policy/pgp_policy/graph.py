"""Relationships between resources in a stack validation: which resource a property points at.

The engine gives each resource its property dependencies (property -> URNs); that is the link a program cannot
fake with a matching string, so it comes first. A literal value equal to the target's physical name (a bucket
passed by name) is accepted as well.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

NAME_KEYS = ("bucket", "name", "id", "arn")


def of_type(resources: Iterable[Any], *types: str) -> list[Any]:
    return [r for r in resources if r.resource_type in types]


def points_at(res: Any, prop: str, target: Any) -> bool:
    deps = res.property_dependencies.get(prop) or []
    if any(d is target or d.urn == target.urn for d in deps):
        return True
    if deps:
        return False
    value = res.props.get(prop) if prop in res.props else None
    if isinstance(value, str) and value:
        for key in NAME_KEYS:
            if key in target.props and target.props.get(key) == value:
                return True
    return False


def referrers(resources: Iterable[Any], type_token: str, prop: str, target: Any) -> list[Any]:
    return [r for r in resources if r.resource_type == type_token and points_at(r, prop, target)]
