"""Secrets: generated passwords and the cluster's TLS material, kept in Secrets Manager.

The values (components/secret_material.py) are Pulumi secrets end to end and reach nodes only by ARN: a node
fetches them at boot with its instance role, never through user data.

Alert receivers' webhook URLs are credentials too (the token is in the URL): one secret per webhook receiver,
read only by the monitoring node, which fills them into Alertmanager's configuration at boot.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components.base import PlatformComponent
from components.secret_material import passwords, tls_material
from dataplane.boot.member import program_files_json
from dataplane.model import ClusterSpec

RECOVERY_WINDOW_DAYS = 30


@dataclass(frozen=True)
class SecretsArgs:
    spec: ClusterSpec
    protect: bool
    tags: Mapping[str, str]
    # receiver name -> webhook URL (from the stack's settings; stored, never passed on in plain text)
    webhooks: Mapping[str, str] = field(default_factory=dict)


class Secrets(PlatformComponent):
    def __init__(self, name: str, args: SecretsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aws", "Secrets", name, args.tags, opts)
        self.key = aws.kms.Key(
            self.child_name("key"),
            description=f"{name} secrets",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            tags=self.tags("key"),
            opts=self.child_opts(protect=args.protect),
        )
        self.arns: dict[str, pulumi.Output[str]] = {
            secret: self._store(secret, value, args.protect) for secret, value in passwords(self, args.protect).items()
        }
        material = tls_material(self, args.spec, args.protect)
        self.ca_cert_pem = self.ca_certificate = material.ca_cert_pem
        self.tls_arns = {
            member: self._store(f"tls-{member}", bundle, args.protect)
            for member, bundle in material.member_bundles.items()
        }
        # Settings arrive as plain strings (even `secure:` ones): wrapped here, before any resource sees them.
        self.webhook_arns: dict[str, pulumi.Output[str]] = {
            receiver: self._store(f"webhook-{receiver}", pulumi.Output.secret(url), args.protect)
            for receiver, url in sorted(args.webhooks.items())
        }
        # Not secret, but the only store a member's identity reads at boot: EC2's 16 KiB of user data cannot
        # carry the members' programs as well as their configuration (NodeBoot.program_files_ref).
        self.program_files_arn = self._store(
            "programs", pulumi.Output.from_input(program_files_json(args.spec)), args.protect
        )
        self.secret_refs, self.member_tls_refs, self.webhook_refs = self.arns, self.tls_arns, self.webhook_arns
        self.register_outputs(
            {
                "secret_arns": self.arns,
                "tls_secret_arns": self.tls_arns,
                "webhook_secret_arns": self.webhook_arns,
                "program_files_secret_arn": self.program_files_arn,
                "key_arn": self.key.arn,
            }
        )

    def _store(self, label: str, value: pulumi.Output[str], protect: bool) -> pulumi.Output[str]:
        secret = aws.secretsmanager.Secret(
            self.child_name(label),
            name_prefix=f"{self._name}/{label}-",
            kms_key_id=self.key.arn,
            recovery_window_in_days=RECOVERY_WINDOW_DAYS,
            tags=self.tags(label),
            opts=self.child_opts(protect=protect),
        )
        aws.secretsmanager.SecretVersion(
            self.child_name(f"{label}-version"),
            secret_id=secret.id,
            secret_string=value,
            opts=self.child_opts(protect=protect),
        )
        return secret.arn
