"""Azure's part of `tools cost` (the seam is tools/cost/model.py's CloudCosts): pay-as-you-go list prices in USD.

Quantities come from the graph: VMs by size, managed disks (Premium SSD v2 by GiB and the IOPS/MBps provisioned
above the free baseline; Premium SSD by the performance tier its size falls into), the Standard load balancer,
NAT gateway and Standard public IP hours, private endpoint hours, private DNS zones, HSM keys and the time series
the metric alerts watch. The backup account's blob storage is a stated assumption; usage (data processed, blob
and Key Vault operations, flow log GB, notifications beyond the free quota) is not modelled. A VM size with no
entry in PRICES is refused with the file to add it to, not estimated as something else.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from stacks.clouds.azure import PREMIUM_TIERS, PREMIUM_V2_BASELINE_IOPS, REGION_KEY
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
from tools.records import Plan, ResourceRecord

PRICES_READ_ON = "2026-12-02"  # when the sources below were read
SOURCE_FILE = "tools/cost/azure.py"
PREMIUM_V2_BASELINE_MBPS = 125  # free with every Premium SSD v2 disk, as its 3,000 IOPS (Microsoft Learn)
LB_RULES_INCLUDED = 5  # load-balancing, outbound and inbound NAT rules covered by the Standard LB's hourly rate
# Premium SSD tiers by name, in PREMIUM_TIERS' order (stacks/clouds/azure.py: the largest size of each).
PREMIUM_TIER_NAMES = ("P1", "P2", "P3", "P4", "P6", "P10", "P15", "P20", "P30", "P40", "P50", "P60", "P70", "P80")
_NOT_FOUND = not_found(PRICES_READ_ON)
_VM_NOTE = "Azure's pricing pages render regional rates dynamically; no stored copy had West Europe's"
_C3X = "c3x.dev/resources/azure/"

PRICES: dict[str, dict[str, Price]] = {
    "westeurope": {
        # The sizes the stacks use (Pulumi.azure-*.yaml); add a size here before a stack selects it.
        "vm:Standard_E4ds_v5": Price(None, "VM-hour", _NOT_FOUND, _VM_NOTE),
        "vm:Standard_D2s_v5": Price(None, "VM-hour", _NOT_FOUND, _VM_NOTE),
        "vm:Standard_B2s": Price(None, "VM-hour", _NOT_FOUND, _VM_NOTE),
        "disk:premiumv2:gib": Price(None, "GiB-month", _NOT_FOUND),
        "disk:premiumv2:iops": Price(None, "IOPS-month above 3,000", _NOT_FOUND),
        "disk:premiumv2:mbps": Price(None, "MBps-month above 125", _NOT_FOUND),
        "disk:premium:P4": Price(None, "disk-month", _NOT_FOUND),
        "disk:premium:P6": Price(None, "disk-month", _NOT_FOUND),
        "lb:standard:hour": Price(
            0.025,
            "load-balancer-hour",
            _C3X + "azurerm_lb",
            "covers the first 5 rules; the page names no region",
        ),
        "lb:standard:rule": Price(0.01, "rule-hour beyond 5", _C3X + "azurerm_lb", "the page names no region"),
        "nat:hour": Price(0.045, "NAT-gateway-hour", _C3X + "azurerm_nat_gateway/", "the page names no region"),
        "ip:standard:static": Price(
            0.005,
            "public-IP-hour",
            _C3X + "azurerm_nat_gateway/ ($3.65/month for a static Standard IP)",
            "the page names no region",
        ),
        "privatelink:endpoint:hour": Price(
            0.01,
            "endpoint-hour",
            _C3X + "azurerm_private_endpoint/; oneuptime.com/blog (2026-02-16)",
            "the pages name no region",
        ),
        "dns:private:zone": Price(0.50, "zone-month", "gigxp.com/?p=7107 (2025-08-25)", "first 25 zones"),
        "keyvault:key:hsm": Price(None, "key-month", _NOT_FOUND),
        "monitor:alert:series": Price(None, "time-series-month", _NOT_FOUND),
        "blob:hot:zrs:gb": Price(None, "GB-month", _NOT_FOUND),
        "blob:hot:lrs:gb": Price(None, "GB-month", _NOT_FOUND),
    },
}

NOT_MODELLED = (
    "data transfer, and load balancer / NAT gateway / private endpoint data processing (per GB)",
    "blob, Key Vault and managed disk operations, and each scheduled Key Vault key rotation",
    "VNet flow logs (per GB collected) and their storage account, Azure Monitor notifications beyond the free quota",
    "backups' operation charges and any storage beyond the stated blob assumption",
)

NOT_BILLED: dict[str, str] = {
    **{
        t: "no charge"
        for t in (
            "azure-native:resources:ResourceGroup",
            "azure-native:network:VirtualNetwork",
            "azure-native:network:Subnet",
            "azure-native:network:NetworkSecurityGroup",
            "azure-native:network:NetworkInterface",
            "azure-native:network:PrivateDnsZoneGroup",
            "azure-native:privatedns:PrivateRecordSet",
            "azure-native:privatedns:VirtualNetworkLink",
            "azure-native:authorization:RoleAssignment",
            "azure-native:managedidentity:UserAssignedIdentity",
            "azure-native:managedidentity:FederatedIdentityCredential",
            "azure-native:compute:DiskEncryptionSet",
            "azure-native:storage:BlobContainer",
            "azure-native:storage:BlobContainerImmutabilityPolicy",
            "azure-native:storage:BlobServiceProperties",
            "azure-native:storage:ManagementPolicy",
            "azure-native:keyvault:Vault",
            "azure-native:keyvault:Secret",
        )
    },
    "azure-native:network:NetworkWatcher": "no charge (its flow logs are billed per GB collected: not modelled)",
    "azure-native:network:FlowLog": "charged per GB collected (not modelled)",
    "azure-native:network:VirtualNetworkPeering": "no hourly charge (data transfer only)",
    "azure-native:monitor:ActionGroup": "e-mails within the free monthly quota (not modelled beyond it)",
    **{t: "not an Azure resource" for t in LOCAL_TYPES},
}

BILLED = (
    "azure-native:compute:VirtualMachine",
    "azure-native:compute:Disk",
    "azure-native:network:LoadBalancer",
    "azure-native:network:NatGateway",
    "azure-native:network:PublicIPAddress",
    "azure-native:network:PrivateEndpoint",
    "azure-native:privatedns:PrivateZone",
    "azure-native:keyvault:Key",
    "azure-native:monitor:MetricAlert",
    "azure-native:storage:StorageAccount",
)


def priced_sizes() -> set[str]:
    return {key.removeprefix("vm:") for table in PRICES.values() for key in table if key.startswith("vm:")}


def premium_tier(size_gib: float) -> str:
    """The Premium SSD tier a disk of this size is billed as: the smallest whose size it fits."""
    for (largest, _), name in zip(PREMIUM_TIERS, PREMIUM_TIER_NAMES, strict=True):
        if size_gib <= largest:
            return name
    raise CostError(f"a Premium SSD disk of {size_gib:g} GiB is larger than P80")


def _disks(plan: Plan) -> list[tuple[str, str, dict[str, Any]]]:
    """(role, SKU, properties) of every managed disk: the VMs' OS disks and the standalone data disks."""
    found = []
    for vm in plan.by_type("azure-native:compute:VirtualMachine"):
        os_disk = (vm.inputs.get("storageProfile") or {}).get("osDisk") or {}
        sku = (os_disk.get("managedDisk") or {}).get("storageAccountType") or "Premium_LRS"
        found.append(("OS", sku, {"diskSizeGB": os_disk.get("diskSizeGB") or 30}))
    for disk in plan.by_type("azure-native:compute:Disk"):
        role = (disk.inputs.get("tags") or {}).get("role") or "data"
        found.append((role, (disk.inputs.get("sku") or {}).get("name") or "Premium_LRS", disk.inputs))
    return found


