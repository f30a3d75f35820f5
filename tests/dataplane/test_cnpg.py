"""The CloudNativePG flavour gets the VM flavour's PostgreSQL parameters, pg_hba and privileges, apart from what the
operator owns (each named with its reason in dataplane.cnpg), and its objects validate against the released CRDs."""

from __future__ import annotations

import dataclasses
import functools
import re

import pytest

from components.aws.spec import s3_repository
from components.spec import cluster_spec
from dataplane import cnpg, roles
from dataplane.model import APP_DATABASE, APP_OWNER_ROLE, MONITORING_USER, POOLER_AUTH_USER
from dataplane.pg_hba import hba_rules
from dataplane.postgresql import postgresql_parameters
from stacks.offline import settings_for_stack
from stacks.topology import derive_topology
from tools import k8s_schemas
from tools.manifests import kubernetes_objects
from tools.runner import run_stack

POD_CIDR = "10.60.0.0/16"
# Every Kubernetes stack: the host changes the store and the identity, never PostgreSQL's settings or roles.
K8S_STACKS = ("k8s-dev", "k8s-prod", "k8s-azure-dev", "k8s-gcp-dev")


def spec_for(stack: str):
    settings = settings_for_stack(stack)
    topology = derive_topology(settings)
    resources = cnpg.pod_resources(topology.node_size)
    return cluster_spec(settings, dataclasses.replace(topology, node_size=resources.size), s3_repository(settings, "1"))


@pytest.mark.parametrize("stack", K8S_STACKS)
def test_parameters_are_the_vm_flavours_less_the_operators_own(stack):
    spec = spec_for(stack)
    vm = postgresql_parameters(spec, spec.members[0])
    k8s = cnpg.parameters(spec)
    assert {k: str(v) for k, v in vm.items() if k not in cnpg.OPERATOR_OWNED_PARAMETERS} == k8s
    # Every owned name is one the VM flavour sets: a stale entry would hide nothing and mean nothing.
    assert set(cnpg.OPERATOR_OWNED_PARAMETERS) <= set(vm)
    assert k8s["password_encryption"] == "scram-sha-256" and k8s["pgaudit.log"]


@pytest.mark.parametrize("stack", K8S_STACKS)
def test_pg_hba_is_the_vm_flavours_less_the_operators_lines(stack):
    spec = spec_for(stack)
    lines = cnpg.hba_lines(spec, POD_CIDR)
    vm = [r for r in hba_rules(dataclasses.replace(spec, client_cidrs=(*spec.client_cidrs, POD_CIDR)))]
    dropped = [r for r in vm if r.line() not in lines]
    # What is dropped is exactly the operator's roles' lines and the member-sourced lines of the VM layout.
    for rule in dropped:
        owned = set(rule.user.split(",")) & set(cnpg.OPERATOR_OWNED_HBA)
        assert owned or rule.comment == cnpg.POOLED_SESSIONS_COMMENT, rule.line()
    kept = [r.line() for r in vm if r.line() in lines]
    assert kept == lines, "the order of the VM flavour's rules is kept"
    assert lines[-2:] == ["host  all  all  0.0.0.0/0  reject", "host  all  all  ::/0  reject"]
    assert not any(m in line for line in lines for m in (" trust", " md5", " password"))


def test_node_size_leaves_room_for_the_node():
    from stacks.sizes import NodeSize

    pod = cnpg.pod_resources(NodeSize(vcpus=4, memory_mib=32768))
    assert pod.millicpu == 3500 and pod.memory_mib == int(32768 * 0.8)
    assert pod.size == NodeSize(vcpus=3, memory_mib=pod.memory_mib)
    assert pod.as_requirements()["requests"] == pod.as_requirements()["limits"]


# --- roles and privileges ----------------------------------------------------------------------------

_GRANTEES = re.compile(r"^(?:GRANT|ALTER DEFAULT PRIVILEGES) .* TO (?P<roles>[a-z_, ]+);$")


@functools.cache
def rendered_cluster(stack: str) -> dict:
    """The Cluster as the program sends it (the offline run), not as a test would assemble it."""
    plan = run_stack(stack)
    (cluster,) = [obj for _, obj in kubernetes_objects(plan) if obj["kind"] == "Cluster"]
    return cluster


