"""Network: a resource group, a VNet with one private subnet per zone (Azure subnets are regional: the zones are
the VMs'; the subnets keep the derived CIDRs), NSGs that admit clients only from the allowlist and cluster ports
only inside the cluster, egress through a NAT gateway, VNet flow logs, peering both ways, private DNS."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_azure_native as azure_native
from pulumi_azure_native import authorization, managedidentity, network, privatedns, resources, storage

from components.azure.spec import BLOB_PRIVATE_ZONE, STORAGE_BLOB_DATA_CONTRIBUTOR, role_definition_id
from components.base import PlatformComponent
from components.contracts import NetworkIntent
from stacks.clouds.azure import AUTONAME_RANDOM_CHARS, Peer
from stacks.ports import EXPORTER_PORTS, INTRA_CLUSTER_PORTS, PORTS

FLOW_LOG_RETENTION_DAYS = 365
# NSG rule priorities: 100-4096 (lower wins). Allows from 100 in steps, the deny-all last, so Azure's default
# rules (65000 on: anything from the VNet and the load balancer) never apply.
FIRST_PRIORITY = 100
PRIORITY_STEP = 10
DENY_ALL_PRIORITY = 4096
SMTP_SUBMISSION_PORT = 587


@dataclass(frozen=True)
class Rule:
    label: str
    peers: list[str]  # the remote side: CIDRs or one service tag
    ports: list[int | str]
    description: str
    access: str = "Allow"


def security_rule(rule: Rule, direction: str, priority: int) -> network.SecurityRuleArgs:
    """An NSG rule as ARM takes it: the remote side is the source inbound and the destination outbound."""
    inbound = direction == "Inbound"
    one = rule.peers[0] if len(rule.peers) == 1 else None
    many = None if one else list(rule.peers)
    ports = [str(p) for p in rule.ports]
    return network.SecurityRuleArgs(
        name=f"{rule.label}-{direction.lower()}" if rule.access == "Deny" else rule.label,
        priority=priority,
        direction=direction,
        access=rule.access,
        protocol="*" if rule.access == "Deny" else "Tcp",
        source_port_range="*",
        source_address_prefix=one if inbound else "*",
        source_address_prefixes=many if inbound else None,
        destination_address_prefix="*" if inbound else one,
        destination_address_prefixes=None if inbound else many,
        destination_port_range="*" if ports == ["*"] else None,
        destination_port_ranges=None if ports == ["*"] else ports,
        description=rule.description,
    )


@dataclass(frozen=True)
class NetworkArgs:
    intent: NetworkIntent  # the cloud-neutral part (components.contracts)
    location: str
    subscription_id: str
    resource_group_name: str
    flow_log_account_name: str  # the flow logs' storage account (3-24 lowercase letters and digits)
    # The ports the load balancer hands to members, each a route's client port (cluster.load_balancer_routes).
    client_ports: tuple[int, ...]
    protect: bool
    tags: Mapping[str, str]


def azure_peers(peers: tuple[object, ...]) -> tuple[Peer, ...]:
    narrowed = tuple(p for p in peers if isinstance(p, Peer))
    assert len(narrowed) == len(peers), "an Azure stack's peers parse as Azure peers"
    return narrowed


class Network(PlatformComponent):
    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("azure", "Network", name, args.tags, opts)
        intent = args.intent
        self._location = args.location
        # Everything of the stage lives in this group: deleting it deletes the stage, so prod protects it.
        self.resource_group = resources.ResourceGroup(
            self.child_name("rg"),
            resource_group_name=args.resource_group_name,
            location=args.location,
            tags=self.tags("rg"),
            opts=self.child_opts(protect=args.protect),
        )
        self.group_name = self.resource_group.name
        self.vnet = network.VirtualNetwork(
            self.child_name("vnet"),
            resource_group_name=self.group_name,
            location=args.location,
            address_space={"address_prefixes": [intent.cidr]},
            tags=self.tags("vnet"),
            opts=self.child_opts(),
        )
        self._egress(args)
        self._security_groups(args)
        self.subnets: list[network.Subnet] = []
        for zone, cidr in zip(intent.zones, intent.subnet_cidrs, strict=True):
            self.subnets.append(self._subnet(f"private-{zone}", cidr, self.db_nsg))
        # The monitoring node gets a subnet of its own (the range AWS gives its NAT subnet), so the members' NSG
        # admits scrapes from exactly that range.
        self.monitoring_subnet = self._subnet("monitoring", intent.egress_subnet_cidr, self.monitoring_nsg)
        self.subnet_ids = [s.id for s in self.subnets]
        self._flow_logs(args)
        self.peers = azure_peers(intent.peers)
        self.peerings = {p.name: self._peer(p) for p in self.peers}
        self.peering_connection_ids = {name: peering.id for name, peering in self.peerings.items()}
        self._private_dns(args)
        self.register_outputs(
            {
                "resource_group": self.group_name,
                "vnet_id": self.vnet.id,
                "subnet_ids": self.subnet_ids,
                "monitoring_subnet_id": self.monitoring_subnet.id,
                # Both sides of each peering are created here; the peer's owner sees it Connected.
                "peering_connection_ids": self.peering_connection_ids,
            }
        )

    def _subnet(self, label: str, cidr: str, nsg: network.NetworkSecurityGroup) -> network.Subnet:
        # No default outbound access: the only way out is the NAT gateway. Key Vault is reached through its
        # service endpoint, so the vault's firewall can admit exactly these subnets.
        return network.Subnet(
            self.child_name(label),
            resource_group_name=self.group_name,
            virtual_network_name=self.vnet.name,
            subnet_name=self.child_name(label),
            address_prefix=cidr,
            default_outbound_access=False,
            network_security_group={"id": nsg.id},
            nat_gateway={"id": self.nat.id},
            service_endpoints=[{"service": "Microsoft.KeyVault"}],
            private_endpoint_network_policies="Enabled",
            # ARM writes one subnet of a VNet at a time: created in turn, none fails on a busy VNet.
            opts=self.child_opts(depends_on=list(self.subnets)),
        )

    def _egress(self, args: NetworkArgs) -> None:
        """Outbound only, for packages and Azure APIs: a NAT gateway's public address is never a destination
        (a NAT gateway answers no inbound connection), and no VM or load balancer has one."""
        ip = network.PublicIPAddress(
            self.child_name("nat-ip"),
            resource_group_name=self.group_name,
            location=args.location,
            sku={"name": "Standard", "tier": "Regional"},
            public_ip_allocation_method="Static",
            public_ip_address_version="IPv4",
            tags=self.tags("nat-ip", purpose="egress-only"),
            opts=self.child_opts(),
        )
        self.nat = network.NatGateway(
            self.child_name("nat"),
            resource_group_name=self.group_name,
            location=args.location,
            sku={"name": "Standard"},
            idle_timeout_in_minutes=4,
            public_ip_addresses=[{"id": ip.id}],
            tags=self.tags("nat"),
            opts=self.child_opts(),
        )
        self.nat_ip = ip
        # Nodes install packages at first boot: they wait for the subnets that route through the NAT gateway.
        self.egress_ready: pulumi.Resource = self.nat

    def _security_groups(self, args: NetworkArgs) -> None:
        """Rules inline, so each NSG is written in one request. Clients reach PostgreSQL and PgBouncer from the
        allowlist only (an internal Standard LB keeps the client's address, so the nodes' NSG sees it); the
        cluster's own ports only from the members' subnets; scrapes only from the monitoring subnet; then the
        deny-all, so Azure's default rules (65000 on: anything from the VNet or the load balancer) never apply."""
        intent = args.intent
        members = list(intent.subnet_cidrs)
        monitoring = [intent.egress_subnet_cidr]
        db_in: list[Rule] = []
        if intent.allowlist_cidrs:
            db_in.append(
                Rule(
                    "clients",
                    list(intent.allowlist_cidrs),
                    list(args.client_ports),
                    "allowlisted clients",
                )
            )
        db_in += [
            Rule("lb-probes", ["AzureLoadBalancer"], [PORTS.patroni_rest], "Standard LB health probes"),
            Rule("members", members, list(INTRA_CLUSTER_PORTS), "consensus, replication and pgBackRest"),
            Rule("scrapes", monitoring, [*EXPORTER_PORTS, PORTS.patroni_rest], "metrics scraped by monitoring"),
        ]
        db_out = [
            Rule("vnet-out", ["VirtualNetwork"], ["*"], "members, monitoring and private endpoints"),
            Rule("https-out", ["Internet"], [443], "packages and Azure APIs over HTTPS through the NAT"),
        ]
        monitoring_out = [
            Rule("vnet-out", ["VirtualNetwork"], ["*"], "scrapes inside the VNet"),
            Rule("https-out", ["Internet"], [443], "receivers, packages and Azure APIs over HTTPS"),
            Rule("smtp-out", ["Internet"], [SMTP_SUBMISSION_PORT], "alert mail through the relay (STARTTLS)"),
        ]
        self.db_nsg = self._nsg("db-nsg", db_in, db_out)
        self.monitoring_nsg = self._nsg("monitoring-nsg", [], monitoring_out)

    def _nsg(self, label: str, inbound: list[Rule], outbound: list[Rule]) -> network.NetworkSecurityGroup:
        rules = [security_rule(r, "Inbound", FIRST_PRIORITY + PRIORITY_STEP * i) for i, r in enumerate(inbound)]
        rules += [security_rule(r, "Outbound", FIRST_PRIORITY + PRIORITY_STEP * i) for i, r in enumerate(outbound)]
        deny = Rule("deny-all", ["*"], ["*"], "nothing else", access="Deny")
        rules += [security_rule(deny, d, DENY_ALL_PRIORITY) for d in ("Inbound", "Outbound")]
        return network.NetworkSecurityGroup(
            self.child_name(label),
            resource_group_name=self.group_name,
            location=self._location,
            security_rules=rules,
            tags=self.tags(label),
            opts=self.child_opts(),
        )

    def _flow_logs(self, args: NetworkArgs) -> None:
        """VNet flow logs (NSG flow logs can no longer be created) into a storage account of their own, written by
        a managed identity: the account refuses shared keys like the backup account does."""
        self.flow_log_account = storage.StorageAccount(
            args.flow_log_account_name[:-AUTONAME_RANDOM_CHARS],  # no hyphens: the account's own rule
            account_name=args.flow_log_account_name,
            resource_group_name=self.group_name,
            location=args.location,
            kind="StorageV2",
            sku={"name": "Standard_LRS"},
            minimum_tls_version="TLS1_2",
            enable_https_traffic_only=True,
            allow_blob_public_access=False,
            allow_shared_key_access=False,
            default_to_o_auth_authentication=True,
            # Network Watcher writes as a trusted Azure service; nobody else reaches the account.
            network_rule_set={"default_action": storage.DefaultAction.DENY, "bypass": "AzureServices"},
            tags=self.tags("flowlogs"),
            opts=self.child_opts(protect=args.protect),
        )
        identity = managedidentity.UserAssignedIdentity(
            self.child_name("flowlogs-identity"),
            resource_group_name=self.group_name,
            location=args.location,
            tags=self.tags("flowlogs-identity"),
            opts=self.child_opts(),
        )
        writer = authorization.RoleAssignment(
            self.child_name("flowlogs-writer"),
            scope=self.flow_log_account.id,
            principal_id=identity.principal_id,
            principal_type="ServicePrincipal",
            role_definition_id=role_definition_id(args.subscription_id, STORAGE_BLOB_DATA_CONTRIBUTOR),
            opts=self.child_opts(),
        )
        watcher = network.NetworkWatcher(
            self.child_name("watcher"),
            resource_group_name=self.group_name,
            location=args.location,
            tags=self.tags("watcher"),
            opts=self.child_opts(),
        )
        network.FlowLog(
            self.child_name("flow-log"),
            resource_group_name=self.group_name,
            network_watcher_name=watcher.name,
            flow_log_name=self.child_name("flow-log"),
            location=args.location,
            target_resource_id=self.vnet.id,
            storage_id=self.flow_log_account.id,
            enabled=True,
            format={"type": "JSON", "version": 2},
            retention_policy={"days": FLOW_LOG_RETENTION_DAYS, "enabled": True},
            identity={"type": network.ResourceIdentityType.USER_ASSIGNED, "user_assigned_identities": [identity.id]},
            tags=self.tags("flow-log"),
            opts=self.child_opts(depends_on=[writer]),
        )

    def _peer(self, peer: Peer) -> network.VirtualNetworkPeering:
        """Both halves: ours, and the peer VNet's in its own group (and subscription, through a provider of its
        own). Traffic flows once both exist; neither forwards nor uses gateways."""
        local = network.VirtualNetworkPeering(
            self.child_name(f"peer-{peer.name}"),
            resource_group_name=self.group_name,
            virtual_network_name=self.vnet.name,
            virtual_network_peering_name=f"to-{peer.name}",
            remote_virtual_network={"id": peer.vnet_id},
            allow_virtual_network_access=True,
            allow_forwarded_traffic=False,
            allow_gateway_transit=False,
            use_remote_gateways=False,
            opts=self.child_opts(),
        )
        provider = azure_native.Provider(
            self.child_name(f"peer-{peer.name}-provider"),
            subscription_id=peer.subscription_id,
            location=self._location,
            opts=self.child_opts(),
        )
        network.VirtualNetworkPeering(
            self.child_name(f"peer-{peer.name}-remote"),
            resource_group_name=peer.resource_group,
            virtual_network_name=peer.vnet_name,
            virtual_network_peering_name=self.child_name("vnet"),
            remote_virtual_network={"id": self.vnet.id},
            allow_virtual_network_access=True,
            allow_forwarded_traffic=False,
            allow_gateway_transit=False,
            use_remote_gateways=False,
            opts=pulumi.ResourceOptions.merge(self.child_opts(), pulumi.ResourceOptions(provider=provider)),
        )
        return local

    def _private_dns(self, args: NetworkArgs) -> None:
        """The backup account's private endpoint resolves through privatelink.blob.core.windows.net; the endpoint's
        name lives in the platform's own zone, linked to the VNet and to every peer VNet so clients resolve it."""
        self.blob_zone = private_zone(self, "blob-zone", self.group_name, BLOB_PRIVATE_ZONE)
        self.private_zone = private_zone(self, "zone", self.group_name, args.intent.private_zone)
        links: list[tuple[str, privatedns.PrivateZone, pulumi.Input[str]]] = [
            ("blob-zone-link", self.blob_zone, self.vnet.id),
            ("zone-link", self.private_zone, self.vnet.id),
        ]
        links += [(f"zone-link-{p.name}", self.private_zone, p.vnet_id) for p in self.peers]
        for label, zone, vnet_id in links:
            zone_link(self, label, self.group_name, zone, vnet_id)


def private_zone(
    owner: PlatformComponent, label: str, resource_group_name: pulumi.Input[str], zone_name: str
) -> privatedns.PrivateZone:
    return privatedns.PrivateZone(
        owner.child_name(label),
        resource_group_name=resource_group_name,
        private_zone_name=zone_name,
        location="global",
        tags=owner.tags(label),
        opts=owner.child_opts(),
    )


def zone_link(
    owner: PlatformComponent,
    label: str,
    resource_group_name: pulumi.Input[str],
    zone: privatedns.PrivateZone,
    vnet_id: pulumi.Input[str],
) -> privatedns.VirtualNetworkLink:
    """A zone resolves in the VNets it is linked to; none registers its machines' names in it."""
    return privatedns.VirtualNetworkLink(
        owner.child_name(label),
        resource_group_name=resource_group_name,
        private_zone_name=zone.name,
        virtual_network_link_name=owner.child_name(label),
        location="global",
        virtual_network={"id": vnet_id},
        registration_enabled=False,
        tags=owner.tags(label),
        opts=owner.child_opts(),
    )
