"""Key Vault: the vault holding the stack's keys and secrets survives deletion, authorizes through Azure RBAC
and is reachable only privately; keys are strong and rotate; secrets say what they hold and are usable."""

from __future__ import annotations

from pulumi_policy import Severity

from ..core import Rule, as_list, dig, resource_policy, settings, truthy
from .types import CLOUD, KEY, KEY_VAULT, SECRET

AREA = "iam"


def _only(type_token: str, fn):
    def validate(args, report):
        if args.resource_type == type_token:
            fn(args, report)

    return validate


# --- PGP-AZURE-KV-001 ---------------------------------------------------------------------------------------
KV_001 = Rule(
    id="PGP-AZURE-KV-001",
    title="Key Vault recoverable",
    why="Deleting the vault (or its storage key) makes every backup encrypted with it unreadable; purge protection "
    "keeps a deleted vault recoverable for its retention, and nobody can shorten that.",
    description="Key vaults keep soft delete on (enableSoftDelete not false) for at least the configured days "
    "and have purge protection enabled.",
    severity=Severity.HIGH,
    control="CIS Microsoft Azure Foundations 8.5; Azure Security Benchmark DP-8; CKV_AZURE_42/110",
    area=AREA,
    scope="resource",
    clouds=(CLOUD,),
    remediation="Set properties.enable_purge_protection=True and soft_delete_retention_in_days >= the minimum.",
    config={"min_soft_delete_days": {"type": "integer", "minimum": 7, "maximum": 90, "default": 90}},
)


def _recoverable(args, report) -> None:
    p = args.props.get("properties") or {}
    minimum = settings(args, KV_001)["min_soft_delete_days"]
    if not truthy(p.get("enablePurgeProtection")):
        report(f"{args.name}: enablePurgeProtection is not true")
    if p.get("enableSoftDelete") is not None and not truthy(p.get("enableSoftDelete")):
        report(f"{args.name}: enableSoftDelete is false")
    days = int(p.get("softDeleteRetentionInDays") or 90)  # the API's default
    if days < minimum:
        report(f"{args.name}: softDeleteRetentionInDays is {days}, minimum {minimum}")


# --- PGP-AZURE-KV-002 ---------------------------------------------------------------------------------------
KV_002 = Rule(
    id="PGP-AZURE-KV-002",
    title="Key Vault authorizes through Azure RBAC",
    why="Access policies grant vault-wide permissions outside Azure RBAC and its Privileged Identity Management; "
    "RBAC scopes a node's grant to one key or secret and logs every assignment.",
    description="Key vaults use the RBAC permission model (enableRbacAuthorization true) and carry no access policies.",
    severity=Severity.MEDIUM,
    control="CIS Microsoft Azure Foundations 8.6; Azure Security Benchmark PA-7",
    area=AREA,
    scope="resource",
    clouds=(CLOUD,),
    remediation="Set properties.enable_rbac_authorization=True, drop access_policies, and grant roles "
    "(Key Vault Crypto Service Encryption User, Key Vault Secrets User) with RoleAssignments.",
)


def _rbac(args, report) -> None:
    p = args.props.get("properties") or {}
    if not truthy(p.get("enableRbacAuthorization")):
        report(f"{args.name}: enableRbacAuthorization is not true")
    if as_list(p.get("accessPolicies")):
        report(f"{args.name}: {len(as_list(p.get('accessPolicies')))} access polic(ies) bypass RBAC")


# --- PGP-AZURE-KV-003 ---------------------------------------------------------------------------------------
KV_003 = Rule(
    id="PGP-AZURE-KV-003",
    title="Key Vault not publicly reachable",
    why="A vault endpoint open to the internet is one stolen token away from reading the database's secrets.",
    description="Key vaults deny network access by default (networkAcls.defaultAction Deny, trusted Azure "
    "services allowed to bypass for disk and storage encryption) and disable public network access, "
    "or deny by default with no IP rules.",
    severity=Severity.HIGH,
    control="CIS Microsoft Azure Foundations 8.7; Azure Security Benchmark NS-2; CKV_AZURE_109/189",
    area=AREA,
    scope="resource",
    clouds=(CLOUD,),
    remediation="Set properties.network_acls={'default_action': 'Deny', 'bypass': 'AzureServices'} and "
    "public_network_access='Disabled' (nodes use the vault's private endpoint).",
)


