"""What "the world" is for every cloud's network rules: a source covering enough globally routable addresses,
decided by address arithmetic, never by spelling (`::0/0`, `0.0.0.0/00` and `0.0.0.0/1` all are)."""

from __future__ import annotations

import ipaddress

# Not reachable from the internet (RFC 6890 special-purpose blocks); the stage model defines the same list
# (stacks.settings.NON_PUBLIC_IPV4), and a test keeps the two equal: this pack imports nothing of the program.
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
GLOBAL_IPV6 = ipaddress.IPv6Network("2000::/3")
# A source is "the world" from this many public addresses on: 2**24 IPv4 addresses, or an IPv6 block of /32 or
# wider (a whole provider's allocation). Rules take it from their config (`world_public_addresses`).
WORLD_PUBLIC_ADDRESSES = 1 << 24
WORLD_IPV6_PREFIX = 32


def public_addresses(net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> int:
    """Globally routable addresses in `net`; an IPv6 block counts as WORLD_PUBLIC_ADDRESSES when it is at least a
    /32 of global unicast space, else 0."""
    if net.version == 6:
        wide = net.prefixlen <= WORLD_IPV6_PREFIX and net.overlaps(GLOBAL_IPV6)
        return WORLD_PUBLIC_ADDRESSES if wide else 0
    hidden = sum(
        s.num_addresses if s.subnet_of(net) else net.num_addresses if net.subnet_of(s) else 0 for s in NON_PUBLIC_IPV4
    )
    return net.num_addresses - hidden


WORLD_CONFIG = {
    "world_public_addresses": {
        "type": "integer",
        "default": WORLD_PUBLIC_ADDRESSES,
        "minimum": 1,
        "description": "a source covering at least this many public IPv4 addresses (or an IPv6 /32 or wider) is the "
        "world",
    }
}
