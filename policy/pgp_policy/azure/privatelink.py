"""Private paths to Azure's services: the backup storage account is reached through a blob private endpoint
whose address the VNet resolves from a linked private DNS zone, and private zones publish private addresses only."""

from __future__ import annotations

import ipaddress

from pulumi_policy import Severity

from ..core import Rule, as_list, plain, resource_policy, short, stack_policy
from ..graph import of_type, points_at
from .storage import vault_accounts
from .types import CLOUD, DNS_ZONE_GROUP, PRIVATE_ENDPOINT, PRIVATE_ZONE, RECORD_SET, VNET, VNET_LINK

AREA = "network"
BLOB_ZONE = "privatelink.blob.core.windows.net"


# --- PGP-AZURE-PE-001 ---------------------------------------------------------------------------------------
PE_001 = Rule(
    id="PGP-AZURE-PE-001",
    title="Storage reached through a blob private endpoint",
    why="With public network access off, the nodes reach their backups only through a private endpoint; without a "
    "DNS zone group its name still resolves to the public address, and pgBackRest fails.",
    description="Each storage account holding a blob container of the stack has a private endpoint of the stack "
    "for its blob sub-resource, and that "
    "endpoint has a private DNS zone group naming a private zone of the stack.",
    severity=Severity.HIGH,
    control="Azure Security Benchmark NS-2 (private link); CKV2_AZURE_33",
    area=AREA,
    scope="stack",
    clouds=(CLOUD,),
    remediation="Add PrivateEndpoint(private_link_service_connections=[{'private_link_service_id': account.id, "
    "'group_ids': ['blob']}]) and PrivateDnsZoneGroup(private_endpoint_name=..., private_dns_zone_configs="
    f"[{{'private_dns_zone_id': <{BLOB_ZONE} zone>.id}}]).",
)


def _targets(endpoint, account) -> list[list[str]]:
    """The group ids of each of the endpoint's connections to `account`."""
    found = []
    for conn in as_list(endpoint.props.get("privateLinkServiceConnections")) + as_list(
        endpoint.props.get("manualPrivateLinkServiceConnections")
    ):
        service = str(conn.get("privateLinkServiceId") or "")
        name = str(account.props.get("accountName") or "")
        by_literal = bool(name) and service.lower().endswith(f"/storageaccounts/{name.lower()}")
        if by_literal or points_at(endpoint, "privateLinkServiceConnections", account):
            found.append([str(g).lower() for g in as_list(plain(conn.get("groupIds")))])
    return found


def _private_endpoint(args, report) -> None:
    endpoints = of_type(args.resources, PRIVATE_ENDPOINT)
    groups = of_type(args.resources, DNS_ZONE_GROUP)
    zones = of_type(args.resources, PRIVATE_ZONE)
    for account in vault_accounts(args):
        blob = [e for e in endpoints if any("blob" in ids for ids in _targets(e, account))]
        if not blob:
            report(f"{short(account.urn)}: no private endpoint for its blob service", account.urn)
            continue
        for e in blob:
            mine = [g for g in groups if points_at(g, "privateEndpointName", e)]
            if not any(points_at(g, "privateDnsZoneConfigs", z) for g in mine for z in zones):
                report(f"{short(e.urn)}: no DNS zone group naming a private zone of the stack", e.urn)


# --- PGP-AZURE-DNS-001 --------------------------------------------------------------------------------------
DNS_001 = Rule(
    id="PGP-AZURE-DNS-001",
    title="Private DNS zones linked to the VNet",
    why="A private zone no network links to resolves nothing: clients fall back to public DNS and the public "
    "endpoint, which is closed (or, worse, open).",
    description="Every private DNS zone has a virtual network link to a VNet of the stack, or to the VNet a "
    "private endpoint of the stack takes its address in (an AKS cluster's, which the stack does not create), "
    "without auto-registration (nodes register nothing in a privatelink zone).",
    severity=Severity.MEDIUM,
    control="Azure Security Benchmark NS-2 (private link DNS)",
    area=AREA,
    scope="stack",
    clouds=(CLOUD,),
    remediation="Add VirtualNetworkLink(private_zone_name=zone.name, virtual_network={'id': vnet.id}, "
    "registration_enabled=False), vnet being the stack's VNet or, on Kubernetes, the VNet of "
    "kubernetes.endpoint_subnet_id.",
)


def _endpoint_vnets(resources) -> set[str]:
    """The VNets the stack's private endpoints take their addresses in (a subnet id less its `/subnets/<name>`)."""
    found = set()
    for endpoint in of_type(resources, PRIVATE_ENDPOINT):
        subnet = str((endpoint.props.get("subnet") or {}).get("id") or "")
        if "/subnets/" in subnet.lower():
            found.add(subnet[: subnet.lower().rindex("/subnets/")].lower())
    return found


def _linked(args, report) -> None:
    links = of_type(args.resources, VNET_LINK)
    vnets = of_type(args.resources, VNET)
    for zone in of_type(args.resources, PRIVATE_ZONE):
        mine = [
            link
            for link in links
            if points_at(link, "privateZoneName", zone)
            or link.props.get("privateZoneName") == zone.props.get("privateZoneName")
        ]
        endpoint_vnets = _endpoint_vnets(args.resources)
        by_id = [str((link.props.get("virtualNetwork") or {}).get("id") or "").lower() for link in mine]
        if not any(points_at(link, "virtualNetwork", v) for link in mine for v in vnets) and not (
            endpoint_vnets & set(by_id)
        ):
            report(f"{short(zone.urn)}: not linked to a virtual network of the stack", zone.urn)
        for link in mine:
            if link.props.get("registrationEnabled"):
                report(f"{short(link.urn)}: registrationEnabled is true", link.urn)


# --- PGP-AZURE-DNS-002 --------------------------------------------------------------------------------------
DNS_002 = Rule(
    id="PGP-AZURE-DNS-002",
    title="Private records resolve to private addresses",
    why="A private zone record pointing at a public address sends the database's traffic (or its backups) out "
    "of the network under a trusted name.",
    description="A and AAAA records of private DNS zones name only private (non-global) addresses.",
    severity=Severity.HIGH,
    control="seed: database and backup traffic stays in the network",
    area=AREA,
    scope="resource",
    clouds=(CLOUD,),
    remediation="Point the record at the private endpoint's or the internal load balancer's address.",
)


def _private_records(args, report) -> None:
    if args.resource_type != RECORD_SET:
        return
    addresses = [r.get("ipv4Address") for r in as_list(args.props.get("aRecords"))]
    addresses += [r.get("ipv6Address") for r in as_list(args.props.get("aaaaRecords"))]
    for a in addresses:
        try:
            ip = ipaddress.ip_address(str(a))
        except ValueError:
            continue
        if ip.is_global:
            report(f"{args.name}: record names the public address {a}")


POLICIES = [
    (PE_001, stack_policy(PE_001, _private_endpoint)),
    (DNS_001, stack_policy(DNS_001, _linked)),
    (DNS_002, resource_policy(DNS_002, _private_records)),
]
