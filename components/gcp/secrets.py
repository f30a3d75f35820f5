"""Secrets: generated passwords and the cluster's TLS material, kept in Secret Manager.

The values (components/secret_material.py) are Pulumi secrets end to end and reach nodes only by resource name
(`projects/<project>/secrets/<id>`): a node fetches the latest version at boot with its service account, never
through its metadata.

Alert receivers' webhook URLs are credentials too (the token is in the URL): one secret per webhook receiver,
read only by the monitoring node, which fills them into Alertmanager's configuration at boot.

Each secret has one user-managed replica in the stage's region, so its payload never leaves it. Secret Manager
encrypts with Google-managed keys; a customer-managed key per replica is optional and not taken: the nodes'
grants are per secret, which is what decides who reads a value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_gcp as gcp

from components.gcp.base import GcpComponent
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
                    replicas=[gcp.secretmanager.SecretReplicationUserManagedReplicaArgs(location=self._region)]
                )
            ),
            labels=self.labels(secret=label),
            opts=self.child_opts(protect=protect),
        )
        gcp.secretmanager.SecretVersion(
            self.child_name(f"{label}-version"),
            secret=secret.id,
            secret_data=value,
            opts=self.child_opts(protect=protect),
        )
        # projects/<project>/secrets/<id>: the resource name the node's boot reads the latest version by.
        return secret.id
