"""The pg-platform policy pack's rules, grouped by concern. `__main__.py` only builds the PolicyPack from
`POLICIES`; `RULES` is the same list's metadata (docs and tests read it)."""
from __future__ import annotations

from . import compute, governance, ha, iam, monitoring, network, postgres, storage
from .core import DEFAULT_ENFORCEMENT, PACK_NAME, Rule

_MODULES = (network, storage, compute, iam, ha, postgres, monitoring, governance)
_PAIRS = [pair for module in _MODULES for pair in module.POLICIES]

RULES: list[Rule] = [rule for rule, _ in _PAIRS]
POLICIES = [policy for _, policy in _PAIRS]

assert len({r.id for r in RULES}) == len(RULES), "rule ids must be unique"

__all__ = ["DEFAULT_ENFORCEMENT", "PACK_NAME", "POLICIES", "RULES", "Rule"]
