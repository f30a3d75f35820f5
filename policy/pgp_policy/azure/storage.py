"""The backup vault on Azure Blob Storage: the storage account is hardened (TLS, no public or shared-key access,
deny by default, a customer key), its blob service keeps deleted and overwritten blobs, and every container is
private and under a time-based immutability policy that covers a backup chain. Every account is hardened; the
ones holding a container of the stack (the vault, not the flow-log account Network Watcher writes) also carry
the customer key, soft delete and the private endpoint (privatelink.py)."""

from __future__ import annotations

import re
from typing import Any

from pulumi_policy import Severity

from ..backup import full_backup_interval_days
from ..core import Rule, as_list, dig, resource_policy, settings, short, stack_policy, truthy
from ..graph import of_type, points_at
from .types import BLOB_SERVICE, CLOUD, CONTAINER, IMMUTABILITY, MANAGEMENT_POLICY, STORAGE_ACCOUNT

AREA = "backup"
TLS_VERSIONS = ("TLS1_0", "TLS1_1", "TLS1_2", "TLS1_3")


def refers(res: Any, prop: str, target: Any, name_key: str) -> bool:
    """`res.prop` names `target`: by dependency, or by the literal physical name the target was given."""
    if points_at(res, prop, target):
        return True
    if res.property_dependencies.get(prop):
        return False
    value, name = res.props.get(prop), target.props.get(name_key)
    return isinstance(value, str) and bool(value) and value == name


def companions(args, type_token: str, prop: str, target: Any, name_key: str) -> list[Any]:
    return [r for r in of_type(args.resources, type_token) if refers(r, prop, target, name_key)]


# --- PGP-AZURE-STG-001 --------------------------------------------------------------------------------------
STG_001 = Rule(
    id="PGP-AZURE-STG-001",
    title="Storage account hardened",
    why="Backups and WAL must never cross the network in clear text, never be readable anonymously, and never be "
    "reachable with an account key that bypasses Entra ID and its audit log.",
    description="Storage accounts require TLS 1.2 or later and HTTPS only, forbid anonymous blob access and "
    "shared-key (account key and SAS) authorization, so pgBackRest signs in with the node's managed "
    "identity.",
    severity=Severity.CRITICAL,
    control="CIS Microsoft Azure Foundations 4.1 (3.1, 3.7, 3.15); Azure Security Benchmark DP-3, IM-1; "
    "CKV_AZURE_3/44/190",
    area=AREA,
    scope="resource",
    clouds=(CLOUD,),
    remediation="Set minimum_tls_version='TLS1_2', enable_https_traffic_only=True, allow_blob_public_access=False "
    "and allow_shared_key_access=False; pgBackRest uses repo-azure-key-type=auto.",
    config={"min_tls_version": {"type": "string", "enum": list(TLS_VERSIONS), "default": "TLS1_2"}},
)


def _account_hardened(args, report) -> None:
    p = args.props
    minimum = settings(args, STG_001)["min_tls_version"]
    tls = str(p.get("minimumTlsVersion") or "TLS1_0")  # the API's default when unset
    if tls not in TLS_VERSIONS or TLS_VERSIONS.index(tls) < TLS_VERSIONS.index(minimum):
        report(f"{args.name}: minimumTlsVersion is {p.get('minimumTlsVersion') or 'unset (TLS1_0)'}, minimum {minimum}")
    if p.get("enableHttpsTrafficOnly") is not None and not truthy(p.get("enableHttpsTrafficOnly")):
        report(f"{args.name}: enableHttpsTrafficOnly is false")
    for flag in ("allowBlobPublicAccess", "allowSharedKeyAccess"):
        if p.get(flag) is None or truthy(p.get(flag)):
            report(f"{args.name}: {flag} is {'unset' if p.get(flag) is None else 'true'}, not false")


# --- PGP-AZURE-STG-002 --------------------------------------------------------------------------------------
STG_002 = Rule(
    id="PGP-AZURE-STG-002",
    title="Storage account denies network access by default",
    why="A storage endpoint open to every network is one leaked token away from an exfiltration of every backup.",
    description="Storage accounts deny network access by default (networkRuleSet.defaultAction Deny) and admit "
    "no IP ranges or virtual networks on their public endpoint: nodes reach the backup account through "
    "its private endpoint, Azure's trusted services (Network Watcher) through the bypass.",
    severity=Severity.HIGH,
    control="CIS Microsoft Azure Foundations 4.6/4.7 (3.8); Azure Security Benchmark NS-2; CKV_AZURE_35/59",
    area=AREA,
    scope="resource",
    clouds=(CLOUD,),
    remediation="Set network_rule_set={'default_action': 'Deny', 'bypass': 'None' (or 'AzureServices' for an "
    "account a trusted service writes)} and, for the backup account, public_network_access='Disabled'.",
)


