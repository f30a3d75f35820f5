"""Facts about the clouds the platform deploys to, each defined once (region lists, zone names, identifier and
tag rules, instance types, disk limits, the load balancer's timing), one module per cloud, found by name here.

Pure data and checks: importable without the cloud's SDK. A new cloud adds stacks/clouds/<cloud>.py with its
`CLOUD` and an entry in `CLOUDS` (and components/<cloud>/ its build); the settings and the topology read only
the `Cloud` interface.
"""

from __future__ import annotations

from stacks.clouds import aws, azure, gcp
from stacks.clouds.model import Architecture, Cloud, NetworkPeer, Router, RoutingCheck

CLOUDS: dict[str, Cloud] = {cloud.name: cloud for cloud in (aws.CLOUD, azure.CLOUD, gcp.CLOUD)}
SUPPORTED_CLOUDS: tuple[str, ...] = tuple(CLOUDS)

# The peer shapes of the supported clouds: each cloud's parse_peers gives its own.
Peer = aws.Peer | azure.Peer | gcp.Peer
PeerGroup = aws.PeerGroup | azure.PeerGroup  # GCP admits peers by CIDR only: it has none


def cloud(name: str) -> Cloud:
    """The cloud named by pg-platform:cloud (one of SUPPORTED_CLOUDS)."""
    return CLOUDS[name]


__all__ = [
    "CLOUDS",
    "SUPPORTED_CLOUDS",
    "Architecture",
    "Cloud",
    "NetworkPeer",
    "Peer",
    "PeerGroup",
    "Router",
    "RoutingCheck",
    "cloud",
]
