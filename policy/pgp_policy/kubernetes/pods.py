"""Pod security: what the platform's pods may do on a node. The Namespace's Pod Security admission refuses a
non-restricted pod only when the operator creates it, long after `pulumi up` reported success; this family
refuses it in the plan. Contexts must be explicit: an operator's defaults change between its versions, and a
reviewer reads the spec, not the operator's source."""

from __future__ import annotations

from typing import Any

from pulumi_policy import Severity

from ..core import Rule, as_list, dig, resource_policy
from ..operators import spec_of
from .types import CLOUD, CNPG_CLUSTER, CRON_JOB, POOLER

AREA = "kubernetes"
SECCOMP_CONFINED = ("RuntimeDefault", "Localhost")
HOST_NAMESPACES = ("hostNetwork", "hostPID", "hostIPC")

POD_001 = Rule(
    id="PGP-KUBERNETES-POD-001",
    title="PostgreSQL, PgBouncer and backup lock pods run restricted",
    why="A container that runs as root, may escalate, keeps capabilities or runs unconfined turns one bug in "
    "PostgreSQL or PgBouncer into a compromised node and every database on it.",
    description="The Cluster's pod and container security contexts, and each Pooler's and CronJob's (GKE's "
    "backup lock) pod template, set "
    "runAsNonRoot, a RuntimeDefault or Localhost seccomp profile, allowPrivilegeEscalation false, no privilege, "
    "capabilities drop ALL and add none, and a read-only root filesystem; no Pooler uses the host's network, PID "
    "or IPC namespaces or hostPath volumes.",
    severity=Severity.HIGH,
    control="Pod Security Standards: restricted; CIS Kubernetes 5.2",
    area=AREA,
    scope="resource",
    clouds=(CLOUD,),
    remediation="Render spec.podSecurityContext {runAsNonRoot, seccompProfile RuntimeDefault} and "
    "spec.securityContext {allowPrivilegeEscalation: false, privileged: false, readOnlyRootFilesystem: true, "
    "capabilities: {drop: [ALL]}} on the Cluster (dataplane/cnpg.py), and the same in each Pooler's template "
    "and the lock CronJob's (dataplane/cnpg_lock.py).",
)


def _context_problems(where: str, pod: dict[str, Any], container: dict[str, Any]) -> list[str]:
    """What a container with these pod and container contexts lacks (the container's settings win)."""
    problems = []

    def effective(key: str) -> Any:
        return container.get(key, pod.get(key))

    if effective("runAsNonRoot") is not True:
        problems.append("runAsNonRoot is not true")
    if effective("runAsUser") == 0:
        problems.append("runAsUser is 0 (root)")
    seccomp = dig(container, "seccompProfile", "type") or dig(pod, "seccompProfile", "type")
    if seccomp not in SECCOMP_CONFINED:
        problems.append(f"seccompProfile is {seccomp or 'unset'}, not {' or '.join(SECCOMP_CONFINED)}")
    if container.get("allowPrivilegeEscalation") is not False:
        problems.append("allowPrivilegeEscalation is not false")
    if container.get("privileged") is True:
        problems.append("privileged is true")
    capabilities = container.get("capabilities") or {}
    if "ALL" not in [str(c).upper() for c in as_list(capabilities.get("drop"))]:
        problems.append("capabilities do not drop ALL")
    if as_list(capabilities.get("add")):
        problems.append(f"capabilities add {', '.join(map(str, as_list(capabilities.get('add'))))}")
    if container.get("readOnlyRootFilesystem") is not True:
        problems.append("readOnlyRootFilesystem is not true")
    return [f"{where}: {p}" for p in problems]


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _restricted(args, report) -> None:
    if args.resource_type not in (CNPG_CLUSTER, POOLER, CRON_JOB):
        return
    spec = spec_of(args)
    if args.resource_type == CRON_JOB:
        spec = _mapping(dig(spec, "jobTemplate", "spec", default={}))  # its pods' template, as a Pooler's
    if args.resource_type == CNPG_CLUSTER:
        # One container context for every container the operator runs in an instance pod.
        problems = _context_problems(
            "instances", _mapping(spec.get("podSecurityContext")), _mapping(spec.get("securityContext"))
        )
    else:
        pod_spec = _mapping(dig(spec, "template", "spec", default={}))
        pod = _mapping(pod_spec.get("securityContext"))
        containers = [c for c in as_list(pod_spec.get("containers")) if isinstance(c, dict)]
        if not containers:
            problems = ["template: no container's security context is given"]
        else:
            problems = [
                p
                for c in containers
                for p in _context_problems(f"container {c.get('name')}", pod, _mapping(c.get("securityContext")))
            ]
        problems += [f"template: {key} is true" for key in HOST_NAMESPACES if pod_spec.get(key) is True]
        problems += [
            f"template: volume {v.get('name')} is a hostPath"
            for v in as_list(pod_spec.get("volumes"))
            if isinstance(v, dict) and v.get("hostPath")
        ]
    for problem in problems:
        report(f"{args.name}: {problem}")


POLICIES = [(POD_001, resource_policy(POD_001, _restricted))]
