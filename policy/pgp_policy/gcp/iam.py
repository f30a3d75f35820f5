"""Identity: nothing is granted to the public, the project-level grants are neither basic nor administrative
roles, service accounts have no user-managed keys, and the stack's custom roles hold object permissions only,
never one that shortens or removes a retention."""

from __future__ import annotations

import re

from pulumi_policy import Severity

from ..core import Rule, as_list, plain, resource_policy, settings, short, stack_policy
from ..graph import of_type, points_at
from .types import (
    BUCKET_IAM_MEMBER,
    CLOUD,
    CRYPTO_KEY_IAM_MEMBER,
    CUSTOM_ROLE,
    PROJECT_IAM_MEMBER,
    SECRET_IAM_MEMBER,
    SERVICE_ACCOUNT,
    SERVICE_ACCOUNT_IAM_MEMBER,
    SERVICE_ACCOUNT_KEY,
)

AREA = "iam"
IAM_MEMBERS = (
    BUCKET_IAM_MEMBER,
    CRYPTO_KEY_IAM_MEMBER,
    SECRET_IAM_MEMBER,
    PROJECT_IAM_MEMBER,
    SERVICE_ACCOUNT_IAM_MEMBER,
)
PUBLIC_MEMBERS = ("allUsers", "allAuthenticatedUsers")
BASIC_ROLES = ("roles/owner", "roles/editor", "roles/viewer")
# Project-wide grants that let the holder act as any service account (CIS GCP Foundations 1.6).
IMPERSONATION_ROLES = ("roles/iam.serviceAccountUser", "roles/iam.serviceAccountTokenCreator")
# Services whose data the platform keeps in one resource each: grant on that resource, never project-wide.
RESOURCE_SCOPED_SERVICES = ("roles/storage.", "roles/cloudkms.", "roles/secretmanager.")

# --- PGP-GCP-IAM-001 ----------------------------------------------------------------------------------------
IAM_001 = Rule(
    id="PGP-GCP-IAM-001",
    title="Nothing granted to the public",
    why="allUsers is everyone on the internet and allAuthenticatedUsers everyone with a Google account: either on "
    "the bucket, a key, a secret or the project publishes it.",
    description="No IAM member (bucket, crypto key, secret or project) is allUsers or allAuthenticatedUsers.",
    severity=Severity.CRITICAL,
    control="CKV_GCP_28; CIS GCP Foundations 1.9, 5.1",
    area=AREA,
    scope="resource",
    clouds=(CLOUD,),
    remediation="Grant to the node's service account (serviceAccount:<email>) only.",
)


def _not_public(args, report) -> None:
    if args.resource_type not in IAM_MEMBERS:
        return
    member = str(args.props.get("member") or "")
    if member in PUBLIC_MEMBERS:
        report(f"{args.name}: member {member} grants {args.props.get('role')} to the public")


# --- PGP-GCP-IAM-002 ----------------------------------------------------------------------------------------
IAM_002 = Rule(
    id="PGP-GCP-IAM-002",
    title="Project grants are narrow",
    why="A basic or admin role on the project, or the right to act as any service account, turns one compromised "
    "node into a compromised project; storage, key and secret roles belong on their one resource.",
    description="Project IAM members hold no basic role (owner, editor, viewer), no administrative role, no "
    "project-wide service account impersonation, and no Cloud Storage, Cloud KMS or Secret Manager role "
    "(those are granted on the bucket, key or secret).",
    severity=Severity.HIGH,
    control="CKV_GCP_41, CKV_GCP_49; CIS GCP Foundations 1.5, 1.6",
    area=AREA,
    scope="resource",
    clouds=(CLOUD,),
    remediation="Grant project-wide only what has no resource to scope to (roles/logging.logWriter, "
    "roles/monitoring.metricWriter); grant the rest on the bucket, key or secret.",
)


def _narrow_project_grants(args, report) -> None:
    if args.resource_type != PROJECT_IAM_MEMBER:
        return
    role = str(args.props.get("role") or "")
    if role in BASIC_ROLES:
        report(f"{args.name}: {role} is a basic role")
    elif role in IMPERSONATION_ROLES:
        report(f"{args.name}: {role} on the project lets the member act as every service account")
    elif role.lower().endswith("admin"):
        report(f"{args.name}: {role} is an administrative role")
    elif role.startswith(RESOURCE_SCOPED_SERVICES):
        report(f"{args.name}: {role} on the project reaches every bucket, key or secret; grant it on the resource")


# --- PGP-GCP-IAM-003 ----------------------------------------------------------------------------------------
IAM_003 = Rule(
    id="PGP-GCP-IAM-003",
    title="No user-managed service account keys",
    why="A key file is a long-lived credential that works from anywhere; nodes get short-lived tokens from the "
    "metadata server instead.",
    description="No service account of the stack has a user-managed key (gcp.serviceaccount.Key).",
    severity=Severity.HIGH,
    control="seed: no long-lived credentials; CIS GCP Foundations 1.4",
    area=AREA,
    scope="stack",
    clouds=(CLOUD,),
    remediation="Remove the gcp.serviceaccount.Key: attach the account to the instance and let pgBackRest "
    "(repo-gcs-key-type=auto) and the boot take tokens from the metadata server.",
)


def _no_keys(args, report) -> None:
    keys = of_type(args.resources, SERVICE_ACCOUNT_KEY)
    accounts = of_type(args.resources, SERVICE_ACCOUNT)
    for key in keys:
        owners = [a for a in accounts if points_at(key, "serviceAccountId", a)]
        for a in owners:
            report(f"{short(a.urn)} has a user-managed key ({short(key.urn)})", a.urn)
        if not owners:
            report(f"{short(key.urn)} is a user-managed service account key", key.urn)


