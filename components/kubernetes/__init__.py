"""The Kubernetes build: CloudNativePG on an existing cluster, with the backups in the host cloud's locked
bucket (components/<host>/kubernetes.py builds the vault and the pods' identity there).

Of the six roles of components.contracts, BackupVault is the host cloud's own; Secrets, PostgresCluster and
Monitoring are here; Network and Identity have no Kubernetes counterpart of their own: the cluster's network is
given (NetworkPolicy admits clients), and the pods' identity is the host's workload identity."""

from __future__ import annotations

import dataclasses
import importlib

import pulumi
import pulumi_kubernetes as k8s

from components.contracts import PlatformOutputs, intents
from components.kubernetes.backups import Backups
from components.kubernetes.cluster import PostgresCluster, PostgresClusterArgs
from components.kubernetes.monitoring import Monitoring
from components.kubernetes.namespace import Namespace
from components.kubernetes.operator import Operator
from components.kubernetes.secrets import Secrets
from components.spec import cluster_spec
from dataplane import cnpg, cnpg_monitoring
from dataplane.console import member_inventory
from dataplane.model import APP_ROLE_SECRETS
from stacks.settings import Settings
from stacks.topology import Topology


def build(parent: pulumi.ComponentResource, name: str, settings: Settings, topology: Topology) -> PlatformOutputs:
    on = settings.kubernetes
    assert on is not None, "stacks.settings reads pg-platform:kubernetes for cloud kubernetes"
    intent = intents(settings, topology)
    protect, tags = intent.protect, dict(intent.tags)
    provider = k8s.Provider(
        f"{name}-kubernetes",
        context=on.context,
        kubeconfig=on.kubeconfig,
        opts=pulumi.ResourceOptions(parent=parent),
    )
    child = pulumi.ResourceOptions(parent=parent, providers=[provider])
    namespace = settings.name
    host = importlib.import_module(f"components.{on.host}.kubernetes").backup_host(
        parent,
        name,
        settings,
        intent.vault,
        namespace=namespace,
        service_account=settings.name,  # CloudNativePG names the Cluster's service account after the Cluster
        protect=protect,
        tags=tags,
    )
    resources = cnpg.pod_resources(topology.node_size)
    pod_topology = dataclasses.replace(topology, node_size=resources.size)
    spec = cluster_spec(settings, pod_topology, host.repository)
    nodes = topology.node_count.value
    target = cnpg.Target(
        namespace=namespace,
        name=settings.name,
        storage_class=on.storage_class,
        disk_size_gb=settings.cluster.disk_size_gb,
        resources=resources,
        client_namespaces=on.client_namespaces,
        client_cidrs=settings.network.allowlist.cidrs,
        pod_cidr=settings.network.cidr,
        monitoring_namespace=on.monitoring_namespace,
        destination_path=host.destination_path,
        credentials=host.credentials,
        service_account_annotations=host.service_account_annotations,
        pod_labels=host.pod_labels,
        retention_days=settings.objectives.retention_days,
        backup_cron=topology.backup_schedule.value.full_cron,
        ca_secret=f"{settings.name}-ca",
        role_secrets={role: f"{settings.name}-{secret}" for role, secret in APP_ROLE_SECRETS.items()},
        labels={**tags, **cnpg_monitoring.SELECTOR_LABELS},  # Prometheus selects our monitors by it
        # One PgBouncer per zone the instances use, at least two wherever there is a standby to fail over to.
        pooler_instances=1 if nodes == 1 else max(2, min(nodes, len(settings.network.zones))),
    )

    operator = Operator(f"{name}-operator", tags, child)
    space = Namespace(
        f"{name}-namespace", namespace=namespace, labels=target.labels, protect=protect, tags=tags, opts=child
    )
    secrets = Secrets(f"{name}-secrets", spec=spec, protect=protect, tags=tags, opts=child)
    backups = Backups(
        f"{name}-backups",
        target=target,
        namespace=space.namespace,
        operator=operator,
        vault=host.vault,
        tags=tags,
        opts=child,
        after=host.ready,
        lock_script=host.lock_script,
    )
    cluster = PostgresCluster(
        f"{name}-cluster",
        PostgresClusterArgs(
            spec=spec,
            target=target,
            role_passwords=secrets.role_passwords,
            ca_certificate=secrets.ca_certificate,
            ca_private_key=secrets.ca_private_key,
            namespace=space.namespace,
            operator=operator,
            object_store=backups.object_store,
            protect=protect,
            tags=tags,
        ),
        child,
    )
    monitoring = Monitoring(
        f"{name}-monitoring",
        spec=spec,
        target=target,
        settings=settings,
        namespace=space.namespace,
        cluster=cluster.cluster,
        ca_not_after=secrets.ca_not_after,
        protect=protect,
        tags=tags,
        opts=child,
    )
    return PlatformOutputs(
        endpoint=cluster.endpoint,
        backup_location=host.location,
        grafana_url=monitoring.grafana_url,
        peering_connection_ids={},
        client_access=cluster.client_access,
        ca_certificate=secrets.ca_certificate,
        app_role_secret_ids={
            role: pulumi.Output.from_input(f"{namespace}/{secret}") for role, secret in target.role_secrets.items()
        },
        restore_identity=host.restore_identity,
        inventory=member_inventory(spec, cluster.member_ids),
    )
