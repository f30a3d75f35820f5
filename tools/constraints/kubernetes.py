"""What a Kubernetes API server refuses in the objects the stacks create, from Kubernetes' own validation
(apimachinery's validation of names and labels, as `kubectl` reports it) and what CloudNativePG derives from a
Cluster's name. The schemas of the objects themselves are checked by tools/k8s_schemas.py (`tools manifests
--check` and its test); here are the limits no OpenAPI schema states: names, label keys and values, Helm release
names."""

from __future__ import annotations

import re

from tools.constraints.core import Binding, BuiltPlugin, Constraint, Length, Pattern, Predicate, TypeConstraints

APIMACHINERY = "k8s.io/apimachinery/pkg/util/validation (IsDNS1123Label/Subdomain, IsQualifiedName, IsValidLabelValue)"
DNS_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS_SUBDOMAIN = rf"{DNS_LABEL}(\.{DNS_LABEL})*"
LABEL_VALUE = r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?"
_NAME = r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
# The Services CloudNativePG creates for a Cluster: each is `<cluster><suffix>`, a DNS label.
CLUSTER_SERVICE_SUFFIXES = ("-rw", "-ro", "-r")
HELM_RELEASE_NAME_MAX = 53  # Helm: release names become label values and resource name prefixes


def _label_key(key: object) -> bool:
    if not isinstance(key, str):
        return False
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not re.fullmatch(DNS_SUBDOMAIN, prefix)):
        return False
    return 0 < len(name) <= 63 and re.fullmatch(_NAME, name) is not None


def _metadata(name_max: int, name_pattern: str, namespaced: bool) -> list[Binding]:
    source = APIMACHINERY
    bindings = [
        Binding(
            "metadata.name",
            (Constraint(Length(1, name_max), source), Constraint(Pattern(name_pattern), source)),
            member="metadata.name",
        ),
        Binding(
            "metadata.labels.{key}",
            (Constraint(Predicate(_label_key, "a qualified name: [prefix/]name, name <= 63 characters"), source),),
        ),
        Binding(
            "metadata.labels.{value}",
            (Constraint(Length(0, 63), source), Constraint(Pattern(LABEL_VALUE), source)),
        ),
    ]
    if namespaced:
        bindings.append(
            Binding(
                "metadata.namespace",
                (Constraint(Length(1, 63), source), Constraint(Pattern(DNS_LABEL), source)),
            )
        )
    return bindings


# Kind -> (name limit, name pattern, namespaced). Namespaces are DNS labels; most objects DNS subdomains; objects
# whose name becomes a Service's or a pod's (the Cluster, the Poolers) DNS labels.
KINDS: dict[str, tuple[int, str, bool]] = {
    "kubernetes:core/v1:Namespace": (63, DNS_LABEL, False),
    "kubernetes:core/v1:Secret": (253, DNS_SUBDOMAIN, True),
    "kubernetes:core/v1:ConfigMap": (253, DNS_SUBDOMAIN, True),
    # Kubernetes' CronJob page: at most 52 characters, as the controller appends 11 to name each Job.
    "kubernetes:batch/v1:CronJob": (52, DNS_SUBDOMAIN, True),
    "kubernetes:networking.k8s.io/v1:NetworkPolicy": (253, DNS_SUBDOMAIN, True),
    "kubernetes:policy/v1:PodDisruptionBudget": (253, DNS_SUBDOMAIN, True),
    "kubernetes:postgresql.cnpg.io/v1:Cluster": (63 - max(map(len, CLUSTER_SERVICE_SUFFIXES)), DNS_LABEL, True),
    "kubernetes:postgresql.cnpg.io/v1:Pooler": (63, DNS_LABEL, True),
    "kubernetes:postgresql.cnpg.io/v1:ScheduledBackup": (253, DNS_SUBDOMAIN, True),
    "kubernetes:barmancloud.cnpg.io/v1:ObjectStore": (253, DNS_SUBDOMAIN, True),
    "kubernetes:monitoring.coreos.com/v1:PodMonitor": (253, DNS_SUBDOMAIN, True),
    "kubernetes:monitoring.coreos.com/v1:PrometheusRule": (253, DNS_SUBDOMAIN, True),
}


def build() -> dict[str, TypeConstraints]:
    types = {
        token: TypeConstraints(token, f"create {token.rsplit(':', 1)[-1]}", _metadata(limit, pattern, namespaced))
        for token, (limit, pattern, namespaced) in KINDS.items()
    }
    helm = "helm: release names are DNS labels of at most 53 characters (helm/pkg/chartutil ValidateReleaseName)"
    types["kubernetes:helm.sh/v3:Release"] = TypeConstraints(
        "kubernetes:helm.sh/v3:Release",
        "helm install",
        [
            Binding(
                "name",
                (Constraint(Length(1, HELM_RELEASE_NAME_MAX), helm), Constraint(Pattern(DNS_LABEL), helm)),
                member="name",
            ),
            Binding(
                "namespace", (Constraint(Length(1, 63), APIMACHINERY), Constraint(Pattern(DNS_LABEL), APIMACHINERY))
            ),
        ],
    )
    types["pulumi:providers:kubernetes"] = TypeConstraints(
        "pulumi:providers:kubernetes", "none", [], no_cloud_api="the provider is the engine's; no API object"
    )
    return types


PLUGIN = BuiltPlugin(name="kubernetes", packages=("kubernetes",), build=build)
