"""Azure's own rule families (PGP-AZURE-*) and the shared rules on an Azure stack, through the analyzer protocol:
the compliant Azure fixture stack passes every rule, and each violating variant fails with the rule's id,
mandatory in prod, and a message naming what is wrong, reported on the resource it names. Every Azure type the
build uses (tools/constraints/azure.py) is changed by some failing row, so each is judged by a rule."""

from __future__ import annotations

import base64
import gzip
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from tests.policy.azure.fixtures import (
    LOCK,
    OWNER,
    PGBACKREST,
    AzureStack,
    nsg_rule,
    tagged,
)
from tests.policy.conftest import by_policy, cloud_of, dump
from tests.policy.fixtures import ALERTS, monitoring_user_data, rec

NSG = "pg-network-db-nsg"
RULE = "azure-native:network:SecurityRule"
Mutation = Callable[[AzureStack], str | None]


# --- mutations: each breaks one thing and returns the resource the report names (None: stack-wide) ----------


def set_input(name: str, path: str, value) -> Mutation:
    def mutate(s: AzureStack) -> str:
        target = s.find(name).inputs
        *parents, last = path.split(".")
        for p in parents:
            target = target[int(p)] if isinstance(target, list) else target[p]
        if isinstance(target, list):
            target[int(last)] = value
        elif value is None:
            target.pop(last, None)
        else:
            target[last] = value
        return name

    return mutate


def remove(name: str, anchor: str | None = None) -> Mutation:
    def mutate(s: AzureStack) -> str | None:
        s.remove(name)
        return anchor

    return mutate


def add(type_token: str, name: str, inputs: dict, refs: dict[str, list[str]] | None = None) -> Mutation:
    def mutate(s: AzureStack) -> str:
        s.records.append(
            rec(type_token, name, inputs, refs={k: [s.find(n) for n in v] for k, v in (refs or {}).items()})
        )
        return name

    return mutate


def set_refs(name: str, prop: str, targets: list[str], anchor: str | None = None) -> Mutation:
    def mutate(s: AzureStack) -> str | None:
        s.find(name).property_dependencies[prop] = [s.find(t).urn for t in targets]
        return anchor or name

    return mutate


def both(*mutations: Mutation) -> Mutation:
    def mutate(s: AzureStack) -> str | None:
        anchors = [m(s) for m in mutations]
        return anchors[-1]

    return mutate


def inbound(name: str, sources, ports, access: str = "Allow", priority: int = 200) -> dict:
    return {"networkSecurityGroupName": NSG, **nsg_rule(name, "Inbound", access, priority, sources, ports, "x")}


def node_files(extra: dict[str, str], nodes: int = 1) -> Mutation:
    def mutate(s: AzureStack) -> str:
        s.set_node_files(extra, nodes)
        return s.nodes[0].name

    return mutate


def patroni_edit(change) -> Mutation:
    def mutate(s: AzureStack) -> str:
        s.edit_patroni(change)
        return s.nodes[0].name

    return mutate


def unprotect(name: str) -> Mutation:
    def mutate(s: AzureStack) -> str:
        s.find(name).protect = False
        return name

    return mutate


def drop_alerts(s: AzureStack) -> None:
    for r in list(s.records):
        if r.type == "azure-native:monitor:MetricAlert":
            s.remove(r.name)


def alerts_without(alert: str) -> Mutation:
    def mutate(s: AzureStack) -> None:
        doc = {"groups": [{"name": "pg", "rules": [r for r in ALERTS["groups"][0]["rules"] if r["alert"] != alert]}]}
        s.monitor.inputs["osProfile"]["customData"] = monitoring_user_data(doc)

    return mutate


def same_zone(s: AzureStack) -> str:
    for n in s.nodes:
        n.inputs["zones"] = ["1"]
    return s.nodes[0].name


VM1 = "pg-cluster-pg-1"
ACCOUNT = "pgprodbackup"
KEY = "pg-secrets-backup-key"
KV = "pg-secrets-kv"

