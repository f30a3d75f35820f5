"""Authorization: the stack's identities get data roles on the resources they use, never a role that governs
access or everything, never a grant as wide as a resource group or subscription, and only identities the stack
itself creates are granted anything."""

from __future__ import annotations

import re

from pulumi_policy import Severity

from ..core import Rule, as_list, plain, resource_policy, settings, short, stack_policy
from ..graph import of_type, points_at
from .types import CLOUD, FEDERATED_CREDENTIAL, IDENTITY, RESOURCE_GROUP, ROLE_ASSIGNMENT

AREA = "iam"
# Built-in role definition ids (the same GUID in every tenant; Azure built-in roles reference).
PRIVILEGED_ROLES = {
    "8e3af657-a8ff-443c-a75c-2fe8c4bcb635": "Owner",
    "b24988ac-6180-42a0-ab88-20f7382dd24c": "Contributor",
    "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9": "User Access Administrator",
    "f58310d9-a9f6-439a-9e8d-f62e7b41a168": "Role Based Access Control Administrator",
}
_WIDE_SCOPE = re.compile(
    r"^/(subscriptions/[^/]+(/resourceGroups/[^/]+)?|providers/Microsoft\.Management/.*)?/?$", re.I
)


def _role_guid(role_definition_id: object) -> str:
    return str(role_definition_id or "").rstrip("/").rsplit("/", 1)[-1].lower()


# --- PGP-AZURE-IAM-001 --------------------------------------------------------------------------------------
IAM_001 = Rule(
    id="PGP-AZURE-IAM-001",
    title="No privileged roles",
    why="Owner, Contributor and the access administrators let one compromised node identity take over or re-grant "
    "everything in their scope.",
    description="No role assignment grants a configured privileged built-in role (Owner, Contributor, User Access "
    "Administrator, Role Based Access Control Administrator, by role definition GUID).",
    severity=Severity.CRITICAL,
    control="CIS Microsoft Azure Foundations 1.x (least privilege); Azure Security Benchmark PA-7; CKV_AZURE_39",
    area=AREA,
    scope="resource",
    clouds=(CLOUD,),
    remediation="Grant the data role the identity needs (Storage Blob Data Contributor on the container, Key "
    "Vault Secrets User on the secret, Key Vault Crypto Service Encryption User on the key).",
    config={
        "privileged_role_ids": {
            "type": "array",
            "items": {"type": "string"},
            "default": sorted(PRIVILEGED_ROLES),
            "description": "built-in role definition GUIDs no assignment may grant",
        }
    },
)


def _privileged(args, report) -> None:
    if args.resource_type != ROLE_ASSIGNMENT:
        return
    guid = _role_guid(args.props.get("roleDefinitionId"))
    if guid in {g.lower() for g in settings(args, IAM_001)["privileged_role_ids"]}:
        report(f"{args.name}: grants {PRIVILEGED_ROLES.get(guid, 'privileged role')} ({guid})")


# --- PGP-AZURE-IAM-002 --------------------------------------------------------------------------------------
IAM_002 = Rule(
    id="PGP-AZURE-IAM-002",
    title="Role assignments scoped to a resource, for the stack's identities",
    why="A data role at resource-group or subscription scope reaches every other storage account and vault "
    "there; a grant to a principal the stack does not create is one nobody reviews with it.",
    description="Every role assignment's scope is a single resource (never a management group, subscription or "
    "resource group, by id or by depending on the stack's resource group), and its principal is a "
    "user-assigned identity of the stack or a configured principal.",
    severity=Severity.HIGH,
    control="Azure Security Benchmark PA-7 (least privilege); seed: node identity limited to its container, key "
    "and secrets",
    area=AREA,
    scope="stack",
    clouds=(CLOUD,),
    remediation="Pass scope=<the container's, key's or secret's id> and principal_id=identity.principal_id with "
    "principal_type='ServicePrincipal'.",
    config={
        "extra_principals": {
            "type": "array",
            "items": {"type": "string"},
            "default": [],
            "description": "principal object ids that may be granted roles besides the stack's identities",
        }
    },
)


