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
        ("kubernetes__host", "azure", "pg-platform:kubernetes.host"),
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
