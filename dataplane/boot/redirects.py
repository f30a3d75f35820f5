"""Client ports a cloud's load balancer cannot translate, redirected on the member itself.

An Azure Standard load balancer refuses two rules that send to the same backend port of one address (without
floating IP), and a GCP internal passthrough load balancer never translates ports: on both, the read route's
packets (5433) arrive at the member with the client's port, and the member must serve it. An nftables
`redirect` in the prerouting hook hands them to the port PostgreSQL listens on. It keeps the client's source
address, so pg_hba and the firewall still see who connects, and it is reapplied at every boot by a oneshot unit
ordered before Patroni.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from dataplane.boot.cloud import BootFile

NFT_TABLE = "pg_platform"
RULESET_PATH = "/etc/pg-platform/port-redirects.nft"
UNIT_NAME = "pgp-port-redirects.service"
UNIT_PATH = f"/etc/systemd/system/{UNIT_NAME}"


def port_redirects(routes: Mapping[str, tuple[int, int]]) -> dict[int, int]:
    """Client port -> the member's port, for every route (label -> (client port, member port)) whose ports differ."""
    return {client: member for client, member in routes.values() if client != member}


def nft_ruleset(redirects: Mapping[int, int]) -> str:
    """The table, replaced whole each time it is loaded (so a reapply never stacks rules)."""
    rules = "\n".join(f"    tcp dport {client} redirect to :{member}" for client, member in sorted(redirects.items()))
    return (
        f"table ip {NFT_TABLE}\ndelete table ip {NFT_TABLE}\ntable ip {NFT_TABLE} {{\n"
        "  chain prerouting {\n    type nat hook prerouting priority dstnat; policy accept;\n"
        f"{rules}\n  }}\n}}\n"
    )


def redirect_files(redirects: Mapping[int, int]) -> list[BootFile]:
    if not redirects:
        return []
    unit = (
        "[Unit]\nDescription=pg-platform: client ports the load balancer does not translate\n"
        "Before=patroni.service pgbouncer.service\nAfter=network-pre.target\n\n"
        f"[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/usr/sbin/nft -f {RULESET_PATH}\n\n"
        "[Install]\nWantedBy=multi-user.target\n"
    )
    return [BootFile(RULESET_PATH, nft_ruleset(redirects), 0o644), BootFile(UNIT_PATH, unit, 0o644)]


def redirect_commands(redirects: Iterable[tuple[int, int]]) -> list[list[str]]:
    return [["systemctl", "enable", "--now", UNIT_NAME]] if tuple(redirects) else []
