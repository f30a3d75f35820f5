"""pulumi-kubernetes' type tokens of the objects the pack reads (`kubernetes:<group>/<version>:<Kind>`), defined
once."""

from __future__ import annotations

CLOUD = "kubernetes"

# CloudNativePG and its Barman Cloud plugin
CNPG_CLUSTER = "kubernetes:postgresql.cnpg.io/v1:Cluster"
POOLER = "kubernetes:postgresql.cnpg.io/v1:Pooler"
SCHEDULED_BACKUP = "kubernetes:postgresql.cnpg.io/v1:ScheduledBackup"
BACKUP = "kubernetes:postgresql.cnpg.io/v1:Backup"
DATABASE = "kubernetes:postgresql.cnpg.io/v1:Database"
OBJECT_STORE = "kubernetes:barmancloud.cnpg.io/v1:ObjectStore"

# prometheus-operator
PROMETHEUS_RULE = "kubernetes:monitoring.coreos.com/v1:PrometheusRule"
POD_MONITOR = "kubernetes:monitoring.coreos.com/v1:PodMonitor"

# Core objects
NAMESPACE = "kubernetes:core/v1:Namespace"
SECRET = "kubernetes:core/v1:Secret"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
SERVICE = "kubernetes:core/v1:Service"
SERVICE_ACCOUNT = "kubernetes:core/v1:ServiceAccount"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
CRON_JOB = "kubernetes:batch/v1:CronJob"
POD_DISRUPTION_BUDGET = "kubernetes:policy/v1:PodDisruptionBudget"

# Helm: a v3 Release is one object that Helm expands; a v4 Chart renders its objects into the stack.
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
HELM_CHART = "kubernetes:helm.sh/v4:Chart"
HELM_TYPES = (HELM_RELEASE, HELM_CHART)

# Objects with ObjectMeta, whose labels are their tags (a Helm release has none of its own).
LABELLED = (
    CNPG_CLUSTER,
    POOLER,
    SCHEDULED_BACKUP,
    BACKUP,
    DATABASE,
    OBJECT_STORE,
    PROMETHEUS_RULE,
    POD_MONITOR,
    NAMESPACE,
    SECRET,
    CONFIG_MAP,
    CRON_JOB,
    SERVICE,
    SERVICE_ACCOUNT,
    NETWORK_POLICY,
    POD_DISRUPTION_BUDGET,
)
