"""Rendered custom resources (dataplane.cnpg, dataplane.cnpg_monitoring) as Pulumi resources, one way."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components.base import PlatformComponent
from dataplane.cnpg import K8sObject


def custom_resource(
    owner: PlatformComponent, suffix: str, rendered: K8sObject, opts: pulumi.ResourceOptions
) -> k8s.apiextensions.CustomResource:
    return k8s.apiextensions.CustomResource(
        owner.child_name(suffix),
        api_version=rendered["apiVersion"],
        kind=rendered["kind"],
        metadata=rendered["metadata"],
        spec=rendered["spec"],
        opts=opts,
    )