def _account_network(args, report) -> None:
    rules = args.props.get("networkRuleSet") or {}
    if rules.get("defaultAction") != "Deny":
        report(
            f"{args.name}: networkRuleSet.defaultAction is {rules.get('defaultAction') or 'unset (Allow)'}, not Deny"
        )
    if args.props.get("publicNetworkAccess") == "Disabled":
        return
    for key in ("ipRules", "virtualNetworkRules"):
        if as_list(rules.get(key)):
            report(f"{args.name}: the public endpoint admits {len(as_list(rules.get(key)))} networkRuleSet.{key}")


def vault_accounts(args) -> list[Any]:
    """The storage accounts holding a blob container of the stack: the backup vault. A flow-log account holds
    only the container Network Watcher creates itself."""
    containers = of_type(args.resources, CONTAINER)
    return [
        a
        for a in of_type(args.resources, STORAGE_ACCOUNT)
        if any(refers(c, "accountName", a, "accountName") for c in containers)
    ]


# --- PGP-AZURE-STG-003 --------------------------------------------------------------------------------------
STG_003 = Rule(
    id="PGP-AZURE-STG-003",
    title="Backup account encrypted with a customer key",
    why="A customer key in the stack's Key Vault lets us audit and revoke access to backups independently of "
    "storage permissions.",
    description="Storage accounts holding a blob container of the stack encrypt with a Key Vault key "
    "(encryption.keySource Microsoft.Keyvault, keyVaultProperties naming the key and vault) read through "
    "a user-assigned identity, with infrastructure (double) encryption.",
    severity=Severity.HIGH,
    control="CIS Microsoft Azure Foundations 4.12 (3.9); Azure Security Benchmark DP-5; CKV2_AZURE_1",
    area=AREA,
    scope="stack",
    clouds=(CLOUD,),
    remediation="Set encryption={'key_source': 'Microsoft.Keyvault', 'key_vault_properties': {'key_name': ..., "
    "'key_vault_uri': ...}, 'encryption_identity': {'encryption_user_assigned_identity': ...}, "
    "'require_infrastructure_encryption': True}.",
)


def _account_cmek(args, report) -> None:
    for account in vault_accounts(args):
        name, enc = short(account.urn), account.props.get("encryption") or {}
        if enc.get("keySource") != "Microsoft.Keyvault":
            report(
                f"{name}: encryption.keySource is {enc.get('keySource') or 'unset (Microsoft.Storage)'}", account.urn
            )
            continue
        kv = enc.get("keyVaultProperties") or {}
        missing = [k for k in ("keyName", "keyVaultUri") if not kv.get(k)]
        if missing:
            report(f"{name}: encryption.keyVaultProperties lacks {', '.join(missing)}", account.urn)
        if not dig(enc, "encryptionIdentity", "encryptionUserAssignedIdentity"):
            report(f"{name}: encryption names no user-assigned identity to read the key", account.urn)
        if not truthy(enc.get("requireInfrastructureEncryption")):
            report(f"{name}: requireInfrastructureEncryption is not true", account.urn)


# --- PGP-AZURE-STG-004 --------------------------------------------------------------------------------------
STG_004 = Rule(
    id="PGP-AZURE-STG-004",
    title="Blob soft delete and versioning",
    why="pgBackRest rewrites its info files and expires old backups: versions and soft delete are what bring back "
    "a blob overwritten or deleted by mistake or by an attacker.",
    description="Each storage account holding a blob container of the stack has blob service properties with "
    "versioning on, blob soft delete and "
    "container soft delete enabled for at least the configured days, and permanent delete off.",
    severity=Severity.HIGH,
    control="CIS Microsoft Azure Foundations 4.10/4.11 (3.11); Azure Security Benchmark BR-2; CKV2_AZURE_38",
    area=AREA,
    scope="stack",
    clouds=(CLOUD,),
    remediation="Add BlobServiceProperties(account_name=account.name, blob_services_name='default', "
    "is_versioning_enabled=True, delete_retention_policy={'enabled': True, 'days': N}, "
    "container_delete_retention_policy={'enabled': True, 'days': N}).",
    config={"min_soft_delete_days": {"type": "integer", "minimum": 1, "maximum": 365, "default": 7}},
)


