"""Monitoring: a VM running Prometheus, Alertmanager and Grafana from the data plane's rendered rules and routing
(its history on a managed disk that outlives the VM), plus Azure Monitor metric alerts that still page when that
VM, a member VM or the primary route is gone, through an action group mailing the receivers.

Free space on the data disks is alerted by Prometheus (node_exporter; dataplane/prometheus.py DiskFreeCritical at
the same 5 %): Azure's platform metrics for a VM carry no filesystem usage, which only the Azure Monitor Agent
reports (a VM extension and a data collection rule, not built here: docs/deploy-azure.md, "Alerts")."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi_azure_native import monitor, network

from components.azure.cluster import PostgresCluster
from components.azure.spec import compress_custom_data
from components.base import PlatformComponent
from dataplane.boot import monitoring as monitoring_boot
from dataplane.model import ClusterSpec
from stacks.ports import PORTS
from stacks.settings import Receiver

MONITORING_DATA_GB = 64  # Prometheus' TSDB (15 days for a few nodes) and Alertmanager's state
MONITORING_DISK_TYPE = "Premium_LRS"
ACTION_GROUP_SHORT_NAME_MAX = 12
VM_METRICS = "Microsoft.Compute/virtualMachines"
LB_METRICS = "Microsoft.Network/loadBalancers"


@dataclass(frozen=True)
class MonitoringArgs:
    spec: ClusterSpec
    stage: str
    receivers: Sequence[Receiver]
    location: str
    resource_group_name: str
    subnet_id: pulumi.Input[str]
    identity_id: pulumi.Input[str]
    image: Mapping[str, str]
    vm_size: str
    cluster: PostgresCluster  # its encryption set and VM factory, its VMs and load balancer to alert on
    boot: pulumi.Input[monitoring_boot.MonitoringBoot]
    zone: str
    tags: Mapping[str, str]
    protect: bool
    boot_after: Sequence[pulumi.Resource] = ()
    rolling: bool = False


class Monitoring(PlatformComponent):
    def __init__(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("azure", "Monitoring", name, args.tags, opts)
        cluster = args.cluster
        self._group = args.resource_group_name
        nic = network.NetworkInterface(
            self.child_name("nic"),
            resource_group_name=args.resource_group_name,
            location=args.location,
            ip_configurations=[
                {
                    "name": "primary",
                    "primary": True,
                    "subnet": {"id": args.subnet_id},
                    "private_ip_allocation_method": "Dynamic",
                }
            ],
            tags=self.tags("nic", role="monitoring"),
            opts=self.child_opts(),
        )
        # The cluster's factories keep one definition of a node's disk and VM (encryption set, image, Trusted
        # Launch, identity); the resources are still this component's children.
        self.data_disk = cluster.nodes.data_disk(self, "data", args.zone, MONITORING_DATA_GB, MONITORING_DISK_TYPE)
        custom_data = pulumi.Output.from_input(args.boot).apply(
            lambda boot: compress_custom_data(
                monitoring_boot.render_monitoring_user_data(args.spec, args.receivers, boot)
            )
        )
        self.vm = cluster.nodes.vm(
            self,
            "node",
            zone=args.zone,
            nic_id=nic.id,
            identity_id=args.identity_id,
            disk_id=self.data_disk.id,
            custom_data=custom_data,
            size=args.vm_size,
            rolling=args.rolling,
            boot_after=args.boot_after,
            role="monitoring",
            image=args.image,
        )

        emails = [r for r in args.receivers if r.email]
        # E-mail only: a webhook URL carries its token and would sit in the action group in plain text; webhook
        # receivers get alerts from Alertmanager, which reads their URLs from Key Vault.
        self.action_group = monitor.ActionGroup(
            self.child_name("alerts"),
            resource_group_name=args.resource_group_name,
            location="global",
            group_short_name=f"pgp-{args.stage}"[:ACTION_GROUP_SHORT_NAME_MAX],
            enabled=True,
            email_receivers=[
                {"name": r.name, "email_address": email, "use_common_alert_schema": True}
                for r in emails
                if (email := r.email)
            ],
            tags=self.tags("alerts"),
            opts=self.child_opts(),
        )
        nodes = [(m.name, vm) for m, vm in zip(args.spec.members, cluster.vms, strict=True)]
        nodes.append(("monitoring", self.vm))
        for label, vm in nodes:
            self._alert(
                f"{label}-available",
                vm.id,
                VM_METRICS,
                "VmAvailabilityMetric",
                "Average",
                "LessThan",
                1,
                f"{label}: the VM is not available (host or platform failure)",
                severity=1,
            )
        # DipAvailability is the health probe status per backend, in percent: below 1 at its maximum, no member
        # answers /primary and writes are down.
        write_port = args.spec.router.write_port
        self._alert(
            "no-primary",
            cluster.load_balancer.id,
            LB_METRICS,
            "DipAvailability",
            "Maximum",
            "LessThan",
            1,
            "no member answers /primary: writes are down",
            severity=0,
            dimensions=[{"name": "FrontendPort", "operator": "Include", "values": [str(write_port)]}],
        )

        # Grafana listens on the node's loopback only (dataplane/grafana.py).
        self.node_id = self.vm.id
        self.grafana_url = pulumi.Output.concat(
            f"http://localhost:{PORTS.grafana} through an SSH tunnel to ", self.vm.name, " (docs/deploy-azure.md)"
        )
        self.register_outputs({"grafana_url": self.grafana_url, "action_group_id": self.action_group.id})

    def _alert(
        self,
        label: str,
        scope: pulumi.Input[str],
        namespace: str,
        metric: str,
        aggregation: str,
        operator: str,
        threshold: float,
        description: str,
        *,
        severity: int,
        dimensions: list[dict[str, Any]] | None = None,
    ) -> None:
        # Args classes, not dicts: the criteria input is a union of types, and only a class tells the SDK which
        # one it is (a dict would reach ARM with its Python keys).
        criterion = monitor.MetricCriteriaArgs(
            criterion_type="StaticThresholdCriterion",
            name=metric,
            metric_name=metric,
            metric_namespace=namespace,
            operator=operator,
            threshold=threshold,
            time_aggregation=aggregation,
            dimensions=[monitor.MetricDimensionArgs(**d) for d in dimensions or []] or None,
        )
        monitor.MetricAlert(
            self.child_name(label),
            resource_group_name=self._group,
            location="global",
            description=description,
            severity=severity,
            enabled=True,
            scopes=[scope],
            evaluation_frequency="PT1M",
            window_size="PT5M",
            auto_mitigate=True,
            criteria=monitor.MetricAlertSingleResourceMultipleMetricCriteriaArgs(
                odata_type="Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria", all_of=[criterion]
            ),
            actions=[{"action_group_id": self.action_group.id}],
            tags=self.tags(label),
            opts=self.child_opts(),
        )
