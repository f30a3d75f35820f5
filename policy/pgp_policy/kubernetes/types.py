"""pulumi-kubernetes' type tokens of the objects the pack reads (`kubernetes:<group>/<version>:<Kind>`)."""

from __future__ import annotations

CNPG_CLUSTER = "kubernetes:postgresql.cnpg.io/v1:Cluster"
OBJECT_STORE = "kubernetes:barmancloud.cnpg.io/v1:ObjectStore"
PROMETHEUS_RULE = "kubernetes:monitoring.coreos.com/v1:PrometheusRule"
POD_MONITOR = "kubernetes:monitoring.coreos.com/v1:PodMonitor"
