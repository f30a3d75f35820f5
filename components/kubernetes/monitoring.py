"""Monitoring on Kubernetes: PodMonitors for the instances and the poolers, and a PrometheusRule with the VM
flavour's alert rules (dataplane.cnpg_monitoring); and, when the cluster runs no prometheus-operator, a
kube-prometheus-stack release with the stage's receivers and our dashboards."""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components.base import PlatformComponent
from components.kubernetes.namespace import namespace_labels
from components.kubernetes.objects import custom_resource
from components.secret_material import PASSWORD_LENGTH
from dataplane import cnpg, cnpg_monitoring
from dataplane.model import ClusterSpec
from stacks.settings import Settings

# Released in December 2025 (upgrade PRs from 80.6.0 to 80.7.0 are dated 2025-12-26); the chart brings its own
# prometheus-operator CRDs, and PodMonitor and PrometheusRule are monitoring.coreos.com/v1 in every release.
KUBE_PROMETHEUS_STACK = ("kube-prometheus-stack", "80.6.0")
PROMETHEUS_COMMUNITY_CHARTS = "https://prometheus-community.github.io/helm-charts"
RELEASE = "pgp-monitoring"


def epoch(rfc3339: str) -> int:
    return int(datetime.datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp())


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
        ca_not_after: pulumi.Output[str],
        protect: bool,
        tags: Mapping[str, str],
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("kubernetes", "Monitoring", name, tags, opts)
        self._protect_secrets = protect
        assert settings.kubernetes is not None
        after: list[pulumi.Resource] = [namespace, cluster]
        if settings.kubernetes.monitoring_stack == "install":
            after.append(self._stack(spec, target, settings, ca_not_after))
            self.grafana_url = pulumi.Output.from_input(f"http://{RELEASE}-grafana.{target.monitoring_namespace}.svc")
        else:
            self.grafana_url = pulumi.Output.from_input("")
        labels = dict(target.labels)
        for monitor in cnpg_monitoring.pod_monitors(target.name, target.namespace, labels):
            suffix = str(monitor["metadata"]["name"]).removeprefix(f"{target.name}-")
            custom_resource(self, f"{suffix}-monitor", monitor, self.child_opts(depends_on=after))
        rule = cnpg_monitoring.prometheus_rule(spec, target.name, target.namespace, labels)
        # The CA's expiry is known once the CA exists: the rules carry it as their timestamp.
        rule["spec"] = ca_not_after.apply(
            lambda end: cnpg_monitoring.prometheus_rule(spec, target.name, target.namespace, labels, epoch(end))["spec"]
        )
        custom_resource(self, "alerts", rule, self.child_opts(depends_on=after))
        self.register_outputs({"grafana_url": self.grafana_url})

    def _stack(
        self, spec: ClusterSpec, target: cnpg.Target, settings: Settings, ca_not_after: pulumi.Output[str]
    ) -> pulumi.Resource:
        """kube-prometheus-stack in its own namespace, with the secrets its values name created first."""
        monitoring = settings.monitoring
        labels = dict(target.labels)
        space = k8s.core.v1.Namespace(
            self.child_name("monitoring-namespace"),
            metadata={"name": target.monitoring_namespace, "labels": namespace_labels(labels)},
            # Deleting it deletes Prometheus' volume: the metrics of every moment a restore can reach.
            opts=self.child_opts(protect=self._protect_secrets),
        )
        in_namespace = self.child_opts(depends_on=[space])
        password = random.RandomPassword(
            self.child_name("grafana-admin-password"),
            length=PASSWORD_LENGTH,
            special=False,
            opts=self.child_opts(protect=self._protect_secrets),
        )
        admin_metadata: Any = {
            "name": cnpg_monitoring.grafana_admin_secret_name(spec),
            "namespace": target.monitoring_namespace,
            "labels": labels,
        }
        secrets: list[pulumi.Resource] = [
            k8s.core.v1.Secret(
                self.child_name("grafana-admin"),
                metadata=admin_metadata,
                type="Opaque",
                string_data={
                    cnpg_monitoring.GRAFANA_ADMIN_USER_KEY: "admin",
                    cnpg_monitoring.GRAFANA_ADMIN_PASSWORD_KEY: password.result,  # secret: pulumi-random marks it
                },
                opts=in_namespace,
            )
        ]
        hooks = cnpg_monitoring.webhook_secret(spec, monitoring.receivers, target.monitoring_namespace, labels)
        if hooks is not None:
            # The URLs carry their services' tokens: secret in the state, as in every cloud's secrets store.
            secrets.append(
                k8s.core.v1.Secret(
                    self.child_name("alert-webhooks"),
                    metadata=hooks["metadata"],
                    type=hooks["type"],
                    string_data={k: pulumi.Output.secret(v) for k, v in hooks["stringData"].items()},
                    opts=in_namespace,
                )
            )
        chart, version = KUBE_PROMETHEUS_STACK
        return k8s.helm.v3.Release(
            self.child_name("stack"),
            name=RELEASE,
            chart=chart,
            version=version,
            namespace=target.monitoring_namespace,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=PROMETHEUS_COMMUNITY_CHARTS),
            atomic=True,
            # The dashboard draws the CA's validity, known once the CA exists (as the rules' timestamp is).
            values=ca_not_after.apply(
                lambda end: cnpg_monitoring.kube_prometheus_stack_values(
                    spec,
                    target.name,
                    target.namespace,
                    monitoring.receivers,
                    monitoring.smtp_smarthost,
                    monitoring.smtp_from,
                    ca_not_after=epoch(end),
                )
            ),
            opts=self.child_opts(depends_on=[space, *secrets]),
        )
