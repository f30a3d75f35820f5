"""A hand-made Azure stack that satisfies every rule, shared and Azure's own, shaped like components/azure builds
it (records as the runner writes them: camelCase inputs, property dependencies), so each test breaks one thing.
Nodes boot from osProfile.customData (gzip+base64 #cloud-config) with the same rendered files as on AWS, except
pgBackRest's repository, which is the blob container."""

from __future__ import annotations

import copy
import json
from typing import Any

from tests.policy.fixtures import monitoring_user_data as monitoring_files
from tests.policy.fixtures import node_user_data, patroni, rec, user_data_b64
from tools.records import ResourceRecord

STAGE = "prod"
TAGS = {"stage": STAGE, "owner": "team-data-platform", "cost-center": "CC-4711", "data-classification": "confidential"}
ZONES = ("1", "2", "3")
CIDR = "10.80.0.0/16"
APP_CIDR = "10.90.0.0/16"
SUB = "/subscriptions/0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9"
GROUP = f"{SUB}/resourceGroups/pg-rg"
PEER_VNET = f"{SUB}/resourceGroups/rg-app/providers/Microsoft.Network/virtualNetworks/vnet-app"
ACCOUNT, CONTAINER = "pgprodbackup", "pgbackrest"
ROLE_DEFS = f"{SUB}/providers/Microsoft.Authorization/roleDefinitions"
CRYPTO_USER = f"{ROLE_DEFS}/e147488a-f6f5-4113-8e2d-b22465e65bf6"  # Key Vault Crypto Service Encryption User
BLOB_CONTRIBUTOR = f"{ROLE_DEFS}/ba92f5b4-2d11-453d-a403-e96b0029c9fe"  # Storage Blob Data Contributor
SECRETS_USER = f"{ROLE_DEFS}/4633458b-17de-408a-b874-0445c86b69e6"  # Key Vault Secrets User
OWNER = f"{ROLE_DEFS}/8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
LB_ID = f"{GROUP}/providers/Microsoft.Network/loadBalancers/pg-cluster-lb"

STACK_CONFIG = {
    "azure-native:location": "westeurope",
    "pg-platform:stage": STAGE,
    "pg-platform:objectives": json.dumps({"rpo_seconds": 0, "rto_seconds": 35, "retention_days": 30, "worm_days": 14}),
    "pg-platform:network": json.dumps(
        {
            "cidr": CIDR,
            "zones": list(ZONES),
            "allowlist": {"cidrs": [APP_CIDR], "security_groups": []},
            "peers": [{"name": "app", "vnet_id": PEER_VNET, "cidr": APP_CIDR}],
        }
    ),
}

PGBACKREST = f"""[global]
repo1-type=azure
repo1-azure-account={ACCOUNT}
repo1-azure-container={CONTAINER}
repo1-azure-key-type=auto
repo1-path=/pg
repo1-retention-full-type=time
repo1-retention-full=30
repo1-cipher-type=aes-256-cbc

[pg]
pg1-path=/var/lib/postgresql/data
"""
LOCK = "pg-vault-immutability"


def tagged(**extra: str) -> dict[str, str]:
    return {**TAGS, **extra}


def nsg_rule(name: str, direction: str, access: str, priority: int, sources, ports, description: str) -> dict:
    return {
        "name": name,
        "direction": direction,
        "access": access,
        "protocol": "Tcp" if access == "Allow" else "*",
        "priority": priority,
        "sourceAddressPrefixes": list(sources),
        "sourcePortRange": "*",
        "destinationAddressPrefix": "*",
        "destinationPortRanges": [str(p) for p in ports],
        "description": description,
    }


def azure_user_data(host: str, patroni_doc: dict[str, Any] | None = None, extra: dict[str, str] | None = None) -> str:
    return node_user_data(host, patroni_doc, {"/etc/pgbackrest/pgbackrest.conf": PGBACKREST, **(extra or {})})


