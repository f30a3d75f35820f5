"""The GCP facts the shared rules ask for: Compute Engine instances are the nodes (cloud-init user data in the
`user-data` metadata key), the Cloud Storage bucket is the vault, Cloud Monitoring alert policies watch instances
through their conditions, health checks route, and labels (the resource's and the provider's default labels)
are the tags."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .. import ports
from ..cloud import Cloud, RoutingCheck
from ..core import as_list, dig, plain
from . import types as t

TAGGABLE = frozenset(
    line.strip()
    for line in (Path(__file__).parent / "taggable.txt").read_text().splitlines()
    if line.strip() and not line.startswith("#")
)

# Instance metadata keys that carry what a node is told at boot: cloud-init's `user-data` (the platform's
# #cloud-config), and the guest agent's startup scripts, which are scanned for secrets as well.
USER_DATA_KEYS = ("metadata.user-data", "metadata.startup-script", "metadataStartupScript")

# (input block, protocol) of a health check: exactly one is set.
HEALTH_CHECK_BLOCKS = (
    ("httpHealthCheck", "HTTP"),
    ("httpsHealthCheck", "HTTPS"),
    ("http2HealthCheck", "HTTP2"),
    ("tcpHealthCheck", "TCP"),
    ("sslHealthCheck", "SSL"),
    ("grpcHealthCheck", "GRPC"),
    ("grpcTlsHealthCheck", "GRPC_TLS"),
)
# Ports Google's health checkers use when a block names none (compute discovery document, HTTPHealthCheck.port).
DEFAULT_CHECK_PORTS = {"HTTP": 80, "HTTPS": 443, "HTTP2": 443, "TCP": 80, "SSL": 443}


def zone(instance: Any) -> str | None:
    value = instance.props.get("zone")
    return str(value).rsplit("/", 1)[-1] if value else None


def bucket_name(bucket: Any) -> str | None:
    name = bucket.props.get("name")
    return str(name) if name else None


def _conditions(alarm: Any) -> list[dict[str, Any]]:
    return [c for c in as_list(plain(alarm.props.get("conditions"))) if isinstance(c, dict)]


def condition_texts(alarm: Any) -> list[str]:
    """The filters and queries of an alert policy's conditions."""
    texts = []
    for c in _conditions(alarm):
        for block, key in (
            ("conditionThreshold", "filter"),
            ("conditionAbsent", "filter"),
            ("conditionMatchedLog", "filter"),
            ("conditionMonitoringQueryLanguage", "query"),
            ("conditionPrometheusQueryLanguage", "query"),
            ("conditionSql", "query"),
        ):
            if dig(c, block, key):
                texts.append(str(dig(c, block, key)))
    return texts


def alarm_text(alarm: Any) -> tuple[str, str]:
    p = alarm.props
    name = p.get("displayName") or alarm.name
    parts = [name, dig(p, "documentation", "content"), dig(p, "documentation", "subject")]
    parts += [c.get("displayName") for c in _conditions(alarm)] + condition_texts(alarm)
    return f"alert policy {name}", " ".join(str(x) for x in parts if x)


# A filter naming one instance (or a set of them) rather than every instance of the project.
_NARROWED = re.compile(r"resource\.labels\.instance_id|metadata\.system_labels\.\"?name|metric\.labels\.instance_name")


def watches(alarm: Any, instance: Any) -> bool:
    """Whether an alert policy's conditions cover this instance: they depend on it (its instance id in a
    filter), name it, or select every Compute Engine instance of the project without narrowing."""
    deps = alarm.property_dependencies.get("conditions") or []
    if any(d is instance or d.urn == instance.urn for d in deps):
        return True
    names = {str(v) for v in (instance.props.get("name"), instance.props.get("instanceId")) if v}
    for text in condition_texts(alarm):
        if "gce_instance" not in text:
            continue
        if names & set(re.findall(r"[\"']([^\"']*)[\"']", text)):
            return True
        if not _NARROWED.search(text) and not deps:
            return True
    return False


