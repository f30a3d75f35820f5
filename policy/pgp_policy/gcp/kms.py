"""Cloud KMS: the stack's keys (the vault's, the disks', the secrets') rotate, are not destroyed at once, stay in
the stack's region, and are granted only as crypto roles to service accounts."""

from __future__ import annotations

import re

from pulumi_policy import Severity

from ..core import Rule, resource_policy, settings, stack_config
from .types import CLOUD, CRYPTO_KEY, CRYPTO_KEY_IAM_MEMBER, KEY_RING

AREA = "backup"
DAY = 86_400
# The API's default when destroyScheduledDuration is unset (cloudkms CryptoKey.destroyScheduledDuration).
DEFAULT_DESTROY_DAYS = 30


def duration_days(value) -> float | None:
    """A protobuf Duration as the API spells it ("7776000s") in days."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)s\s*", str(value or ""))
    return float(m.group(1)) / DAY if m else None


def _only(types: tuple[str, ...], fn):
    def validate(args, report):
        if args.resource_type in types:
            fn(args, report)

    return validate


# --- PGP-GCP-KMS-001 ----------------------------------------------------------------------------------------
KMS_001 = Rule(
    id="PGP-GCP-KMS-001",
    title="KMS keys rotate within 90 days",
    why="Rotation limits how much data one compromised key version protects.",
    description="Symmetric Cloud KMS keys have a rotation period of at most max_rotation_days.",
    severity=Severity.MEDIUM,
    control="CKV_GCP_43; CIS GCP Foundations 1.10",
    area=AREA,
    scope="resource",
    clouds=(CLOUD,),
    remediation="Set rotation_period='7776000s' (90 days) or shorter on the gcp.kms.CryptoKey.",
    config={"max_rotation_days": {"type": "integer", "minimum": 1, "default": 90}},
)


def _rotation(args, report) -> None:
    if str(args.props.get("purpose") or "ENCRYPT_DECRYPT") != "ENCRYPT_DECRYPT":
        return  # only symmetric keys rotate automatically
    limit = settings(args, KMS_001)["max_rotation_days"]
    days = duration_days(args.props.get("rotationPeriod"))
    if days is None:
        report(f"{args.name}: no rotationPeriod (the key never rotates)")
    elif days > limit:
        report(f"{args.name}: rotationPeriod is {days:g} days, above {limit}")


# --- PGP-GCP-KMS-002 ----------------------------------------------------------------------------------------
KMS_002 = Rule(
    id="PGP-GCP-KMS-002",
    title="Destroyed key versions are recoverable for a while",
    why="Destroying the vault's key destroys every backup encrypted with it; the scheduled-destruction window is "
    "the last chance to undo it (`protect` guards the resource, PGP-PRT-001).",
    description="Cloud KMS keys keep a scheduled-destruction window of at least min_destroy_days (unset means "
    "the API's 30 days).",
    severity=Severity.HIGH,
    control="CKV_GCP_82 (keys protected from deletion)",
    area=AREA,
    scope="resource",
    clouds=(CLOUD,),
    remediation="Leave destroy_scheduled_duration unset (30 days) or set it to at least the minimum.",
    config={"min_destroy_days": {"type": "integer", "minimum": 1, "maximum": 120, "default": DEFAULT_DESTROY_DAYS}},
)


def _destroy_window(args, report) -> None:
    value = args.props.get("destroyScheduledDuration")
    days = DEFAULT_DESTROY_DAYS if value in (None, "") else duration_days(value)
    minimum = settings(args, KMS_002)["min_destroy_days"]
    if days is None or days < minimum:
        report(f"{args.name}: destroyScheduledDuration is {value}, minimum {minimum} days")


# --- PGP-GCP-KMS-003 ----------------------------------------------------------------------------------------
KMS_003 = Rule(
    id="PGP-GCP-KMS-003",
    title="Key rings in the stack's region",
    why="A regional bucket and regional disks can use only keys of their own region, and the keys are data of the "
    "region as much as the backups are.",
    description="Key rings are located in the stack's region (gcp:region), not global or a multi-region.",
    severity=Severity.MEDIUM,
    control="seed: data stays in the stack's region",
    area=AREA,
    scope="resource",
    clouds=(CLOUD,),
    remediation="Create the gcp.kms.KeyRing with location=<gcp:region>.",
)


def _key_ring_region(args, report) -> None:
    region = stack_config("gcp:region")
    location = str(args.props.get("location") or "")
    if region and location.lower() != str(region).lower():
        report(f"{args.name}: location is {location or 'unset'}, not the stack's region {region}")


# --- PGP-GCP-KMS-004 ----------------------------------------------------------------------------------------
KMS_004 = Rule(
    id="PGP-GCP-KMS-004",
    title="Key grants are crypto roles for service accounts",
    why="Whoever administers a key can grant themselves its use or destroy it; users of a key must not manage it.",
    description="Crypto key IAM members are service accounts (nodes, Google's service agents) holding one of "
    "the allowed encrypt/decrypt roles.",
    severity=Severity.HIGH,
    control="seed: node identity limited to its key; CIS GCP Foundations 1.11 (separation of duties)",
    area=AREA,
    scope="resource",
    clouds=(CLOUD,),
    remediation="Grant roles/cloudkms.cryptoKeyEncrypterDecrypter to the node's service account and the Cloud "
    "Storage and Compute Engine service agents; keep cloudkms.admin with people, outside the stack.",
    config={
        "allowed_roles": {
            "type": "array",
            "items": {"type": "string"},
            "default": [
                "roles/cloudkms.cryptoKeyEncrypterDecrypter",
                "roles/cloudkms.cryptoKeyEncrypter",
                "roles/cloudkms.cryptoKeyDecrypter",
            ],
        }
    },
)


def _key_grants(args, report) -> None:
    role, member = str(args.props.get("role") or ""), str(args.props.get("member") or "")
    allowed = settings(args, KMS_004)["allowed_roles"]
    if role not in allowed:
        report(f"{args.name}: role {role or 'unset'} is not one of {', '.join(allowed)}")
    if not member.startswith("serviceAccount:"):
        report(f"{args.name}: member {member or 'unset'} is not a service account")


POLICIES = [
    (KMS_001, resource_policy(KMS_001, _only((CRYPTO_KEY,), _rotation))),
    (KMS_002, resource_policy(KMS_002, _only((CRYPTO_KEY,), _destroy_window))),
    (KMS_003, resource_policy(KMS_003, _only((KEY_RING,), _key_ring_region))),
    (KMS_004, resource_policy(KMS_004, _only((CRYPTO_KEY_IAM_MEMBER,), _key_grants))),
]