VIOLATIONS = [
    # network
    (
        "PGP-AZURE-NET-001",
        "public ip on a nic",
        set_input("pg-cluster-pg-1-nic", "ipConfigurations.0.publicIPAddress", {"id": "pip-id"}),
        "ipConfigurations[0] has a publicIPAddress",
    ),
    (
        "PGP-AZURE-NET-001",
        "inline nic with a public ip",
        set_input(
            VM1,
            "networkProfile",
            {
                "networkInterfaceConfigurations": [
                    {"name": "nic", "ipConfigurations": [{"name": "ip", "publicIPAddressConfiguration": {"name": "p"}}]}
                ]
            },
        ),
        "has a publicIPAddressConfiguration",
    ),
    (
        "PGP-AZURE-NET-002",
        "internet tag",
        add(RULE, "open-internet", inbound("open", ["Internet"], [22]), {"networkSecurityGroupName": [NSG]}),
        "allows inbound from Internet to port(s) 22",
    ),
    (
        "PGP-AZURE-NET-002",
        "star inline",
        set_input(
            NSG, "securityRules.0", nsg_rule("clients", "Inbound", "Allow", 100, ["*"], [5432], "allowlisted clients")
        ),
        "allows inbound from * to port(s) 5432",
    ),
    (
        "PGP-AZURE-NET-002",
        "half the internet",
        add(RULE, "open-half", inbound("half", ["128.0.0.0/1"], [443])),
        "allows inbound from 128.0.0.0/1",
    ),
    (
        "PGP-AZURE-NET-003",
        "virtual network tag",
        add(RULE, "vnet-tag", inbound("vnet", ["VirtualNetwork"], [5432])),
        "admits VirtualNetwork to client port(s) 5432, outside the allowlist",
    ),
    (
        "PGP-AZURE-NET-003",
        "unlisted cidr",
        add(RULE, "other-net", inbound("other", ["10.91.0.0/16"], ["6000-7000"])),
        "admits 10.91.0.0/16 to client port(s) 6432",
    ),
    (
        "PGP-AZURE-NET-004",
        "no final deny",
        set_input(NSG, "securityRules", []),
        "no inbound deny-all rule",
    ),
    (
        "PGP-AZURE-NET-004",
        "deny before an allow",
        set_input(NSG, "securityRules.4.priority", 115),
        "the deny-all rule (priority 115) is evaluated before the allow rule at priority 130",
    ),
    (
        "PGP-AZURE-NET-005",
        "subnet without nsg",
        set_input("pg-network-db", "networkSecurityGroup", None),
        "has no networkSecurityGroup",
    ),
    (
        "PGP-AZURE-NET-005",
        "default outbound",
        set_input("pg-network-endpoints", "defaultOutboundAccess", True),
        "defaultOutboundAccess is not false",
    ),
    (
        "PGP-AZURE-NET-005",
        "inline subnet",
        set_input("pg-network-vnet", "subnets", [{"name": "extra", "addressPrefix": "10.80.9.0/24"}]),
        "subnets[0] (extra) has no networkSecurityGroup",
    ),
    (
        "PGP-AZURE-NET-006",
        "no flow log",
        remove("pg-network-flow-log", "pg-network-vnet"),
        "pg-network-vnet has no flow log",
    ),
    (
        "PGP-AZURE-NET-006",
        "short retention",
        set_input("pg-network-flow-log", "retentionPolicy.days", 7),
        "retention is enabled, 7 day(s), minimum 90",
    ),
    (
        "PGP-AZURE-NET-006",
        "watcher elsewhere",
        remove("pg-network-watcher", "pg-network-flow-log"),
        "its Network Watcher is not in the stack",
    ),
    (
        "PGP-AZURE-NET-007",
        "undeclared peer",
        set_input(
            "pg-network-peer-app",
            "remoteVirtualNetwork.id",
            "/subscriptions/x/resourceGroups/y/providers/Microsoft.Network/virtualNetworks/rogue",
        ),
        "virtualNetworks/rogue is not a declared peer",
    ),
    (
        "PGP-AZURE-NET-007",
        "gateway transit",
        set_input("pg-network-peer-app-remote", "allowGatewayTransit", True),
        "allowGatewayTransit is true",
    ),
    (
        "PGP-AZURE-NET-008",
        "public frontend",
        set_input("pg-cluster-lb", "frontendIPConfigurations.0.publicIPAddress", {"id": "pip"}),
        "frontendIPConfigurations[0] is public",
    ),
    ("PGP-AZURE-NET-008", "basic sku", set_input("pg-cluster-lb", "sku.name", "Basic"), "sku is Basic"),
    (
        "PGP-AZURE-NET-009",
        "stray public ip",
        add("azure-native:network:PublicIPAddress", "stray-ip", {"sku": {"name": "Standard"}, "tags": tagged()}),
        "public IP address not attached to a NAT gateway",
    ),
    (
        "PGP-AZURE-NET-009",
        "nat without its ip",
        set_refs("pg-network-nat", "publicIpAddresses", [], anchor="pg-network-nat-ip"),
        "not attached to a NAT gateway of the stack",
    ),
    (
        "PGP-AZURE-NET-010",
        "undescribed",
        set_input("pg-network-db-scrapes", "description", ""),
        "has no description",
    ),
    # private link and DNS
    (
        "PGP-AZURE-PE-001",
        "no endpoint",
        remove("pg-vault-blob-endpoint", ACCOUNT),
        "no private endpoint for its blob service",
    ),
    (
        "PGP-AZURE-PE-001",
        "no dns zone group",
        remove("pg-vault-blob-endpoint-dns", "pg-vault-blob-endpoint"),
        "no DNS zone group naming a private zone of the stack",
    ),
    (
        "PGP-AZURE-PE-001",
        "endpoint for another sub-resource",
        both(
            set_input("pg-vault-blob-endpoint", "privateLinkServiceConnections.0.groupIds", ["file"]), lambda s: ACCOUNT
        ),
        "no private endpoint for its blob service",
    ),
    (
        "PGP-AZURE-DNS-001",
        "unlinked zone",
        add("azure-native:privatedns:PrivateZone", "lonely-zone", {"privateZoneName": "x.internal", "tags": tagged()}),
        "not linked to a virtual network of the stack",
    ),
    (
        "PGP-AZURE-DNS-001",
        "auto-registration",
        set_input("pg-network-blob-zone-link", "registrationEnabled", True),
        "registrationEnabled is true",
    ),
    (
        "PGP-AZURE-IAM-003",
        "namespace-wide subject",
        set_input("pg-identity-node-federation", "subject", "system:serviceaccount:pgp-test:*"),
        "is not one Kubernetes service account",
    ),
    (
        "PGP-AZURE-IAM-003",
        "another audience",
        set_input("pg-identity-node-federation", "audiences", ["api://AzureADTokenExchange", "https://x"]),
        "are not exactly [api://AzureADTokenExchange]",
    ),
    (
        "PGP-AZURE-IAM-003",
        "http issuer",
        set_input("pg-identity-node-federation", "issuer", "http://issuer.example/"),
        "is not an https:// URL",
    ),
    (
        "PGP-AZURE-IAM-003",
        "foreign identity",
        set_refs("pg-identity-node-federation", "resourceName", []),
        "belongs to no user-assigned identity of the stack",
    ),
    (
        "PGP-AZURE-DNS-002",
        "public record",
        set_input("pg-network-db-zone-primary", "aRecords", [{"ipv4Address": "20.50.1.2"}]),
        "names the public address 20.50.1.2",
    ),
    # storage
    (
        "PGP-AZURE-STG-001",
        "tls 1.0",
        set_input(ACCOUNT, "minimumTlsVersion", "TLS1_0"),
        "minimumTlsVersion is TLS1_0, minimum TLS1_2",
    ),
    ("PGP-AZURE-STG-001", "http", set_input(ACCOUNT, "enableHttpsTrafficOnly", False), "enableHttpsTrafficOnly"),
    (
        "PGP-AZURE-STG-001",
        "shared key",
        set_input("pgnetworkflowlogs", "allowSharedKeyAccess", None),
        "allowSharedKeyAccess is unset, not false",
    ),
    (
        "PGP-AZURE-STG-001",
        "public blobs",
        set_input(ACCOUNT, "allowBlobPublicAccess", True),
        "allowBlobPublicAccess is true, not false",
    ),
    (
        "PGP-AZURE-STG-002",
        "allow by default",
        set_input(ACCOUNT, "networkRuleSet.defaultAction", "Allow"),
        "networkRuleSet.defaultAction is Allow, not Deny",
    ),
    (
        "PGP-AZURE-STG-002",
        "ip rules on a public endpoint",
        set_input("pgnetworkflowlogs", "networkRuleSet.ipRules", [{"value": "20.1.2.3"}]),
        "the public endpoint admits 1 networkRuleSet.ipRules",
    ),
    (
        "PGP-AZURE-STG-003",
        "microsoft keys",
        set_input(ACCOUNT, "encryption", {"keySource": "Microsoft.Storage"}),
        "encryption.keySource is Microsoft.Storage",
    ),
    (
        "PGP-AZURE-STG-003",
        "no identity for the key",
        set_input(ACCOUNT, "encryption.encryptionIdentity", None),
        "names no user-assigned identity",
    ),
    (
        "PGP-AZURE-STG-004",
        "no versioning",
        set_input("pg-vault-blob-service", "isVersioningEnabled", False),
        "blob versioning is off",
    ),
    (
        "PGP-AZURE-STG-004",
        "short soft delete",
        set_input("pg-vault-blob-service", "deleteRetentionPolicy.days", 1),
        "deleteRetentionPolicy is enabled, 1 day(s), minimum 7",
    ),
    (
        "PGP-AZURE-STG-004",
        "no blob service",
        remove("pg-vault-blob-service", ACCOUNT),
        "no BlobServiceProperties",
    ),
    (
        "PGP-AZURE-STG-005",
        "too short",
        set_input(LOCK, "immutabilityPeriodSinceCreationInDays", 3),
        "immutability of 3 day(s) is outside 14-365",
    ),
    (
        "PGP-AZURE-STG-005",
        "append writes",
        set_input(LOCK, "allowProtectedAppendWrites", True),
        "allowProtectedAppendWrites is true",
    ),
    ("PGP-AZURE-STG-005", "no policy", remove(LOCK, "pg-vault-container"), "no BlobContainerImmutabilityPolicy"),
    (
        "PGP-AZURE-STG-005",
        "never locked",
        remove("pg-vault-immutability-lock", LOCK),
        "immutability policy is Unlocked, and no step of the stack locks it",
    ),
    (
        "PGP-AZURE-STG-006",
        "public container",
        set_input("pg-vault-container", "publicAccess", "Container"),
        "publicAccess is Container",
    ),
    (
        "PGP-AZURE-STG-007",
        "versions expire inside the lock",
        set_input(
            "pg-vault-lifecycle", "policy.rules.0.definition.actions.version.delete.daysAfterCreationGreaterThan", 5
        ),
        "previous versions are deleted after 5 day(s), before the 14-day immutability period ends",
    ),
    (
        "PGP-AZURE-STG-007",
        "no lifecycle",
        remove("pg-vault-lifecycle", ACCOUNT),
        "no enabled lifecycle rule deletes previous versions",
    ),
    (
        "PGP-AZURE-STG-007",
        "current blobs archived",
        set_input(
            "pg-vault-lifecycle",
            "policy.rules.0.definition.actions.baseBlob",
            {"tierToArchive": {"daysAfterModificationGreaterThan": 30}},
        ),
        "applies tierToArchive to current blobs",
    ),
    # Key Vault
    (
        "PGP-AZURE-KV-001",
        "no purge protection",
        set_input(KV, "properties.enablePurgeProtection", False),
        "enablePurgeProtection is not true",
    ),
    (
        "PGP-AZURE-KV-001",
        "short soft delete",
        set_input(KV, "properties.softDeleteRetentionInDays", 7),
        "softDeleteRetentionInDays is 7, minimum 90",
    ),
    (
        "PGP-AZURE-KV-002",
        "access policies",
        both(
            set_input(KV, "properties.enableRbacAuthorization", False),
            set_input(KV, "properties.accessPolicies", [{"objectId": "x", "permissions": {"secrets": ["get"]}}]),
        ),
        "enableRbacAuthorization is not true",
    ),
    (
        "PGP-AZURE-KV-003",
        "open vault",
        both(
            set_input(KV, "properties.networkAcls", None),
            set_input(KV, "properties.publicNetworkAccess", "Enabled"),
        ),
        "networkAcls.defaultAction is unset (Allow), not Deny",
    ),
    ("PGP-AZURE-KV-004", "small rsa", set_input(KEY, "properties.keySize", 2048), "RSA key of 2048 bits, minimum 3072"),
    (
        "PGP-AZURE-KV-004",
        "never rotates",
        set_input(KEY, "properties.rotationPolicy", None),
        "rotationPolicy has no rotate action",
    ),
    (
        "PGP-AZURE-KV-005",
        "untyped",
        set_input("pg-secrets-superuser", "properties.contentType", None),
        "no contentType",
    ),
    (
        "PGP-AZURE-KV-005",
        "disabled",
        set_input("pg-secrets-superuser", "properties.attributes", {"enabled": False}),
        "attributes.enabled is false",
    ),
    # compute
    (
        "PGP-AZURE-VM-001",
        "platform key on the os disk",
        both(
            set_input(VM1, "securityProfile.encryptionAtHost", False),
            set_input(VM1, "storageProfile.osDisk.managedDisk.diskEncryptionSet", None),
        ),
        "osDisk names no diskEncryptionSet and encryptionAtHost is off",
    ),
    (
        "PGP-AZURE-VM-001",
        "platform key on a disk",
        set_input("pg-cluster-pg-2-data", "encryption", None),
        "encryption.type is EncryptionAtRestWithPlatformKey, not a customer key",
    ),
    (
        "PGP-AZURE-VM-002",
        "standard security",
        set_input(VM1, "securityProfile.securityType", None),
        "securityProfile.securityType is unset (Standard)",
    ),
    (
        "PGP-AZURE-VM-002",
        "no vtpm",
        set_input(VM1, "securityProfile.uefiSettings.vTpmEnabled", False),
        "uefiSettings.vTpmEnabled is not true",
    ),
    (
        "PGP-AZURE-VM-003",
        "password login",
        both(
            set_input(VM1, "osProfile.linuxConfiguration.disablePasswordAuthentication", False),
            set_input(VM1, "osProfile.adminPassword", "Sup3r-secret!"),
        ),
        "disablePasswordAuthentication is not true",
    ),
    ("PGP-AZURE-VM-004", "regional vm", set_input(VM1, "zones", None), "zones is unset, expected exactly one zone"),
    (
        "PGP-AZURE-VM-005",
        "no boot diagnostics",
        set_input(VM1, "diagnosticsProfile", None),
        "bootDiagnostics.enabled is not true",
    ),
    (
        "PGP-AZURE-VM-006",
        "pinned key version",
        set_input("pg-cluster-des", "rotationToLatestKeyVersionEnabled", False),
        "rotationToLatestKeyVersionEnabled is not true",
    ),
    (
        "PGP-AZURE-VM-006",
        "platform key set",
        set_input("pg-cluster-des", "encryptionType", "EncryptionAtRestWithPlatformKey"),
        "encryptionType is EncryptionAtRestWithPlatformKey",
    ),
    # identity
    (
        "PGP-AZURE-IAM-001",
        "owner",
        set_input("pg-vault-node-writer", "roleDefinitionId", OWNER),
        "grants Owner (8e3af657-a8ff-443c-a75c-2fe8c4bcb635)",
    ),
    (
        "PGP-AZURE-IAM-002",
        "resource group scope",
        both(
            set_input("pg-identity-node-secrets", "scope", "pg-rg-id"),
            set_refs("pg-identity-node-secrets", "scope", ["pg-rg"]),
        ),
        "scope pg-rg-id is wider than one resource",
    ),
    (
        "PGP-AZURE-IAM-002",
        "subscription scope",
        set_input("pg-vault-node-writer", "scope", "/subscriptions/0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9"),
        "scope /subscriptions/0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9 is wider than one resource",
    ),
    (
        "PGP-AZURE-IAM-002",
        "foreign principal",
        remove("pg-vault-key-identity", "pg-vault-key-user"),
        "principal key-identity-principal is not an identity of the stack",
    ),
    # monitor
    (
        "PGP-AZURE-MON-001",
        "silent alert",
        set_input("pg-cluster-pg-1-availability", "actions", []),
        "no action group in actions",
    ),
    (
        "PGP-AZURE-MON-001",
        "disabled alert",
        set_input("pg-cluster-pg-1-availability", "enabled", False),
        "enabled is false",
    ),
    (
        "PGP-AZURE-MON-002",
        "nobody listens",
        set_input("pg-monitoring-oncall", "emailReceivers", []),
        "no receivers",
    ),
]

