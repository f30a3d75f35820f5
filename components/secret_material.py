"""The secret material every cloud's Secrets role stores, made the same way everywhere: generated passwords
(pulumi-random) and the cluster's TLS material (pulumi-tls: one CA per cluster; each member's bundle holds the
CA, its server/client pair and the shared client pair, so a node reads exactly its own secret).

Values are Pulumi secrets end to end: random and tls outputs are secret, and what is stored is wrapped again,
so no plan or state shows them. Only where they are kept (Secrets Manager, Key Vault, Secret Manager) is the
cloud's; the resources here are children of that cloud's Secrets component and named from it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_random as random
import pulumi_tls as tls

from components.base import PlatformComponent
from dataplane.model import SECRET_ENV, ClusterSpec
from dataplane.tls import CA_KEY_USAGES, LEAF_KEY_USAGES, CertificateRequest, certificate_requests

PASSWORD_LENGTH = 32
# pgBackRest's repository cipher key is longer: it protects every backup for the whole retention.
CIPHER_LENGTH = 64
KEY_ALGORITHM = "ECDSA"
KEY_CURVE = "P256"
EARLY_RENEWAL_HOURS = 30 * 24
# pulumi-tls's names for the X.509 key usages of dataplane/tls.py.
_TLS_PROVIDER_USE = {
    "digital_signature": "digital_signature",
    "key_cert_sign": "cert_signing",
    "crl_sign": "crl_signing",
}


def allowed_uses(req: CertificateRequest) -> list[str]:
    if req.is_ca:
        return sorted(_TLS_PROVIDER_USE[u] for u in CA_KEY_USAGES)
    return list(LEAF_KEY_USAGES) + (["server_auth"] if req.server else []) + (["client_auth"] if req.client else [])


def passwords(
    owner: PlatformComponent, protect: bool, names: tuple[str, ...] = tuple(SECRET_ENV)
) -> dict[str, pulumi.Output[str]]:
    """One generated value per secret the nodes read (dataplane.model.SECRET_ENV, or the `names` a flavour
    needs), as Pulumi secrets."""
    return {
        secret: pulumi.Output.secret(
            random.RandomPassword(
                owner.child_name(f"{secret}-value"),
                length=CIPHER_LENGTH if secret == "backup-cipher" else PASSWORD_LENGTH,
                special=False,
                opts=owner.child_opts(protect=protect),
            ).result
        )
        for secret in names
    }


@dataclass(frozen=True)
class TlsMaterial:
    ca_cert_pem: pulumi.Output[str]  # public: the monitoring node verifies Patroni's /metrics with it
    member_bundles: dict[str, pulumi.Output[str]]  # member name -> its bundle (JSON), a Pulumi secret


def certificate_authority(
    owner: PlatformComponent, ca_req: CertificateRequest, protect: bool
) -> tuple[tls.PrivateKey, tls.SelfSignedCert]:
    """The cluster's CA: its key and self-signed certificate, children of `owner`."""
    ca_key = tls.PrivateKey(
        owner.child_name("tls-ca-key"),
        algorithm=KEY_ALGORITHM,
        ecdsa_curve=KEY_CURVE,
        opts=owner.child_opts(protect=protect),
    )
    ca = tls.SelfSignedCert(
        owner.child_name("tls-ca"),
        private_key_pem=ca_key.private_key_pem,
        is_ca_certificate=True,
        allowed_uses=allowed_uses(ca_req),
        validity_period_hours=ca_req.validity_days * 24,
        set_subject_key_id=True,
        subject=tls.SelfSignedCertSubjectArgs(common_name=ca_req.common_name, organization=ca_req.organization),
        opts=owner.child_opts(protect=protect),
    )
    return ca_key, ca


def tls_material(owner: PlatformComponent, spec: ClusterSpec, protect: bool) -> TlsMaterial:
    ca_req, client_req, *member_reqs = certificate_requests(spec)
    ca_key, ca = certificate_authority(owner, ca_req, protect)

    def pair(req: CertificateRequest) -> tuple[pulumi.Output[str], pulumi.Output[str]]:
        key = tls.PrivateKey(
            owner.child_name(f"tls-{req.name}-key"),
            algorithm=KEY_ALGORITHM,
            ecdsa_curve=KEY_CURVE,
            opts=owner.child_opts(),
        )
        csr = tls.CertRequest(
            owner.child_name(f"tls-{req.name}-csr"),
            private_key_pem=key.private_key_pem,
            dns_names=list(req.dns_names),
            ip_addresses=list(req.ip_addresses),
            subject=tls.CertRequestSubjectArgs(common_name=req.common_name, organization=req.organization),
            opts=owner.child_opts(),
        )
        cert = tls.LocallySignedCert(
            owner.child_name(f"tls-{req.name}"),
            cert_request_pem=csr.cert_request_pem,
            ca_private_key_pem=ca_key.private_key_pem,
            ca_cert_pem=ca.cert_pem,
            allowed_uses=allowed_uses(req),
            validity_period_hours=req.validity_days * 24,
            early_renewal_hours=EARLY_RENEWAL_HOURS,
            opts=owner.child_opts(),
        )
        return cert.cert_pem, key.private_key_pem

    client_cert, client_key = pair(client_req)
    bundles: dict[str, pulumi.Output[str]] = {}
    for req in member_reqs:
        cert, key = pair(req)
        bundles[req.name] = pulumi.Output.secret(
            pulumi.Output.all(ca.cert_pem, cert, key, client_cert, client_key).apply(
                lambda v: json.dumps({"ca": v[0], "cert": v[1], "key": v[2], "client_cert": v[3], "client_key": v[4]})
            )
        )
    return TlsMaterial(ca.cert_pem, bundles)