def _scoped(args, report) -> None:
    extra = {p.lower() for p in settings(args, IAM_002)["extra_principals"]}
    groups = of_type(args.resources, RESOURCE_GROUP)
    identities = of_type(args.resources, IDENTITY)
    for ra in of_type(args.resources, ROLE_ASSIGNMENT):
        scope = str(ra.props.get("scope") or "")
        # A scope built from the group's id plus a resource path also depends on the group: only a scope that
        # depends on nothing but groups is the group itself.
        deps = ra.property_dependencies.get("scope") or []
        on_group = bool(deps) and all(any(points_at(ra, "scope", g) and d.urn == g.urn for g in groups) for d in deps)
        if _WIDE_SCOPE.match(scope) or on_group:
            report(f"{short(ra.urn)}: scope {scope or 'unset'} is wider than one resource", ra.urn)
        principal = str(ra.props.get("principalId") or "")
        if not any(points_at(ra, "principalId", i) for i in identities) and principal.lower() not in extra:
            report(f"{short(ra.urn)}: principal {principal or 'unset'} is not an identity of the stack", ra.urn)


# --- PGP-AZURE-IAM-003 --------------------------------------------------------------------------------------
# Entra ID's audience for a federated Kubernetes token, and the one form of a Kubernetes workload's subject.
TOKEN_EXCHANGE_AUDIENCE = "api://AzureADTokenExchange"
_SERVICE_ACCOUNT_SUBJECT = re.compile(
    r"system:serviceaccount:[a-z0-9]([-a-z0-9]*[a-z0-9])?:[a-z0-9]([-a-z0-9.]*[a-z0-9])?"
)

IAM_003 = Rule(
    id="PGP-AZURE-IAM-003",
    title="Federated credentials trust one workload",
    why="A federated credential lets whoever holds a token from its issuer with its subject act as the identity: "
    "a subject naming a whole namespace, an http issuer or another audience hands the backup writer to more than "
    "the one service account it is for.",
    description="Every federated identity credential belongs to a user-assigned identity of the stack, trusts an "
    "https issuer, one Kubernetes service account as its subject (system:serviceaccount:<namespace>:<name>) and "
    "only the api://AzureADTokenExchange audience.",
    severity=Severity.HIGH,
    control="Microsoft Entra Workload ID: federated identity credential considerations; seed: least privilege",
    area=AREA,
    scope="stack",
    clouds=(CLOUD,),
    remediation="FederatedIdentityCredential(resource_name_=identity.name, issuer=<the AKS OIDC issuer URL>, "
    "subject='system:serviceaccount:<namespace>:<service account>', audiences=['api://AzureADTokenExchange']) "
    "(components/azure/kubernetes.py).",
)


def _federated(args, report) -> None:
    identities = of_type(args.resources, IDENTITY)
    for credential in of_type(args.resources, FEDERATED_CREDENTIAL):
        p = credential.props
        where = short(credential.urn)
        if not str(p.get("issuer") or "").startswith("https://"):
            report(f"{where}: issuer {p.get('issuer') or 'unset'} is not an https:// URL", credential.urn)
        subject = str(p.get("subject") or "")
        if not _SERVICE_ACCOUNT_SUBJECT.fullmatch(subject):
            report(f"{where}: subject {subject or 'unset'} is not one Kubernetes service account", credential.urn)
        audiences = [str(a) for a in as_list(plain(p.get("audiences")))]
        if audiences != [TOKEN_EXCHANGE_AUDIENCE]:
            report(f"{where}: audiences {audiences} are not exactly [{TOKEN_EXCHANGE_AUDIENCE}]", credential.urn)
        if not any(points_at(credential, "resourceName", i) for i in identities):
            report(f"{where}: belongs to no user-assigned identity of the stack", credential.urn)


POLICIES = [
    (IAM_001, resource_policy(IAM_001, _privileged)),
    (IAM_002, stack_policy(IAM_002, _scoped)),
    (IAM_003, stack_policy(IAM_003, _federated)),
]
