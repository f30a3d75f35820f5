"""Monitoring on Kubernetes: PodMonitors for the instances and the poolers, and a PrometheusRule with the VM
flavour's alert rules (dataplane.cnpg_monitoring); and, when the cluster runs no prometheus-operator, a
kube-prometheus-stack release with the stage's receivers and our dashboards."""

from __future__ import annotations

from collections.abc import Mapping

import pulumi
import pulumi_kubernetes as k8s

from components.base import PlatformComponent
from components.kubernetes.objects import custom_resource
from dataplane import cnpg, cnpg_monitoring
from dataplane.model import ClusterSpec
from stacks.settings import Settings

KUBE_PROMETHEUS_STACK = ("kube-prometheus-stack", "80.6.0")
PROMETHEUS_COMMUNITY_CHARTS = "https://prometheus-community.github.io/helm-charts"
RELEASE = "pgp-monitoring"


class Monitoring(PlatformComponent):
    def __init__(
        self,
        name: str,
        *,
        spec: ClusterSpec,
        target: cnpg.Target,
        settings: Settings,
        namespace: pulumi.Resource,
        cluster: pulumi.Resource,
        tags: Mapping[str, str],
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("kubernetes", "Monitoring", name, tags, opts)
        assert settings.kubernetes is not None
        after: list[pulumi.Resource] = [namespace, cluster]
        if settings.kubernetes.monitoring_stack == "install":
            chart, version = KUBE_PROMETHEUS_STACK
            stack = k8s.helm.v3.Release(
                self.child_name("stack"),
                name=RELEASE,
                chart=chart,
                version=version,
                namespace=target.monitoring_namespace,
                create_namespace=True,
                repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=PROMETHEUS_COMMUNITY_CHARTS),
                atomic=True,
                values=cnpg_monitoring.kube_prometheus_stack_values(
                    spec,
                    settings.monitoring.receivers,
                    settings.monitoring.smtp_smarthost,
                    settings.monitoring.smtp_from,
                ),
                opts=self.child_opts(),
            )
            after.append(stack)
            self.grafana_url = pulumi.Output.from_input(f"http://{RELEASE}-grafana.{target.monitoring_namespace}.svc")
        else:
            self.grafana_url = pulumi.Output.from_input("")
        labels = dict(target.labels)
        for monitor in cnpg_monitoring.pod_monitors(target.name, target.namespace, labels):
            suffix = str(monitor["metadata"]["name"]).removeprefix(f"{target.name}-")
            custom_resource(self, f"{suffix}-monitor", monitor, self.child_opts(depends_on=after))
        rule = cnpg_monitoring.prometheus_rule(spec, target.name, target.namespace, labels)
        custom_resource(self, "alerts", rule, self.child_opts(depends_on=after))
        self.register_outputs({"grafana_url": self.grafana_url})
