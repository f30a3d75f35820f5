"""Network: a custom-mode VPC network with one private subnet per zone, firewall rules that admit only what each
port's role needs, Cloud NAT for package installs (no node has an external address), a private DNS zone for the
endpoint's name, and peerings to the declared networks."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from components.contracts import NetworkIntent
from components.gcp.base import GcpComponent
from components.gcp.spec import member_tag, monitoring_tag
from stacks.clouds.gcp import HEALTH_CHECK_SOURCE_RANGES, IAP_TCP_SOURCE_RANGE, Peer
from stacks.ports import EXPORTER_PORTS, INTRA_CLUSTER_PORTS, PORTS

# The client ports of the routed entry points: an internal passthrough NLB delivers packets to the members
# unchanged (the client's source, the forwarding rule's port), so the members' rules admit the clients.
CLIENT_PORTS = (PORTS.write, PORTS.read, PORTS.pooled_write)
SSH_PORT = 22
SMTP_SUBMISSION_PORT = 587
# User rules take priorities 0-65535; the implied deny-all ingress is not logged, this one is.
DENY_PRIORITY = 65534
ALLOW_PRIORITY = 1000
# Flow logs: 5-second aggregation, half the flows sampled, all metadata (who talked to whom on which port).
FLOW_LOG_INTERVAL = "INTERVAL_5_SEC"
FLOW_LOG_SAMPLING = 0.5


@dataclass(frozen=True)
class NetworkArgs:
    intent: NetworkIntent
    region: str
    tags: Mapping[str, str]


def gcp_peers(peers: tuple[object, ...]) -> tuple[Peer, ...]:
    found = tuple(p for p in peers if isinstance(p, Peer))
    assert len(found) == len(peers), "a GCP stack's peers parse as GCP peers"
    return found


class Network(GcpComponent):
    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("gcp", "Network", name, args.tags, opts)
        self._prefix = name.removesuffix("-network")
        self.vpc = gcp.compute.Network(
            self.child_name("vpc"),
            auto_create_subnetworks=False,
            routing_mode="REGIONAL",
            description=f"{name}: PostgreSQL platform",
            opts=self.child_opts(),
        )
        # GCP subnets are regional; one per zone keeps the address plan (and each member's fixed address, inside
        # its zone's range) the same on every cloud.
        self.subnets = [
            gcp.compute.Subnetwork(
                self.child_name(f"private-{zone.rsplit('-', 1)[1]}"),
                network=self.vpc.id,
                region=args.region,
                ip_cidr_range=cidr,
                stack_type="IPV4_ONLY",
                # Cloud Storage, Secret Manager and Monitoring without a public address.
                private_ip_google_access=True,
                log_config=gcp.compute.SubnetworkLogConfigArgs(
                    aggregation_interval=FLOW_LOG_INTERVAL,
                    flow_sampling=FLOW_LOG_SAMPLING,
                    metadata="INCLUDE_ALL_METADATA",
                ),
                description=f"{name}: private, {zone}",
                opts=self.child_opts(),
            )
            for zone, cidr in zip(args.intent.zones, args.intent.subnet_cidrs, strict=True)
        ]
        self.subnet_by_zone = dict(zip(args.intent.zones, self.subnets, strict=True))
        self.member_addresses = self._reserve_member_addresses(args)
        self.subnet_ids = [s.id for s in self.subnets]
        self._firewall(args)
        self._egress(args)
        self.private_zone = gcp.dns.ManagedZone(
            self.child_name("private-zone"),
            dns_name=f"{args.intent.private_zone}.",
            visibility="private",
            private_visibility_config=gcp.dns.ManagedZonePrivateVisibilityConfigArgs(
                networks=[gcp.dns.ManagedZonePrivateVisibilityConfigNetworkArgs(network_url=self.vpc.id)]
            ),
            description=f"{name}: the endpoint's private name",
            labels=self.labels(),
            opts=self.child_opts(),
        )
        self.peers = gcp_peers(args.intent.peers)
        self.peerings = {peer.name: self._peer(peer) for peer in self.peers}
        self.peering_connection_ids = {name: p.id for name, p in self.peerings.items()}
        self.register_outputs(
            {
                "network_id": self.vpc.id,
                "subnet_ids": self.subnet_ids,
                "peering_connection_ids": self.peering_connection_ids,
            }
        )

    def _reserve_member_addresses(self, args: NetworkArgs) -> dict[str, gcp.compute.Address]:
        """Each member's fixed address as a static internal address of its zone's subnet, so nothing else in the
        subnet takes it while a member is being replaced."""
        reserved = {}
        for i, address in enumerate(args.intent.node_addresses):
            subnet = next(s for s, c in zip(self.subnets, args.intent.subnet_cidrs, strict=True) if _holds(c, address))
            reserved[address] = gcp.compute.Address(
                self.child_name(f"member-{i}-address"),
                address_type="INTERNAL",
                purpose="GCE_ENDPOINT",
                address=address,
                subnetwork=subnet.id,
                region=args.region,
                description=f"{self._name}: member {i}'s fixed address",
                labels=self.labels(),
                opts=self.child_opts(),
            )
        return reserved

    def _rule(
        self,
        suffix: str,
        description: str,
        ports: tuple[int, ...] | None,
        *,
        direction: str = "INGRESS",
        source_ranges: list[str] | None = None,
        source_tags: list[str] | None = None,
        target_tags: list[str] | None = None,
        destination_ranges: list[str] | None = None,
        deny: bool = False,
        priority: int = ALLOW_PRIORITY,
    ) -> gcp.compute.Firewall:
        rule = [{"protocol": "tcp", "ports": [str(p) for p in ports]}] if ports is not None else [{"protocol": "all"}]
        return gcp.compute.Firewall(
            self.child_name(suffix),
            network=self.vpc.id,
            description=description,
            direction=direction,
            priority=priority,
            allows=None if deny else [gcp.compute.FirewallAllowArgs(**r) for r in rule],
            denies=[gcp.compute.FirewallDenyArgs(**r) for r in rule] if deny else None,
            source_ranges=source_ranges,
            source_tags=source_tags,
            target_tags=target_tags,
            destination_ranges=destination_ranges,
            log_config=gcp.compute.FirewallLogConfigArgs(metadata="INCLUDE_ALL_METADATA"),
            opts=self.child_opts(),
        )

    def _firewall(self, args: NetworkArgs) -> None:
        members, monitoring = member_tag(self._prefix), monitoring_tag(self._prefix)
        if args.intent.allowlist_cidrs:
            self._rule(
                "allow-clients",
                "allowlisted clients to the routed ports (passthrough: the members see the client)",
                CLIENT_PORTS,
                source_ranges=list(args.intent.allowlist_cidrs),
                target_tags=[members],
            )
        self._rule(
            "allow-members",
            "consensus, replication and backups between cluster members",
            INTRA_CLUSTER_PORTS,
            source_tags=[members],
            target_tags=[members],
        )
        self._rule(
            "allow-metrics",
            "metrics scraped by the monitoring node",
            (*EXPORTER_PORTS, PORTS.patroni_rest),
            source_tags=[monitoring],
            target_tags=[members],
        )
        self._rule(
            "allow-health-checks",
            "Google's load balancer health checks to Patroni's REST API",
            (PORTS.patroni_rest,),
            source_ranges=list(HEALTH_CHECK_SOURCE_RANGES),
            target_tags=[members],
        )
        self._rule(
            "allow-iap-ssh",
            "operators' SSH through Identity-Aware Proxy (no node has an external address)",
            (SSH_PORT,),
            source_ranges=[IAP_TCP_SOURCE_RANGE],
            target_tags=[members, monitoring],
        )
        self._rule(
            "deny-ingress",
            "everything else, logged",
            None,
            source_ranges=["0.0.0.0/0"],
            deny=True,
            priority=DENY_PRIORITY,
        )
        # Egress: inside the network, HTTPS (packages, Google APIs) and mail submission for alerts; nothing else.
        self._rule(
            "allow-egress-internal",
            "members, monitoring and the load balancer inside the network",
            None,
            direction="EGRESS",
            destination_ranges=[args.intent.cidr],
        )
        self._rule(
            "allow-egress-https",
            "package repositories and Google APIs over HTTPS (through Cloud NAT or Private Google Access)",
            (443,),
            direction="EGRESS",
            destination_ranges=["0.0.0.0/0"],
        )
        self._rule(
            "allow-egress-smtp",
            "alert mail through the SMTP relay (STARTTLS)",
            (SMTP_SUBMISSION_PORT,),
            direction="EGRESS",
            destination_ranges=["0.0.0.0/0"],
            target_tags=[monitoring],
        )
        self._rule(
            "deny-egress",
            "everything else, logged",
            None,
            direction="EGRESS",
            destination_ranges=["0.0.0.0/0"],
            deny=True,
            priority=DENY_PRIORITY,
        )

    def _egress(self, args: NetworkArgs) -> None:
        """Outbound connections for package installs through Cloud NAT: the nodes keep private addresses only."""
        router = gcp.compute.Router(
            self.child_name("router"),
            network=self.vpc.id,
            region=args.region,
            description=f"{self._name}: Cloud NAT for package installs",
            opts=self.child_opts(),
        )
        # Nodes fetch packages and the PGDG key at first boot: they wait for the NAT (`egress_ready`).
        self.egress_ready = gcp.compute.RouterNat(
            self.child_name("nat"),
            router=router.name,
            region=args.region,
            nat_ip_allocate_option="AUTO_ONLY",
            source_subnetwork_ip_ranges_to_nat="LIST_OF_SUBNETWORKS",
            subnetworks=[
                gcp.compute.RouterNatSubnetworkArgs(name=s.id, source_ip_ranges_to_nats=["ALL_IP_RANGES"])
                for s in self.subnets
            ],
            log_config=gcp.compute.RouterNatLogConfigArgs(enable=True, filter="ERRORS_ONLY"),
            opts=self.child_opts(),
        )

    def _peer(self, peer: Peer) -> gcp.compute.NetworkPeering:
        """This network's side; the peer network's owner adds the other (docs/deploy-gcp.md), and only then is
        the peering ACTIVE. Subnet routes only: neither side learns the other's custom routes."""
        return gcp.compute.NetworkPeering(
            self.child_name(f"peer-{peer.name}"),
            network=self.vpc.self_link,
            peer_network=f"https://www.googleapis.com/compute/v1/{peer.self_link}",
            export_custom_routes=False,
            import_custom_routes=False,
            stack_type="IPV4_ONLY",
            opts=self.child_opts(),
        )


def _holds(cidr: str, address: str) -> bool:
    return ipaddress.ip_address(address) in ipaddress.ip_network(cidr)
