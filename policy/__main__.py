"""Entry point the engine runs (`python -m pulumi.policy <engine> .` in this directory): build the pack and
serve it. Rules live in pgp_policy/; stage enforcement comes from config/<stage>.json."""

from pgp_policy import CLOUD_NAMES, DEFAULT_ENFORCEMENT, PACK_NAME, POLICIES
from pulumi_policy import EnforcementLevel, PolicyPack

PolicyPack(
    name=PACK_NAME,
    policies=POLICIES,
    enforcement_level=EnforcementLevel(DEFAULT_ENFORCEMENT),
    description="pg-platform compliance gate: network, WORM backups, compute, IAM, HA, PostgreSQL hardening, "
    "monitoring, tagging, protect.",
    # The pack's metadata names one provider; a pack spanning several clouds names none and tags them all.
    provider=CLOUD_NAMES[0] if len(CLOUD_NAMES) == 1 else None,
    tags=["postgresql", "patroni", *CLOUD_NAMES],
)