class AzureStack:
    """A compliant Azure stack; `find` returns a record to break, `records` what goes to the analyzer."""

    def __init__(self) -> None:
        self.records: list[ResourceRecord] = []
        r = self._add
        platform = r(rec("pg-platform:index:PostgresPlatform", "pg", {}, custom=False))
        group = r(
            rec(
                "azure-native:resources:ResourceGroup",
                "pg-rg",
                {"location": "westeurope", "tags": tagged()},
                parent=platform,
            )
        )
        in_group = {"resourceGroupName": [group]}

        net = r(rec("pg-platform:azure:Network", "pg-network", {}, parent=platform, custom=False))
        vnet = r(
            rec(
                "azure-native:network:VirtualNetwork",
                "pg-network-vnet",
                {"resourceGroupName": "pg-rg", "addressSpace": {"addressPrefixes": [CIDR]}, "tags": tagged()},
                parent=net,
                refs=in_group,
            )
        )
        self.vnet = vnet
        ip = r(
            rec(
                "azure-native:network:PublicIPAddress",
                "pg-network-nat-ip",
                {"sku": {"name": "Standard"}, "publicIPAllocationMethod": "Static", "tags": tagged()},
                parent=net,
            )
        )
        nat = r(
            rec(
                "azure-native:network:NatGateway",
                "pg-network-nat",
                {"sku": {"name": "Standard"}, "publicIpAddresses": [{"id": "nat-ip-id"}], "tags": tagged()},
                parent=net,
                refs={"publicIpAddresses": [ip]},
            )
        )
        nsg = r(
            rec(
                "azure-native:network:NetworkSecurityGroup",
                "pg-network-db-nsg",
                {
                    "securityRules": [
                        nsg_rule("clients", "Inbound", "Allow", 100, [APP_CIDR], [5432, 6432], "allowlisted clients"),
                        nsg_rule("lb-probes", "Inbound", "Allow", 110, ["AzureLoadBalancer"], [8008], "LB probes"),
                        nsg_rule(
                            "members", "Inbound", "Allow", 120, ["10.80.0.0/24"], [5432, 8008, 2379, 2380], "members"
                        ),
                        nsg_rule("https-out", "Outbound", "Allow", 100, ["*"], [443], "Azure APIs through the NAT"),
                        nsg_rule("deny-all-in", "Inbound", "Deny", 4096, ["*"], ["*"], "nothing else"),
                    ],
                    "tags": tagged(),
                },
                parent=net,
            )
        )
        r(
            rec(
                "azure-native:network:SecurityRule",
                "pg-network-db-scrapes",
                {
                    "networkSecurityGroupName": "pg-network-db-nsg",
                    **nsg_rule("scrapes", "Inbound", "Allow", 130, ["10.80.1.0/24"], [9187, 9100], "monitoring"),
                },
                parent=net,
                refs={"networkSecurityGroupName": [nsg]},
            )
        )
        subnets = {}
        for label, prefix in (("db", "10.80.0.0/24"), ("monitoring", "10.80.1.0/24"), ("endpoints", "10.80.2.0/24")):
            subnets[label] = r(
                rec(
                    "azure-native:network:Subnet",
                    f"pg-network-{label}",
                    {
                        "virtualNetworkName": "pg-network-vnet",
                        "addressPrefix": prefix,
                        "defaultOutboundAccess": False,
                        "networkSecurityGroup": {"id": "db-nsg-id"},
                        "natGateway": {"id": "nat-id"},
                    },
                    parent=net,
                    refs={"virtualNetworkName": [vnet], "networkSecurityGroup": [nsg], "natGateway": [nat]},
                )
            )
        self.subnets = subnets
        flow_account = r(
            rec(
                "azure-native:storage:StorageAccount",
                "pgnetworkflowlogs",
                {
                    "accountName": "pgprodflowlogs",
                    "kind": "StorageV2",
                    "minimumTlsVersion": "TLS1_2",
                    "enableHttpsTrafficOnly": True,
                    "allowBlobPublicAccess": False,
                    "allowSharedKeyAccess": False,
                    "networkRuleSet": {"defaultAction": "Deny", "bypass": "AzureServices"},
                    "tags": tagged(),
                },
                parent=net,
                protect=True,
            )
        )
        watcher = r(rec("azure-native:network:NetworkWatcher", "pg-network-watcher", {"tags": tagged()}, parent=net))
        flow_identity = r(
            rec("azure-native:managedidentity:UserAssignedIdentity", "pg-network-flowlogs-identity", {"tags": tagged()})
        )
        r(
            rec(
                "azure-native:authorization:RoleAssignment",
                "pg-network-flowlogs-writer",
                {
                    "scope": f"{GROUP}/providers/Microsoft.Storage/storageAccounts/pgprodflowlogs",
                    "principalId": "flowlogs-principal",
                    "principalType": "ServicePrincipal",
                    "roleDefinitionId": BLOB_CONTRIBUTOR,
                },
                parent=net,
                refs={"scope": [flow_account], "principalId": [flow_identity]},
            )
        )
        r(
            rec(
                "azure-native:network:FlowLog",
                "pg-network-flow-log",
                {
                    "networkWatcherName": "pg-network-watcher",
                    "targetResourceId": "vnet-id",
                    "storageId": "flowlogs-id",
                    "enabled": True,
                    "format": {"type": "JSON", "version": 2},
                    "retentionPolicy": {"days": 90, "enabled": True},
                    "tags": tagged(),
                },
                parent=net,
                refs={"networkWatcherName": [watcher], "targetResourceId": [vnet], "storageId": [flow_account]},
            )
        )
        r(
            rec(
                "azure-native:network:VirtualNetworkPeering",
                "pg-network-peer-app",
                {
                    "virtualNetworkName": "pg-network-vnet",
                    "remoteVirtualNetwork": {"id": PEER_VNET},
                    "allowVirtualNetworkAccess": True,
                    "allowForwardedTraffic": False,
                    "allowGatewayTransit": False,
                },
                parent=net,
                refs={"virtualNetworkName": [vnet]},
            )
        )
        r(
            rec(
                "azure-native:network:VirtualNetworkPeering",
                "pg-network-peer-app-remote",
                {
                    "resourceGroupName": "rg-app",
                    "virtualNetworkName": "vnet-app",
                    "remoteVirtualNetwork": {"id": "vnet-id"},
                    "allowVirtualNetworkAccess": True,
                    "allowForwardedTraffic": False,
                    "allowGatewayTransit": False,
                },
                parent=net,
                refs={"remoteVirtualNetwork": [vnet]},
            )
        )
        blob_zone = self._zone(net, "pg-network-blob-zone", "privatelink.blob.core.windows.net")
        db_zone = self._zone(net, "pg-network-db-zone", "prod.pg.internal")
        r(
            rec(
                "azure-native:privatedns:PrivateRecordSet",
                "pg-network-db-zone-primary",
                {
                    "privateZoneName": "prod.pg.internal",
                    "recordType": "A",
                    "relativeRecordSetName": "primary",
                    "ttl": 30,
                    "aRecords": [{"ipv4Address": "10.80.0.100"}],
                },
                parent=net,
                refs={"privateZoneName": [db_zone]},
            )
        )

        secrets = r(rec("pg-platform:azure:Secrets", "pg-secrets", {}, parent=platform, custom=False))
        kv = r(
            rec(
                "azure-native:keyvault:Vault",
                "pg-secrets-kv",
                {
                    "properties": {
                        "tenantId": "00000000-0000-0000-0000-000000000001",
                        "sku": {"family": "A", "name": "premium"},
                        "enablePurgeProtection": True,
                        "enableSoftDelete": True,
                        "softDeleteRetentionInDays": 90,
                        "enableRbacAuthorization": True,
                        "publicNetworkAccess": "Disabled",
                        "networkAcls": {"defaultAction": "Deny", "bypass": "AzureServices"},
                    },
                    "tags": tagged(),
                },
                parent=secrets,
                protect=True,
            )
        )
        key = r(
            rec(
                "azure-native:keyvault:Key",
                "pg-secrets-backup-key",
                {
                    "vaultName": "pg-secrets-kv",
                    "properties": {
                        "kty": "RSA-HSM",
                        "keySize": 3072,
                        "keyOps": ["wrapKey", "unwrapKey"],
                        "rotationPolicy": {
                            "attributes": {"expiryTime": "P1Y"},
                            "lifetimeActions": [
                                {"action": {"type": "rotate"}, "trigger": {"timeBeforeExpiry": "P30D"}},
                                {"action": {"type": "notify"}, "trigger": {"timeBeforeExpiry": "P7D"}},
                            ],
                        },
                    },
                    "tags": tagged(),
                },
                parent=secrets,
                refs={"vaultName": [kv]},
                protect=True,
            )
        )
        r(
            rec(
                "azure-native:keyvault:Secret",
                "pg-secrets-superuser",
                {
                    "vaultName": "pg-secrets-kv",
                    "properties": {"value": "generated", "contentType": "postgres superuser password"},
                    "tags": tagged(),
                },
                parent=secrets,
                refs={"vaultName": [kv]},
                protect=True,
                secret_paths=["properties.value"],
            )
        )

        vault = r(rec("pg-platform:azure:BackupVault", "pg-vault", {}, parent=platform, custom=False))
        key_identity = r(
            rec(
                "azure-native:managedidentity:UserAssignedIdentity",
                "pg-vault-key-identity",
                {"tags": tagged()},
                parent=vault,
            )
        )
        r(
            rec(
                "azure-native:authorization:RoleAssignment",
                "pg-vault-key-user",
                {
                    "scope": "backup-key-id",
                    "principalId": "key-identity-principal",
                    "principalType": "ServicePrincipal",
                    "roleDefinitionId": CRYPTO_USER,
                },
                parent=vault,
                refs={"scope": [key], "principalId": [key_identity]},
            )
        )
        account = r(
            rec(
                "azure-native:storage:StorageAccount",
                "pgprodbackup",
                {
                    "accountName": ACCOUNT,
                    "kind": "StorageV2",
                    "sku": {"name": "Standard_ZRS"},
                    "minimumTlsVersion": "TLS1_2",
                    "enableHttpsTrafficOnly": True,
                    "allowBlobPublicAccess": False,
                    "allowSharedKeyAccess": False,
                    "publicNetworkAccess": "Disabled",
                    "networkRuleSet": {"defaultAction": "Deny", "bypass": "None"},
                    "identity": {"type": "UserAssigned", "userAssignedIdentities": ["key-identity-id"]},
                    "encryption": {
                        "keySource": "Microsoft.Keyvault",
                        "keyVaultProperties": {
                            "keyName": "pg-secrets-backup-key",
                            "keyVaultUri": "https://pg-secrets-kv.vault.azure.net/",
                        },
                        "encryptionIdentity": {"encryptionUserAssignedIdentity": "key-identity-id"},
                        "requireInfrastructureEncryption": True,
                    },
                    "tags": tagged(),
                },
                parent=vault,
                protect=True,
                refs={"identity": [key_identity], "encryption": [key_identity, key]},
            )
        )
        on_account = {"accountName": [account]}
        r(
            rec(
                "azure-native:storage:BlobServiceProperties",
                "pg-vault-blob-service",
                {
                    "accountName": ACCOUNT,
                    "blobServicesName": "default",
                    "isVersioningEnabled": True,
                    "deleteRetentionPolicy": {"enabled": True, "days": 15},
                    "containerDeleteRetentionPolicy": {"enabled": True, "days": 30},
                },
                parent=vault,
                refs=on_account,
            )
        )
        r(
            rec(
                "azure-native:storage:ManagementPolicy",
                "pg-vault-lifecycle",
                {
                    "accountName": ACCOUNT,
                    "managementPolicyName": "default",
                    "policy": {
                        "rules": [
                            {
                                "name": "expire-versions-after-lock",
                                "type": "Lifecycle",
                                "enabled": True,
                                "definition": {
                                    "filters": {"blobTypes": ["blockBlob"]},
                                    "actions": {"version": {"delete": {"daysAfterCreationGreaterThan": 15}}},
                                },
                            }
                        ]
                    },
                },
                parent=vault,
                refs=on_account,
                protect=True,
            )
        )
        container = r(
            rec(
                "azure-native:storage:BlobContainer",
                "pg-vault-container",
                {
                    "accountName": ACCOUNT,
                    "containerName": CONTAINER,
                    "publicAccess": "None",
                    "immutableStorageWithVersioning": {"enabled": True},
                },
                parent=vault,
                refs=on_account,
                protect=True,
            )
        )
        policy = r(
            rec(
                "azure-native:storage:BlobContainerImmutabilityPolicy",
                LOCK,
                {
                    "accountName": ACCOUNT,
                    "containerName": CONTAINER,
                    "immutabilityPolicyName": "default",
                    "immutabilityPeriodSinceCreationInDays": 14,
                    "allowProtectedAppendWrites": False,
                },
                parent=vault,
                refs={"accountName": [account], "containerName": [container]},
                protect=True,
            )
        )
        r(
            rec(
                "command:local:Command",
                "pg-vault-immutability-lock",
                {
                    "create": f"az storage container immutability-policy lock --resource-group pg-rg --account-name "
                    f"{ACCOUNT} --container-name {CONTAINER} --if-match '\"etag-1\"' --output none",
                    "triggers": ["policy-id"],
                },
                parent=vault,
                refs={"create": [policy], "triggers": [policy]},
                protect=True,
            )
        )
        r(
            rec(
                "azure-native:authorization:RoleAssignment",
                "pg-vault-node-writer",
                {
                    "scope": f"{GROUP}/providers/Microsoft.Storage/storageAccounts/{ACCOUNT}/blobServices/default/"
                    f"containers/{CONTAINER}",
                    "principalId": "node-principal",
                    "principalType": "ServicePrincipal",
                    "roleDefinitionId": BLOB_CONTRIBUTOR,
                },
                parent=vault,
                refs={"scope": [container]},
            )
        )
        endpoint = r(
            rec(
                "azure-native:network:PrivateEndpoint",
                "pg-vault-blob-endpoint",
                {
                    "subnet": {"id": "endpoints-id"},
                    "privateLinkServiceConnections": [
                        {"name": "blob", "privateLinkServiceId": "account-id", "groupIds": ["blob"]}
                    ],
                    "tags": tagged(),
                },
                parent=vault,
                refs={"subnet": [subnets["endpoints"]], "privateLinkServiceConnections": [account]},
            )
        )
        r(
            rec(
                "azure-native:network:PrivateDnsZoneGroup",
                "pg-vault-blob-endpoint-dns",
                {
                    "privateEndpointName": "pg-vault-blob-endpoint",
                    "privateDnsZoneGroupName": "default",
                    "privateDnsZoneConfigs": [{"name": "blob", "privateDnsZoneId": "blob-zone-id"}],
                },
                parent=vault,
                refs={"privateEndpointName": [endpoint], "privateDnsZoneConfigs": [blob_zone]},
            )
        )

        ident = r(rec("pg-platform:azure:Identity", "pg-identity", {}, parent=platform, custom=False))
        node_identity = r(
            rec(
                "azure-native:managedidentity:UserAssignedIdentity",
                "pg-identity-node",
                {"tags": tagged()},
                parent=ident,
            )
        )
        self.find("pg-vault-node-writer").property_dependencies["principalId"] = [node_identity.urn]
        # AKS's form (components/azure/kubernetes.py): one Kubernetes service account signs in as the identity.
        r(
            rec(
                "azure-native:managedidentity:FederatedIdentityCredential",
                "pg-identity-node-federation",
                {
                    "resourceGroupName": "pgp-test",
                    "resourceName": "pg-identity-node",
                    "federatedIdentityCredentialResourceName": "pgp-test-pgp-test",
                    "issuer": "https://westeurope.oic.prod-aks.azure.com/3f1e2d4c-5b6a-4798-8a1b-2c3d4e5f6a7b/"
                    "8c9d0e1f-2a3b-4c5d-9e6f-7a8b9c0d1e2f/",
                    "subject": "system:serviceaccount:pgp-test:pgp-test",
                    "audiences": ["api://AzureADTokenExchange"],
                },
                parent=ident,
                refs={"resourceName": [node_identity]},
            )
        )
        r(
            rec(
                "azure-native:authorization:RoleAssignment",
                "pg-identity-node-secrets",
                {
                    "scope": "superuser-secret-id",
                    "principalId": "node-principal",
                    "principalType": "ServicePrincipal",
                    "roleDefinitionId": SECRETS_USER,
                },
                parent=ident,
                refs={"scope": [self.find("pg-secrets-superuser")], "principalId": [node_identity]},
            )
        )

        self.cluster = r(rec("pg-platform:azure:PostgresCluster", "pg-cluster", {}, parent=platform, custom=False))
        des_identity = r(
            rec(
                "azure-native:managedidentity:UserAssignedIdentity",
                "pg-cluster-des-identity",
                {"tags": tagged()},
                parent=self.cluster,
            )
        )
        des = r(
            rec(
                "azure-native:compute:DiskEncryptionSet",
                "pg-cluster-des",
                {
                    "encryptionType": "EncryptionAtRestWithCustomerKey",
                    "activeKey": {
                        "keyUrl": "https://pg-secrets-kv.vault.azure.net/keys/pg-secrets-backup-key",
                        "sourceVault": {"id": "kv-id"},
                    },
                    "identity": {"type": "UserAssigned", "userAssignedIdentities": ["des-identity-id"]},
                    "rotationToLatestKeyVersionEnabled": True,
                    "tags": tagged(),
                },
                parent=self.cluster,
                refs={"identity": [des_identity], "activeKey": [key, kv]},
            )
        )
        self.nodes: list[ResourceRecord] = []
        for i, zone in enumerate(ZONES):
            host = f"10.80.0.{10 + i}"
            nic = r(
                rec(
                    "azure-native:network:NetworkInterface",
                    f"pg-cluster-pg-{i + 1}-nic",
                    {
                        "ipConfigurations": [
                            {
                                "name": "primary",
                                "subnet": {"id": "db-id"},
                                "privateIPAllocationMethod": "Static",
                                "privateIPAddress": host,
                            }
                        ],
                        "tags": tagged(),
                    },
                    parent=self.cluster,
                    refs={"ipConfigurations": [subnets["db"]]},
                )
            )
            disk = r(
                rec(
                    "azure-native:compute:Disk",
                    f"pg-cluster-pg-{i + 1}-data",
                    {
                        "zones": [zone],
                        "diskSizeGB": 512,
                        "sku": {"name": "PremiumV2_LRS"},
                        "creationData": {"createOption": "Empty"},
                        "encryption": {"type": "EncryptionAtRestWithCustomerKey", "diskEncryptionSetId": "des-id"},
                        "tags": tagged(),
                    },
                    parent=self.cluster,
                    refs={"encryption": [des]},
                    protect=True,
                )
            )
            self.nodes.append(
                r(
                    rec(
                        "azure-native:compute:VirtualMachine",
                        f"pg-cluster-pg-{i + 1}",
                        self.vm_inputs(f"pg-{i + 1}", zone, "Standard_E4ds_v5", azure_user_data(host), data=True),
                        parent=self.cluster,
                        refs={"networkProfile": [nic], "storageProfile": [des, disk], "identity": [node_identity]},
                    )
                )
            )
        r(
            rec(
                "azure-native:network:LoadBalancer",
                "pg-cluster-lb",
                {
                    "sku": {"name": "Standard", "tier": "Regional"},
                    "frontendIPConfigurations": [
                        {"name": "write", "subnet": {"id": "db-id"}, "privateIPAddress": "10.80.0.100"}
                    ],
                    "backendAddressPools": [{"name": "members"}],
                    "probes": [
                        {
                            "name": "primary",
                            "protocol": "Https",
                            "port": 8008,
                            "requestPath": "/primary",
                            "intervalInSeconds": 5,
                            "probeThreshold": 2,
                        },
                        {"name": "replica", "protocol": "Https", "port": 8008, "requestPath": "/replica"},
                    ],
                    "loadBalancingRules": [
                        self.lb_rule("write", 5432, "primary"),
                        self.lb_rule("read", 5433, "replica"),
                        self.lb_rule("pooled-write", 6432, "primary"),
                    ],
                    "tags": tagged(),
                },
                parent=self.cluster,
                refs={"frontendIPConfigurations": [subnets["db"]]},
            )
        )

        mon = r(rec("pg-platform:azure:Monitoring", "pg-monitoring", {}, parent=platform, custom=False))
        mon_nic = r(
            rec(
                "azure-native:network:NetworkInterface",
                "pg-monitoring-node-nic",
                {"ipConfigurations": [{"name": "primary", "subnet": {"id": "monitoring-id"}}], "tags": tagged()},
                parent=mon,
                refs={"ipConfigurations": [subnets["monitoring"]]},
            )
        )
        self.monitor = r(
            rec(
                "azure-native:compute:VirtualMachine",
                "pg-monitoring-node",
                self.vm_inputs("monitoring", "1", "Standard_D2s_v5", monitoring_files()),
                parent=mon,
                refs={"networkProfile": [mon_nic], "storageProfile": [des]},
            )
        )
        group_rec = r(
            rec(
                "azure-native:monitor:ActionGroup",
                "pg-monitoring-oncall",
                {
                    "location": "Global",
                    "groupShortName": "pg-oncall",
                    "enabled": True,
                    "emailReceivers": [
                        {"name": "dba-oncall", "emailAddress": "dba-oncall@example.com", "useCommonAlertSchema": True}
                    ],
                    "tags": tagged(),
                },
                parent=mon,
            )
        )
        for vm in [*self.nodes, self.monitor]:
            r(
                rec(
                    "azure-native:monitor:MetricAlert",
                    f"{vm.name}-availability",
                    {
                        "location": "global",
                        "description": f"{vm.name} is down: VM availability below 1",
                        "severity": 1,
                        "enabled": True,
                        "scopes": [f"{vm.name}-id"],
                        "evaluationFrequency": "PT1M",
                        "windowSize": "PT5M",
                        "criteria": {
                            "odataType": "Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria",
                            "allOf": [
                                {
                                    "name": "availability",
                                    "metricName": "VmAvailabilityMetric",
                                    "operator": "LessThan",
                                    "threshold": 1,
                                    "timeAggregation": "Average",
                                    "criterionType": "StaticThresholdCriterion",
                                }
                            ],
                        },
                        "actions": [{"actionGroupId": "oncall-id"}],
                        "tags": tagged(),
                    },
                    parent=mon,
                    refs={"scopes": [vm], "actions": [group_rec]},
                )
            )

    # --- building blocks ------------------------------------------------------------------------------------
    def _zone(self, parent: ResourceRecord, name: str, zone_name: str) -> ResourceRecord:
        zone = self._add(
            rec(
                "azure-native:privatedns:PrivateZone",
                name,
                {"privateZoneName": zone_name, "location": "Global", "tags": tagged()},
                parent=parent,
            )
        )
        self._add(
            rec(
                "azure-native:privatedns:VirtualNetworkLink",
                f"{name}-link",
                {
                    "privateZoneName": zone_name,
                    "location": "Global",
                    "registrationEnabled": False,
                    "virtualNetwork": {"id": "vnet-id"},
                    "tags": tagged(),
                },
                parent=parent,
                refs={"privateZoneName": [zone], "virtualNetwork": [self.vnet]},
            )
        )
        return zone

    @staticmethod
    def lb_rule(name: str, port: int, probe: str) -> dict[str, Any]:
        return {
            "name": name,
            "protocol": "Tcp",
            "frontendPort": port,
            "backendPort": port,
            "frontendIPConfiguration": {"id": f"{LB_ID}/frontendIPConfigurations/write"},
            "backendAddressPool": {"id": f"{LB_ID}/backendAddressPools/members"},
            "probe": {"id": f"{LB_ID}/probes/{probe}"},
            "enableFloatingIP": False,
            "disableOutboundSnat": True,
        }

    @staticmethod
    def vm_inputs(name: str, zone: str, size: str, custom_data: str, data: bool = False) -> dict[str, Any]:
        storage: dict[str, Any] = {
            "imageReference": {
                "publisher": "Canonical",
                "offer": "ubuntu-24_04-lts",
                "sku": "server",
                "version": "latest",
            },
            "osDisk": {
                "createOption": "FromImage",
                "managedDisk": {"storageAccountType": "Premium_ZRS", "diskEncryptionSet": {"id": "des-id"}},
            },
        }
        if data:
            storage["dataDisks"] = [
                {"lun": 0, "createOption": "Attach", "deleteOption": "Detach", "managedDisk": {"id": f"{name}-data-id"}}
            ]
        return {
            "vmName": name,
            "zones": [zone],
            "hardwareProfile": {"vmSize": size},
            "storageProfile": storage,
            "osProfile": {
                "computerName": name,
                "adminUsername": "pgadmin",
                "customData": custom_data,
                "linuxConfiguration": {
                    "disablePasswordAuthentication": True,
                    "ssh": {"publicKeys": [{"path": "/home/pgadmin/.ssh/authorized_keys", "keyData": "ssh-ed25519 A"}]},
                },
            },
            "securityProfile": {
                "securityType": "TrustedLaunch",
                "uefiSettings": {"secureBootEnabled": True, "vTpmEnabled": True},
                "encryptionAtHost": True,
            },
            "networkProfile": {"networkInterfaces": [{"id": f"{name}-nic-id", "primary": True}]},
            "diagnosticsProfile": {"bootDiagnostics": {"enabled": True}},
            "identity": {"type": "UserAssigned", "userAssignedIdentities": ["node-identity-id"]},
            "tags": tagged(role="monitoring" if not data else "postgres"),
        }

    def _add(self, record: ResourceRecord) -> ResourceRecord:
        self.records.append(record)
        return record

    def find(self, name: str) -> ResourceRecord:
        return next(r for r in self.records if r.name == name)

    def remove(self, name: str) -> None:
        self.records = [r for r in self.records if r.name != name]

    def edit_patroni(self, change, nodes: int | None = None) -> None:
        for i, node in enumerate(self.nodes[:nodes]):
            host = f"10.80.0.{10 + i}"
            doc = patroni(host)
            change(doc)
            node.inputs["osProfile"]["customData"] = azure_user_data(host, doc)

    def set_node_files(self, extra: dict[str, str], nodes: int = 1) -> None:
        for i, node in enumerate(self.nodes[:nodes]):
            node.inputs["osProfile"]["customData"] = azure_user_data(f"10.80.0.{10 + i}", extra=extra)

    def copy(self) -> AzureStack:
        return copy.deepcopy(self)


__all__ = ["STACK_CONFIG", "AzureStack", "azure_user_data", "user_data_b64"]
