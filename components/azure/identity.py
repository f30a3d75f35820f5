"""Identity: one user-assigned managed identity per node, holding only the data-plane roles it needs, each scoped
to the one resource it acts on; and the break-glass restore identity.

- A member reads and writes blobs in the backup container (Storage Blob Data Contributor on the container: the
  built-in role with write and delete, which pgBackRest's archive-push, backup and expire need; Azure has no
  write-without-delete data role, and the version-level immutability keeps every version anyway) and reads its
  secrets (Key Vault Secrets User on each secret: the shared passwords and its own TLS bundle, no other member's).
- The monitoring node reads only the receivers' webhook secrets.
- The restore identity reads the container, every version included, and the repository cipher; it can write or
  delete nothing. Attach it to a restore VM, or federate it, on the day a restore is needed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
from pulumi_azure_native import authorization, managedidentity

from components.azure.spec import (
    KEY_VAULT_SECRETS_USER,
    STORAGE_BLOB_DATA_CONTRIBUTOR,
    STORAGE_BLOB_DATA_READER,
    role_definition_id,
)
from components.base import PlatformComponent

# What writes the backups, a member's pgBackRest or a Kubernetes Cluster's Barman Cloud (module docstring: Azure has
# no write-without-delete data role, and the container's version-level immutability keeps every version anyway).
BACKUP_WRITER_ROLE = STORAGE_BLOB_DATA_CONTRIBUTOR


@dataclass(frozen=True)
class IdentityArgs:
    location: str
    subscription_id: str
    resource_group_name: pulumi.Input[str]
    container_id: pulumi.Input[str]  # the backup container's ARM id
    shared_secret_ids: Sequence[pulumi.Input[str]]  # ARM ids of the passwords every member reads
    member_tls_secret_ids: Mapping[str, pulumi.Input[str]]  # member -> ARM id of its own TLS bundle
    webhook_secret_ids: Sequence[pulumi.Input[str]]
    cipher_secret_id: pulumi.Input[str]
    tags: Mapping[str, str]


class Identity(PlatformComponent):
    def __init__(self, name: str, args: IdentityArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("azure", "Identity", name, args.tags, opts)
        self._args = args
        self.identities: dict[str, managedidentity.UserAssignedIdentity] = {}
        for member, tls_id in args.member_tls_secret_ids.items():
            identity = self._identity(member)
            self._grant(f"{member}-backups", identity, BACKUP_WRITER_ROLE, args.container_id)
            for i, secret_id in enumerate([*args.shared_secret_ids, tls_id]):
                self._grant(f"{member}-secret{i}", identity, KEY_VAULT_SECRETS_USER, secret_id)
            self.identities[member] = identity
        self.monitoring = self._identity("monitoring")
        for i, secret_id in enumerate(args.webhook_secret_ids):
            self._grant(f"monitoring-secret{i}", self.monitoring, KEY_VAULT_SECRETS_USER, secret_id)
        self.restore = restore_identity(
            self,
            resource_group_name=args.resource_group_name,
            location=args.location,
            subscription_id=args.subscription_id,
            container_id=args.container_id,
            cipher_secret_id=args.cipher_secret_id,
        )

        # A VM carries its identity by resource id; the boot picks the token by client id.
        self.member_identities = {m: i.id for m, i in self.identities.items()}
        self.member_client_ids = {m: i.client_id for m, i in self.identities.items()}
        self.monitoring_identity = self.monitoring.id
        self.restore_identity = self.restore.id
        # The console's duties (`pgp --as`) reach members through AWS Systems Manager only so far: none here yet.
        self.duty_identities: dict[str, pulumi.Output[str]] = {}
        self.register_outputs(
            {
                "member_identity_ids": self.member_identities,
                "monitoring_identity_id": self.monitoring_identity,
                "restore_identity_id": self.restore_identity,
            }
        )

    def _identity(self, label: str, **extra: str) -> managedidentity.UserAssignedIdentity:
        return user_identity(self, label, self._args.resource_group_name, self._args.location, **extra)

    def _grant(
        self, label: str, identity: managedidentity.UserAssignedIdentity, role: str, scope: pulumi.Input[str]
    ) -> authorization.RoleAssignment:
        return grant(self, label, identity, role, scope, self._args.subscription_id)


def user_identity(
    owner: PlatformComponent, label: str, resource_group_name: pulumi.Input[str], location: str, **extra: str
) -> managedidentity.UserAssignedIdentity:
    return managedidentity.UserAssignedIdentity(
        owner.child_name(label),
        resource_group_name=resource_group_name,
        location=location,
        tags=owner.tags(label, **extra),
        opts=owner.child_opts(),
    )


def grant(
    owner: PlatformComponent,
    label: str,
    identity: managedidentity.UserAssignedIdentity,
    role: str,
    scope: pulumi.Input[str],
    subscription_id: str,
) -> authorization.RoleAssignment:
    # principal_type: Entra ID may not have replicated a new identity yet; ARM then skips the lookup.
    return authorization.RoleAssignment(
        owner.child_name(label),
        scope=scope,
        principal_id=identity.principal_id,
        principal_type="ServicePrincipal",
        role_definition_id=role_definition_id(subscription_id, role),
        opts=owner.child_opts(),
    )


def restore_identity(
    owner: PlatformComponent,
    *,
    resource_group_name: pulumi.Input[str],
    location: str,
    subscription_id: str,
    container_id: pulumi.Input[str],
    cipher_secret_id: pulumi.Input[str] | None,
) -> managedidentity.UserAssignedIdentity:
    """The break-glass identity: reads the container, every version included, and the repository cipher where
    there is one (pgBackRest's; Barman Cloud on Kubernetes has none); it can write or delete nothing."""
    restore = user_identity(owner, "restore", resource_group_name, location, purpose="break-glass")
    grant(owner, "restore-backups", restore, STORAGE_BLOB_DATA_READER, container_id, subscription_id)
    if cipher_secret_id is not None:
        grant(owner, "restore-cipher", restore, KEY_VAULT_SECRETS_USER, cipher_secret_id, subscription_id)
    return restore
