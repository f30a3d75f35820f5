"""PostgresCluster: one EC2 node per member across zones, each booted from the data plane's cloud-init,
and an internal NLB that routes by Patroni's REST health checks."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.aws.userdata import compress_user_data
from components.base import PlatformComponent
from dataplane.boot import member as member_boot
from dataplane.model import ClusterSpec, Member
from dataplane.routing import client_routes
from stacks.ports import PORTS

ROOT_VOLUME_GB = 20
DATA_DEVICE = "/dev/sdf"
GP3_THROUGHPUT_MIBS = 250
# cloud-init runs once per instance: a changed image or user data takes effect only on a replacement, which an
# operator rolls one member at a time (README, "Changing nodes") so the cluster keeps its quorum. Pulumi keeps
# ignored inputs at their recorded values even through `--replace`, so a node being rolled must not ignore them.
# The instance type too: EC2 changes it in place by stopping the instance, and without this a changed
# `cluster.instance_type` would stop every member in the same `up`. Rolled, a member alone is resized (replaced with
# its data volume reattached, since its rendered memory settings change with the size).
ROLLED_BY_OPERATOR = ["ami", "userDataBase64", "instanceType"]
# A node whose host fails is recovered by EC2 onto new hardware with the same instance id, private address, EBS
# volumes and metadata (EC2 User Guide, "Automatic instance recovery"), so a member rejoins as itself: Patroni
# starts on its own data directory and follows the new leader (pg_rewind where it had diverged). "default" turns
# on simplified automatic recovery for the types that support it, which the settings require of every node type
# (stacks.clouds.aws.instance_type_problem); Monitoring adds the explicit recover alarm, which also pages.
AUTO_RECOVERY = "default"


def maintenance_options() -> aws.ec2.InstanceMaintenanceOptionsArgs:
    return aws.ec2.InstanceMaintenanceOptionsArgs(auto_recovery=AUTO_RECOVERY)


def ignored_until_rolled(rolling: bool) -> list[str] | None:
    """What a node ignores: its image and user data, except on the `up` that rolls it (then a changed user data
    replaces it, `user_data_replace_on_change=rolling`)."""
    return None if rolling else ROLLED_BY_OPERATOR


# Target groups are auto-named `<logical name>-<7 random>` and AWS allows 32 characters, so their logical names
# stay short: "<component>-pool" for pgp-staging-cluster is 24 + 8 = 32. They were "<route>-tg" before.
TARGET_GROUP_SUFFIX = {"write": "rw", "read": "ro", "pooled": "pool"}


@dataclass(frozen=True)
class PostgresClusterArgs:
    spec: ClusterSpec
    vpc_id: pulumi.Input[str]
    subnet_ids: Mapping[str, pulumi.Input[str]]  # zone -> private subnet id
    node_security_group_id: pulumi.Input[str]
    lb_security_group_id: pulumi.Input[str]
    instance_profiles: Mapping[str, pulumi.Input[str]]  # member name -> its own instance profile
    image_id: pulumi.Input[str]
    instance_type: str
    disk_size_gb: int
    disk_type: str
    disk_iops: int
    boot: pulumi.Input[member_boot.NodeBoot]
    protect: bool
    tags: Mapping[str, str]
    private_zone_id: pulumi.Input[str]
    # What a node uses at boot (secret versions, bucket settings): its instance waits for these.
    boot_after: Sequence[pulumi.Resource] = ()
    rolling: frozenset[str] = frozenset()  # member names replaced onto the current image and user data


def _user_data(spec: ClusterSpec, member: Member, boot: member_boot.NodeBoot) -> str:
    return compress_user_data(member_boot.render_node_user_data(spec, member, boot))


class PostgresCluster(PlatformComponent):
    def __init__(self, name: str, args: PostgresClusterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aws", "PostgresCluster", name, args.tags, opts)
        topology = args.spec.topology
        # Volumes get their own key: the nodes' grant on the backup key must not open every disk too.
        self.volume_key = aws.kms.Key(
            self.child_name("volumes-key"),
            description=f"{name} EBS volumes",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            tags=self.tags("volumes-key"),
            opts=self.child_opts(protect=args.protect),
        )
        self.instances: list[aws.ec2.Instance] = []
        for member in args.spec.members:
            rolling = member.name in args.rolling
            user_data = pulumi.Output.from_input(args.boot).apply(functools.partial(_user_data, args.spec, member))
            instance = aws.ec2.Instance(
                self.child_name(member.name),
                ami=args.image_id,
                instance_type=args.instance_type,
                subnet_id=args.subnet_ids[member.zone],
                private_ip=member.host,
                vpc_security_group_ids=[args.node_security_group_id],
                iam_instance_profile=args.instance_profiles[member.name],
                associate_public_ip_address=False,
                user_data_base64=user_data,
                user_data_replace_on_change=rolling,
                ebs_optimized=True,
                monitoring=True,
                disable_api_termination=args.protect,
                metadata_options=aws.ec2.InstanceMetadataOptionsArgs(
                    http_endpoint="enabled",
                    http_tokens="required",
                    http_put_response_hop_limit=1,
                    instance_metadata_tags="disabled",
                ),
                maintenance_options=maintenance_options(),
                root_block_device=aws.ec2.InstanceRootBlockDeviceArgs(
                    volume_size=ROOT_VOLUME_GB,
                    volume_type="gp3",
                    encrypted=True,
                    kms_key_id=self.volume_key.arn,
                    delete_on_termination=True,
                    tags=self.tags(f"{member.name}-root"),
                ),
                tags=self.tags(member.name, role="postgres", zone=member.zone),
                # The fixed private address is held until the old instance is gone.
                opts=self.child_opts(
                    ignore_changes=ignored_until_rolled(rolling),
                    delete_before_replace=True,
                    depends_on=list(args.boot_after),
                ),
            )
            # The data volume outlives its instance: an instance can be replaced without losing the
            # member's data, and prod protects it from deletion.
            volume = aws.ebs.Volume(
                self.child_name(f"{member.name}-data"),
                availability_zone=member.zone,
                size=args.disk_size_gb,
                type=args.disk_type,
                iops=args.disk_iops,
                throughput=GP3_THROUGHPUT_MIBS if args.disk_type == "gp3" else None,
                encrypted=True,
                kms_key_id=self.volume_key.arn,
                tags=self.tags(f"{member.name}-data", role="postgres-data"),
                opts=self.child_opts(protect=args.protect),
            )
            aws.ec2.VolumeAttachment(
                self.child_name(f"{member.name}-data-attachment"),
                device_name=DATA_DEVICE,
                volume_id=volume.id,
                instance_id=instance.id,
                stop_instance_before_detaching=True,
                opts=self.child_opts(delete_before_replace=True),
            )
            self.instances.append(instance)

        self.load_balancer = aws.lb.LoadBalancer(
            self.child_name("nlb"),
            internal=True,
            load_balancer_type="network",
            subnets=list(args.subnet_ids.values()),
            security_groups=[args.lb_security_group_id],
            enable_cross_zone_load_balancing=True,
            enable_deletion_protection=args.protect,
            tags=self.tags("nlb"),
            opts=self.child_opts(),
        )
        check = topology.routing_check.value
        routes = {
            label: (port, getattr(PORTS, member_port), path)
            for label, (port, member_port, path) in client_routes(args.spec).items()
        }
        self.target_groups = {}
        for label, (listener_port, target_port, path) in routes.items():
            group = aws.lb.TargetGroup(
                self.child_name(TARGET_GROUP_SUFFIX[label]),
                port=target_port,
                protocol="TCP",
                target_type="instance",
                vpc_id=args.vpc_id,
                deregistration_delay=0,
                connection_termination=True,
                # Nodes see the client's address, so pg_hba can still tell allowlisted networks apart.
                preserve_client_ip="true",
                health_check=aws.lb.TargetGroupHealthCheckArgs(
                    enabled=True,
                    protocol="HTTPS",
                    port=str(PORTS.patroni_rest),
                    path=path,
                    interval=check.interval_seconds,
                    timeout=check.timeout_seconds,
                    healthy_threshold=check.rise,
                    unhealthy_threshold=check.fall,
                    matcher="200",
                ),
                tags=self.tags(f"{label}-tg"),
                opts=self.child_opts(renamed_from=[f"{label}-tg"]),
            )
            for member, instance in zip(args.spec.members, self.instances, strict=True):
                aws.lb.TargetGroupAttachment(
                    self.child_name(f"{label}-tg-{member.name}"),
                    target_group_arn=group.arn,
                    target_id=instance.id,
                    port=target_port,
                    opts=self.child_opts(),
                )
            aws.lb.Listener(
                self.child_name(f"{label}-listener"),
                load_balancer_arn=self.load_balancer.arn,
                port=listener_port,
                protocol="TCP",
                default_actions=[aws.lb.ListenerDefaultActionArgs(type="forward", target_group_arn=group.arn)],
                tags=self.tags(f"{label}-listener"),
                opts=self.child_opts(),
            )
            self.target_groups[label] = group

        aws.route53.Record(
            self.child_name("endpoint"),
            zone_id=args.private_zone_id,
            name=args.spec.router.host,
            type="A",
            aliases=[
                aws.route53.RecordAliasArgs(
                    name=self.load_balancer.dns_name, zone_id=self.load_balancer.zone_id, evaluate_target_health=True
                )
            ],
            opts=self.child_opts(),
        )
        self.endpoint = pulumi.Output.from_input(args.spec.router.host)
        self.member_ids = [i.id for i in self.instances]
        self.register_outputs(
            {
                "endpoint": self.endpoint,
                "instance_ids": [i.id for i in self.instances],
                "private_ips": [m.host for m in args.spec.members],
                "topology": topology.as_dict(),
            }
        )
