"""Network exposure on AWS: public addresses, world-open ports, egress, default security group, flow logs,
peering, internal load balancers."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pulumi_policy import Severity

from .. import ports
from ..core import Rule, as_list, plain, resource_policy, settings, short, stack_config, stack_policy, truthy
from ..graph import of_type, points_at
from ..world import WORLD_CONFIG, public_addresses
from .types import (
    CLOUD,
    DEFAULT_SECURITY_GROUP,
    EGRESS_RULE,
    FLOW_LOG,
    INGRESS_RULE,
    INSTANCE,
    LAUNCH_TEMPLATE,
    LOAD_BALANCER,
    PEERING,
    SECURITY_GROUP,
    SECURITY_GROUP_RULE,
    SUBNET,
    VPC,
)

AREA = "network"
ALL_PROTOCOLS = ("-1", "all")


@dataclass(frozen=True)
class SgRule:
    direction: str  # ingress | egress
    protocol: str
    from_port: int
    to_port: int
    cidrs: tuple[str, ...]
    description: str
    where: str  # which block, for messages

    def covers(self, port: int) -> bool:
        if self.protocol in ALL_PROTOCOLS:
            return True
        return self.from_port <= port <= self.to_port

    def world(self, limit: int) -> list[str]:
        """Sources that open this rule to the internet: by address arithmetic, not by spelling (`::0/0`,
        `0.0.0.0/00` and `0.0.0.0/1` all are)."""
        out = []
        for c in self.cidrs:
            try:
                net = ipaddress.ip_network(c, strict=False)
            except ValueError:
                continue
            if public_addresses(net) >= limit:
                out.append(c)
        return out


def _port(v: Any, default: int) -> int:
    try:
        return int(v)
    except (TypeError, ValueError):
        return default


def sg_rules(resource_type: str, props: Any) -> Iterator[SgRule]:
    if resource_type in (INGRESS_RULE, EGRESS_RULE):
        proto = str(props.get("ipProtocol") or "-1").lower()
        yield SgRule(
            "ingress" if resource_type == INGRESS_RULE else "egress",
            proto,
            _port(props.get("fromPort"), 0),
            _port(props.get("toPort"), 65535),
            tuple(c for c in (props.get("cidrIpv4"), props.get("cidrIpv6")) if c),
            str(props.get("description") or ""),
            "rule",
        )
    elif resource_type == SECURITY_GROUP_RULE:
        proto = str(props.get("protocol") or "-1").lower()
        yield SgRule(
            str(props.get("type") or "ingress"),
            proto,
            _port(props.get("fromPort"), 0),
            _port(props.get("toPort"), 65535),
            tuple(as_list(plain(props.get("cidrBlocks"))) + as_list(plain(props.get("ipv6CidrBlocks")))),
            str(props.get("description") or ""),
            "rule",
        )
    elif resource_type in (SECURITY_GROUP, DEFAULT_SECURITY_GROUP):
        for direction in ("ingress", "egress"):
            for i, block in enumerate(as_list(props.get(direction))):
                proto = str(block.get("protocol") or "-1").lower()
                yield SgRule(
                    direction,
                    proto,
                    _port(block.get("fromPort"), 0),
                    _port(block.get("toPort"), 65535),
                    tuple(as_list(plain(block.get("cidrBlocks"))) + as_list(plain(block.get("ipv6CidrBlocks")))),
                    str(block.get("description") or ""),
                    f"{direction}[{i}]",
                )


# --- PGP-AWS-NET-001 ----------------------------------------------------------------------------------------
NET_001 = Rule(
    id="PGP-AWS-NET-001",
    title="No public IP on instances",
    why="A public address makes the node reachable from the internet the moment a security group slips; private "
    "nodes need two mistakes.",
    description="EC2 instances and launch templates must not get a public IPv4 address, and no subnet hands "
    "one out on launch; database and monitoring nodes are reached only through private subnets and "
    "the internal load balancer.",
    severity=Severity.CRITICAL,
    control="CKV_AWS_88",
    area=AREA,
    scope="resource",
    clouds=(CLOUD,),
    remediation="Set associate_public_ip_address=False on instances and map_public_ip_on_launch=False on "
    "subnets; reach nodes through SSM or the internal NLB.",
)


def _no_public_ip(args, report) -> None:
    props = args.props
    if args.resource_type == SUBNET:
        if truthy(props.get("mapPublicIpOnLaunch")):
            report(f"{args.name}: mapPublicIpOnLaunch is true")
    elif args.resource_type == INSTANCE:
        if truthy(props.get("associatePublicIpAddress")):
            report(f"{args.name}: associatePublicIpAddress is true")
    elif args.resource_type == LAUNCH_TEMPLATE:
        for i, nic in enumerate(as_list(props.get("networkInterfaces"))):
            if truthy(nic.get("associatePublicIpAddress")):
                report(f"{args.name}: networkInterfaces[{i}].associatePublicIpAddress is true")


# --- PGP-AWS-NET-002 ----------------------------------------------------------------------------------------
NET_002 = Rule(
    id="PGP-AWS-NET-002",
    title="No world ingress to database ports",
    why="PostgreSQL, Patroni's REST API (which can trigger failover) and etcd (which holds the leader key) must "
    "never face the internet.",
    description="No security group rule may admit the world to PostgreSQL, PgBouncer, the Patroni REST API, etcd "
    "or the exporters: any source covering at least world_public_addresses public addresses (0.0.0.0/0 "
    "however written, 0.0.0.0/1, ::/0), not only /0.",
    severity=Severity.CRITICAL,
    control="CKV_AWS_24/25/260/277",
    area=AREA,
    scope="resource",
    clouds=(CLOUD,),
    remediation="Admit only the stack's allowlisted CIDRs or security groups (pg-platform:network.allowlist) "
    "on the client ports; intra-cluster ports admit only the cluster's own security group.",
    config={
        "ports": {
            "type": "array",
            "items": {"type": "integer"},
            "default": list(ports.NODE_PORTS),
            "description": "ports that must never be open to the world",
        },
        **WORLD_CONFIG,
    },
)


def _no_world_ingress(args, report) -> None:
    config = settings(args, NET_002)
    ports, limit = config["ports"], config["world_public_addresses"]
    for r in sg_rules(args.resource_type, args.props):
        if r.direction != "ingress" or not r.world(limit):
            continue
        hit = [p for p in ports if r.covers(p)]
        if hit:
            report(
                f"{args.name}: {r.where} admits {', '.join(r.world(limit))} on port(s) "
                f"{', '.join(map(str, hit))} (protocol {r.protocol})"
            )


# --- PGP-AWS-NET-003 ----------------------------------------------------------------------------------------
NET_003 = Rule(
    id="PGP-AWS-NET-003",
    title="No unrestricted egress",
    why="All-traffic egress lets a compromised node exfiltrate the database anywhere; named ports keep exfiltration "
    "paths reviewable.",
    description="Egress to the world (any destination covering at least world_public_addresses public "
    "addresses, 0.0.0.0/0 or ::/0 included) is allowed only on single listed ports (HTTPS to AWS APIs "
    "and package mirrors, SMTP submission to the mail relay); never all protocols or port ranges.",
    severity=Severity.HIGH,
    control="CKV_AWS_382",
    area=AREA,
    scope="resource",
    clouds=(CLOUD,),
    remediation="Replace the all-traffic egress rule by rules for the ports nodes need (443 to AWS APIs, the "
    "cluster's own ports to its security group, the S3 prefix list).",
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


def _no_open_egress(args, report) -> None:
    config = settings(args, NET_003)
    allowed, limit = set(config["world_egress_ports"]), config["world_public_addresses"]
    for r in sg_rules(args.resource_type, args.props):
        if r.direction != "egress" or not r.world(limit):
            continue
        if r.protocol in ALL_PROTOCOLS or r.from_port != r.to_port or r.from_port not in allowed:
            span = "all ports" if r.protocol in ALL_PROTOCOLS else f"ports {r.from_port}-{r.to_port}"
            report(f"{args.name}: {r.where} allows egress to {', '.join(r.world(limit))} on {span}")


# --- PGP-AWS-NET-004 ----------------------------------------------------------------------------------------
NET_004 = Rule(
    id="PGP-AWS-NET-004",
    title="Default security group closed",
    why="The default group admits everything from itself; anything placed in it by accident would reach the nodes.",
    description="Every VPC adopts its default security group with no ingress and no egress rules, so nothing "
    "placed in it by accident can talk.",
    severity=Severity.MEDIUM,
    control="CKV2_AWS_12",
    area=AREA,
    scope="stack",
    clouds=(CLOUD,),
    remediation="Add aws.ec2.DefaultSecurityGroup(vpc_id=vpc.id, ingress=[], egress=[]) for each VPC.",
)


def _default_sg_closed(args, report) -> None:
    vpcs = of_type(args.resources, VPC)
    defaults = of_type(args.resources, DEFAULT_SECURITY_GROUP)
    for d in defaults:
        if as_list(d.props.get("ingress")) or as_list(d.props.get("egress")):
            report(
                f"{short(d.urn)} keeps rules: ingress={len(as_list(d.props.get('ingress')))}, "
                f"egress={len(as_list(d.props.get('egress')))}",
                d.urn,
            )
    for v in vpcs:
        if not any(points_at(d, "vpcId", v) for d in defaults):
            report(f"{short(v.urn)} has no DefaultSecurityGroup resource that empties its default group", v.urn)


# --- PGP-AWS-NET-005 ----------------------------------------------------------------------------------------
NET_005 = Rule(
    id="PGP-AWS-NET-005",
    title="VPC flow logs on",
    why="Without flow logs there is no record of who connected to the database network during an incident.",
    description="Every VPC has a flow log capturing ALL traffic.",
    severity=Severity.MEDIUM,
    control="CKV2_AWS_11",
    area=AREA,
    scope="stack",
    clouds=(CLOUD,),
    remediation="Add aws.ec2.FlowLog(vpc_id=vpc.id, traffic_type='ALL', ...) to a log group or bucket.",
)


def _flow_logs(args, report) -> None:
    logs = of_type(args.resources, FLOW_LOG)
    for v in of_type(args.resources, VPC):
        mine = [f for f in logs if points_at(f, "vpcId", v)]
        if not mine:
            report(f"{short(v.urn)} has no flow log", v.urn)
        elif not any(str(f.props.get("trafficType") or "").upper() == "ALL" for f in mine):
            for f in mine:
                report(f"{short(f.urn)} of {short(v.urn)} captures only {f.props.get('trafficType')}, not ALL", f.urn)


# --- PGP-AWS-NET-006 ----------------------------------------------------------------------------------------
NET_006 = Rule(
    id="PGP-AWS-NET-006",
    title="Peering only to declared peers",
    why="A peering connection is a network path into the database VPC; only reviewed, declared peers may have one.",
    description="Each VPC peering connection targets a peer declared in the stack configuration "
    "(pg-platform:network.peers: vpc_id, account_id, region) or in the pack's extra allowlist.",
    severity=Severity.HIGH,
    control="seed: peering connections to application VPCs only",
    area=AREA,
    scope="resource",
    clouds=(CLOUD,),
    remediation="Declare the peer in pg-platform:network.peers (reviewed with the stack file) or remove the "
    "peering connection.",
    config={
        "extra_peers": {
            "type": "array",
            "default": [],
            "items": {
                "type": "object",
                "properties": {
                    "vpc_id": {"type": "string"},
                    "account_id": {"type": "string"},
                    "region": {"type": "string"},
                },
                "required": ["vpc_id"],
            },
            "description": "peers allowed in addition to the stack's declared peers",
        }
    },
)


def _declared_peers(args) -> list[dict[str, Any]]:
    network = stack_config("pg-platform:network") or {}
    peers = list(network.get("peers") or []) if isinstance(network, dict) else []
    return peers + list(settings(args, NET_006)["extra_peers"])


def _peering(args, report) -> None:
    props = args.props
    vpc_id = props.get("peerVpcId")
    owner, region = props.get("peerOwnerId"), props.get("peerRegion")
    for peer in _declared_peers(args):
        if peer.get("vpc_id") != vpc_id:
            continue
        if owner and peer.get("account_id") and str(owner) != str(peer["account_id"]):
            report(f"{args.name}: peer {vpc_id} is declared for account {peer['account_id']}, not {owner}")
        if region and peer.get("region") and region != peer["region"]:
            report(f"{args.name}: peer {vpc_id} is declared in {peer['region']}, not {region}")
        return
    report(
        f"{args.name}: peer VPC {vpc_id} (account {owner or 'same'}, region {region or 'same'}) is not a declared peer"
    )


# --- PGP-AWS-NET-007 ----------------------------------------------------------------------------------------
NET_007 = Rule(
    id="PGP-AWS-NET-007",
    title="Load balancers are internal",
    why="A public load balancer puts the database endpoint on the internet regardless of node placement.",
    description="The load balancer in front of PostgreSQL is internal: no public endpoint.",
    severity=Severity.CRITICAL,
    control="CKV_AWS_17 (by analogy: database not publicly accessible)",
    area=AREA,
    scope="resource",
    clouds=(CLOUD,),
    remediation="Create the load balancer with internal=True in the private subnets.",
)


def _internal_lb(args, report) -> None:
    if not truthy(args.props.get("internal")):
        report(f"{args.name}: internal is not true, so the load balancer gets a public DNS name")


# --- PGP-AWS-NET-008 ----------------------------------------------------------------------------------------
NET_008 = Rule(
    id="PGP-AWS-NET-008",
    title="Security group rules are described",
    why="Reviewers and auditors must be able to tell why each opening exists.",
    description="Every security group rule carries a description saying who it admits and why.",
    severity=Severity.LOW,
    control="CKV_AWS_23",
    area=AREA,
    scope="resource",
    clouds=(CLOUD,),
    remediation="Set description on each rule, e.g. 'app-prod VPC to PostgreSQL via NLB'.",
)


def _described(args, report) -> None:
    if args.resource_type == DEFAULT_SECURITY_GROUP:
        return
    for r in sg_rules(args.resource_type, args.props):
        if not r.description.strip():
            report(f"{args.name}: {r.where} ({r.direction} {r.protocol} {r.from_port}-{r.to_port}) has no description")
    if args.resource_type == SECURITY_GROUP and not str(args.props.get("description") or "").strip():
        report(f"{args.name}: the security group has no description")


def _only(types: tuple[str, ...], fn):
    def validate(args, report):
        if args.resource_type in types:
            fn(args, report)

    return validate


_SG_TYPES = (SECURITY_GROUP, SECURITY_GROUP_RULE, INGRESS_RULE, EGRESS_RULE, DEFAULT_SECURITY_GROUP)

POLICIES = [
    (NET_001, resource_policy(NET_001, _only((INSTANCE, LAUNCH_TEMPLATE, SUBNET), _no_public_ip))),
    (NET_002, resource_policy(NET_002, _only(_SG_TYPES, _no_world_ingress))),
    (NET_003, resource_policy(NET_003, _only(_SG_TYPES, _no_open_egress))),
    (NET_004, stack_policy(NET_004, _default_sg_closed)),
    (NET_005, stack_policy(NET_005, _flow_logs)),
    (NET_006, resource_policy(NET_006, _only((PEERING,), _peering))),
    (NET_007, resource_policy(NET_007, _only((LOAD_BALANCER,), _internal_lb))),
    (
        NET_008,
        resource_policy(NET_008, _only((SECURITY_GROUP, SECURITY_GROUP_RULE, INGRESS_RULE, EGRESS_RULE), _described)),
    ),
]
