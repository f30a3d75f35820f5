"""The CloudNativePG flavour gets the VM flavour's PostgreSQL parameters and pg_hba, apart from what the operator
owns (each named with its reason in dataplane.cnpg), and its objects validate against the released CRDs."""

from __future__ import annotations

import dataclasses

import pytest

from components.aws.spec import s3_repository
from components.spec import cluster_spec
from dataplane import cnpg
from dataplane.pg_hba import hba_rules
from dataplane.postgresql import postgresql_parameters
from stacks.offline import settings_for_stack
from stacks.topology import derive_topology

POD_CIDR = "10.60.0.0/16"


def spec_for(stack: str):
    settings = settings_for_stack(stack)
    topology = derive_topology(settings)
    resources = cnpg.pod_resources(topology.node_size)
    return cluster_spec(settings, dataclasses.replace(topology, node_size=resources.size), s3_repository(settings, "1"))


@pytest.mark.parametrize("stack", ["k8s-dev", "k8s-prod"])
def test_parameters_are_the_vm_flavours_less_the_operators_own(stack):
    spec = spec_for(stack)
    vm = postgresql_parameters(spec, spec.members[0])
    k8s = cnpg.parameters(spec)
    assert {k: str(v) for k, v in vm.items() if k not in cnpg.OPERATOR_OWNED_PARAMETERS} == k8s
    # Every owned name is one the VM flavour sets: a stale entry would hide nothing and mean nothing.
    assert set(cnpg.OPERATOR_OWNED_PARAMETERS) <= set(vm)
    assert k8s["password_encryption"] == "scram-sha-256" and k8s["pgaudit.log"]


@pytest.mark.parametrize("stack", ["k8s-dev", "k8s-prod"])
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
