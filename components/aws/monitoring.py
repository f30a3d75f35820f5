"""Monitoring: a node running Prometheus, Alertmanager and Grafana from the data plane's rendered rules
and routing, plus CloudWatch alarms that still page when that node or a whole instance is gone.

Like the members, the node is booted once by cloud-init and replaced deliberately (`cluster.roll: [monitoring]`) to
take a new image or new user data; its history (Prometheus' TSDB, Alertmanager's silences and notification log)
lives on a data volume that outlives the instance and is reattached to the replacement."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.aws.cluster import DATA_DEVICE, ignored_until_rolled, maintenance_options
from components.aws.userdata import compress_user_data
from components.base import PlatformComponent
from dataplane.boot import aws as aws_boot
from dataplane.boot import monitoring as monitoring_boot
from dataplane.boot.member import MEMBER_DATA_MOUNT
from dataplane.model import ClusterSpec
from stacks.ports import PORTS
from stacks.settings import Receiver

DISK_FREE_ALARM_PERCENT = 5
# Minutes of failing status checks before EC2 acts. Recovery moves the instance to new hardware, so two minutes
# rule out a single missed probe; a reboot interrupts a node that may only be slow, so it waits one more.
SYSTEM_CHECK_PERIODS = 2
INSTANCE_CHECK_PERIODS = 3
EC2_ALARM_ACTIONS = ("recover", "reboot")
MONITORING_ROOT_GB = 20
# Prometheus' TSDB (Debian's default retention, 15 days, for a few nodes) and Alertmanager's state.
MONITORING_DATA_GB = 50


@dataclass(frozen=True)
class MonitoringArgs:
    spec: ClusterSpec
    receivers: Sequence[Receiver]
    subnet_id: pulumi.Input[str]
    security_group_id: pulumi.Input[str]
    instance_profile: pulumi.Input[str]
    image_id: pulumi.Input[str]
    instance_type: str
    volume_key_arn: pulumi.Input[str]
    instance_ids: Sequence[pulumi.Input[str]]
    write_target_group_arn_suffix: pulumi.Input[str]
    load_balancer_arn_suffix: pulumi.Input[str]
    boot: pulumi.Input[monitoring_boot.MonitoringBoot]
    account_id: pulumi.Input[str]
    protect: bool
    tags: Mapping[str, str]
    zone: str  # the subnet's zone: the data volume must be there
    region: str
    role_name: pulumi.Input[str]  # the monitoring node's role (Identity)
    secrets_key_arn: pulumi.Input[str]  # the key the webhook secrets are encrypted with
    webhook_secret_arns: Mapping[str, pulumi.Input[str]] = dataclasses.field(default_factory=dict)
    # What the node reads at boot (the webhook secrets' versions): the instance waits for it.
    boot_after: Sequence[pulumi.Resource] = ()
    rolling: bool = False  # replaced onto the current image and user data by this `up`
    # The "no primary" alarm is created only after these (the post-provision steps, which wait for a leader),
    # so it does not page while the first cluster bootstraps.
    no_primary_after: Sequence[pulumi.Resource] = ()


class Monitoring(PlatformComponent):
    def __init__(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aws", "Monitoring", name, args.tags, opts)
        user_data = pulumi.Output.from_input(args.boot).apply(
            lambda boot: compress_user_data(
                monitoring_boot.render_monitoring_user_data(args.spec, args.receivers, boot)
            )
        )
        boot_after = list(args.boot_after)
        if args.webhook_secret_arns:
            # Exactly the webhook secrets, and their key only through Secrets Manager for those secrets.
            boot_after.append(
                aws.iam.RolePolicy(
                    self.child_name("webhook-secrets-policy"),
                    role=args.role_name,
                    policy=pulumi.Output.all(args.secrets_key_arn, *args.webhook_secret_arns.values()).apply(
                        lambda v: webhook_secrets_policy(v[1:], v[0], args.region)
                    ),
                    opts=self.child_opts(),
                )
            )
        self.instance = aws.ec2.Instance(
            self.child_name("node"),
            ami=args.image_id,
            instance_type=args.instance_type,
            subnet_id=args.subnet_id,
            vpc_security_group_ids=[args.security_group_id],
            iam_instance_profile=args.instance_profile,
            associate_public_ip_address=False,
            user_data_base64=user_data,
            user_data_replace_on_change=args.rolling,
            ebs_optimized=True,
            monitoring=True,
            metadata_options=aws.ec2.InstanceMetadataOptionsArgs(
                http_endpoint="enabled", http_tokens="required", http_put_response_hop_limit=1
            ),
            # Recovered onto new hardware with its id, address and volumes when its host fails, as the members are.
            maintenance_options=maintenance_options(),
            # Root tags, not volume_tags: the provider reads volume_tags from every attached volume, so they would
            # fight the data volume's own tags on every update.
            root_block_device=aws.ec2.InstanceRootBlockDeviceArgs(
                volume_size=MONITORING_ROOT_GB,
                volume_type="gp3",
                encrypted=True,
                kms_key_id=args.volume_key_arn,
                tags=self.tags("node-root"),
            ),
            tags=self.tags("node", role="monitoring"),
            # A new Debian image or changed user data would otherwise replace the node on the next `up`; it is
            # rolled deliberately instead, as the members are (README, "Changing nodes").
            opts=self.child_opts(ignore_changes=ignored_until_rolled(args.rolling), depends_on=boot_after),
        )
        self.data_volume = aws.ebs.Volume(
            self.child_name("data"),
            availability_zone=args.zone,
            size=MONITORING_DATA_GB,
            type="gp3",
            encrypted=True,
            kms_key_id=args.volume_key_arn,
            tags=self.tags("data", role="monitoring-data"),
            opts=self.child_opts(protect=args.protect),
        )
        # Detached before a replacement attaches it (a volume has one instance at a time).
        aws.ec2.VolumeAttachment(
            self.child_name("data-attachment"),
            device_name=DATA_DEVICE,
            volume_id=self.data_volume.id,
            instance_id=self.instance.id,
            stop_instance_before_detaching=True,
            opts=self.child_opts(delete_before_replace=True),
        )

        # CloudWatch may publish to an encrypted topic only if the key lets it: the AWS-managed SNS key does not.
        key = aws.kms.Key(
            self.child_name("alarms-key"),
            description=f"{name} alarm notifications",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=pulumi.Output.from_input(args.account_id).apply(_alarms_key_policy),
            tags=self.tags("alarms-key"),
            opts=self.child_opts(protect=args.protect),
        )
        self.topic = aws.sns.Topic(
            self.child_name("alarms"), kms_master_key_id=key.arn, tags=self.tags("alarms"), opts=self.child_opts()
        )
        aws.sns.TopicPolicy(
            self.child_name("alarms-policy"),
            arn=self.topic.arn,
            policy=pulumi.Output.all(self.topic.arn, args.account_id).apply(lambda v: _alarms_topic_policy(v[0], v[1])),
            opts=self.child_opts(),
        )
        # E-mail only: an SNS "https" subscription must be confirmed by the endpoint and posts SNS envelopes,
        # which a generic webhook neither does nor reads. Webhook receivers get alerts from Alertmanager.
        for receiver in args.receivers:
            if receiver.email:
                aws.sns.TopicSubscription(
                    self.child_name(f"alarms-{receiver.name}-email"),
                    topic=self.topic.arn,
                    protocol="email",
                    endpoint=receiver.email,
                    opts=self.child_opts(),
                )

        nodes = [(m.name, i) for m, i in zip(args.spec.members, args.instance_ids, strict=True)] + [
            ("monitoring", self.instance.id)
        ]
        for label, instance_id in nodes:
            # The host failed (power, network, hardware): EC2 recovers the instance onto new hardware with its id,
            # private address and EBS volumes, and a member rejoins the cluster as itself.
            self._alarm(
                f"{label}-system-check",
                "AWS/EC2",
                "StatusCheckFailed_System",
                {"InstanceId": instance_id},
                "Maximum",
                ">=",
                1,
                SYSTEM_CHECK_PERIODS,
                f"{label}: system status check failing; EC2 recovers the instance onto new hardware",
                ec2_actions=[ec2_alarm_action(args.region, "recover")],
            )
            # The host is fine but the operating system does not answer (kernel hang, exhausted memory): a reboot
            # keeps the instance where it is, and Patroni rejoins it as a replica once it is back.
            self._alarm(
                f"{label}-instance-check",
                "AWS/EC2",
                "StatusCheckFailed_Instance",
                {"InstanceId": instance_id},
                "Maximum",
                ">=",
                1,
                INSTANCE_CHECK_PERIODS,
                f"{label}: instance status check failing; EC2 reboots the instance",
                ec2_actions=[ec2_alarm_action(args.region, "reboot")],
            )
        for member, instance_id in zip(args.spec.members, args.instance_ids, strict=True):
            # Published by the CloudWatch agent that cloud-init installs on every database node, with
            # exactly these dimensions (render_cloudwatch_agent_config).
            self._alarm(
                f"{member.name}-disk-free",
                aws_boot.CLOUDWATCH_NAMESPACE,
                aws_boot.CLOUDWATCH_DISK_METRIC,
                {"InstanceId": instance_id, "path": MEMBER_DATA_MOUNT},
                "Maximum",
                ">",
                100 - DISK_FREE_ALARM_PERCENT,
                2,
                f"{member.name}: less than {DISK_FREE_ALARM_PERCENT}% "
                # No data is not a full disk: the agent reports only once cloud-init installed it
                # (first boot, every replacement); a dead node is the status check's and Prometheus' case.
                f"free on the data volume",
                missing="notBreaching",
            )
        # Missing data here means no metric from the load balancer at all: treated as no primary. Created only
        # after the post-provision steps, which run once a leader exists, so the first bootstrap (no node
        # answers /primary until Patroni elected one) does not page.
        self._alarm(
            "no-primary",
            "AWS/NetworkELB",
            "HealthyHostCount",
            {"TargetGroup": args.write_target_group_arn_suffix, "LoadBalancer": args.load_balancer_arn_suffix},
            "Maximum",
            "<",
            1,
            2,
            "no node answers /primary: writes are down",
            missing="breaching",
            depends_on=list(args.no_primary_after),
        )

        # Grafana listens on the node's loopback only (dataplane/grafana.py): operators open it through SSM.
        self.node_id = self.instance.id
        self.grafana_url = pulumi.Output.concat(
            "aws ssm start-session --target ",
            self.instance.id,
            " --document-name AWS-StartPortForwardingSession "
            f"--parameters portNumber={PORTS.grafana},localPortNumber={PORTS.grafana}  # then http://localhost:{PORTS.grafana}",
        )
        self.register_outputs(
            {
                "grafana_url": self.grafana_url,
                "alarm_topic_arn": self.topic.arn,
                "prometheus_url": self.instance.private_ip.apply(lambda ip: f"http://{ip}:{PORTS.prometheus}"),
            }
        )

    def _alarm(
        self,
        label: str,
        namespace: str,
        metric: str,
        dimensions: Mapping[str, pulumi.Input[str]],
        statistic: str,
        comparison: str,
        threshold: float,
        periods: int,
        description: str,
        missing: str = "missing",
        depends_on: list[pulumi.Resource] | None = None,
        ec2_actions: Sequence[str] = (),
    ) -> None:
        operator = {">=": "GreaterThanOrEqualToThreshold", ">": "GreaterThanThreshold", "<": "LessThanThreshold"}[
            comparison
        ]
        aws.cloudwatch.MetricAlarm(
            self.child_name(label),
            namespace=namespace,
            metric_name=metric,
            dimensions=dict(dimensions),
            statistic=statistic,
            comparison_operator=operator,
            threshold=threshold,
            period=60,
            evaluation_periods=periods,
            datapoints_to_alarm=periods,
            treat_missing_data=missing,
            alarm_description=description,
            # EC2 actions run on the way into ALARM only; the topic hears both ways.
            alarm_actions=[self.topic.arn, *ec2_actions],
            ok_actions=[self.topic.arn],
            tags=self.tags(label),
            opts=self.child_opts(depends_on=depends_on),
        )


def ec2_alarm_action(region: str, action: str) -> str:
    """The ARN CloudWatch takes as an alarm action that acts on the alarm's instance (its InstanceId dimension);
    CloudWatch performs it through its service-linked role AWSServiceRoleForCloudWatchEvents."""
    if action not in EC2_ALARM_ACTIONS:
        raise ValueError(f"{action!r} is not one of the EC2 alarm actions the platform uses {EC2_ALARM_ACTIONS}")
    return f"arn:aws:automate:{region}:ec2:{action}"


def webhook_secrets_policy(secret_arns: Sequence[str], key_arn: str, region: str) -> str:
    """The monitoring node reads its receivers' webhook URLs and nothing else: GetSecretValue on exactly those
    secrets, and the secrets key only as Secrets Manager uses it to decrypt one of them."""
    arns = sorted(secret_arns)
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "WebhookSecrets",
                    "Effect": "Allow",
                    "Action": ["secretsmanager:GetSecretValue"],
                    "Resource": arns,
                },
                {
                    "Sid": "WebhookSecretsKey",
                    "Effect": "Allow",
                    "Action": ["kms:Decrypt"],
                    "Resource": [key_arn],
                    "Condition": {
                        "StringEquals": {
                            "kms:ViaService": f"secretsmanager.{region}.amazonaws.com",
                            "kms:EncryptionContext:SecretARN": arns,
                        }
                    },
                },
            ],
        }
    )


def _alarms_key_policy(account_id: str) -> str:
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
                    "Sid": "CloudWatchPublishes",
                    "Effect": "Allow",
                    "Principal": {"Service": "cloudwatch.amazonaws.com"},
                    "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                    "Resource": "*",
                    "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
                },
            ],
        }
    )


def _alarms_topic_policy(topic_arn: str, account_id: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "CloudWatchAlarmsOfThisAccount",
                    "Effect": "Allow",
                    "Principal": {"Service": "cloudwatch.amazonaws.com"},
                    "Action": "sns:Publish",
                    "Resource": topic_arn,
                    "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
                },
            ],
        }
    )
