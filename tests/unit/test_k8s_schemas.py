"""tools/k8s_schemas.py: valid CNPG, Barman Cloud, prometheus-operator and core objects pass; each kind of
mistake the API server would refuse fails, naming the JSON path."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tools import k8s_schemas

META = {"name": "pgp-k8sprod", "namespace": "pgp-k8sprod", "labels": {"app.kubernetes.io/part-of": "pg-platform"}}

CLUSTER: dict[str, Any] = {
    "apiVersion": "postgresql.cnpg.io/v1",
    "kind": "Cluster",
    "metadata": META,
    "spec": {
        "instances": 3,
        "imageName": "ghcr.io/cloudnative-pg/postgresql:17.6-standard-bookworm",
        "storage": {"size": "100Gi", "storageClass": "gp3"},
        "resources": {"requests": {"cpu": "2", "memory": "8Gi"}, "limits": {"cpu": 2, "memory": "8Gi"}},
        "enablePDB": True,
        "enableSuperuserAccess": False,
        "primaryUpdateStrategy": "unsupervised",
        "postgresql": {
            "parameters": {"password_encryption": "scram-sha-256"},
            "synchronous": {"method": "any", "number": 1, "dataDurability": "required"},
        },
        "affinity": {"enablePodAntiAffinity": True, "podAntiAffinityType": "required"},
        "plugins": [
            {
                "name": "barman-cloud.cloudnative-pg.io",
                "isWALArchiver": True,
                "parameters": {"barmanObjectName": "pgp-k8sprod-backups"},
            }
        ],
    },
}
POOLER: dict[str, Any] = {
    "apiVersion": "postgresql.cnpg.io/v1",
    "kind": "Pooler",
    "metadata": {**META, "name": "pgp-k8sprod-pooler-rw"},
    "spec": {
        "cluster": {"name": "pgp-k8sprod"},
        "type": "rw",
        "instances": 2,
        "pgbouncer": {"poolMode": "transaction"},
    },
}
SCHEDULED_BACKUP: dict[str, Any] = {
    "apiVersion": "postgresql.cnpg.io/v1",
    "kind": "ScheduledBackup",
    "metadata": {**META, "name": "pgp-k8sprod-full"},
    "spec": {
        "schedule": "0 0 2 * * *",
        "method": "plugin",
        "pluginConfiguration": {"name": "barman-cloud.cloudnative-pg.io"},
        "backupOwnerReference": "self",
        "cluster": {"name": "pgp-k8sprod"},
    },
}
OBJECT_STORE: dict[str, Any] = {
    "apiVersion": "barmancloud.cnpg.io/v1",
    "kind": "ObjectStore",
    "metadata": {**META, "name": "pgp-k8sprod-backups"},
    "spec": {
        "retentionPolicy": "30d",
        "configuration": {
            "destinationPath": "s3://bucket/pgp-k8sprod",
            "s3Credentials": {"inheritFromIAMRole": True},
            "wal": {"compression": "gzip"},
            "data": {"compression": "gzip"},
        },
    },
}
POD_MONITOR: dict[str, Any] = {
    "apiVersion": "monitoring.coreos.com/v1",
    "kind": "PodMonitor",
    "metadata": META,
    "spec": {
        "selector": {"matchLabels": {"cnpg.io/cluster": "pgp-k8sprod"}},
        "podMetricsEndpoints": [{"port": "metrics"}],
    },
}
PROMETHEUS_RULE: dict[str, Any] = {
    "apiVersion": "monitoring.coreos.com/v1",
    "kind": "PrometheusRule",
    "metadata": {**META, "name": "pgp-k8sprod-alerts"},
    "spec": {"groups": [{"name": "pg", "rules": [{"alert": "Down", "expr": "up == 0", "for": "5m"}]}]},
}
NAMESPACE: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Namespace",
    "metadata": {"name": "pgp-k8sprod", "labels": {"pod-security.kubernetes.io/enforce": "restricted"}},
}
NETWORK_POLICY: dict[str, Any] = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "NetworkPolicy",
    "metadata": {**META, "name": "pgp-k8sprod-default-deny"},
    "spec": {"podSelector": {}, "policyTypes": ["Ingress"]},
}
PDB: dict[str, Any] = {
    "apiVersion": "policy/v1",
    "kind": "PodDisruptionBudget",
    "metadata": {**META, "name": "pgp-k8sprod-pooler-rw"},
    "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"cnpg.io/poolerName": "pgp-k8sprod-pooler-rw"}}},
}
SECRET: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Secret",
    "metadata": {**META, "name": "pgp-k8sprod-app-rw", "labels": {"cnpg.io/reload": "true"}},
    "type": "kubernetes.io/basic-auth",
    "stringData": {"username": "app_rw", "password": "x"},
}
VALID = [CLUSTER, POOLER, SCHEDULED_BACKUP, OBJECT_STORE, POD_MONITOR, PROMETHEUS_RULE]
VALID_CORE = [NAMESPACE, NETWORK_POLICY, PDB, SECRET]


@pytest.mark.parametrize("obj", VALID + VALID_CORE, ids=lambda o: o["kind"])
def test_a_valid_object_passes(obj: dict[str, Any]) -> None:
    assert k8s_schemas.validate(obj) == []


def test_every_custom_kind_has_its_crd() -> None:
    assert all(k8s_schemas.validate_custom_resource(o) == [] for o in VALID)


def _with(obj: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    node = out
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return out


@pytest.mark.parametrize(
    ("obj", "needle"),
    [
        (_with(POOLER, ("spec", "type"), "rwx"), "$.spec.type: 'rwx' is not one of"),
        (_with(CLUSTER, ("spec", "instances"), "3"), "$.spec.instances: '3' is not of type 'integer'"),
        (_with(CLUSTER, ("spec", "affinity", "podAntiAffinityTypo"), "x"), "$.spec.affinity: Additional properties"),
        (_with(SCHEDULED_BACKUP, ("spec", "cluster"), {}), "$.spec.cluster: 'name' is a required property"),
        (_with(POD_MONITOR, ("spec", "podMetricsEndpoints"), "metrics"), "$.spec.podMetricsEndpoints"),
    ],
)
def test_a_custom_resource_mistake_fails_with_its_path(obj: dict[str, Any], needle: str) -> None:
    errors = k8s_schemas.validate(obj)
    assert any(needle in e for e in errors), errors


def test_a_missing_required_field_fails() -> None:
    spec = {k: v for k, v in POOLER["spec"].items() if k != "cluster"}
    errors = k8s_schemas.validate({**POOLER, "spec": spec})
    assert any("'cluster' is a required property" in e for e in errors), errors


def test_int_or_string_admits_both_and_nothing_else() -> None:
    assert k8s_schemas.validate(_with(PDB, ("spec", "maxUnavailable"), "50%")) == []
    errors = k8s_schemas.validate(_with(CLUSTER, ("spec", "resources", "limits", "cpu"), True))
    assert any("$.spec.resources.limits.cpu" in e for e in errors), errors


@pytest.mark.parametrize("obj", VALID_CORE, ids=lambda o: o["kind"])
def test_an_unknown_field_in_a_core_object_fails(obj: dict[str, Any]) -> None:
    errors = k8s_schemas.validate({**obj, "spce": {}})
    assert any("'spce' was unexpected" in e for e in errors), errors


def test_a_core_type_mistake_fails() -> None:
    errors = k8s_schemas.validate(_with(NETWORK_POLICY, ("spec", "policyTypes"), "Ingress"))
    assert any("$.spec.policyTypes" in e for e in errors), errors


def test_an_unknown_kind_names_the_fix() -> None:
    errors = k8s_schemas.validate({**POOLER, "kind": "Poolr"})
    assert errors and "no CRD for postgresql.cnpg.io/v1 Poolr" in errors[0]


def test_the_openapi_extensions_become_json_schema() -> None:
    schema = k8s_schemas.to_json_schema(
        {
            "type": "object",
            "properties": {
                "a": {"type": "string", "nullable": True},
                "b": {"x-kubernetes-int-or-string": True},
                "c": {"type": "object", "x-kubernetes-preserve-unknown-fields": True, "properties": {}},
            },
        }
    )
    assert schema["properties"]["a"]["type"] == ["string", "null"]
    assert schema["properties"]["b"] == {"anyOf": [{"type": "integer"}, {"type": "string"}]}
    assert "additionalProperties" not in schema["properties"]["c"]
    assert schema["additionalProperties"] is False
