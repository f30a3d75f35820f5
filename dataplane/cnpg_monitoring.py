"""Monitoring of the CloudNativePG flavour: PodMonitors for the instances and the poolers, a PrometheusRule with
the VM flavour's alert rules, and the values of a kube-prometheus-stack release for clusters that run none, with
the VM flavour's dashboard drawn in those metrics.

The alerts are dataplane.prometheus's, derived once from the topology (names, severities, thresholds, `for`);
only their expressions differ, written in the metrics CloudNativePG 1.30 exports: the instance manager's
exporter on port 9187 (`cnpg_collector_*` and the default queries of its `cnpg-default-monitoring` ConfigMap,
`cnpg_<query>_<column>`), the Barman Cloud plugin's backup metrics it serves on the same endpoint
(`barman_cloud_cloudnative_pg_io_*`), and the kubelet's volume statistics. An alert with no counterpart there
is left out, with its reason (CNPG_LEFT_OUT), and so is a dashboard panel (CNPG_PANELS_LEFT_OUT). Pure: plain
dicts, no Pulumi, no settings.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from dataplane import alertmanager, grafana, prometheus
from dataplane.alertmanager import ReceiverLike
from dataplane.model import ClusterSpec
from dataplane.prometheus import (
    CERT_CRITICAL_DAYS,
    CERT_WARNING_DAYS,
    CONNECTION_SATURATION,
    DISK_FREE_CRITICAL,
    DISK_FREE_WARNING,
    IDLE_IN_TRANSACTION_SECONDS,
    LONG_TRANSACTION_SECONDS,
    SCRAPE_INTERVAL_SECONDS,
    XID_AGE_CRITICAL,
    XID_AGE_WARNING,
    MetricVocabulary,
    Thresholds,
)
from stacks.clouds.kubernetes import NO_RESTORE_DRILL

MONITORING_API = "monitoring.coreos.com/v1"
# The container port CloudNativePG names on instance pods (9187) and on pooler pods (9127).
METRICS_PORT_NAME = "metrics"
# What the Prometheus we install selects PodMonitors and PrometheusRules by; every object of ours carries it.
SELECTOR_LABELS = {"app.kubernetes.io/part-of": "pg-platform"}
# The label the alert texts name a member by ({{ $labels.member }}), set from the pod's name when scraping.
MEMBER_LABEL = "member"
# Grafana's admin credentials: a Secret the deployment creates (from pulumi-random) in the monitoring namespace,
# never a literal in the values (the chart's default is a well-known password).
GRAFANA_ADMIN_USER_KEY = "admin-user"
GRAFANA_ADMIN_PASSWORD_KEY = "admin-password"
# Where the Alertmanager the chart runs mounts each Secret listed in alertmanagerSpec.secrets.
ALERTMANAGER_SECRETS_DIR = "/etc/alertmanager/secrets"
GRAFANA_DASHBOARD_PROVIDER = "pg-platform"
# Prometheus's volume, and the size at which it deletes its oldest blocks before the volume fills.
PROMETHEUS_VOLUME_GIB = 50
PROMETHEUS_RETENTION_SIZE_FRACTION = 0.8

# The VM alerts CloudNativePG cannot evaluate, each with why: what CNPG does instead or why no metric exists.
CNPG_LEFT_OUT: dict[str, str] = {
    "BackupTooOld": (
        "Barman Cloud takes only full base backups, on the full-backup schedule (no daily differential or "
        "incremental backups to bound): FullBackupTooOld bounds the newest backup, and WalArchivingFailing the "
        "point-in-time coverage in between"
    ),
    "PostgresChecksumFailure": (
        "CloudNativePG's default queries do not export pg_stat_database.checksum_failures, and a custom query "
        "is a CNPG-only addition, not a counterpart"
    ),
    "CertificateExpiresSoon": (
        "the operator issues the server and replication certificates from serverCASecret and renews them "
        "itself before they expire; its exporter exposes no certificate expiry"
    ),
    "CertificateExpiryCritical": (
        "the operator renews its certificates itself before they expire; its exporter exposes no certificate expiry"
    ),
    "RestoreDrillTooOld": NO_RESTORE_DRILL,
    "RestoreDrillFailed": NO_RESTORE_DRILL,
    "AutovacuumFallingBehind": (
        "CloudNativePG's default queries export no table statistics (pg_stat_user_tables), and a custom query "
        "over the application database (target_databases) is a CNPG-only addition, not a counterpart"
    ),
}

# Every metric the CNPG expressions use, by where it comes from.
CNPG_METRICS: frozenset[str] = frozenset(
    {
        "up",  # Prometheus's own, per scraped target
        "cnpg_collector_up",
        "cnpg_pg_replication_in_recovery",  # default query pg_replication
        "cnpg_pg_replication_streaming_replicas",
        "cnpg_pg_stat_replication_replay_diff_bytes",  # default query pg_stat_replication (on the primary)
        "cnpg_pg_stat_archiver_last_archived_time",  # default query pg_stat_archiver
        "cnpg_pg_stat_archiver_last_failed_time",
        "cnpg_backends_total",  # default query backends (client sessions by state)
        "cnpg_backends_max_tx_duration_seconds",  # the same query: the oldest transaction by state and user
        "cnpg_pg_database_xid_age",  # default query pg_database, per datname
        "cnpg_pg_replication_slots_active",  # default query pg_replication_slots (not temporary ones)
        "cnpg_pg_replication_slots_pg_wal_lsn_diff",
        "cnpg_pg_settings_setting",  # default query pg_settings
        "barman_cloud_cloudnative_pg_io_last_available_backup_timestamp",  # the Barman Cloud plugin
        "barman_cloud_cloudnative_pg_io_last_failed_backup_timestamp",
        "kubelet_volume_stats_available_bytes",  # the kubelet, per PersistentVolumeClaim
        "kubelet_volume_stats_capacity_bytes",
    }
)


def _instance_selector(cluster_name: str, namespace: str) -> str:
    # The instance pods are <cluster>-<n>; pooler pods (<cluster>-pooler-...) carry cnpg.io/cluster as well.
    return f'namespace="{namespace}",pod=~"{cluster_name}-[0-9]+"'


def _disk_free(cluster_name: str, namespace: str) -> str:
    # The data (<cluster>-<n>) and WAL (<cluster>-<n>-wal) claims; the member and the "mountpoint" the alert
    # texts name are read from the claim's name.
    claims = f'namespace="{namespace}",persistentvolumeclaim=~"{cluster_name}-[0-9]+(-wal)?"'
    ratio = f"kubelet_volume_stats_available_bytes{{{claims}}} / kubelet_volume_stats_capacity_bytes{{{claims}}}"
    member = f'label_replace({ratio}, "{MEMBER_LABEL}", "$1", "persistentvolumeclaim", "({cluster_name}-[0-9]+).*")'
    return f'label_replace({member}, "mountpoint", "$1", "persistentvolumeclaim", "(.*)")'


def _disk_free_below(cluster_name: str, namespace: str, fraction: float) -> str:
    return f"{_disk_free(cluster_name, namespace)} < {fraction}"


def _archiving_failing(sel: str) -> str:
    # 1 while the newest attempt failed and none has succeeded since (never archived: -1).
    return (
        f"max by ({MEMBER_LABEL}) (cnpg_pg_stat_archiver_last_failed_time{{{sel}}} "
        f"> bool cnpg_pg_stat_archiver_last_archived_time{{{sel}}})"
    )


def _backup_age(sel: str) -> str:
    # 0 until the first backup completes, which makes the age the whole epoch.
    return f"time() - max(barman_cloud_cloudnative_pg_io_last_available_backup_timestamp{{{sel}}})"


def _connections_used(sel: str) -> str:
    # Client sessions (not the standbys' WAL senders) over max_connections less the superuser reserve, as
    # the VM's pgp_connections_used / pgp_connections_available.
    return (
        f'sum by ({MEMBER_LABEL}) (cnpg_backends_total{{{sel},usename!="streaming_replica"}}) '
        f'/ (max by ({MEMBER_LABEL}) (cnpg_pg_settings_setting{{{sel},name="max_connections"}}) '
        f"- max by ({MEMBER_LABEL}) "
        f'(cnpg_pg_settings_setting{{{sel},name="superuser_reserved_connections"}}))'
    )


def _xid_age_above(sel: str, xids: int) -> str:
    return f"max by (datname) (cnpg_pg_database_xid_age{{{sel}}}) > {xids}"


def _oldest_transaction(sel: str, states: str) -> str:
    # The standbys' WAL senders (streaming_replica) hold no transaction; the query groups by user and state.
    return (
        f"max by ({MEMBER_LABEL}) (cnpg_backends_max_tx_duration_seconds"
        f'{{{sel},state=~"{states}",usename!="streaming_replica"}})'
    )


def _on_primary(sel: str) -> str:
    return f"and on ({MEMBER_LABEL}) cnpg_pg_replication_in_recovery{{{sel}}} == 0"


def _ca_validity_left(ca_not_after: int) -> str:
    return f"vector({ca_not_after}) - time()"


# The CA is the stack's (the operator issues the server certificates from it and renews those, not the CA).
_CA_ALERTS = {"CertificateExpiresSoon": CERT_WARNING_DAYS, "CertificateExpiryCritical": CERT_CRITICAL_DAYS}


def _ca_expiry(ca_not_after: int | None) -> dict[str, Callable[[Thresholds], str]]:
    """The CA's expiry as the alert's timestamp, known when the CA is made (no exporter reads the secret)."""
    if ca_not_after is None:
        return {}

    def within(days: int) -> Callable[[Thresholds], str]:
        return lambda t: f"{_ca_validity_left(ca_not_after)} < {days} * 86400"

    return {name: within(days) for name, days in _CA_ALERTS.items()}


def cnpg_vocabulary(cluster_name: str, namespace: str, ca_not_after: int | None = None) -> MetricVocabulary:
    """The alerts' expressions in CloudNativePG's metrics, narrowed to one Cluster's pods: a Prometheus on
    Kubernetes scrapes every cluster of the Kubernetes cluster, not one."""
    sel = _instance_selector(cluster_name, namespace)
    primaries = f"count(cnpg_pg_replication_in_recovery{{{sel}}} == 0)"
    k8s_status = f"kubectl cnpg status {cluster_name} -n {namespace}"
    exprs: dict[str, Callable[[Thresholds], str]] = {
        "PostgresTargetDown": lambda t: f"up{{{sel}}} == 0",
        "PostgresDown": lambda t: f"cnpg_collector_up{{{sel}}} == 0",
        # A primary is an instance out of recovery; an instance whose PostgreSQL is down reports nothing.
        "PatroniNoPrimary": lambda t: f"({primaries} or vector(0)) < 1",
        "PatroniMultiplePrimaries": lambda t: f"{primaries} > 1",
        # Bytes, as on the VM: the primary's view per standby, whose pod name is its application_name.
        "PostgresReplicationLag": lambda t: (
            f"max by ({MEMBER_LABEL}) (label_replace(cnpg_pg_stat_replication_replay_diff_bytes{{{sel}}}, "
            f'"{MEMBER_LABEL}", "$1", "application_name", "(.+)")) > {t.lag_bytes}'
        ),
        "WalArchivingFailing": lambda t: f"{_archiving_failing(sel)} == 1",
        "BackupMetricsMissing": lambda t: (
            f"absent(barman_cloud_cloudnative_pg_io_last_available_backup_timestamp{{{sel}}}) "
            f"or max(barman_cloud_cloudnative_pg_io_last_failed_backup_timestamp{{{sel}}}) "
            f"> max(barman_cloud_cloudnative_pg_io_last_available_backup_timestamp{{{sel}}})"
        ),
        # Before the first backup the age is the whole epoch: it fires.
        "FullBackupTooOld": lambda t: f"{_backup_age(sel)} > {t.full_backup_max_seconds}",
        "DiskFreeCritical": lambda t: _disk_free_below(cluster_name, namespace, DISK_FREE_CRITICAL),
        "DiskFreeLow": lambda t: _disk_free_below(cluster_name, namespace, DISK_FREE_WARNING),
        "PostgresConnectionSaturation": lambda t: f"{_connections_used(sel)} > {CONNECTION_SATURATION}",
        # Quorum (method any) counts every streaming standby; replicas stream from the primary only.
        "SynchronousStandbyMissing": lambda t: (
            f"(max(cnpg_pg_replication_streaming_replicas{{{sel}}}) or vector(0)) < {t.synchronous_count} "
            f"and on() {primaries} == 1"
        ),
        "TransactionIdWraparoundWarning": lambda t: _xid_age_above(sel, XID_AGE_WARNING),
        "TransactionIdWraparoundCritical": lambda t: _xid_age_above(sel, XID_AGE_CRITICAL),
        "PostgresLongRunningTransaction": lambda t: (
            f"{_oldest_transaction(sel, 'active')} > {LONG_TRANSACTION_SECONDS}"
        ),
        # The default query measures the transaction's age (xact_start), not the time since the session went
        # idle (state_change): at least as long, so it fires no later than the VM's.
        "PostgresIdleInTransaction": lambda t: (
            f"{_oldest_transaction(sel, 'idle in transaction.*')} > {IDLE_IN_TRANSACTION_SECONDS}"
        ),
        "ReplicationSlotInactive": lambda t: f"cnpg_pg_replication_slots_active{{{sel}}} == 0 {_on_primary(sel)}",
        "ReplicationSlotRetainingWal": lambda t: (
            f"cnpg_pg_replication_slots_pg_wal_lsn_diff{{{sel}}} > {t.slot_retained_bytes} {_on_primary(sel)}"
        ),
    }
    return MetricVocabulary(
        name="cnpg",
        exprs={**exprs, **_ca_expiry(ca_not_after)},
        left_out={k: v for k, v in CNPG_LEFT_OUT.items() if ca_not_after is None or k not in _CA_ALERTS},
        annotations={
            "PostgresTargetDown": {
                "runbook": f"{k8s_status}; kubectl -n {namespace} describe pod {{{{ $labels.pod }}}}; check the "
                "NetworkPolicy admitting the monitoring namespace to port 9187.",
            },
            "PostgresDown": {
                "description": "The instance manager answers but PostgreSQL on {{ $labels.member }} does not.",
                "runbook": f"{k8s_status}; kubectl -n {namespace} logs {{{{ $labels.member }}}} -c postgres.",
            },
            "PatroniNoPrimary": {
                "description": "No instance has been out of recovery for the alert's duration (longer than a "
                "failover takes): writes are failing.",
                "runbook": f"{k8s_status}; kubectl -n {namespace} get events; with dataDurability required a "
                "promotion needs a healthy synchronous standby.",
            },
            "PatroniMultiplePrimaries": {
                "runbook": f"{k8s_status} shows the operator's primary; the operator fences and demotes the other "
                f"(kubectl cnpg fencing on {cluster_name} <pod> -n {namespace} if it does not).",
            },
            "PostgresReplicationLag": {
                "runbook": f"{k8s_status}; check the standby pod's CPU and I/O (kubectl top pod -n {namespace}), long "
                "queries holding replay (pg_stat_activity), network throughput between zones.",
            },
            "WalArchivingFailing": {
                "runbook": f"kubectl -n {namespace} logs {{{{ $labels.member }}}} -c plugin-barman-cloud; "
                f"kubectl -n {namespace} describe objectstore; check the bucket permissions of the service "
                "account's role and KMS access.",
            },
            "BackupMetricsMissing": {
                "description": "The Barman Cloud plugin has reported no backup state for 30 minutes, or the "
                "newest backup failed.",
                "runbook": f"kubectl -n {namespace} get backups; kubectl -n {namespace} describe objectstore; "
                "the plugin's logs in the instance pods.",
            },
            "FullBackupTooOld": {
                "runbook": f"kubectl -n {namespace} get scheduledbackups,backups; "
                f"kubectl cnpg backup {cluster_name} -n {namespace} --method plugin "
                "--plugin-name barman-cloud.cloudnative-pg.io.",
            },
            "DiskFreeCritical": {
                "runbook": f"Check pg_wal size and archiving ({k8s_status}); grow the volume: raise the Cluster's "
                "storage size (the StorageClass must allow expansion).",
            },
            "DiskFreeLow": {"runbook": "Raise the Cluster's storage (or walStorage) size."},
            "PostgresConnectionSaturation": {
                "runbook": "Route applications through the Pooler services; look for idle sessions in "
                "pg_stat_activity.",
            },
            "SynchronousStandbyMissing": {
                "runbook": f"{k8s_status}; bring a standby back (kubectl -n {namespace} get pods; its logs).",
            },
            "PostgresIdleInTransaction": {
                "description": "A client's session is idle in a transaction that has been open this long (CNPG "
                "measures the transaction, not the idle time): it holds its locks and the xmin horizon, and "
                "PostgreSQL ends it at idle_in_transaction_session_timeout, rolling its work back.",
            },
            "ReplicationSlotInactive": {
                "runbook": f"{k8s_status}: the operator's _cnpg_ slot of a standby is inactive while that standby "
                f"is down (bring it back). Any other slot: find its consumer; if it is gone, kubectl cnpg psql "
                f"{cluster_name} -n {namespace} -- -c \"SELECT pg_drop_replication_slot('<slot>')\".",
            },
        },
    )


def alert_rules(
    spec: ClusterSpec,
    cluster_name: str,
    namespace: str,
    runbook_base: str = "docs/runbooks.md",
    ca_not_after: int | None = None,
) -> dict:
    return prometheus.cluster_alert_rules(
        spec.scope, spec.topology, runbook_base, cnpg_vocabulary(cluster_name, namespace, ca_not_after)
    )


# --- the dashboard ------------------------------------------------------------------------------------------

# The VM panels CloudNativePG cannot draw, each with why (VM panel title -> reason).
CNPG_PANELS_LEFT_OUT: dict[str, str] = {
    grafana.TOP_STATEMENTS_PANEL: (
        "CloudNativePG's default monitoring queries export no pg_stat_statements rows; a custom query would "
        "need the extension created in every Cluster's database"
    ),
    grafana.CERTIFICATE_PANEL: (
        "the operator renews the server and replication certificates itself and its exporter exposes no "
        "certificate expiry; the stack's CA expiry is drawn instead once it is known (ca_not_after), not before"
    ),
}

# The metrics the panels read beyond the rules' (CNPG_METRICS), by where they come from.
CNPG_DASHBOARD_METRICS: frozenset[str] = frozenset(
    {
        "ALERTS",  # Prometheus's own, per pending or firing alert
        "cnpg_pg_replication_lag",  # default query pg_replication (seconds; 0 on the primary)
        "cnpg_pg_stat_database_xact_commit",  # default query pg_stat_database, a counter per datname
        "cnpg_pg_stat_archiver_archived_count",  # default query pg_stat_archiver, a counter
        "cnpg_pg_database_size_bytes",  # default query pg_database, per datname
    }
)


def cnpg_panel_set(
    spec: ClusterSpec, cluster_name: str, namespace: str, ca_not_after: int | None = None
) -> grafana.PanelSet:
    """The VM dashboard's panels (titles, legends, units, order) in CloudNativePG's metrics, narrowed to one
    Cluster as the rules are; the expressions the alerts threshold are the alerts' own."""
    sel = _instance_selector(cluster_name, namespace)
    # Unpacked by position: a panel added to the VM dashboard stops this until CloudNativePG draws or names it.
    (
        primary,
        replay,
        senders,
        commits,
        connections,
        archived,
        failing,
        backup,
        disk,
        certificate,
        growth,
        sessions,
        xid_age,
        _top_statements,  # left out (CNPG_PANELS_LEFT_OUT)
        alerts,
    ) = grafana.panels(spec)
    vocabulary = cnpg_vocabulary(cluster_name, namespace, ca_not_after)
    raised = "|".join(sorted(set(vocabulary.exprs) - set(vocabulary.left_out)))
    drawn = [
        primary._replace(expr=f"max by ({MEMBER_LABEL}) (cnpg_pg_replication_in_recovery{{{sel}}} == bool 0)"),
        # CloudNativePG measures a standby's own lag in time, not bytes; the bytes are the primary's view, below.
        replay._replace(expr=f"max by ({MEMBER_LABEL}) (cnpg_pg_replication_lag{{{sel}}})", unit="s"),
        # Its pg_stat_replication query exports no sync_state; application_name is the standby's pod.
        senders._replace(
            expr=f"max by (application_name) (cnpg_pg_stat_replication_replay_diff_bytes{{{sel}}})",
            legend="{{application_name}}",
        ),
        commits._replace(expr=f"sum by ({MEMBER_LABEL}) (rate(cnpg_pg_stat_database_xact_commit{{{sel}}}[5m]))"),
        connections._replace(expr=_connections_used(sel)),
        archived._replace(
            expr=f"sum by ({MEMBER_LABEL}) (rate(cnpg_pg_stat_archiver_archived_count{{{sel}}}[15m])) * 60"
        ),
        failing._replace(expr=_archiving_failing(sel)),
        backup._replace(expr=_backup_age(sel)),
        disk._replace(expr=f"min by ({MEMBER_LABEL}) ({_disk_free(cluster_name, namespace)})"),
        *(
            [certificate._replace(expr=_ca_validity_left(ca_not_after), legend="CA")]
            if ca_not_after is not None
            else []
        ),
        growth._replace(expr=f"max by (datname) (deriv(cnpg_pg_database_size_bytes{{{sel}}}[1h])) * 3600"),
        # Client sessions: the backends query counts the standbys' WAL senders too, under their own user.
        sessions._replace(
            expr=f'sum by ({MEMBER_LABEL}, state) (cnpg_backends_total{{{sel},usename!="streaming_replica"}})'
        ),
        xid_age._replace(expr=f"max by (datname) (cnpg_pg_database_xid_age{{{sel}}})"),
        # Our alerts, in this Cluster's namespace or aggregated past it (the rules' max/count keep no namespace:
        # another pg-platform Cluster's aggregated alerts in the same Prometheus show here too).
        alerts._replace(
            expr=f'sum by (alertname, severity) (ALERTS{{alertstate="firing",alertname=~"{raised}",'
            f'namespace=~"{namespace}|"}})'
        ),
    ]
    left_out = {k: v for k, v in CNPG_PANELS_LEFT_OUT.items() if ca_not_after is None or k != certificate.title}
    return grafana.PanelSet("cnpg", drawn, left_out)