def grantees(statements) -> set[str]:
    found = set()
    for sql in statements:
        if match := _GRANTEES.match(sql):
            found |= {r.strip() for r in match["roles"].split(",")}
    return found


@pytest.mark.parametrize("stack", K8S_STACKS)
def test_bootstrap_runs_exactly_the_vm_flavours_privileges(stack):
    initdb = rendered_cluster(stack)["spec"]["bootstrap"]["initdb"]
    managed = [r["name"] for r in rendered_cluster(stack)["spec"]["managed"]["roles"]]
    grants = roles.privileges(also_connect=(cnpg.EXPORTER_GROUP,))
    # The application database exists only after postInitSQL: its ACL and content are postInitApplicationSQL's.
    assert initdb["postInitApplicationSQL"] == [*grants.database, *grants.application]
    # Before the grants, in the postgres database: only the owner made NOLOGIN and the managed roles prepared.
    prepared = [sql for role in managed for sql in (roles.create_nologin_role_sql(role), roles.search_path_sql(role))]
    assert initdb["postInitSQL"] == [roles.owner_role_sql(), *prepared, *grants.maintenance]
    assert initdb["owner"] == APP_OWNER_ROLE and initdb["database"] == APP_DATABASE
    # The schema, the default privileges and the public lockdown are the VM script's very statements.
    vm = roles.render_role_sql(spec_for(stack)).splitlines()
    assert all(sql in vm for sql in grants.application + grants.maintenance)


@pytest.mark.parametrize("stack", K8S_STACKS)
def test_privileges_go_to_the_managed_roles(stack):
    spec = rendered_cluster(stack)["spec"]
    initdb = spec["bootstrap"]["initdb"]
    managed = {r["name"]: r for r in spec["managed"]["roles"]}
    sql = initdb["postInitSQL"] + initdb["postInitApplicationSQL"]
    # Every role a grant names exists when it runs: a managed role (prepared in postInitSQL, which runs first)
    # or the predefined group of the operator's exporter. The VMs' monitor and pgbouncer_auth do not exist here.
    assert grantees(sql) == set(managed) | {cnpg.EXPORTER_GROUP}
    assert {MONITORING_USER, POOLER_AUTH_USER}.isdisjoint(grantees(sql))
    for name, role in managed.items():
        assert roles.create_nologin_role_sql(name) in initdb["postInitSQL"]
        # The reconciler ALTERs the prepared role to its spec: a login with a limit and its Secret's password.
        assert role["login"] and not role["superuser"] and role["connectionLimit"] > 0 and role["passwordSecret"]


@pytest.mark.parametrize("stack", K8S_STACKS)
def test_the_owner_never_logs_in(stack):
    """initdb's owner is created LOGIN, with a password in the operator's `-app` Secret; postInitSQL takes the
    login away, and no pg_hba line (the operator's admit only postgres locally and its own certificate users)
    names it."""
    spec = rendered_cluster(stack)["spec"]
    assert roles.owner_role_sql() in spec["bootstrap"]["initdb"]["postInitSQL"]
    for line in spec["postgresql"]["pg_hba"]:
        _, _, users, *_, method = line.split()
        assert method == "reject" or (APP_OWNER_ROLE not in users.split(",") and users != "all"), line


@pytest.mark.parametrize("stack", K8S_STACKS)
def test_the_cluster_with_its_bootstrap_sql_validates_against_the_crd(stack):
    assert k8s_schemas.validate(rendered_cluster(stack)) == []


def test_host_pod_labels_reach_the_instances_through_inherited_metadata():
    """An AKS host's label (azure.workload.identity/use) is on every object of the Cluster, its pods included;
    a host without one renders no inheritedMetadata, so the EKS graphs stay as they were."""
    aws = rendered_cluster("k8s-dev")
    assert "inheritedMetadata" not in aws["spec"]
    aks = rendered_cluster("k8s-azure-dev")
    assert aks["spec"]["inheritedMetadata"] == {"labels": {"azure.workload.identity/use": "true"}}
    assert k8s_schemas.validate(aks) == []
