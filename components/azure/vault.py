"""BackupVault: the pgBackRest repository, a blob container whose every blob version is write-once, in a storage
account that refuses shared keys and public networks and encrypts with the stage's own Key Vault key.

Version-level immutability (`immutable_storage_with_versioning` on the container) is Azure's counterpart of S3
Object Lock: pgBackRest rewrites backup.info and archive.info, and each rewrite becomes a new version while the
previous one stays immutable for the policy's period; deleting a blob only turns its current version into a
previous one. The container's time-based policy is that default version-level period.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_command as command
from pulumi_azure_native import authorization, managedidentity, network, storage

from components.azure.spec import KEY_VAULT_CRYPTO_SERVICE_ENCRYPTION_USER, role_definition_id
from components.base import PlatformComponent
from components.contracts import VaultIntent
from dataplane.model import AzureRepository
from stacks.clouds.azure import storage_account_logical_name

CONTAINER_SOFT_DELETE_DAYS = 30


@dataclass(frozen=True)
class BackupVaultArgs:
    intent: VaultIntent  # lock mode and days, noncurrent expiry (components.contracts)
    repository: AzureRepository  # pgBackRest's view: its account and container are the ones created here
    stage: str
    location: str
    subscription_id: str
    resource_group_name: pulumi.Input[str]
    key_name: pulumi.Input[str]  # the backup key in the vault
    key_id: pulumi.Input[str]  # its ARM id: the scope of the account identity's role
    vault_uri: pulumi.Input[str]
    endpoint_subnet_id: pulumi.Input[str]  # where the blob private endpoint takes its address
    blob_zone_id: pulumi.Input[str]  # privatelink.blob.core.windows.net
    protect: bool
    tags: Mapping[str, str]


def lock_command(group: str, account: str, container: str, etag: str) -> str:
    """The POST that locks a container's immutability policy (blobContainers/lockImmutabilityPolicy), which no
    azure-native resource makes: Azure CLI's own call, with the policy's current ETag as If-Match. Once locked,
    the period can only be extended and the policy, container and account cannot be deleted before it ends."""
    return shlex.join(
        [
            "az",
            "storage",
            "container",
            "immutability-policy",
            "lock",
            "--resource-group",
            group,
            "--account-name",
            account,
            "--container-name",
            container,
            "--if-match",
            etag,
            "--output",
            "none",
        ]
    )


class BackupVault(PlatformComponent):
    def __init__(self, name: str, args: BackupVaultArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("azure", "BackupVault", name, args.tags, opts)
        repo, intent = args.repository, args.intent
        locked = intent.lock_mode == "COMPLIANCE" and intent.lock_days > 0
        # A locked policy keeps Azure from deleting the account before the last version's period ends: destroying
        # a prod stack leaves the account (and its identity and key) rather than failing halfway.
        retain = locked
        # The account reads its key with an identity of its own, allowed to wrap and unwrap with that key only.
        self.key_identity = managedidentity.UserAssignedIdentity(
            self.child_name("key-identity"),
            resource_group_name=args.resource_group_name,
            location=args.location,
            tags=self.tags("key-identity"),
            opts=self.child_opts(retain_on_delete=retain),
        )
        key_user = authorization.RoleAssignment(
            self.child_name("key-user"),
            scope=args.key_id,
            principal_id=self.key_identity.principal_id,
            principal_type="ServicePrincipal",
            role_definition_id=role_definition_id(args.subscription_id, KEY_VAULT_CRYPTO_SERVICE_ENCRYPTION_USER),
            opts=self.child_opts(retain_on_delete=retain),
        )
        self.account = storage.StorageAccount(
            storage_account_logical_name(args.stage),
            account_name=repo.account,
            resource_group_name=args.resource_group_name,
            location=args.location,
            kind="StorageV2",
            sku={"name": "Standard_ZRS"},  # copies in three zones, like the members
            access_tier=storage.AccessTier.HOT,
            minimum_tls_version="TLS1_2",
            enable_https_traffic_only=True,
            allow_blob_public_access=False,
            allow_shared_key_access=False,  # Entra ID only: the nodes' managed identities
            default_to_o_auth_authentication=True,
            allow_cross_tenant_replication=False,
            allowed_copy_scope="PrivateLink",
            is_hns_enabled=False,  # pgBackRest's expire fails on a hierarchical namespace
            public_network_access="Disabled",  # the private endpoint only
            network_rule_set={"default_action": storage.DefaultAction.DENY, "bypass": "None"},
            identity={"type": "UserAssigned", "user_assigned_identities": [self.key_identity.id]},
            encryption={
                "key_source": "Microsoft.Keyvault",
                # No key version: the account follows the key's rotation by itself.
                "key_vault_properties": {"key_name": args.key_name, "key_vault_uri": args.vault_uri},
                "encryption_identity": {"encryption_user_assigned_identity": self.key_identity.id},
                "require_infrastructure_encryption": True,
                "services": {"blob": {"enabled": True, "key_type": "Account"}},
            },
            tags=self.tags("account", purpose="pgbackrest"),
            opts=self.child_opts(protect=args.protect, retain_on_delete=retain, depends_on=[key_user]),
        )
        services = storage.BlobServiceProperties(
            self.child_name("blob-service"),
            resource_group_name=args.resource_group_name,
            account_name=self.account.name,
            blob_services_name="default",
            # Versioning carries version-level immutability; soft delete keeps a deleted (unlocked) version for
            # as long as the lifecycle would have kept it as a previous one.
            is_versioning_enabled=True,
            delete_retention_policy={"enabled": True, "days": intent.noncurrent_expiry_days},
            container_delete_retention_policy={"enabled": True, "days": CONTAINER_SOFT_DELETE_DAYS},
            opts=self.child_opts(protect=args.protect, retain_on_delete=retain),
        )
        # Previous versions go once their immutability has passed (the noncurrent expiry is derived past the lock),
        # as AWS's lifecycle rule expires noncurrent versions; a version still under its period is skipped.
        storage.ManagementPolicy(
            self.child_name("lifecycle"),
            resource_group_name=args.resource_group_name,
            account_name=self.account.name,
            management_policy_name="default",
            policy={
                "rules": [
                    {
                        "name": "expire-versions-after-lock",
                        "type": "Lifecycle",
                        "enabled": True,
                        "definition": {
                            "filters": {"blob_types": ["blockBlob"]},
                            "actions": {
                                "version": {
                                    "delete": {"days_after_creation_greater_than": intent.noncurrent_expiry_days}
                                }
                            },
                        },
                    }
                ]
            },
            opts=self.child_opts(protect=args.protect, retain_on_delete=retain, depends_on=[services]),
        )
        self.container = storage.BlobContainer(
            self.child_name("container"),
            resource_group_name=args.resource_group_name,
            account_name=self.account.name,
            container_name=repo.container,
            public_access=storage.PublicAccess.NONE,
            immutable_storage_with_versioning={"enabled": intent.lock_days > 0},
            opts=self.child_opts(protect=args.protect, retain_on_delete=retain, depends_on=[services]),
        )
        self.locked = False
        if intent.lock_days > 0:
            self.policy = storage.BlobContainerImmutabilityPolicy(
                self.child_name("immutability"),
                resource_group_name=args.resource_group_name,
                account_name=self.account.name,
                container_name=self.container.name,
                immutability_policy_name="default",
                immutability_period_since_creation_in_days=intent.lock_days,
                allow_protected_append_writes=False,
                opts=self.child_opts(protect=args.protect, retain_on_delete=retain),
            )
            if locked:
                # Runs once, on the machine running `pulumi up` (Azure CLI signed in as the deployer); nothing
                # undoes it, so there is no delete command.
                self.lock = command.local.Command(
                    self.child_name("immutability-lock"),
                    create=pulumi.Output.all(
                        args.resource_group_name, self.account.name, self.container.name, self.policy.etag
                    ).apply(lambda v: lock_command(v[0], v[1], v[2], v[3])),
                    triggers=[self.policy.id],
                    # Locking changes the policy's ETag: a refreshed ETag must not re-run the lock (Azure refuses to
                    # lock a locked policy), so only a new policy (its id) runs it again.
                    opts=self.child_opts(
                        protect=args.protect,
                        retain_on_delete=retain,
                        depends_on=[self.policy],
                        ignore_changes=["create"],
                    ),
                )
                self.locked = True
        # The nodes reach the account through this endpoint; the privatelink zone resolves the account's name.
        endpoint = network.PrivateEndpoint(
            self.child_name("blob-endpoint"),
            resource_group_name=args.resource_group_name,
            location=args.location,
            subnet={"id": args.endpoint_subnet_id},
            private_link_service_connections=[
                {"name": "blob", "private_link_service_id": self.account.id, "group_ids": ["blob"]}
            ],
            tags=self.tags("blob-endpoint"),
            opts=self.child_opts(),
        )
        network.PrivateDnsZoneGroup(
            self.child_name("blob-endpoint-dns"),
            resource_group_name=args.resource_group_name,
            private_endpoint_name=endpoint.name,
            private_dns_zone_group_name="default",
            private_dns_zone_configs=[{"name": "blob", "private_dns_zone_id": args.blob_zone_id}],
            opts=self.child_opts(),
        )
        self.endpoint = endpoint
        self.location = pulumi.Output.concat(self.account.name, "/", self.container.name)
        self.repository = repo
        self.register_outputs({"account": self.account.name, "container": self.container.name})
