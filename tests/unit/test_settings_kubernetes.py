"""pg-platform:kubernetes is read only for cloud kubernetes, every bad value names its key, and the RTO a
Kubernetes stage may promise follows CloudNativePG's node-failure detection, not Patroni's ttl."""

from __future__ import annotations

import pytest

from stacks.clouds import kubernetes
from stacks.errors import SettingsError
from stacks.topology import derive_topology
from tests.unit.stack_helpers import settings_with


def problems(stack: str, **changes) -> str:
    with pytest.raises(SettingsError) as raised:
        derive_topology(settings_with(stack, **changes))
    return str(raised.value)


def test_the_stacks_read_their_cluster_and_host():
    settings = settings_with("k8s-prod")
    assert settings.cloud == "kubernetes" and settings.kubernetes is not None
    assert settings.kubernetes.host == "aws" and settings.cloud_facts.router is kubernetes.SERVICE
    assert settings.cloud_facts.regions == settings_with("prod").cloud_facts.regions  # the host's facts


def test_an_rto_below_node_failure_detection_is_refused():
    text = problems("k8s-prod", objectives__rto_seconds=35)
    assert "pg-platform:objectives.rto_seconds" in text and "at least 60" in text and "NotReady" in text


def test_kubernetes_settings_need_cloud_kubernetes():
    text = problems("prod", kubernetes={"host": "aws", "context": "x", "storage_class": "gp3"})
    assert "pg-platform:kubernetes" in text and "only when pg-platform:cloud is kubernetes" in text


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("kubernetes__host", "openstack", "pg-platform:kubernetes.host"),
        ("kubernetes__context", None, "pg-platform:kubernetes.context"),
        ("kubernetes__storage_class", "GP3 fast", "pg-platform:kubernetes.storage_class"),
        ("kubernetes__client_namespaces", ["App_Prod"], "pg-platform:kubernetes.client_namespaces[0]"),
        ("kubernetes__oidc_issuer", "https://example.com", "pg-platform:kubernetes.oidc_issuer"),
        ("kubernetes__monitoring_stack", "maybe", "pg-platform:kubernetes.monitoring_stack"),
        ("kubernetes__colour", "blue", "pg-platform:kubernetes.colour"),
        ("network__allowlist__security_groups", [{"peer": "x", "id": "sg-0a1b2c3d4e5f60718"}], "security_groups"),
    ],
)
def test_each_bad_value_names_its_key(key, value, expected):
    assert expected in problems("k8s-prod", **{key: value})


def test_the_aks_and_gke_stacks_read_their_host_and_its_facts():
    aks, gke = settings_with("k8s-azure-dev"), settings_with("k8s-gcp-dev")
    assert aks.kubernetes.host == "azure" and gke.kubernetes.host == "gcp"
    # The host's regions, zones and instance types, and a stage bound by the host's name limits too.
    assert aks.cloud_facts.regions == settings_with("azure-dev").cloud_facts.regions
    assert gke.cloud_facts.regions == settings_with("gcp-dev").cloud_facts.regions
    assert aks.cloud_facts.stage_name_max == min(
        settings_with("azure-dev").cloud_facts.stage_name_max, kubernetes.STAGE_NAME_MAX
    )
    assert gke.cloud_facts.stage_name_max == min(
        settings_with("gcp-dev").cloud_facts.stage_name_max, kubernetes.STAGE_NAME_MAX
    )
    assert aks.kubernetes.endpoint_subnet_id and gke.kubernetes.oidc_issuer is None


AKS_ISSUER = "https://westeurope.oic.prod-aks.azure.com/3f1e2d4c-5b6a-4798-8a1b-2c3d4e5f6a7b/8c9d0e1f-2a3b-4c5d-9e6f-7a8b9c0d1e2f/"


@pytest.mark.parametrize(
    ("stack", "key", "value", "expected"),
    [
        # AKS: the issuer as az aks show prints it, in the stack's location, with its trailing slash
        ("k8s-azure-dev", "kubernetes__oidc_issuer", AKS_ISSUER.removesuffix("/"), "oidcIssuerProfile.issuerUrl"),
        ("k8s-azure-dev", "kubernetes__oidc_issuer", AKS_ISSUER.replace("westeurope", "eastus"), "stack's location"),
        (
            "k8s-azure-dev",
            "kubernetes__oidc_issuer",
            "oidc.eks.eu-central-1.amazonaws.com/id/9F8E7D6C5B4A39281706F5E4D3C2B1A0",
            "--enable-oidc-issuer",
        ),
        ("k8s-azure-dev", "kubernetes__oidc_issuer", None, "pg-platform:kubernetes.oidc_issuer"),
        ("k8s-azure-dev", "kubernetes__endpoint_subnet_id", None, "pg-platform:kubernetes.endpoint_subnet_id"),
        (
            "k8s-azure-dev",
            "kubernetes__endpoint_subnet_id",
            "/subscriptions/0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/vnet",
            "vnetSubnetId",
        ),
        # GKE: the pool is the project's; an issuer or an endpoint subnet is a mistake, not ignored
        ("k8s-gcp-dev", "kubernetes__oidc_issuer", AKS_ISSUER, "--workload-pool=<project>.svc.id.goog"),
        ("k8s-gcp-dev", "kubernetes__endpoint_subnet_id", "/subscriptions/x", "only for host azure"),
        ("k8s-prod", "kubernetes__endpoint_subnet_id", "/subscriptions/x", "only for host azure"),
    ],
)
def test_each_host_setting_names_its_key_and_the_fix(stack, key, value, expected):
    text = problems(stack, **{key: value})
    assert f"pg-platform:{key.replace('__', '.')}" in text and expected in text, text


def test_the_stage_name_leaves_room_for_the_pooler_service():
    assert len(f"pgp-{'s' * kubernetes.STAGE_NAME_MAX}{kubernetes.LONGEST_SUFFIX}") == kubernetes.DNS_LABEL_MAX


def test_the_topology_marks_what_an_operator_run_cluster_does_not_use():
    """Patroni's timings and the VM network are not shown to a Kubernetes operator as if they applied."""
    k8s = derive_topology(settings_with("k8s-prod"))
    unused = dict(kubernetes.UNUSED_CHOICES)
    assert set(unused) <= set(k8s.choices()), "every unused name is a real choice"
    text = k8s.explain()
    for name in unused:
        (line,) = [line for line in text.splitlines() if line.strip().startswith(f"{name} ")]
        assert "(not used)" in line and unused[name] in line
        assert k8s.as_dict()[name] == {"value": None, "reason": f"not used: {unused[name]}"}
    assert "not used" not in derive_topology(settings_with("prod")).explain()