def _metadata(name: str, namespace: str, labels: Mapping[str, str]) -> dict[str, Any]:
    return {"name": name, "namespace": namespace, "labels": {**labels, **SELECTOR_LABELS}}


def prometheus_rule(
    spec: ClusterSpec, cluster_name: str, namespace: str, labels: Mapping[str, str], ca_not_after: int | None = None
) -> dict:
    """`ca_not_after` (epoch seconds): alert on the stack's CA as the VM flavour alerts on its certificates."""
    return {
        "apiVersion": MONITORING_API,
        "kind": "PrometheusRule",
        "metadata": _metadata(f"{cluster_name}-alerts", namespace, labels),
        "spec": alert_rules(spec, cluster_name, namespace, ca_not_after=ca_not_after),
    }


def _member_relabeling() -> dict[str, Any]:
    return {"action": "replace", "sourceLabels": ["__meta_kubernetes_pod_name"], "targetLabel": MEMBER_LABEL}


def pod_monitor(cluster_name: str, namespace: str, labels: Mapping[str, str]) -> dict:
    """The instances, as CloudNativePG recommends now that its enablePodMonitor is deprecated, narrowed to
    cnpg.io/podRole instance as the operator's own PodMonitor is: pooler pods carry cnpg.io/cluster too."""
    return {
        "apiVersion": MONITORING_API,
        "kind": "PodMonitor",
        "metadata": _metadata(cluster_name, namespace, labels),
        "spec": {
            "namespaceSelector": {"matchNames": [namespace]},
            "selector": {"matchLabels": {"cnpg.io/cluster": cluster_name, "cnpg.io/podRole": "instance"}},
            "podMetricsEndpoints": [
                {
                    "port": METRICS_PORT_NAME,
                    "interval": f"{SCRAPE_INTERVAL_SECONDS}s",
                    "relabelings": [_member_relabeling()],
                }
            ],
        },
    }


