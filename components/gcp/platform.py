"""The GCP build: the six roles on Compute Engine, Cloud Storage, Secret Manager, IAM and Cloud Monitoring, wired
in boot order."""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp

from components.contracts import PlatformOutputs, intents, platform_outputs
from components.gcp.cluster import PostgresCluster, PostgresClusterArgs
from components.gcp.identity import Identity, IdentityArgs
from components.gcp.monitoring import Monitoring, MonitoringArgs
from components.gcp.network import Network, NetworkArgs
from components.gcp.post_provision import PostProvision, PostProvisionArgs
from components.gcp.secrets import Secrets, SecretsArgs
from components.gcp.spec import DEBIAN_IMAGE, gcs_repository, machine_type_name
from components.gcp.vault import BackupVault, BackupVaultArgs
from components.spec import cluster_spec, running_sizes
from dataplane import configure, pgbackrest, roles
from dataplane.alertmanager import webhook_urls
from dataplane.boot.gcp import GcpBoot
from dataplane.boot.member import NodeBoot, with_boot_repositories
from dataplane.boot.monitoring import MonitoringBoot
from dataplane.member_tools import member_tool_files
from stacks.clouds.gcp import architecture, node_size
from stacks.settings import Settings
from stacks.topology import Topology


def compute_agent(project_number: str) -> str:
    """Compute Engine's service agent, which encrypts and decrypts disks with a customer-managed key."""
    return f"service-{project_number}@compute-system.iam.gserviceaccount.com"


def build(parent: pulumi.ComponentResource, name: str, settings: Settings, topology: Topology) -> PlatformOutputs:
    child = pulumi.ResourceOptions(parent=parent)
    invoke = pulumi.InvokeOptions(parent=parent)
    project = gcp.organizations.get_project(opts=invoke)
    project_id = project.project_id
    assert project_id, "gcp:project names the project the stage is deployed in"
    # Cloud Storage's agent exists only once asked for: this call creates it, so the key grant can name it.
    storage_agent = gcp.storage.get_project_service_account(opts=invoke).email_address
    repository = gcs_repository(settings, project_id)
    spec = cluster_spec(settings, topology, repository)
    intent = intents(settings, topology)
    protect, tags = intent.protect, intent.tags

    network = Network(f"{name}-network", NetworkArgs(intent=intent.network, region=settings.region, tags=tags), child)
    vault = BackupVault(
        f"{name}-vault",
        BackupVaultArgs(
            intent=intent.vault,
            repository=repository,
            region=settings.region,
            storage_agent=storage_agent,
            protect=protect,
            tags=tags,
        ),
        child,
    )
    secrets = Secrets(
        f"{name}-secrets",
        SecretsArgs(
            spec=spec,
            region=settings.region,
            protect=protect,
            tags=tags,
            webhooks=webhook_urls(intent.monitoring.receivers),
        ),
        child,
    )
    identity = Identity(
        f"{name}-identity",
        IdentityArgs(
            prefix=settings.name,
            project=project_id,
            bucket=vault.bucket.name,
            shared_secret_ids=list(secrets.secret_refs.values()),
            member_tls_secret_ids=secrets.member_tls_refs,
            webhook_secret_ids=secrets.webhook_refs,
            tags=tags,
            object_lock=intent.vault.lock_days > 0,
        ),
        child,
    )

    node_boot = pulumi.Output.all(secrets.secret_refs, secrets.member_tls_refs).apply(
        lambda v: NodeBoot(
            cloud=GcpBoot(bucket=repository.bucket, lock_mode=intent.vault.lock_mode, lock_days=intent.vault.lock_days),
            secret_refs=v[0],
            tls_secret_refs=v[1],
        )
    )
    subnet_ids = dict(zip(intent.network.zones, network.subnet_ids, strict=True))
    cluster = PostgresCluster(
        f"{name}-cluster",
        PostgresClusterArgs(
            spec=spec,
            region=settings.region,
            network_id=network.vpc.id,
            subnet_ids=subnet_ids,
            member_addresses={a: r.address for a, r in network.member_addresses.items()},
            service_accounts=identity.member_identities,
            image=DEBIAN_IMAGE[architecture(settings.cluster.instance_type)],
            machine_type=settings.cluster.instance_type,
            disk_size_gb=intent.cluster.disk_size_gb,
            disk_type=settings.cluster.disk_type,
            disk_iops=settings.cluster.disk_iops,
            boot=node_boot,
            compute_agent=compute_agent(project.number),
            private_zone=network.private_zone.name,
            protect=protect,
            tags=tags,
            # Nodes fetch secret values and use the bucket at boot: grants, versions and the bucket come first.
            boot_after=[identity, secrets, vault, network.egress_ready],
            rolling=intent.cluster.rolling,
        ),
        child,
    )

    PostProvision(
        f"{name}-post-provision",
        PostProvisionArgs(
            project=project_id,
            instance_names=[i.name for i in cluster.instances],
            instance_ids=cluster.member_ids,
            zones=[m.zone for m in spec.members],
            disk_size_gb=intent.cluster.disk_size_gb,
            role_sql=roles.render_role_sql(spec, variables_from_env=True),
            pgbackrest_config=pgbackrest.render_pgbackrest_conf(spec, spec.members[0]),
            member_names=[member.name for member in spec.members],
            # Each member's bundle for the machine type it runs (a size change reaches members as they are
            # rolled), with the repositories as its boot completes them.
            configure_bundles=pulumi.Output.all(node_boot, *[i.machine_type for i in cluster.instances]).apply(
                lambda v: [
                    configure.encoded(
                        with_boot_repositories(
                            running_sizes(spec, [machine_type_name(t) for t in v[1:]], node_size), v[0]
                        ),
                        member,
                        member_tool_files(spec, member),
                    )
                    for member in spec.members
                ]
            ),
            tags=tags,
            after=[vault, identity],
        ),
        child,
    )

    monitoring = Monitoring(
        f"{name}-monitoring",
        MonitoringArgs(
            spec=spec,
            receivers=intent.monitoring.receivers,
            zone=intent.monitoring.zone,
            subnet_id=subnet_ids[intent.monitoring.zone],
            service_account=identity.monitoring_identity,
            image=DEBIAN_IMAGE[architecture(settings.cluster.monitoring_instance_type)],
            machine_type=settings.cluster.monitoring_instance_type,
            volume_key=cluster.volume_key.id,
            member_instance_ids=cluster.member_ids,
            boot=pulumi.Output.all(secrets.ca_certificate, secrets.webhook_refs).apply(
                lambda v: MonitoringBoot(
                    cloud=GcpBoot(),
                    smtp_smarthost=settings.monitoring.smtp_smarthost,
                    smtp_from=settings.monitoring.smtp_from,
                    ca_cert_pem=v[0],
                    webhook_secret_refs=v[1],
                )
            ),
            protect=protect,
            tags=tags,
            boot_after=[identity, secrets, network.egress_ready],
            disk_after=[cluster.key_grant],
            rolling=intent.monitoring.rolling,
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
