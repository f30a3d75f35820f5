"""PostgresPlatform: composes the roles for the stack's cloud. It chooses and wires; it builds nothing itself."""
from __future__ import annotations

from typing import Callable

import pulumi
import pulumi_aws as aws

from components.aws.cluster import PostgresCluster, PostgresClusterArgs
from components.aws.identity import Identity, IdentityArgs
from components.aws.monitoring import Monitoring, MonitoringArgs
from components.aws.network import Network, NetworkArgs
from components.aws.post_provision import PostProvision, PostProvisionArgs
from components.aws.secrets import Secrets, SecretsArgs
from components.aws.vault import BackupVault, BackupVaultArgs
from components.base import TYPE_PREFIX
from components.spec import PRIVATE_ZONE, backup_bucket_name, cloud_cluster_spec
from dataplane import cloud_init, pgbackrest, roles
from dataplane.alertmanager import webhook_urls
from dataplane.model import APP_DATABASE, APP_READONLY_USER, APP_READWRITE_USER
from dataplane.routing import client_access
from stacks.settings import MONITORING_NODE, Settings
from stacks.topology import Topology

# Debian's own account publishes the official Debian 12 AMIs.
DEBIAN_AMI_OWNER = "136693071363"
DEBIAN_AMI_NAME = "debian-12-amd64-*"
# The Secrets Manager secret of each application login role (dataplane.model.SECRET_ENV names).
APP_ROLE_SECRETS = {APP_READWRITE_USER: "app-readwrite", APP_READONLY_USER: "app-readonly"}


