"""Operator: the CloudNativePG operator and the Barman Cloud plugin as pinned Helm releases.

The plugin's chart needs cert-manager for the operator-to-plugin TLS (docs/deploy-kubernetes.md). Every custom
resource the platform creates depends on this component: its CRDs and admission webhooks come with the charts."""

from __future__ import annotations

from collections.abc import Mapping

import pulumi
import pulumi_kubernetes as k8s

from components.base import PlatformComponent
from dataplane.cnpg import BARMAN_PLUGIN_CHART, CHART_REPOSITORY, OPERATOR_CHART, OPERATOR_NAMESPACE


class Operator(PlatformComponent):
    def __init__(self, name: str, tags: Mapping[str, str], opts: pulumi.ResourceOptions | None = None):
        super().__init__("kubernetes", "Operator", name, tags, opts)
        chart, version = OPERATOR_CHART
        self.operator = k8s.helm.v3.Release(
            self.child_name("cnpg"),
            name="cnpg",
            chart=chart,
            version=version,
            namespace=OPERATOR_NAMESPACE,
            create_namespace=True,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=CHART_REPOSITORY),
            # A failed upgrade rolls back instead of leaving the operator half-updated.
            atomic=True,
            values={"crds": {"create": True}, "monitoring": {"podMonitorEnabled": False}},
            opts=self.child_opts(),
        )
        plugin_chart, plugin_version = BARMAN_PLUGIN_CHART
        self.barman_plugin = k8s.helm.v3.Release(
            self.child_name("barman-cloud"),
            name="barman-cloud",
            chart=plugin_chart,
            version=plugin_version,
            namespace=OPERATOR_NAMESPACE,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=CHART_REPOSITORY),
            atomic=True,
            opts=self.child_opts(depends_on=[self.operator]),
        )
        self.register_outputs({"operator": self.operator.status, "barman_plugin": self.barman_plugin.status})
