"""Kubernetes's part of `tools cost` (the seam is tools/cost/model.py's CloudCosts): `pg-platform:cloud:
kubernetes`, on an existing cluster in a host cloud (`pg-platform:kubernetes.host`).

Two kinds of lines. The host cloud's resources the stack creates (the backup bucket or account, its key, on
Azure the private endpoint and zone) are priced by the host's own module, with its prices. The Kubernetes
objects (Helm releases, Namespaces, Secrets, the CloudNativePG custom resources, NetworkPolicies, PDBs, GKE's
lock CronJob) are API records in the cluster: they bill nothing of their own. What they occupy does: each
PostgreSQL instance runs on a dedicated node of `cluster.instance_type` and mounts a data and a WAL volume. The
cluster's owner buys those nodes and volumes, but they exist for this stack, so they are added as lines labelled
"(cluster capacity)", priced with the host's instance and disk prices (HOST_CAPACITY).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from types import ModuleType

from stacks.settings import Settings, parse_config
from tools.cost import aws, azure, gcp
from tools.cost.model import BACKUP_GB_PER_DATA_GB, HOURS_PER_MONTH, CloudCosts, CostError, Line
from tools.records import Plan, ResourceRecord

SOURCE_FILE = "tools/cost/kubernetes.py"
CLUSTER_TYPE = "kubernetes:postgresql.cnpg.io/v1:Cluster"
# The host clouds this module prices; each host module's prices, types and quantities are reused, not copied.
HOSTS: dict[str, ModuleType] = {"aws": aws, "azure": azure, "gcp": gcp}


@dataclass(frozen=True)
class Capacity:
    """How a host prices what the pods occupy: its instance price key and label, and the disk the volumes are
    priced as (the storage class's disk type is the cluster owner's choice: this is the one assumed)."""

    node: str  # price key with {type}
    node_label: str
    node_unit: str
    volume: str  # price key per GB(iB)-month
    volume_label: str
    backup: str  # the host module's backup storage price key, re-sized on the instances' data volume
    backup_label: str


HOST_CAPACITY: dict[str, Capacity] = {
    "aws": Capacity("ec2:{type}", "EC2", "instance-hour", "ebs:gp3:gb", "EBS gp3", "s3:standard:gb", "S3 Standard"),
    "azure": Capacity(
        "vm:{type}",
        "VM",
        "VM-hour",
        "disk:premiumv2:gib",
        "Premium SSD v2",
        "blob:hot:zrs:gb",
        "Blob Storage hot ZRS",
    ),
    "gcp": Capacity(
        "gce:{type}",
        "GCE",
        "instance-hour",
        "pd:pd-ssd:gb",
        "SSD persistent disk",
        "gcs:standard:gb",
        "Cloud Storage Standard",
    ),
}
# Kubernetes quantity suffixes (binary and decimal) as GiB: EBS bills per GiB-month ("GB" on its price pages).
_GIB_PER_UNIT = {
    "Ki": 2**-20,
    "Mi": 2**-10,
    "Gi": 1.0,
    "Ti": 2**10,
    "k": 1e3 / 2**30,
    "M": 1e6 / 2**30,
    "G": 1e9 / 2**30,
    "T": 1e12 / 2**30,
}

WHY_NOT_BILLED = "a Kubernetes API object: no charge of its own (the nodes and volumes it occupies are priced)"
KUBERNETES_TYPES = (
    "pulumi:providers:kubernetes",
    "kubernetes:helm.sh/v3:Release",
    "kubernetes:core/v1:Namespace",
    "kubernetes:core/v1:Secret",
    "kubernetes:core/v1:ConfigMap",
    "kubernetes:batch/v1:CronJob",
    "kubernetes:networking.k8s.io/v1:NetworkPolicy",
    "kubernetes:policy/v1:PodDisruptionBudget",
    CLUSTER_TYPE,
    "kubernetes:postgresql.cnpg.io/v1:Pooler",
    "kubernetes:postgresql.cnpg.io/v1:ScheduledBackup",
    "kubernetes:barmancloud.cnpg.io/v1:ObjectStore",
    "kubernetes:monitoring.coreos.com/v1:PodMonitor",
    "kubernetes:monitoring.coreos.com/v1:PrometheusRule",
)
CLUSTER_CHARGES = "the cluster's own charges (control plane, system and pooler/monitoring pods' share of shared nodes)"
NOT_BILLED: dict[str, str] = {**aws.NOT_BILLED, **{t: WHY_NOT_BILLED for t in KUBERNETES_TYPES}}
NOT_MODELLED = (*aws.NOT_MODELLED, CLUSTER_CHARGES)


def gib(quantity: str, where: str) -> float:
    """A Kubernetes storage quantity ("500Gi", "100G") in GiB."""
    text = str(quantity).strip()
    for suffix in sorted(_GIB_PER_UNIT, key=len, reverse=True):
        if text.endswith(suffix) and text[: -len(suffix)].replace(".", "", 1).isdigit():
            return float(text[: -len(suffix)]) * _GIB_PER_UNIT[suffix]
    raise CostError(f"{where} = {quantity!r}: not a storage size the estimate reads (add its unit to {SOURCE_FILE})")


def _settings(stack: str) -> Settings:
    from stacks.files import engine_config

    return parse_config(engine_config(stack), stack)


def _host(host: str) -> ModuleType:
    if host not in HOSTS:
        raise CostError(
            f"pg-platform:kubernetes.host = {host!r}: no cost module prices it "
            f"(add it to {SOURCE_FILE}'s HOSTS; priced hosts: {', '.join(HOSTS)})"
        )
    return HOSTS[host]


def _cluster(plan: Plan) -> ResourceRecord:
    clusters = plan.by_type(CLUSTER_TYPE)
    if len(clusters) != 1:
        raise CostError(f"expected one {CLUSTER_TYPE} in stack {plan.stack}, found {len(clusters)}")
    return clusters[0]


def capacity(plan: Plan, instance_type: str, host: str = "aws") -> tuple[list[Line], float]:
    """The nodes and volumes the stack's PostgreSQL pods occupy, as the host's instance and disk lines, and the
    data volume's GiB."""
    spec = _cluster(plan).inputs["spec"]
    n = int(spec["instances"])
    data = gib(spec["storage"]["size"], "Cluster spec.storage.size")
    wal = gib(spec["walStorage"]["size"], "Cluster spec.walStorage.size") if spec.get("walStorage") else 0.0
    label = "(cluster capacity)"
    c = HOST_CAPACITY[host]
    unit = "GiB-month" if c.volume.endswith(":gib") else "GB-month"
    lines = [
        Line(
            f"{c.node_label} {instance_type} x{n} (Linux, on-demand) {label}: one dedicated node per instance",
            n * HOURS_PER_MONTH,
            c.node_unit,
            c.node.format(type=instance_type),
        ),
        Line(f"{c.volume_label} postgres-data volumes x{n} {label}", n * data, unit, c.volume),
    ]
    if wal:
        lines.append(Line(f"{c.volume_label} postgres-wal volumes x{n} {label}", n * wal, unit, c.volume))
    return lines, data


