"""Network exposure on GCP: external addresses, world-open firewall rules, egress, the implied allow-all egress,
custom-mode networks, subnet flow logs and Private Google Access, peering, Cloud NAT, described firewall rules."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any

from pulumi_policy import Severity

from ..core import Rule, as_list, dig, plain, resource_policy, settings, short, stack_config, stack_policy, truthy
from ..graph import of_type, points_at

# The world is one fact for every cloud: AWS's network family holds the address arithmetic and its threshold.
from ..world import WORLD_CONFIG, public_addresses
from .types import (
    ADDRESS,
    CLOUD,
    FIREWALL,
    INSTANCE,
    INSTANCE_TEMPLATE,
    NETWORK,
    NETWORK_PEERING,
    REGION_INSTANCE_TEMPLATE,
    ROUTER,
    ROUTER_NAT,
    SUBNETWORK,
)

AREA = "network"
MACHINES = (INSTANCE, INSTANCE_TEMPLATE, REGION_INSTANCE_TEMPLATE)
ALL_PROTOCOLS = ("all",)
ALL_PORTS = ((0, 65535),)


@dataclass(frozen=True)
class Entry:
    """One allows[]/denies[] entry: a protocol and its port ranges (empty ports: every port)."""

    protocol: str
    ports: tuple[tuple[int, int], ...]

    @property
    def every_port(self) -> bool:
        return self.protocol in ALL_PROTOCOLS or self.ports == ALL_PORTS

    def spelt(self) -> str:
        if self.protocol in ALL_PROTOCOLS:
            return "all protocols"
        if self.ports == ALL_PORTS:
            return f"{self.protocol} on every port"
        return f"{self.protocol}:" + ",".join(f"{lo}" if lo == hi else f"{lo}-{hi}" for lo, hi in self.ports)


@dataclass(frozen=True)
class FirewallRule:
    direction: str  # INGRESS | EGRESS
    action: str  # allow | deny
    entries: tuple[Entry, ...]
    ranges: tuple[str, ...]  # sources of an ingress rule, destinations of an egress rule (implied 0.0.0.0/0 included)
    implied_world: bool  # the ranges were not given and GCP takes 0.0.0.0/0
    disabled: bool

    def world(self, limit: int) -> list[str]:
        """Ranges that are the internet: by address arithmetic, not by spelling (0.0.0.0/1 is as wide)."""
        out = []
        for c in self.ranges:
            try:
                net = ipaddress.ip_network(c, strict=False)
            except ValueError:
                continue
            if public_addresses(net) >= limit:
                out.append(c)
        return out


def _ports(values: Any) -> tuple[tuple[int, int], ...]:
    found = []
    for v in as_list(plain(values)):
        m = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+))?\s*", str(v))
        if m:
            found.append((int(m.group(1)), int(m.group(2) or m.group(1))))
    return tuple(found) or ALL_PORTS


def firewall_rule(props: Any) -> FirewallRule:
    direction = str(props.get("direction") or "INGRESS").upper()
    allows, denies = as_list(plain(props.get("allows"))), as_list(plain(props.get("denies")))
    action = "deny" if denies and not allows else "allow"
    entries = tuple(
        Entry(str(e.get("protocol") or "all").lower(), _ports(e.get("ports")))
        for e in (allows if action == "allow" else denies)
        if isinstance(e, dict)
    )
    if direction == "INGRESS":
        ranges = tuple(str(r) for r in as_list(plain(props.get("sourceRanges"))))
        # Without source ranges, tags or service accounts GCP admits 0.0.0.0/0 (compute Firewall.sourceRanges).
        implied = not ranges and not props.get("sourceTags") and not props.get("sourceServiceAccounts")
    else:
        ranges = tuple(str(r) for r in as_list(plain(props.get("destinationRanges"))))
        implied = not ranges  # an egress rule without destinations applies to 0.0.0.0/0
    return FirewallRule(
        direction,
        action,
        entries,
        ranges or (("0.0.0.0/0",) if implied else ()),
        implied,
        truthy(props.get("disabled")),
    )


def _only(types: tuple[str, ...], fn):
    def validate(args, report):
        if args.resource_type in types:
            fn(args, report)

    return validate


# --- PGP-GCP-NET-001 ----------------------------------------------------------------------------------------
NET_001 = Rule(
    id="PGP-GCP-NET-001",
    title="No external IP addresses",
    why="An external address makes the node reachable from the internet the moment a firewall rule slips; private "
    "nodes need two mistakes.",
    description="Instances and instance templates have no access config (no external IPv4 or IPv6 address) on "
    "any network interface, and no reserved address is EXTERNAL; nodes reach the internet through "
    "Cloud NAT and Google APIs through Private Google Access.",
    severity=Severity.CRITICAL,
    control="CKV_GCP_40; CIS GCP Foundations 4.9",
    area=AREA,
    scope="resource",
    clouds=(CLOUD,),
    remediation="Leave network_interfaces[].access_configs and ipv6_access_configs unset; reserve addresses with "
    "address_type='INTERNAL'; reach nodes through IAP TCP forwarding.",
)


def _no_external_ip(args, report) -> None:
    props = args.props
    if args.resource_type == ADDRESS:
        kind = str(props.get("addressType") or "EXTERNAL").upper()
        if kind != "INTERNAL":
            report(f"{args.name}: addressType is {props.get('addressType') or 'unset (EXTERNAL)'}")
        return
    for i, nic in enumerate(as_list(props.get("networkInterfaces"))):
        for key in ("accessConfigs", "ipv6AccessConfigs"):
            if as_list(nic.get(key)):
                report(f"{args.name}: networkInterfaces[{i}].{key} gives the instance an external address")


# --- PGP-GCP-NET-002 ----------------------------------------------------------------------------------------
NET_002 = Rule(
    id="PGP-GCP-NET-002",
    title="No world ingress",
    why="PostgreSQL, Patroni's REST API (which can trigger failover), etcd and SSH must never face the internet; "
    "on GCP a firewall rule without sources admits 0.0.0.0/0.",
    description="No enabled ingress allow rule admits the world on any port: any source range covering at least "
    "world_public_addresses public addresses (0.0.0.0/0 however written, 0.0.0.0/1, ::/0), or no "
    "source at all (GCP then takes 0.0.0.0/0). Google's health-check and IAP ranges are narrow and "
    "pass.",
    severity=Severity.CRITICAL,
    control="CKV_GCP_2, CKV_GCP_3; CIS GCP Foundations 3.6, 3.7",
    area=AREA,
    scope="resource",
    clouds=(CLOUD,),
    remediation="Admit only the stack's allowlisted CIDRs (pg-platform:network.allowlist), the members' network "
    "tag, Google's health-check ranges and IAP's 35.235.240.0/20.",
    config=WORLD_CONFIG,
)


def _no_world_ingress(args, report) -> None:
    rule = firewall_rule(args.props)
    if rule.direction != "INGRESS" or rule.action != "allow" or rule.disabled:
        return
    world = rule.world(settings(args, NET_002)["world_public_addresses"])
    if world:
        how = " (no source given: GCP takes 0.0.0.0/0)" if rule.implied_world else ""
        report(f"{args.name}: admits {', '.join(world)}{how} on {'; '.join(e.spelt() for e in rule.entries)}")


# --- PGP-GCP-NET-003 ----------------------------------------------------------------------------------------
NET_003 = Rule(
    id="PGP-GCP-NET-003",
    title="Egress to the world on listed ports only",
    why="All-traffic egress lets a compromised node exfiltrate the database anywhere; named ports keep exfiltration "
    "paths reviewable.",
    description="An enabled egress allow rule to the world (any destination covering at least "
    "world_public_addresses public addresses, or none given) names single listed ports (HTTPS to "
    "Google APIs and package mirrors, SMTP submission to the mail relay); never all protocols or ranges.",
    severity=Severity.HIGH,
    control="seed: egress limited to named ports (by analogy with CKV_AWS_382)",
    area=AREA,
    scope="resource",
    clouds=(CLOUD,),
    remediation="Allow egress to 0.0.0.0/0 only on tcp:443 (and tcp:587 for the monitoring node); the network's "
    "own range may take everything.",
    config={
        "world_egress_ports": {
            "type": "array",
            "items": {"type": "integer"},
            "default": [443, 587],
            "description": "ports on which egress to the world is acceptable",
        },
        **WORLD_CONFIG,
    },
)


def _narrow_egress(args, report) -> None:
    rule = firewall_rule(args.props)
    if rule.direction != "EGRESS" or rule.action != "allow" or rule.disabled:
        return
    cfg = settings(args, NET_003)
    world = rule.world(cfg["world_public_addresses"])
    if not world:
        return
    allowed = set(cfg["world_egress_ports"])
    for e in rule.entries:
        if e.every_port or any(lo != hi or lo not in allowed for lo, hi in e.ports):
            report(f"{args.name}: allows egress to {', '.join(world)} on {e.spelt()}")


# --- PGP-GCP-NET-004 ----------------------------------------------------------------------------------------
NET_004 = Rule(
    id="PGP-GCP-NET-004",
    title="Egress denied by default",
    why="Every VPC network has an implied allow-all egress rule; only an explicit deny of everything else makes the "
    "egress allowlist an allowlist.",
    description="Every VPC network has an enabled egress firewall rule denying all protocols to 0.0.0.0/0 (the "
    "lowest-precedence rule after the allows), overriding GCP's implied allow-all egress.",
    severity=Severity.HIGH,
    control="seed: egress limited to named ports; GCP VPC firewall implied rules",
    area=AREA,
    scope="stack",
    clouds=(CLOUD,),
    remediation="Add a Firewall(direction='EGRESS', denies=[{'protocol': 'all'}], destination_ranges=['0.0.0.0/0'], "
    "priority=65534) to each network.",
)


def _denies_everything(rule: FirewallRule) -> bool:
    return (
        rule.direction == "EGRESS"
        and rule.action == "deny"
        and not rule.disabled
        and any(e.protocol in ALL_PROTOCOLS for e in rule.entries)
        and any(ipaddress.ip_network(c, strict=False).prefixlen == 0 for c in rule.ranges if _is_net(c))
    )


def _is_net(c: str) -> bool:
    try:
        ipaddress.ip_network(c, strict=False)
    except ValueError:
        return False
    return True


def _default_deny(args, report) -> None:
    firewalls = of_type(args.resources, FIREWALL)
    for net in of_type(args.resources, NETWORK):
        mine = [f for f in firewalls if points_at(f, "network", net)]
        if not any(_denies_everything(firewall_rule(f.props)) for f in mine):
            report(f"{short(net.urn)} has no firewall rule denying all egress to 0.0.0.0/0", net.urn)


# --- PGP-GCP-NET-005 ----------------------------------------------------------------------------------------
NET_005 = Rule(
    id="PGP-GCP-NET-005",
    title="Custom-mode VPC network",
    why="An auto-mode network creates a subnet in every region, address space nobody planned that peers and "
    "firewall rules then have to account for.",
    description="VPC networks are custom mode (autoCreateSubnetworks false): the stack creates each subnet.",
    severity=Severity.MEDIUM,
    control="seed: private subnets per zone; CIS GCP Foundations 3.1 (no default network)",
    area=AREA,
    scope="resource",
    clouds=(CLOUD,),
    remediation="Create the gcp.compute.Network with auto_create_subnetworks=False.",
)


def _custom_mode(args, report) -> None:
    # The API's default is auto mode: an unset input creates subnets in every region.
    if args.props.get("autoCreateSubnetworks") is None or truthy(args.props.get("autoCreateSubnetworks")):
        report(f"{args.name}: autoCreateSubnetworks is {args.props.get('autoCreateSubnetworks', 'unset (true)')}")


# --- PGP-GCP-NET-006 ----------------------------------------------------------------------------------------
# Subnets for Google's managed proxies and the like carry no VM traffic and take no flow logs.
VM_SUBNET_PURPOSES = ("PRIVATE", "PRIVATE_RFC_1918")
NET_006 = Rule(
    id="PGP-GCP-NET-006",
    title="Subnet flow logs on",
    why="Without flow logs there is no record of who connected to the database network during an incident.",
    description="Every subnet that holds VMs logs its flows with at least min_flow_sampling of them sampled "
    "and the connection metadata included.",
    severity=Severity.MEDIUM,
    control="CKV_GCP_26; CIS GCP Foundations 3.8",
    area=AREA,
    scope="resource",
    clouds=(CLOUD,),
    remediation="Set log_config={'aggregation_interval': 'INTERVAL_5_SEC', 'flow_sampling': 0.5, 'metadata': "
    "'INCLUDE_ALL_METADATA'} on each Subnetwork.",
    config={"min_flow_sampling": {"type": "number", "minimum": 0, "maximum": 1, "default": 0.5}},
)


def _flow_logs(args, report) -> None:
    props = args.props
    if str(props.get("purpose") or "PRIVATE") not in VM_SUBNET_PURPOSES:
        return
    log = props.get("logConfig")
    if not log:
        report(f"{args.name}: no logConfig (flow logs off)")
        return
    minimum = settings(args, NET_006)["min_flow_sampling"]
    sampling = log.get("flowSampling")
    if sampling is not None and float(sampling) < minimum:
        report(f"{args.name}: logConfig.flowSampling is {sampling}, minimum {minimum}")
    if str(log.get("metadata") or "") == "EXCLUDE_ALL_METADATA":
        report(f"{args.name}: logConfig.metadata is EXCLUDE_ALL_METADATA")


# --- PGP-GCP-NET-007 ----------------------------------------------------------------------------------------
NET_007 = Rule(
    id="PGP-GCP-NET-007",
    title="Private Google Access on subnets",
    why="Nodes without external addresses reach Cloud Storage, Secret Manager and Cloud Monitoring only through "
    "Private Google Access; without it backups and WAL archiving would need a route through NAT.",
    description="Every subnet that holds VMs has Private Google Access enabled.",
    severity=Severity.MEDIUM,
    control="CKV_GCP_74",
    area=AREA,
    scope="resource",
    clouds=(CLOUD,),
    remediation="Set private_ip_google_access=True on each Subnetwork.",
)


def _private_google_access(args, report) -> None:
    if str(args.props.get("purpose") or "PRIVATE") not in VM_SUBNET_PURPOSES:
        return
    if not truthy(args.props.get("privateIpGoogleAccess")):
        report(f"{args.name}: privateIpGoogleAccess is not true")


# --- PGP-GCP-NET-008 ----------------------------------------------------------------------------------------
NET_008 = Rule(
    id="PGP-GCP-NET-008",
    title="Peering only to declared peers",
    why="A peering is a network path into the database network; only reviewed, declared peers may have one, and "
    "neither side should learn the other's custom routes.",
    description="Each VPC Network Peering targets a network declared in the stack configuration "
    "(pg-platform:network.peers: project, network) or in the pack's extra allowlist, and exchanges "
    "no custom routes.",
    severity=Severity.HIGH,
    control="seed: peering connections to application networks only",
    area=AREA,
    scope="resource",
    clouds=(CLOUD,),
    remediation="Declare the peer in pg-platform:network.peers (reviewed with the stack file) or remove the "
    "peering; leave export_custom_routes and import_custom_routes false.",
    config={
        "extra_peers": {
            "type": "array",
            "default": [],
            "items": {
                "type": "object",
                "properties": {"project": {"type": "string"}, "network": {"type": "string"}},
                "required": ["project", "network"],
            },
            "description": "peer networks allowed in addition to the stack's declared peers",
        }
    },
)

_NETWORK_LINK = re.compile(r"(?:^|/)projects/([^/]+)/global/networks/([^/]+)$")


def _peering(args, report) -> None:
    props = args.props
    link = str(props.get("peerNetwork") or "")
    m = _NETWORK_LINK.search(link)
    network = stack_config("pg-platform:network") or {}
    declared = list(network.get("peers") or []) if isinstance(network, dict) else []
    declared += list(settings(args, NET_008)["extra_peers"])
    if m is None or not any(
        (p.get("project"), p.get("network")) == (m.group(1), m.group(2)) for p in declared if isinstance(p, dict)
    ):
        report(f"{args.name}: peer network {link or 'unset'} is not a declared peer")
    for key in ("exportCustomRoutes", "importCustomRoutes"):
        if truthy(props.get(key)):
            report(f"{args.name}: {key} is true")


# --- PGP-GCP-NET-009 ----------------------------------------------------------------------------------------
NET_009 = Rule(
    id="PGP-GCP-NET-009",
    title="Cloud NAT on every router, logged",
    why="Nodes without external addresses install packages through Cloud NAT; a router without one leaves them "
    "without egress, and NAT errors (port exhaustion) must be on record.",
    description="Every Cloud Router carries a Cloud NAT, and every NAT logs at least its errors.",
    severity=Severity.MEDIUM,
    control="seed: private nodes reach package mirrors through NAT",
    area=AREA,
    scope="stack",
    clouds=(CLOUD,),
    remediation="Add a RouterNat(router=router.name, log_config={'enable': True, 'filter': 'ERRORS_ONLY'}) to "
    "each Router.",
)


def _nat(args, report) -> None:
    nats = of_type(args.resources, ROUTER_NAT)
    for router in of_type(args.resources, ROUTER):
        if not any(points_at(n, "router", router) for n in nats):
            report(f"{short(router.urn)} carries no Cloud NAT", router.urn)
    for n in nats:
        if not truthy(dig(n.props, "logConfig", "enable")):
            report(f"{short(n.urn)}: logConfig.enable is not true", n.urn)


# --- PGP-GCP-NET-010 ----------------------------------------------------------------------------------------
NET_010 = Rule(
    id="PGP-GCP-NET-010",
    title="Firewall rules described and logged",
    why="Reviewers must be able to tell why each opening exists, and an incident needs the record of what each "
    "rule admitted or refused.",
    description="Every firewall rule carries a description and has firewall rules logging on.",
    severity=Severity.LOW,
    control="seed: reviewable network rules (by analogy with CKV_AWS_23)",
    area=AREA,
    scope="resource",
    clouds=(CLOUD,),
    remediation="Set description and log_config={'metadata': 'INCLUDE_ALL_METADATA'} on each Firewall.",
)


def _described(args, report) -> None:
    if not str(args.props.get("description") or "").strip():
        report(f"{args.name}: the firewall rule has no description")
    if not args.props.get("logConfig") and not truthy(args.props.get("enableLogging")):
        report(f"{args.name}: firewall rules logging is off (no logConfig)")


POLICIES = [
    (
        NET_001,
        resource_policy(
            NET_001, _only((INSTANCE, INSTANCE_TEMPLATE, REGION_INSTANCE_TEMPLATE, ADDRESS), _no_external_ip)
        ),
    ),
    (NET_002, resource_policy(NET_002, _only((FIREWALL,), _no_world_ingress))),
    (NET_003, resource_policy(NET_003, _only((FIREWALL,), _narrow_egress))),
    (NET_004, stack_policy(NET_004, _default_deny)),
    (NET_005, resource_policy(NET_005, _only((NETWORK,), _custom_mode))),
    (NET_006, resource_policy(NET_006, _only((SUBNETWORK,), _flow_logs))),
    (NET_007, resource_policy(NET_007, _only((SUBNETWORK,), _private_google_access))),
    (NET_008, resource_policy(NET_008, _only((NETWORK_PEERING,), _peering))),
    (NET_009, stack_policy(NET_009, _nat)),
    (NET_010, resource_policy(NET_010, _only((FIREWALL,), _described))),
]
