"""Stage profiles: the defaults a stage starts from, defined once.

A stack file states its objectives; the profile fills what it leaves out and decides how strictly the
stage is governed (policy enforcement, protect, lock mode). A stage is named freely (int, staging, qa) and
inherits one profile (`pg-platform:profile`, by default the profile it is named after); the policy pack's
config follows the profile (policy/config/<profile>.json).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

LockMode = Literal["COMPLIANCE", "GOVERNANCE"]
Enforcement = Literal["mandatory", "advisory"]


@dataclass(frozen=True)
class StageProfile:
    name: str
    node_count: int
    rpo_seconds: int
    rto_seconds: int
    retention_days: int
    worm_days: int
    lock_mode: LockMode
    policy_enforcement: Enforcement
    protect_stateful: bool
    allow_world_allowlist: bool
    # The shortest retention the stage's policy pack config accepts (PGP-BAK-001, pinned by
    # tests/policy/test_pack_metadata.py): refused here first, so the error names the setting.
    min_retention_days: int
    # Days between scheduled restore drills on the cluster (dataplane/restore_drill.py): 1 or 7.
    restore_drill_days: int
    # Whether a stage may turn its backups off (pg-platform:backups.enabled: false): a throwaway dev database may
    # go without WAL archive and scheduled backups, a governed one never (the pack's PGP-BAK-002 agrees).
    backups_optional: bool


PROFILES: dict[str, StageProfile] = {
    "dev": StageProfile(
        name="dev",
        node_count=1,
        rpo_seconds=300,
        rto_seconds=3600,
        retention_days=7,
        worm_days=2,
        lock_mode="GOVERNANCE",
        policy_enforcement="advisory",
        protect_stateful=False,
        allow_world_allowlist=True,
        min_retention_days=7,
        restore_drill_days=7,
        backups_optional=True,
    ),
    "prod": StageProfile(
        name="prod",
        node_count=3,
        rpo_seconds=0,
        rto_seconds=35,
        retention_days=30,
        worm_days=14,
        lock_mode="COMPLIANCE",
        policy_enforcement="mandatory",
        protect_stateful=True,
        allow_world_allowlist=False,
        min_retention_days=30,
        restore_drill_days=1,
        backups_optional=False,
    ),
}


def inherited_profile(stage: object, profile: object = None) -> str | None:
    """The name of the profile a stage inherits: the one `pg-platform:profile` names, else the stage's own name
    (whether a profile has that name is checked by the settings)."""
    chosen = stage if profile is None else profile
    return chosen if isinstance(chosen, str) else None
