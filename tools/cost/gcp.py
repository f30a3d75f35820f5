"""GCP's part of `tools cost` (the seam is tools/cost/model.py's CloudCosts): on-demand list prices in USD.

Quantities come from the graph: instances by machine type and hours, persistent disks and Hyperdisk by GB and
provisioned IOPS/throughput, internal forwarding rules, Cloud NAT (per VM it serves) and its auto-allocated address,
external addresses, KMS key versions, Secret Manager versions per replica location, Cloud DNS zones and alerting
conditions. The backup bucket's storage is a stated assumption; usage (data processed and transferred, operations,
flow log and log volume) is not modelled. A machine type with no entry in PRICES is refused with the file to add it
to.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from stacks.clouds.gcp import REGION_KEY
from tools.cost.model import (
    HOURS_PER_MONTH,
    LOCAL_TYPES,
    CloudCosts,
    CostError,
    Line,
    Price,
    backup_gb,
    count,
    not_found,
)
from tools.records import Plan

PRICES_READ_ON = "2026-12-02"  # when the sources below were read
SOURCE_FILE = "tools/cost/gcp.py"
NAT_VM_PRICED_UP_TO = 32  # Cloud NAT bills per VM served up to 32 VMs, a flat gateway rate above
# Hyperdisk Balanced includes 3,000 IOPS and 140 MiB/s with every disk (Google Cloud, "About Hyperdisk").
HYPERDISK_BALANCED_FREE_IOPS = 3000
HYPERDISK_BALANCED_FREE_MIBS = 140
_NOT_FOUND = not_found(PRICES_READ_ON)
# Compute Engine's regional rates render dynamically on cloud.google.com/compute/vm-instance-pricing; this file
# sums each type's vCPU and memory SKUs from the Cloud Billing Catalog per region (the stored copy: 2025-03-06).
_CYCLENERD = "github.com/Cyclenerd/google-cloud-pricing-cost-calculator pricing.yml (Billing Catalog, 2025-03-06)"

PRICES: dict[str, dict[str, Price]] = {
    "europe-west3": {
        # The machine types the stacks use (Pulumi.gcp-*.yaml); add a type here before a stack selects it.
        "gce:n2-highmem-4": Price(0.337576, "instance-hour", _CYCLENERD, "Linux, on-demand; 4 vCPUs, 32 GiB"),
        "gce:e2-standard-2": Price(0.08633556, "instance-hour", _CYCLENERD, "Linux, on-demand; 2 vCPUs, 8 GiB"),
        "pd:pd-ssd:gb": Price(0.204, "GB-month", _CYCLENERD, "zonal SSD persistent disk, europe-west3"),
        "pd:pd-balanced:gb": Price(0.12, "GB-month", _CYCLENERD, "zonal balanced persistent disk, europe-west3"),
        "lb:forwarding-rule:hour": Price(
            None,
            "forwarding-rule-hour",
            _NOT_FOUND,
            "only us-central1's $0.025/h for the first 5 rules (cloud.google.com/load-balancing/pricing, via "
            "api-evangelist/google-cloud-load-balancing, 2026-09-20) was found",
        ),
        "nat:vm:hour": Price(
            0.0014,
            "VM-hour (up to 32 VMs)",
            "cloud.google.com/nat/pricing, as quoted in github.com/ChiefGyk3D/Clouds-Against-Humanity/wiki/"
            "Provider-GCP-Cost-Lesson (read 2026-10-16)",
            "the quote is for us-central1",
        ),
        "ip:external:hour": Price(
            0.005, "address-hour", _CYCLENERD, "in use by a standard VM or a Cloud NAT gateway, europe-west3"
        ),
        "gcs:standard:gb": Price(
            0.023, "GB-month", "cloud.google.com/storage/pricing (Frankfurt europe-west3, Standard storage)"
        ),
        "kms:software:version": Price(
            0.06,
            "key-version-month",
            "cloud.google.com/kms/pricing (effective 2017-01-11)",
            "SOFTWARE protection level; same in every location",
        ),
        "kms:hsm:version": Price(1.0, "key-version-month", "cloud.google.com/kms/pricing (AES-256, HSM)"),
        "secretmanager:version": Price(
            0.06,
            "version-location-month",
            "cloud.google.com/secret-manager/pricing",
            "the free tier's 6 versions per billing account are not deducted",
        ),
        "dns:zone": Price(
            0.20,
            "managed-zone-month",
            "Cloud Billing Catalog SKU 8C22-6FC3-D478 (ManagedZone), quoted on stackoverflow.com/questions/60188073",
            "global; first 25 zones",
        ),
        "monitoring:condition": Price(
            None,
            "condition-month",
            _NOT_FOUND,
            "alerting charges per condition and per time series returned (docs.cloud.google.com/monitoring/alerts/"
            "cost-control); the rate was not found",
        ),
    },
}

NOT_MODELLED = (
    "data transfer, load balancer and Cloud NAT data processing (per GiB)",
    "KMS, Secret Manager and Cloud Storage operations, Cloud DNS queries, alerting's time series returned",
    "VPC flow logs and Cloud NAT logs (per GB generated), Cloud Logging storage, the Ops Agent's metrics",
    "key versions added by each 90-day rotation, backups' operation charges and storage beyond the stated assumption",
)

NOT_BILLED: dict[str, str] = {
    **{
        t: "no charge"
        for t in (
            "gcp:compute/network:Network",
            "gcp:compute/firewall:Firewall",
            "gcp:compute/router:Router",
            "gcp:compute/instanceGroup:InstanceGroup",
            "gcp:compute/regionBackendService:RegionBackendService",
            "gcp:compute/regionHealthCheck:RegionHealthCheck",
            "gcp:dns/recordSet:RecordSet",
            "gcp:kms/keyRing:KeyRing",
            "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember",
            "gcp:projects/iAMCustomRole:IAMCustomRole",
            "gcp:projects/iAMMember:IAMMember",
            "gcp:projects/serviceIdentity:ServiceIdentity",
            "gcp:secretmanager/secret:Secret",
            "gcp:secretmanager/secretIamMember:SecretIamMember",
            "gcp:serviceaccount/account:Account",
            "gcp:serviceaccount/iAMMember:IAMMember",
            "gcp:storage/bucketIAMMember:BucketIAMMember",
            "gcp:monitoring/notificationChannel:NotificationChannel",
        )
    },
    "gcp:compute/subnetwork:Subnetwork": "no charge (its flow logs are billed per GB generated: not modelled)",
    "gcp:compute/networkPeering:NetworkPeering": "no charge (data transfer only)",
    **{t: "not a Google Cloud resource" for t in LOCAL_TYPES},
}

BILLED = (
    "gcp:compute/instance:Instance",
    "gcp:compute/disk:Disk",
    "gcp:compute/forwardingRule:ForwardingRule",
    "gcp:compute/routerNat:RouterNat",
    "gcp:compute/address:Address",  # external addresses only; internal ones are free
    "gcp:storage/bucket:Bucket",
    "gcp:kms/cryptoKey:CryptoKey",
    "gcp:secretmanager/secretVersion:SecretVersion",
    "gcp:dns/managedZone:ManagedZone",
    "gcp:monitoring/alertPolicy:AlertPolicy",
)


def priced_types() -> set[str]:
    return {key.removeprefix("gce:") for table in PRICES.values() for key in table if key.startswith("gce:")}


def _disks(plan: Plan) -> list[tuple[str, str, dict[str, Any]]]:
    """(role, type, properties) of every disk: the instances' boot disks and the standalone data disks."""
    found = []
    for vm in plan.by_type("gcp:compute/instance:Instance"):
        boot = (vm.inputs.get("bootDisk") or {}).get("initializeParams") or {}
        role = (boot.get("labels") or {}).get("role") or "boot"
        found.append((role, boot.get("type") or "pd-standard", {"size": boot.get("size") or 10, **boot}))
    for disk in plan.by_type("gcp:compute/disk:Disk"):
        role = (disk.inputs.get("labels") or {}).get("role") or "data"
        found.append((role, disk.inputs.get("type") or "pd-standard", disk.inputs))
    return found


