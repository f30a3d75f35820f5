"""Physical names the providers choose before any API call, emulated offline and deterministically.

Two mechanisms, both cloud-neutral; a cloud file says which resource property uses which (tools/constraints/aws.py):

* Pulumi auto-naming (pulumi-terraform-bridge `info.ComputeAutoNameDefault`, with the engine's default autonaming
  configuration, i.e. no `pulumi:autonaming` in the stack): when the user gave neither the property nor the
  property that Terraform declares `ConflictsWith` it (the name prefix), the bridge's Check sets
  `<transform(URN name)><separator><randlen random chars>` through `resource.NewUniqueName`, which fails Check
  with "name '<prefix>' plus <n> random chars is longer than maximum length <maxlen>" when the bridge configures a
  maximum and the result would exceed it. The value is part of the checked inputs the engine stores.
* Terraform's `name_prefix`: the bridge adds nothing (ConflictsWith), and the Terraform provider picks the name at
  Create with `create.Name` -> `id.PrefixedUniqueId(prefix)`: prefix + 26 characters (a 18-digit UTC timestamp
  with four fractional digits and an 8-hex-digit counter). It is known only after create, so it appears in the
  outputs, not the inputs.

The random parts come from a hash of the URN, so plans are identical between runs and diff cleanly.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

HEX = "0123456789abcdef"
PREFIXED_UNIQUE_ID_LENGTH = 26


def deterministic_chars(seed: str, count: int, charset: str = HEX, salt: str = "") -> str:
    """`count` characters of `charset`, a pure function of the seed (a URN) and salt."""
    out: list[str] = []
    block = 0
    while len(out) < count:
        digest = hashlib.sha256(f"{salt}\0{seed}\0{block}".encode()).digest()
        out.extend(charset[b % len(charset)] for b in digest)
        block += 1
    return "".join(out[:count])


def prefixed_unique_id(prefix: str, seed: str) -> str:
    """Terraform `id.PrefixedUniqueId`: prefix + YYYYMMDDHHMMSS + 4 fractional digits + 8 hex counter digits,
    with a fixed date and hash-derived digits instead of the clock and process counter."""
    digits = deterministic_chars(seed, 10, "0123456789", "tf-time")
    timestamp = "2026" + "0101" + digits[:6] + digits[6:10]  # 18 digits
    counter = deterministic_chars(seed, 8, HEX, "tf-counter")
    return prefix + timestamp + counter


@dataclass(frozen=True)
class AutoName:
    """One auto-named property, with the bridge's AutoNameOptions as the provider configures them."""

    property: str  # Pulumi input property, e.g. "name", "bucket"
    maxlen: int | None  # None: no maximum configured (Randlen only)
    source: str  # where the provider configures it
    separator: str = "-"
    randlen: int = 7
    charset: str = HEX
    transform: Callable[[str], str] | None = None  # applied to the URN name before the suffix
    post_transform: Callable[[str, Mapping[str, Any]], str] | None = None
    prefix_property: str | None = None  # Terraform's name_prefix (ConflictsWith the name): no auto-name
    prefix_source: str = ""


@dataclass(frozen=True)
class Named:
    property: str
    value: str
    in_inputs: bool  # True: the bridge's Check adds it to the inputs; False: known after create
    how: str  # one line saying which mechanism produced it
    failure: str | None = None  # the provider's Check error, when it refuses to produce the name


def _given(inputs: Mapping[str, Any], key: str | None) -> bool:
    if not key:
        return False
    return inputs.get(key) not in (None, "")


def compute(rule: AutoName, urn: str, inputs: Mapping[str, Any]) -> Named | None:
    """The name the provider would use, or None when the program gave it."""
    if _given(inputs, rule.property):
        return None
    if rule.prefix_property and _given(inputs, rule.prefix_property):
        prefix = str(inputs[rule.prefix_property])
        return Named(
            rule.property,
            prefixed_unique_id(prefix, urn),
            False,
            f"{rule.prefix_property} {prefix!r} + {PREFIXED_UNIQUE_ID_LENGTH} characters "
            f"({rule.prefix_source or 'terraform id.PrefixedUniqueId'})",
        )
    logical = urn.rsplit("::", 1)[-1]
    base = rule.transform(logical) if rule.transform else logical
    prefix = base + rule.separator
    value = prefix + deterministic_chars(urn, rule.randlen, rule.charset, "autoname")
    failure = None
    if rule.maxlen and len(prefix) + rule.randlen > rule.maxlen:
        failure = f"name '{prefix}' plus {rule.randlen} random chars is longer than maximum length {rule.maxlen}"
    elif rule.post_transform:
        value = rule.post_transform(value, inputs)
    return Named(
        rule.property,
        value,
        True,
        f"auto-named: URN name + {rule.separator!r} + {rule.randlen} random chars ({rule.source})",
        failure,
    )