def quantities(plan: Plan, s3_gb: float | None = None) -> tuple[list[Line], list[str]]:
    settings = _settings(plan.stack)
    if settings.kubernetes is None:  # cloud_of picks this module only for cloud kubernetes, which requires it
        raise CostError(f"stack {plan.stack}: set pg-platform:kubernetes (its host cloud prices the stack)")
    name = settings.kubernetes.host
    host = _host(name)
    own, assumptions = host.quantities(plan, s3_gb)
    nodes, data_gib = capacity(plan, settings.cluster.instance_type, name)
    table = host.PRICES.get(settings.region or "", {})
    for line in nodes:
        if line.price_key not in table:  # a None price is a recorded "not found"; a missing key was never looked up
            raise CostError(
                f"cluster.instance_type = {settings.cluster.instance_type!r}: no {line.price_key} price for "
                f"{settings.region} (add it to {host.CLOUD.source_file})"
            )
    c = HOST_CAPACITY[name]
    if any(line.price_key == c.backup for line in own) and s3_gb is None:
        # The host module sizes the backups from volumes in the graph; here the data volume is the PVC's.
        own = [line for line in own if line.price_key != c.backup]
        assumptions = [a for a in assumptions if not a.startswith(f"{c.backup_label} backup storage")]
        gb = data_gib * BACKUP_GB_PER_DATA_GB
        assumptions.append(
            f"{c.backup_label} backup storage of {gb:g} GB (assumed: {BACKUP_GB_PER_DATA_GB:g} x one instance's "
            f"{data_gib:g} GiB data volume)"
        )
        own.append(Line(f"{c.backup_label} backup storage (assumed {gb:g} GB)", gb, "GB-month", c.backup))
    # The host module's empty IOPS/throughput lines count no volume of the graph; the PVCs use the disks' baseline.
    own = [line for line in own if line.quantity or line.price_key not in ("ebs:gp3:iops", "ebs:gp3:throughput")]
    assumptions.append(
        f"the cluster capacity lines are nodes and {c.volume_label} volumes the cluster's owner buys: one node per "
        "instance, at the disks' baseline IOPS and throughput"
    )
    return [*own, *nodes], assumptions


@functools.cache
def on(host: str) -> CloudCosts:
    """The estimate of a Kubernetes stack in `host`: the host's prices, region key and classifications, and the
    Kubernetes objects as API records."""
    base = _host(host).CLOUD
    return CloudCosts(
        name="kubernetes",
        region_key=base.region_key,
        source_file=SOURCE_FILE,
        prices_read_on=base.prices_read_on,
        prices=base.prices,
        billed=base.billed,
        not_billed={**base.not_billed, **{t: WHY_NOT_BILLED for t in KUBERNETES_TYPES}},
        not_modelled=(*base.not_modelled, CLUSTER_CHARGES),
        quantities=quantities,
    )


def host_of(config: Mapping[str, str]) -> str:
    """The host a stack's engine config names (`pg-platform:kubernetes`, a JSON object), aws when unset."""
    try:
        section = json.loads(config.get("pg-platform:kubernetes") or "{}")
    except json.JSONDecodeError:
        section = {}
    host = section.get("host") if isinstance(section, dict) else None
    return host if isinstance(host, str) else "aws"


CLOUD = on("aws")  # the default host's; tools.cost.cloud_of picks the stack's host with on()
