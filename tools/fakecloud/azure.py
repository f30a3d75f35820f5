"""Azure's shapes: ARM resource ids as ARM returns them (`/subscriptions/<sub>/resourceGroups/<group>/providers/
<namespace>/<type>/<name>`, children nested under their parent's id), identities' principal, client and tenant
ids as GUIDs, Key Vault URIs (`https://<vault>.vault.azure.net/`) and key and secret ids with their 32-hex
versions, the private addresses Azure allocates, storage endpoints; deterministic from the URN. One fake
subscription and tenant, as `azure-native:authorization:getClientConfig` answers."""

from __future__ import annotations

import ipaddress
from typing import Any

from tools.fakecloud.core import FakeCloudBase

FAKE_SUBSCRIPTION = "00000000-1111-4222-8333-444444444444"
FAKE_TENANT = "55555555-6666-4777-8888-999999999999"
FAKE_DEPLOYER = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"  # the deploying principal's object id


class AzureShapes(FakeCloudBase):
    def _az_id(self, s: dict[str, Any], path: str) -> str:
        group = s.get("resourceGroupName") or "rg"
        return f"/subscriptions/{FAKE_SUBSCRIPTION}/resourceGroups/{group}/providers/{path}"

    def _az_named(self, s: dict[str, Any], key: str, path: str, **computed: Any) -> tuple[str, dict[str, Any]]:
        name = s.get(key) or "unnamed"
        resource_id = self._az_id(s, path.format(name=name, **{k: v for k, v in s.items() if isinstance(v, str)}))
        return resource_id, {"name": name, "id": resource_id, "type": path.split("/{")[0], **computed}

    def _az_identity(self, urn: str, s: dict[str, Any]) -> None:
        """Inputs list user-assigned identities by id; ARM answers a map of id -> its principal and client ids."""
        identity = s.get("identity")
        if isinstance(identity, dict) and isinstance(identity.get("userAssignedIdentities"), list):
            identity["userAssignedIdentities"] = {
                i: {"principalId": self._uuid(i, "principal"), "clientId": self._uuid(i, "client")}
                for i in identity["userAssignedIdentities"]
                if isinstance(i, str)
            }
            identity.setdefault("tenantId", FAKE_TENANT)

    def _az_address(self, seed: str, subnet: str | None) -> str:
        """A free address as Azure allocates one dynamically: from the fourth on (the first four are Azure's);
        the fake picks one above the members' fixed addresses so nothing collides."""
        net = ipaddress.ip_network(subnet or "10.0.0.0/24")
        offset = 32 + int(self._chars(seed, 2, salt="dyn-ip"), 16) % max(1, min(net.num_addresses - 40, 200))
        return str(net[offset])

    # Resources, networking
    def _azure_native_resources_ResourceGroup(self, urn, s):
        name = s.get("resourceGroupName")
        rid = f"/subscriptions/{FAKE_SUBSCRIPTION}/resourceGroups/{name}"
        return rid, {"name": name, "id": rid, "type": "Microsoft.Resources/resourceGroups"}

    def _azure_native_network_VirtualNetwork(self, urn, s):
        return self._az_named(
            s,
            "virtualNetworkName",
            "Microsoft.Network/virtualNetworks/{name}",
            resourceGuid=self._uuid(urn, "vnet-guid"),
            provisioningState="Succeeded",
        )

    def _azure_native_network_Subnet(self, urn, s):
        return self._az_named(
            s,
            "subnetName",
            "Microsoft.Network/virtualNetworks/{virtualNetworkName}/subnets/{name}",
            provisioningState="Succeeded",
        )

    def _azure_native_network_NetworkSecurityGroup(self, urn, s):
        return self._az_named(
            s,
            "networkSecurityGroupName",
            "Microsoft.Network/networkSecurityGroups/{name}",
            resourceGuid=self._uuid(urn, "nsg-guid"),
        )

    def _azure_native_network_SecurityRule(self, urn, s):
        return self._az_named(
            s,
            "securityRuleName",
            "Microsoft.Network/networkSecurityGroups/{networkSecurityGroupName}/securityRules/{name}",
        )

    def _azure_native_network_PublicIPAddress(self, urn, s):
        octets = [int(self._chars(urn, 2, salt=f"pip{i}"), 16) for i in range(2)]
        return self._az_named(
            s,
            "publicIpAddressName",
            "Microsoft.Network/publicIPAddresses/{name}",
            ipAddress=f"203.0.{octets[0] % 114 + 113}.{octets[1]}",  # TEST-NET-3
            resourceGuid=self._uuid(urn, "pip-guid"),
        )

    def _azure_native_network_NatGateway(self, urn, s):
        return self._az_named(
            s, "natGatewayName", "Microsoft.Network/natGateways/{name}", resourceGuid=self._uuid(urn, "nat-guid")
        )

    def _azure_native_network_NetworkWatcher(self, urn, s):
        return self._az_named(s, "networkWatcherName", "Microsoft.Network/networkWatchers/{name}")

    def _azure_native_network_FlowLog(self, urn, s):
        self._az_identity(urn, s)
        return self._az_named(
            s, "flowLogName", "Microsoft.Network/networkWatchers/{networkWatcherName}/flowLogs/{name}"
        )

    def _azure_native_network_VirtualNetworkPeering(self, urn, s):
        return self._az_named(
            s,
            "virtualNetworkPeeringName",
            "Microsoft.Network/virtualNetworks/{virtualNetworkName}/virtualNetworkPeerings/{name}",
            # One side alone is Initiated; both sides exist once the program has created both.
            peeringState="Connected",
            peeringSyncLevel="FullyInSync",
        )

    def _azure_native_network_PrivateEndpoint(self, urn, s):
        rid, computed = self._az_named(s, "privateEndpointName", "Microsoft.Network/privateEndpoints/{name}")
        nic = self._az_id(s, f"Microsoft.Network/networkInterfaces/{computed['name']}.nic.{self._uuid(urn, 'pe')}")
        computed["networkInterfaces"] = [{"id": nic}]
        computed["customDnsConfigs"] = []
        return rid, computed

    def _azure_native_network_PrivateDnsZoneGroup(self, urn, s):
        return self._az_named(
            s,
            "privateDnsZoneGroupName",
            "Microsoft.Network/privateEndpoints/{privateEndpointName}/privateDnsZoneGroups/{name}",
        )

    def _azure_native_network_NetworkInterface(self, urn, s):
        rid, computed = self._az_named(s, "networkInterfaceName", "Microsoft.Network/networkInterfaces/{name}")
        for config in s.get("ipConfigurations") or []:
            if not config.get("privateIPAddress"):
                config["privateIPAddress"] = self._az_address(urn + str(config.get("name")), None)
        mac = self._chars(urn, 12, salt="mac").upper()
        computed["macAddress"] = "-".join(mac[i : i + 2] for i in range(0, 12, 2))
        computed["resourceGuid"] = self._uuid(urn, "nic-guid")
        return rid, computed

    def _azure_native_network_LoadBalancer(self, urn, s):
        return self._az_named(
            s, "loadBalancerName", "Microsoft.Network/loadBalancers/{name}", resourceGuid=self._uuid(urn, "lb-guid")
        )

    # Private DNS
    def _azure_native_privatedns_PrivateZone(self, urn, s):
        return self._az_named(
            s, "privateZoneName", "Microsoft.Network/privateDnsZones/{name}", maxNumberOfRecordSets=25000
        )

    def _azure_native_privatedns_VirtualNetworkLink(self, urn, s):
        return self._az_named(
            s,
            "virtualNetworkLinkName",
            "Microsoft.Network/privateDnsZones/{privateZoneName}/virtualNetworkLinks/{name}",
            virtualNetworkLinkState="Completed",
        )

    def _azure_native_privatedns_PrivateRecordSet(self, urn, s):
        rid, computed = self._az_named(
            s,
            "relativeRecordSetName",
            "Microsoft.Network/privateDnsZones/{privateZoneName}/{recordType}/{name}",
        )
        computed["fqdn"] = f"{s.get('relativeRecordSetName')}.{s.get('privateZoneName')}."
        return rid, computed

    # Storage
    def _azure_native_storage_StorageAccount(self, urn, s):
        self._az_identity(urn, s)
        name = s.get("accountName")
        rid, computed = self._az_named(s, "accountName", "Microsoft.Storage/storageAccounts/{name}")
        computed["primaryEndpoints"] = {
            kind: f"https://{name}.{kind}.core.windows.net/"
            for kind in ("blob", "dfs", "file", "queue", "table", "web")
        }
        computed["primaryLocation"] = s.get("location") or self.region
        computed["statusOfPrimary"] = "available"
        return rid, computed

    def _azure_native_storage_BlobServiceProperties(self, urn, s):
        return self._az_named(
            s, "blobServicesName", "Microsoft.Storage/storageAccounts/{accountName}/blobServices/{name}"
        )

    def _azure_native_storage_ManagementPolicy(self, urn, s):
        return self._az_named(
            s,
            "managementPolicyName",
            "Microsoft.Storage/storageAccounts/{accountName}/managementPolicies/{name}",
            lastModifiedTime="2026-12-01T00:00:00Z",
        )

    def _azure_native_storage_BlobContainer(self, urn, s):
        return self._az_named(
            s,
            "containerName",
            "Microsoft.Storage/storageAccounts/{accountName}/blobServices/default/containers/{name}",
            hasImmutabilityPolicy=True,
            etag=f'"0x8DC{self._chars(urn, 11, salt="etag").upper()}"',
        )

    def _azure_native_storage_BlobContainerImmutabilityPolicy(self, urn, s):
        # Created Unlocked: only the lockImmutabilityPolicy action locks it.
        return self._az_named(
            s,
            "immutabilityPolicyName",
            "Microsoft.Storage/storageAccounts/{accountName}/blobServices/default/containers/{containerName}"
            "/immutabilityPolicies/{name}",
            etag=f'"8d{self._chars(urn, 13, salt="etag")}"',
            state="Unlocked",
        )

    # Identity and authorization
    def _azure_native_managedidentity_UserAssignedIdentity(self, urn, s):
        return self._az_named(
            s,
            "resourceName",
            "Microsoft.ManagedIdentity/userAssignedIdentities/{name}",
            principalId=self._uuid(urn, "principal"),
            clientId=self._uuid(urn, "client"),
            tenantId=FAKE_TENANT,
        )

    def _azure_native_managedidentity_FederatedIdentityCredential(self, urn, s):
        # A child of its identity: ARM nests the id under the identity's and answers the child type.
        return self._az_named(
            s,
            "federatedIdentityCredentialResourceName",
            "Microsoft.ManagedIdentity/userAssignedIdentities/{resourceName}/federatedIdentityCredentials/{name}",
            type="Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials",
        )

    def _azure_native_authorization_RoleAssignment(self, urn, s):
        name = s.get("roleAssignmentName") or self._uuid(urn, "assignment")
        rid = f"{s.get('scope')}/providers/Microsoft.Authorization/roleAssignments/{name}"
        return rid, {"name": name, "id": rid, "type": "Microsoft.Authorization/roleAssignments"}

    # Key Vault
    def _azure_native_keyvault_Vault(self, urn, s):
        rid, computed = self._az_named(s, "vaultName", "Microsoft.KeyVault/vaults/{name}")
        properties = s.get("properties")
        if isinstance(properties, dict):
            properties.setdefault("vaultUri", f"https://{computed['name']}.vault.azure.net/")
        return rid, computed

    def _azure_native_keyvault_Key(self, urn, s):
        rid, computed = self._az_named(s, "keyName", "Microsoft.KeyVault/vaults/{vaultName}/keys/{name}")
        uri = f"https://{s.get('vaultName')}.vault.azure.net/keys/{computed['name']}"
        computed["keyUri"] = uri
        computed["keyUriWithVersion"] = f"{uri}/{self._chars(urn, 32, salt='key-version')}"
        return rid, computed

    def _azure_native_keyvault_Secret(self, urn, s):
        rid, computed = self._az_named(s, "secretName", "Microsoft.KeyVault/vaults/{vaultName}/secrets/{name}")
        uri = f"https://{s.get('vaultName')}.vault.azure.net/secrets/{computed['name']}"
        properties = s.get("properties")
        if isinstance(properties, dict):
            properties.setdefault("secretUri", uri)
            properties.setdefault("secretUriWithVersion", f"{uri}/{self._chars(urn, 32, salt='secret-version')}")
        return rid, computed

    # Compute
    def _azure_native_compute_DiskEncryptionSet(self, urn, s):
        self._az_identity(urn, s)
        return self._az_named(s, "diskEncryptionSetName", "Microsoft.Compute/diskEncryptionSets/{name}")

    def _azure_native_compute_Disk(self, urn, s):
        return self._az_named(
            s, "diskName", "Microsoft.Compute/disks/{name}", diskState="Unattached", uniqueId=self._uuid(urn, "disk")
        )

    def _azure_native_compute_VirtualMachine(self, urn, s):
        self._az_identity(urn, s)
        return self._az_named(
            s,
            "vmName",
            "Microsoft.Compute/virtualMachines/{name}",
            vmId=self._uuid(urn, "vm"),
            provisioningState="Succeeded",
        )

    # Azure Monitor
    def _azure_native_monitor_ActionGroup(self, urn, s):
        return self._az_named(s, "actionGroupName", "Microsoft.Insights/actionGroups/{name}")

    def _azure_native_monitor_MetricAlert(self, urn, s):
        return self._az_named(s, "ruleName", "Microsoft.Insights/metricAlerts/{name}")

    # An explicit provider (the peer's subscription): the engine's id is a UUID.
    def _pulumi_providers_azure_native(self, urn, s):
        return self._uuid(urn, "provider"), {}

    def _call_azure_native_authorization_getClientConfig(self, query):
        return {
            "clientId": self._uuid("deployer", "client"),
            "objectId": FAKE_DEPLOYER,
            "subscriptionId": FAKE_SUBSCRIPTION,
            "tenantId": FAKE_TENANT,
        }
