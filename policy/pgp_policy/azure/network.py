"""Network exposure on Azure: no public addresses, NSG rules that never admit the world and admit clients
only from the allowlist, a final deny under Azure's permissive default rules, subnets behind NSGs, VNet flow
logs, peering only to declared peers, internal load balancers."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pulumi_policy import Severity

from .. import ports
from ..core import Rule, as_list, dig, plain, resource_policy, settings, short, stack_config, stack_policy, truthy
from ..graph import of_type, points_at
from ..world import WORLD_CONFIG, public_addresses
from .types import (
    CLOUD,
    FLOW_LOG,
    LOAD_BALANCER,
    NAT_GATEWAY,
    NETWORK_WATCHER,
    NIC,
    NSG,
    PEERING,
    PUBLIC_IP,
    SECURITY_RULE,
    SUBNET,
    VM,
    VNET,
)

AREA = "network"
# Service tags and wildcards that mean "any address on the internet" in an NSG rule's source.
WORLD_TAGS = ("*", "internet", "any")
LOWEST_PRIORITY = 4096  # NSG rule priorities run 100-4096; Azure's own defaults sit at 65000 and up


@dataclass(frozen=True)
class NsgRule:
    direction: str  # inbound | outbound
    access: str  # allow | deny
    protocol: str
    priority: int
    sources: tuple[str, ...]
    port_ranges: tuple[str, ...]
    description: str
    where: str

    def covers(self, port: int) -> bool:
        for r in self.port_ranges:
            if r == "*":
                return True
            low, _, high = r.partition("-")
            try:
                if int(low) <= port <= int(high or low):
                    return True
            except ValueError:
                continue
        return False

    def all_ports(self) -> bool:
        return "*" in self.port_ranges or "0-65535" in self.port_ranges

    def world(self, limit: int) -> list[str]:
        """Sources that are the internet: its service tags and wildcards, or prefixes covering at least `limit`
        public addresses however they are written."""
        out = []
        for s in self.sources:
            if s.lower() in WORLD_TAGS:
                out.append(s)
                continue
            try:
                net = ipaddress.ip_network(s, strict=False)
            except ValueError:
                continue
            if public_addresses(net) >= limit:
                out.append(s)
        return out


def _rule(block: Mapping[str, Any], where: str) -> NsgRule:
    sources = [block.get("sourceAddressPrefix"), *as_list(plain(block.get("sourceAddressPrefixes")))]
    port_ranges = [block.get("destinationPortRange"), *as_list(plain(block.get("destinationPortRanges")))]
    priority = block.get("priority")
    return NsgRule(
        direction=str(block.get("direction") or "").lower(),
        access=str(block.get("access") or "").lower(),
        protocol=str(block.get("protocol") or "*"),
        priority=int(priority) if priority is not None else LOWEST_PRIORITY + 1,
        sources=tuple(str(s) for s in sources if s),
        port_ranges=tuple(str(p) for p in port_ranges if p),
        description=str(block.get("description") or ""),
        where=where,
    )


def nsg_rules(resource_type: str, props: Mapping[str, Any]) -> Iterator[NsgRule]:
    if resource_type == SECURITY_RULE:
        yield _rule(props, "rule")
    elif resource_type == NSG:
        for i, block in enumerate(as_list(props.get("securityRules"))):
            yield _rule(block, f"securityRules[{i}] ({block.get('name')})")


def _only(types: tuple[str, ...], fn):
    def validate(args, report):
        if args.resource_type in types:
            fn(args, report)

    return validate


def _network_config() -> dict[str, Any]:
    network = stack_config("pg-platform:network")
    return network if isinstance(network, dict) else {}


# --- PGP-AZURE-NET-001 --------------------------------------------------------------------------------------
NET_001 = Rule(
    id="PGP-AZURE-NET-001",
    title="No public IP on network interfaces or VMs",
    why="A public address makes the node reachable from the internet the moment an NSG rule slips; private nodes "
    "need two mistakes.",
    description="No network interface IP configuration, and no network interface configuration inline in a "
    "virtual machine, carries a public IP address.",
    severity=Severity.CRITICAL,
    control="Azure Security Benchmark NS-1/NS-2; CKV_AZURE_119",
    area=AREA,
    scope="resource",
    clouds=(CLOUD,),
    remediation="Drop public_ip_address from the NIC's ip_configurations; reach nodes through the internal "
    "load balancer or Azure Bastion.",
)


def _no_public_ip(args, report) -> None:
    props = args.props
    if args.resource_type == NIC:
        for i, ip in enumerate(as_list(props.get("ipConfigurations"))):
            if ip.get("publicIPAddress"):
                report(f"{args.name}: ipConfigurations[{i}] has a publicIPAddress")
    elif args.resource_type == VM:
        nics = as_list(dig(props, "networkProfile", "networkInterfaceConfigurations"))
        for i, nic in enumerate(nics):
            for j, ip in enumerate(as_list(nic.get("ipConfigurations"))):
                if ip.get("publicIPAddressConfiguration"):
                    report(
                        f"{args.name}: networkInterfaceConfigurations[{i}].ipConfigurations[{j}] has a "
                        f"publicIPAddressConfiguration"
                    )


# --- PGP-AZURE-NET-002 --------------------------------------------------------------------------------------
NET_002 = Rule(
    id="PGP-AZURE-NET-002",
    title="No inbound from the internet",
    why="Nothing of a database platform serves the internet: an NSG rule admitting it, on any port, is either a "
    "mistake or an attack path.",
    description="No NSG rule allows inbound traffic from the internet on any port: source '*', 'Any', the "
    "Internet service tag, or any prefix covering at least world_public_addresses public addresses "
    "(0.0.0.0/0 however written, 0.0.0.0/1, ::/0).",
    severity=Severity.CRITICAL,
    control="CIS Microsoft Azure Foundations 6.1-6.4; Azure Security Benchmark NS-1; CKV_AZURE_9/10/160",
    area=AREA,
    scope="resource",
    clouds=(CLOUD,),
    remediation="Admit only the allowlisted CIDRs (pg-platform:network.allowlist) and the VNet's own range.",
    # What counts as the internet is one fact for every cloud (pgp_policy/world.py).
    config=WORLD_CONFIG,
)


def _no_world_inbound(args, report) -> None:
    limit = settings(args, NET_002)["world_public_addresses"]
    for r in nsg_rules(args.resource_type, args.props):
        if r.direction == "inbound" and r.access == "allow" and r.world(limit):
            report(
                f"{args.name}: {r.where} allows inbound from {', '.join(r.world(limit))} to port(s) "
                f"{', '.join(r.port_ranges) or '*'}"
            )


# --- PGP-AZURE-NET-003 --------------------------------------------------------------------------------------
NET_003 = Rule(
    id="PGP-AZURE-NET-003",
    title="Client ports only from the allowlist",
    why="The allowlist is the reviewed list of application networks; the VirtualNetwork tag would also admit every "
    "peered network and on-premises range.",
    description="NSG rules allowing inbound traffic to the PostgreSQL and PgBouncer ports name sources inside the "
    "stack's allowlist (pg-platform:network.allowlist.cidrs) or its own network (network.cidr); service "
    "tags such as VirtualNetwork are refused.",
    severity=Severity.HIGH,
    control="Azure Security Benchmark NS-1; seed: clients only from allowlisted networks",
    area=AREA,
    scope="resource",
    clouds=(CLOUD,),
    remediation="List the application networks in pg-platform:network.allowlist.cidrs and use them as the "
    "rule's source_address_prefixes.",
    config={
        "client_ports": {"type": "array", "items": {"type": "integer"}, "default": list(ports.ROUTED_PORTS)},
        "extra_sources": {
            "type": "array",
            "items": {"type": "string"},
            "default": [],
            "description": "CIDRs admitted in addition to the stack's allowlist and network",
        },
    },
)


def _allowed_networks(args) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    network = _network_config()
    allowlist = network.get("allowlist")
    allowlist = allowlist if isinstance(allowlist, dict) else {}
    listed = [network.get("cidr"), *as_list(allowlist.get("cidrs")), *settings(args, NET_003)["extra_sources"]]
    nets = []
    for c in listed:
        try:
            nets.append(ipaddress.ip_network(str(c), strict=False))
        except ValueError:
            continue
    return nets


def _inside(source: str, nets) -> bool:
    try:
        net = ipaddress.ip_network(source, strict=False)
    except ValueError:
        return False
    return any(net.version == n.version and net.subnet_of(n) for n in nets)


def _client_sources(args, report) -> None:
    client_ports = settings(args, NET_003)["client_ports"]
    nets = _allowed_networks(args)
    for r in nsg_rules(args.resource_type, args.props):
        if r.direction != "inbound" or r.access != "allow":
            continue
        hit = [p for p in client_ports if r.covers(p)]
        outside = [s for s in r.sources if not _inside(s, nets)]
        if hit and outside:
            report(
                f"{args.name}: {r.where} admits {', '.join(outside)} to client port(s) {', '.join(map(str, hit))}, "
                f"outside the allowlist"
            )


# --- PGP-AZURE-NET-004 --------------------------------------------------------------------------------------
NET_004 = Rule(
    id="PGP-AZURE-NET-004",
    title="NSGs end with a deny",
    why="Azure's default rules allow all inbound traffic from the VirtualNetwork tag (peers, gateways) and the "
    "load balancer; only an explicit deny below the platform's own rules closes that.",
    description="Every network security group has an inbound Deny rule for any source, port and protocol, at a "
    "priority number above every inbound Allow rule of the group (evaluated after them).",
    severity=Severity.HIGH,
    control="Azure Security Benchmark NS-1; seed: default deny",
    area=AREA,
    scope="stack",
    clouds=(CLOUD,),
    remediation="Add a SecurityRule direction Inbound, access Deny, protocol '*', source and destination '*', "
    "port '*', priority 4096 to each NSG.",
)


def _final_deny(args, report) -> None:
    standalone = of_type(args.resources, SECURITY_RULE)
    for nsg in of_type(args.resources, NSG):
        rules = list(nsg_rules(NSG, nsg.props))
        rules += [_rule(r.props, short(r.urn)) for r in standalone if points_at(r, "networkSecurityGroupName", nsg)]
        inbound = [r for r in rules if r.direction == "inbound"]
        allows = [r.priority for r in inbound if r.access == "allow"]
        denies = [
            r.priority
            for r in inbound
            if r.access == "deny" and r.protocol == "*" and "*" in r.sources and r.all_ports()
        ]
        if not denies:
            report(f"{short(nsg.urn)}: no inbound deny-all rule", nsg.urn)
        elif allows and max(denies) < max(allows):
            report(
                f"{short(nsg.urn)}: the deny-all rule (priority {max(denies)}) is evaluated before the allow rule "
                f"at priority {max(allows)}",
                nsg.urn,
            )


# --- PGP-AZURE-NET-005 --------------------------------------------------------------------------------------
NET_005 = Rule(
    id="PGP-AZURE-NET-005",
    title="Subnets behind an NSG, without default outbound access",
    why="A subnet without an NSG admits whatever Azure's defaults admit; default outbound access gives every VM an "
    "implicit, unlisted public egress address.",
    description="Every subnet names a network security group and turns default outbound access off "
    "(defaultOutboundAccess false), so egress takes the reviewed NAT or private-endpoint paths.",
    severity=Severity.HIGH,
    control="CIS Microsoft Azure Foundations 6.x (subnets with NSGs); CKV2_AZURE_31",
    area=AREA,
    scope="resource",
    clouds=(CLOUD,),
    remediation="Pass network_security_group={'id': nsg.id} and default_outbound_access=False to each Subnet.",
)


def _subnet(args, report) -> None:
    # Subnets declared inline in the virtual network are judged there, by the same rule.
    if args.resource_type == SUBNET:
        subnets = [("", args.props)]
    else:
        subnets = [(f"subnets[{i}] ({s.get('name')}) ", s) for i, s in enumerate(as_list(args.props.get("subnets")))]
    for where, props in subnets:
        if not dig(props, "networkSecurityGroup", "id"):
            report(f"{args.name}: {where}has no networkSecurityGroup")
        if props.get("defaultOutboundAccess") is None or truthy(props.get("defaultOutboundAccess")):
            report(f"{args.name}: {where}defaultOutboundAccess is not false")


# --- PGP-AZURE-NET-006 --------------------------------------------------------------------------------------
NET_006 = Rule(
    id="PGP-AZURE-NET-006",
    title="VNet flow logs on and kept",
    why="Without flow logs there is no record of who connected to the database network during an incident.",
    description="Every virtual network is the target of an enabled Network Watcher flow log (NSG flow logs are "
    "retired) of a Network Watcher in the stack, with its retention policy enabled for at least the "
    "configured number of days.",
    severity=Severity.MEDIUM,
    control="CIS Microsoft Azure Foundations 6.5 (flow log retention >= 90 days); Azure Security Benchmark LT-4",
    area=AREA,
    scope="stack",
    clouds=(CLOUD,),
    remediation="Add a NetworkWatcher and a FlowLog(target_resource_id=vnet.id, enabled=True, "
    "retention_policy={'enabled': True, 'days': >= the minimum}, storage_id=...).",
    config={"min_retention_days": {"type": "integer", "minimum": 1, "maximum": 365, "default": 90}},
)


def _flow_logs(args, report) -> None:
    minimum = settings(args, NET_006)["min_retention_days"]
    logs = of_type(args.resources, FLOW_LOG)
    watchers = of_type(args.resources, NETWORK_WATCHER)
    for log in logs:
        if not any(points_at(log, "networkWatcherName", w) for w in watchers):
            report(f"{short(log.urn)}: its Network Watcher is not in the stack", log.urn)
        if not truthy(log.props.get("enabled")):
            report(f"{short(log.urn)}: enabled is not true", log.urn)
        policy = log.props.get("retentionPolicy") or {}
        days = int(policy.get("days") or 0)
        if not truthy(policy.get("enabled")) or days < minimum:
            report(
                f"{short(log.urn)}: retention is {'enabled' if truthy(policy.get('enabled')) else 'off'}, "
                f"{days} day(s), minimum {minimum}",
                log.urn,
            )
    for vnet in of_type(args.resources, VNET):
        if not any(points_at(f, "targetResourceId", vnet) for f in logs):
            report(f"{short(vnet.urn)} has no flow log", vnet.urn)


# --- PGP-AZURE-NET-007 --------------------------------------------------------------------------------------
NET_007 = Rule(
    id="PGP-AZURE-NET-007",
    title="Peering only to declared peers",
    why="A peering is a network path into the database VNet; only reviewed, declared peers may have one.",
    description="Each virtual network peering connects the stack's own VNet with a peer declared in the stack "
    "configuration (pg-platform:network.peers[].vnet_id), and never lets the peer use this VNet's "
    "gateways or forward traffic from elsewhere.",
    severity=Severity.HIGH,
    control="seed: peering to application networks only",
    area=AREA,
    scope="stack",
    clouds=(CLOUD,),
    remediation="Declare the peer in pg-platform:network.peers or remove the peering; set "
    "allow_gateway_transit and allow_forwarded_traffic False.",
)


def _peering(args, report) -> None:
    declared = {
        str(p.get("vnet_id", "")).lower() for p in as_list(_network_config().get("peers")) if isinstance(p, dict)
    }
    vnets = of_type(args.resources, VNET)
    for p in of_type(args.resources, PEERING):
        remote = str(dig(p.props, "remoteVirtualNetwork", "id") or "")
        to_own = any(points_at(p, "remoteVirtualNetwork", v) for v in vnets)
        from_own = any(points_at(p, "virtualNetworkName", v) for v in vnets)
        if not to_own and remote.lower() not in declared:
            report(f"{short(p.urn)}: remote network {remote or 'unset'} is not a declared peer", p.urn)
        elif to_own and from_own:
            report(f"{short(p.urn)}: peers the stack's network with itself", p.urn)
        for flag in ("allowGatewayTransit", "allowForwardedTraffic"):
            if truthy(p.props.get(flag)):
                report(f"{short(p.urn)}: {flag} is true", p.urn)


# --- PGP-AZURE-NET-008 --------------------------------------------------------------------------------------
NET_008 = Rule(
    id="PGP-AZURE-NET-008",
    title="Load balancers are internal",
    why="A public frontend puts the database endpoint on the internet regardless of node placement.",
    description="Every load balancer is a Standard SKU with only private frontends (a subnet, no public IP "
    "address or prefix).",
    severity=Severity.CRITICAL,
    control="Azure Security Benchmark NS-2",
    area=AREA,
    scope="resource",
    clouds=(CLOUD,),
    remediation="Give each frontend_ip_configuration a subnet and a private address; drop public_ip_address.",
)


def _internal_lb(args, report) -> None:
    sku = str(dig(args.props, "sku", "name") or "unset")
    if sku != "Standard":
        report(f"{args.name}: sku is {sku}, not Standard")
    frontends = as_list(args.props.get("frontendIPConfigurations"))
    if not frontends:
        report(f"{args.name}: no frontend IP configuration")
    for i, fe in enumerate(frontends):
        if fe.get("publicIPAddress") or fe.get("publicIPPrefix"):
            report(f"{args.name}: frontendIPConfigurations[{i}] is public")
        elif not dig(fe, "subnet", "id"):
            report(f"{args.name}: frontendIPConfigurations[{i}] names no subnet")


# --- PGP-AZURE-NET-009 --------------------------------------------------------------------------------------
NET_009 = Rule(
    id="PGP-AZURE-NET-009",
    title="Public addresses only for NAT egress",
    why="A public IP address is an entry point; the only one a private database platform may hold is its NAT "
    "gateway's, which admits no inbound connection.",
    description="Every public IP address in the stack is attached to a NAT gateway of the stack (its "
    "public_ip_addresses), and nothing else.",
    severity=Severity.HIGH,
    control="Azure Security Benchmark NS-2",
    area=AREA,
    scope="stack",
    clouds=(CLOUD,),
    remediation="Remove the PublicIPAddress, or attach it to the stack's NatGateway for egress.",
)


def _public_ips(args, report) -> None:
    gateways = of_type(args.resources, NAT_GATEWAY)
    for ip in of_type(args.resources, PUBLIC_IP):
        if not any(points_at(g, "publicIpAddresses", ip) for g in gateways):
            report(f"{short(ip.urn)}: public IP address not attached to a NAT gateway of the stack", ip.urn)


# --- PGP-AZURE-NET-010 --------------------------------------------------------------------------------------
NET_010 = Rule(
    id="PGP-AZURE-NET-010",
    title="NSG rules are described",
    why="Reviewers and auditors must be able to tell why each opening exists.",
    description="Every security rule carries a description saying who it admits and why.",
    severity=Severity.LOW,
    control="seed: every opening explained",
    area=AREA,
    scope="resource",
    clouds=(CLOUD,),
    remediation="Set description on each SecurityRule, e.g. 'app VNet to PostgreSQL via the internal LB'.",
)


def _described(args, report) -> None:
    for r in nsg_rules(args.resource_type, args.props):
        if not r.description.strip():
            report(f"{args.name}: {r.where} ({r.direction} {r.access} {', '.join(r.port_ranges)}) has no description")


_NSG_TYPES = (NSG, SECURITY_RULE)

POLICIES = [
    (NET_001, resource_policy(NET_001, _only((NIC, VM), _no_public_ip))),
    (NET_002, resource_policy(NET_002, _only(_NSG_TYPES, _no_world_inbound))),
    (NET_003, resource_policy(NET_003, _only(_NSG_TYPES, _client_sources))),
    (NET_004, stack_policy(NET_004, _final_deny)),
    (NET_005, resource_policy(NET_005, _only((SUBNET, VNET), _subnet))),
    (NET_006, stack_policy(NET_006, _flow_logs)),
    (NET_007, stack_policy(NET_007, _peering)),
    (NET_008, resource_policy(NET_008, _only((LOAD_BALANCER,), _internal_lb))),
    (NET_009, stack_policy(NET_009, _public_ips)),
    (NET_010, resource_policy(NET_010, _only(_NSG_TYPES, _described))),
]
