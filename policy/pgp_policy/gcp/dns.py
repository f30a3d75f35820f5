"""Cloud DNS: the endpoint's name lives in a private zone of the stack's network and resolves to private
addresses only."""

from __future__ import annotations

import ipaddress

from pulumi_policy import Severity

from ..core import Rule, as_list, dig, plain, resource_policy, short, stack_policy
from ..graph import of_type, points_at
from .types import CLOUD, MANAGED_ZONE, RECORD_SET

AREA = "network"

# --- PGP-GCP-DNS-001 ----------------------------------------------------------------------------------------
DNS_001 = Rule(
    id="PGP-GCP-DNS-001",
    title="DNS zones are private",
    why="A public zone publishes the database's internal names and addresses to the whole internet.",
    description="Cloud DNS managed zones are private (the API's default is public) and visible to at least one "
    "network.",
    severity=Severity.MEDIUM,
    control="seed: the endpoint's name is private",
    area=AREA,
    scope="resource",
    clouds=(CLOUD,),
    remediation="ManagedZone(visibility='private', private_visibility_config={'networks': [{'network_url': vpc.id}]}).",
)


def _private_zone(args, report) -> None:
    if args.resource_type != MANAGED_ZONE:
        return
    visibility = args.props.get("visibility")
    if str(visibility or "public") != "private":
        report(f"{args.name}: visibility is {visibility or 'unset (public)'}")
    elif not as_list(dig(plain(args.props), "privateVisibilityConfig", "networks")):
        report(f"{args.name}: privateVisibilityConfig names no network")


# --- PGP-GCP-DNS-002 ----------------------------------------------------------------------------------------
DNS_002 = Rule(
    id="PGP-GCP-DNS-002",
    title="Records in the stack's private zones, to private addresses",
    why="A record of the endpoint in a zone outside the stack escapes review, and a public address behind the "
    "database's name sends clients to the internet.",
    description="Each record set belongs to a private managed zone of the stack, and its A and AAAA records "
    "name only private addresses.",
    severity=Severity.MEDIUM,
    control="seed: the endpoint's name is private",
    area=AREA,
    scope="stack",
    clouds=(CLOUD,),
    remediation="RecordSet(managed_zone=private_zone.name, type='A', rrdatas=[<the forwarding rule's internal "
    "address>]).",
)


def _records(args, report) -> None:
    zones = [z for z in of_type(args.resources, MANAGED_ZONE) if z.props.get("visibility") == "private"]
    for rs in of_type(args.resources, RECORD_SET):
        if not any(points_at(rs, "managedZone", z) for z in zones):
            report(f"{short(rs.urn)}: zone {rs.props.get('managedZone')} is not a private zone of the stack", rs.urn)
        if str(rs.props.get("type") or "").upper() not in ("A", "AAAA"):
            continue
        for value in as_list(plain(rs.props.get("rrdatas"))):
            try:
                address = ipaddress.ip_address(str(value))
            except ValueError:
                continue
            if address.is_global:
                report(f"{short(rs.urn)}: {value} is a public address", rs.urn)


POLICIES = [
    (DNS_001, resource_policy(DNS_001, _private_zone)),
    (DNS_002, stack_policy(DNS_002, _records)),
]
