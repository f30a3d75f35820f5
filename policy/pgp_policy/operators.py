"""PostgreSQL run by an operator instead of on machines: CloudNativePG's custom resources, as the shared rules read
them. On Kubernetes there is no machine that boots a Patroni member, no node user data and no cloud alarm: the
Cluster says how many instances and how they spread, the ObjectStore is its vault, the PrometheusRule carries the
alerts and the PodMonitor the scrape. Type tokens are pulumi-kubernetes' (`kubernetes:<group>/<version>:<Kind>`)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

from .core import as_list, dig, plain
from .kubernetes.types import CNPG_CLUSTER, OBJECT_STORE, POD_MONITOR, PROMETHEUS_RULE

ZONE_KEY = "topology.kubernetes.io/zone"
# Barman Cloud's recovery window: <n>d, <n>w or <n>m; a month counts as its shortest, so a minimum holds.
_WINDOW = re.compile(r"^\s*(\d+)\s*([dwm])\s*$")
_WINDOW_DAYS = {"d": 1, "w": 7, "m": 28}
WAL_ARCHIVERS = ("barman-cloud.cloudnative-pg.io",)


__all__ = ["CNPG_CLUSTER", "OBJECT_STORE", "POD_MONITOR", "PROMETHEUS_RULE"]


def of_type(resources: Iterable[Any], token: str) -> list[Any]:
    return [r for r in resources if r.resource_type == token]


def clusters(resources: Iterable[Any]) -> list[Any]:
    return of_type(resources, CNPG_CLUSTER)


def name(resource: Any) -> str:
    return str(dig(resource.props, "metadata", "name", default="") or "")


def namespace(resource: Any) -> str:
    """The object's namespace; the API server puts an object that names none in `default`."""
    return str(dig(resource.props, "metadata", "namespace", default="default") or "default")


def spec_of(resource: Any) -> dict[str, Any]:
    """The resource's spec as plain data (the SDK hands proxies; numbers arrive as floats)."""
    spec = plain(dig(resource.props, "spec", default={}))
    return spec if isinstance(spec, dict) else {}


def instances(cluster: Any) -> int:
    value = spec_of(cluster).get("instances", 1)  # CloudNativePG's default
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0


def spreads_over_zones(cluster: Any) -> bool:
    """Instances must land in different zones: required zone anti-affinity, or a hard zone spread constraint."""
    spec = spec_of(cluster)
    affinity = spec.get("affinity") or {}
    anti = (
        affinity.get("enablePodAntiAffinity") is not False
        and affinity.get("podAntiAffinityType") == "required"
        and affinity.get("topologyKey") == ZONE_KEY
    )
    spread = any(
        c.get("topologyKey") == ZONE_KEY and c.get("whenUnsatisfiable") == "DoNotSchedule" and c.get("maxSkew") == 1
        for c in as_list(spec.get("topologySpreadConstraints"))
        if isinstance(c, dict)
    )
    return anti or spread


def archiver_store(cluster: Any) -> str | None:
    """The ObjectStore the Cluster archives WAL into through its plugin, if any."""
    for plugin in as_list(spec_of(cluster).get("plugins")):
        if isinstance(plugin, dict) and plugin.get("name") in WAL_ARCHIVERS and plugin.get("isWALArchiver"):
            store = dig(plugin, "parameters", "barmanObjectName")
            return str(store) if store else None
    return None


def rule_alerts(resources: Iterable[Any]) -> Iterator[dict[str, Any]]:
    """Every alerting rule of every PrometheusRule."""
    for rule in of_type(resources, PROMETHEUS_RULE):
        for group in as_list(spec_of(rule).get("groups")):
            for entry in as_list(dig(group, "rules", default=[])):
                if isinstance(entry, dict) and entry.get("alert"):
                    yield entry


def retention_days(policy: Any) -> int | None:
    """An ObjectStore's retentionPolicy in days (at least), or None when it is unset or not a window."""
    m = _WINDOW.match(str(policy or ""))
    return int(m.group(1)) * _WINDOW_DAYS[m.group(2)] if m else None
