"""Secrets on Kubernetes: the application roles' generated passwords and the cluster's CA, made as on every
cloud (components.secret_material). The operator issues the server certificate from the CA and renews it; the
CA's certificate is what clients verify against."""

from __future__ import annotations

from collections.abc import Mapping

import pulumi

from components.base import PlatformComponent
from components.secret_material import certificate_authority, passwords
from dataplane.model import APP_ROLE_SECRETS, ClusterSpec
from dataplane.tls import certificate_requests


class Secrets(PlatformComponent):
    def __init__(
        self,
        name: str,
        *,
        spec: ClusterSpec,
        protect: bool,
        tags: Mapping[str, str],
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("kubernetes", "Secrets", name, tags, opts)
        generated = passwords(self, protect, names=tuple(APP_ROLE_SECRETS.values()))
        self.role_passwords = {role: generated[secret] for role, secret in APP_ROLE_SECRETS.items()}
        ca_key, ca = certificate_authority(self, certificate_requests(spec)[0], protect)
        self.ca_certificate = ca.cert_pem
        self.ca_not_after = ca.validity_end_time  # RFC 3339
        self.ca_private_key: pulumi.Output[str] = pulumi.Output.secret(ca_key.private_key_pem)
        self.register_outputs({"ca_certificate": self.ca_certificate})
