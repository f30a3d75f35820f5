"""Monitoring: a node running Prometheus, Alertmanager and Grafana from the data plane's rendered rules and
routing, plus Cloud Monitoring alert policies that still page when that node or a whole instance is gone.

Like the members, the node is booted once by cloud-init and replaced deliberately (`cluster.roll: [monitoring]`);
its history lives on a data disk that outlives the instance and is reattached to the replacement."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from components.gcp.base import GcpComponent
from components.gcp.cluster import (
    BOOT_DISK_GB,
    boot_disk_type,
    ignored_until_rolled,
    replaced_when_rolled,
    restarted_on_host_failure,
)
from components.gcp.spec import CLOUD_PLATFORM_SCOPE, monitoring_tag
from components.gcp.startup import node_metadata, render_startup_script
from dataplane.boot import monitoring as monitoring_boot
from dataplane.model import ClusterSpec
from stacks.ports import PORTS
from stacks.settings import Receiver

DISK_FREE_ALERT_PERCENT = 5
# Prometheus' TSDB (Debian's default retention, 15 days, for a few nodes) and Alertmanager's state.
MONITORING_DATA_GB = 50
DATA_DEVICE_NAME = "monitoring-data"
# Compute Engine reports uptime every minute; five minutes without it is a stopped or lost instance.
UPTIME_ABSENT = "300s"
ALIGNMENT = "60s"
DISK_DURATION = "120s"
# Written by the Ops Agent (components/gcp/startup.py installs it): per device, the share in each state.
DISK_METRIC = "agent.googleapis.com/disk/percent_used"
UPTIME_METRIC = "compute.googleapis.com/instance/uptime"


@dataclass(frozen=True)
class MonitoringArgs:
    spec: ClusterSpec
    receivers: Sequence[Receiver]
    zone: str
    subnet_id: pulumi.Input[str]
    service_account: pulumi.Input[str]
    image: str
    machine_type: str
    volume_key: pulumi.Input[str]  # the cluster's volume key (Compute Engine's agent already holds it)
    member_instance_ids: Sequence[pulumi.Input[str]]
    boot: pulumi.Input[monitoring_boot.MonitoringBoot]
    protect: bool
    tags: Mapping[str, str]
    boot_after: Sequence[pulumi.Resource] = ()
    disk_after: Sequence[pulumi.Resource] = ()
    rolling: bool = False


class Monitoring(GcpComponent):
    def __init__(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("gcp", "Monitoring", name, args.tags, opts)
        prefix = name.removesuffix("-monitoring")
        startup = render_startup_script({})
        metadata = (
            pulumi.Output.from_input(args.boot)
            .apply(lambda boot: monitoring_boot.render_monitoring_user_data(args.spec, args.receivers, boot))
            .apply(lambda text: node_metadata(text, startup))
        )
        self.data_disk = gcp.compute.Disk(
            self.child_name("data"),
            zone=args.zone,
            size=MONITORING_DATA_GB,
            type=boot_disk_type(args.machine_type),
            disk_encryption_key=gcp.compute.DiskDiskEncryptionKeyArgs(kms_key_self_link=args.volume_key),
            labels=self.labels(role="monitoring-data"),
            # The volume key's grant to Compute Engine's agent is the cluster's.
            opts=self.child_opts(protect=args.protect, depends_on=list(args.disk_after)),
        )
        self.instance = gcp.compute.Instance(
            self.child_name("node"),
            zone=args.zone,
            machine_type=args.machine_type,
            boot_disk=gcp.compute.InstanceBootDiskArgs(
                auto_delete=True,
                kms_key_self_link=args.volume_key,
                initialize_params=gcp.compute.InstanceBootDiskInitializeParamsArgs(
                    image=args.image,
                    size=BOOT_DISK_GB,
                    type=boot_disk_type(args.machine_type),
                    labels=self.labels(role="monitoring-boot"),
                ),
            ),
            attached_disks=[
                gcp.compute.InstanceAttachedDiskArgs(
                    source=self.data_disk.id, device_name=DATA_DEVICE_NAME, mode="READ_WRITE"
                )
            ],
            network_interfaces=[
                gcp.compute.InstanceNetworkInterfaceArgs(subnetwork=args.subnet_id, stack_type="IPV4_ONLY")
            ],
            service_account=gcp.compute.InstanceServiceAccountArgs(
                email=args.service_account, scopes=[CLOUD_PLATFORM_SCOPE]
            ),
            shielded_instance_config=gcp.compute.InstanceShieldedInstanceConfigArgs(
                enable_secure_boot=True, enable_vtpm=True, enable_integrity_monitoring=True
            ),
            scheduling=restarted_on_host_failure(),
            metadata=metadata,
            tags=[monitoring_tag(prefix)],
            labels=self.labels(role="monitoring"),
            allow_stopping_for_update=True,
            opts=self.child_opts(
                delete_before_replace=True,
                depends_on=list(args.boot_after),
                ignore_changes=ignored_until_rolled(args.rolling),
                replace_on_changes=replaced_when_rolled(args.rolling),
            ),
        )

        # E-mail only: a webhook channel keeps its URL (the receiver's token) in a plain label any monitoring
        # viewer reads; webhook receivers get alerts from Alertmanager, which reads the URL from Secret Manager.
        channels = [
            gcp.monitoring.NotificationChannel(
                self.child_name(f"{receiver.name}-email"),
                type="email",
                display_name=f"{prefix} {receiver.name}",
                labels={"email_address": receiver.email},
                user_labels=self.labels(),
                opts=self.child_opts(),
            ).id
            for receiver in args.receivers
            if receiver.email
        ]
        nodes = [(m.name, i) for m, i in zip(args.spec.members, args.member_instance_ids, strict=True)]
        for label, instance_id in [*nodes, ("monitoring", self.instance.instance_id)]:
            self._policy(
                f"{label}-uptime",
                f"{label}: no uptime reported (instance stopped or lost)",
                gcp.monitoring.AlertPolicyConditionArgs(
                    display_name=f"{label} reports no uptime",
                    condition_absent=gcp.monitoring.AlertPolicyConditionConditionAbsentArgs(
                        filter=pulumi.Output.concat(
                            f'metric.type = "{UPTIME_METRIC}" AND resource.type = "gce_instance" AND '
                            'resource.labels.instance_id = "',
                            instance_id,
                            '"',
                        ),
                        duration=UPTIME_ABSENT,
                        aggregations=[
                            gcp.monitoring.AlertPolicyConditionConditionAbsentAggregationArgs(
                                alignment_period=ALIGNMENT, per_series_aligner="ALIGN_RATE"
                            )
                        ],
                    ),
                ),
                channels,
            )
        for label, instance_id in nodes:
            self._policy(
                f"{label}-disk-free",
                f"{label}: less than {DISK_FREE_ALERT_PERCENT}% free on a disk",
                gcp.monitoring.AlertPolicyConditionArgs(
                    display_name=f"{label} disk used above {100 - DISK_FREE_ALERT_PERCENT}%",
                    condition_threshold=gcp.monitoring.AlertPolicyConditionConditionThresholdArgs(
                        filter=pulumi.Output.concat(
                            f'metric.type = "{DISK_METRIC}" AND metric.labels.state = "used" AND '
                            'resource.type = "gce_instance" AND resource.labels.instance_id = "',
                            instance_id,
                            '"',
                        ),
                        comparison="COMPARISON_GT",
                        threshold_value=100 - DISK_FREE_ALERT_PERCENT,
                        duration=DISK_DURATION,
                        aggregations=[
                            gcp.monitoring.AlertPolicyConditionConditionThresholdAggregationArgs(
                                alignment_period=ALIGNMENT, per_series_aligner="ALIGN_MAX"
                            )
                        ],
                    ),
                ),
                channels,
            )

        # Grafana listens on the node's loopback only (dataplane/grafana.py): operators reach it through IAP.
        self.node_id = self.instance.instance_id
        self.grafana_url = pulumi.Output.concat(
            "gcloud compute ssh ",
            self.instance.name,
            f" --zone {args.zone} --tunnel-through-iap -- -N -L {PORTS.grafana}:localhost:{PORTS.grafana}",
            f"  # then http://localhost:{PORTS.grafana}",
        )
        self.register_outputs(
            {
                "grafana_url": self.grafana_url,
                "prometheus_url": self.instance.network_interfaces.apply(
                    lambda nics: f"http://{nics[0].network_ip}:{PORTS.prometheus}"
                ),
            }
        )

    def _policy(
        self,
        label: str,
        summary: str,
        condition: gcp.monitoring.AlertPolicyConditionArgs,
        channels: list[pulumi.Output[str]],
    ) -> None:
        gcp.monitoring.AlertPolicy(
            self.child_name(label),
            display_name=f"{self._name} {summary}",
            combiner="OR",
            severity="CRITICAL",
            conditions=[condition],
            notification_channels=channels,
            documentation=gcp.monitoring.AlertPolicyDocumentationArgs(
                content=f"{summary}. See the runbooks in the platform's README.", mime_type="text/markdown"
            ),
            user_labels=self.labels(),
            opts=self.child_opts(),
        )
