"""Secrets: a Key Vault (RBAC, purge protection, reachable from the platform's subnets only) holding the generated
passwords, each member's TLS bundle, the receivers' webhook URLs, and the keys the backups and disks are
encrypted with.

Values are Pulumi secrets end to end and reach nodes only by id: a node fetches them at boot with its managed
identity (dataplane/boot/azure.py), never through custom data. The vault and its secrets are created through ARM
(Microsoft.KeyVault/vaults/secrets), so the deploying machine never needs the vault's data plane.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
from pulumi_azure_native import keyvault

from components.base import PlatformComponent
from components.secret_material import passwords, tls_material
from dataplane.model import ClusterSpec
from stacks.clouds.azure import key_vault_logical_name

SOFT_DELETE_DAYS = 90  # the most Key Vault keeps a deleted vault, key or secret recoverable
# Storage and disk encryption wrap their data keys with an RSA key of the vault (RSA-HSM needs the premium SKU).
WRAPPING_KEY_SIZE = 3072


@dataclass(frozen=True)
class SecretsArgs:
    spec: ClusterSpec
    stage: str
    location: str
    resource_group_name: pulumi.Input[str]
    tenant_id: str
    subnet_ids: Sequence[pulumi.Input[str]]  # the subnets whose service endpoint the vault admits
    protect: bool
    tags: Mapping[str, str]
    webhooks: Mapping[str, str] = field(default_factory=dict)  # receiver -> URL (stored, never passed on)


class Secrets(PlatformComponent):
    def __init__(self, name: str, args: SecretsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("azure", "Secrets", name, args.tags, opts)
        self._group = args.resource_group_name
        self._stateful = args.protect
        self.vault = key_vault(
            self,
            stage=args.stage,
            location=args.location,
            resource_group_name=args.resource_group_name,
            tenant_id=args.tenant_id,
            subnet_ids=args.subnet_ids,
            protect=args.protect,
        )
        self.vault_uri = self.vault.properties.apply(lambda p: p.vault_uri)
        self.backup_key = self._key("backup-key")
        self.disk_key = self._key("disk-key")

        self.secret_refs: dict[str, pulumi.Output[str]] = {}
        self.secret_ids: dict[str, pulumi.Output[str]] = {}  # ARM ids: the scopes of role assignments
        for secret, value in passwords(self, args.protect).items():
            self._store(secret, secret, value, self.secret_refs)
        self.member_tls_refs: dict[str, pulumi.Output[str]] = {}
        material = tls_material(self, args.spec, args.protect)
        self.ca_certificate = material.ca_cert_pem  # public: clients and the monitoring node verify against it
        for member, bundle in material.member_bundles.items():
            self._store(f"tls-{member}", member, bundle, self.member_tls_refs)
        # Settings arrive as plain strings (even `secure:` ones): wrapped here, before any resource sees them.
        self.webhook_refs: dict[str, pulumi.Output[str]] = {}
        for receiver, url in sorted(args.webhooks.items()):
            self._store(f"webhook-{receiver}", receiver, pulumi.Output.secret(url), self.webhook_refs)
        self.register_outputs(
            {
                "vault_uri": self.vault_uri,
                "secret_ids": self.secret_refs,
                "tls_secret_ids": self.member_tls_refs,
                "webhook_secret_ids": self.webhook_refs,
            }
        )

    def _key(self, label: str) -> keyvault.Key:
        return wrapping_key(self, self.vault, self._group, label, self._stateful)

    def _store(self, label: str, key: str, value: pulumi.Output[str], refs: dict[str, pulumi.Output[str]]) -> None:
        secret = keyvault.Secret(
            self.child_name(label),
            resource_group_name=self._group,
            vault_name=self.vault.name,
            secret_name=label,
            properties={"value": value, "content_type": "text/plain"},
            tags=self.tags(label),
            opts=self.child_opts(protect=self._stateful),
        )
        # The id without a version: a node always reads the current value.
        refs[key] = pulumi.Output.unsecret(secret.properties.apply(lambda p: p.secret_uri))
        self.secret_ids[label] = secret.id


def key_vault(
    owner: PlatformComponent,
    *,
    stage: str,
    location: str,
    resource_group_name: pulumi.Input[str],
    tenant_id: str,
    subnet_ids: Sequence[pulumi.Input[str]],
    protect: bool,
) -> keyvault.Vault:
    """The stage's Key Vault: RBAC, purge protection, denied to every network but the given subnets' service
    endpoints and the trusted services (Storage unwraps the backup account's key through that bypass)."""
    # Auto-named `pgp-<stage>-kv<8 hex>`: vault names are global and stay reserved while soft-deleted.
    return keyvault.Vault(
        key_vault_logical_name(stage),
        resource_group_name=resource_group_name,
        location=location,
        properties={
            "tenant_id": tenant_id,
            "sku": {"family": "A", "name": keyvault.SkuName.STANDARD},
            "enable_rbac_authorization": True,
            "enable_soft_delete": True,
            "soft_delete_retention_in_days": SOFT_DELETE_DAYS,
            "enable_purge_protection": True,
            "enabled_for_deployment": False,
            "enabled_for_template_deployment": False,
            "enabled_for_disk_encryption": False,
            # Denied by default; the platform's subnets through their service endpoint, and the trusted
            # services (Storage, disk encryption sets) that unwrap their keys.
            "public_network_access": "Enabled",
            "network_acls": {
                "default_action": "Deny",
                "bypass": "AzureServices",
                "virtual_network_rules": [{"id": s} for s in subnet_ids],
            },
        },
        tags=owner.tags("kv"),
        opts=owner.child_opts(protect=protect),
    )


def wrapping_key(
    owner: PlatformComponent, vault: keyvault.Vault, resource_group_name: pulumi.Input[str], label: str, protect: bool
) -> keyvault.Key:
    return keyvault.Key(
        owner.child_name(label),
        resource_group_name=resource_group_name,
        vault_name=vault.name,
        key_name=label,
        properties={
            "kty": "RSA",
            "key_size": WRAPPING_KEY_SIZE,
            "key_ops": ["wrapKey", "unwrapKey"],
            # A new version every year; storage and disks follow the latest version by themselves.
            "rotation_policy": {
                "attributes": {"expiry_time": "P2Y"},
                "lifetime_actions": [
                    {
                        "action": {"type": keyvault.KeyRotationPolicyActionType.ROTATE},
                        "trigger": {"time_after_create": "P1Y"},
                    },
                    {
                        "action": {"type": keyvault.KeyRotationPolicyActionType.NOTIFY},
                        "trigger": {"time_before_expiry": "P30D"},
                    },
                ],
            },
        },
        tags=owner.tags(label),
        # Without the key, the backups and disks it wraps are unreadable.
        opts=owner.child_opts(protect=protect),
    )