def pooler_pod_monitor(cluster_name: str, namespace: str, labels: Mapping[str, str]) -> dict:
    """Every Pooler of the Cluster (the rw and ro PgBouncers), each pod labelled with its pooler's name."""
    return {
        "apiVersion": MONITORING_API,
        "kind": "PodMonitor",
        "metadata": _metadata(f"{cluster_name}-pooler", namespace, labels),
        "spec": {
            "namespaceSelector": {"matchNames": [namespace]},
            "selector": {
                "matchLabels": {"cnpg.io/cluster": cluster_name, "cnpg.io/podRole": "pooler"},
                "matchExpressions": [{"key": "cnpg.io/poolerName", "operator": "Exists"}],
            },
            "podMetricsEndpoints": [
                {
                    "port": METRICS_PORT_NAME,
                    "interval": f"{SCRAPE_INTERVAL_SECONDS}s",
                    "relabelings": [
                        _member_relabeling(),
                        {
                            "action": "replace",
                            "sourceLabels": ["__meta_kubernetes_pod_label_cnpg_io_poolerName"],
                            "targetLabel": "pooler",
                        },
                    ],
                }
            ],
        },
    }


def pod_monitors(cluster_name: str, namespace: str, labels: Mapping[str, str]) -> list[dict]:
    return [pod_monitor(cluster_name, namespace, labels), pooler_pod_monitor(cluster_name, namespace, labels)]