def _soft_delete(args, report) -> None:
    minimum = settings(args, STG_004)["min_soft_delete_days"]
    for account in vault_accounts(args):
        services = companions(args, BLOB_SERVICE, "accountName", account, "accountName")
        if not services:
            report(f"{short(account.urn)}: no BlobServiceProperties", account.urn)
            continue
        for svc in services:
            if not truthy(svc.props.get("isVersioningEnabled")):
                report(f"{short(account.urn)}: blob versioning is off", svc.urn)
            for key in ("deleteRetentionPolicy", "containerDeleteRetentionPolicy"):
                policy = svc.props.get(key) or {}
                days = int(policy.get("days") or 0)
                if not truthy(policy.get("enabled")) or days < minimum:
                    state = "enabled" if truthy(policy.get("enabled")) else "off"
                    report(f"{short(account.urn)}: {key} is {state}, {days} day(s), minimum {minimum}", svc.urn)
                if truthy(policy.get("allowPermanentDelete")):
                    report(f"{short(account.urn)}: {key}.allowPermanentDelete is true", svc.urn)


# --- PGP-AZURE-STG-005 --------------------------------------------------------------------------------------
STG_005 = Rule(
    id="PGP-AZURE-STG-005",
    title="Backup container immutable (WORM)",
    why="Backups that can be deleted can be deleted by ransomware or a stolen identity; a locked time-based "
    "retention policy cannot be shortened or removed, not even by the subscription owner.",
    description="Each blob container has a time-based immutability policy whose period is within bounds and "
    "covers at least one complete backup chain, without protected append writes; where the stage "
    "requires it (prod), the policy is Locked or a step of the stack locks it.",
    severity=Severity.CRITICAL,
    control="Azure Security Benchmark BR-2; seed: 14-day locked WORM in prod",
    area=AREA,
    scope="stack",
    clouds=(CLOUD,),
    remediation="Add BlobContainerImmutabilityPolicy(container_name=container.name, "
    "immutability_period_since_creation_in_days=objectives.worm_days, allow_protected_append_writes=False) "
    "and a command depending on it that locks it (az storage container immutability-policy lock --if-match "
    "<its etag>).",
    config={
        "min_lock_days": {"type": "integer", "minimum": 1, "default": 14},
        "max_lock_days": {
            "type": "integer",
            "minimum": 1,
            "default": 365,
            "description": "upper bound: a locked policy's blobs cannot be deleted before this",
        },
        "require_locked": {
            "type": "boolean",
            "default": True,
            "description": "require the policy Locked, or locked by a step of the stack",
        },
    },
)


def _locked(args, policy: Any) -> bool:
    """Locked already, or locked by a step of the stack: no azure-native resource can lock a policy (ARM only
    creates it Unlocked; locking is the blobContainers/lockImmutabilityPolicy POST), so the program runs that
    call as a command (Azure CLI's `storage container immutability-policy lock`) depending on the policy."""
    if policy.props.get("state") == "Locked":
        return True
    for r in args.resources:
        create = r.props.get("create") if "create" in r.props else None
        if not isinstance(create, str) or not re.search(r"immutability-policy\s+lock|lockImmutabilityPolicy", create):
            continue
        if any(d.urn == policy.urn for deps in r.property_dependencies.values() for d in deps):
            return True
    return False


def _immutable(args, report) -> None:
    cfg = settings(args, STG_005)
    chain = full_backup_interval_days(args.resources)
    for container in of_type(args.resources, CONTAINER):
        policies = companions(args, IMMUTABILITY, "containerName", container, "containerName")
        if not policies:
            report(f"{short(container.urn)}: no BlobContainerImmutabilityPolicy", container.urn)
            continue
        for pol in policies:
            days = pol.props.get("immutabilityPeriodSinceCreationInDays")
            if days is None:
                report(f"{short(container.urn)}: immutability policy has no period", pol.urn)
                continue
            days = int(days)
            if not cfg["min_lock_days"] <= days <= cfg["max_lock_days"]:
                report(
                    f"{short(container.urn)}: immutability of {days} day(s) is outside "
                    f"{cfg['min_lock_days']}-{cfg['max_lock_days']}",
                    pol.urn,
                )
            if chain and days < chain:
                report(
                    f"{short(container.urn)}: immutability of {days} day(s) is shorter than the {chain}-day "
                    f"full-backup interval, so a backup chain outlives its full backup's lock",
                    pol.urn,
                )
            for flag in ("allowProtectedAppendWrites", "allowProtectedAppendWritesAll"):
                if truthy(pol.props.get(flag)):
                    report(f"{short(container.urn)}: {flag} is true", pol.urn)
            if cfg["require_locked"] and not _locked(args, pol):
                report(
                    f"{short(container.urn)}: immutability policy is {pol.props.get('state') or 'Unlocked'}, and "
                    f"no step of the stack locks it",
                    pol.urn,
                )


