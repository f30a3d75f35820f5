"""The backup vault on Cloud Storage: a retention policy (locked in prod) long enough for a backup chain,
uniform access with public access prevented, the stack's key, and bucket grants limited to object roles for
service accounts. Every bucket in a pg-platform stack holds backups or WAL; none is exempt."""

from __future__ import annotations

from pulumi_policy import Severity

from ..backup import full_backup_interval_days
from ..core import Rule, dig, resource_policy, settings, short, stack_policy, truthy
from ..graph import of_type
from .types import BUCKET, BUCKET_IAM_MEMBER, CLOUD

AREA = "backup"
DAY = 86_400

# --- PGP-GCP-GCS-001 ----------------------------------------------------------------------------------------
GCS_001 = Rule(
    id="PGP-GCP-GCS-001",
    title="Backup bucket retained (WORM), locked in prod",
    why="Backups that can be deleted can be deleted by ransomware or a stolen key; a locked retention policy "
    "cannot be shortened or removed, not even by the project's owner.",
    description="Each bucket has a retention policy of min_lock_days to max_lock_days that covers at least one "
    "complete backup chain, locked where the stage requires it.",
    severity=Severity.CRITICAL,
    control="CKV2_GCP_4 (retention lock); seed: 14-day locked retention in prod",
    area=AREA,
    scope="stack",
    clouds=(CLOUD,),
    remediation="Set retention_policy={'retention_period': str(worm_days * 86400), 'is_locked': True} "
    "(objectives.worm_days >= the full-backup interval).",
    config={
        "min_lock_days": {"type": "integer", "minimum": 1, "default": 14},
        "max_lock_days": {
            "type": "integer",
            "minimum": 1,
            "default": 365,
            "description": "upper bound: a locked policy keeps every object this long",
        },
        "require_locked": {"type": "boolean", "default": True},
    },
)


def retention_days(bucket) -> float | None:
    period = dig(bucket.props, "retentionPolicy", "retentionPeriod")
    return None if period in (None, "") else int(period) / DAY


def _worm(args, report) -> None:
    cfg = settings(args, GCS_001)
    chain = full_backup_interval_days(args.resources)
    for b in of_type(args.resources, BUCKET):
        days = retention_days(b)
        if days is None:
            report(f"{short(b.urn)}: no retentionPolicy", b.urn)
            continue
        shown = f"{days:g}"
        if not cfg["min_lock_days"] <= days <= cfg["max_lock_days"]:
            report(
                f"{short(b.urn)}: retention of {shown} day(s) is outside {cfg['min_lock_days']}-{cfg['max_lock_days']}",
                b.urn,
            )
        if chain and days < chain:
            report(
                f"{short(b.urn)}: retention of {shown} day(s) is shorter than the {chain}-day full-backup "
                f"interval, so a backup chain outlives its full backup's retention",
                b.urn,
            )
        if cfg["require_locked"] and not truthy(dig(b.props, "retentionPolicy", "isLocked")):
            report(f"{short(b.urn)}: retentionPolicy.isLocked is not true", b.urn)


# --- PGP-GCP-GCS-002 ----------------------------------------------------------------------------------------
GCS_002 = Rule(
    id="PGP-GCP-GCS-002",
    title="Backup bucket uniform and never public",
    why="Object ACLs bypass the bucket's IAM policy, and one public grant would publish every backup of the "
    "database; public access prevention refuses such grants outright.",
    description="Each bucket has uniform bucket-level access on and public access prevention enforced.",
    severity=Severity.CRITICAL,
    control="CKV_GCP_29, CKV_GCP_114; CIS GCP Foundations 5.1, 5.2",
    area=AREA,
    scope="resource",
    clouds=(CLOUD,),
    remediation="Set uniform_bucket_level_access=True and public_access_prevention='enforced'.",
)


def _uniform_private(args, report) -> None:
    if args.resource_type != BUCKET:
        return
    if not truthy(args.props.get("uniformBucketLevelAccess")):
        report(f"{args.name}: uniformBucketLevelAccess is not true (object ACLs apply)")
    pap = args.props.get("publicAccessPrevention")
    if pap != "enforced":
        report(f"{args.name}: publicAccessPrevention is {pap or 'unset (inherited)'}, not enforced")


# --- PGP-GCP-GCS-003 ----------------------------------------------------------------------------------------
GCS_003 = Rule(
    id="PGP-GCP-GCS-003",
    title="Backup bucket encrypted with the stack's key",
    why="With Google-managed keys anyone allowed to read objects reads the backups; a customer key adds a second, "
    "auditable and revocable grant.",
    description="Each bucket names a Cloud KMS key as its default (encryption.defaultKmsKeyName).",
    severity=Severity.HIGH,
    control="seed: backups encrypted with a customer-managed key (by analogy with CKV_AWS_145)",
    area=AREA,
    scope="resource",
    clouds=(CLOUD,),
    remediation="Set encryption={'default_kms_key_name': key.id}; grant the Cloud Storage service agent "
    "cryptoKeyEncrypterDecrypter on that key.",
)


def _cmek(args, report) -> None:
    if args.resource_type == BUCKET and not dig(args.props, "encryption", "defaultKmsKeyName"):
        report(f"{args.name}: no encryption.defaultKmsKeyName (Google-managed key)")


# --- PGP-GCP-GCS-004 ----------------------------------------------------------------------------------------
GCS_004 = Rule(
    id="PGP-GCP-GCS-004",
    title="Bucket grants are object roles for service accounts",
    why="A bucket-level admin can change the bucket's IAM policy and, before it is locked, its retention; people "
    "need no standing access to backups.",
    description="Bucket IAM members are service accounts holding one of the allowed object roles.",
    severity=Severity.HIGH,
    control="seed: node identity limited to its bucket; CIS GCP Foundations 1.x (least privilege)",
    area=AREA,
    scope="resource",
    clouds=(CLOUD,),
    remediation="Grant the node's service account roles/storage.objectUser (pgBackRest reads, writes, lists and "
    "expires) on the bucket; nothing at bucket-admin level.",
    config={
        "allowed_roles": {
            "type": "array",
            "items": {"type": "string"},
            "default": [
                "roles/storage.objectViewer",
                "roles/storage.objectCreator",
                "roles/storage.objectUser",
                "roles/storage.objectAdmin",
            ],
        }
    },
)


def _bucket_grants(args, report) -> None:
    if args.resource_type != BUCKET_IAM_MEMBER:
        return
    role, member = str(args.props.get("role") or ""), str(args.props.get("member") or "")
    allowed = settings(args, GCS_004)["allowed_roles"]
    if role not in allowed:
        report(f"{args.name}: role {role or 'unset'} is not one of {', '.join(allowed)}")
    if not member.startswith("serviceAccount:"):
        report(f"{args.name}: member {member or 'unset'} is not a service account")


POLICIES = [
    (GCS_001, stack_policy(GCS_001, _worm)),
    (GCS_002, resource_policy(GCS_002, _uniform_private)),
    (GCS_003, resource_policy(GCS_003, _cmek)),
    (GCS_004, resource_policy(GCS_004, _bucket_grants)),
]