# The shared rules, reading an Azure stack through the Azure adapter.
SHARED = [
    ("PGP-HA-001", "one zone", same_zone, "members in 1 zone(s) (1), minimum 3"),
    (
        "PGP-HA-002",
        "not strict",
        patroni_edit(lambda d: d["bootstrap"]["dcs"].update(synchronous_mode_strict=False)),
        "synchronous_mode_strict is False",
    ),
    (
        "PGP-HA-003",
        "tcp probe",
        set_input("pg-cluster-lb", "probes.0", {"name": "primary", "protocol": "Tcp", "port": 5432}),
        "health check protocol TCP",
    ),
    (
        "PGP-HA-003",
        "no probe",
        set_input("pg-cluster-lb", "loadBalancingRules.0.probe", None),
        "health check protocol NONE",
    ),
    (
        "PGP-HA-003",
        "wrong path",
        set_input("pg-cluster-lb", "probes.1.requestPath", "/health"),
        "health check path /health is not a Patroni role endpoint",
    ),
    (
        "PGP-HA-004",
        "foreign container",
        node_files({"/etc/pgbackrest/pgbackrest.conf": PGBACKREST.replace("container=pgbackrest", "container=x")}, 3),
        "pgBackRest writes to x, not to a bucket of this stack",
    ),
    ("PGP-HA-004", "no alerts", drop_alerts, "0 Azure Monitor metric alert(s), minimum 1"),
    (
        "PGP-MON-003",
        "unwatched vm",
        remove("pg-cluster-pg-2-availability", "pg-cluster-pg-2"),
        "pg-cluster-pg-2 has no Azure Monitor metric alert on its own metrics",
    ),
    ("PGP-MON-001", "no cert alert", alerts_without("CertificateExpiry"), "no alert for cert-expiry"),
    (
        "PGP-NODE-001",
        "storage key",
        node_files(
            {"/etc/pg-platform/azure.env": "CONN=DefaultEndpointsProtocol=https;AccountKey=" + "A" * 86 + "==\n"}
        ),
        "an Azure storage account key",
    ),
    (
        "PGP-NODE-001",
        "sas token",
        node_files(
            {"/etc/pg-platform/sas.url": "https://a.blob.core.windows.net/c?sv=2022-11-02&sig=" + "a" * 43 + "%3D\n"}
        ),
        "an Azure SAS token signature",
    ),
    (
        "PGP-NODE-001",
        "client secret",
        node_files({"/etc/pg-platform/sp.txt": "abc8Q~" + "x" * 34 + "\n"}),
        "an Entra ID client secret",
    ),
    (
        "PGP-NODE-001",
        "string literal in a python script",
        node_files({"/usr/local/sbin/pgp-fetch": "#!/usr/bin/env python3\nADMIN_PASSWORD = 'hunter2'\n"}),
        "/usr/local/sbin/pgp-fetch: ADMIN_PASSWORD has a literal value",
    ),
    (
        "PGP-TAG-001",
        "untagged resource group",
        set_input("pg-rg", "tags", {"owner": "team-data-platform"}),
        "missing tag(s) stage, cost-center, data-classification",
    ),
    (
        "PGP-TAG-001",
        "untagged vault",
        set_input(KV, "tags.owner", None),
        "missing tag(s) owner",
    ),
    ("PGP-PRT-001", "container unprotected", unprotect("pg-vault-container"), "pg-vault-container is not protected"),
    (
        "PGP-PRT-001",
        "vm deleting its data disk",
        set_input("pg-cluster-pg-3", "storageProfile.dataDisks.0.deleteOption", "Delete"),
        "pg-cluster-pg-3 is not protected",
    ),
]

