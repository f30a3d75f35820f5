"""pulumi-kubernetes' shapes: an object's id is `<namespace>/<name>` (`<name>` when cluster-scoped), and the API
server adds its own metadata (uid, resourceVersion, creationTimestamp). A Helm release reports its status.

pulumi-kubernetes names an object `<resource name>-<8 random characters>` when metadata.name is absent; the
platform names every object itself, so the shape uses the given name and falls back to that pattern."""

from __future__ import annotations

from typing import Any

from tools.fakecloud.core import FakeCloudBase, mangled

# The kinds the stacks create, with whether each is namespaced.
KINDS: dict[str, bool] = {
    "kubernetes:core/v1:Namespace": False,
    "kubernetes:core/v1:Secret": True,
    "kubernetes:core/v1:ConfigMap": True,
    "kubernetes:batch/v1:CronJob": True,
    "kubernetes:networking.k8s.io/v1:NetworkPolicy": True,
    "kubernetes:policy/v1:PodDisruptionBudget": True,
    "kubernetes:postgresql.cnpg.io/v1:Cluster": True,
    "kubernetes:postgresql.cnpg.io/v1:Pooler": True,
    "kubernetes:postgresql.cnpg.io/v1:ScheduledBackup": True,
    "kubernetes:barmancloud.cnpg.io/v1:ObjectStore": True,
    "kubernetes:monitoring.coreos.com/v1:PodMonitor": True,
    "kubernetes:monitoring.coreos.com/v1:PrometheusRule": True,
}
AUTONAME_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789"


class KubernetesShapes(FakeCloudBase):
    def _kubernetes_object(self, urn: str, s: dict[str, Any], namespaced: bool):
        metadata = dict(s.get("metadata") or {})
        name = metadata.get("name") or f"{urn.rsplit('::', 1)[-1]}-{self._chars(urn, 8, AUTONAME_CHARS, 'name')}"
        namespace = metadata.get("namespace") or "default"
        metadata.update(
            name=name,
            uid=self._uuid(urn, "uid"),
            resourceVersion=str(int(self._chars(urn, 6, "0123456789", "version"))),
            creationTimestamp="2026-01-01T00:00:00Z",
        )
        if namespaced:
            metadata["namespace"] = namespace
        return (f"{namespace}/{name}" if namespaced else name), {"metadata": metadata}

    def _helm_release(self, urn, s):
        name = s.get("name") or f"{urn.rsplit('::', 1)[-1]}-{self._chars(urn, 8, AUTONAME_CHARS, 'name')}"
        namespace = s.get("namespace") or "default"
        status = {"name": name, "namespace": namespace, "revision": 1, "status": "deployed", "chart": s.get("chart")}
        return f"{namespace}/{name}", {"status": {**status, "version": s.get("version")}}

    # An explicit provider: the engine's id is a UUID.
    def _pulumi_providers_kubernetes(self, urn, s):
        return self._uuid(urn, "provider"), {}


# Tokens with dots in them (API groups, helm.sh) are not Python identifiers: their shapes are set by name.
setattr(KubernetesShapes, "_" + mangled("kubernetes:helm.sh/v3:Release"), KubernetesShapes._helm_release)
for _token, _namespaced in KINDS.items():
    setattr(
        KubernetesShapes,
        "_" + mangled(_token),
        lambda self, urn, s, _n=_namespaced: self._kubernetes_object(urn, s, _n),
    )
