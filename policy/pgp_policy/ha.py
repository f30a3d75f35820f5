"""High availability as deployed: member count and zones, synchronous replication that never degrades
silently when the RPO is 0, routing by Patroni health checks, and every cluster's companions. Shared by every
cloud: each cloud's adapter says which resources are nodes, vaults, alarms and routing checks."""

from __future__ import annotations

from typing import Any

from pulumi_policy import Severity

from . import operators, ports
from .cloud import Cloud
from .clouds import NAMES, cloud_for, is_machine, machine_node, machine_nodes, of_cloud_types
from .core import Rule, resource_policy, settings, short, stack_config, stack_policy, truthy
from .nodes import NodeFiles

AREA = "ha"
CLUSTER_SUFFIX = ":PostgresCluster"
Members = list[tuple[Any, NodeFiles]]


def postgres_nodes(resources, cloud: Cloud | None = None) -> dict[str, Members]:
    """Patroni scope -> [(machine, node files)] for every machine (of `cloud`, or of any) that boots a member."""
    clusters: dict[str, Members] = {}
    for c, r, node in machine_nodes(resources):
        if node.patroni is not None and (cloud is None or c is cloud):
            clusters.setdefault(str(node.patroni.get("scope") or "?"), []).append((r, node))
    return clusters


def zone_of(machine) -> str | None:
    cloud = cloud_for(machine.resource_type)
    return cloud.zone(machine) if cloud else None


# --- PGP-HA-001 ------------------------------------------------------------------------------------------
HA_001 = Rule(
    id="PGP-HA-001",
    title="Enough members in enough zones",
    why="Surviving the loss of a zone needs members in several zones; a quorum needs at least three.",
    description="Each Patroni cluster has at least the stage's minimum number of members, spread over at least "
    "the minimum number of availability zones.",
    severity=Severity.CRITICAL,
    control="CKV_AWS_157 (by analogy: Multi-AZ); seed: prod 3 nodes in 3 AZs",
    area=AREA,
    scope="stack",
    clouds=NAMES,
    remediation="Set cluster.nodes and network.zones (prod: 3 nodes over 3 zones); nodes are placed "
    "round-robin over the zones.",
    config={
        "min_nodes": {"type": "integer", "minimum": 1, "default": 3},
        "min_zones": {"type": "integer", "minimum": 1, "default": 3},
    },
)


def _members(args, report) -> None:
    cfg = settings(args, HA_001)
    clusters = postgres_nodes(args.resources)
    run_by_operator = operators.clusters(args.resources)
    if not clusters and not run_by_operator:
        report("no instance boots a Patroni member (no patroni.yml in any user data)")
    for cluster in run_by_operator:
        count = operators.instances(cluster)
        if count < cfg["min_nodes"]:
            report(f"Cluster {operators.name(cluster)}: {count} instance(s), minimum {cfg['min_nodes']}", cluster.urn)
        # Pods land where the scheduler puts them: only a hard zone rule guarantees one instance per zone.
        guaranteed = count if operators.spreads_over_zones(cluster) else 1
        if guaranteed < cfg["min_zones"]:
            report(
                f"Cluster {operators.name(cluster)}: instances are guaranteed {guaranteed} zone(s) (no required zone "
                f"anti-affinity or DoNotSchedule zone spread), minimum {cfg['min_zones']}",
                cluster.urn,
            )
    for scope, members in clusters.items():
        zones = {zone for r, _ in members if (zone := zone_of(r)) is not None}
        unknown = [short(r.urn) for r, _ in members if zone_of(r) is None]
        if len(members) < cfg["min_nodes"]:
            report(f"cluster {scope}: {len(members)} member(s), minimum {cfg['min_nodes']}", members[0][0].urn)
        if len(zones) < cfg["min_zones"]:
            report(
                f"cluster {scope}: members in {len(zones)} zone(s) ({', '.join(sorted(zones)) or 'none'}"
                f"{'; unplaced: ' + ', '.join(unknown) if unknown else ''}), minimum {cfg['min_zones']}",
                members[0][0].urn,
            )


