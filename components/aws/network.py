"""Network: private subnets per zone, no route to the internet for database subnets, peering, allowlist."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.base import PlatformComponent
from components.contracts import NetworkIntent
from stacks.clouds.aws import Peer, PeerGroup
from stacks.ports import EXPORTER_PORTS, PORTS

FLOW_LOG_RETENTION_DAYS = 365
INTERFACE_ENDPOINT_SERVICES = ("secretsmanager", "kms", "ssm", "ssmmessages", "ec2messages", "logs", "monitoring")


@dataclass(frozen=True)
class NetworkArgs:
    intent: NetworkIntent  # the cloud-neutral part (components.contracts)
    region: str
    account_id: pulumi.Input[str]
    backup_bucket: str  # the S3 endpoint admits this bucket only
    protect: bool
    tags: Mapping[str, str]


class Network(PlatformComponent):
    """VPC whose database subnets have no internet gateway route; packages come through one NAT gateway in
    a separate egress subnet, AWS APIs through VPC endpoints; clients only through the load balancer."""

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aws", "Network", name, args.tags, opts)
        self.vpc = aws.ec2.Vpc(
            self.child_name("vpc"),
            cidr_block=args.intent.cidr,
            enable_dns_hostnames=True,
            enable_dns_support=True,
            tags=self.tags("vpc"),
            opts=self.child_opts(),
        )
        # The default group admits everything from itself; close it so nothing lands in it by accident.
        aws.ec2.DefaultSecurityGroup(
            self.child_name("default-sg"),
            vpc_id=self.vpc.id,
            ingress=[],
            egress=[],
            tags=self.tags("default-sg"),
            opts=self.child_opts(),
        )

        self.private_route_table = aws.ec2.RouteTable(
            self.child_name("private-rt"), vpc_id=self.vpc.id, tags=self.tags("private-rt"), opts=self.child_opts()
        )
        self.subnets = []
        for zone, cidr in zip(args.intent.zones, args.intent.subnet_cidrs, strict=True):
            subnet = aws.ec2.Subnet(
                self.child_name(f"private-{zone}"),
                vpc_id=self.vpc.id,
                cidr_block=cidr,
                availability_zone=zone,
                map_public_ip_on_launch=False,
                tags=self.tags(f"private-{zone}", tier="database"),
                opts=self.child_opts(),
            )
            aws.ec2.RouteTableAssociation(
                self.child_name(f"private-{zone}-rta"),
                subnet_id=subnet.id,
                route_table_id=self.private_route_table.id,
                opts=self.child_opts(),
            )
            self.subnets.append(subnet)
        self.subnet_ids = self._reserve_member_addresses(args)

        self._egress(args)
        self._flow_logs(args)
        # Clients resolve the load balancer by a stable name they can verify certificates against. Peer
        # VPCs (usually other accounts) associate themselves once authorised, so the zone ignores that drift.
        self.private_zone = aws.route53.Zone(
            self.child_name("zone"),
            name=args.intent.private_zone,
            comment="pg-platform endpoints",
            force_destroy=False,
            vpcs=[aws.route53.ZoneVpcArgs(vpc_id=self.vpc.id, vpc_region=args.region)],
            tags=self.tags("zone"),
            opts=self.child_opts(ignore_changes=["vpcs"]),
        )
        self.peers = aws_peers(args.intent.peers)
        for peer in self.peers:
            aws.route53.VpcAssociationAuthorization(
                self.child_name(f"zone-{peer.name}"),
                zone_id=self.private_zone.zone_id,
                vpc_id=peer.vpc_id,
                vpc_region=peer.region,
                opts=self.child_opts(),
            )
        self.peering_connections = [self._peer(p) for p in self.peers]
        self._security_groups(args)
        self._endpoints(args)

        self.peering_connection_ids = {p.name: c.id for p, c in zip(self.peers, self.peering_connections, strict=True)}
        self.register_outputs(
            {
                "vpc_id": self.vpc.id,
                "subnet_ids": [s.id for s in self.subnets],
                "node_security_group_id": self.node_sg.id,
                "lb_security_group_id": self.lb_sg.id,
                "monitoring_security_group_id": self.monitoring_sg.id,
                # A peer in another account or region accepts its request and adds the return route itself.
                "peering_connection_ids": self.peering_connection_ids,
            }
        )

    def _reserve_member_addresses(self, args: NetworkArgs) -> list[pulumi.Output[str]]:
        """The load balancer, the interface endpoints and the monitoring node take random addresses in these
        subnets; an explicit reservation keeps the members' fixed addresses out of that pool. Everything placed
        in a subnet uses the id returned here, which resolves only once the reservation exists."""
        ready = []
        for zone, subnet, cidr in zip(args.intent.zones, self.subnets, args.intent.subnet_cidrs, strict=True):
            block = member_reservation(cidr, args.intent.node_addresses)
            if block is None:
                ready.append(subnet.id)
                continue
            reservation = aws.ec2.SubnetCidrReservation(
                self.child_name(f"private-{zone}-members"),
                subnet_id=subnet.id,
                cidr_block=block,
                reservation_type="explicit",
                description=f"fixed addresses of the {self._name} members",
                opts=self.child_opts(),
            )
            ready.append(pulumi.Output.all(subnet.id, reservation.id).apply(lambda v: v[0]))
        return ready

    def _egress(self, args: NetworkArgs) -> None:
        """Outbound HTTPS for package installs only: an IGW that only the egress subnet routes to."""
        igw = aws.ec2.InternetGateway(
            self.child_name("igw"), vpc_id=self.vpc.id, tags=self.tags("igw"), opts=self.child_opts()
        )
        egress_subnet = aws.ec2.Subnet(
            self.child_name("egress"),
            vpc_id=self.vpc.id,
            cidr_block=args.intent.egress_subnet_cidr,
            availability_zone=args.intent.zones[0],
            map_public_ip_on_launch=False,
            tags=self.tags("egress", tier="egress"),
            opts=self.child_opts(),
        )
        egress_rt = aws.ec2.RouteTable(
            self.child_name("egress-rt"),
            vpc_id=self.vpc.id,
            routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", gateway_id=igw.id)],
            tags=self.tags("egress-rt"),
            opts=self.child_opts(),
        )
        aws.ec2.RouteTableAssociation(
            self.child_name("egress-rta"),
            subnet_id=egress_subnet.id,
            route_table_id=egress_rt.id,
            opts=self.child_opts(),
        )
        eip = aws.ec2.Eip(self.child_name("nat-eip"), domain="vpc", tags=self.tags("nat-eip"), opts=self.child_opts())
        nat = aws.ec2.NatGateway(
            self.child_name("nat"),
            subnet_id=egress_subnet.id,
            allocation_id=eip.id,
            tags=self.tags("nat"),
            opts=self.child_opts(depends_on=[igw]),
        )
        # Nodes fetch packages and the PGDG key at first boot: they wait for this route (`egress_ready`).
        self.egress_ready = aws.ec2.Route(
            self.child_name("private-default-route"),
            route_table_id=self.private_route_table.id,
            destination_cidr_block="0.0.0.0/0",
            nat_gateway_id=nat.id,
            opts=self.child_opts(),
        )

    def _endpoints(self, args: NetworkArgs) -> None:
        # Backups stay on the AWS network and never cross the NAT.
        self.s3_endpoint = aws.ec2.VpcEndpoint(
            self.child_name("s3-endpoint"),
            vpc_id=self.vpc.id,
            service_name=f"com.amazonaws.{args.region}.s3",
            vpc_endpoint_type="Gateway",
            route_table_ids=[self.private_route_table.id],
            policy=json.dumps(_s3_endpoint_policy(args.backup_bucket, args.region)),
            tags=self.tags("s3-endpoint"),
            opts=self.child_opts(),
        )
        # Boot (secrets, keys), operations (SSM) and alarms (metrics, logs) keep working in every zone even
        # when the single NAT gateway's zone is down.
        self.endpoints_sg = aws.ec2.SecurityGroup(
            self.child_name("endpoints-sg"),
            vpc_id=self.vpc.id,
            description="AWS API interface endpoints: HTTPS from the VPC",
            tags=self.tags("endpoints-sg"),
            opts=self.child_opts(),
        )
        for label, group in {"nodes": self.node_sg, "monitoring": self.monitoring_sg}.items():
            self._ingress(
                self.endpoints_sg,
                f"endpoints-https-from-{label}",
                443,
                f"AWS API calls from the {label}",
                source=group.id,
            )
        for service in INTERFACE_ENDPOINT_SERVICES:
            aws.ec2.VpcEndpoint(
                self.child_name(f"{service}-endpoint"),
                vpc_id=self.vpc.id,
                service_name=f"com.amazonaws.{args.region}.{service}",
                vpc_endpoint_type="Interface",
                private_dns_enabled=True,
                subnet_ids=self.subnet_ids,
                security_group_ids=[self.endpoints_sg.id],
                tags=self.tags(f"{service}-endpoint"),
                opts=self.child_opts(),
            )

    def _flow_logs(self, args: NetworkArgs) -> None:
        key = aws.kms.Key(
            self.child_name("flow-logs-key"),
            description=f"{self.child_name('flow-logs')} encryption",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=pulumi.Output.from_input(args.account_id).apply(
                lambda account: _logs_key_policy(account, args.region)
            ),
            # Without the key the flow logs, audit evidence, are unreadable.
            tags=self.tags("flow-logs-key"),
            opts=self.child_opts(protect=args.protect),
        )
        group = aws.cloudwatch.LogGroup(
            self.child_name("flow-logs"),
            retention_in_days=FLOW_LOG_RETENTION_DAYS,
            kms_key_id=key.arn,
            tags=self.tags("flow-logs"),
            opts=self.child_opts(protect=args.protect),
        )
        # Only this account's flow logs may assume the role (confused deputy).
        role = aws.iam.Role(
            self.child_name("flow-logs-role"),
            assume_role_policy=pulumi.Output.from_input(args.account_id).apply(
                lambda account: json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": {"Service": "vpc-flow-logs.amazonaws.com"},
                                "Action": "sts:AssumeRole",
                                "Condition": {"StringEquals": {"aws:SourceAccount": account}},
                            }
                        ],
                    }
                )
            ),
            tags=self.tags("flow-logs-role"),
            opts=self.child_opts(),
        )
        aws.iam.RolePolicy(
            self.child_name("flow-logs-policy"),
            role=role.id,
            policy=group.arn.apply(
                lambda arn: json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Resource": [arn, f"{arn}:*"],
                                "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                            }
                        ],
                    }
                )
            ),
            opts=self.child_opts(),
        )
        aws.ec2.FlowLog(
            self.child_name("flow-log"),
            vpc_id=self.vpc.id,
            traffic_type="ALL",
            log_destination_type="cloud-watch-logs",
            log_destination=group.arn,
            iam_role_arn=role.arn,
            max_aggregation_interval=60,
            tags=self.tags("flow-log"),
            opts=self.child_opts(),
        )

    def _peer(self, peer: Peer) -> aws.ec2.VpcPeeringConnection:
        connection = aws.ec2.VpcPeeringConnection(
            self.child_name(f"peer-{peer.name}"),
            vpc_id=self.vpc.id,
            peer_vpc_id=peer.vpc_id,
            peer_owner_id=peer.account_id,
            peer_region=peer.region,
            tags=self.tags(f"peer-{peer.name}", peer=peer.name),
            opts=self.child_opts(),
        )
        aws.ec2.Route(
            self.child_name(f"peer-{peer.name}-route"),
            route_table_id=self.private_route_table.id,
            destination_cidr_block=peer.cidr,
            vpc_peering_connection_id=connection.id,
            opts=self.child_opts(),
        )
        return connection

    def _security_groups(self, args: NetworkArgs) -> None:
        self.lb_sg = aws.ec2.SecurityGroup(
            self.child_name("lb-sg"),
            vpc_id=self.vpc.id,
            description="PostgreSQL load balancer: allowlisted clients only",
            tags=self.tags("lb-sg"),
            opts=self.child_opts(),
        )
        self.node_sg = aws.ec2.SecurityGroup(
            self.child_name("node-sg"),
            vpc_id=self.vpc.id,
            description="PostgreSQL nodes: load balancer, peers and monitoring only",
            tags=self.tags("node-sg"),
            opts=self.child_opts(),
        )
        self.monitoring_sg = aws.ec2.SecurityGroup(
            self.child_name("monitoring-sg"),
            vpc_id=self.vpc.id,
            description="Prometheus, Alertmanager and Grafana node",
            tags=self.tags("monitoring-sg"),
            opts=self.child_opts(),
        )
        client_ports = {"write": PORTS.write, "read": PORTS.read, "pooled": PORTS.pooled_write}
        peers = {p.name: p for p in self.peers}
        groups = [g for g in args.intent.allowlist_groups if isinstance(g, PeerGroup)]
        assert len(groups) == len(args.intent.allowlist_groups), "an AWS stack's groups parse as AWS groups"
        # AWS refuses a rule naming a peer VPC's group until the peering is active, and this stack can only
        # request the peering: the peer accepts it, then the operator sets `accepted: true` (README, step 9).
        for group in groups:
            if not peers[group.peer].accepted:
                pulumi.log.warn(
                    f"allowlisted security group {group.id} waits for peer {group.peer} to accept "
                    f"the peering; set network.peers[{group.peer}].accepted: true afterwards and run "
                    f"`pulumi up` again (the allowlisted CIDRs apply meanwhile)",
                    resource=self,
                )
        for label, port in client_ports.items():
            for i, cidr in enumerate(args.intent.allowlist_cidrs):
                self._ingress(
                    self.lb_sg, f"lb-{label}-cidr{i}", port, f"{label} clients from allowlisted {cidr}", cidr=cidr
                )
            for i, group in enumerate(groups):
                peer = peers[group.peer]
                if not peer.accepted:
                    continue
                self._ingress(
                    self.lb_sg,
                    f"lb-{label}-sg{i}",
                    port,
                    f"{label} clients from allowlisted {group.id} in peer {peer.name}",
                    source=peer_group_reference(group, peer, args.account_id),
                    replace_on_change=True,
                )
        # Only what each port's role needs: clients via the load balancer, consensus and replication
        # among members, metrics to the monitoring node.
        for label, port in {
            "postgres": PORTS.postgres,
            "pgbouncer": PORTS.pgbouncer,
            "patroni-health": PORTS.patroni_rest,
        }.items():
            self._ingress(
                self.node_sg, f"node-{label}-from-lb", port, f"{label} from the load balancer", source=self.lb_sg.id
            )
        for label, port in {
            "postgres": PORTS.postgres,
            "patroni": PORTS.patroni_rest,
            "etcd-client": PORTS.etcd_client,
            "etcd-peer": PORTS.etcd_peer,
            "pgbackrest": PORTS.pgbackrest_server,
        }.items():
            self._ingress(
                self.node_sg,
                f"node-{label}-from-members",
                port,
                f"{label} between cluster members",
                source=self.node_sg.id,
            )
        for port in (*EXPORTER_PORTS, PORTS.patroni_rest):
            self._ingress(
                self.node_sg,
                f"node-metrics-{port}",
                port,
                "metrics scraped by the monitoring node",
                source=self.monitoring_sg.id,
            )

        self._egress_rule(
            self.lb_sg,
            "lb-to-nodes",
            "tcp",
            PORTS.postgres,
            PORTS.patroni_rest,
            "load balancer to nodes (PostgreSQL, PgBouncer, Patroni health)",
            cidr=args.intent.cidr,
        )
        self._egress_rule(
            self.node_sg,
            "node-in-vpc",
            "tcp",
            0,
            65535,
            "members, endpoints and monitoring in the VPC",
            cidr=args.intent.cidr,
        )
        self._egress_rule(
            self.node_sg,
            "node-https",
            "tcp",
            443,
            443,
            "package repositories and AWS APIs over HTTPS through the NAT",
            cidr="0.0.0.0/0",
        )
        self._egress_rule(
            self.monitoring_sg, "monitoring-in-vpc", "tcp", 0, 65535, "scrapes inside the VPC", cidr=args.intent.cidr
        )
        self._egress_rule(
            self.monitoring_sg,
            "monitoring-https",
            "tcp",
            443,
            443,
            "alert receivers, packages and AWS APIs over HTTPS",
            cidr="0.0.0.0/0",
        )
        self._egress_rule(
            self.monitoring_sg,
            "monitoring-smtp",
            "tcp",
            587,
            587,
            "alert mail through the SMTP relay (STARTTLS)",
            cidr="0.0.0.0/0",
        )

    def _ingress(
        self,
        group: aws.ec2.SecurityGroup,
        label: str,
        port: int,
        description: str,
        *,
        cidr: str | None = None,
        source: pulumi.Input[str] | None = None,
        replace_on_change: bool = False,
    ) -> None:
        # A rule naming another account's group (`<account>/sg-…`) is created fine, but the provider's in-place
        # update passes that form to ModifySecurityGroupRules as a group id; such a rule is replaced instead,
        # delete first, since AWS refuses a duplicate rule.
        opts = (
            self.child_opts(delete_before_replace=True, replace_on_changes=["*"])
            if replace_on_change
            else self.child_opts()
        )
        aws.vpc.SecurityGroupIngressRule(
            self.child_name(label),
            security_group_id=group.id,
            ip_protocol="tcp",
            from_port=port,
            to_port=port,
            cidr_ipv4=cidr,
            referenced_security_group_id=source,
            description=description,
            tags=self.tags(label),
            opts=opts,
        )

    def _egress_rule(
        self,
        group: aws.ec2.SecurityGroup,
        label: str,
        protocol: str,
        from_port: int,
        to_port: int,
        description: str,
        *,
        cidr: str,
    ) -> None:
        aws.vpc.SecurityGroupEgressRule(
            self.child_name(label),
            security_group_id=group.id,
            ip_protocol=protocol,
            from_port=from_port,
            to_port=to_port,
            cidr_ipv4=cidr,
            description=description,
            tags=self.tags(label),
            opts=self.child_opts(),
        )


# A reservation is replaced when its block changes, so it is sized for growth: a /29 holds six members per zone,
# more than the largest cluster the settings admit puts in one subnet.
MEMBER_RESERVATION_PREFIX = 29


def member_reservation(subnet_cidr: str, node_addresses: tuple[str, ...]) -> str | None:
    """The aligned block (at least a /29) of `subnet_cidr` that holds every member address inside it."""
    subnet = ipaddress.ip_network(subnet_cidr)
    inside = sorted(ipaddress.ip_address(a) for a in node_addresses if ipaddress.ip_address(a) in subnet)
    if not inside:
        return None
    for prefix in range(MEMBER_RESERVATION_PREFIX, subnet.prefixlen - 1, -1):
        block = ipaddress.ip_network(f"{inside[0]}/{prefix}", strict=False)
        if inside[-1] in block:
            return str(block)
    return str(subnet)


def aws_peers(peers: tuple[object, ...]) -> tuple[Peer, ...]:
    """The intent's peers as AWS's shape (stacks/clouds/aws.py parses an AWS stack's peers)."""
    narrowed = tuple(p for p in peers if isinstance(p, Peer))
    assert len(narrowed) == len(peers), "an AWS stack's peers parse as AWS peers"
    return narrowed


def peer_group_reference(group: PeerGroup, peer: Peer, own_account: pulumi.Input[str]) -> pulumi.Output[str]:
    """A group in a peer VPC of another account is referenced as `<account>/sg-…`; in this account, by id."""
    return pulumi.Output.from_input(own_account).apply(
        lambda account: group.id if account == peer.account_id else f"{peer.account_id}/{group.id}"
    )


def _s3_endpoint_policy(backup_bucket: str, region: str) -> dict:
    """Through the endpoint, only the backup bucket and AWS's agent packages: a compromised node cannot copy
    the database to a bucket of its own choosing over the AWS network."""
    agents = [f"arn:aws:s3:::amazon-ssm-{region}/*", f"arn:aws:s3:::amazoncloudwatch-agent-{region}/*"]
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Backups",
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [f"arn:aws:s3:::{backup_bucket}", f"arn:aws:s3:::{backup_bucket}/*"],
            },
            {"Sid": "AgentPackages", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": agents},
        ],
    }


def _logs_key_policy(account_id: str, region: str) -> str:
    """CloudWatch Logs may use the key only for log groups of this account and region."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "AccountAdministers",
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
                    "Action": "kms:*",
                    "Resource": "*",
                },
                {
                    "Sid": "LogsEncrypt",
                    "Effect": "Allow",
                    "Principal": {"Service": f"logs.{region}.amazonaws.com"},
                    "Action": [
                        "kms:Encrypt*",
                        "kms:Decrypt*",
                        "kms:ReEncrypt*",
                        "kms:GenerateDataKey*",
                        "kms:Describe*",
                    ],
                    "Resource": "*",
                    "Condition": {
                        "ArnLike": {
                            "kms:EncryptionContext:aws:logs:arn": f"arn:aws:logs:{region}:{account_id}:log-group:*"
                        }
                    },
                },
            ],
        }
    )
