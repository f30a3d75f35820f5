"""The AWS build: the six roles on EC2, S3, Secrets Manager, IAM and CloudWatch, wired in boot order."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from components.aws.cluster import PostgresCluster, PostgresClusterArgs
from components.aws.identity import Identity, IdentityArgs
from components.aws.monitoring import Monitoring, MonitoringArgs
from components.aws.network import Network, NetworkArgs
from components.aws.post_provision import PostProvision, PostProvisionArgs
from components.aws.secrets import Secrets, SecretsArgs
from components.aws.spec import s3_repository
from components.aws.vault import BackupVault, BackupVaultArgs
from components.contracts import PlatformOutputs, intents, platform_outputs
from components.spec import cluster_spec, running_sizes
from dataplane import configure, pgbackrest, roles
from dataplane.alertmanager import webhook_urls
from dataplane.boot.aws import AwsBoot
from dataplane.boot.member import NodeBoot, with_boot_repositories
from dataplane.boot.monitoring import MonitoringBoot
from dataplane.member_tools import member_tool_files
from dataplane.model import APP_ROLE_SECRETS
from stacks.clouds.aws import architecture, node_size
from stacks.clouds.model import Architecture
from stacks.settings import Settings
from stacks.topology import Topology

# Debian's own account publishes the official Debian 12 AMIs, named by Debian's architecture.
DEBIAN_AMI_OWNER = "136693071363"
DEBIAN_AMI_NAME = {"x86_64": "debian-12-amd64-*", "arm64": "debian-12-arm64-*"}


def debian_image(architecture: Architecture, invoke: pulumi.InvokeOptions) -> str:
    return aws.ec2.get_ami(
        most_recent=True,
        owners=[DEBIAN_AMI_OWNER],
        opts=invoke,
        filters=[
            aws.ec2.GetAmiFilterArgs(name="name", values=[DEBIAN_AMI_NAME[architecture]]),
            aws.ec2.GetAmiFilterArgs(name="architecture", values=[architecture]),
        ],
    ).id


def build(parent: pulumi.ComponentResource, name: str, settings: Settings, topology: Topology) -> PlatformOutputs:
    child = pulumi.ResourceOptions(parent=parent)
    invoke = pulumi.InvokeOptions(parent=parent)
    account_id = aws.get_caller_identity(opts=invoke).account_id
    # Graviton types boot the arm64 image; the members and the monitoring node may differ.
    images = {
        arch: debian_image(arch, invoke)
        for arch in {
            architecture(t) for t in (settings.cluster.instance_type, settings.cluster.monitoring_instance_type)
        }
    }
    repository = s3_repository(settings, account_id)
    spec = cluster_spec(settings, topology, repository)
    intent = intents(settings, topology)
    protect, tags = intent.protect, intent.tags

    network = Network(
        f"{name}-network",
        NetworkArgs(
            intent=intent.network,
            region=settings.region,
            account_id=account_id,
            backup_bucket=repository.bucket,
            protect=protect,
            tags=tags,
        ),
        child,
    )
    vault = BackupVault(
        f"{name}-vault",
        BackupVaultArgs(intent=intent.vault, repository=repository, protect=protect, account_id=account_id, tags=tags),
        child,
    )
    secrets = Secrets(
        f"{name}-secrets",
        SecretsArgs(spec=spec, protect=protect, tags=tags, webhooks=webhook_urls(intent.monitoring.receivers)),
        child,
    )
    identity = Identity(
        f"{name}-identity",
        IdentityArgs(
            bucket_arn=vault.bucket.arn,
            backup_key_arn=vault.key.arn,
            secrets_key_arn=secrets.key.arn,
            shared_secret_arns=[*secrets.secret_refs.values(), secrets.program_files_arn],
            member_tls_secret_arns=secrets.member_tls_refs,
            account_id=account_id,
            tags=tags,
            region=settings.region,
            stage=settings.stage,
            platform_name=name,
            app_secret_arns=[secrets.secret_refs[secret] for secret in APP_ROLE_SECRETS.values()],
        ),
        child,
    )

    # Uploads name the bucket's key explicitly, so a changed bucket default cannot silently weaken them.
    node_boot = pulumi.Output.all(
        secrets.secret_refs, secrets.member_tls_refs, vault.key.arn, secrets.program_files_arn
    ).apply(
        lambda v: NodeBoot(
            cloud=AwsBoot(
                region=settings.region,
                bucket=repository.bucket,
                kms_key_id=v[2],
                architecture=architecture(settings.cluster.instance_type),
            ),
            secret_refs=v[0],
            tls_secret_refs=v[1],
            program_files_ref=v[3],
        )
    )
    subnet_ids = dict(zip(intent.network.zones, network.subnet_ids, strict=True))
    cluster = PostgresCluster(
        f"{name}-cluster",
        PostgresClusterArgs(
            spec=spec,
            vpc_id=network.vpc.id,
            subnet_ids=subnet_ids,
            node_security_group_id=network.node_sg.id,
            lb_security_group_id=network.lb_sg.id,
            instance_profiles=identity.member_identities,
            image_id=images[architecture(settings.cluster.instance_type)],
            instance_type=settings.cluster.instance_type,
            disk_size_gb=intent.cluster.disk_size_gb,
            disk_type=settings.cluster.disk_type,
            disk_iops=settings.cluster.disk_iops,
            boot=node_boot,
            protect=protect,
            tags=tags,
            private_zone_id=network.private_zone.id,
            # Nodes fetch secret values and use the bucket at boot: versions and bucket settings must exist first.
            boot_after=[identity, secrets, vault, network.egress_ready],
            rolling=intent.cluster.rolling,
        ),
        child,
    )

    post_provision = PostProvision(
        f"{name}-post-provision",
        PostProvisionArgs(
            region=settings.region,
            instance_ids=cluster.member_ids,
            disk_size_gb=intent.cluster.disk_size_gb,
            role_sql=roles.render_role_sql(spec, variables_from_env=True),
            pgbackrest_config=pgbackrest.render_pgbackrest_conf(spec, spec.members[0]),
            member_names=[member.name for member in spec.members],
            # The repositories as the boot completes them (the vault's key), so day two keeps what boot wrote.
            # Each member's bundle for the size its instance runs (a size change reaches members as they are
            # rolled), so a member not yet resized keeps its memory settings and the smallest sets shared ones.
            configure_bundles=pulumi.Output.all(node_boot, *[i.instance_type for i in cluster.instances]).apply(
                lambda v: [
                    configure.encoded(
                        with_boot_repositories(running_sizes(spec, v[1:], node_size), v[0]),
                        member,
                        member_tool_files(spec, member),
                    )
                    for member in spec.members
                ]
            ),
            journal_bucket=repository.bucket,
            scope=spec.scope,
            tags=tags,
            after=[vault],
        ),
        child,
    )

    monitoring_zone = intent.monitoring.zone
    monitoring = Monitoring(
        f"{name}-monitoring",
        MonitoringArgs(
            spec=spec,
            receivers=intent.monitoring.receivers,
            subnet_id=subnet_ids[monitoring_zone],
            security_group_id=network.monitoring_sg.id,
            instance_profile=identity.monitoring_identity,
            image_id=images[architecture(settings.cluster.monitoring_instance_type)],
            instance_type=settings.cluster.monitoring_instance_type,
            volume_key_arn=cluster.volume_key.arn,
            instance_ids=cluster.member_ids,
            write_target_group_arn_suffix=cluster.target_groups["write"].arn_suffix,
            load_balancer_arn_suffix=cluster.load_balancer.arn_suffix,
            boot=pulumi.Output.all(secrets.ca_certificate, secrets.webhook_refs).apply(
                lambda v: MonitoringBoot(
                    cloud=AwsBoot(
                        region=settings.region, architecture=architecture(settings.cluster.monitoring_instance_type)
                    ),
                    smtp_smarthost=settings.monitoring.smtp_smarthost,
                    smtp_from=settings.monitoring.smtp_from,
                    ca_cert_pem=v[0],
                    webhook_secret_refs=v[1],
                )
            ),
            account_id=account_id,
            protect=protect,
            tags=tags,
            zone=monitoring_zone,
            region=settings.region,
            role_name=identity.monitoring_role.name,
            secrets_key_arn=secrets.key.arn,
            webhook_secret_arns=secrets.webhook_refs,
            boot_after=[secrets, network.egress_ready],
            rolling=intent.monitoring.rolling,
            no_primary_after=[post_provision.roles],
        ),
        child,
    )

    return platform_outputs(
        spec,
        {
            "Network": network,
            "BackupVault": vault,
            "Secrets": secrets,
            "Identity": identity,
            "PostgresCluster": cluster,
            "Monitoring": monitoring,
        },
    )
