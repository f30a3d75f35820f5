"""PostgresPlatform: the composition. It finds the stack's cloud in `components/<cloud>/` and hands it the
settings and topology; it never imports a cloud SDK and never reads a cloud's own resources."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any, cast

import pulumi

from components.base import TYPE_PREFIX
from components.contracts import CloudBuild, PlatformOutputs
from stacks.settings import Settings
from stacks.topology import Topology


def cloud_build(cloud: str) -> CloudBuild:
    """`components.<cloud>.build`; stacks.settings has already refused a cloud that has no package."""
    return cast(CloudBuild, importlib.import_module(f"components.{cloud}").build)


class PostgresPlatform(pulumi.ComponentResource):
    endpoint: pulumi.Output[str]
    bucket: pulumi.Output[str]
    grafana_url: pulumi.Output[str]
    peering_connection_ids: Mapping[str, pulumi.Output[str]]
    # What an application needs to connect (dataplane.routing.client_access), without any password.
    client_access: dict[str, Any]
    ca_certificate: pulumi.Output[str]
    app_role_secret_ids: Mapping[str, pulumi.Output[str]]
    restore_role_arn: pulumi.Output[str]
    duty_role_arns: Mapping[str, pulumi.Output[str]]
    inventory: dict[str, Any]

    def __init__(self, name: str, settings: Settings, topology: Topology, opts: pulumi.ResourceOptions | None = None):
        super().__init__(f"{TYPE_PREFIX}:index:PostgresPlatform", name, None, opts)
        outputs: PlatformOutputs = cloud_build(settings.cloud)(self, name, settings, topology)
        self.endpoint = outputs.endpoint
        self.bucket = outputs.backup_location
        self.grafana_url = outputs.grafana_url
        self.peering_connection_ids = outputs.peering_connection_ids
        self.client_access = outputs.client_access
        self.ca_certificate = outputs.ca_certificate
        self.app_role_secret_ids = outputs.app_role_secret_ids
        # The export keeps its first name: deployed stacks' consumers read `restore_role_arn`.
        self.restore_role_arn = outputs.restore_identity
        self.duty_role_arns = outputs.duty_identities
        self.inventory = {"cloud": settings.cloud, "region": settings.region, **outputs.inventory}
        self.register_outputs(
            {
                "endpoint": self.endpoint,
                "bucket": self.bucket,
                "grafana_url": self.grafana_url,
                "peering_connection_ids": self.peering_connection_ids,
                "client_access": self.client_access,
                "ca_certificate": self.ca_certificate,
                "app_role_secret_ids": self.app_role_secret_ids,
                "restore_role_arn": self.restore_role_arn,
                "duty_role_arns": self.duty_role_arns,
                "inventory": self.inventory,
            }
        )