ROWS = VIOLATIONS + SHARED


def _ids(rows) -> list[str]:
    return [f"{r[0]}:{r[1]}" for r in rows]


def test_compliant_azure_stack_passes_every_rule(azure_pack):
    analysis = azure_pack.run(AzureStack().records)
    assert analysis.diagnostics == [], dump(analysis)
    assert analysis.not_applicable == []


def test_every_azure_rule_has_a_violating_case(azure_pack):
    analysis = azure_pack.run(AzureStack().records)
    assert {p for p in analysis.policies if cloud_of(p) == "azure"} == {rule for rule, *_ in VIOLATIONS}


@pytest.mark.parametrize("rule,case,mutate,expected", ROWS, ids=_ids(ROWS))
def test_violation(azure_pack, rule, case, mutate, expected):
    stack = AzureStack()
    anchor = mutate(stack)
    analysis = azure_pack.run(stack.records)
    hits = by_policy(analysis, rule)
    assert hits, f"{rule} did not fire for {case}: {dump(analysis)}"
    assert any(expected in d.message for d in hits), dump(analysis)
    assert {d.level for d in hits} == {"mandatory"}
    if anchor:
        assert any(d.urn.endswith(f"::{anchor}") for d in hits if expected in d.message), dump(analysis)
    assert analysis.policies[rule].remediation


