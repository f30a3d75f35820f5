"""Reading one stack's settings while collecting every problem, so one run reports all of them.

Shared by the cloud-neutral settings (stacks/settings.py) and each cloud's section (stacks/clouds/<cloud>.py).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from stacks.errors import Problem

NAMESPACE = "pg-platform"

_INTEGER = re.compile(r"[-+]?[0-9]{1,18}")
_DIGITS = re.compile(r"[-+]?[0-9]+")

T = TypeVar("T")


class Reader:
    """Collects problems while reading; every check returns None (or an empty value) for a bad value."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def fail(self, key: str, value: object, message: str, fix: str) -> None:
        self.problems.append(Problem(f"{NAMESPACE}:{key}", value, message, fix))

    def mapping(self, key: str, value: object, allowed: Sequence[str]) -> dict[str, Any]:
        """A mapping with only `allowed` keys (null is an empty one); anything else reads as empty."""
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            self.fail(key, value, "must be a mapping", f"write {key} as a YAML mapping with keys {', '.join(allowed)}")
            return {}
        self._unknown_keys(key, value, allowed)
        return dict(value)

    def entry(self, key: str, value: object, allowed: Sequence[str]) -> dict[str, Any] | None:
        """A list entry: a non-empty mapping with only `allowed` keys, or None (reported)."""
        if not isinstance(value, Mapping) or not value:
            self.fail(key, value, "must be a mapping", f"write {key} as a YAML mapping with keys {', '.join(allowed)}")
            return None
        self._unknown_keys(key, value, allowed)
        return dict(value)

    def _unknown_keys(self, key: str, value: Mapping[Any, Any], allowed: Sequence[str]) -> None:
        for unknown in sorted(set(value) - set(allowed), key=str):
            self.fail(
                f"{key}.{unknown}", value[unknown], "unknown key", f"remove it or use one of: {', '.join(allowed)}"
            )

    def integer(self, key: str, value: object, minimum: int, maximum: int) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int):
            text = value.strip() if isinstance(value, str) else None
            if text is not None and _INTEGER.fullmatch(text):
                value = int(text)
            elif text is not None and _DIGITS.fullmatch(text):
                self.fail(
                    key, value, f"out of range {minimum}..{maximum}", f"set a value between {minimum} and {maximum}"
                )
                return None
            else:
                self.fail(key, value, "must be a whole number", f"set an integer between {minimum} and {maximum}")
                return None
        if not minimum <= value <= maximum:
            self.fail(key, value, f"out of range {minimum}..{maximum}", f"set a value between {minimum} and {maximum}")
            return None
        return value

    def boolean(self, key: str, value: object) -> bool | None:
        if not isinstance(value, bool):
            self.fail(key, value, "must be true or false", f"set {key} to true or false")
            return None
        return value

    def string(
        self,
        key: str,
        value: object,
        check: Callable[[str], bool] | None = None,
        expected: str = "a non-empty string",
    ) -> str | None:
        if not isinstance(value, str) or not value.strip() or (check and not check(value)):
            self.fail(key, value, f"must be {expected}", f"set {key} to {expected}")
            return None
        return value

    def choice(self, key: str, value: object, options: Sequence[T]) -> T | None:
        for option in options:
            if value == option:
                return option
        self.fail(key, value, "is not supported", f"use one of: {', '.join(map(str, options))}")
        return None

    def cidr(self, key: str, value: object) -> str | None:
        """An IPv4 network: the platform's network, its routes and its firewall rules are IPv4 only."""
        try:
            network = ipaddress.ip_network(str(value), strict=True)
        except ValueError as exc:
            self.fail(
                key, value, f"is not a valid CIDR ({exc})", "write a network address with prefix, e.g. 10.40.0.0/16"
            )
            return None
        if network.version != 4:
            self.fail(
                key,
                value,
                "is an IPv6 network, but the platform VPC, its routes and its security group rules are IPv4 only",
                "list IPv4 networks, e.g. 10.50.0.0/16",
            )
            return None
        return str(network)

    def listing(self, key: str, value: object) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, list):
            self.fail(key, value, "must be a list", f"write {key} as a YAML list")
            return []
        return value
