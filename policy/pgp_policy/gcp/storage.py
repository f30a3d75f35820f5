"""The backup vault on Cloud Storage: versioned with Object Retention Lock (S3 Object Lock's semantics), never a
bucket retention policy, the members locking new objects for a chain's length (Locked in prod), soft delete and a
noncurrent expiry past the lock; uniform access with public access prevented, the stack's key, and bucket grants
limited to object roles for service accounts. Every bucket in a pg-platform stack holds backups or WAL; none is
exempt."""

from __future__ import annotations

import ast
import json
import re

from pulumi_policy import Severity

from ..backup import full_backup_interval_days
from ..clouds import machine_nodes
from ..core import Rule, as_list, dig, plain, resource_policy, settings, short, stack_policy, truthy
from ..graph import of_type
from ..kubernetes.types import CONFIG_MAP
from .types import BUCKET, BUCKET_IAM_MEMBER, CLOUD

AREA = "backup"
DAY = 86_400
# Cloud Storage keeps soft-deleted objects at most 90 days.
SOFT_DELETE_MAX_DAYS = 90
# The members' lock timer carries its configuration as one JSON line (dataplane/boot/gcs_lock.py).
_LOCK_CONFIG = re.compile(r"^CONFIG = json\.loads\((.+)\)$", re.M)
_LOCK_KEYS = {"bucket", "mode", "lock_days"}
# On GKE the lock script is a ConfigMap's (Kubernetes' token, spelt by its own package).
LOCK_SCRIPT_CONFIG_MAP = CONFIG_MAP

# --- PGP-GCP-GCS-001 ----------------------------------------------------------------------------------------
GCS_001 = Rule(
    id="PGP-GCP-GCS-001",
    title="Backup bucket write-once (Object Retention Lock), locked in prod",
    why="Backups that can be deleted can be deleted by ransomware or a stolen key. On a versioned bucket with "
    "Object Retention Lock a locked generation can be made noncurrent but not deleted or replaced before its "
    "retain-until time, and a Locked retention can never be shortened; a bucket retention policy instead refuses "
    "the rewrites of backup.info pgBackRest makes on every backup (pgBackRest issue #1439).",
    description="Each bucket is versioned, has Object Retention Lock enabled and no retention policy; every "
    "member's lock timer (on Kubernetes: the lock CronJob's script) locks that bucket's new objects for "
    "min_lock_days to max_lock_days, at least one "
    "complete backup chain, in Locked mode where the stage requires it; soft delete keeps deleted objects at "
    "least min(lock, 90) days and a lifecycle rule deletes noncurrent generations only after the lock.",
    severity=Severity.CRITICAL,
    control="CKV2_GCP_4 (retention lock, as Object Retention Lock); seed: 14-day locked retention in prod",
    area=AREA,
    scope="stack",
    clouds=(CLOUD,),
    remediation="versioning={'enabled': True}, enable_object_retention=True, no retention_policy, "
    "soft_delete_policy={'retention_duration_seconds': min(worm_days, 90) * 86400}, a Delete lifecycle rule on "
    "days_since_noncurrent_time > worm_days; the members' boot renders the lock timer (GcpBoot lock_mode, "
    "lock_days), or on GKE the lock CronJob (dataplane/cnpg_lock.py), with objectives.worm_days >= the "
    "full-backup interval.",
    config={
        "min_lock_days": {"type": "integer", "minimum": 1, "default": 14},
        "max_lock_days": {
            "type": "integer",
            "minimum": 1,
            "default": 365,
            "description": "upper bound: a Locked retention keeps every object this long",
        },
        "require_locked": {"type": "boolean", "default": True},
    },
)


def node_locks(resources) -> list[tuple[str, dict]]:
    """(instance urn, lock configuration) of every PostgreSQL node: {} where the node renders no lock timer."""
    locks = []
    for _, r, node in machine_nodes(resources):
        if not node.is_postgres_node:
            continue
        found: dict = {}
        for content in node.files.values():
            found = _lock_config(content) or found
        locks.append((r.urn, found))
    # Kubernetes (GKE): no member boots; the lock CronJob runs the same script from its ConfigMap.
    for r in of_type(resources, LOCK_SCRIPT_CONFIG_MAP):
        config = next((c for c in map(_lock_config, (plain(r.props.get("data")) or {}).values()) if c), None)
        if config:
            locks.append((r.urn, config))
    return locks


def _lock_config(content: object) -> dict:
    m = _LOCK_CONFIG.search(str(content))
    if not m:
        return {}
    try:
        config = json.loads(ast.literal_eval(m.group(1)))
    except (ValueError, SyntaxError):
        return {}
    return config if isinstance(config, dict) and config.keys() >= _LOCK_KEYS else {}