def _disk_lines(plan: Plan) -> tuple[list[Line], list[float]]:
    lines: list[Line] = []
    groups: dict[tuple[str, str], list[float]] = {}
    iops = throughput = 0.0
    for role, kind, props in _disks(plan):
        groups.setdefault((kind, role), []).append(float(props.get("size") or 0))
        if kind == "hyperdisk-balanced":
            iops += max(0.0, float(props.get("provisionedIops") or 0) - HYPERDISK_BALANCED_FREE_IOPS)
            throughput += max(0.0, float(props.get("provisionedThroughput") or 0) - HYPERDISK_BALANCED_FREE_MIBS)
        elif kind.startswith("hyperdisk"):
            raise CostError(f"disk type {kind} has no price: add it to {SOURCE_FILE}")
    for (kind, role), sizes in sorted(groups.items(), key=lambda kv: (not kv[0][1].endswith("boot"), kv[0])):
        lines.append(Line(f"{kind} {role} disks x{len(sizes)}", sum(sizes), "GB-month", f"pd:{kind}:gb"))
    if iops or throughput:
        lines.append(Line("Hyperdisk Balanced IOPS above 3,000", iops, "IOPS-month", "pd:hyperdisk-balanced:iops"))
        lines.append(
            Line(
                "Hyperdisk Balanced throughput above 140 MiB/s", throughput, "MiB/s-month", "pd:hyperdisk-balanced:mibs"
            )
        )
    data = [s for (_, role), sizes in groups.items() if role == "postgres-data" for s in sizes]
    return lines, data or [s for (_, role), sizes in groups.items() if not role.endswith("boot") for s in sizes]