# --- PGP-HA-002 ------------------------------------------------------------------------------------------
HA_002 = Rule(
    id="PGP-HA-002",
    title="RPO 0 means strict synchronous replication",
    why="With RPO 0, a primary that silently drops to standalone loses acknowledged commits at the next failover.",
    description="When the stack's RPO is 0 (or the pack requires it), Patroni runs synchronous_mode with "
    "synchronous_mode_strict and at least one synchronous standby, so commits never fall back to "
    "standalone silently.",
    severity=Severity.CRITICAL,
    control="seed: RPO 0 -> synchronous replication that never degrades silently",
    area=AREA,
    scope="resource",
    clouds=NAMES,
    remediation="Render bootstrap.dcs with synchronous_mode: true (or quorum), synchronous_mode_strict: true, "
    "synchronous_node_count >= 1.",
    config={
        "require_synchronous": {
            "type": "boolean",
            "default": False,
            "description": "require it even when the stack's RPO is above 0",
        }
    },
)


def _rpo_zero() -> bool:
    objectives = stack_config("pg-platform:objectives")
    return isinstance(objectives, dict) and objectives.get("rpo_seconds") == 0


def _synchronous(args, report) -> None:
    if not is_machine(args.resource_type):
        return
    if not (_rpo_zero() or settings(args, HA_002)["require_synchronous"]):
        return
    node = machine_node(args.resource_type, args.props)
    if node is None or not node.is_postgres_node:
        return
    dcs = node.dcs()
    mode = dcs.get("synchronous_mode")
    if not (mode == "quorum" or truthy(mode)):
        report(f"{args.name}: synchronous_mode is {mode!r}: commits do not wait for a standby")
    if not truthy(dcs.get("synchronous_mode_strict")):
        report(
            f"{args.name}: synchronous_mode_strict is {dcs.get('synchronous_mode_strict')!r}: Patroni may "
            f"drop to standalone and lose acknowledged commits on failover"
        )
    count = dcs.get("synchronous_node_count", 1)
    if int(count) < 1:
        report(f"{args.name}: synchronous_node_count is {count}")


# --- PGP-HA-003 ------------------------------------------------------------------------------------------
HA_003 = Rule(
    id="PGP-HA-003",
    title="Routing follows Patroni",
    why="A TCP check sees an open port on every member; only Patroni's role endpoints send writes to the leader alone.",
    description="Target groups for PostgreSQL/PgBouncer ports are health-checked over HTTP on the Patroni REST "
    "port at a role endpoint (/primary, /replica, ...), so traffic follows the leader.",
    severity=Severity.HIGH,
    control="seed: internal NLB routed by Patroni health checks",
    area=AREA,
    scope="resource",
    clouds=NAMES,
    remediation="health_check={'protocol': 'HTTP', 'port': '8008', 'path': '/primary'} for the write target "
    "group ('/replica' for reads).",
    config={
        "patroni_port": {"type": "integer", "default": ports.PATRONI_REST},
        "database_ports": {"type": "array", "items": {"type": "integer"}, "default": list(ports.ROUTED_PORTS)},
        "role_paths": {
            "type": "array",
            "items": {"type": "string"},
            "default": [
                "/primary",
                "/leader",
                "/replica",
                "/read-only",
                "/sync",
                "/async",
                "/standby-leader",
                "/read-write",
            ],
        },
    },
)


def _routing(args, report) -> None:
    cloud = cloud_for(args.resource_type)
    if cloud is None:
        return
    cfg = settings(args, HA_003)
    for check in cloud.routing_checks(args.resource_type, args.props):
        if check.traffic_port is None or check.traffic_port not in cfg["database_ports"]:
            continue
        if check.protocol not in ("HTTP", "HTTPS"):
            report(f"{args.name}: health check protocol {check.protocol} sees an open port, not the Patroni role")
        if check.port != str(cfg["patroni_port"]):
            report(f"{args.name}: health check port {check.port}, not the Patroni REST port {cfg['patroni_port']}")
        if check.path not in cfg["role_paths"]:
            report(f"{args.name}: health check path {check.path or 'unset'} is not a Patroni role endpoint")
        if check.enabled is not None and not truthy(check.enabled):
            report(f"{args.name}: health check disabled")


