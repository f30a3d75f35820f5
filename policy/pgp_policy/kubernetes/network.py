"""NetworkPolicies: ingress to the platform's pods is denied unless a policy admits it, and what is admitted is
named (namespaces, pods, allowlisted networks on given ports), never everything."""

from __future__ import annotations

import ipaddress
from typing import Any

from pulumi_policy import Severity

from ..core import Rule, as_list, dig, resource_policy, short, stack_config, stack_policy
from ..graph import of_type
from ..operators import namespace, spec_of
from .types import CLOUD, CNPG_CLUSTER, NETWORK_POLICY

AREA = "network"

NET_001 = Rule(
    id="PGP-KUBERNETES-NET-001",
    title="Ingress denied by default around the database",
    why="Without a NetworkPolicy selecting them, pods accept connections from every pod of the Kubernetes "
    "cluster: one compromised workload anywhere reaches PostgreSQL and the instance manager.",
    description="Each Cluster's namespace has a NetworkPolicy that selects every pod (an empty podSelector), "
    "lists Ingress in policyTypes and admits nothing.",
    severity=Severity.HIGH,
    control="CIS Kubernetes 5.3.2; seed: the database is reachable only from allowlisted clients",
    area=AREA,
    scope="stack",
    clouds=(CLOUD,),
    remediation="Add NetworkPolicy(spec={podSelector: {}, policyTypes: [Ingress], ingress: []}) in the "
    "Cluster's namespace (dataplane/cnpg.py network_policies).",
)


def _selects_everything(selector: Any) -> bool:
    selector = selector or {}
    return not selector.get("matchLabels") and not selector.get("matchExpressions")


def denies_by_default(policy: Any) -> bool:
    spec = spec_of(policy)
    return (
        _selects_everything(spec.get("podSelector"))
        and "Ingress" in as_list(spec.get("policyTypes"))
        and not as_list(spec.get("ingress"))
    )


def _default_deny(args, report) -> None:
    denied = {namespace(p) for p in of_type(args.resources, NETWORK_POLICY) if denies_by_default(p)}
    for cluster in of_type(args.resources, CNPG_CLUSTER):
        if namespace(cluster) not in denied:
            where = namespace(cluster)
            report(f"{short(cluster.urn)}: namespace {where} has no default-deny ingress policy", cluster.urn)


NET_002 = Rule(
    id="PGP-KUBERNETES-NET-002",
    title="NetworkPolicies admit named sources on named ports",
    why="An ingress rule without sources, with an empty namespaceSelector or with a public or unlisted network "
    "admits far more than the allowlist, and one without ports admits every port of the pod.",
    description="Every ingress rule names its sources and ports; no source is an empty namespaceSelector (all "
    "namespaces); every ipBlock is a private network inside the stack's allowlist "
    "(pg-platform:network.allowlist.cidrs) and none is /0.",
    severity=Severity.CRITICAL,
    control="CIS PostgreSQL 5.3 (by analogy: allowlisted sources only); seed: IP allowlists",
    area=AREA,
    scope="resource",
    clouds=(CLOUD,),
    remediation="List the client namespaces (pg-platform:kubernetes.client_namespaces) and networks "
    "(pg-platform:network.allowlist.cidrs); each rule gets `from` and `ports`.",
)


def _allowlist() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    network = stack_config("pg-platform:network")
    cidrs = dig(network, "allowlist", "cidrs", default=[]) if isinstance(network, dict) else []
    out = []
    for c in as_list(cidrs):
        try:
            out.append(ipaddress.ip_network(str(c), strict=False))
        except ValueError:
            continue
    return out


def _block_problem(cidr: str, allowed: list) -> str | None:
    try:
        block = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return f"ipBlock {cidr} is not a network"
    if block.prefixlen == 0:
        return f"ipBlock {cidr} is every address"
    if block.is_global:
        return f"ipBlock {cidr} is a public network"
    if not any(block.version == a.version and block.subnet_of(a) for a in allowed):
        listed = ", ".join(map(str, allowed)) or "none"
        return f"ipBlock {cidr} is outside the stack's allowlist ({listed})"
    return None


def _sources(args, report) -> None:
    if args.resource_type != NETWORK_POLICY:
        return
    spec = spec_of(args)
    allowed = _allowlist()
    for i, rule in enumerate(as_list(spec.get("ingress"))):
        where = f"{args.name}: ingress[{i}]"
        peers = as_list((rule or {}).get("from"))
        if not peers:
            report(f"{where} names no source (admits every pod and address)")
        if not as_list((rule or {}).get("ports")):
            report(f"{where} names no port (admits every port)")
        for peer in peers:
            if not isinstance(peer, dict):
                continue
            if "namespaceSelector" in peer and _selects_everything(peer["namespaceSelector"]):
                report(f"{where} admits every namespace (empty namespaceSelector)")
            cidr = dig(peer, "ipBlock", "cidr")
            if cidr is not None:
                problem = _block_problem(str(cidr), allowed)
                if problem:
                    report(f"{where}: {problem}")


POLICIES = [
    (NET_001, stack_policy(NET_001, _default_deny)),
    (NET_002, resource_policy(NET_002, _sources)),
]
