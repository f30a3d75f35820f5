"""The pg-platform policy pack's rules: those every cloud shares (they ask the cloud's adapter for its facts),
then each cloud's own families. `__main__.py` only builds the PolicyPack from `POLICIES`; `RULES` is the same
list's metadata (docs and tests read it)."""

from __future__ import annotations

import importlib

from . import backup, boot, governance, ha, monitoring, postgres
from .clouds import CLOUD_PACKAGES
from .clouds import NAMES as CLOUD_NAMES
from .core import DEFAULT_ENFORCEMENT, PACK_NAME, Rule

SHARED = (ha, postgres, backup, boot, monitoring, governance)
_SHARED_PAIRS = [pair for module in SHARED for pair in module.POLICIES]
# cloud name -> its families' rules, from each cloud package's `rules` module.
_CLOUD_RULES = [importlib.import_module(f".{name}.rules", __package__) for name in CLOUD_PACKAGES]
CLOUD_PAIRS = {module.CLOUD: module.POLICIES for module in _CLOUD_RULES}
_PAIRS = _SHARED_PAIRS + [pair for pairs in CLOUD_PAIRS.values() for pair in pairs]

RULES: list[Rule] = [rule for rule, _ in _PAIRS]
POLICIES = [policy for _, policy in _PAIRS]
SHARED_RULES: list[Rule] = [rule for rule, _ in _SHARED_PAIRS]

assert len({r.id for r in RULES}) == len(RULES), "rule ids must be unique"
assert set(CLOUD_PAIRS) == set(CLOUD_NAMES), "every cloud with an adapter has its rule families, and only those"
_PREFIXES = tuple(f"PGP-{name.upper()}-" for name in CLOUD_NAMES)
assert all(not r.id.startswith(_PREFIXES) and r.clouds == CLOUD_NAMES for r in SHARED_RULES), "shared ids name no cloud"
assert all(
    r.id.startswith(f"PGP-{name.upper()}-") and r.clouds == (name,)
    for name, pairs in CLOUD_PAIRS.items()
    for r, _ in pairs
), "a cloud's rule ids start PGP-<CLOUD>-"

__all__ = [
    "CLOUD_NAMES",
    "CLOUD_PAIRS",
    "DEFAULT_ENFORCEMENT",
    "PACK_NAME",
    "POLICIES",
    "RULES",
    "SHARED_RULES",
    "Rule",
]
