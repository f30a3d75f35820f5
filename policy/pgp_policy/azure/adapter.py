"""The Azure facts the shared rules ask for: virtual machines are the nodes (cloud-init in osProfile.customData,
base64), each pinned to one zone; the blob container is the vault pgBackRest names (repo-azure-container);
Azure Monitor metric alerts watch a VM through their scopes; the internal load balancer routes by its probes;
tags are the resource's own (the azure-native provider has no default tags)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..cloud import Cloud, RoutingCheck
from ..core import as_list, dig, plain
from ..graph import points_at
from . import types as t

TAGGABLE = frozenset(
    line.strip()
    for line in (Path(__file__).parent / "taggable.txt").read_text().splitlines()
    if line.strip() and not line.startswith("#")
)


def zone(vm: Any) -> str | None:
    zones = as_list(plain(vm.props.get("zones")))
    return str(zones[0]) if len(zones) == 1 else None


def container_name(container: Any) -> str | None:
    name = container.props.get("containerName")
    return str(name) if name else None


def metric_names(alert_props: Mapping[str, Any]) -> list[str]:
    criteria = as_list(dig(alert_props, "criteria", "allOf"))
    return [str(c.get("metricName")) for c in criteria if isinstance(c, Mapping) and c.get("metricName")]


def alarm_text(alert: Any) -> tuple[str, str]:
    p = alert.props
    name = p.get("ruleName") or alert.name
    searchable = (name, p.get("description"), *metric_names(p))
    return f"metric alert {name}", " ".join(str(x) for x in searchable if x)


def watches(alert: Any, vm: Any) -> bool:
    if points_at(alert, "scopes", vm):
        return True
    # A scope written as a literal resource id: its last segment is the VM's name.
    name = vm.props.get("vmName")
    return bool(name) and any(
        isinstance(s, str) and s.lower().endswith(f"/virtualmachines/{str(name).lower()}")
        for s in as_list(plain(alert.props.get("scopes")))
    )


def _last_segment(ref: Any) -> str:
    ref_id = ref.get("id") if isinstance(ref, Mapping) else ref
    return str(ref_id or "").rstrip("/").rsplit("/", 1)[-1]


def routing_checks(resource_type: str, props: Mapping[str, Any]) -> list[RoutingCheck]:
    """One check per load-balancing rule: the probe it names (by the last segment of the probe's id, which is
    the probe's name within the load balancer)."""
    if resource_type != t.LOAD_BALANCER:
        return []
    probes = {str(p.get("name")): p for p in as_list(props.get("probes")) if isinstance(p, Mapping)}
    checks = []
    for rule in as_list(props.get("loadBalancingRules")):
        port = rule.get("backendPort", rule.get("frontendPort"))
        probe = probes.get(_last_segment(rule.get("probe")))
        if probe is None and len(probes) == 1 and rule.get("probe") is not None:
            probe = next(iter(probes.values()))
        checks.append(
            RoutingCheck(
                traffic_port=None if port is None else int(port),
                protocol=str((probe or {}).get("protocol") or "none").upper(),
                # Numbers cross the wire as doubles: 8008 arrives as 8008.0.
                port=str(int((probe or {}).get("port") or 0) or "none"),
                path=str((probe or {}).get("requestPath") or "").split("?", 1)[0],
                enabled=None,
            )
        )
    return checks


def effective_tags(props: Any, provider: Any) -> dict[str, Any]:
    tags = props.get("tags")
    if isinstance(tags, str):
        try:
            tags = json.loads(tags)
        except ValueError:
            return {}
    tags = plain(tags)
    return tags if isinstance(tags, dict) else {}


def holds_data(resource: Any) -> bool:
    """A VM whose data disk goes with it: created with the VM (not a Disk resource of its own, which is protected
    by itself), or deleted with it. An attached disk that detaches on delete outlives any replacement."""
    if resource.resource_type != t.VM:
        return False
    return any(
        str(d.get("createOption") or "").lower() != "attach" or str(d.get("deleteOption") or "").lower() == "delete"
        for d in as_list(dig(resource.props, "storageProfile", "dataDisks"))
    )


AZURE = Cloud(
    name=t.CLOUD,
    packages=(t.PACKAGE,),
    machine_types=frozenset({t.VM}),
    boot_types=frozenset({t.VM}),
    # cloud-init reads customData; userData (the instance metadata's copy) is accepted as well.
    user_data_keys=("osProfile.customData", "userData"),
    zone=zone,
    vault_types=frozenset({t.CONTAINER}),
    vault_name=container_name,
    repo_kind="Azure",
    repo_store_option="azure-container",
    alarm_types=frozenset({t.METRIC_ALERT}),
    alarm_label="Azure Monitor metric alert",
    watches=watches,
    alarm_text=alarm_text,
    routing_checks=routing_checks,
    credential_patterns=(
        (re.compile(r"AccountKey=[A-Za-z0-9+/]{86}=="), "an Azure storage account key"),
        (re.compile(r"[?&]sig=[A-Za-z0-9%+/=]{20,}"), "an Azure SAS token signature"),
        (
            re.compile(r"(?<![A-Za-z0-9_~.-])[A-Za-z0-9_~.-]{3}\dQ~[A-Za-z0-9_~.-]{31,34}(?![A-Za-z0-9_~.-])"),
            "an Entra ID client secret",
        ),
    ),
    secret_references=(
        r"https://[A-Za-z0-9-]{3,24}\.vault\.(?:azure\.net|azure\.cn|usgovcloudapi\.net)/secrets/\S*",
        r"@Microsoft\.KeyVault\(.*\)",
    ),
    taggable=TAGGABLE,
    tags=effective_tags,
    stateful_types=(t.DISK, t.STORAGE_ACCOUNT, t.CONTAINER, t.KEY_VAULT, t.KEY, t.SECRET),
    holds_data=holds_data,
)

ADAPTER = AZURE
