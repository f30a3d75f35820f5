"""The backup vault on S3: a bucket is WORM only together with its lock, versioning, public access block,
encryption, TLS-only policy and lifecycle resources, so these are stack rules over the bucket's companions.
Every bucket in a pg-platform stack holds backups or WAL; none is exempt. KMS key rotation sits in kms.py."""

from __future__ import annotations

import json
from typing import Any

from pulumi_policy import Severity

from ..backup import full_backup_interval_days
from ..core import Rule, as_list, dig, plain, settings, short, stack_policy, truthy
from ..graph import of_type, referrers
from .types import (
    BUCKET,
    BUCKET_ENCRYPTION,
    BUCKET_LIFECYCLE,
    BUCKET_LOCK,
    BUCKET_POLICY,
    BUCKET_PUBLIC_ACCESS_BLOCK,
    BUCKET_VERSIONING,
    CLOUD,
    KMS_KEY,
)

AREA = "backup"


def _companions(args, type_token: str, bucket) -> list[Any]:
    return referrers(args.resources, type_token, "bucket", bucket)


def _retention_days(lock) -> int | None:
    days = dig(lock.props, "rule", "defaultRetention", "days")
    years = dig(lock.props, "rule", "defaultRetention", "years")
    if days:
        return int(days)
    if years:
        return int(years) * 365
    return None


# --- PGP-AWS-S3-001 -----------------------------------------------------------------------------------------
S3_001 = Rule(
    id="PGP-AWS-S3-001",
    title="Backup bucket locked (WORM)",
    why="Backups that can be deleted can be deleted by ransomware or a stolen key; COMPLIANCE mode cannot be "
    "bypassed, not even by root.",
    description="Each bucket has Object Lock enabled and a lock configuration whose default retention uses an "
    "allowed mode with a period within bounds that covers at least one complete backup chain.",
    severity=Severity.CRITICAL,
    control="CKV_AWS_143; seed: 14-day COMPLIANCE lock in prod",
    area=AREA,
    scope="stack",
    clouds=(CLOUD,),
    remediation="Create the bucket with object_lock_enabled=True and add BucketObjectLockConfiguration with "
    "rule.default_retention mode COMPLIANCE and days = objectives.worm_days (>= the full-backup "
    "interval).",
    config={
        "allowed_modes": {
            "type": "array",
            "items": {"type": "string", "enum": ["COMPLIANCE", "GOVERNANCE"]},
            "default": ["COMPLIANCE"],
            "description": "lock modes accepted",
        },
        "min_lock_days": {"type": "integer", "minimum": 1, "default": 14},
        "max_lock_days": {
            "type": "integer",
            "minimum": 1,
            "default": 365,
            "description": "upper bound: COMPLIANCE versions cannot be deleted before this",
        },
    },
)


def _worm(args, report) -> None:
    cfg = settings(args, S3_001)
    chain = full_backup_interval_days(args.resources)
    for b in of_type(args.resources, BUCKET):
        if not truthy(b.props.get("objectLockEnabled")):
            report(f"{short(b.urn)}: objectLockEnabled is not true", b.urn)
        locks = _companions(args, BUCKET_LOCK, b)
        if not locks:
            report(f"{short(b.urn)}: no BucketObjectLockConfiguration", b.urn)
            continue
        for lock in locks:
            mode = dig(lock.props, "rule", "defaultRetention", "mode")
            days = _retention_days(lock)
            if mode not in cfg["allowed_modes"]:
                report(f"{short(b.urn)}: lock mode {mode} is not one of {', '.join(cfg['allowed_modes'])}", lock.urn)
            if days is None:
                report(f"{short(b.urn)}: lock configuration has no default retention period", lock.urn)
                continue
            if not cfg["min_lock_days"] <= days <= cfg["max_lock_days"]:
                report(
                    f"{short(b.urn)}: lock of {days} day(s) is outside {cfg['min_lock_days']}-{cfg['max_lock_days']}",
                    lock.urn,
                )
            if chain and days < chain:
                report(
                    f"{short(b.urn)}: lock of {days} day(s) is shorter than the {chain}-day full-backup "
                    f"interval, so a backup chain outlives its full backup's lock",
                    lock.urn,
                )