class PostgresPlatform(pulumi.ComponentResource):
    endpoint: pulumi.Output[str]
    bucket: pulumi.Output[str]
    grafana_url: pulumi.Output[str]
    peering_connection_ids: dict[str, pulumi.Output[str]]
    # What an application needs to connect (dataplane.routing.client_access), without any password.
    client_access: dict
    ca_certificate: pulumi.Output[str]
    app_role_secret_ids: dict[str, pulumi.Output[str]]
    restore_role_arn: pulumi.Output[str]

    def __init__(self, name: str, settings: Settings, topology: Topology,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__(f"{TYPE_PREFIX}:index:PostgresPlatform", name, None, opts)
        builder = _BUILDERS[settings.cloud]
        builder(self, name, settings, topology)
        self.register_outputs({"endpoint": self.endpoint, "bucket": self.bucket, "grafana_url": self.grafana_url,
                               "peering_connection_ids": self.peering_connection_ids,
                               "client_access": self.client_access, "ca_certificate": self.ca_certificate,
                               "app_role_secret_ids": self.app_role_secret_ids,
                               "restore_role_arn": self.restore_role_arn})


def _build_aws(platform: PostgresPlatform, name: str, settings: Settings, topology: Topology) -> None:
    child = pulumi.ResourceOptions(parent=platform)
    invoke = pulumi.InvokeOptions(parent=platform)
    account_id = aws.get_caller_identity(opts=invoke).account_id
    image_id = aws.ec2.get_ami(most_recent=True, owners=[DEBIAN_AMI_OWNER], opts=invoke, filters=[
        aws.ec2.GetAmiFilterArgs(name="name", values=[DEBIAN_AMI_NAME]),
        aws.ec2.GetAmiFilterArgs(name="architecture", values=["x86_64"]),
    ]).id
    spec = cloud_cluster_spec(settings, topology, account_id)
    bucket_name = backup_bucket_name(settings, account_id)
    tags = dict(settings.tags)
    protect = topology.protect_stateful.value

    network = Network(f"{name}-network", NetworkArgs(
        cidr=settings.network.cidr, zones=settings.network.zones, subnet_cidrs=topology.subnet_cidrs.value,
        node_addresses=topology.node_addresses.value,
        egress_subnet_cidr=topology.egress_subnet_cidr.value, allowlist_cidrs=settings.network.allowlist.cidrs,
        allowlist_security_groups=settings.network.allowlist.security_groups, peers=settings.network.peers,
        region=settings.region, account_id=account_id, private_zone_name=PRIVATE_ZONE,
        backup_bucket=bucket_name, protect=protect, tags=tags), child)
    vault = BackupVault(f"{name}-vault", BackupVaultArgs(
        bucket_name=bucket_name, lock_mode=topology.lock_mode.value,
        lock_days=topology.lock_days.value, noncurrent_expiry_days=topology.noncurrent_version_expiry_days.value,
        protect=protect, account_id=account_id, tags=tags), child)
    secrets = Secrets(f"{name}-secrets", SecretsArgs(spec=spec, protect=protect, tags=tags,
                                                     webhooks=webhook_urls(settings.monitoring.receivers)), child)
    identity = Identity(f"{name}-identity", IdentityArgs(
        bucket_arn=vault.bucket.arn, backup_key_arn=vault.key.arn, secrets_key_arn=secrets.key.arn,
        shared_secret_arns=list(secrets.arns.values()), member_tls_secret_arns=secrets.tls_arns,
        account_id=account_id, tags=tags), child)

    # Uploads name the bucket's key explicitly, so a changed bucket default cannot silently weaken them.
    node_boot = pulumi.Output.all(secrets.arns, secrets.tls_arns, vault.key.arn).apply(
        lambda v: cloud_init.NodeBoot(region=settings.region, secret_arns=v[0], tls_secret_arns=v[1],
                                      bucket=spec.repositories[0].bucket, kms_key_id=v[2]))
    subnet_ids = dict(zip(settings.network.zones, network.subnet_ids))
    cluster = PostgresCluster(f"{name}-cluster", PostgresClusterArgs(
        spec=spec, vpc_id=network.vpc.id, subnet_ids=subnet_ids,
        node_security_group_id=network.node_sg.id, lb_security_group_id=network.lb_sg.id,
        instance_profiles={m: p.name for m, p in identity.node_profiles.items()}, image_id=image_id,
        instance_type=settings.cluster.instance_type, disk_size_gb=settings.cluster.disk_size_gb,
        disk_type=settings.cluster.disk_type, disk_iops=settings.cluster.disk_iops,
        boot=node_boot, protect=protect, tags=tags, private_zone_id=network.private_zone.id,
        # Nodes fetch secret values and use the bucket at boot: versions and bucket settings must exist first.
        boot_after=[identity, secrets, vault, network.egress_ready],
        rolling=frozenset(f"{settings.name}-{node}" for node in settings.cluster.roll if node != MONITORING_NODE)), child)

    post_provision = PostProvision(f"{name}-post-provision", PostProvisionArgs(
        region=settings.region, instance_ids=[i.id for i in cluster.instances],
        disk_size_gb=settings.cluster.disk_size_gb,
        role_sql=roles.render_role_sql(spec, variables_from_env=True),
        pgbackrest_config=pgbackrest.render_pgbackrest_conf(spec, spec.members[0]),
        tags=tags, after=[vault]), child)

    monitoring_zone = settings.network.zones[0]
    monitoring = Monitoring(f"{name}-monitoring", MonitoringArgs(
        spec=spec, receivers=settings.monitoring.receivers, subnet_id=subnet_ids[monitoring_zone],
        security_group_id=network.monitoring_sg.id, instance_profile=identity.monitoring_profile.name,
        image_id=image_id, instance_type=settings.cluster.monitoring_instance_type,
        volume_key_arn=cluster.volume_key.arn,
        instance_ids=[i.id for i in cluster.instances],
        write_target_group_arn_suffix=cluster.target_groups["write"].arn_suffix,
        load_balancer_arn_suffix=cluster.load_balancer.arn_suffix,
        boot=pulumi.Output.all(secrets.ca_cert_pem, secrets.webhook_arns).apply(lambda v: cloud_init.MonitoringBoot(
            region=settings.region, smtp_smarthost=settings.monitoring.smtp_smarthost,
            smtp_from=settings.monitoring.smtp_from, ca_cert_pem=v[0], webhook_secret_arns=v[1])),
        account_id=account_id, protect=protect, tags=tags, zone=monitoring_zone, region=settings.region,
        role_name=identity.monitoring_role.name, secrets_key_arn=secrets.key.arn,
        webhook_secret_arns=secrets.webhook_arns, boot_after=[secrets, network.egress_ready],
        rolling=MONITORING_NODE in settings.cluster.roll,
        no_primary_after=[post_provision.roles]), child)

    platform.peering_connection_ids = {p.name: c.id for p, c in zip(settings.network.peers, network.peering_connections)}
    platform.endpoint = cluster.endpoint
    platform.client_access = client_access(spec, APP_DATABASE, {"write": APP_READWRITE_USER, "read": APP_READONLY_USER})
    platform.ca_certificate = secrets.ca_cert_pem
    platform.app_role_secret_ids = {user: secrets.arns[secret] for user, secret in APP_ROLE_SECRETS.items()}
    platform.restore_role_arn = identity.restore_role.arn
    platform.bucket = vault.bucket.bucket
    platform.grafana_url = monitoring.grafana_url


_BUILDERS: dict[str, Callable[[PostgresPlatform, str, Settings, Topology], None]] = {"aws": _build_aws}