def _vault_network(args, report) -> None:
    p = args.props.get("properties") or {}
    action = dig(p, "networkAcls", "defaultAction")
    if action != "Deny":
        report(f"{args.name}: networkAcls.defaultAction is {action or 'unset (Allow)'}, not Deny")
    ip_rules = as_list(dig(p, "networkAcls", "ipRules"))
    if str(p.get("publicNetworkAccess") or "Enabled") != "Disabled" and ip_rules:
        report(f"{args.name}: public network access admits {len(ip_rules)} IP rule(s)")


# --- PGP-AZURE-KV-004 ---------------------------------------------------------------------------------------
KV_004 = Rule(
    id="PGP-AZURE-KV-004",
    title="Keys strong and rotating",
    why="Rotation limits how much data one compromised key version protects; storage and disk encryption follow "
    "the newest version automatically when they name no version.",
    description="Key Vault keys are RSA of at least the configured size (or EC), and carry a rotation policy "
    "with a rotate action and an expiry time.",
    severity=Severity.MEDIUM,
    control="CIS Microsoft Azure Foundations 8.1/8.9 (key expiry, rotation); CKV_AZURE_40/112",
    area=AREA,
    scope="resource",
    clouds=(CLOUD,),
    remediation="Set properties.kty='RSA-HSM' (or RSA), key_size >= the minimum, and rotation_policy="
    "{'attributes': {'expiry_time': 'P1Y'}, 'lifetime_actions': [{'action': {'type': 'rotate'}, 'trigger': "
    "{'time_before_expiry': 'P30D'}}]}.",
    config={"min_rsa_bits": {"type": "integer", "minimum": 2048, "default": 3072}},
)


def _key(args, report) -> None:
    p = args.props.get("properties") or {}
    kty = str(p.get("kty") or "unset")
    minimum = settings(args, KV_004)["min_rsa_bits"]
    if kty.startswith("RSA"):
        size = int(p.get("keySize") or 2048)  # the API's default
        if size < minimum:
            report(f"{args.name}: RSA key of {size} bits, minimum {minimum}")
    elif not kty.startswith("EC"):
        report(f"{args.name}: kty is {kty}")
    policy = p.get("rotationPolicy") or {}
    actions = [str(dig(a, "action", "type") or "").lower() for a in as_list(policy.get("lifetimeActions"))]
    if "rotate" not in actions:
        report(f"{args.name}: rotationPolicy has no rotate action")
    if not dig(policy, "attributes", "expiryTime"):
        report(f"{args.name}: rotationPolicy sets no expiryTime")


# --- PGP-AZURE-KV-005 ---------------------------------------------------------------------------------------
KV_005 = Rule(
    id="PGP-AZURE-KV-005",
    title="Secrets typed and enabled",
    why="A secret without a content type cannot be told from another by the operator rotating it; a disabled "
    "secret fails the nodes' boot, which reads it.",
    description="Key Vault secrets carry a content type and are not disabled (attributes.enabled not false).",
    severity=Severity.LOW,
    control="seed: secrets in Key Vault, referenced by the nodes",
    area=AREA,
    scope="resource",
    clouds=(CLOUD,),
    remediation="Set properties.content_type (e.g. 'text/plain; postgres superuser password') and leave "
    "attributes.enabled unset or True.",
)


def _secret(args, report) -> None:
    p = args.props.get("properties") or {}
    if not str(p.get("contentType") or "").strip():
        report(f"{args.name}: no contentType")
    enabled = dig(p, "attributes", "enabled")
    if enabled is not None and not truthy(enabled):
        report(f"{args.name}: attributes.enabled is false")


POLICIES = [
    (KV_001, resource_policy(KV_001, _only(KEY_VAULT, _recoverable))),
    (KV_002, resource_policy(KV_002, _only(KEY_VAULT, _rbac))),
    (KV_003, resource_policy(KV_003, _only(KEY_VAULT, _vault_network))),
    (KV_004, resource_policy(KV_004, _only(KEY, _key))),
    (KV_005, resource_policy(KV_005, _only(SECRET, _secret))),
]