# --- PGP-AWS-S3-002 -----------------------------------------------------------------------------------------
S3_002 = Rule(
    id="PGP-AWS-S3-002",
    title="Backup bucket versioned",
    why="Object Lock requires versioning, and pgBackRest's rewritten info files survive only as versions.",
    description="Each bucket has versioning Enabled (Object Lock needs it; pgBackRest rewrites its info files).",
    severity=Severity.HIGH,
    control="CKV_AWS_21",
    area=AREA,
    scope="stack",
    clouds=(CLOUD,),
    remediation="Add BucketVersioning(bucket=..., versioning_configuration={'status': 'Enabled'}).",
)


def _versioning(args, report) -> None:
    for b in of_type(args.resources, BUCKET):
        vs = _companions(args, BUCKET_VERSIONING, b)
        status = [dig(v.props, "versioningConfiguration", "status") for v in vs]
        if "Enabled" not in status:
            report(
                f"{short(b.urn)}: versioning is {', '.join(map(str, status)) or 'not configured'}",
                vs[0].urn if len(vs) == 1 else b.urn,
            )


# --- PGP-AWS-S3-003 -----------------------------------------------------------------------------------------
PAB_FLAGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
S3_003 = Rule(
    id="PGP-AWS-S3-003",
    title="Backup bucket blocks public access",
    why="One public ACL or policy would publish every backup of the database.",
    description="Each bucket has a public access block with all four flags true.",
    severity=Severity.CRITICAL,
    control="CKV2_AWS_6, CKV_AWS_53/54/55/56",
    area=AREA,
    scope="stack",
    clouds=(CLOUD,),
    remediation="Add BucketPublicAccessBlock with block_public_acls, block_public_policy, ignore_public_acls "
    "and restrict_public_buckets all True.",
)


def _public_access(args, report) -> None:
    for b in of_type(args.resources, BUCKET):
        blocks = _companions(args, BUCKET_PUBLIC_ACCESS_BLOCK, b)
        if not blocks:
            report(f"{short(b.urn)}: no BucketPublicAccessBlock", b.urn)
            continue
        for blk in blocks:
            off = [f for f in PAB_FLAGS if not truthy(blk.props.get(f))]
            if off:
                report(f"{short(b.urn)}: public access block leaves {', '.join(off)} off", blk.urn)


# --- PGP-AWS-S3-004 -----------------------------------------------------------------------------------------
S3_004 = Rule(
    id="PGP-AWS-S3-004",
    title="Backup bucket encrypted with a customer KMS key",
    why="A customer key lets us audit and revoke access to backups independently of S3 permissions.",
    description="Each bucket's default encryption is SSE-KMS with a customer-managed key from this stack.",
    severity=Severity.HIGH,
    control="CKV_AWS_145",
    area=AREA,
    scope="stack",
    clouds=(CLOUD,),
    remediation="Add BucketServerSideEncryptionConfiguration with sse_algorithm 'aws:kms' and "
    "kms_master_key_id set to the stack's aws.kms.Key arn.",
)


def _sse_kms(args, report) -> None:
    for b in of_type(args.resources, BUCKET):
        confs = _companions(args, BUCKET_ENCRYPTION, b)
        if not confs:
            report(f"{short(b.urn)}: no server-side encryption configuration", b.urn)
            continue
        for conf in confs:
            rules = as_list(conf.props.get("rules"))
            algos = [dig(r, "applyServerSideEncryptionByDefault", "sseAlgorithm") for r in rules]
            if not any(a in ("aws:kms", "aws:kms:dsse") for a in algos):
                report(
                    f"{short(b.urn)}: default encryption is {', '.join(map(str, algos)) or 'unset'}, not SSE-KMS",
                    conf.urn,
                )
                continue
            customer = any(d.resource_type == KMS_KEY for d in conf.property_dependencies.get("rules") or [])
            literal = [dig(r, "applyServerSideEncryptionByDefault", "kmsMasterKeyId") for r in rules]
            if not customer and not any(isinstance(x, str) and ":key/" in x for x in literal):
                report(
                    f"{short(b.urn)}: SSE-KMS without a customer-managed key (kmsMasterKeyId "
                    f"{', '.join(map(str, literal))})",
                    conf.urn,
                )


# --- PGP-AWS-S3-005 -----------------------------------------------------------------------------------------
S3_005 = Rule(
    id="PGP-AWS-S3-005",
    title="Backup bucket refuses plain HTTP",
    why="Backups and WAL must never cross the network in clear text.",
    description="Each bucket has a policy denying every s3 action to everyone when aws:SecureTransport is false.",
    severity=Severity.HIGH,
    control="CKV_AWS_379",
    area=AREA,
    scope="stack",
    clouds=(CLOUD,),
    remediation="Add a BucketPolicy statement: Effect Deny, Principal '*', Action 's3:*', Resource the bucket "
    "and its objects, Condition Bool aws:SecureTransport 'false'.",
)