# --- kube-prometheus-stack ---------------------------------------------------------------------------------


def grafana_admin_secret_name(spec: ClusterSpec) -> str:
    return f"{spec.scope}-grafana-admin"


def grafana_admin_metadata(spec: ClusterSpec, namespace: str, labels: Mapping[str, str]) -> dict[str, Any]:
    """The metadata of the Secret the values' grafana.admin.existingSecret names (keys GRAFANA_ADMIN_*_KEY)."""
    return _metadata(grafana_admin_secret_name(spec), namespace, labels)


def webhook_secret_name(spec: ClusterSpec) -> str:
    return f"{spec.scope}-alert-webhooks"


def webhook_url_file(spec: ClusterSpec, receiver: str) -> str:
    return f"{ALERTMANAGER_SECRETS_DIR}/{webhook_secret_name(spec)}/{receiver}"


def alertmanager_config(
    spec: ClusterSpec, receivers: Sequence[ReceiverLike], smtp_smarthost: str | None, smtp_from: str | None
) -> dict:
    """dataplane.alertmanager's configuration, each webhook reading its URL from the mounted Secret
    (`url_file`), so no URL is in the Helm values, the release's state or the config Secret the chart renders."""
    config = alertmanager.alertmanager_template(spec, receivers, smtp_smarthost, smtp_from)
    for receiver in config["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            hook["url_file"] = webhook_url_file(spec, receiver["name"])
    return config


def webhook_secret(
    spec: ClusterSpec, receivers: Sequence[ReceiverLike], namespace: str, labels: Mapping[str, str]
) -> dict | None:
    """The Secret Alertmanager mounts: one key per webhook receiver (its name), the URL as the value; None when
    no receiver has a webhook. The caller marks stringData secret (the URLs carry their service's token)."""
    urls = alertmanager.webhook_urls(receivers)
    if not urls:
        return None
    # The same checks the VM's monitoring node runs before it writes a URL (https, one URL, no quoting); they
    # read the webhook receivers of a configuration only.
    alertmanager.fill_webhook_urls({"receivers": [{"name": n, "webhook_configs": [{}]} for n in urls]}, urls)
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _metadata(webhook_secret_name(spec), namespace, labels),
        "type": "Opaque",
        "stringData": dict(urls),
    }