def quantities(plan: Plan, storage_gb: float | None = None) -> tuple[list[Line], list[str]]:
    """The billable quantities of a plan, as unpriced lines, and the assumptions made."""
    h = HOURS_PER_MONTH
    lines: list[Line] = []
    assumptions = [
        f"{h} hours per month, every resource running all month",
        "instances at the hourly list rate, before the sustained-use discount N2 earns over a whole month (about 20%)",
    ]
    instances = plan.by_type("gcp:compute/instance:Instance")
    types = Counter(vm.inputs["machineType"] for vm in instances)
    unpriced = sorted(set(types) - priced_types())
    if unpriced:
        raise CostError(
            f"no price for machine type {', '.join(unpriced)}: add 'gce:<type>' to PRICES in {SOURCE_FILE} "
            "(on-demand Linux rate for the stack's region, with its source and date)"
        )
    for machine_type, n in sorted(types.items()):
        lines.append(Line(f"{machine_type} x{n} (Linux, on-demand)", n * h, "instance-hour", f"gce:{machine_type}"))
    disk_lines, data_gb = _disk_lines(plan)
    lines += disk_lines
    rules = count(plan, "gcp:compute/forwardingRule:ForwardingRule")
    if rules:
        lines.append(Line(f"Forwarding rules x{rules}", rules * h, "forwarding-rule-hour", "lb:forwarding-rule:hour"))
    nats = plan.by_type("gcp:compute/routerNat:RouterNat")
    served = sum(
        1 for vm in instances if not any(n.get("accessConfigs") for n in vm.inputs.get("networkInterfaces") or [])
    )
    if nats:
        if served > NAT_VM_PRICED_UP_TO:
            raise CostError(f"Cloud NAT serving {served} VMs bills a flat gateway rate: add it to {SOURCE_FILE}")
        lines.append(
            Line(f"Cloud NAT x{len(nats)} serving {served} VMs", len(nats) * served * h, "VM-hour", "nat:vm:hour")
        )
        auto = sum(1 for n in nats if n.inputs.get("natIpAllocateOption") == "AUTO_ONLY")
        if auto:
            assumptions.append(
                f"{auto} Cloud NAT gateway(s) with one auto-allocated external address each (the minimum)"
            )
    external = count(plan, "gcp:compute/address:Address", lambda r: r.inputs.get("addressType") == "EXTERNAL")
    external += sum(1 for n in nats if n.inputs.get("natIpAllocateOption") == "AUTO_ONLY")
    if external:
        lines.append(Line(f"External IPv4 addresses x{external}", external * h, "address-hour", "ip:external:hour"))
    keys = plan.by_type("gcp:kms/cryptoKey:CryptoKey")
    by_level = Counter(((k.inputs.get("versionTemplate") or {}).get("protectionLevel") or "SOFTWARE") for k in keys)
    for level, n in sorted(by_level.items()):
        lines.append(
            Line(
                f"KMS {level.lower()} keys x{n} (one active version)",
                n,
                "key-version-month",
                f"kms:{level.lower()}:version",
            )
        )
    if keys:
        assumptions.append("one active version per KMS key (each scheduled rotation adds one until it is destroyed)")
    secrets = {s.inputs.get("secretId") or s.name: s for s in plan.by_type("gcp:secretmanager/secret:Secret")}
    versions = 0
    for version in plan.by_type("gcp:secretmanager/secretVersion:SecretVersion"):
        secret = next(
            (s for key, s in secrets.items() if str(version.inputs.get("secret") or "").endswith("/" + key)), None
        )
        replicas = (
            ((secret.inputs.get("replication") or {}).get("userManaged") or {}).get("replicas") if secret else None
        )
        versions += len(replicas) if replicas else 1  # automatic replication bills as one location
    if versions:
        lines.append(
            Line(f"Secret Manager active versions x{versions}", versions, "version-month", "secretmanager:version")
        )
    zones = count(plan, "gcp:dns/managedZone:ManagedZone")
    if zones:
        lines.append(Line(f"Cloud DNS managed zones x{zones}", zones, "zone-month", "dns:zone"))
    conditions = sum(
        len(p.inputs.get("conditions") or []) for p in plan.by_type("gcp:monitoring/alertPolicy:AlertPolicy")
    )
    if conditions:
        policies = count(plan, "gcp:monitoring/alertPolicy:AlertPolicy")
        lines.append(
            Line(
                f"Alerting policies x{policies} ({conditions} conditions)",
                conditions,
                "condition-month",
                "monitoring:condition",
            )
        )
    buckets = plan.by_type("gcp:storage/bucket:Bucket")
    for bucket in buckets:
        if (bucket.inputs.get("storageClass") or "STANDARD") != "STANDARD":
            raise CostError(f"bucket {bucket.name}'s storage class has no price: add it to {SOURCE_FILE}")
    if buckets:
        gb, why = backup_gb(data_gb, storage_gb, "Cloud Storage Standard")
        assumptions.append(why + "; noncurrent versions kept until the lifecycle rule deletes them are included")
        lines.append(
            Line(f"Cloud Storage Standard backup storage (assumed {gb:g} GB)", gb, "GB-month", "gcs:standard:gb")
        )
    return lines, assumptions


CLOUD = CloudCosts(
    name="gcp",
    region_key=REGION_KEY,
    source_file=SOURCE_FILE,
    prices_read_on=PRICES_READ_ON,
    prices=PRICES,
    billed=BILLED,
    not_billed=NOT_BILLED,
    not_modelled=NOT_MODELLED,
    quantities=quantities,
)
