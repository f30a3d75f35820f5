""" "The world" by address arithmetic, not by spelling: how much of the public IPv4 internet networks cover."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

# "The world" is decided by address arithmetic, not by spelling: an allowlist whose networks together cover at
# least this many globally routable IPv4 addresses (a /8's worth, 0.4 % of the internet) is open to the internet,
# however it is written (0.0.0.0/0, 0.0.0.0/00, two /1 halves, ...). Private, shared and reserved ranges do not
# count, so application VPCs never come near it.
WORLD_PUBLIC_ADDRESSES = 1 << 24
NON_PUBLIC_IPV4 = tuple(
    ipaddress.IPv4Network(n)
    for n in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.88.99.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",
        "240.0.0.0/4",
    )
)
IPV4_PUBLIC_TOTAL = (1 << 32) - sum(n.num_addresses for n in NON_PUBLIC_IPV4)


def public_addresses(networks: Iterable[ipaddress.IPv4Network]) -> int:
    """Globally routable IPv4 addresses in the union of `networks`."""
    total = 0
    for net in ipaddress.collapse_addresses(networks):
        hidden = sum(
            s.num_addresses if s.subnet_of(net) else net.num_addresses if net.subnet_of(s) else 0
            for s in NON_PUBLIC_IPV4
        )
        total += net.num_addresses - hidden
    return total


def is_world(networks: Iterable[ipaddress.IPv4Network]) -> bool:
    return public_addresses(networks) >= WORLD_PUBLIC_ADDRESSES


def world_message(networks: ipaddress.IPv4Network | list[ipaddress.IPv4Network], stage_profile: str) -> str:
    """Why an allowlist is the internet, for a profile that does not allow it."""
    nets = [networks] if isinstance(networks, ipaddress.IPv4Network) else networks
    count = public_addresses(nets)
    share = 100 * count / IPV4_PUBLIC_TOTAL
    what = "covers" if len(nets) == 1 else "together cover"
    return (
        f"opens PostgreSQL to the whole internet: {what} {count:,} public addresses ({share:.1f} % of the "
        f"public IPv4 internet, the limit is {WORLD_PUBLIC_ADDRESSES:,}), not allowed in {stage_profile}"
    )
