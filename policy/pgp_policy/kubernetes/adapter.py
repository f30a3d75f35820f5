"""The Kubernetes facts the shared rules ask for. PostgreSQL here runs in pods that CloudNativePG manages, so the
VM-shaped questions have empty answers: no machine boots from user data, no cloud alarm watches an instance and
no load balancer health check routes (the operator re-points a Service). The shared rules read the Cluster, its
ObjectStore and its PrometheusRule through pgp_policy/operators.py instead. Labels are the tags, and what must
not be destroyed by accident is the Cluster (its volumes go with it) and the Namespace (everything in it)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..cloud import Cloud, RoutingCheck
from ..core import dig, plain
from . import types as t


def labels(props: Any, _provider: Any) -> dict[str, Any]:
    """An object's labels; the provider adds none of its own."""
    value = plain(dig(props, "metadata", "labels", default={}))
    return value if isinstance(value, dict) else {}


def no_zone(_resource: Any) -> str | None:
    return None


def no_vault_name(_resource: Any) -> str | None:
    return None


def watches_nothing(_alarm: Any, _machine: Any) -> bool:
    return False


def no_alarm_text(alarm: Any) -> tuple[str, str]:
    return alarm.name, ""


def no_routing_checks(_resource_type: str, _props: Mapping[str, Any]) -> list[RoutingCheck]:
    return []


def holds_no_data(_resource: Any) -> bool:
    return False


KUBERNETES = Cloud(
    name=t.CLOUD,
    packages=(t.CLOUD,),
    machine_types=frozenset(),
    boot_types=frozenset(),
    user_data_keys=(),
    zone=no_zone,
    # The bucket lives in the host cloud and is judged by that cloud's rules; the ObjectStore only names it.
    vault_types=frozenset(),
    vault_name=no_vault_name,
    repo_kind="Barman Cloud",
    repo_store_option="",
    alarm_types=frozenset(),
    alarm_label="",
    watches=watches_nothing,
    alarm_text=no_alarm_text,
    routing_checks=no_routing_checks,
    credential_patterns=(),
    secret_references=(),
    taggable=frozenset(t.LABELLED),
    tags=labels,
    stateful_types=(t.CNPG_CLUSTER, t.NAMESPACE),
    holds_data=holds_no_data,
)

ADAPTER = KUBERNETES