# --- PGP-AZURE-STG-006 --------------------------------------------------------------------------------------
STG_006 = Rule(
    id="PGP-AZURE-STG-006",
    title="Containers are private",
    why="One container with anonymous access would publish every backup of the database.",
    description="Blob containers allow no anonymous access (publicAccess None or unset).",
    severity=Severity.CRITICAL,
    control="CIS Microsoft Azure Foundations 4.17 (3.5); CKV_AZURE_34",
    area=AREA,
    scope="resource",
    clouds=(CLOUD,),
    remediation="Leave public_access unset or 'None'.",
)


def _private_container(args, report) -> None:
    access = args.props.get("publicAccess")
    if access not in (None, "None"):
        report(f"{args.name}: publicAccess is {access}")


# --- PGP-AZURE-STG-007 --------------------------------------------------------------------------------------
STG_007 = Rule(
    id="PGP-AZURE-STG-007",
    title="Backup account lifecycle cleans up after the immutability period",
    why="pgBackRest's expire and every rewrite of its info files leave previous versions behind: without a "
    "lifecycle rule storage grows forever. A rule touching current blobs would delete or archive live backups "
    "and WAL under pgBackRest, and archived blobs take hours to restore.",
    description="Each storage account holding a blob container of the stack has a management policy with an "
    "enabled rule deleting previous versions no sooner than the longest immutability period of its "
    "containers, and no enabled rule deleting or archiving current blobs.",
    severity=Severity.MEDIUM,
    control="Azure Security Benchmark BR-2 (by analogy: CKV2_AWS_61); seed: retention is pgBackRest's",
    area=AREA,
    scope="stack",
    clouds=(CLOUD,),
    remediation="Add ManagementPolicy(account_name=account.name, management_policy_name='default', policy={'rules': "
    "[{'name': ..., 'type': 'Lifecycle', 'enabled': True, 'definition': {'filters': {'blob_types': "
    "['blockBlob']}, 'actions': {'version': {'delete': {'days_after_creation_greater_than': lock days + 1}}}}}]}).",
)


def _lifecycle(args, report) -> None:
    containers = of_type(args.resources, CONTAINER)
    for account in vault_accounts(args):
        mine = [c for c in containers if refers(c, "accountName", account, "accountName")]
        locks = [p for c in mine for p in companions(args, IMMUTABILITY, "containerName", c, "containerName")]
        lock_days = max([int(p.props.get("immutabilityPeriodSinceCreationInDays") or 0) for p in locks] or [0])
        policies = companions(args, MANAGEMENT_POLICY, "accountName", account, "accountName")
        anchor = policies[0].urn if len(policies) == 1 else account.urn
        rules = [
            r
            for p in policies
            for r in as_list(dig(p.props, "policy", "rules"))
            if r.get("enabled") is None or truthy(r.get("enabled"))
        ]
        expiry = [
            int(d)
            for d in (
                dig(r, "definition", "actions", "version", "delete", "daysAfterCreationGreaterThan") for r in rules
            )
            if d is not None
        ]
        if not expiry:
            report(f"{short(account.urn)}: no enabled lifecycle rule deletes previous versions", anchor)
        elif min(expiry) < lock_days:
            report(
                f"{short(account.urn)}: previous versions are deleted after {min(expiry)} day(s), before the "
                f"{lock_days}-day immutability period ends",
                anchor,
            )
        for r in rules:
            base = dig(r, "definition", "actions", "baseBlob") or {}
            touched = [k for k in ("delete", "tierToArchive") if base.get(k)]
            if touched:
                report(
                    f"{short(account.urn)}: lifecycle rule {r.get('name')} applies {', '.join(touched)} to current "
                    f"blobs, under pgBackRest",
                    anchor,
                )


def _only(type_token: str, fn):
    def validate(args, report):
        if args.resource_type == type_token:
            fn(args, report)

    return validate


POLICIES = [
    (STG_001, resource_policy(STG_001, _only(STORAGE_ACCOUNT, _account_hardened))),
    (STG_002, resource_policy(STG_002, _only(STORAGE_ACCOUNT, _account_network))),
    (STG_003, stack_policy(STG_003, _account_cmek)),
    (STG_004, stack_policy(STG_004, _soft_delete)),
    (STG_005, stack_policy(STG_005, _immutable)),
    (STG_006, resource_policy(STG_006, _only(CONTAINER, _private_container))),
    (STG_007, stack_policy(STG_007, _lifecycle)),
]
