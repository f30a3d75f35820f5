"""The CloudNativePG flavour's objects (Cluster, Pooler, ObjectStore, ScheduledBackup, NetworkPolicy,
PodDisruptionBudget, role Secrets) as plain dicts, from the same ClusterSpec as the VM flavour.

PostgreSQL's parameters and pg_hba come from dataplane.postgresql and dataplane.pg_hba, not a copy: the only
differences are the settings the operator owns (OPERATOR_OWNED_PARAMETERS, OPERATOR_OWNED_HBA), each with the
reason it is the operator's. Pure: no Pulumi, no settings.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dataplane.model import (
    APP_DATABASE,
    APP_OWNER_ROLE,
    APP_READONLY_USER,
    APP_READWRITE_USER,
    MONITORING_USER,
    POOLER_AUTH_USER,
    REPLICATION_USER,
    REWIND_USER,
    SUPERUSER,
    ClusterSpec,
)
from dataplane.pg_hba import hba_rules
from dataplane.postgresql import Parameter, postgresql_parameters
from dataplane.roles import (
    connection_limits,
    create_nologin_role_sql,
    owner_role_sql,
    privileges,
    search_path_sql,
)
from stacks.ports import PORTS
from stacks.sizes import NodeSize

CNPG_VERSION = "1.30.0"
# The operator's Helm chart that ships CNPG_VERSION (charts' appVersion), and the Barman Cloud plugin's.
OPERATOR_CHART = ("cloudnative-pg", "0.29.0")
BARMAN_PLUGIN_VERSION = "0.14.0"
# The chart release before 0.8.0 (which moved to plugin 0.15.0); docs/deploy-kubernetes.md says how to confirm it.
BARMAN_PLUGIN_CHART = ("plugin-barman-cloud", "0.7.1")
CHART_REPOSITORY = "https://cloudnative-pg.github.io/charts"
OPERATOR_NAMESPACE = "cnpg-system"
BARMAN_PLUGIN = "barman-cloud.cloudnative-pg.io"
CLUSTER_API = "postgresql.cnpg.io/v1"
BARMAN_API = "barmancloud.cnpg.io/v1"
# CloudNativePG's "standard" operand images carry pgaudit; the tag pins the minor and the base distribution.
IMAGE_REPOSITORY = "ghcr.io/cloudnative-pg/postgresql"
# The newest minors of CloudNativePG's standard trixie catalog (cloudnative-pg/artifacts, 2026-08-22).
IMAGE_MINOR = {14: "14.24", 15: "15.19", 16: "16.15", 17: "17.11"}
IMAGE_FLAVOUR = "standard-trixie"
ZONE_KEY = "topology.kubernetes.io/zone"
# The instance manager's HTTP status endpoint, which the operator polls; and the exporter it serves.
INSTANCE_STATUS_PORT = 8000
METRICS_PORT = PORTS.postgres_exporter
# What a dedicated node keeps for the kubelet, the system daemons and the node's DaemonSets (CNI, CSI, log
# agent): the PostgreSQL pod gets the rest, and PostgreSQL's memory parameters are sized on that.
NODE_RESERVED_MILLICPU = 500
NODE_RESERVED_MEMORY_FRACTION = 0.2
POOLER_MILLICPU = 500
POOLER_MEMORY_MIB = 256
# A Kubernetes object as the API server takes it (apiVersion, kind, metadata, spec ...).
K8sObject = dict[str, Any]
POSTGRES_UID = 26  # the operand images' postgres user (CloudNativePG's postgresUID default)

# postgresql.conf settings CloudNativePG sets itself and refuses in `postgresql.parameters` (its "fixed
# parameters"), as they appear in dataplane.postgresql, with what the operator does instead.
OPERATOR_OWNED_PARAMETERS: dict[str, str] = {
    "listen_addresses": "the operator listens on the pod's addresses; NetworkPolicy and pg_hba narrow who connects",
    "port": "the operator's fixed 5432, which its Services name",
    "unix_socket_directories": "the operator's socket directory in the pod",
    "unix_socket_permissions": "the operator's socket in a pod no other user shares",
    "cluster_name": "the operator sets it to the Cluster's name",
    "ssl": "always on: the operator provisions the server certificate",
    "ssl_cert_file": "the operator mounts the certificate it issues from serverCASecret",
    "ssl_key_file": "the operator mounts the key of the certificate it issues",
    "ssl_ca_file": "the operator mounts the client CA",
    "ssl_prefer_server_ciphers": "a fixed parameter of the operator (on)",
    "archive_mode": "the operator turns archiving on when a WAL archiver (the Barman Cloud plugin) is configured",
    "archive_command": "the instance manager archives through the Barman Cloud plugin, not pgBackRest",
    "restore_command": "the instance manager restores WAL through the plugin",
    "shared_preload_libraries": "the operator adds pgaudit and pg_stat_statements when their parameters are set",
    "logging_collector": "the instance manager collects the logs and writes them to stdout as JSON",
    "log_destination": "the instance manager's csvlog, turned into JSON on stdout for the cluster's log agent",
    "log_directory": "the instance manager's log directory in the pod",
    "log_filename": "the instance manager's log file",
    "log_truncate_on_rotation": "the instance manager rotates the logs",
    "log_rotation_age": "the instance manager rotates the logs",
    "log_rotation_size": "the instance manager rotates the logs",
    "log_file_mode": "the instance manager's log file, read by itself only",
    "hot_standby": "a fixed parameter of the operator (on)",
    "wal_level": "a fixed parameter of the operator (logical)",
    "wal_log_hints": "a fixed parameter of the operator (on), which pg_rewind needs",
}
# pg_hba lines of dataplane.pg_hba that the operator writes itself (before the stack's), by role.
OPERATOR_OWNED_HBA: dict[str, str] = {
    SUPERUSER: "the operator's own local peer lines for the postgres user; superuser access is disabled",
    REPLICATION_USER: "streaming replication is the operator's streaming_replica role with TLS client certificates",
    REWIND_USER: "pg_rewind runs as streaming_replica, over the same certificate lines",
    MONITORING_USER: "the exporter runs inside the instance manager and connects over the local socket",
    POOLER_AUTH_USER: "the Poolers look users up as cnpg_pooler_pgbouncer with a client certificate",
}
# Member-sourced application lines: PgBouncer runs in its own pods on Kubernetes, inside the pod network,
# which the stack's pod CIDR admits like any allowlisted network.
POOLED_SESSIONS_COMMENT = "application sessions pooled by PgBouncer"


@dataclass(frozen=True)
class PodResources:
    millicpu: int
    memory_mib: int

    @property
    def size(self) -> NodeSize:
        """What PostgreSQL is sized on: the pod's limits, not the node's."""
        return NodeSize(vcpus=max(1, self.millicpu // 1000), memory_mib=self.memory_mib)

    def as_requirements(self) -> dict[str, dict[str, str]]:
        # Requests equal to limits: the Guaranteed QoS class, so the kubelet evicts PostgreSQL last.
        values = {"cpu": f"{self.millicpu}m", "memory": f"{self.memory_mib}Mi"}
        return {"requests": dict(values), "limits": dict(values)}


def pod_resources(node: NodeSize) -> PodResources:
    """One PostgreSQL pod per dedicated node: the node less what the node itself needs."""
    return PodResources(
        millicpu=max(500, node.vcpus * 1000 - NODE_RESERVED_MILLICPU),
        memory_mib=int(node.memory_mib * (1 - NODE_RESERVED_MEMORY_FRACTION)),
    )


@dataclass(frozen=True)
class Target:
    """Where and how the objects run: what the stack decides beyond the ClusterSpec."""

    namespace: str
    name: str  # the Cluster's name, which prefixes every other object
    storage_class: str
    disk_size_gb: int
    resources: PodResources
    client_namespaces: tuple[str, ...]
    client_cidrs: tuple[str, ...]  # outside the pod network: the allowlisted networks
    pod_cidr: str  # where the poolers (and any in-cluster client) connect from
    monitoring_namespace: str
    destination_path: str  # the bucket and prefix, as Barman Cloud names it (s3://bucket/prefix)
    credentials: Mapping[str, object]  # the ObjectStore's credentials stanza (workload identity, never keys)
    # Binds the Cluster's service account to the cloud identity. A value is a string, or one the Pulumi edge
    # resolves (a client id known once the identity exists): rendering copies it and never reads it.
    service_account_annotations: Mapping[str, object]
    retention_days: int
    backup_cron: str  # five fields, UTC
    ca_secret: str  # holds ca.crt and ca.key: the operator issues the server certificate from it
    role_secrets: Mapping[str, str]  # application role -> its basic-auth Secret
    labels: Mapping[str, str]
    pooler_instances: int
    # Labels the host's workload identity needs on the instance pods (Azure's webhook injects the token only into
    # a labelled pod); none on hosts that bind by the service account alone.
    pod_labels: Mapping[str, str] = dataclasses.field(default_factory=dict)


def image(major: int) -> str:
    return f"{IMAGE_REPOSITORY}:{IMAGE_MINOR[major]}-{IMAGE_FLAVOUR}"


def metadata(target: Target, name: str, **labels: str) -> dict[str, Any]:
    return {"name": name, "namespace": target.namespace, "labels": {**target.labels, **labels}}


def parameters(spec: ClusterSpec) -> dict[str, str]:
    """dataplane.postgresql's parameters less the operator's own, as the strings the Cluster takes."""
    params: dict[str, Parameter] = postgresql_parameters(spec, spec.members[0])
    return {k: str(v) for k, v in params.items() if k not in OPERATOR_OWNED_PARAMETERS}


def hba_lines(spec: ClusterSpec, pod_cidr: str) -> list[str]:
    """dataplane.pg_hba's rules for the same spec with the pod network as one more client network, less the
    lines the operator owns (by role) and the member-sourced lines (there are no member addresses here)."""
    clients = dataclasses.replace(spec, members=(), client_cidrs=(*spec.client_cidrs, pod_cidr))
    owned = set(OPERATOR_OWNED_HBA)
    return [rule.line() for rule in hba_rules(clients) if not owned & set(rule.user.split(","))]


def _security_context() -> K8sObject:
    return {
        "runAsNonRoot": True,
        "allowPrivilegeEscalation": False,
        "privileged": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _spread(selector: Mapping[str, str]) -> list[K8sObject]:
    return [
        {
            "maxSkew": 1,
            "topologyKey": ZONE_KEY,
            "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": {"matchLabels": dict(selector)},
        }
    ]


def synchronous(spec: ClusterSpec) -> dict[str, Any] | None:
    """RPO 0: a commit waits for a standby, and blocks rather than proceed without one (dataDurability
    required); otherwise asynchronous streaming (no `synchronous` stanza)."""
    topo = spec.topology
    if not topo.synchronous:
        return None
    return {"method": "any", "number": topo.synchronous_node_count.value, "dataDurability": "required"}


# CloudNativePG's exporter role (cnpg_metrics_exporter, which the instance manager creates after the bootstrap) is
# a member of it, and the operator's default pg_extensions query reads every database.
EXPORTER_GROUP = "pg_monitor"


def post_init_sql(target: Target) -> dict[str, list[str]]:
    """dataplane.roles' privileges, run once by the bootstrap as the superuser: `postInitSQL` in the postgres
    database, then the operator creates the application database and runs `postInitApplicationSQL` in it.

    Both run before the operator reconciles `managed.roles`, so the managed roles are created here first, NOLOGIN,
    for the grants to name; the reconciler then finds them differing from their spec and ALTERs them to it
    (LOGIN, the connection limit, the Secret's password). initdb's `owner` is created LOGIN (the operator keeps
    its password in the Cluster's `-app` Secret): it becomes NOLOGIN here as on the VMs (no pg_hba line admits
    it either, so nothing depends on that login). CloudNativePG's Pooler looks users up as its own
    cnpg_pooler_pgbouncer in the postgres database, so the VMs' auth_query function has no counterpart. Only a new
    Cluster runs any of this: the operator never replays the bootstrap."""
    grants = privileges(also_connect=(EXPORTER_GROUP,))
    roles = [sql for role in target.role_secrets for sql in (create_nologin_role_sql(role), search_path_sql(role))]
    return {
        "postInitSQL": [owner_role_sql(), *roles, *grants.maintenance],
        "postInitApplicationSQL": [*grants.database, *grants.application],
    }


def cluster(spec: ClusterSpec, target: Target) -> K8sObject:
    topo = spec.topology
    limits = connection_limits(spec)
    postgresql: dict[str, Any] = {"parameters": parameters(spec), "pg_hba": hba_lines(spec, target.pod_cidr)}
    sync = synchronous(spec)
    if sync:
        postgresql["synchronous"] = sync
    storage = {"storageClass": target.storage_class, "size": f"{target.disk_size_gb}Gi"}
    return {
        "apiVersion": CLUSTER_API,
        "kind": "Cluster",
        "metadata": metadata(target, target.name),
        "spec": {
            "instances": topo.node_count.value,
            "imageName": image(topo.postgres_major),
            "primaryUpdateStrategy": "unsupervised",
            "primaryUpdateMethod": "switchover",
            "enableSuperuserAccess": False,
            "enablePDB": True,
            "postgresql": postgresql,
            # The poolers present the cluster's server certificate, so clients verify-full against their names too.
            "certificates": {"serverCASecret": target.ca_secret, "serverAltDNSNames": pooler_dns_names(target)},
            "resources": target.resources.as_requirements(),
            "storage": storage,
            "walStorage": {"storageClass": target.storage_class, "size": f"{max(10, target.disk_size_gb // 5)}Gi"},
            "affinity": {
                "enablePodAntiAffinity": True,
                "podAntiAffinityType": "required" if topo.node_count.value > 1 else "preferred",
                "topologyKey": ZONE_KEY,
            },
            "topologySpreadConstraints": _spread({"cnpg.io/cluster": target.name}),
            "podSecurityContext": {
                "runAsNonRoot": True,
                "runAsUser": POSTGRES_UID,
                "runAsGroup": POSTGRES_UID,
                "fsGroup": POSTGRES_UID,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "securityContext": _security_context(),
            "probes": {
                # A standby more than the promotion bound behind is not ready, so no read route reaches it.
                "readiness": {
                    "type": "streaming",
                    "maximumLag": f"{max(1, topo.maximum_lag_on_failover.value >> 20)}Mi",
                },
                # A primary cut off from the API server and its standbys shuts itself down (no split brain).
                "liveness": {"isolationCheck": {"enabled": True}},
            },
            "serviceAccountTemplate": {"metadata": {"annotations": dict(target.service_account_annotations)}},
            # The operator copies inheritedMetadata to every object it makes for the Cluster, the pods included.
            **({"inheritedMetadata": {"labels": dict(target.pod_labels)}} if target.pod_labels else {}),
            "plugins": [
                {
                    "name": BARMAN_PLUGIN,
                    "isWALArchiver": True,
                    "parameters": {"barmanObjectName": object_store_name(target)},
                }
            ],
            "managed": {
                "roles": [
                    {
                        "name": role,
                        "ensure": "present",
                        "login": True,
                        "superuser": False,
                        "createdb": False,
                        "createrole": False,
                        "replication": False,
                        "bypassrls": False,
                        "inherit": True,
                        "connectionLimit": limits[role],
                        "passwordSecret": {"name": secret},
                    }
                    for role, secret in target.role_secrets.items()
                ]
            },
            "bootstrap": {
                "initdb": {
                    "database": APP_DATABASE,
                    "owner": APP_OWNER_ROLE,
                    "dataChecksums": True,
                    **post_init_sql(target),
                }
            },
        },
    }


def pooler_name(target: Target, kind: str) -> str:
    return f"{target.name}-pooler-{kind}"


def service_host(target: Target, service: str) -> str:
    return f"{service}.{target.namespace}.svc"


def pooler_dns_names(target: Target) -> list[str]:
    names = []
    for kind in ("rw", "ro"):
        pooler = pooler_name(target, kind)
        names += [pooler, f"{pooler}.{target.namespace}", service_host(target, pooler)]
    return names


# Routes as dataplane.routing names them, to the Service that serves each.
ROUTE_SERVICES = {"write": "{name}-rw", "read": "{name}-ro", "pooled": "{name}-pooler-rw"}


def client_access(target: Target) -> dict:
    """dataplane.routing.client_access's shape for the Services: each route has its own host, one port."""
    endpoints, uris = {}, {}
    for route, service in ROUTE_SERVICES.items():
        host = service_host(target, service.format(name=target.name))
        endpoints[route] = {"host": host, "port": PORTS.postgres}
        user = APP_READONLY_USER if route == "read" else APP_READWRITE_USER
        uris[route] = (
            f"postgresql://{user}@{host}:{PORTS.postgres}/{APP_DATABASE}?sslmode=verify-full&sslrootcert=pg-platform-ca.crt"
        )
    return {"endpoints": endpoints, "connection_uris": uris}


def poolers(spec: ClusterSpec, target: Target) -> list[K8sObject]:
    """PgBouncer in transaction mode for the primary (rw) and the standbys (ro), spread over the zones."""
    out = []
    for kind in ("rw", "ro"):
        name = pooler_name(target, kind)
        resources = PodResources(POOLER_MILLICPU, POOLER_MEMORY_MIB).as_requirements()
        out.append(
            {
                "apiVersion": CLUSTER_API,
                "kind": "Pooler",
                "metadata": metadata(target, name),
                "spec": {
                    "cluster": {"name": target.name},
                    "type": kind,
                    "instances": target.pooler_instances,
                    "pgbouncer": {
                        "poolMode": "transaction",
                        "parameters": {
                            "max_client_conn": "1000",
                            "default_pool_size": str(max(10, connection_limits(spec)[APP_READWRITE_USER] // 4)),
                            "client_tls_sslmode": "require",
                            "server_tls_sslmode": "verify-full",
                        },
                    },
                    "template": {
                        "metadata": {"labels": {**target.labels, "cnpg.io/poolerName": name}},
                        "spec": {
                            "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
                            "topologySpreadConstraints": _spread({"cnpg.io/poolerName": name}),
                            "containers": [
                                {"name": "pgbouncer", "resources": resources, "securityContext": _security_context()}
                            ],
                        },
                    },
                },
            }
        )
    return out


def object_store_name(target: Target) -> str:
    return f"{target.name}-backups"


def object_store(target: Target) -> K8sObject:
    # No `encryption`: the bucket's default encryption applies its own key to every object; naming aws:kms here
    # would encrypt with the account's default S3 key instead.
    return {
        "apiVersion": BARMAN_API,
        "kind": "ObjectStore",
        "metadata": metadata(target, object_store_name(target)),
        "spec": {
            "configuration": {
                "destinationPath": target.destination_path,
                **target.credentials,
                "wal": {"compression": "gzip", "maxParallel": 4},
                "data": {"compression": "gzip", "jobs": 2, "immediateCheckpoint": False},
            },
            "retentionPolicy": f"{target.retention_days}d",
        },
    }


def scheduled_backup(target: Target) -> K8sObject:
    """A full base backup on the topology's schedule; Kubernetes cron has a seconds field first."""
    return {
        "apiVersion": CLUSTER_API,
        "kind": "ScheduledBackup",
        "metadata": metadata(target, f"{target.name}-full"),
        "spec": {
            "schedule": f"0 {target.backup_cron}",
            "cluster": {"name": target.name},
            "method": "plugin",
            "pluginConfiguration": {"name": BARMAN_PLUGIN},
            "backupOwnerReference": "self",
            "immediate": True,
            "target": "prefer-standby",
        },
    }


def _namespaces(names: tuple[str, ...]) -> list[K8sObject]:
    return [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": n}}} for n in names]


def network_policies(target: Target) -> list[K8sObject]:
    """Deny all ingress in the namespace, then admit: clients (allowlisted namespaces and networks) to the
    poolers; the poolers, the other instances and the operator to PostgreSQL; the operator to the instance
    manager; the monitoring namespace to the exporters."""
    postgres = {"port": PORTS.postgres, "protocol": "TCP"}
    cluster_pods = {"matchLabels": {"cnpg.io/cluster": target.name}}
    pooler_pods = {"matchExpressions": [{"key": "cnpg.io/poolerName", "operator": "Exists"}]}
    clients = _namespaces(target.client_namespaces) + [{"ipBlock": {"cidr": c}} for c in target.client_cidrs]

    def policy(suffix: str, selector: dict, ingress: list) -> K8sObject:
        return {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": metadata(target, f"{target.name}-{suffix}"),
            "spec": {"podSelector": selector, "policyTypes": ["Ingress"], "ingress": ingress},
        }

    operator = _namespaces((OPERATOR_NAMESPACE,))
    monitoring = _namespaces((target.monitoring_namespace,))
    return [
        policy("default-deny", {}, []),
        policy("clients-to-poolers", pooler_pods, [{"from": clients, "ports": [postgres]}] if clients else []),
        policy(
            "to-postgres",
            cluster_pods,
            [
                {"from": [{"podSelector": pooler_pods}, {"podSelector": cluster_pods}, *operator], "ports": [postgres]},
                *([{"from": clients, "ports": [postgres]}] if clients else []),
                {"from": operator, "ports": [{"port": INSTANCE_STATUS_PORT, "protocol": "TCP"}]},
            ],
        ),
        policy(
            "scrape",
            {"matchExpressions": [{"key": "cnpg.io/podRole", "operator": "In", "values": ["instance", "pooler"]}]},
            [{"from": monitoring, "ports": [{"port": METRICS_PORT, "protocol": "TCP"}]}],
        ),
    ]


def pooler_disruption_budgets(target: Target) -> list[K8sObject]:
    """The operator keeps a PodDisruptionBudget for the instances (enablePDB) but none for the poolers: a node
    drain must leave one PgBouncer of each kind running."""
    return [
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": metadata(target, pooler_name(target, kind)),
            "spec": {
                "maxUnavailable": 1,
                "selector": {"matchLabels": {"cnpg.io/poolerName": pooler_name(target, kind)}},
            },
        }
        for kind in ("rw", "ro")
    ]


def role_secret_metadata(target: Target, role: str) -> dict[str, Any]:
    """A role's basic-auth Secret (its value comes from the stack's generated password); the label makes the
    operator apply a rotated password without a restart."""
    return metadata(target, target.role_secrets[role], **{"cnpg.io/reload": "true"})
