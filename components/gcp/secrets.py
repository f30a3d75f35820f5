"""Secrets: generated passwords and the cluster's TLS material, kept in Secret Manager.

The values (components/secret_material.py) are Pulumi secrets end to end and reach nodes only by resource name
(`projects/<project>/secrets/<id>`): a node fetches the latest version at boot with its service account, never
through its metadata.

Alert receivers' webhook URLs are credentials too (the token is in the URL): one secret per webhook receiver,
read only by the monitoring node, which fills them into Alertmanager's configuration at boot.

Each secret has one user-managed replica in the stage's region, so its payload never leaves it, encrypted with
the stage's own Cloud KMS key for secrets (in that region, as a replica's key must be): a second, auditable and
revocable grant besides the nodes' per-secret ones. Secret Manager's service agent encrypts and decrypts on the
reader's behalf; it exists only once asked for, so the component asks for it (ServiceIdentity) and grants it the
key before any secret is created.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_gcp as gcp

from components.gcp.base import GcpComponent
from components.gcp.vault import ENCRYPTER_DECRYPTER, KEY_ROTATION
from components.secret_material import passwords, tls_material
from dataplane.model import ClusterSpec


@dataclass(frozen=True)
class SecretsArgs:
    spec: ClusterSpec
    region: str
    protect: bool
    tags: Mapping[str, str]
    # receiver name -> webhook URL (from the stack's settings; stored, never passed on in plain text)
    webhooks: Mapping[str, str] = field(default_factory=dict)


class Secrets(GcpComponent):
    def __init__(self, name: str, args: SecretsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("gcp", "Secrets", name, args.tags, opts)
        self._region = args.region
        key_ring = gcp.kms.KeyRing(
            self.child_name("keyring"), location=args.region, opts=self.child_opts(protect=args.protect)
        )
        self.key = gcp.kms.CryptoKey(
            self.child_name("key"),
            key_ring=key_ring.id,
            purpose="ENCRYPT_DECRYPT",
            rotation_period=KEY_ROTATION,
            labels=self.labels(purpose="secrets"),
            opts=self.child_opts(protect=args.protect),
        )
        agent = gcp.projects.ServiceIdentity(
            self.child_name("agent"), service="secretmanager.googleapis.com", opts=self.child_opts()
        )
        # Secret Manager refuses a replica key its agent cannot use: every secret waits for the grant.
        self._grant = gcp.kms.CryptoKeyIAMMember(
            self.child_name("key-secretmanager-agent"),
            crypto_key_id=self.key.id,
            role=ENCRYPTER_DECRYPTER,
            member=agent.member,
            opts=self.child_opts(),
        )
        self.secret_refs: dict[str, pulumi.Output[str]] = {
            secret: self._store(secret, value, args.protect) for secret, value in passwords(self, args.protect).items()
        }
        material = tls_material(self, args.spec, args.protect)
        self.ca_cert_pem = self.ca_certificate = material.ca_cert_pem
        self.member_tls_refs = {
            member: self._store(f"tls-{member}", bundle, args.protect)
            for member, bundle in material.member_bundles.items()
        }
        # Settings arrive as plain strings (even `secure:` ones): wrapped here, before any resource sees them.
        self.webhook_refs: dict[str, pulumi.Output[str]] = {
            receiver: self._store(f"webhook-{receiver}", pulumi.Output.secret(url), args.protect)
            for receiver, url in sorted(args.webhooks.items())
        }
        self.register_outputs(
            {
                "secret_names": self.secret_refs,
                "tls_secret_names": self.member_tls_refs,
                "webhook_secret_names": self.webhook_refs,
            }
        )

    def _store(self, label: str, value: pulumi.Output[str], protect: bool) -> pulumi.Output[str]:
        # The secret id is the provider's auto-name (`<logical name>-<7 hex>`), so a replacement is created before
        # the old secret is deleted without a clash.
        secret = gcp.secretmanager.Secret(
            self.child_name(label),
            replication=gcp.secretmanager.SecretReplicationArgs(
                user_managed=gcp.secretmanager.SecretReplicationUserManagedArgs(
                    replicas=[
                        gcp.secretmanager.SecretReplicationUserManagedReplicaArgs(
                            location=self._region,
                            customer_managed_encryption=(
                                gcp.secretmanager.SecretReplicationUserManagedReplicaCustomerManagedEncryptionArgs(
                                    kms_key_name=self.key.id
                                )
                            ),
                        )
                    ]
                )
            ),
            labels=self.labels(secret=label),
            opts=self.child_opts(protect=protect, depends_on=[self._grant]),
        )
        gcp.secretmanager.SecretVersion(
            self.child_name(f"{label}-version"),
            secret=secret.id,
            secret_data=value,
            opts=self.child_opts(protect=protect),
        )
        # projects/<project>/secrets/<id>: the resource name the node's boot reads the latest version by.
        return secret.id
