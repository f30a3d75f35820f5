"""PostgresCluster: one VM per member in its zone, booted from the data plane's cloud-init, its data on a managed
disk that outlives the VM, every disk encrypted with the stage's key through a disk encryption set; and an
internal Standard Load Balancer that routes by Patroni's REST health checks."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_tls as tls
from pulumi_azure_native import authorization, compute, managedidentity, network, privatedns

from components.azure.spec import (
    KEY_VAULT_CRYPTO_SERVICE_ENCRYPTION_USER,
    arm_id,
    compress_custom_data,
    role_definition_id,
)
from components.base import PlatformComponent
from dataplane.boot import member as member_boot
from dataplane.boot.redirects import port_redirects
from dataplane.model import ClusterSpec, Member
from dataplane.routing import client_routes
from stacks.clouds.azure import ZONES
from stacks.clouds.model import Architecture
from stacks.ports import PORTS

OS_DISK_GB = 30
DATA_DISK_LUN = 0
ADMIN_USER = "pgpadmin"
# Debian's own marketplace images (publisher Debian): Gen2 for x86_64 (Trusted Launch needs Gen2), arm64 its own.
DEBIAN_IMAGE = {
    "x86_64": {"publisher": "Debian", "offer": "debian-12", "sku": "12-gen2", "version": "latest"},
    "arm64": {"publisher": "Debian", "offer": "debian-12", "sku": "12-arm64", "version": "latest"},
}
# Premium SSD v2 takes a provisioned throughput; 125 MB/s is its baseline, free with the disk.
PREMIUM_V2_BASELINE_MBPS = 125
# cloud-init runs once per VM: a changed image or custom data takes effect only on a replacement, which an
# operator rolls one member at a time (README, "Changing nodes"); custom data cannot change on a running VM.
# The VM size too: a resize deallocates or restarts the VM, which would take every member down in one `up`; rolled,
# a member alone is replaced onto the new size with its data disk reattached.
ROLLED_BY_OPERATOR = ["osProfile.customData", "storageProfile.imageReference", "hardwareProfile.vmSize"]
LB_FRONTEND = "frontend"
LB_POOL = "members"
IDLE_TIMEOUT_MINUTES = 30


def ignored_until_rolled(rolling: bool) -> list[str] | None:
    return None if rolling else ROLLED_BY_OPERATOR


def replaced_when_rolled(rolling: bool) -> list[str] | None:
    return ROLLED_BY_OPERATOR if rolling else None


def debian_image(architecture: Architecture) -> dict[str, str]:
    return dict(DEBIAN_IMAGE[architecture])


def security_profile() -> compute.SecurityProfileArgsDict:
    # Trusted Launch (secure boot, vTPM); encryption at host also encrypts the temp disk and caches.
    return {
        "security_type": "TrustedLaunch",
        "uefi_settings": {"secure_boot_enabled": True, "v_tpm_enabled": True},
        "encryption_at_host": True,
    }


@dataclass(frozen=True)
class PostgresClusterArgs:
    spec: ClusterSpec
    location: str
    subscription_id: str
    resource_group_name: str
    subnet_ids: Mapping[str, pulumi.Input[str]]  # zone -> private subnet id
    frontend_subnet_id: pulumi.Input[str]
    frontend_address: str
    identities: Mapping[str, pulumi.Input[str]]  # member -> its user-assigned identity's id
    vault_id: pulumi.Input[str]
    disk_key_id: pulumi.Input[str]  # the disk key's ARM id (the scope of the encryption set's role)
    disk_key_url: pulumi.Input[str]  # with its version, as a disk encryption set takes it
    image: Mapping[str, str]
    vm_size: str
    disk_size_gb: int
    disk_type: str
    disk_iops: int
    boots: Mapping[str, pulumi.Input[member_boot.NodeBoot]]  # member -> its boot (its identity's client id)
    private_zone_name: pulumi.Input[str]
    protect: bool
    tags: Mapping[str, str]
    boot_after: Sequence[pulumi.Resource] = ()
    rolling: frozenset[str] = frozenset()


def _custom_data(spec: ClusterSpec, member: Member, boot: member_boot.NodeBoot) -> str:
    return compress_custom_data(member_boot.render_node_user_data(spec, member, boot))


class PostgresCluster(PlatformComponent):
    def __init__(self, name: str, args: PostgresClusterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("azure", "PostgresCluster", name, args.tags, opts)
        self._args = args
        self.encryption_set = self._encryption_set(args)
        self.load_balancer = self._load_balancer(args)
        pool_id = f"{self._lb_id}/backendAddressPools/{LB_POOL}"
        # Nobody logs in with it: the key exists because Azure requires one for a Linux VM without a password.
        # Operators use Run Command through the VM agent.
        admin_key = tls.PrivateKey(self.child_name("admin-key"), algorithm="RSA", rsa_bits=4096, opts=self.child_opts())
        self.nodes = NodeFactory(
            resource_group_name=args.resource_group_name,
            location=args.location,
            encryption_set_id=self.encryption_set.id,
            admin_public_key=admin_key.public_key_openssh,
            protect=args.protect,
        )
        self.vms: list[compute.VirtualMachine] = []
        for member in args.spec.members:
            rolling = member.name in args.rolling
            nic = network.NetworkInterface(
                self.child_name(f"{member.name}-nic"),
                resource_group_name=args.resource_group_name,
                location=args.location,
                ip_configurations=[
                    {
                        "name": "primary",
                        "primary": True,
                        "subnet": {"id": args.subnet_ids[member.zone]},
                        "private_ip_allocation_method": "Static",
                        "private_ip_address": member.host,
                        "private_ip_address_version": "IPv4",
                        "load_balancer_backend_address_pools": [{"id": pool_id}],
                    }
                ],
                tags=self.tags(f"{member.name}-nic", role="postgres"),
                opts=self.child_opts(depends_on=[self.load_balancer]),
            )
            # The data disk outlives its VM: a VM can be replaced without losing the member's data.
            disk = self.nodes.data_disk(
                self, f"{member.name}-data", member.zone, args.disk_size_gb, args.disk_type, args.disk_iops
            )
            custom_data = pulumi.Output.from_input(args.boots[member.name]).apply(
                functools.partial(_custom_data, args.spec, member)
            )
            vm = self.nodes.vm(
                self,
                member.name,
                zone=member.zone,
                nic_id=nic.id,
                identity_id=args.identities[member.name],
                disk_id=disk.id,
                custom_data=custom_data,
                size=args.vm_size,
                rolling=rolling,
                boot_after=args.boot_after,
                role="postgres",
                image=args.image,
            )
            self.vms.append(vm)

        self._endpoint_record(args)
        self.endpoint = pulumi.Output.from_input(args.spec.router.host)
        self.member_ids = [vm.id for vm in self.vms]
        self.register_outputs(
            {
                "endpoint": self.endpoint,
                "vm_ids": self.member_ids,
                "private_ips": [m.host for m in args.spec.members],
                "frontend_address": args.frontend_address,
                "topology": args.spec.topology.as_dict(),
            }
        )

    def _encryption_set(self, args: PostgresClusterArgs) -> compute.DiskEncryptionSet:
        """Disks are encrypted with the stage's disk key, unwrapped by the set's own identity: the nodes'
        identities never hold a key role."""
        identity = managedidentity.UserAssignedIdentity(
            self.child_name("disk-identity"),
            resource_group_name=args.resource_group_name,
            location=args.location,
            tags=self.tags("disk-identity"),
            opts=self.child_opts(),
        )
        key_user = authorization.RoleAssignment(
            self.child_name("disk-key-user"),
            scope=args.disk_key_id,
            principal_id=identity.principal_id,
            principal_type="ServicePrincipal",
            role_definition_id=role_definition_id(args.subscription_id, KEY_VAULT_CRYPTO_SERVICE_ENCRYPTION_USER),
            opts=self.child_opts(),
        )
        # Logical name without hyphens: disk encryption set names are letters, digits and underscores.
        return compute.DiskEncryptionSet(
            self.child_name("disks").replace("-", "_"),
            resource_group_name=args.resource_group_name,
            location=args.location,
            encryption_type="EncryptionAtRestWithCustomerKey",
            active_key={"source_vault": {"id": args.vault_id}, "key_url": args.disk_key_url},
            rotation_to_latest_key_version_enabled=True,
            identity={"type": "UserAssigned", "user_assigned_identities": [identity.id]},
            tags=self.tags("disks"),
            opts=self.child_opts(protect=args.protect, depends_on=[key_user]),
        )

    @property
    def _lb_id(self) -> str:
        a = self._args
        return arm_id(
            a.subscription_id, a.resource_group_name, f"Microsoft.Network/loadBalancers/{self.child_name('lb')}"
        )

    def _load_balancer(self, args: PostgresClusterArgs) -> network.LoadBalancer:
        """One zone-redundant private frontend at a fixed address; a probe per route on Patroni's REST API
        (/primary for writes, /replica for reads), so a rule sends new connections to the members passing it."""
        check = args.spec.topology.routing_check.value
        frontend_id = f"{self._lb_id}/frontendIPConfigurations/{LB_FRONTEND}"
        pool_id = f"{self._lb_id}/backendAddressPools/{LB_POOL}"
        probes: list[network.ProbeArgsDict] = []
        rules: list[network.LoadBalancingRuleArgsDict] = []
        for label, (port, backend_port, path) in load_balancer_routes(args.spec).items():
            probes.append(
                {
                    "name": f"{label}-probe",
                    "protocol": "Https",
                    "port": PORTS.patroni_rest,
                    "request_path": path,
                    "interval_in_seconds": check.interval_seconds,
                    "probe_threshold": check.fall,
                }
            )
            rules.append(
                {
                    "name": label,
                    "protocol": "Tcp",
                    "frontend_port": port,
                    "backend_port": backend_port,
                    "frontend_ip_configuration": {"id": frontend_id},
                    "backend_address_pool": {"id": pool_id},
                    "probe": {"id": f"{self._lb_id}/probes/{label}-probe"},
                    "enable_floating_ip": False,
                    "enable_tcp_reset": True,
                    "idle_timeout_in_minutes": IDLE_TIMEOUT_MINUTES,
                    "disable_outbound_snat": True,
                    "load_distribution": "Default",
                }
            )
        return network.LoadBalancer(
            self.child_name("lb"),
            resource_group_name=args.resource_group_name,
            location=args.location,
            load_balancer_name=self.child_name("lb"),
            sku={"name": "Standard", "tier": "Regional"},
            frontend_ip_configurations=[
                {
                    "name": LB_FRONTEND,
                    "subnet": {"id": args.frontend_subnet_id},
                    "private_ip_allocation_method": "Static",
                    "private_ip_address": args.frontend_address,
                    "private_ip_address_version": "IPv4",
                    "zones": list(ZONES),  # zone-redundant: the endpoint survives a zone
                }
            ],
            backend_address_pools=[{"name": LB_POOL}],
            probes=probes,
            load_balancing_rules=rules,
            tags=self.tags("lb"),
            opts=self.child_opts(),
        )

    def _endpoint_record(self, args: PostgresClusterArgs) -> None:
        zone = args.spec.router.host.split(".", 1)[1]
        privatedns.PrivateRecordSet(
            self.child_name("endpoint"),
            resource_group_name=args.resource_group_name,
            private_zone_name=args.private_zone_name,
            record_type="A",
            relative_record_set_name=args.spec.router.host.removesuffix(f".{zone}"),
            ttl=30,
            a_records=[{"ipv4_address": args.frontend_address}],
            opts=self.child_opts(),
        )


@dataclass(frozen=True)
class NodeFactory:
    """One definition of a node's data disk and VM, for the members and the monitoring node alike: the resources
    are children of the component that asks (`owner`)."""

    resource_group_name: str
    location: str
    encryption_set_id: pulumi.Input[str]
    admin_public_key: pulumi.Input[str]
    protect: bool

    def data_disk(
        self, owner: PlatformComponent, label: str, zone: str, size_gb: int, disk_type: str, iops: int | None = None
    ) -> compute.Disk:
        premium_v2 = disk_type == "PremiumV2_LRS"
        return compute.Disk(
            owner.child_name(label),
            resource_group_name=self.resource_group_name,
            location=self.location,
            zones=[zone],
            sku={"name": disk_type},
            disk_size_gb=size_gb,
            disk_iops_read_write=iops if premium_v2 else None,
            disk_m_bps_read_write=PREMIUM_V2_BASELINE_MBPS if premium_v2 else None,
            creation_data={"create_option": "Empty"},
            encryption={
                "type": "EncryptionAtRestWithCustomerKey",
                "disk_encryption_set_id": self.encryption_set_id,
            },
            # No SAS export or import of the disk from any network.
            network_access_policy="DenyAll",
            public_network_access="Disabled",
            tags=owner.tags(label, role="data"),
            opts=owner.child_opts(protect=self.protect),
        )

    def vm(
        self,
        owner: PlatformComponent,
        label: str,
        *,
        zone: str,
        nic_id: pulumi.Input[str],
        identity_id: pulumi.Input[str],
        disk_id: pulumi.Input[str],
        custom_data: pulumi.Input[str],
        size: str,
        rolling: bool,
        boot_after: Sequence[pulumi.Resource],
        role: str,
        image: Mapping[str, str],
    ) -> compute.VirtualMachine:
        # Self-healing is the platform's here: when a host fails, Azure's service healing restarts the VM on a
        # healthy host of the same zone, with the same VM, NIC (and so private address) and managed disks, and a
        # member rejoins through Patroni. A single VM has nothing to switch on for it: automatic instance repairs
        # and the application health extension exist only for scale sets (docs/self-healing.md). The
        # VmAvailabilityMetric alert (Monitoring) pages while it happens.
        return compute.VirtualMachine(
            owner.child_name(label),
            resource_group_name=self.resource_group_name,
            location=self.location,
            vm_name=owner.child_name(label),
            zones=[zone],
            hardware_profile={"vm_size": size},
            identity={"type": compute.ResourceIdentityType.USER_ASSIGNED, "user_assigned_identities": [identity_id]},
            network_profile={"network_interfaces": [{"id": nic_id, "primary": True, "delete_option": "Detach"}]},
            os_profile={
                "computer_name": label,
                "admin_username": ADMIN_USER,
                "custom_data": custom_data,
                "linux_configuration": {
                    "disable_password_authentication": True,
                    "provision_vm_agent": True,
                    "ssh": {
                        "public_keys": [
                            {
                                "path": f"/home/{ADMIN_USER}/.ssh/authorized_keys",
                                "key_data": self.admin_public_key,
                            }
                        ]
                    },
                },
            },
            security_profile=security_profile(),
            storage_profile={
                "image_reference": {
                    "publisher": image["publisher"],
                    "offer": image["offer"],
                    "sku": image["sku"],
                    "version": image["version"],
                },
                "os_disk": {
                    "create_option": "FromImage",
                    "disk_size_gb": OS_DISK_GB,
                    "caching": compute.CachingTypes.READ_WRITE,
                    "delete_option": "Delete",
                    "managed_disk": {
                        "storage_account_type": "Premium_LRS",
                        "disk_encryption_set": {"id": self.encryption_set_id},
                    },
                },
                "data_disks": [
                    {
                        "lun": DATA_DISK_LUN,
                        "create_option": "Attach",
                        "managed_disk": {"id": disk_id},
                        "delete_option": "Detach",
                        "caching": compute.CachingTypes.NONE,
                    }
                ],
            },
            diagnostics_profile={"boot_diagnostics": {"enabled": True}},  # managed storage: the serial console
            tags=owner.tags(label, role=role, zone=zone),
            # The data disk is attached to one VM at a time: the old VM goes first.
            opts=owner.child_opts(
                ignore_changes=ignored_until_rolled(rolling),
                replace_on_changes=replaced_when_rolled(rolling),
                delete_before_replace=True,
                depends_on=list(boot_after),
            ),
        )


def load_balancer_routes(spec: ClusterSpec) -> dict[str, tuple[int, int, str]]:
    """Every client route of the data plane as the Standard LB carries it: (frontend port, backend port, probe
    path). The backend port is the client's port: Azure refuses two rules that send to the same backend port of
    one IP configuration without floating IP ("Multiple frontends for Azure Load Balancer"), and the read route
    (5433) is served by PostgreSQL's 5432 like the write route, so the member redirects it itself
    (dataplane/boot/redirects.py; `member_redirects`)."""
    return {label: (port, port, path) for label, (port, _, path) in client_routes(spec).items()}


def member_redirects(spec: ClusterSpec) -> tuple[tuple[int, int], ...]:
    """(client port, member port) for every route whose client port is not the port the member serves it on."""
    routes = {
        label: (port, getattr(PORTS, member_port)) for label, (port, member_port, _) in client_routes(spec).items()
    }
    return tuple(sorted(port_redirects(routes).items()))
