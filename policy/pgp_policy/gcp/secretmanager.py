"""Secret Manager: the stack's secrets sit under a customer key, every version belongs to a secret of the stack
and is enabled (the boot reads `versions/latest`), and only service accounts may read them."""

from __future__ import annotations

from pulumi_policy import Severity

from ..core import Rule, as_list, dig, plain, resource_policy, settings, short, stack_policy, truthy
from ..graph import of_type, points_at
from .types import CLOUD, SECRET, SECRET_IAM_MEMBER, SECRET_VERSION

AREA = "iam"

# --- PGP-GCP-SEC-001 ----------------------------------------------------------------------------------------
SEC_001 = Rule(
    id="PGP-GCP-SEC-001",
    title="Secrets encrypted with a customer key",
    why="With Google's default encryption anyone allowed secretAccessor reads every secret; a customer key adds a "
    "second, auditable and revocable grant.",
    description="Every replica of a Secret Manager secret (automatic or user-managed replication) names a "
    "Cloud KMS key (customerManagedEncryption.kmsKeyName).",
    severity=Severity.MEDIUM,
    control="seed: secrets in the cloud's secret store (by analogy with CKV_AWS_149)",
    area=AREA,
    scope="resource",
    clouds=(CLOUD,),
    remediation="replication={'user_managed': {'replicas': [{'location': <region>, 'customer_managed_encryption': "
    "{'kms_key_name': key.id}}]}}; the Secret Manager service agent needs cryptoKeyEncrypterDecrypter.",
)


def _secret_cmek(args, report) -> None:
    if args.resource_type != SECRET:
        return
    replication = plain(args.props.get("replication")) or {}
    if replication.get("auto") is not None:
        if not dig(replication, "auto", "customerManagedEncryption", "kmsKeyName"):
            report(f"{args.name}: replication.auto has no customerManagedEncryption.kmsKeyName")
        return
    replicas = as_list(dig(replication, "userManaged", "replicas"))
    if not replicas:
        report(f"{args.name}: no replication with a customer-managed key")
    for i, replica in enumerate(replicas):
        if not dig(replica, "customerManagedEncryption", "kmsKeyName"):
            report(
                f"{args.name}: replication.userManaged.replicas[{i}] ({replica.get('location')}) has no "
                f"customerManagedEncryption.kmsKeyName"
            )


# --- PGP-GCP-SEC-002 ----------------------------------------------------------------------------------------
SEC_002 = Rule(
    id="PGP-GCP-SEC-002",
    title="Secret versions belong to the stack's secrets and are enabled",
    why="Nodes read `versions/latest` at boot; a disabled latest version fails every boot, and a version of a "
    "secret outside the stack escapes the stack's key, grants and protection.",
    description="Each secret version names a secret of the stack and is not disabled.",
    severity=Severity.MEDIUM,
    control="seed: secrets in the cloud's secret store",
    area=AREA,
    scope="stack",
    clouds=(CLOUD,),
    remediation="SecretVersion(secret=secret.id, secret_data=...) for a Secret of the same stack; leave enabled true.",
)


def _versions(args, report) -> None:
    secrets = of_type(args.resources, SECRET)
    for v in of_type(args.resources, SECRET_VERSION):
        if not any(points_at(v, "secret", s) for s in secrets):
            report(f"{short(v.urn)}: secret {v.props.get('secret')} is not a secret of the stack", v.urn)
        if v.props.get("enabled") is not None and not truthy(v.props.get("enabled")):
            report(f"{short(v.urn)}: the version is disabled, so versions/latest fails at boot", v.urn)


# --- PGP-GCP-SEC-003 ----------------------------------------------------------------------------------------
SEC_003 = Rule(
    id="PGP-GCP-SEC-003",
    title="Secrets readable by service accounts only",
    why="A secret grant beyond secretAccessor lets its holder add versions or grant others; people need no "
    "standing access to database credentials.",
    description="Secret IAM members are service accounts holding one of the allowed roles (secretAccessor).",
    severity=Severity.HIGH,
    control="seed: node identity limited to its secrets",
    area=AREA,
    scope="resource",
    clouds=(CLOUD,),
    remediation="Grant roles/secretmanager.secretAccessor on each secret to the node's service account only.",
    config={
        "allowed_roles": {
            "type": "array",
            "items": {"type": "string"},
            "default": ["roles/secretmanager.secretAccessor"],
        }
    },
)


def _secret_grants(args, report) -> None:
    if args.resource_type != SECRET_IAM_MEMBER:
        return
    role, member = str(args.props.get("role") or ""), str(args.props.get("member") or "")
    allowed = settings(args, SEC_003)["allowed_roles"]
    if role not in allowed:
        report(f"{args.name}: role {role or 'unset'} is not one of {', '.join(allowed)}")
    if not member.startswith("serviceAccount:"):
        report(f"{args.name}: member {member or 'unset'} is not a service account")


POLICIES = [
    (SEC_001, resource_policy(SEC_001, _secret_cmek)),
    (SEC_002, stack_policy(SEC_002, _versions)),
    (SEC_003, resource_policy(SEC_003, _secret_grants)),
]