def _changed_types(mutate: Mutation) -> set[str]:
    """The types of the records a mutation adds, removes or changes (inputs, dependencies or options)."""
    before = {r.urn: r for r in AzureStack().records}
    stack = AzureStack()
    mutate(stack)
    after = {r.urn: r for r in stack.records}
    changed = {r.type for u, r in before.items() if u not in after or after[u] != r}
    return changed | {r.type for u, r in after.items() if u not in before}


def test_every_azure_type_the_build_uses_is_judged():
    """Each type token of the Azure constraint catalog is in the compliant stack and is what some failing row
    breaks (the row's rule judges it)."""
    from tools.constraints.azure import BY_TOKEN

    present = {r.type for r in AzureStack().records}
    judged = set().union(*(_changed_types(m) for _, _, m, _ in ROWS))
    assert set(BY_TOKEN) - present == set()
    assert set(BY_TOKEN) - judged == set()
    assert {"azure-native:network:PublicIPAddress", "azure-native:network:NatGateway"} <= judged


def test_dev_stage_is_advisory_and_relaxed(azure_pack):
    stack = AzureStack()
    for n in stack.nodes[1:]:
        stack.remove(n.name)
        stack.remove(f"{n.name}-availability")
    stack.nodes = stack.nodes[:1]
    stack.remove("pg-vault-immutability-lock")
    set_input(LOCK, "immutabilityPeriodSinceCreationInDays", 7)(stack)
    unprotect("pg-vault-container")(stack)
    set_input("pg-cluster-pg-1-nic", "ipConfigurations.0.publicIPAddress", {"id": "pip-id"})(stack)
    analysis = azure_pack.run(stack.records, stage="dev")
    # One node, an unlocked 7-day policy and no protect are what dev allows; a public IP is not, but only advises.
    assert {d.policy for d in analysis.diagnostics} == {"PGP-AZURE-NET-001"}, dump(analysis)
    assert {d.level for d in analysis.diagnostics} == {"advisory"}


