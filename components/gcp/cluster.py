"""PostgresCluster: one Compute Engine node per member in its zone, each booted from the data plane's
cloud-config, and an internal passthrough Network Load Balancer that routes by Patroni's REST health checks."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from components.gcp.base import GcpComponent
from components.gcp.spec import CLOUD_PLATFORM_SCOPE, member_tag
from components.gcp.startup import node_metadata, render_startup_script
from components.gcp.vault import ENCRYPTER_DECRYPTER
from dataplane.boot import member as member_boot
from dataplane.boot.redirects import port_redirects
from dataplane.model import ClusterSpec, Member
from dataplane.routing import client_routes
from stacks.clouds.gcp import disk_type_problem
from stacks.ports import PORTS

BOOT_DISK_GB = 20
DATA_DEVICE_NAME = "pgdata"
ROTATION = f"{90 * 86_400}s"
ENDPOINT_TTL = 30
# cloud-init runs once per instance: a changed image or user data takes effect only on a replacement, which an
# operator rolls one member at a time (README, "Changing nodes"). A metadata change would otherwise update the
# node in place and do nothing; on the `up` that rolls a node, a changed boot replaces it.
# The machine type too: Compute Engine changes it by stopping the VM (allow_stopping_for_update), which would stop
# every member in one `up`; rolled, a member alone is resized with its data disk kept.
ROLLED_BY_OPERATOR = ["metadata", "bootDisk.initializeParams.image", "machineType"]


def restarted_on_host_failure() -> gcp.compute.InstanceSchedulingArgs:
    """Compute Engine's self-healing for a VM outside a managed group: live migration through host maintenance,
    and when the host fails, the same instance started on another host with its disks, internal address and
    metadata (automatic restart), so a member rejoins as itself. Spot VMs are stopped instead, hence STANDARD.
    A guest that hangs with its host healthy is not restarted (only a managed group's autohealing would); the
    uptime alert pages for it."""
    return gcp.compute.InstanceSchedulingArgs(
        on_host_maintenance="MIGRATE", automatic_restart=True, provisioning_model="STANDARD"
    )


def ignored_until_rolled(rolling: bool) -> list[str] | None:
    return None if rolling else ROLLED_BY_OPERATOR


def replaced_when_rolled(rolling: bool) -> list[str] | None:
    return ["metadata"] if rolling else None


def boot_disk_type(machine_type: str) -> str:
    """C4, C4A and N4 attach Hyperdisk only; the others boot from a balanced persistent disk."""
    return "hyperdisk-balanced" if disk_type_problem(machine_type, "pd-balanced") else "pd-balanced"


@dataclass(frozen=True)
class PostgresClusterArgs:
    spec: ClusterSpec
    region: str
    network_id: pulumi.Input[str]
    subnet_ids: Mapping[str, pulumi.Input[str]]  # zone -> private subnet id
    member_addresses: Mapping[str, pulumi.Input[str]]  # member address -> its reserved address
    service_accounts: Mapping[str, pulumi.Input[str]]  # member name -> its service account's email
    image: str
    machine_type: str
    disk_size_gb: int
    disk_type: str
    disk_iops: int
    boot: pulumi.Input[member_boot.NodeBoot]
    compute_agent: pulumi.Input[str]  # Compute Engine's service agent encrypts the disks with the volume key
    private_zone: pulumi.Input[str]  # the Cloud DNS managed zone's name
    protect: bool
    tags: Mapping[str, str]
    boot_after: Sequence[pulumi.Resource] = ()
    rolling: frozenset[str] = frozenset()


def _user_data(spec: ClusterSpec, member: Member, boot: member_boot.NodeBoot) -> str:
    return member_boot.render_node_user_data(spec, member, boot)


class PostgresCluster(GcpComponent):
    def __init__(self, name: str, args: PostgresClusterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("gcp", "PostgresCluster", name, args.tags, opts)
        topology = args.spec.topology
        prefix = name.removesuffix("-cluster")
        # Disks get their own key: the backups' key must not open every disk too.
        key_ring = gcp.kms.KeyRing(
            self.child_name("volumes-keyring"), location=args.region, opts=self.child_opts(protect=args.protect)
        )
        self.volume_key = gcp.kms.CryptoKey(
            self.child_name("volumes-key"),
            key_ring=key_ring.id,
            purpose="ENCRYPT_DECRYPT",
            rotation_period=ROTATION,
            labels=self.labels(purpose="volumes"),
            opts=self.child_opts(protect=args.protect),
        )
        self.key_grant = key_grant = gcp.kms.CryptoKeyIAMMember(
            self.child_name("volumes-key-compute-agent"),
            crypto_key_id=self.volume_key.id,
            role=ENCRYPTER_DECRYPTER,
            member=pulumi.Output.concat("serviceAccount:", args.compute_agent),
            opts=self.child_opts(),
        )
        routes = {
            label: (port, getattr(PORTS, member_port), path)
            for label, (port, member_port, path) in client_routes(args.spec).items()
        }
        startup = render_startup_script(port_redirects({k: (c, m) for k, (c, m, _) in routes.items()}))
        self.instances: list[gcp.compute.Instance] = []
        for member in args.spec.members:
            # The data disk outlives its instance: a node is replaced without losing the member's data.
            disk = gcp.compute.Disk(
                self.child_name(f"{member.name}-data"),
                zone=member.zone,
                size=args.disk_size_gb,
                type=args.disk_type,
                provisioned_iops=args.disk_iops if args.disk_type == "hyperdisk-balanced" else None,
                disk_encryption_key=gcp.compute.DiskDiskEncryptionKeyArgs(kms_key_self_link=self.volume_key.id),
                labels=self.labels(role="postgres-data"),
                opts=self.child_opts(protect=args.protect, depends_on=[key_grant]),
            )
            user_data = pulumi.Output.from_input(args.boot).apply(functools.partial(_user_data, args.spec, member))
            instance = gcp.compute.Instance(
                self.child_name(member.name),
                zone=member.zone,
                machine_type=args.machine_type,
                boot_disk=gcp.compute.InstanceBootDiskArgs(
                    auto_delete=True,
                    kms_key_self_link=self.volume_key.id,
                    initialize_params=gcp.compute.InstanceBootDiskInitializeParamsArgs(
                        image=args.image,
                        size=BOOT_DISK_GB,
                        type=boot_disk_type(args.machine_type),
                        labels=self.labels(role="postgres-boot"),
                    ),
                ),
                attached_disks=[
                    gcp.compute.InstanceAttachedDiskArgs(
                        source=disk.id, device_name=DATA_DEVICE_NAME, mode="READ_WRITE"
                    )
                ],
                # No access_configs: the node has no external address; packages come through Cloud NAT.
                network_interfaces=[
                    gcp.compute.InstanceNetworkInterfaceArgs(
                        subnetwork=args.subnet_ids[member.zone],
                        network_ip=args.member_addresses[member.host],
                        stack_type="IPV4_ONLY",
                    )
                ],
                service_account=gcp.compute.InstanceServiceAccountArgs(
                    email=args.service_accounts[member.name], scopes=[CLOUD_PLATFORM_SCOPE]
                ),
                shielded_instance_config=gcp.compute.InstanceShieldedInstanceConfigArgs(
                    enable_secure_boot=True, enable_vtpm=True, enable_integrity_monitoring=True
                ),
                scheduling=restarted_on_host_failure(),
                metadata=user_data.apply(lambda text: node_metadata(text, startup)),
                tags=[member_tag(prefix)],
                labels=self.labels(role="postgres", zone=member.zone),
                # Replaceable even in prod (the data lives on its protected disk): Compute Engine refuses to delete
                # a protected instance, so a rolled member could never be replaced.
                deletion_protection=False,
                allow_stopping_for_update=True,
                # The fixed address and the data disk are held until the old instance is gone.
                opts=self.child_opts(
                    delete_before_replace=True,
                    depends_on=list(args.boot_after),
                    ignore_changes=ignored_until_rolled(member.name in args.rolling),
                    replace_on_changes=replaced_when_rolled(member.name in args.rolling),
                ),
            )
            self.instances.append(instance)

        # Unmanaged groups, one per zone with members: a backend service balances over groups, not instances.
        groups = []
        for zone in dict.fromkeys(m.zone for m in args.spec.members):
            groups.append(
                gcp.compute.InstanceGroup(
                    self.child_name(f"group-{zone.rsplit('-', 1)[1]}"),
                    zone=zone,
                    network=args.network_id,
                    instances=[
                        i.self_link for m, i in zip(args.spec.members, self.instances, strict=True) if m.zone == zone
                    ],
                    description=f"{name}: members in {zone}",
                    opts=self.child_opts(),
                )
            )
        first_subnet = next(iter(args.subnet_ids.values()))
        # One address for every route, so one name (and one certificate name) serves all client ports.
        self.address = gcp.compute.Address(
            self.child_name("endpoint-address"),
            address_type="INTERNAL",
            purpose="SHARED_LOADBALANCER_VIP",
            subnetwork=first_subnet,
            region=args.region,
            description=f"{name}: the routed endpoint",
            labels=self.labels(),
            opts=self.child_opts(),
        )
        check = topology.routing_check.value
        self.backend_services = {}
        for label, (client_port, _, path) in routes.items():
            # Patroni serves its REST API over TLS; the checker does not verify the certificate, the status decides.
            health = gcp.compute.RegionHealthCheck(
                self.child_name(f"{label}-check"),
                region=args.region,
                https_health_check=gcp.compute.RegionHealthCheckHttpsHealthCheckArgs(
                    port=PORTS.patroni_rest, request_path=path
                ),
                check_interval_sec=check.interval_seconds,
                timeout_sec=check.timeout_seconds,
                healthy_threshold=check.rise,
                unhealthy_threshold=check.fall,
                description=f"{name}: Patroni {path}",
                opts=self.child_opts(),
            )
            backend = gcp.compute.RegionBackendService(
                self.child_name(label),
                region=args.region,
                network=args.network_id,
                load_balancing_scheme="INTERNAL",
                protocol="TCP",
                health_checks=health.id,
                backends=[
                    gcp.compute.RegionBackendServiceBackendArgs(group=g.self_link, balancing_mode="CONNECTION")
                    for g in groups
                ],
                session_affinity="NONE",
                connection_draining_timeout_sec=0,
                # A demoted primary's connections are cut, not kept on the node that lost its lease.
                connection_tracking_policy=gcp.compute.RegionBackendServiceConnectionTrackingPolicyArgs(
                    connection_persistence_on_unhealthy_backends="NEVER_PERSIST"
                ),
                description=f"{name}: {label} route",
                opts=self.child_opts(),
            )
            gcp.compute.ForwardingRule(
                self.child_name(f"{label}-rule"),
                region=args.region,
                load_balancing_scheme="INTERNAL",
                ip_protocol="TCP",
                ip_address=self.address.address,
                ports=[str(client_port)],
                network=args.network_id,
                subnetwork=first_subnet,
                backend_service=backend.id,
                allow_global_access=False,
                labels=self.labels(route=label),
                opts=self.child_opts(),
            )
            self.backend_services[label] = backend

        gcp.dns.RecordSet(
            self.child_name("endpoint"),
            managed_zone=args.private_zone,
            name=f"{args.spec.router.host}.",
            type="A",
            ttl=ENDPOINT_TTL,
            rrdatas=[self.address.address],
            opts=self.child_opts(),
        )
        self.endpoint = pulumi.Output.from_input(args.spec.router.host)
        self.member_ids = [i.instance_id for i in self.instances]
        self.register_outputs(
            {
                "endpoint": self.endpoint,
                "instance_ids": self.member_ids,
                "private_ips": [m.host for m in args.spec.members],
                "topology": topology.as_dict(),
            }
        )
