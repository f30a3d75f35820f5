"""High availability as deployed: member count and zones, synchronous replication that never degrades
silently when the RPO is 0, routing by Patroni health checks, and every cluster's companions."""
from __future__ import annotations

from typing import Any

from pulumi_policy import Severity

from .core import Rule, resource_policy, settings, short, stack_config, stack_policy, truthy
from .graph import of_type
from .nodes import read_node

AREA = "ha"
INSTANCE = "aws:ec2/instance:Instance"
SUBNET = "aws:ec2/subnet:Subnet"
TARGET_GROUP = "aws:lb/targetGroup:TargetGroup"
BUCKET = "aws:s3/bucket:Bucket"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
CLUSTER_SUFFIX = ":PostgresCluster"


def postgres_nodes(resources) -> dict[str, list[tuple[Any, Any]]]:
    """Patroni scope -> [(instance, node files)] for every instance that boots a Patroni member."""
    clusters: dict[str, list[tuple[Any, Any]]] = {}
    for r in of_type(resources, INSTANCE):
        node = read_node(r.props)
        if node.is_postgres_node:
            clusters.setdefault(str(node.patroni.get("scope") or "?"), []).append((r, node))
    return clusters


def zone_of(instance) -> str | None:
    az = instance.props.get("availabilityZone")
    if az:
        return str(az)
    for subnet in instance.property_dependencies.get("subnetId") or []:
        if subnet.resource_type == SUBNET and subnet.props.get("availabilityZone"):
            return str(subnet.props["availabilityZone"])
    return None


# --- PGP-HA-001 ------------------------------------------------------------------------------------------
HA_001 = Rule(
    id="PGP-HA-001", title="Enough members in enough zones",
    why="Surviving the loss of a zone needs members in several zones; a quorum needs at least three.",
    description="Each Patroni cluster has at least the stage's minimum number of members, spread over at least "
                "the minimum number of availability zones.",
    severity=Severity.CRITICAL, control="CKV_AWS_157 (by analogy: Multi-AZ); seed: prod 3 nodes in 3 AZs",
    area=AREA, scope="stack",
    remediation="Set cluster.nodes and network.zones (prod: 3 nodes over 3 zones); nodes are placed "
                "round-robin over the zones.",
    config={"min_nodes": {"type": "integer", "minimum": 1, "default": 3},
            "min_zones": {"type": "integer", "minimum": 1, "default": 3}},
)


def _members(args, report) -> None:
    cfg = settings(args, HA_001)
    clusters = postgres_nodes(args.resources)
    if not clusters:
        report("no instance boots a Patroni member (no patroni.yml in any user data)")
    for scope, members in clusters.items():
        zones = {zone_of(r) for r, _ in members} - {None}
        unknown = [short(r.urn) for r, _ in members if zone_of(r) is None]
        if len(members) < cfg["min_nodes"]:
            report(f"cluster {scope}: {len(members)} member(s), minimum {cfg['min_nodes']}", members[0][0].urn)
        if len(zones) < cfg["min_zones"]:
            report(f"cluster {scope}: members in {len(zones)} zone(s) ({', '.join(sorted(zones)) or 'none'}"
                   f"{'; unplaced: ' + ', '.join(unknown) if unknown else ''}), minimum {cfg['min_zones']}",
                   members[0][0].urn)


# --- PGP-HA-002 ------------------------------------------------------------------------------------------
HA_002 = Rule(
    id="PGP-HA-002", title="RPO 0 means strict synchronous replication",
    why="With RPO 0, a primary that silently drops to standalone loses acknowledged commits at the next failover.",
    description="When the stack's RPO is 0 (or the pack requires it), Patroni runs synchronous_mode with "
                "synchronous_mode_strict and at least one synchronous standby, so commits never fall back to "
                "standalone silently.",
    severity=Severity.CRITICAL, control="seed: RPO 0 -> synchronous replication that never degrades silently",
    area=AREA, scope="resource",
    remediation="Render bootstrap.dcs with synchronous_mode: true (or quorum), synchronous_mode_strict: true, "
                "synchronous_node_count >= 1.",
    config={"require_synchronous": {"type": "boolean", "default": False,
                                    "description": "require it even when the stack's RPO is above 0"}},
)


def _rpo_zero() -> bool:
    objectives = stack_config("pg-platform:objectives")
    return isinstance(objectives, dict) and objectives.get("rpo_seconds") == 0


def _synchronous(args, report) -> None:
    if args.resource_type != INSTANCE:
        return
    if not (_rpo_zero() or settings(args, HA_002)["require_synchronous"]):
        return
    node = read_node(args.props)
    if not node.is_postgres_node:
        return
    dcs = node.dcs()
    mode = dcs.get("synchronous_mode")
    if not (mode == "quorum" or truthy(mode)):
        report(f"{args.name}: synchronous_mode is {mode!r}: commits do not wait for a standby")
    if not truthy(dcs.get("synchronous_mode_strict")):
        report(f"{args.name}: synchronous_mode_strict is {dcs.get('synchronous_mode_strict')!r}: Patroni may "
               f"drop to standalone and lose acknowledged commits on failover")
    count = dcs.get("synchronous_node_count", 1)
    if int(count) < 1:
        report(f"{args.name}: synchronous_node_count is {count}")


