"""Azure as the host of a Kubernetes target (AKS): the stage's Blob BackupVault (version-level immutability,
as the VM flavour builds it), and a user-assigned managed identity the Cluster's service account federates with
through the cluster's OIDC issuer (Microsoft Entra Workload ID), so the Barman Cloud plugin writes backups with
short-lived tokens and no account key or SAS exists anywhere (the account refuses shared keys).

The account refuses public networks, as on the VM flavour: its private endpoint takes an address in a subnet of
the AKS cluster's virtual network (`kubernetes.endpoint_subnet_id`), and the stage's privatelink zone is linked
to that network so the pods resolve the account's name to it."""

from __future__ import annotations

import pulumi
from pulumi_azure_native import authorization, managedidentity, resources

from components.azure.identity import BACKUP_WRITER_ROLE, grant, restore_identity, user_identity
from components.azure.network import private_zone, zone_link
from components.azure.secrets import key_vault, wrapping_key
from components.azure.spec import BLOB_ENDPOINT, BLOB_PRIVATE_ZONE, azure_repository, resource_group_name
from components.azure.vault import BackupVault, BackupVaultArgs
from components.base import PlatformComponent
from components.contracts import VaultIntent
from components.workload_host import HostBackup, service_account_subject
from stacks.clouds.azure import subnet_vnet_id
from stacks.settings import Settings

# The service account annotation and the pod label Azure Workload Identity's mutating webhook reads: the label
# makes it project a token for the client id into the pod (every container, the plugin's sidecar included).
CLIENT_ID_ANNOTATION = "azure.workload.identity/client-id"
USE_LABEL = "azure.workload.identity/use"
# The audience Entra ID expects of a federated Kubernetes token (Workload ID's default).
TOKEN_AUDIENCE = "api://AzureADTokenExchange"


def federated_credential_name(namespace: str, service_account: str) -> str:
    """Unique per identity; names the service account it trusts, so the portal shows who may sign in."""
    return f"{namespace}-{service_account}"


def destination_path(account: str, container: str, path: str) -> str:
    # Barman Cloud's Azure form: the container's URL, then the prefix (the repository's path starts with `/`).
    return f"https://{account}.{BLOB_ENDPOINT}/{container}{path}"


class KubernetesBackupSite(PlatformComponent):
    """What the vault stands on outside a VM stage's network: the stage's resource group, a Key Vault holding only
    the account's wrapping key, and the privatelink zone linked to the AKS cluster's virtual network."""

    def __init__(
        self,
        name: str,
        *,
        settings: Settings,
        tenant_id: str,
        vnet_id: str,
        protect: bool,
        tags: dict[str, str],
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("azure", "KubernetesBackupSite", name, tags, opts)
        self.resource_group = resources.ResourceGroup(
            self.child_name("rg"),
            resource_group_name=resource_group_name(settings),
            location=settings.region,
            tags=self.tags("rg"),
            opts=self.child_opts(protect=protect),
        )
        self.group_name = self.resource_group.name
        # No subnet rules: no node reads this vault, only Storage (a trusted service) unwraps the key.
        self.vault = key_vault(
            self,
            stage=settings.stage,
            location=settings.region,
            resource_group_name=self.group_name,
            tenant_id=tenant_id,
            subnet_ids=[],
            protect=protect,
        )
        self.vault_uri = self.vault.properties.apply(lambda p: p.vault_uri)
        self.backup_key = wrapping_key(self, self.vault, self.group_name, "backup-key", protect)
        self.blob_zone = private_zone(self, "blob-zone", self.group_name, BLOB_PRIVATE_ZONE)
        zone_link(self, "blob-zone-link", self.group_name, self.blob_zone, vnet_id)
        self.register_outputs({"resource_group": self.group_name, "vault_uri": self.vault_uri})


class KubernetesBackupIdentity(PlatformComponent):
    """The identity the Cluster's service account federates with (backup writer on the container only), and the
    break-glass restore identity of the VM flavour."""

    def __init__(
        self,
        name: str,
        *,
        settings: Settings,
        subscription_id: str,
        resource_group_name: pulumi.Input[str],
        issuer: str,
        namespace: str,
        service_account: str,
        container_id: pulumi.Input[str],
        tags: dict[str, str],
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("azure", "KubernetesBackupIdentity", name, tags, opts)
        location = settings.region
        self.identity = user_identity(self, "backup", resource_group_name, location, purpose="k8s-backup")
        # Only tokens the one cluster issues to the one service account: Entra ID matches issuer, subject and
        # audience exactly (no wildcard exists).
        self.federation = managedidentity.FederatedIdentityCredential(
            self.child_name("federation"),
            resource_group_name=resource_group_name,
            resource_name_=self.identity.name,
            federated_identity_credential_resource_name=federated_credential_name(namespace, service_account),
            issuer=issuer,
            subject=service_account_subject(namespace, service_account),
            audiences=[TOKEN_AUDIENCE],
            opts=self.child_opts(),
        )
        self.writer: authorization.RoleAssignment = grant(
            self, "backups", self.identity, BACKUP_WRITER_ROLE, container_id, subscription_id
        )
        self.restore = restore_identity(
            self,
            resource_group_name=resource_group_name,
            location=location,
            subscription_id=subscription_id,
            container_id=container_id,
            cipher_secret_id=None,  # Barman Cloud has no repository cipher: the account's key encrypts
        )
        self.register_outputs({"client_id": self.identity.client_id, "restore_identity_id": self.restore.id})


def backup_host(
    parent: pulumi.ComponentResource,
    name: str,
    settings: Settings,
    intent: VaultIntent,
    *,
    namespace: str,
    service_account: str,
    protect: bool,
    tags: dict[str, str],
) -> HostBackup:
    on = settings.kubernetes
    assert on is not None and on.oidc_issuer is not None and on.endpoint_subnet_id is not None
    child = pulumi.ResourceOptions(parent=parent)
    client = authorization.get_client_config(opts=pulumi.InvokeOptions(parent=parent))
    subscription = client.subscription_id
    repository = azure_repository(settings, subscription)
    site = KubernetesBackupSite(
        f"{name}-backup-site",
        settings=settings,
        tenant_id=client.tenant_id,
        vnet_id=subnet_vnet_id(on.endpoint_subnet_id),
        protect=protect,
        tags=tags,
        opts=child,
    )
    vault = BackupVault(
        f"{name}-vault",
        BackupVaultArgs(
            intent=intent,
            repository=repository,
            stage=settings.stage,
            location=settings.region,
            subscription_id=subscription,
            resource_group_name=site.group_name,
            key_name=site.backup_key.name,
            key_id=site.backup_key.id,
            vault_uri=site.vault_uri,
            endpoint_subnet_id=on.endpoint_subnet_id,
            blob_zone_id=site.blob_zone.id,
            protect=protect,
            tags=tags,
        ),
        child,
    )
    identity = KubernetesBackupIdentity(
        f"{name}-backup-identity",
        settings=settings,
        subscription_id=subscription,
        resource_group_name=site.group_name,
        issuer=on.oidc_issuer,
        namespace=namespace,
        service_account=service_account,
        container_id=vault.container.id,
        tags=tags,
        opts=child,
    )
    return HostBackup(
        vault=vault,
        repository=repository,
        location=vault.location,
        destination_path=destination_path(repository.account, repository.container, repository.path),
        credentials={"azureCredentials": {"inheritFromAzureAD": True}},
        service_account_annotations={CLIENT_ID_ANNOTATION: identity.identity.client_id},
        restore_identity=identity.restore.id,
        pod_labels={USE_LABEL: "true"},
        ready=(identity,),
    )
