"""Kubernetes as a target: the platform delivered by CloudNativePG on an existing cluster.

A Kubernetes cluster runs in a cloud (its `host`): the cluster's nodes are that cloud's instances in that cloud's
zones, and the backups go to that cloud's object store, built by that cloud's BackupVault. So the facts the
stage model checks (regions, zones, instance types, tag rules) are the host's, and only what routes a client to
the new primary differs: a Kubernetes Service that CloudNativePG re-points, not the cloud's load balancer.

Pure data and checks, importable without any SDK.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from stacks.clouds import azure
from stacks.clouds.model import Cloud, Router, RoutingCheck
from stacks.reader import Reader

NAME = "kubernetes"
# Hosts whose BackupVault and workload identity the Kubernetes build wires (components/<host>/kubernetes.py).
HOSTS = ("aws", "azure", "gcp")
MONITORING_STACKS = ("install", "existing")
# A lost node is noticed only when the node lifecycle controller marks it NotReady (node-monitor-grace-period),
# and only then does CloudNativePG see the primary's pod unready and promote: 40-55 s as CloudNativePG measures it
# (../shared/REFERENCES.md). The worst of that range is what the RTO must cover.
NODE_FAILURE_DETECTION_SECONDS = 55
# The `-rw` Service selects the pod labelled primary; the operator relabels it on promotion and kube-proxy
# follows within its sync period, so a new primary is routed about a second after it is labelled.
SERVICE = Router(
    name="Kubernetes Service (CloudNativePG relabels the primary)",
    check=RoutingCheck(interval_seconds=2, fall=1, rise=1, timeout_seconds=1),
    failure_detection_seconds=NODE_FAILURE_DETECTION_SECONDS,
    failure_detection_reason=(
        "a lost node is noticed when Kubernetes marks it NotReady, after which CloudNativePG promotes a standby"
    ),
)
_PATRONI_ONLY = (
    f"Patroni's timing: CloudNativePG promotes a standby once Kubernetes has marked the primary's node NotReady "
    f"(up to {NODE_FAILURE_DETECTION_SECONDS} s)"
)
_POD_NETWORK = "the Kubernetes cluster's own network: pods take their addresses from its CNI"
NO_RESTORE_DRILL = (
    "CloudNativePG restores by bootstrapping a new Cluster from the ObjectStore; the platform's scheduled "
    "restore drill runs on VM members"
)
UNUSED_CHOICES = (
    ("subnet_cidrs", _POD_NETWORK),
    ("node_addresses", _POD_NETWORK),
    ("egress_subnet_cidr", _POD_NETWORK),
    ("ttl", _PATRONI_ONLY),
    ("loop_wait", _PATRONI_ONLY),
    ("retry_timeout", _PATRONI_ONLY),
    ("primary_start_timeout", _PATRONI_ONLY),
    ("restore_drill", NO_RESTORE_DRILL),
)
# RFC 1123 labels: namespace names, and the Service and pod names CloudNativePG derives from the Cluster's name.
DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
DNS_LABEL_MAX = 63
# CloudNativePG names the cluster's Services `<cluster>-rw|-ro|-r` and its pods `<cluster>-<n>`, and the
# platform names the poolers `<cluster>-pooler-rw|-ro`: the longest suffix bounds the prefix `pgp-<stage>`.
LONGEST_SUFFIX = "-pooler-rw"
STAGE_NAME_MAX = DNS_LABEL_MAX - len("pgp-") - len(LONGEST_SUFFIX)


@dataclass(frozen=True)
class Kubernetes:
    host: str  # the cloud the Kubernetes cluster runs in: its object store holds the backups
    context: str  # the kubeconfig context the provider uses
    kubeconfig: str | None  # a kubeconfig path; None: the provider's default (KUBECONFIG, ~/.kube/config)
    storage_class: str  # the StorageClass of the members' data and WAL volumes
    client_namespaces: tuple[str, ...]  # namespaces whose pods may connect, besides the allowlisted networks
    monitoring_stack: str  # "install": kube-prometheus-stack; "existing": the cluster's prometheus-operator
    monitoring_namespace: str  # where Prometheus runs (the one installed, or the cluster's own)
    # The cluster's OIDC issuer, which the backup identity trusts: EKS's (IRSA) on AWS, AKS's (workload identity
    # federation) on Azure. GKE needs none: its workload identity pool is the project's, <project>.svc.id.goog.
    oidc_issuer: str | None
    # Azure: a subnet of the AKS cluster's virtual network, where the backup account's private endpoint takes its
    # address (the account refuses public networks, as on the VM flavour).
    endpoint_subnet_id: str | None = None


SCHEMA = (
    "host",
    "context",
    "kubeconfig",
    "storage_class",
    "client_namespaces",
    "monitoring_stack",
    "monitoring_namespace",
    "oidc_issuer",
    "endpoint_subnet_id",
)
DEFAULT_MONITORING_NAMESPACE = "pgp-monitoring"
# An EKS OIDC issuer as `aws eks describe-cluster --query cluster.identity.oidc.issuer` prints it, without https://.
_EKS_ISSUER = re.compile(r"oidc\.eks\.[a-z0-9-]+\.amazonaws\.com/id/[0-9A-F]{32}")
# An AKS OIDC issuer as `az aks show --query oidcIssuerProfile.issuerUrl -o tsv` prints it: the region's host, the
# tenant and the cluster's issuer GUID, with the trailing slash (the tokens' `iss` has it, and Entra ID compares
# the federated credential's issuer with `iss` exactly).
_GUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_AKS_ISSUER = re.compile(rf"https://(?P<region>[a-z0-9]+)\.oic\.prod-aks\.azure\.com/{_GUID}/{_GUID}/")
# Hosts whose backup identity trusts an issuer the stack names; GKE's trust is the project's pool.
ISSUER_HOSTS = ("aws", "azure")


def _issuer_matches(host: str, issuer: str, region: str | None) -> bool:
    if host == "aws":
        return _EKS_ISSUER.fullmatch(issuer) is not None and (region is None or f".{region}." in issuer)
    match = _AKS_ISSUER.fullmatch(issuer)
    return match is not None and (region is None or match["region"] == region)


_ISSUER_EXPECTED = {
    "aws": "the EKS cluster's OIDC issuer in the stack's region, without https:// (aws eks describe-cluster "
    "--name <cluster> --query cluster.identity.oidc.issuer)",
    "azure": "the AKS cluster's OIDC issuer in the stack's location, https://<location>.oic.prod-aks.azure.com/"
    "<tenant>/<guid>/ with its trailing slash (az aks show -g <group> -n <cluster> --query "
    "oidcIssuerProfile.issuerUrl -o tsv; enable it with az aks update --enable-oidc-issuer "
    "--enable-workload-identity)",
}


def host_name(raw: Mapping[str, Any]) -> str | None:
    """The host a stack's `pg-platform:kubernetes` names, if it names a known one."""
    section = raw.get(NAME)
    host = section.get("host") if isinstance(section, Mapping) else None
    return host if isinstance(host, str) and host in HOSTS else None


