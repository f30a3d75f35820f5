"""The Azure build: the six roles on Azure networking, Blob Storage, Key Vault, managed identities, virtual
machines and Azure Monitor, wired in boot order.

Deploy order: the network (group, VNet, subnets, NAT, DNS) first; the Key Vault with its keys and secrets, which
the storage account and the disks are encrypted with; the backup account; the identities, whose roles name the
container and the secrets; the members; the monitoring node and the alerts that watch them."""

from __future__ import annotations

import pulumi
from pulumi_azure_native import authorization

from components.azure.cluster import (
    PostgresCluster,
    PostgresClusterArgs,
    debian_image,
    load_balancer_routes,
    member_redirects,
)
from components.azure.identity import Identity, IdentityArgs
from components.azure.monitoring import Monitoring, MonitoringArgs
from components.azure.network import Network, NetworkArgs
from components.azure.secrets import Secrets, SecretsArgs
from components.azure.spec import (
    azure_repository,
    frontend_address,
    resource_group_name,
)
from components.azure.vault import BackupVault, BackupVaultArgs
from components.contracts import PlatformOutputs, intents, platform_outputs
from components.spec import cluster_spec
from dataplane.alertmanager import webhook_urls
from dataplane.boot.azure import AzureBoot
from dataplane.boot.member import NodeBoot
from dataplane.boot.monitoring import MonitoringBoot
from stacks.clouds.azure import architecture
from stacks.settings import Settings
from stacks.topology import Topology

FLOW_LOG_ACCOUNT_SUFFIX = "flow"


def flow_log_account_name(stage: str, subscription_id: str, location: str) -> str:
    """Global like the backup account's name, and as predictable: `pgp<stage>flow` and 8 hex digits."""
    import hashlib

    digest = hashlib.sha256(f"{subscription_id.lower()}/{location}/flow".encode()).hexdigest()
    return f"pgp{stage}{FLOW_LOG_ACCOUNT_SUFFIX}{digest[:8]}"


