"""Ownership and lifecycle: required tags on everything taggable, `protect` on stateful resources. Shared by
every cloud: its adapter says which types take tags, how a resource's effective tags are found, and which types
hold data."""

from __future__ import annotations

from pulumi_policy import Severity

from .clouds import CLOUDS, NAMES, cloud_for
from .core import Rule, resource_policy, settings, short, stack_config, stack_policy

TAG_001 = Rule(
    id="PGP-TAG-001",
    title="Required tags",
    why="Ownership, cost and data classification must be answerable for every resource, and stage tags drive access "
    "policies.",
    description="Every taggable resource carries the required tags (its own or the provider's default tags), "
    "data-classification has an allowed value and stage matches the stack's stage.",
    severity=Severity.MEDIUM,
    control="seed: tags stage, owner, cost-center, data-classification",
    area="tagging",
    scope="resource",
    clouds=NAMES,
    remediation="Set pg-platform:tags in the stack file; components pass them to every child (or the provider's "
    "default_tags).",
    config={
        "required_tags": {
            "type": "array",
            "items": {"type": "string"},
            "default": ["stage", "owner", "cost-center", "data-classification"],
        },
        "classifications": {
            "type": "array",
            "items": {"type": "string"},
            "default": ["public", "internal", "confidential", "restricted"],
        },
    },
)


def _tags(args, report) -> None:
    cloud = cloud_for(args.resource_type)
    if cloud is None or args.resource_type not in cloud.taggable:
        return
    cfg = settings(args, TAG_001)
    tags = cloud.tags(args.props, args.provider)
    missing = [t for t in cfg["required_tags"] if not str(tags.get(t) or "").strip()]
    if missing:
        report(f"{args.name}: missing tag(s) {', '.join(missing)}")
    cls = tags.get("data-classification")
    if cls and cls not in cfg["classifications"]:
        report(f"{args.name}: data-classification {cls!r} is not one of {', '.join(cfg['classifications'])}")
    stage = stack_config("pg-platform:stage")
    if stage and tags.get("stage") and tags["stage"] != stage:
        report(f"{args.name}: tag stage={tags['stage']!r} but the stack's stage is {stage!r}")


PRT_001 = Rule(
    id="PGP-PRT-001",
    title="Stateful resources protected",
    why="`pulumi destroy` or an unintended replacement must not delete data volumes, backups, keys or secrets in prod.",
    description="Volumes, buckets, KMS keys, secrets and instances carrying data volumes have `protect` set, so "
    "an accidental destroy or replacement cannot delete data.",
    severity=Severity.HIGH,
    control="CKV_AWS_293/139 (by analogy: deletion protection); seed: protect in prod",
    area="protect",
    scope="stack",
    clouds=NAMES,
    remediation="Pass opts=ResourceOptions(protect=True) to stateful children (the profile's protect_stateful).",
    config={
        "stateful_types": {
            "type": "array",
            "items": {"type": "string"},
            "default": [t for cloud in CLOUDS for t in cloud.stateful_types],
        },
        "protect_instances_with_data_volumes": {"type": "boolean", "default": True},
    },
)


def _protected(args, report) -> None:
    # options.protect arrives with Analyze and AnalyzeStack alike; the stack view also sees whether an
    # instance carries data volumes, and it is what `pulumi up` ends with.
    cfg = settings(args, PRT_001)
    for r in args.resources:
        cloud = cloud_for(r.resource_type)
        stateful = r.resource_type in cfg["stateful_types"] or (
            cfg["protect_instances_with_data_volumes"] and cloud is not None and cloud.holds_data(r)
        )
        if stateful and not r.opts.protect:
            report(f"{short(r.urn)} is not protected", r.urn)


POLICIES = [
    (TAG_001, resource_policy(TAG_001, _tags)),
    (PRT_001, stack_policy(PRT_001, _protected)),
]