def on(host: Cloud) -> Cloud:
    """The stage model's facts for a Kubernetes cluster running in `host`."""
    return dataclasses.replace(
        host,
        name=NAME,
        label=f"Kubernetes on {host.label}",
        router=SERVICE,
        unused_choices=UNUSED_CHOICES,
        stage_name_max=min(host.stage_name_max, STAGE_NAME_MAX),
        stage_name_reason=(
            f"{host.stage_name_reason}; and the pooler Service pgp-<stage>{LONGEST_SUFFIX} is a {DNS_LABEL_MAX}-"
            f"character DNS label"
            if host.stage_name_max > STAGE_NAME_MAX
            else host.stage_name_reason
        ),
    )


def parse(r: Reader, value: object, region: str | None) -> Kubernetes | None:
    section = r.mapping(NAME, value, SCHEMA)
    if not section:
        r.fail(
            NAME,
            value,
            "is required when pg-platform:cloud is kubernetes",
            f"add pg-platform:{NAME} with host and context",
        )
        return None
    host = r.choice(f"{NAME}.host", section.get("host"), HOSTS)
    context = r.string(f"{NAME}.context", section.get("context"), expected="the kubeconfig context of the cluster")
    kubeconfig = section.get("kubeconfig")
    if kubeconfig is not None:
        kubeconfig = r.string(f"{NAME}.kubeconfig", kubeconfig, expected="a kubeconfig file path")
    storage_class = r.string(
        f"{NAME}.storage_class",
        section.get("storage_class"),
        lambda s: DNS_LABEL.fullmatch(s) is not None and len(s) <= 253,
        "a StorageClass name (lower-case letters, digits and '-')",
    )
    namespaces = []
    for i, ns in enumerate(r.listing(f"{NAME}.client_namespaces", section.get("client_namespaces"))):
        name = r.string(
            f"{NAME}.client_namespaces[{i}]",
            ns,
            lambda s: DNS_LABEL.fullmatch(s) is not None and len(s) <= DNS_LABEL_MAX,
            f"a namespace name (a DNS label of at most {DNS_LABEL_MAX} characters)",
        )
        if name:
            namespaces.append(name)
    monitoring = r.choice(f"{NAME}.monitoring_stack", section.get("monitoring_stack", "install"), MONITORING_STACKS)
    monitoring_namespace = r.string(
        f"{NAME}.monitoring_namespace",
        section.get("monitoring_namespace", DEFAULT_MONITORING_NAMESPACE),
        lambda s: DNS_LABEL.fullmatch(s) is not None and len(s) <= DNS_LABEL_MAX,
        f"a namespace name (a DNS label of at most {DNS_LABEL_MAX} characters)",
    )
    issuer = section.get("oidc_issuer")
    if host in ISSUER_HOSTS:
        issuer = r.string(
            f"{NAME}.oidc_issuer",
            issuer,
            lambda s: _issuer_matches(host, s, region),
            _ISSUER_EXPECTED[host],
        )
    elif host is not None and issuer is not None:
        r.fail(
            f"{NAME}.oidc_issuer",
            issuer,
            f"is not read for host {host}: GKE's workload identity pool is the project's (<project>.svc.id.goog)",
            "remove it, and enable Workload Identity on the cluster (gcloud container clusters update <cluster> "
            "--workload-pool=<project>.svc.id.goog)",
        )
        issuer = None
    subnet = section.get("endpoint_subnet_id")
    if host == "azure":
        subnet = r.string(
            f"{NAME}.endpoint_subnet_id",
            subnet,
            lambda s: azure.subnet_id_problem(s) is None,
            "the resource id of a subnet in the AKS cluster's virtual network (/subscriptions/<subscription>/"
            "resourceGroups/<group>/providers/Microsoft.Network/virtualNetworks/<vnet>/subnets/<subnet>: az aks "
            "show -g <group> -n <cluster> --query 'agentPoolProfiles[0].vnetSubnetId' -o tsv)",
        )
    elif host is not None and subnet is not None:
        r.fail(
            f"{NAME}.endpoint_subnet_id",
            subnet,
            f"is read only for host azure (the backup account's private endpoint), not for {host}",
            "remove it",
        )
        subnet = None
    if host is None or context is None or storage_class is None or monitoring is None or not monitoring_namespace:
        return None
    if host in ISSUER_HOSTS and issuer is None:
        return None
    if host == "azure" and subnet is None:
        return None
    return Kubernetes(
        host=host,
        context=context,
        kubeconfig=kubeconfig,
        storage_class=storage_class,
        client_namespaces=tuple(namespaces),
        monitoring_stack=monitoring,
        monitoring_namespace=monitoring_namespace,
        oidc_issuer=issuer,
        endpoint_subnet_id=subnet,
    )