def test_the_lock_step_must_depend_on_the_policy(azure_pack):
    stack = AzureStack()
    stack.find("pg-vault-immutability-lock").property_dependencies = {}
    msgs = [d.message for d in by_policy(azure_pack.run(stack.records), "PGP-AZURE-STG-005")]
    assert any("no step of the stack locks it" in m for m in msgs)
    stack = AzureStack()
    stack.remove("pg-vault-immutability-lock")
    stack.find(LOCK).outputs = {**stack.find(LOCK).inputs, "state": "Locked"}
    assert by_policy(azure_pack.run(stack.records), "PGP-AZURE-STG-005") == []


def test_immutability_must_cover_the_full_backup_interval(azure_pack):
    stack = AzureStack()
    set_input(LOCK, "immutabilityPeriodSinceCreationInDays", 3)(stack)
    msgs = [d.message for d in by_policy(azure_pack.run(stack.records, stage="dev"), "PGP-AZURE-STG-005")]
    assert any("shorter than the 7-day full-backup interval" in m for m in msgs), msgs


def test_allowlisted_and_own_sources_reach_client_ports(azure_pack):
    stack = AzureStack()
    add(RULE, "app-read", inbound("app-read", ["10.90.4.0/24"], [5433], priority=140))(stack)
    add(RULE, "own-pool", inbound("own-pool", ["10.80.0.0/16"], [6432], priority=150))(stack)
    analysis = azure_pack.run(stack.records)
    assert by_policy(analysis, "PGP-AZURE-NET-003") == [] and by_policy(analysis, "PGP-AZURE-NET-002") == [], dump(
        analysis
    )


