"""Namespace: the stage's namespace, where Pod Security admission refuses any pod that is not `restricted`."""

from __future__ import annotations

from collections.abc import Mapping

import pulumi
import pulumi_kubernetes as k8s

from components.base import PlatformComponent

POD_SECURITY = "restricted"


def namespace_labels(labels: Mapping[str, str]) -> dict[str, str]:
    return {
        **labels,
        **{f"pod-security.kubernetes.io/{mode}": POD_SECURITY for mode in ("enforce", "audit", "warn")},
        "pod-security.kubernetes.io/enforce-version": "latest",
    }


class Namespace(PlatformComponent):
    def __init__(
        self,
        name: str,
        *,
        namespace: str,
        labels: Mapping[str, str],
        protect: bool,
        tags: Mapping[str, str],
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("kubernetes", "Namespace", name, tags, opts)
        # Deleting the namespace deletes everything in it, the Cluster's volumes included.
        self.namespace = k8s.core.v1.Namespace(
            self.child_name("namespace"),
            metadata={"name": namespace, "labels": namespace_labels(labels)},
            opts=self.child_opts(protect=protect),
        )
        self.register_outputs({"name": namespace})
