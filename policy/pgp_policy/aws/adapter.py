"""The AWS facts the shared rules ask for: EC2 instances are the nodes (user data in userData or
userDataBase64), the S3 bucket is the vault, CloudWatch alarms watch instances through their dimensions, target
groups route by their health checks, and tags come from the resource or the provider's default tags."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..cloud import Cloud, RoutingCheck
from ..core import as_list, plain
from ..graph import points_at
from . import types as t

TAGGABLE = frozenset(
    line.strip()
    for line in (Path(__file__).parent / "taggable.txt").read_text().splitlines()
    if line.strip() and not line.startswith("#")
)


def zone(instance: Any) -> str | None:
    az = instance.props.get("availabilityZone")
    if az:
        return str(az)
    for subnet in instance.property_dependencies.get("subnetId") or []:
        if subnet.resource_type == t.SUBNET and subnet.props.get("availabilityZone"):
            return str(subnet.props["availabilityZone"])
    return None


def bucket_name(bucket: Any) -> str | None:
    name = bucket.props.get("bucket")
    return str(name) if name else None


def alarm_text(alarm: Any) -> tuple[str, str]:
    p = alarm.props
    metrics = " ".join(
        str(q.get("metric", {}).get("metricName") if isinstance(q.get("metric"), dict) else "")
        for q in as_list(p.get("metricQueries"))
    )
    name = p.get("name") or alarm.name
    searchable = (name, p.get("alarmDescription"), p.get("metricName"), metrics)
    return f"alarm {name}", " ".join(str(x) for x in searchable if x)


def watches(alarm: Any, instance: Any) -> bool:
    return points_at(alarm, "dimensions", instance)


def routing_checks(resource_type: str, props: Mapping[str, Any]) -> list[RoutingCheck]:
    if resource_type != t.TARGET_GROUP:
        return []
    port = props.get("port")
    hc = props.get("healthCheck") or {}
    return [
        RoutingCheck(
            traffic_port=None if port is None else int(port),
            protocol=str(hc.get("protocol") or "TCP").upper(),
            port=str(hc.get("port") or "traffic-port"),
            path=str(hc.get("path") or "").split("?", 1)[0],
            enabled=hc.get("enabled"),
        )
    ]


def _as_mapping(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    value = plain(value)
    return value if isinstance(value, dict) else {}


def effective_tags(props: Any, provider: Any) -> dict[str, Any]:
    tags: dict[str, Any] = {}
    if provider is not None:
        # Provider inputs for object-typed settings arrive JSON-encoded, as the engine stores them.
        tags.update(_as_mapping(_as_mapping(provider.props.get("defaultTags")).get("tags")))
    tags.update(_as_mapping(props.get("tags")))
    return tags


def holds_data(resource: Any) -> bool:
    return resource.resource_type == t.INSTANCE and bool(resource.props.get("ebsBlockDevices"))


AWS = Cloud(
    name=t.CLOUD,
    packages=(t.CLOUD,),
    machine_types=frozenset({t.INSTANCE}),
    boot_types=frozenset({t.INSTANCE, t.LAUNCH_TEMPLATE}),
    user_data_keys=("userData", "userDataBase64"),
    zone=zone,
    vault_types=frozenset({t.BUCKET}),
    vault_name=bucket_name,
    repo_kind="S3",
    repo_store_option="s3-bucket",
    alarm_types=frozenset({t.ALARM}),
    alarm_label="CloudWatch alarm",
    watches=watches,
    alarm_text=alarm_text,
    routing_checks=routing_checks,
    credential_patterns=((re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"), "an AWS access key id"),),
    secret_references=(r"arn:aws:secretsmanager:.*",),
    taggable=TAGGABLE,
    tags=effective_tags,
    stateful_types=(t.VOLUME, t.BUCKET, t.KMS_KEY, t.SECRET),
    holds_data=holds_data,
)

ADAPTER = AWS