def _disk_lines(plan: Plan) -> tuple[list[Line], list[float]]:
    lines: list[Line] = []
    data_gib: list[float] = []
    v2: list[tuple[str, dict[str, Any]]] = []
    tiers: Counter[tuple[str, str]] = Counter()
    for role, sku, props in _disks(plan):
        size = float(props.get("diskSizeGB") or 0)
        if role != "OS":
            data_gib.append(size)
        if sku == "PremiumV2_LRS":
            v2.append((role, props))
        elif sku == "Premium_LRS":
            tiers[(premium_tier(size), role)] += 1
        else:
            raise CostError(f"managed disk SKU {sku} has no price: add it to {SOURCE_FILE}")
    for role in dict.fromkeys(r for r, _ in v2):
        chosen = [p for r, p in v2 if r == role]
        gib = sum(float(p.get("diskSizeGB") or 0) for p in chosen)
        lines.append(Line(f"Premium SSD v2 {role} disks x{len(chosen)}", gib, "GiB-month", "disk:premiumv2:gib"))
    if v2:
        iops = sum(max(0.0, float(p.get("diskIOPSReadWrite") or 0) - PREMIUM_V2_BASELINE_IOPS) for _, p in v2)
        mbps = sum(max(0.0, float(p.get("diskMBpsReadWrite") or 0) - PREMIUM_V2_BASELINE_MBPS) for _, p in v2)
        lines.append(Line("Premium SSD v2 IOPS above 3,000", iops, "IOPS-month", "disk:premiumv2:iops"))
        lines.append(Line("Premium SSD v2 throughput above 125 MBps", mbps, "MBps-month", "disk:premiumv2:mbps"))
    for (tier, role), n in sorted(tiers.items(), key=lambda kv: (kv[0][1] != "OS", kv[0])):
        lines.append(Line(f"Premium SSD {tier} {role} disks x{n}", n, "disk-month", f"disk:premium:{tier}"))
    return lines, data_gib


