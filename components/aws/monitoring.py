"""Monitoring: a node running Prometheus, Alertmanager and Grafana from the data plane's rendered rules
and routing, plus CloudWatch alarms that still page when that node or a whole instance is gone."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Mapping, Sequence

import pulumi
import pulumi_aws as aws

from components.aws.userdata import compress_user_data
from components.base import PlatformComponent
from dataplane import cloud_init
from dataplane.model import ClusterSpec
from stacks.ports import PORTS
from stacks.settings import Receiver

DISK_FREE_ALARM_PERCENT = 5
MONITORING_VOLUME_GB = 50


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
    boot: pulumi.Input[cloud_init.MonitoringBoot]
    account_id: pulumi.Input[str]
    protect: bool
    tags: Mapping[str, str]


class Monitoring(PlatformComponent):
    def __init__(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aws", "Monitoring", name, args.tags, opts)
        user_data = pulumi.Output.from_input(args.boot).apply(
            lambda boot: compress_user_data(cloud_init.render_monitoring_user_data(args.spec, args.receivers, boot)))
        self.instance = aws.ec2.Instance(
            self.child_name("node"), ami=args.image_id, instance_type=args.instance_type, subnet_id=args.subnet_id,
            vpc_security_group_ids=[args.security_group_id], iam_instance_profile=args.instance_profile,
            associate_public_ip_address=False, user_data_base64=user_data, ebs_optimized=True, monitoring=True,
            metadata_options=aws.ec2.InstanceMetadataOptionsArgs(http_endpoint="enabled", http_tokens="required",
                                                                 http_put_response_hop_limit=1),
            root_block_device=aws.ec2.InstanceRootBlockDeviceArgs(volume_size=MONITORING_VOLUME_GB, volume_type="gp3",
                                                                  encrypted=True, kms_key_id=args.volume_key_arn),
            tags=self.tags("node", role="monitoring"), volume_tags=self.tags("node"), opts=self.child_opts())

        # CloudWatch may publish to an encrypted topic only if the key lets it: the AWS-managed SNS key does not.
        key = aws.kms.Key(self.child_name("alarms-key"), description=f"{name} alarm notifications",
                          enable_key_rotation=True, deletion_window_in_days=30,
                          policy=pulumi.Output.from_input(args.account_id).apply(_alarms_key_policy),
                          tags=self.tags("alarms-key"), opts=self.child_opts(protect=args.protect))
        self.topic = aws.sns.Topic(self.child_name("alarms"), kms_master_key_id=key.arn,
                                   tags=self.tags("alarms"), opts=self.child_opts())
        aws.sns.TopicPolicy(self.child_name("alarms-policy"), arn=self.topic.arn,
                            policy=pulumi.Output.all(self.topic.arn, args.account_id).apply(
                                lambda v: _alarms_topic_policy(v[0], v[1])), opts=self.child_opts())
        # E-mail only: an SNS "https" subscription must be confirmed by the endpoint and posts SNS envelopes,
        # which a generic webhook neither does nor reads. Webhook receivers get alerts from Alertmanager.
        for receiver in args.receivers:
            if receiver.email:
                aws.sns.TopicSubscription(self.child_name(f"alarms-{receiver.name}-email"), topic=self.topic.arn,
                                          protocol="email", endpoint=receiver.email, opts=self.child_opts())

        nodes = [(m.name, i) for m, i in zip(args.spec.members, args.instance_ids)] + [("monitoring", self.instance.id)]
        for label, instance_id in nodes:
            self._alarm(f"{label}-status-check", "AWS/EC2", "StatusCheckFailed", {"InstanceId": instance_id},
                        "Maximum", ">=", 1, 2, f"{label}: instance or system status check failing")
        for member, instance_id in zip(args.spec.members, args.instance_ids):
            # Published by the CloudWatch agent that cloud-init installs on every database node, with
            # exactly these dimensions (render_cloudwatch_agent_config).
            self._alarm(f"{member.name}-disk-free", cloud_init.CLOUDWATCH_NAMESPACE, cloud_init.CLOUDWATCH_DISK_METRIC,
                        {"InstanceId": instance_id, "path": cloud_init.NodeBoot.data_mount}, "Maximum", ">",
                        100 - DISK_FREE_ALARM_PERCENT, 2, f"{member.name}: less than {DISK_FREE_ALARM_PERCENT}% "
                        f"free on the data volume", missing="breaching")
        self._alarm("no-primary", "AWS/NetworkELB", "HealthyHostCount",
                    {"TargetGroup": args.write_target_group_arn_suffix, "LoadBalancer": args.load_balancer_arn_suffix},
                    "Maximum", "<", 1, 2, "no node answers /primary: writes are down", missing="breaching")

        # Grafana listens on the node's loopback only (dataplane/grafana.py): operators open it through SSM.
        self.grafana_url = pulumi.Output.concat(
            "aws ssm start-session --target ", self.instance.id, " --document-name AWS-StartPortForwardingSession "
            f"--parameters portNumber={PORTS.grafana},localPortNumber={PORTS.grafana}  # then http://localhost:{PORTS.grafana}")
        self.register_outputs({"grafana_url": self.grafana_url, "alarm_topic_arn": self.topic.arn,
                               "prometheus_url": self.instance.private_ip.apply(lambda ip: f"http://{ip}:{PORTS.prometheus}")})

    def _alarm(self, label: str, namespace: str, metric: str, dimensions: Mapping[str, pulumi.Input[str]],
               statistic: str, comparison: str, threshold: float, periods: int, description: str,
               missing: str = "missing") -> None:
        operator = {">=": "GreaterThanOrEqualToThreshold", ">": "GreaterThanThreshold", "<": "LessThanThreshold"}[comparison]
        aws.cloudwatch.MetricAlarm(
            self.child_name(label), namespace=namespace, metric_name=metric, dimensions=dict(dimensions),
            statistic=statistic, comparison_operator=operator, threshold=threshold, period=60,
            evaluation_periods=periods, datapoints_to_alarm=periods, treat_missing_data=missing,
            alarm_description=description, alarm_actions=[self.topic.arn], ok_actions=[self.topic.arn],
            tags=self.tags(label), opts=self.child_opts())


def _alarms_key_policy(account_id: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "AccountAdministers", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
         "Action": "kms:*", "Resource": "*"},
        {"Sid": "CloudWatchPublishes", "Effect": "Allow", "Principal": {"Service": "cloudwatch.amazonaws.com"},
         "Action": ["kms:Decrypt", "kms:GenerateDataKey*"], "Resource": "*",
         "Condition": {"StringEquals": {"aws:SourceAccount": account_id}}},
    ]})


def _alarms_topic_policy(topic_arn: str, account_id: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "CloudWatchAlarmsOfThisAccount", "Effect": "Allow", "Principal": {"Service": "cloudwatch.amazonaws.com"},
         "Action": "sns:Publish", "Resource": topic_arn,
         "Condition": {"StringEquals": {"aws:SourceAccount": account_id}}},
    ]})