# --- PGP-GCP-IAM-004 ----------------------------------------------------------------------------------------
# Shortens or removes an Unlocked (GOVERNANCE) retention: what a stolen node token must never be able to do.
RETENTION_OVERRIDE = "storage.objects.overrideUnlockedRetention"

IAM_004 = Rule(
    id="PGP-GCP-IAM-004",
    title="Custom roles hold object permissions only, never a retention override",
    why="The nodes set their backups' Object Retention Lock through a custom role; with "
    "storage.objects.overrideUnlockedRetention, or any bucket or IAM permission, the same stolen token could "
    "shorten or lift the lock it set, or grant itself more.",
    description="Every custom role of the stack holds only allowed_permissions (object permissions), never "
    "storage.objects.overrideUnlockedRetention, and every bucket grant of a custom role names one of the stack's.",
    severity=Severity.CRITICAL,
    control="seed: node identity limited to its bucket, backups immutable; CIS GCP Foundations 1.x (least privilege)",
    area=AREA,
    scope="stack",
    clouds=(CLOUD,),
    remediation="gcp.projects.IAMCustomRole(permissions=['storage.objects.setRetention']) granted on the bucket "
    "(role=custom_role.name); keep overrideUnlockedRetention with people, outside the stack.",
    config={
        "allowed_permissions": {
            "type": "array",
            "items": {"type": "string"},
            "default": [
                "storage.objects.setRetention",
                "storage.objects.get",
                "storage.objects.list",
                "storage.objects.create",
                "storage.objects.update",
                "storage.objects.delete",
                "storage.objects.restore",
            ],
        }
    },
)


def _custom_roles(args, report) -> None:
    allowed = set(settings(args, IAM_004)["allowed_permissions"]) - {RETENTION_OVERRIDE}
    roles = of_type(args.resources, CUSTOM_ROLE)
    for role in roles:
        permissions = [str(p) for p in as_list(plain(role.props.get("permissions")))]
        if RETENTION_OVERRIDE in permissions:
            report(f"{short(role.urn)}: {RETENTION_OVERRIDE} shortens or removes the backups' retention", role.urn)
        extra = sorted(set(permissions) - allowed - {RETENTION_OVERRIDE})
        if extra:
            report(
                f"{short(role.urn)}: permissions {', '.join(extra)} are not object permissions it may hold", role.urn
            )
    for grant in of_type(args.resources, BUCKET_IAM_MEMBER):
        role = str(grant.props.get("role") or "")
        if role.startswith("roles/") or not (role or grant.property_dependencies.get("role")):
            continue
        if not any(points_at(grant, "role", r) for r in roles):
            report(f"{short(grant.urn)}: role {role or '(unknown)'} is not a custom role of the stack", grant.urn)


# --- PGP-GCP-IAM-005 ----------------------------------------------------------------------------------------
WORKLOAD_IDENTITY_USER = "roles/iam.workloadIdentityUser"
# One Kubernetes service account of a project's workload identity pool (IAM's Binding.members form).
_KUBERNETES_SERVICE_ACCOUNT = re.compile(r"serviceAccount:[a-z][-a-z0-9.:]*\.svc\.id\.goog\[[^/\]*]+/[^/\]*]+\]")

IAM_005 = Rule(
    id="PGP-GCP-IAM-005",
    title="Service accounts impersonable by one workload only",
    why="Who holds a role on a service account acts as it: the GKE backup writer impersonable by more than the "
    "Cluster's Kubernetes service account (a whole pool, a user, any account of the project) writes and deletes "
    "the backups as anyone.",
    description="Every IAM member on a service account of the stack grants roles/iam.workloadIdentityUser, to "
    "exactly one Kubernetes service account (serviceAccount:<project>.svc.id.goog[<namespace>/<name>]).",
    severity=Severity.HIGH,
    control="GKE Workload Identity Federation; CIS GCP Foundations 1.6 (no broad impersonation)",
    area=AREA,
    scope="stack",
    clouds=(CLOUD,),
    remediation="gcp.serviceaccount.IAMMember(service_account_id=account.name, role='roles/iam.workloadIdentityUser', "
    "member='serviceAccount:<project>.svc.id.goog[<namespace>/<service account>]') (components/gcp/kubernetes.py).",
)


def _impersonation(args, report) -> None:
    accounts = of_type(args.resources, SERVICE_ACCOUNT)
    for grant in of_type(args.resources, SERVICE_ACCOUNT_IAM_MEMBER):
        where = short(grant.urn)
        role = str(grant.props.get("role") or "")
        if role != WORKLOAD_IDENTITY_USER:
            report(f"{where}: role {role or 'unset'} on a service account, not {WORKLOAD_IDENTITY_USER}", grant.urn)
        member = str(grant.props.get("member") or "")
        if not _KUBERNETES_SERVICE_ACCOUNT.fullmatch(member):
            report(f"{where}: member {member or 'unset'} is not one Kubernetes service account", grant.urn)
        if not any(points_at(grant, "serviceAccountId", a) for a in accounts):
            report(f"{where}: is on no service account of the stack", grant.urn)


POLICIES = [
    (IAM_001, resource_policy(IAM_001, _not_public)),
    (IAM_002, resource_policy(IAM_002, _narrow_project_grants)),
    (IAM_003, stack_policy(IAM_003, _no_keys)),
    (IAM_004, stack_policy(IAM_004, _custom_roles)),
    (IAM_005, stack_policy(IAM_005, _impersonation)),
]