def test_user_data_read_from_custom_data_plain_or_compressed(azure_pack):
    stack = AzureStack()
    vm = stack.nodes[0]
    doc = yaml.safe_load(gzip.decompress(base64.b64decode(vm.inputs["osProfile"]["customData"])).decode())
    doc["write_files"][0]["content"] = doc["write_files"][0]["content"].replace("scram-sha-256\n", "md5\n", 1)
    plain = "#cloud-config\n" + yaml.safe_dump(doc)
    vm.inputs["osProfile"]["customData"] = base64.b64encode(plain.encode()).decode()  # base64, not compressed
    hits = by_policy(azure_pack.run(stack.records), "PGP-PG-002")
    assert any("password_encryption is md5" in d.message for d in hits), [d.message for d in hits]


def test_key_vault_references_are_not_secrets(azure_pack):
    stack = AzureStack()
    env = "PATRONI_SUPERUSER_PASSWORD=https://pg-secrets-kv.vault.azure.net/secrets/superuser\n"
    node_files({"/etc/pg-platform/boot.env": env})(stack)
    assert by_policy(azure_pack.run(stack.records), "PGP-NODE-001") == []


def test_python_assignments_are_code_not_literals(azure_pack):
    """The Azure boot scripts fetch their token from the instance metadata service at run time."""
    stack = AzureStack()
    script = '#!/usr/bin/env python3\nself.token = http_json(IMDS, {"Metadata": "true"})["access_token"]\n'
    node_files({"/usr/local/sbin/pgp-boot": script})(stack)
    assert by_policy(azure_pack.run(stack.records), "PGP-NODE-001") == []


def test_watched_by_a_literal_scope(azure_pack):
    stack = AzureStack()
    alert = stack.find("pg-cluster-pg-1-availability")
    alert.property_dependencies.pop("scopes")
    alert.inputs["scopes"] = ["/subscriptions/s/resourceGroups/pg-rg/providers/Microsoft.Compute/virtualMachines/pg-1"]
    assert by_policy(azure_pack.run(stack.records), "PGP-MON-003") == []


def test_taggable_catalog_matches_installed_sdk():
    from tools.analyzer import PACK_DIR

    sys.path.insert(0, str(PACK_DIR))
    try:
        from pgp_policy.azure.gen_taggable import package_dir, taggable_types
    finally:
        sys.path.remove(str(PACK_DIR))
    lines = (Path(PACK_DIR) / "pgp_policy" / "azure" / "taggable.txt").read_text().splitlines()
    shipped = [line for line in lines if line and not line.startswith("#")]
    assert shipped == taggable_types(package_dir())
    assert "azure-native:storage:StorageAccount" in shipped and "azure-native:network:SecurityRule" not in shipped
