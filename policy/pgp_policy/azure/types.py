"""Every Azure type token the pack reads, defined once (pulumi-azure-native's `azure-native:<module>:<Type>`)."""

from __future__ import annotations

CLOUD = "azure"
PACKAGE = "azure-native"

RESOURCE_GROUP = "azure-native:resources:ResourceGroup"

# Networking
VNET = "azure-native:network:VirtualNetwork"
SUBNET = "azure-native:network:Subnet"
NSG = "azure-native:network:NetworkSecurityGroup"
SECURITY_RULE = "azure-native:network:SecurityRule"
PEERING = "azure-native:network:VirtualNetworkPeering"
NIC = "azure-native:network:NetworkInterface"
LOAD_BALANCER = "azure-native:network:LoadBalancer"
PUBLIC_IP = "azure-native:network:PublicIPAddress"
NAT_GATEWAY = "azure-native:network:NatGateway"
PRIVATE_ENDPOINT = "azure-native:network:PrivateEndpoint"
DNS_ZONE_GROUP = "azure-native:network:PrivateDnsZoneGroup"
NETWORK_WATCHER = "azure-native:network:NetworkWatcher"
FLOW_LOG = "azure-native:network:FlowLog"

# Private DNS
PRIVATE_ZONE = "azure-native:privatedns:PrivateZone"
RECORD_SET = "azure-native:privatedns:PrivateRecordSet"
VNET_LINK = "azure-native:privatedns:VirtualNetworkLink"

# Storage (the backup vault)
STORAGE_ACCOUNT = "azure-native:storage:StorageAccount"
BLOB_SERVICE = "azure-native:storage:BlobServiceProperties"
CONTAINER = "azure-native:storage:BlobContainer"
IMMUTABILITY = "azure-native:storage:BlobContainerImmutabilityPolicy"
MANAGEMENT_POLICY = "azure-native:storage:ManagementPolicy"

# Key Vault, identity, authorization
KEY_VAULT = "azure-native:keyvault:Vault"
KEY = "azure-native:keyvault:Key"
SECRET = "azure-native:keyvault:Secret"
IDENTITY = "azure-native:managedidentity:UserAssignedIdentity"
FEDERATED_CREDENTIAL = "azure-native:managedidentity:FederatedIdentityCredential"
ROLE_ASSIGNMENT = "azure-native:authorization:RoleAssignment"

# Compute
VM = "azure-native:compute:VirtualMachine"
DISK = "azure-native:compute:Disk"
DES = "azure-native:compute:DiskEncryptionSet"

# Monitor
METRIC_ALERT = "azure-native:monitor:MetricAlert"
ACTION_GROUP = "azure-native:monitor:ActionGroup"
