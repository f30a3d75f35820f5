"""The internal passthrough Network Load Balancer: internal only, every forwarding rule reaches the members
through a health-checked backend service, and the checks notice a lost leader fast. Which endpoint a check asks
is the shared PGP-HA-003's (through the adapter's routing checks)."""

from __future__ import annotations

from pulumi_policy import Severity

from ..clouds import machine_nodes
from ..core import Rule, resource_policy, settings, short, stack_policy
from ..graph import of_type, points_at
from .types import (
    CLOUD,
    FORWARDING_RULE,
    HEALTH_CHECK,
    INSTANCE_GROUP,
    REGION_BACKEND_SERVICE,
    REGION_HEALTH_CHECK,
)

AREA = "network"
INTERNAL_SCHEMES = ("INTERNAL", "INTERNAL_MANAGED")
# The API's defaults (compute discovery document: HealthCheck.checkIntervalSec, unhealthyThreshold).
DEFAULT_INTERVAL, DEFAULT_UNHEALTHY = 5, 2

# --- PGP-GCP-LB-001 -----------------------------------------------------------------------------------------
LB_001 = Rule(
    id="PGP-GCP-LB-001",
    title="Load balancing is internal",
    why="An external forwarding rule puts the database endpoint on the internet regardless of node placement.",
    description="Forwarding rules and regional backend services use an internal load-balancing scheme; the "
    "forwarding rule's default, EXTERNAL, is refused.",
    severity=Severity.CRITICAL,
    control="seed: internal load balancer only (by analogy with CKV_AWS_17)",
    area=AREA,
    scope="resource",
    clouds=(CLOUD,),
    remediation="Set load_balancing_scheme='INTERNAL' on the ForwardingRule and the RegionBackendService, in the "
    "private subnets.",
)


def _internal(args, report) -> None:
    if args.resource_type not in (FORWARDING_RULE, REGION_BACKEND_SERVICE):
        return
    scheme = args.props.get("loadBalancingScheme")
    # A forwarding rule defaults to EXTERNAL, a regional backend service to INTERNAL.
    effective = scheme or ("EXTERNAL" if args.resource_type == FORWARDING_RULE else "INTERNAL")
    if str(effective).upper() not in INTERNAL_SCHEMES:
        report(f"{args.name}: loadBalancingScheme is {scheme or 'unset (EXTERNAL)'}, not internal")


# --- PGP-GCP-LB-002 -----------------------------------------------------------------------------------------
LB_002 = Rule(
    id="PGP-GCP-LB-002",
    title="Every routed port reaches the members through a checked backend",
    why="A forwarding rule whose backend service has no health check sends writes to every member, replicas "
    "included; a member outside the instance groups never receives traffic after a failover.",
    description="Each forwarding rule names a backend service of the stack; each backend service has a health "
    "check of the stack and instance groups of the stack as backends, each holding members; every "
    "Patroni member is in one of those instance groups.",
    severity=Severity.HIGH,
    control="seed: internal NLB routed by Patroni health checks",
    area=AREA,
    scope="stack",
    clouds=(CLOUD,),
    remediation="ForwardingRule(backend_service=service.id), RegionBackendService(health_checks=[check.id], "
    "backends=[{'group': group.id}]), InstanceGroup(instances=[member.self_link]) per zone.",
)


def _chain(args, report) -> None:
    resources = args.resources
    services = of_type(resources, REGION_BACKEND_SERVICE)
    checks = of_type(resources, HEALTH_CHECK, REGION_HEALTH_CHECK)
    groups = of_type(resources, INSTANCE_GROUP)
    for fr in of_type(resources, FORWARDING_RULE):
        if not any(points_at(fr, "backendService", s) for s in services):
            report(f"{short(fr.urn)}: backendService is not a backend service of the stack", fr.urn)
    used_groups = []
    for s in services:
        if not any(points_at(s, "healthChecks", c) for c in checks):
            report(f"{short(s.urn)}: no health check of the stack", s.urn)
        mine = [g for g in groups if points_at(s, "backends", g)]
        if not mine:
            report(f"{short(s.urn)}: no instance group of the stack among its backends", s.urn)
        used_groups += mine
    if not services:
        return
    members = [m for _, m, node in machine_nodes(resources) if node.is_postgres_node]
    for g in dict.fromkeys(used_groups):
        if not any(points_at(g, "instances", m) for m in members):
            report(f"{short(g.urn)} holds no member of the stack", g.urn)
    for _, member, node in machine_nodes(resources):
        gcp_member = member.resource_type.startswith(f"{CLOUD}:") and node.is_postgres_node
        if gcp_member and not any(points_at(g, "instances", member) for g in used_groups):
            report(f"{short(member.urn)} is in no instance group behind the load balancer", member.urn)


# --- PGP-GCP-LB-003 -----------------------------------------------------------------------------------------
LB_003 = Rule(
    id="PGP-GCP-LB-003",
    title="Health checks notice a lost leader fast",
    why="Until the load balancer marks the old leader unhealthy, writes go to a node that no longer accepts them; "
    "that time counts against the RTO.",
    description="Health checks mark a backend unhealthy within max_detection_seconds (checkIntervalSec x "
    "unhealthyThreshold) and time out within their interval.",
    severity=Severity.MEDIUM,
    control="seed: RTO 30 s",
    area=AREA,
    scope="resource",
    clouds=(CLOUD,),
    remediation="check_interval_sec=2, timeout_sec=1, healthy_threshold=2, unhealthy_threshold=2.",
    config={"max_detection_seconds": {"type": "integer", "minimum": 1, "default": 10}},
)


def _fast(args, report) -> None:
    if args.resource_type not in (HEALTH_CHECK, REGION_HEALTH_CHECK):
        return
    p = args.props
    interval = int(p.get("checkIntervalSec") or DEFAULT_INTERVAL)
    unhealthy = int(p.get("unhealthyThreshold") or DEFAULT_UNHEALTHY)
    timeout = p.get("timeoutSec")
    limit = settings(args, LB_003)["max_detection_seconds"]
    if interval * unhealthy > limit:
        report(f"{args.name}: a failed backend is noticed after {interval * unhealthy} s (limit {limit})")
    if timeout is not None and int(timeout) > interval:
        report(f"{args.name}: timeoutSec {int(timeout)} exceeds checkIntervalSec {interval}")


POLICIES = [
    (LB_001, resource_policy(LB_001, _internal)),
    (LB_002, stack_policy(LB_002, _chain)),
    (LB_003, resource_policy(LB_003, _fast)),
]
