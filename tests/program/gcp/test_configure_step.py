"""Day-two changes on GCP, as the plan shows them: a changed setting moves the configure step, whose command carries
each member's bundle to scripts/iap_configure.py (SSH through Identity-Aware Proxy), while the instances, which
ignore metadata drift, stay as they are; each member has a leave step; a new machine type waits for the roll."""

from __future__ import annotations

import shlex

import pytest

from tests.program.contract.configure_step import (
    COMMAND,
    bundles,
    configure_step,
    handover_steps,
    leave_steps,
    members_of,
    patroni_file,
)
from tests.unit.stack_helpers import overridden
from tools.records import Plan
from tools.runner import run_stack

STACK = "gcp-prod"
INSTANCE = "gcp:compute/instance:Instance"
ADDED = "10.99.0.0/24"


def db_instances(plan: Plan):
    return [r for r in plan.by_type(INSTANCE) if "-db-" in r.name]


@pytest.fixture(scope="module")
def plans() -> tuple[Plan, Plan]:
    def widen(network):
        network["allowlist"]["cidrs"].append(ADDED)

    return run_stack(STACK), run_stack(STACK, overrides=overridden(STACK, "network", widen))


def test_the_configure_step_reaches_each_member_by_instance_and_zone(plans):
    base, _ = plans
    argv = shlex.split(configure_step(base).inputs["create"])
    assert argv[:2] == [".venv/bin/python", "scripts/iap_configure.py"]
    assert argv[argv.index("--project") + 1] and "--journal-bucket" not in argv
    members = members_of(argv)
    instances = {r.inputs["name"]: r.inputs["zone"] for r in db_instances(base)}
    assert len(members) == len(instances) == 3
    for name, (where, bundle) in members.items():
        instance, zone = where.split(":")
        assert instances[instance] == zone and bundle["member"] == name and name in patroni_file(bundle)


def test_a_wider_allowlist_moves_the_configure_step_and_no_instance(plans):
    base, wider = plans
    old, new = configure_step(base), configure_step(wider)
    assert old.inputs["triggers"][1:] != new.inputs["triggers"][1:]
    for name, bundle in bundles(new).items():
        assert ADDED in patroni_file(bundle) and ADDED not in patroni_file(bundles(old)[name])
    for before in db_instances(base):
        assert "metadata" in before.ignore_changes, before.name


def test_the_backup_check_waits_for_the_configure_step_and_members_leave_one_at_a_time(plans):
    base, _ = plans
    step = configure_step(base)
    (check,) = [r for r in base.by_type(COMMAND) if r.name.endswith("-backup-check")]
    assert step.urn in check.dependencies
    leaving = leave_steps(base)
    assert len(leaving) == 3
    previous = None
    for name, leave in leaving.items():
        assert "create" not in leave.inputs and "triggers" not in leave.inputs
        argv = shlex.split(leave.inputs["delete"])
        assert argv[:2] == [".venv/bin/python", "scripts/iap_configure.py"] and "--leave" in argv
        assert list(members_of(argv)) == [name]
        assert step.urn in leave.dependencies
        if previous is not None:
            assert previous.urn in leave.dependencies
        previous = leave


def test_a_new_machine_type_waits_for_each_member_to_be_rolled():
    """Compute Engine changes a machine type by stopping the VM: each member takes it only when rolled, and
    its new boot (memory settings for the new size) replaces it with its data disk kept."""

    def resized(cluster):
        cluster.update(instance_type="n2-highmem-8", roll=["db-2"])

    before = {r.name: r.inputs["metadata"] for r in db_instances(run_stack(STACK))}
    plan = run_stack(STACK, overrides=overridden(STACK, "cluster", resized))
    for instance in db_instances(plan):
        rolled = instance.name.endswith("-db-2")
        assert ("machineType" in instance.ignore_changes) is not rolled, instance.name
        assert (instance.inputs["metadata"] != before[instance.name]) is True, instance.name


def test_each_member_hands_over_before_its_instance_is_replaced(plans):
    """A replaced instance keeps its name, so the handover step's trigger is the instance's id: the roll
    replaces the step too, and its `delete` (a leader's switchover) runs before the instance is deleted."""
    base, _ = plans
    leaving, handing = leave_steps(base), handover_steps(base)
    instances = {r.inputs["name"]: r for r in db_instances(base)}
    assert set(handing) == set(leaving) and len(handing) == 3
    for name, step in handing.items():
        argv = shlex.split(step.inputs["delete"])
        assert argv[:2] == [".venv/bin/python", "scripts/iap_configure.py"] and "--handover" in argv
        ((where, _),) = members_of(argv).values()
        instance = instances[where.split(":")[0]]
        assert step.inputs["triggers"] == [instance.outputs["instanceId"]] and "create" not in step.inputs
        assert instance.urn in step.dependencies
        assert leaving[name].urn in step.dependencies
        assert instance.delete_before_replace, instance.name