def routing_checks(resource_type: str, props: Mapping[str, Any]) -> list[RoutingCheck]:
    """A Google Cloud health check names no traffic port: a backend service binds it to the forwarding rules'
    ports. On this platform health checks exist only for the internal passthrough NLB in front of the routed
    ports (an unmanaged instance group autoheals nothing), so each one is judged as a routed port's check; the
    forwarding rule -> backend service -> health check chain is PGP-GCP-LB-002's."""
    if resource_type not in (t.HEALTH_CHECK, t.REGION_HEALTH_CHECK):
        return []
    for key, protocol in HEALTH_CHECK_BLOCKS:
        block = props.get(key)
        if not block:
            continue
        if block.get("portSpecification") == "USE_SERVING_PORT":
            port = "traffic-port"
        else:
            # Numbers cross the wire as doubles: 8008 arrives as 8008.0.
            value = block.get("port") or DEFAULT_CHECK_PORTS.get(protocol, "")
            port = str(int(value)) if isinstance(value, (int, float)) else str(value)
        path = str(block.get("requestPath") or ("/" if protocol.startswith("HTTP") else ""))
        return [RoutingCheck(ports.WRITE, protocol, port, path.split("?", 1)[0], None)]
    return [RoutingCheck(ports.WRITE, "NONE", "unset", "", None)]


def _as_mapping(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    value = plain(value)
    return value if isinstance(value, dict) else {}


def effective_labels(props: Any, provider: Any) -> dict[str, Any]:
    if props.get("userLabels") is not None:
        # Cloud Monitoring's resources: `labels` of a notification channel configure it (an email address), and
        # the provider's default labels reach only resources with a `labels` input.
        return _as_mapping(props.get("userLabels"))
    labels: dict[str, Any] = {}
    if provider is not None:
        # Provider inputs for object-typed settings arrive JSON-encoded, as the engine stores them.
        labels.update(_as_mapping(provider.props.get("defaultLabels")))
    labels.update(_as_mapping(props.get("labels")))
    return labels


def holds_data(resource: Any) -> bool:
    """No GCE instance holds data of its own: persistent disks are attached by reference (attachedDisks[].source)
    and outlive the instance, so the data is the Disk's, a stateful type; the boot disk holds only the image."""
    return False


GCP = Cloud(
    name=t.CLOUD,
    packages=(t.CLOUD,),
    machine_types=frozenset({t.INSTANCE}),
    boot_types=frozenset({t.INSTANCE, t.INSTANCE_TEMPLATE, t.REGION_INSTANCE_TEMPLATE}),
    user_data_keys=USER_DATA_KEYS,
    zone=zone,
    vault_types=frozenset({t.BUCKET}),
    vault_name=bucket_name,
    repo_kind="GCS",
    repo_store_option="gcs-bucket",
    alarm_types=frozenset({t.ALERT_POLICY}),
    alarm_label="Cloud Monitoring alert policy",
    watches=watches,
    alarm_text=alarm_text,
    routing_checks=routing_checks,
    credential_patterns=(
        (re.compile(r"\"private_key_id\"\s*:\s*\"[0-9a-f]{40}\""), "a GCP service account key"),
        (re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"), "a Google API key"),
        (re.compile(r"\bGOCSPX-[0-9A-Za-z_-]{28}\b"), "a Google OAuth client secret"),
    ),
    # A Secret Manager secret's resource name, as the boot fetches it (dataplane/boot/gcp.py SECRET_NAME).
    secret_references=(r"projects/[a-z0-9-]{1,30}/secrets/[A-Za-z0-9_-]{1,255}(?:/versions/[A-Za-z0-9_-]+)?",),
    taggable=TAGGABLE,
    tags=effective_labels,
    stateful_types=(t.DISK, t.BUCKET, t.CRYPTO_KEY, t.SECRET),
    holds_data=holds_data,
)

ADAPTER = GCP