def default_dashboards(
    spec: ClusterSpec, cluster_name: str, namespace: str, ca_not_after: int | None = None
) -> dict[str, str]:
    return {spec.scope: grafana.render_dashboard(spec, cnpg_panel_set(spec, cluster_name, namespace, ca_not_after))}


def kube_prometheus_stack_values(
    spec: ClusterSpec,
    cluster_name: str,
    namespace: str,
    receivers: Sequence[ReceiverLike],
    smtp_smarthost: str | None,
    smtp_from: str | None,
    dashboards: Mapping[str, str] | None = None,
    ca_not_after: int | None = None,
) -> dict:
    """Values for the kube-prometheus-stack chart (the caller pins the chart): our alert routing, our dashboards
    (the Cluster's, in CloudNativePG's metrics, unless given), and a Prometheus that selects our PodMonitors and
    PrometheusRules by SELECTOR_LABELS.

    The chart's default rules stay off: the stage's receivers get the platform's alerts, not the Kubernetes
    cluster's (which belong to its owner). The control-plane scrapes stay off: a managed control plane (EKS)
    exposes no etcd, scheduler or controller-manager to scrape."""
    topo = spec.topology
    hooks = alertmanager.webhook_receivers(receivers)
    retention_days = topo.retention_full_days.value
    # Mounted at ALERTMANAGER_SECRETS_DIR/<name>/, where the webhooks' url_file points.
    alertmanager_spec = {"secrets": [webhook_secret_name(spec)]} if hooks else {}
    interval = f"{SCRAPE_INTERVAL_SECONDS}s"
    return {
        "defaultRules": {"create": False},
        "kubeEtcd": {"enabled": False},
        "kubeControllerManager": {"enabled": False},
        "kubeScheduler": {"enabled": False},
        "kubeProxy": {"enabled": False},
        "alertmanager": {
            "config": alertmanager_config(spec, receivers, smtp_smarthost, smtp_from),
            "alertmanagerSpec": alertmanager_spec,
        },
        "prometheus": {
            "prometheusSpec": {
                "scrapeInterval": interval,
                "evaluationInterval": interval,
                "externalLabels": {"cluster": spec.scope, "stage": topo.stage},
                # Metrics as long as the backups: any moment a restore can reach has its metrics too.
                "retention": f"{retention_days}d",
                "retentionSize": f"{int(PROMETHEUS_VOLUME_GIB * PROMETHEUS_RETENTION_SIZE_FRACTION)}GiB",
                "storageSpec": {
                    "volumeClaimTemplate": {
                        "spec": {
                            "accessModes": ["ReadWriteOnce"],
                            "resources": {"requests": {"storage": f"{PROMETHEUS_VOLUME_GIB}Gi"}},
                        }
                    }
                },
                "podMonitorSelectorNilUsesHelmValues": False,
                "podMonitorSelector": {"matchLabels": dict(SELECTOR_LABELS)},
                "podMonitorNamespaceSelector": {},
                "ruleSelectorNilUsesHelmValues": False,
                "ruleSelector": {"matchLabels": dict(SELECTOR_LABELS)},
                "ruleNamespaceSelector": {},
            }
        },
        "grafana": {
            "admin": {
                "existingSecret": grafana_admin_secret_name(spec),
                "userKey": GRAFANA_ADMIN_USER_KEY,
                "passwordKey": GRAFANA_ADMIN_PASSWORD_KEY,
            },
            "grafana.ini": {
                "users": {"allow_sign_up": False},
                "auth.anonymous": {"enabled": False},
                "analytics": {"reporting_enabled": False, "check_for_updates": False},
            },
            # Our dashboards name their datasource by this uid (dataplane.grafana), as on the VM.
            "sidecar": {"datasources": {"uid": grafana.DATASOURCE_UID}},
            "dashboardProviders": {
                "dashboardproviders.yaml": {
                    "apiVersion": 1,
                    "providers": [
                        {
                            "name": GRAFANA_DASHBOARD_PROVIDER,
                            "orgId": 1,
                            "folder": "pg-platform",
                            "type": "file",
                            "disableDeletion": True,
                            "editable": False,
                            "options": {"path": f"/var/lib/grafana/dashboards/{GRAFANA_DASHBOARD_PROVIDER}"},
                        }
                    ],
                }
            },
            "dashboards": {
                GRAFANA_DASHBOARD_PROVIDER: {
                    name: {"json": text}
                    for name, text in (
                        default_dashboards(spec, cluster_name, namespace, ca_not_after)
                        if dashboards is None
                        else dashboards
                    ).items()
                }
            },
        },
    }
