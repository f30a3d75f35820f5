"""Kubernetes's part of `tools cost` (the seam is tools/cost/model.py's CloudCosts): `pg-platform:cloud:
kubernetes`, on an existing cluster in a host cloud (`pg-platform:kubernetes.host`).

Two kinds of lines. The host cloud's resources the stack creates (on AWS: the backup bucket, its KMS key) are
priced by the host's own module, with its prices. The Kubernetes objects (Helm releases, Namespaces, Secrets,
the CloudNativePG custom resources, NetworkPolicies, PDBs) are API records in the cluster: they bill nothing of
their own. What they occupy does: each PostgreSQL instance runs on a dedicated node of `cluster.instance_type`
and mounts a data and a WAL volume. The cluster's owner buys those nodes and volumes, but they exist for this
stack, so they are added as lines labelled "(cluster capacity)", priced with the host's EC2/EBS prices.
"""

from __future__ import annotations

from types import ModuleType

from stacks.clouds.aws import REGION_KEY
from stacks.settings import Settings, parse_config
from tools.cost import aws
from tools.cost.model import HOURS_PER_MONTH, CloudCosts, CostError, Line
from tools.records import Plan, ResourceRecord

SOURCE_FILE = "tools/cost/kubernetes.py"
CLUSTER_TYPE = "kubernetes:postgresql.cnpg.io/v1:Cluster"
# The host clouds this module prices; each host module's prices, types and quantities are reused, not copied.
HOSTS: dict[str, ModuleType] = {"aws": aws}
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
    "kubernetes:networking.k8s.io/v1:NetworkPolicy",
    "kubernetes:policy/v1:PodDisruptionBudget",
    CLUSTER_TYPE,
    "kubernetes:postgresql.cnpg.io/v1:Pooler",
    "kubernetes:postgresql.cnpg.io/v1:ScheduledBackup",
    "kubernetes:barmancloud.cnpg.io/v1:ObjectStore",
    "kubernetes:monitoring.coreos.com/v1:PodMonitor",
    "kubernetes:monitoring.coreos.com/v1:PrometheusRule",
)
NOT_BILLED: dict[str, str] = {**aws.NOT_BILLED, **{t: WHY_NOT_BILLED for t in KUBERNETES_TYPES}}
NOT_MODELLED = (
    *aws.NOT_MODELLED,
    "the cluster's own charges (control plane, system and pooler/monitoring pods' share of shared nodes)",
)


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


def capacity(plan: Plan, instance_type: str) -> tuple[list[Line], float]:
    """The nodes and volumes the stack's PostgreSQL pods occupy, as AWS EC2/EBS lines, and the data volume's GiB."""
    spec = _cluster(plan).inputs["spec"]
    n = int(spec["instances"])
    data = gib(spec["storage"]["size"], "Cluster spec.storage.size")
    wal = gib(spec["walStorage"]["size"], "Cluster spec.walStorage.size") if spec.get("walStorage") else 0.0
    label = "(cluster capacity)"
    lines = [
        Line(
            f"EC2 {instance_type} x{n} (Linux, on-demand) {label}: one dedicated node per instance",
            n * HOURS_PER_MONTH,
            "instance-hour",
            f"ec2:{instance_type}",
        ),
        Line(f"EBS gp3 postgres-data volumes x{n} {label}", n * data, "GB-month", "ebs:gp3:gb"),
    ]
    if wal:
        lines.append(Line(f"EBS gp3 postgres-wal volumes x{n} {label}", n * wal, "GB-month", "ebs:gp3:gb"))
    return lines, data


def quantities(plan: Plan, s3_gb: float | None = None) -> tuple[list[Line], list[str]]:
    settings = _settings(plan.stack)
    if settings.kubernetes is None:  # cloud_of picks this module only for cloud kubernetes, which requires it
        raise CostError(f"stack {plan.stack}: set pg-platform:kubernetes (its host cloud prices the stack)")
    host = _host(settings.kubernetes.host)
    own, assumptions = host.quantities(plan, s3_gb)
    nodes, data_gib = capacity(plan, settings.cluster.instance_type)
    table = host.PRICES.get(settings.region or "", {})
    for line in nodes:
        if line.price_key not in table:  # a None price is a recorded "not found"; a missing key was never looked up
            raise CostError(
                f"cluster.instance_type = {settings.cluster.instance_type!r}: no {line.price_key} price for "
                f"{settings.region} (add it to {host.CLOUD.source_file})"
            )
    if plan.by_type("aws:s3/bucket:Bucket") and s3_gb is None:
        # The host module sizes the backups from volumes in the graph; here the data volume is the PVC's.
        own = [line for line in own if line.price_key != "s3:standard:gb"]
        assumptions = [a for a in assumptions if not a.startswith("S3 Standard backup storage")]
        gb = data_gib * aws.S3_GB_PER_DATA_GB
        assumptions.append(
            f"S3 Standard backup storage of {gb:g} GB (assumed: {aws.S3_GB_PER_DATA_GB:g} x one instance's "
            f"{data_gib:g} GiB data volume)"
        )
        own.append(Line(f"S3 Standard backup storage (assumed {gb:g} GB)", gb, "GB-month", "s3:standard:gb"))
    # The host module's empty IOPS/throughput lines count no volume of the graph; the PVCs use gp3's baseline.
    own = [line for line in own if line.quantity or line.price_key not in ("ebs:gp3:iops", "ebs:gp3:throughput")]
    assumptions.append(
        "the cluster capacity lines are nodes and gp3 volumes the cluster's owner buys: one node per instance, "
        "at the storage class's baseline IOPS and throughput"
    )
    return [*own, *nodes], assumptions


CLOUD = CloudCosts(
    name="kubernetes",
    region_key=REGION_KEY,  # the host's region: only an AWS host is priced (HOSTS)
    source_file=SOURCE_FILE,
    prices_read_on=aws.PRICES_READ_ON,
    prices=aws.PRICES,
    billed=aws.BILLED,
    not_billed=NOT_BILLED,
    not_modelled=NOT_MODELLED,
    quantities=quantities,
)