def _denies_plain_http(doc: Any) -> bool:
    for st in as_list(doc.get("Statement") if isinstance(doc, dict) else None):
        if st.get("Effect") != "Deny":
            continue
        principal = st.get("Principal")
        if principal not in ("*", {"AWS": "*"}) and not (isinstance(principal, dict) and principal.get("AWS") == ["*"]):
            continue
        if not any(a in ("s3:*", "*") for a in as_list(st.get("Action"))):
            continue
        cond = (st.get("Condition") or {}).get("Bool") or {}
        if str(cond.get("aws:SecureTransport")).lower() == "false":
            return True
    return False


def _tls_only(args, report) -> None:
    for b in of_type(args.resources, BUCKET):
        policies = _companions(args, BUCKET_POLICY, b)
        docs = []
        for p in policies:
            raw = p.props.get("policy")
            try:
                docs.append(json.loads(raw) if isinstance(raw, str) else plain(raw))
            except ValueError:
                report(f"{short(p.urn)}: policy is not JSON", p.urn)
        if not any(_denies_plain_http(d) for d in docs):
            report(
                f"{short(b.urn)}: no bucket policy statement denies requests without TLS",
                policies[0].urn if len(policies) == 1 else b.urn,
            )


# --- PGP-AWS-S3-006 -----------------------------------------------------------------------------------------
S3_006 = Rule(
    id="PGP-AWS-S3-006",
    title="Backup bucket lifecycle cleans up after the lock",
    why="pgBackRest's expiry only writes delete markers on a locked bucket; without lifecycle rules storage grows "
    "forever, and expiring before the lock ends is refused.",
    description="Each bucket has an enabled lifecycle rule expiring noncurrent versions no sooner than the lock "
    "ends (pgBackRest expiry only writes delete markers) and one aborting incomplete multipart "
    "uploads.",
    severity=Severity.MEDIUM,
    control="CKV2_AWS_61, CKV_AWS_300",
    area=AREA,
    scope="stack",
    clouds=(CLOUD,),
    remediation="Add BucketLifecycleConfiguration rules: noncurrent_version_expiration.noncurrent_days = lock "
    "days + 1 and abort_incomplete_multipart_upload.days_after_initiation <= the limit.",
    config={"max_abort_multipart_days": {"type": "integer", "minimum": 1, "default": 7}},
)


def _lifecycle(args, report) -> None:
    cfg = settings(args, S3_006)
    for b in of_type(args.resources, BUCKET):
        lock_days = max([_retention_days(lock) or 0 for lock in _companions(args, BUCKET_LOCK, b)] or [0])
        configs = _companions(args, BUCKET_LIFECYCLE, b)
        anchor = configs[0].urn if len(configs) == 1 else b.urn
        rules = [r for lc in configs for r in as_list(lc.props.get("rules")) if str(r.get("status")) == "Enabled"]
        noncurrent = [int(d) for d in (dig(r, "noncurrentVersionExpiration", "noncurrentDays") for r in rules) if d]
        abort = [int(d) for d in (dig(r, "abortIncompleteMultipartUpload", "daysAfterInitiation") for r in rules) if d]
        if not noncurrent:
            report(f"{short(b.urn)}: no enabled rule expires noncurrent versions", anchor)
        elif min(noncurrent) < lock_days:
            report(
                f"{short(b.urn)}: noncurrent versions expire after {min(noncurrent)} day(s), before the "
                f"{lock_days}-day lock ends",
                anchor,
            )
        if not abort:
            report(f"{short(b.urn)}: no enabled rule aborts incomplete multipart uploads", anchor)
        elif min(abort) > cfg["max_abort_multipart_days"]:
            report(
                f"{short(b.urn)}: incomplete multipart uploads linger {min(abort)} days "
                f"(limit {cfg['max_abort_multipart_days']})",
                anchor,
            )


POLICIES = [
    (S3_001, stack_policy(S3_001, _worm)),
    (S3_002, stack_policy(S3_002, _versioning)),
    (S3_003, stack_policy(S3_003, _public_access)),
    (S3_004, stack_policy(S3_004, _sse_kms)),
    (S3_005, stack_policy(S3_005, _tls_only)),
    (S3_006, stack_policy(S3_006, _lifecycle)),
]