def _noncurrent_delete_days(bucket) -> list[float]:
    """daysSinceNoncurrentTime of every Delete rule acting on noncurrent generations."""
    days = []
    for rule in as_list(plain(bucket.props.get("lifecycleRules"))):
        if dig(rule, "action", "type") != "Delete":
            continue
        cond = rule.get("condition") or {}
        if cond.get("withState") == "ARCHIVED" or cond.get("daysSinceNoncurrentTime") is not None:
            days.append(float(cond.get("daysSinceNoncurrentTime") or 0))
    return days


def _worm(args, report) -> None:
    cfg = settings(args, GCS_001)
    chain = full_backup_interval_days(args.resources)
    locks = node_locks(args.resources)
    for b in of_type(args.resources, BUCKET):
        name = short(b.urn)
        if dig(b.props, "retentionPolicy", "retentionPeriod") not in (None, ""):
            report(
                f"{name}: a bucket retention policy refuses pgBackRest's rewrites of backup.info and the manifest "
                "copies (pgBackRest issue #1439) and rules out versioning; use Object Retention Lock",
                b.urn,
            )
        if not truthy(dig(b.props, "versioning", "enabled")):
            report(f"{name}: versioning is not enabled, so a rewrite cannot leave the locked generation behind", b.urn)
        if not truthy(b.props.get("enableObjectRetention")):
            report(
                f"{name}: enableObjectRetention is not true (Object Retention Lock, settable only at creation)", b.urn
            )
        bucket_name = b.props.get("name")
        if not locks:
            report(f"{name}: nothing locks its new objects (no member's lock timer, no lock CronJob)", b.urn)
        days_locked = []
        for urn, lock in locks:
            if not lock:
                report(f"{short(urn)}: the node renders no lock timer for the backup bucket", urn)
                continue
            if bucket_name and lock.get("bucket") != bucket_name:
                report(f"{short(urn)}: its lock timer locks {lock.get('bucket')}, not {bucket_name}", urn)
                continue
            days = lock.get("lock_days")
            if not isinstance(days, int) or not cfg["min_lock_days"] <= days <= cfg["max_lock_days"]:
                report(
                    f"{short(urn)}: a lock of {days} day(s) is outside {cfg['min_lock_days']}-{cfg['max_lock_days']}",
                    urn,
                )
                continue
            if chain and days < chain:
                report(
                    f"{short(urn)}: a lock of {days} day(s) is shorter than the {chain}-day full-backup interval, so a "
                    "backup chain outlives its full backup's lock",
                    urn,
                )
            if cfg["require_locked"] and lock.get("mode") != "Locked":
                report(f"{short(urn)}: its lock timer sets mode {lock.get('mode')}, not Locked (COMPLIANCE)", urn)
            days_locked.append(days)
        if not days_locked:
            continue
        lock_days = max(days_locked)
        soft = dig(b.props, "softDeletePolicy", "retentionDurationSeconds")
        wanted = min(lock_days, SOFT_DELETE_MAX_DAYS)
        if soft in (None, "") or float(soft) / DAY < wanted:
            shown = "unset (7 days)" if soft in (None, "") else f"{float(soft) / DAY:g} day(s)"
            report(f"{name}: soft delete keeps {shown}, under the {wanted}-day minimum the lock asks for", b.urn)
        expiries = _noncurrent_delete_days(b)
        if not expiries:
            report(f"{name}: no Delete lifecycle rule on noncurrent generations (they would be kept forever)", b.urn)
        for days in expiries:
            if days <= lock_days:
                report(
                    f"{name}: noncurrent generations are deleted after {days:g} day(s), not past the {lock_days}-day "
                    "lock (the delete fails, or a lock shortened later loses them early)",
                    b.urn,
                )


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
    description="Bucket IAM members are service accounts holding one of the allowed object roles or a custom "
    "role of the stack (whose permissions PGP-GCP-IAM-004 bounds).",
    severity=Severity.HIGH,
    control="seed: node identity limited to its bucket; CIS GCP Foundations 1.x (least privilege)",
    area=AREA,
    scope="resource",
    clouds=(CLOUD,),
    remediation="Grant the node's service account roles/storage.objectUser (pgBackRest reads, writes, lists and "
    "expires) on the bucket, and the stack's lock role (a custom role, PGP-GCP-IAM-004); nothing at bucket-admin "
    "level.",
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
    if role not in allowed and not is_custom_role(role):
        report(f"{args.name}: role {role or 'unset'} is not one of {', '.join(allowed)} nor a project custom role")
    if not member.startswith("serviceAccount:"):
        report(f"{args.name}: member {member or 'unset'} is not a service account")


def is_custom_role(role: str) -> bool:
    """A project custom role's name (projects/<project>/roles/<id>): IAM-004 checks what the stack's grant."""
    return re.fullmatch(r"projects/[^/]+/roles/[A-Za-z0-9_.]+", role) is not None


POLICIES = [
    (GCS_001, stack_policy(GCS_001, _worm)),
    (GCS_002, resource_policy(GCS_002, _uniform_private)),
    (GCS_003, resource_policy(GCS_003, _cmek)),
    (GCS_004, resource_policy(GCS_004, _bucket_grants)),
]