# --- PGP-HA-004 ------------------------------------------------------------------------------------------
HA_004 = Rule(
    id="PGP-HA-004",
    title="Every cluster has a vault, monitoring and alarms",
    why="A cluster without backups, monitoring or alarms fails silently and cannot be restored.",
    description="Each PostgreSQL cluster (PostgresCluster component or Patroni scope) comes with a backup "
    "bucket its pgBackRest repository points at, a monitoring node running Prometheus, and "
    "the cloud's own alarms (CloudWatch on AWS).",
    severity=Severity.HIGH,
    control="seed: every cluster has a vault, monitoring and alarms",
    area=AREA,
    scope="stack",
    clouds=NAMES,
    remediation="Deploy the cluster through PostgresPlatform, which wires BackupVault, Monitoring and the "
    "alarms to it.",
    config={"min_alarms": {"type": "integer", "minimum": 1, "default": 1}},
)


def _monitoring_nodes(resources, cloud: Cloud) -> list[Any]:
    return [
        r
        for c, r, node in machine_nodes(resources)
        if c is cloud and not node.is_postgres_node and node.prometheus() is not None
    ]


def _companions(args, report) -> None:
    cfg = settings(args, HA_004)
    clusters = postgres_nodes(args.resources)
    components = [r for r in args.resources if r.resource_type.endswith(CLUSTER_SUFFIX)]
    run_by_operator = operators.clusters(args.resources)
    _operator_companions(args, report, run_by_operator, cfg["min_alarms"])
    if components and not clusters and not run_by_operator:
        for c in components:
            report(f"{short(c.urn)}: no member instance boots Patroni", c.urn)
    for cloud in dict.fromkeys(cloud_for(members[0][0].resource_type) for members in clusters.values()):
        if cloud is not None:  # always: members are machines of a known cloud
            _cloud_companions(args, report, cloud, cfg["min_alarms"])


def _cloud_companions(args, report, cloud: Cloud, min_alarms: int) -> None:
    vaults = of_cloud_types(args.resources, cloud, cloud.vault_types)
    names = {name for name in map(cloud.vault_name, vaults) if name}
    monitors = _monitoring_nodes(args.resources, cloud)
    alarms = of_cloud_types(args.resources, cloud, cloud.alarm_types)
    option = f"-{cloud.repo_store_option}"
    for scope, members in postgres_nodes(args.resources, cloud).items():
        anchor = members[0][0].urn
        repos = {}
        for _, node in members:
            for section in node.pgbackrest().values():
                repos.update({k: v for k, v in section.items() if k.endswith(option)})
        if not vaults:
            report(f"cluster {scope}: no backup bucket in the stack", anchor)
        elif not repos:
            report(f"cluster {scope}: pgBackRest has no {cloud.repo_kind} repository", anchor)
        elif names and not set(repos.values()) & names:
            report(
                f"cluster {scope}: pgBackRest writes to {', '.join(sorted(set(repos.values())))}, not to a "
                f"bucket of this stack",
                anchor,
            )
        if not monitors:
            report(f"cluster {scope}: no monitoring node (no Prometheus configuration in any user data)", anchor)
        if len(alarms) < min_alarms:
            report(f"cluster {scope}: {len(alarms)} {cloud.alarm_label}(s), minimum {min_alarms}", anchor)


def _operator_companions(args, report, run_by_operator: list[Any], min_alarms: int) -> None:
    """An operator-run Cluster's vault is the ObjectStore its WAL archiver names, its monitoring a PodMonitor,
    and its alarms the PrometheusRule's alerts (Kubernetes has no cloud alarm on a pod)."""
    stores = {operators.name(s) for s in operators.of_type(args.resources, operators.OBJECT_STORE)}
    monitors = operators.of_type(args.resources, operators.POD_MONITOR)
    alerts = list(operators.rule_alerts(args.resources))
    for cluster in run_by_operator:
        label = f"Cluster {operators.name(cluster)}"
        store = operators.archiver_store(cluster)
        if store is None:
            report(f"{label}: no WAL archiver plugin (barman-cloud) with an object store", cluster.urn)
        elif store not in stores:
            report(f"{label}: archives into ObjectStore {store}, which the stack does not create", cluster.urn)
        if not monitors:
            report(f"{label}: no PodMonitor scrapes it", cluster.urn)
        if len(alerts) < min_alarms:
            report(f"{label}: {len(alerts)} alert(s) in PrometheusRules, minimum {min_alarms}", cluster.urn)


POLICIES = [
    (HA_001, stack_policy(HA_001, _members)),
    (HA_002, resource_policy(HA_002, _synchronous)),
    (HA_003, resource_policy(HA_003, _routing)),
    (HA_004, stack_policy(HA_004, _companions)),
]
