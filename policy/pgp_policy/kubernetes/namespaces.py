"""Namespaces: the platform's objects live in Namespaces the stack creates, each enforcing Pod Security
`restricted`, so no pod there can be more privileged than the restricted profile whatever later edits its spec."""

from __future__ import annotations

from pulumi_policy import Severity

from ..core import Rule, dig, short, stack_policy
from ..graph import of_type
from ..operators import name, namespace
from .types import CLOUD, CNPG_CLUSTER, NAMESPACE, OBJECT_STORE, POOLER

AREA = "kubernetes"
ENFORCE = "pod-security.kubernetes.io/enforce"
RESTRICTED = "restricted"
NAMESPACED = (CNPG_CLUSTER, POOLER, OBJECT_STORE)

NS_001 = Rule(
    id="PGP-KUBERNETES-NS-001",
    title="PostgreSQL runs in the stack's restricted Namespaces",
    why="Pod Security admission is the last gate for pods the operator creates; a Namespace that does not "
    "enforce `restricted`, or one the stack does not manage, admits privileged pods next to the database.",
    description="Every Namespace the stack creates carries pod-security.kubernetes.io/enforce=restricted, and "
    "every Cluster, Pooler and ObjectStore is in one of them.",
    severity=Severity.HIGH,
    control="Pod Security Standards: restricted; CIS Kubernetes 5.2.1, 5.7.1",
    area=AREA,
    scope="stack",
    clouds=(CLOUD,),
    remediation="Create the namespace with the platform's Namespace component (labels "
    "pod-security.kubernetes.io/enforce, audit and warn = restricted) and put the Cluster in it.",
)


def _restricted_namespaces(args, report) -> None:
    restricted = set()
    for ns in of_type(args.resources, NAMESPACE):
        level = dig(ns.props, "metadata", "labels", ENFORCE)
        if level == RESTRICTED:
            restricted.add(name(ns))
        else:
            report(f"{short(ns.urn)}: {ENFORCE} is {level or 'unset'}, not {RESTRICTED}", ns.urn)
    for r in of_type(args.resources, *NAMESPACED):
        if namespace(r) not in restricted:
            report(f"{short(r.urn)}: namespace {namespace(r)} is not a restricted Namespace of the stack", r.urn)


POLICIES = [(NS_001, stack_policy(NS_001, _restricted_namespaces))]