# --- PGP-HA-003 ------------------------------------------------------------------------------------------
HA_003 = Rule(
    id="PGP-HA-003", title="Routing follows Patroni",
    why="A TCP check sees an open port on every member; only Patroni's role endpoints send writes to the leader alone.",
    description="Target groups for PostgreSQL/PgBouncer ports are health-checked over HTTP on the Patroni REST "
                "port at a role endpoint (/primary, /replica, ...), so traffic follows the leader.",
    severity=Severity.HIGH, control="seed: internal NLB routed by Patroni health checks", area=AREA,
    scope="resource",
    remediation="health_check={'protocol': 'HTTP', 'port': '8008', 'path': '/primary'} for the write target "
                "group ('/replica' for reads).",
    config={"patroni_port": {"type": "integer", "default": 8008},
            "database_ports": {"type": "array", "items": {"type": "integer"}, "default": [5432, 5433, 6432]},
            "role_paths": {"type": "array", "items": {"type": "string"},
                           "default": ["/primary", "/leader", "/replica", "/read-only", "/sync", "/async",
                                       "/standby-leader", "/read-write"]}},
)


def _routing(args, report) -> None:
    if args.resource_type != TARGET_GROUP:
        return
    cfg = settings(args, HA_003)
    port = args.props.get("port")
    if port is None or int(port) not in cfg["database_ports"]:
        return
    hc = args.props.get("healthCheck") or {}
    proto = str(hc.get("protocol") or "TCP").upper()
    hc_port = str(hc.get("port") or "traffic-port")
    path = str(hc.get("path") or "").split("?", 1)[0]
    if proto not in ("HTTP", "HTTPS"):
        report(f"{args.name}: health check protocol {proto} sees an open port, not the Patroni role")
    if hc_port != str(cfg["patroni_port"]):
        report(f"{args.name}: health check port {hc_port}, not the Patroni REST port {cfg['patroni_port']}")
    if path not in cfg["role_paths"]:
        report(f"{args.name}: health check path {path or 'unset'} is not a Patroni role endpoint")
    if hc.get("enabled") is not None and not truthy(hc.get("enabled")):
        report(f"{args.name}: health check disabled")


# --- PGP-HA-004 ------------------------------------------------------------------------------------------
HA_004 = Rule(
    id="PGP-HA-004", title="Every cluster has a vault, monitoring and alarms",
    why="A cluster without backups, monitoring or alarms fails silently and cannot be restored.",
    description="Each PostgreSQL cluster (PostgresCluster component or Patroni scope) comes with a backup "
                "bucket its pgBackRest repository points at, a monitoring node running Prometheus, and "
                "CloudWatch alarms.",
    severity=Severity.HIGH, control="seed: every cluster has a vault, monitoring and alarms", area=AREA,
    scope="stack",
    remediation="Deploy the cluster through PostgresPlatform, which wires BackupVault, Monitoring and the "
                "alarms to it.",
    config={"min_alarms": {"type": "integer", "minimum": 1, "default": 1}},
)


def _monitoring_nodes(resources) -> list[Any]:
    out = []
    for r in of_type(resources, INSTANCE):
        node = read_node(r.props)
        if node.is_postgres_node:
            continue
        if node.prometheus() is not None:
            out.append(r)
    return out


def _companions(args, report) -> None:
    cfg = settings(args, HA_004)
    clusters = postgres_nodes(args.resources)
    components = [r for r in args.resources if r.resource_type.endswith(CLUSTER_SUFFIX)]
    if components and not clusters:
        for c in components:
            report(f"{short(c.urn)}: no member instance boots Patroni", c.urn)
    buckets = of_type(args.resources, BUCKET)
    names = {str(b.props.get("bucket")) for b in buckets if b.props.get("bucket")}
    monitors = _monitoring_nodes(args.resources)
    alarms = of_type(args.resources, ALARM)
    for scope, members in clusters.items():
        anchor = members[0][0].urn
        repos = {}
        for _, node in members:
            for section in node.pgbackrest().values():
                repos.update({k: v for k, v in section.items() if k.endswith("-s3-bucket")})
        if not buckets:
            report(f"cluster {scope}: no backup bucket in the stack", anchor)
        elif not repos:
            report(f"cluster {scope}: pgBackRest has no S3 repository", anchor)
        elif names and not set(repos.values()) & names:
            report(f"cluster {scope}: pgBackRest writes to {', '.join(sorted(set(repos.values())))}, not to a "
                   f"bucket of this stack", anchor)
        if not monitors:
            report(f"cluster {scope}: no monitoring node (no Prometheus configuration in any user data)", anchor)
        if len(alarms) < cfg["min_alarms"]:
            report(f"cluster {scope}: {len(alarms)} CloudWatch alarm(s), minimum {cfg['min_alarms']}", anchor)


POLICIES = [
    (HA_001, stack_policy(HA_001, _members)),
    (HA_002, resource_policy(HA_002, _synchronous)),
    (HA_003, resource_policy(HA_003, _routing)),
    (HA_004, stack_policy(HA_004, _companions)),
]
