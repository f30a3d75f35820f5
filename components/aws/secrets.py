"""Secrets: generated passwords and the cluster's TLS material, kept in Secrets Manager.

Values are Pulumi secrets end to end (random/tls outputs are secret; the versions' strings are wrapped
again so no plan or state shows them) and reach nodes only by ARN: a node fetches them at boot with its
instance role, never through user data.

Alert receivers' webhook URLs are credentials too (the token is in the URL): one secret per webhook receiver,
read only by the monitoring node, which fills them into Alertmanager's configuration at boot.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws
import pulumi_random as random
import pulumi_tls as tls

from components.base import PlatformComponent
from dataplane.model import SECRET_ENV, ClusterSpec
from dataplane.tls import CertificateRequest, certificate_requests

PASSWORD_LENGTH = 32
# pgBackRest's repository cipher key is longer: it protects every backup for the whole retention.
CIPHER_LENGTH = 64
RECOVERY_WINDOW_DAYS = 30
KEY_ALGORITHM = "ECDSA"
KEY_CURVE = "P256"


@dataclass(frozen=True)
class SecretsArgs:
    spec: ClusterSpec
    protect: bool
    tags: Mapping[str, str]
    # receiver name -> webhook URL (from the stack's settings; stored, never passed on in plain text)
    webhooks: Mapping[str, str] = field(default_factory=dict)


def _uses(req: CertificateRequest) -> list[str]:
    if req.is_ca:
        return ["cert_signing", "crl_signing", "digital_signature"]
    return (
        ["digital_signature", "key_agreement"]
        + (["server_auth"] if req.server else [])
        + (["client_auth"] if req.client else [])
    )


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
        self.arns: dict[str, pulumi.Output[str]] = {}
        for secret in SECRET_ENV:
            password = random.RandomPassword(
                self.child_name(f"{secret}-value"),
                length=CIPHER_LENGTH if secret == "backup-cipher" else PASSWORD_LENGTH,
                special=False,
                opts=self.child_opts(protect=args.protect),
            )
            self.arns[secret] = self._store(secret, pulumi.Output.secret(password.result), args.protect)

        self.tls_arns = self._tls(args)
        # Settings arrive as plain strings (even `secure:` ones): wrapped here, before any resource sees them.
        self.webhook_arns: dict[str, pulumi.Output[str]] = {
            receiver: self._store(f"webhook-{receiver}", pulumi.Output.secret(url), args.protect)
            for receiver, url in sorted(args.webhooks.items())
        }
        self.secret_refs, self.member_tls_refs, self.webhook_refs = self.arns, self.tls_arns, self.webhook_arns
        self.register_outputs(
            {
                "secret_arns": self.arns,
                "tls_secret_arns": self.tls_arns,
                "webhook_secret_arns": self.webhook_arns,
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

    def _tls(self, args: SecretsArgs) -> dict[str, pulumi.Output[str]]:
        """One CA per cluster; each member's bundle (CA, its server/client pair, the shared client pair)
        is one secret, so a node reads exactly its own."""
        ca_req, client_req, *member_reqs = certificate_requests(args.spec)
        ca_key = tls.PrivateKey(
            self.child_name("tls-ca-key"),
            algorithm=KEY_ALGORITHM,
            ecdsa_curve=KEY_CURVE,
            opts=self.child_opts(protect=args.protect),
        )
        ca = tls.SelfSignedCert(
            self.child_name("tls-ca"),
            private_key_pem=ca_key.private_key_pem,
            is_ca_certificate=True,
            allowed_uses=_uses(ca_req),
            validity_period_hours=ca_req.validity_days * 24,
            set_subject_key_id=True,
            subject=tls.SelfSignedCertSubjectArgs(common_name=ca_req.common_name, organization=ca_req.organization),
            opts=self.child_opts(protect=args.protect),
        )

        def pair(req: CertificateRequest) -> tuple[pulumi.Output[str], pulumi.Output[str]]:
            key = tls.PrivateKey(
                self.child_name(f"tls-{req.name}-key"),
                algorithm=KEY_ALGORITHM,
                ecdsa_curve=KEY_CURVE,
                opts=self.child_opts(),
            )
            csr = tls.CertRequest(
                self.child_name(f"tls-{req.name}-csr"),
                private_key_pem=key.private_key_pem,
                dns_names=list(req.dns_names),
                ip_addresses=list(req.ip_addresses),
                subject=tls.CertRequestSubjectArgs(common_name=req.common_name, organization=req.organization),
                opts=self.child_opts(),
            )
            cert = tls.LocallySignedCert(
                self.child_name(f"tls-{req.name}"),
                cert_request_pem=csr.cert_request_pem,
                ca_private_key_pem=ca_key.private_key_pem,
                ca_cert_pem=ca.cert_pem,
                allowed_uses=_uses(req),
                validity_period_hours=req.validity_days * 24,
                early_renewal_hours=30 * 24,
                opts=self.child_opts(),
            )
            return cert.cert_pem, key.private_key_pem

        self.ca_cert_pem = ca.cert_pem  # public: the monitoring node verifies Patroni's /metrics with it
        self.ca_certificate = self.ca_cert_pem
        client_cert, client_key = pair(client_req)
        arns = {}
        for req in member_reqs:
            cert, key = pair(req)
            bundle = pulumi.Output.all(ca.cert_pem, cert, key, client_cert, client_key).apply(
                lambda v: json.dumps({"ca": v[0], "cert": v[1], "key": v[2], "client_cert": v[3], "client_key": v[4]})
            )
            arns[req.name] = self._store(f"tls-{req.name}", pulumi.Output.secret(bundle), args.protect)
        return arns
