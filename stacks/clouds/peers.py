"""What reading `network.peers` means on every cloud: each entry a mapping of the cloud's keys, a short unique
name, a CIDR disjoint from the platform's network and from every other peer, and the peer network itself named
once. A cloud's `parse_peers` walks `PeerList.entries()` and reads only its own fields (ids, accounts,
regions); the wording of each refusal says why that cloud refuses it."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from stacks.reader import Reader

PEER_NAME = re.compile(r"[a-z][a-z0-9-]{0,30}")


@dataclass(frozen=True)
class PeerWording:
    network: str  # what the cloud calls the platform's network ("VPC", "VNet", "network")
    name_use: str  # what a peer's name names, so a duplicate must be refused
    platform_overlap: str  # why a peer may not overlap the platform's network
    peer_overlap: str  # why two peers may not overlap each other
    peer_overlap_fix: str


@dataclass(frozen=True)
class PeerEntry:
    index: int
    key: str  # "network.peers[<index>]"
    fields: dict[str, Any]
    name: str | None  # None: refused (already reported)
    cidr: str | None


class PeerList:
    """Reads the list once; `declared` holds every name given (valid or not), so a reference to a broken peer
    is not reported a second time."""

    def __init__(self, r: Reader, value: object, network_cidr: str | None, keys: Sequence[str], wording: PeerWording):
        self.r, self.value, self.network_cidr, self.keys, self.wording = r, value, network_cidr, keys, wording
        self.declared: set[str] = set()
        self._networks: dict[int, ipaddress.IPv4Network] = {}
        self._seen: dict[str, dict[str, int]] = {}

    def entries(self) -> Iterator[PeerEntry]:
        for i, entry in enumerate(self.r.listing("network.peers", self.value)):
            key = f"network.peers[{i}]"
            fields = self.r.entry(key, entry, self.keys)
            if fields is not None:
                yield PeerEntry(i, key, fields, self._name(key, fields.get("name")), self._cidr(i, key, fields))

    def once(self, key: str, value: str | None, identity: str, what: str) -> str | None:
        """`value` unless an earlier peer named the same network (`identity`, as the cloud compares ids)."""
        if value is None:
            return None
        seen = self._seen.setdefault(what, {})
        if identity in seen:
            self.r.fail(key, value, f"is the {what} of network.peers[{seen[identity]}] too", "declare each peer once")
            return None
        seen[identity] = int(key.split("[", 1)[1].split("]", 1)[0])
        return value

    def _name(self, key: str, raw: object) -> str | None:
        name = self.r.string(
            f"{key}.name",
            raw,
            lambda s: PEER_NAME.fullmatch(s) is not None,
            "a short lowercase name (letters, digits, '-')",
        )
        if name and name in self.declared:
            self.r.fail(
                f"{key}.name",
                name,
                f"is the name of an earlier peer too; it names {self.wording.name_use}, so each peer needs its own",
                "give each peer a different name",
            )
            return None
        if name:
            self.declared.add(name)
        return name

    def _cidr(self, index: int, key: str, fields: dict[str, Any]) -> str | None:
        cidr = self.r.cidr(f"{key}.cidr", fields.get("cidr"))
        if not cidr:
            return None
        net = ipaddress.IPv4Network(cidr)
        if self.network_cidr and net.overlaps(ipaddress.ip_network(self.network_cidr)):
            self.r.fail(
                f"{key}.cidr",
                cidr,
                f"overlaps the platform {self.wording.network} {self.network_cidr}; {self.wording.platform_overlap}",
                "choose a network CIDR that does not overlap any peer",
            )
            return None
        clash = next((j for j, other in self._networks.items() if other.overlaps(net)), None)
        if clash is not None:
            self.r.fail(
                f"{key}.cidr",
                cidr,
                f"overlaps network.peers[{clash}] ({self._networks[clash]}), {self.wording.peer_overlap}",
                self.wording.peer_overlap_fix,
            )
            return None
        self._networks[index] = net
        return cidr
