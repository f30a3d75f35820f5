"""Roles on a CloudNativePG Cluster: no superuser reachable over the network, application roles without
administrative attributes, and each role's password in a basic-auth Secret of its namespace that names it."""

from __future__ import annotations

from typing import Any

from pulumi_policy import Severity

from ..core import Rule, as_list, dig, resource_policy, short, stack_policy
from ..graph import of_type
from ..operators import name, namespace, spec_of
from .types import CLOUD, CNPG_CLUSTER, SECRET

AREA = "postgres"
ADMIN_ATTRIBUTES = ("superuser", "createrole", "createdb", "replication", "bypassrls")
BASIC_AUTH = "kubernetes.io/basic-auth"

ROLE_001 = Rule(
    id="PGP-KUBERNETES-ROLE-001",
    title="No superuser access, and application roles without administrative attributes",
    why="With enableSuperuserAccess the operator publishes the postgres password in a Secret and lets it log "
    "in over the network; an application role with superuser, createrole or bypassrls is the superuser by "
    "another name.",
    description="The Cluster leaves enableSuperuserAccess false, and no managed role has superuser, createrole, "
    "createdb, replication or bypassrls.",
    severity=Severity.CRITICAL,
    control="CIS PostgreSQL 4.2, 4.3; seed: scoped roles, never the superuser for apps",
    area=AREA,
    scope="resource",
    clouds=(CLOUD,),
    remediation="Keep enableSuperuserAccess false; give application roles login only (dataplane/cnpg.py "
    "managed.roles) and privileges through grants.",
)


def managed_roles(cluster: Any) -> list[dict[str, Any]]:
    return [r for r in as_list(dig(spec_of(cluster), "managed", "roles", default=[])) if isinstance(r, dict)]


def _scoped(args, report) -> None:
    if args.resource_type != CNPG_CLUSTER:
        return
    if spec_of(args).get("enableSuperuserAccess") is True:
        report(f"{args.name}: enableSuperuserAccess is true (the postgres role logs in over the network)")
    for role in managed_roles(args):
        granted = [a for a in ADMIN_ATTRIBUTES if role.get(a) is True]
        if granted:
            report(f"{args.name}: managed role {role.get('name')} has {', '.join(granted)}")


ROLE_002 = Rule(
    id="PGP-KUBERNETES-ROLE-002",
    title="Role passwords in basic-auth Secrets of the stack",
    why="A managed role whose Secret is missing, elsewhere or of another shape is created without the password "
    "the stack generated (or not at all), and an application connects with whatever that Secret holds.",
    description="Every managed role that logs in names a passwordSecret; that Secret is created by the stack "
    "in the Cluster's namespace, is of type kubernetes.io/basic-auth, and its username is the role's name.",
    severity=Severity.HIGH,
    control="seed: role passwords as Kubernetes secrets from generated Pulumi secrets",
    area=AREA,
    scope="stack",
    clouds=(CLOUD,),
    remediation="Create the role's Secret from the stack's generated password (components/kubernetes/cluster.py) "
    "with type kubernetes.io/basic-auth and string_data {username: <role>, password: <generated>}.",
)


def _role_secrets(args, report) -> None:
    secrets = {(namespace(s), name(s)): s for s in of_type(args.resources, SECRET)}
    for cluster in of_type(args.resources, CNPG_CLUSTER):
        where = namespace(cluster)
        for role in managed_roles(cluster):
            role_name = role.get("name")
            if role.get("login") is False or role.get("ensure") == "absent":
                continue
            secret_name = dig(role, "passwordSecret", "name")
            if not secret_name:
                report(f"{short(cluster.urn)}: role {role_name} names no passwordSecret", cluster.urn)
                continue
            secret = secrets.get((where, str(secret_name)))
            if secret is None:
                missing = f"{where}/{secret_name}"
                report(f"{short(cluster.urn)}: role {role_name}'s Secret {missing} is not in the stack", cluster.urn)
                continue
            kind = secret.props.get("type") or "Opaque"
            if kind != BASIC_AUTH:
                report(f"{short(secret.urn)}: type is {kind}, not {BASIC_AUTH} (role {role_name})", secret.urn)
            data = secret.props.get("stringData") or {}
            username = data.get("username") if "username" in data else None
            if username is not None and username != role_name:
                report(f"{short(secret.urn)}: username is {username}, but it is role {role_name}'s Secret", secret.urn)
            elif username is None and "username" not in (secret.props.get("data") or {}):
                report(f"{short(secret.urn)}: no username (role {role_name})", secret.urn)


POLICIES = [
    (ROLE_001, resource_policy(ROLE_001, _scoped)),
    (ROLE_002, stack_policy(ROLE_002, _role_secrets)),
]
