"""Poolers: the client path on Kubernetes is PgBouncer in front of the primary, with as many replicas as the
stage needs to survive a node drain, TLS on both sides, and a PodDisruptionBudget that keeps one running."""

from __future__ import annotations

from typing import Any

from pulumi_policy import Severity

from ..core import Rule, dig, plain, settings, short, stack_policy
from ..graph import of_type
from ..operators import name, spec_of
from .types import CLOUD, CNPG_CLUSTER, POD_DISRUPTION_BUDGET, POOLER

AREA = "ha"
POOLER_LABEL = "cnpg.io/poolerName"
CLIENT_TLS = ("require", "verify-ca", "verify-full")
SERVER_TLS = ("verify-ca", "verify-full")

POOL_001 = Rule(
    id="PGP-KUBERNETES-POOL-001",
    title="A read-write Pooler per Cluster, replicated, with TLS both ways and a disruption budget",
    why="Clients reach the leader through the pooled layer; one PgBouncer pod is a single point of failure on "
    "every node drain, and a pooler that talks plain text (or trusts any server certificate) undoes the "
    "Cluster's TLS.",
    description="Each Cluster has a Pooler of type rw with at least min_instances replicas; every Pooler "
    "requires TLS from clients and verifies the server's certificate; a PodDisruptionBudget selects each "
    "replicated Pooler's pods.",
    severity=Severity.HIGH,
    control="seed: clients reach the leader through a routed, pooled layer; TLS everywhere",
    area=AREA,
    scope="stack",
    clouds=(CLOUD,),
    remediation="Render the Poolers with dataplane/cnpg.py poolers() (instances from the zones), "
    "client_tls_sslmode=require, server_tls_sslmode=verify-full, and pooler_disruption_budgets().",
    config={"min_instances": {"type": "integer", "minimum": 1, "default": 2}},
)


def _count(value: Any, default: int = 1) -> int:
    if value is None:
        return default  # the Pooler CRD's default
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0


def _budgeted(resources: list[Any]) -> set[str]:
    return {
        str(dig(plain(pdb.props), "spec", "selector", "matchLabels", POOLER_LABEL))
        for pdb in of_type(resources, POD_DISRUPTION_BUDGET)
        if dig(plain(pdb.props), "spec", "selector", "matchLabels", POOLER_LABEL)
    }


def _poolers(args, report) -> None:
    minimum = settings(args, POOL_001)["min_instances"]
    poolers = of_type(args.resources, POOLER)
    budgeted = _budgeted(args.resources)
    for cluster in of_type(args.resources, CNPG_CLUSTER):
        cluster_name = name(cluster)
        serving = [p for p in poolers if dig(spec_of(p), "cluster", "name") == cluster_name]
        rw = [p for p in serving if spec_of(p).get("type", "rw") == "rw"]
        if not rw:
            report(f"{short(cluster.urn)}: no Pooler of type rw for Cluster {cluster_name}", cluster.urn)
        for p in rw:
            instances = _count(spec_of(p).get("instances"))
            if instances < minimum:
                report(f"{short(p.urn)}: {instances} instance(s), minimum {minimum}", p.urn)
    for p in poolers:
        parameters = dig(spec_of(p), "pgbouncer", "parameters", default={}) or {}
        client = parameters.get("client_tls_sslmode", "disable")
        server = parameters.get("server_tls_sslmode", "prefer")
        if client not in CLIENT_TLS:
            report(f"{short(p.urn)}: client_tls_sslmode is {client}, not one of {', '.join(CLIENT_TLS)}", p.urn)
        if server not in SERVER_TLS:
            report(f"{short(p.urn)}: server_tls_sslmode is {server}, not one of {', '.join(SERVER_TLS)}", p.urn)
        if _count(spec_of(p).get("instances")) > 1 and name(p) not in budgeted:
            report(f"{short(p.urn)}: no PodDisruptionBudget selects {POOLER_LABEL}={name(p)}", p.urn)


POLICIES = [(POOL_001, stack_policy(POOL_001, _poolers))]