def build(parent: pulumi.ComponentResource, name: str, settings: Settings, topology: Topology) -> PlatformOutputs:
    child = pulumi.ResourceOptions(parent=parent)
    client = authorization.get_client_config(opts=pulumi.InvokeOptions(parent=parent))
    subscription, tenant = client.subscription_id, client.tenant_id
    location = settings.region
    group = resource_group_name(settings)
    repository = azure_repository(settings, subscription)
    spec = cluster_spec(settings, topology, repository)
    intent = intents(settings, topology)
    protect, tags = intent.protect, intent.tags
    images = {
        kind: debian_image(architecture(size))
        for kind, size in (
            ("member", settings.cluster.instance_type),
            ("monitoring", settings.cluster.monitoring_instance_type),
        )
    }

    network = Network(
        f"{name}-network",
        NetworkArgs(
            intent=intent.network,
            location=location,
            subscription_id=subscription,
            resource_group_name=group,
            flow_log_account_name=flow_log_account_name(settings.stage, subscription, location),
            client_ports=tuple(sorted({backend for _, backend, _ in load_balancer_routes(spec).values()})),
            protect=protect,
            tags=tags,
        ),
        child,
    )
    secrets = Secrets(
        f"{name}-secrets",
        SecretsArgs(
            spec=spec,
            stage=settings.stage,
            location=location,
            resource_group_name=network.group_name,
            tenant_id=tenant,
            subnet_ids=[*network.subnet_ids, network.monitoring_subnet.id],
            protect=protect,
            tags=tags,
            webhooks=webhook_urls(intent.monitoring.receivers),
        ),
        child,
    )
    vault = BackupVault(
        f"{name}-vault",
        BackupVaultArgs(
            intent=intent.vault,
            repository=repository,
            stage=settings.stage,
            location=location,
            subscription_id=subscription,
            resource_group_name=network.group_name,
            key_name=secrets.backup_key.name,
            key_id=secrets.backup_key.id,
            vault_uri=secrets.vault_uri,
            endpoint_subnet_id=network.subnet_ids[0],
            blob_zone_id=network.blob_zone.id,
            protect=protect,
            tags=tags,
        ),
        child,
    )
    identity = Identity(
        f"{name}-identity",
        IdentityArgs(
            location=location,
            subscription_id=subscription,
            resource_group_name=network.group_name,
            container_id=vault.container.id,
            shared_secret_ids=[secrets.secret_ids[s] for s in sorted(secrets.secret_refs)],
            member_tls_secret_ids={m: secrets.secret_ids[f"tls-{m}"] for m in secrets.member_tls_refs},
            webhook_secret_ids=[secrets.secret_ids[f"webhook-{r}"] for r in sorted(secrets.webhook_refs)],
            cipher_secret_id=secrets.secret_ids["backup-cipher"],
            tags=tags,
        ),
        child,
    )

    def member_boot(member: str) -> pulumi.Output[NodeBoot]:
        return pulumi.Output.all(
            identity.member_client_ids[member], secrets.vault_uri, secrets.secret_refs, secrets.member_tls_refs
        ).apply(
            lambda v: NodeBoot(
                cloud=AzureBoot(
                    identity_client_id=v[0],
                    vault_url=v[1],
                    account=repository.account,
                    container=repository.container,
                    port_redirects=member_redirects(spec),
                ),
                secret_refs=v[2],
                tls_secret_refs=v[3],
            )
        )

    subnet_ids = dict(zip(intent.network.zones, network.subnet_ids, strict=True))
    cluster = PostgresCluster(
        f"{name}-cluster",
        PostgresClusterArgs(
            spec=spec,
            location=location,
            subscription_id=subscription,
            resource_group_name=group,
            subnet_ids=subnet_ids,
            frontend_subnet_id=network.subnet_ids[0],
            frontend_address=frontend_address(intent.network.subnet_cidrs[0]),
            identities=identity.member_identities,
            vault_id=secrets.vault.id,
            disk_key_id=secrets.disk_key.id,
            disk_key_url=secrets.disk_key.key_uri_with_version,
            image=images["member"],
            vm_size=settings.cluster.instance_type,
            disk_size_gb=intent.cluster.disk_size_gb,
            disk_type=settings.cluster.disk_type,
            disk_iops=settings.cluster.disk_iops,
            boots={m.name: member_boot(m.name) for m in spec.members},
            private_zone_name=network.private_zone.name,
            protect=protect,
            tags=tags,
            # Nodes read their secrets and use the container at boot: roles, secrets and the account's
            # endpoint must exist first, and the subnets' route out through the NAT gateway.
            boot_after=[identity, secrets, vault, network],
            rolling=intent.cluster.rolling,
        ),
        child,
    )

    monitoring_boot = pulumi.Output.all(
        identity.monitoring.client_id, secrets.vault_uri, secrets.ca_certificate, secrets.webhook_refs
    ).apply(
        lambda v: MonitoringBoot(
            cloud=AzureBoot(identity_client_id=v[0], vault_url=v[1]),
            smtp_smarthost=settings.monitoring.smtp_smarthost,
            smtp_from=settings.monitoring.smtp_from,
            ca_cert_pem=v[2],
            webhook_secret_refs=v[3],
        )
    )
    monitoring = Monitoring(
        f"{name}-monitoring",
        MonitoringArgs(
            spec=spec,
            stage=settings.stage,
            receivers=intent.monitoring.receivers,
            location=location,
            resource_group_name=group,
            subnet_id=network.monitoring_subnet.id,
            identity_id=identity.monitoring_identity,
            image=images["monitoring"],
            vm_size=settings.cluster.monitoring_instance_type,
            cluster=cluster,
            boot=monitoring_boot,
            zone=intent.monitoring.zone,
            tags=tags,
            protect=protect,
            boot_after=[identity, secrets, network],
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