def alert_time_series(alert: ResourceRecord) -> int:
    """Time series one metric alert rule watches: per scope, per criterion, per combination of dimension values
    (Microsoft Learn, "Monitor multiple time series in a single metric alert rule")."""
    criteria = (alert.inputs.get("criteria") or {}).get("allOf") or []
    total = 0
    for criterion in criteria:
        series = 1
        for dimension in criterion.get("dimensions") or []:
            series *= max(1, len(dimension.get("values") or []))
        total += series
    return len(alert.inputs.get("scopes") or []) * total


def quantities(plan: Plan, storage_gb: float | None = None) -> tuple[list[Line], list[str]]:
    """The billable quantities of a plan, as unpriced lines, and the assumptions made."""
    h = HOURS_PER_MONTH
    lines: list[Line] = []
    assumptions = [
        f"{h} hours per month, every resource running all month",
        f"the Standard load balancer's hourly rate covers its first {LB_RULES_INCLUDED} rules; data it processes "
        "is not counted (internal traffic, usage-based)",
    ]
    sizes = Counter(
        vm.inputs["hardwareProfile"]["vmSize"] for vm in plan.by_type("azure-native:compute:VirtualMachine")
    )
    unpriced = sorted(set(sizes) - priced_sizes())
    if unpriced:
        raise CostError(
            f"no price for Azure VM size {', '.join(unpriced)}: add 'vm:<size>' to PRICES in {SOURCE_FILE} "
            "(pay-as-you-go Linux rate for the stack's region, with its source and date)"
        )
    for size, n in sorted(sizes.items()):
        lines.append(Line(f"VM {size} x{n} (Linux, pay-as-you-go)", n * h, "VM-hour", f"vm:{size}"))
    disk_lines, data_gib = _disk_lines(plan)
    lines += disk_lines
    for lb in plan.by_type("azure-native:network:LoadBalancer"):
        sku = (lb.inputs.get("sku") or {}).get("name") or "Standard"
        if sku != "Standard":
            raise CostError(f"load balancer SKU {sku} has no price: add it to {SOURCE_FILE}")
    lbs = plan.by_type("azure-native:network:LoadBalancer")
    if lbs:
        rules = [
            sum(len(lb.inputs.get(k) or []) for k in ("loadBalancingRules", "outboundRules", "inboundNatRules"))
            for lb in lbs
        ]
        lines.append(
            Line(
                f"Standard Load Balancer x{len(lbs)} ({sum(rules)} rules)",
                len(lbs) * h,
                "load-balancer-hour",
                "lb:standard:hour",
            )
        )
        extra = sum(max(0, n - LB_RULES_INCLUDED) for n in rules)
        if extra:
            lines.append(
                Line(f"Load balancer rules beyond {LB_RULES_INCLUDED}", extra * h, "rule-hour", "lb:standard:rule")
            )
    nats = count(plan, "azure-native:network:NatGateway")
    if nats:
        lines.append(Line(f"NAT gateway x{nats}", nats * h, "NAT-gateway-hour", "nat:hour"))
    ips = plan.by_type("azure-native:network:PublicIPAddress")
    for ip in ips:
        sku_method = ((ip.inputs.get("sku") or {}).get("name"), ip.inputs.get("publicIPAllocationMethod"))
        if sku_method != ("Standard", "Static"):
            raise CostError(f"public IP {ip.name} is {sku_method}: only Standard static is priced in {SOURCE_FILE}")
    if ips:
        lines.append(
            Line(f"Standard static public IPv4 x{len(ips)}", len(ips) * h, "public-IP-hour", "ip:standard:static")
        )
    endpoints = count(plan, "azure-native:network:PrivateEndpoint")
    if endpoints:
        lines.append(
            Line(f"Private endpoints x{endpoints}", endpoints * h, "endpoint-hour", "privatelink:endpoint:hour")
        )
    zones = count(plan, "azure-native:privatedns:PrivateZone")
    if zones:
        lines.append(Line(f"Private DNS zones x{zones}", zones, "zone-month", "dns:private:zone"))
    keys = plan.by_type("azure-native:keyvault:Key")
    hsm = [k for k in keys if str((k.inputs.get("properties") or {}).get("kty") or "").endswith("-HSM")]
    if hsm:
        lines.append(Line(f"Key Vault HSM-protected keys x{len(hsm)}", len(hsm), "key-month", "keyvault:key:hsm"))
    if len(keys) > len(hsm):
        assumptions.append(
            f"{len(keys) - len(hsm)} software-protected Key Vault keys: no monthly charge of their own, their "
            "operations and scheduled rotations are usage (not modelled)"
        )
    series = sum(alert_time_series(a) for a in plan.by_type("azure-native:monitor:MetricAlert"))
    if series:
        alerts = count(plan, "azure-native:monitor:MetricAlert")
        lines.append(
            Line(f"Metric alerts x{alerts} ({series} time series)", series, "time-series-month", "monitor:alert:series")
        )
    flow_stores = {
        str(f.inputs.get("storageId") or "").rsplit("/", 1)[-1] for f in plan.by_type("azure-native:network:FlowLog")
    }
    backups = [
        a for a in plan.by_type("azure-native:storage:StorageAccount") if a.inputs.get("accountName") not in flow_stores
    ]
    if backups:
        redundancy = {((a.inputs.get("sku") or {}).get("name") or "Standard_LRS").split("_")[-1] for a in backups}
        if len(redundancy) != 1 or not redundancy <= {"LRS", "ZRS"}:
            raise CostError(f"backup storage redundancy {sorted(redundancy)} has no price in {SOURCE_FILE}")
        kind = redundancy.pop()
        gb, why = backup_gb(data_gib, storage_gb, f"Blob Storage hot {kind}")
        assumptions.append(why + "; previous versions kept until the lifecycle rule deletes them are included")
        lines.append(
            Line(
                f"Blob Storage hot {kind} backup storage (assumed {gb:g} GB)",
                gb,
                "GB-month",
                f"blob:hot:{kind.lower()}:gb",
            )
        )
    return lines, assumptions


CLOUD = CloudCosts(
    name="azure",
    region_key=REGION_KEY,
    source_file=SOURCE_FILE,
    prices_read_on=PRICES_READ_ON,
    prices=PRICES,
    billed=BILLED,
    not_billed=NOT_BILLED,
    not_modelled=NOT_MODELLED,
    quantities=quantities,
)
