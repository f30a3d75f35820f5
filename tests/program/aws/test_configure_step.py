"""Day-two changes on AWS, as the plan shows them: a changed setting moves the configure step, whose command
carries each member's bundle (the new content of its files, not a path on the node) to scripts/ssm_configure.py,
while the instances, which ignore user-data drift, stay as they are."""

from __future__ import annotations

import itertools
import shlex

import pytest

from dataplane import configure_agent
from tests.program.contract.configure_step import (
    COMMAND,
    bundles,
    configure_step,
    handover_steps,
    leave_steps,
    patroni_file,
)
from tests.unit.stack_helpers import overridden
from tools.records import Plan, ResourceRecord
from tools.runner import run_stack

INSTANCE = "aws:ec2/instance:Instance"
ADDED = "10.99.0.0/24"


def bundles_of(step: ResourceRecord) -> dict[str, dict]:
    """Member name -> its decoded bundle, from the step's `--member NAME INSTANCE BUNDLE` arguments."""
    argv = shlex.split(step.inputs["create"])
    assert argv[:2] == [".venv/bin/python", "scripts/ssm_configure.py"], argv[:2]
    # Each run is one journal entry in the stack's locked bucket, under the cluster's scope.
    assert argv[argv.index("--journal-bucket") + 1].startswith("pgp-") and argv[argv.index("--scope") + 1].startswith(
        "pgp-"
    )
    return bundles(step)


@pytest.fixture(scope="module")
def plans() -> tuple[Plan, Plan]:
    def widen(network):
        network["allowlist"]["cidrs"].append(ADDED)

    return run_stack("prod"), run_stack("prod", overrides=overridden("prod", "network", widen))


def test_the_configure_step_carries_every_member_its_own_files(plans):
    base, _ = plans
    bundles = bundles_of(configure_step(base))
    members = [r for r in base.by_type(INSTANCE) if "-db-" in r.name]
    assert len(bundles) == len(members) == 3
    for name, bundle in bundles.items():
        assert bundle["member"] == name and name in patroni_file(bundle)
        assert any(f["path"].startswith("/usr/local/sbin/") and f["owner"] == "root:root" for f in bundle["files"])


def test_a_wider_allowlist_reaches_every_member_through_the_configure_step(plans):
    base, wider = plans
    old, new = configure_step(base), configure_step(wider)
    assert old.inputs["triggers"][1:] != new.inputs["triggers"][1:]
    for name, bundle in bundles_of(new).items():
        assert ADDED in patroni_file(bundle) and ADDED not in patroni_file(bundles_of(old)[name])
    # The instances ignore the user-data drift: nothing is replaced by a reloadable change.
    for before, after in zip(base.by_type(INSTANCE), wider.by_type(INSTANCE), strict=True):
        assert "userData" in (before.ignore_changes or []) or before.inputs.get("userData") == after.inputs.get(
            "userData"
        )


def test_the_backup_check_and_the_roles_wait_for_the_configure_step(plans):
    """They run node-side scripts that the configure step rewrites: the new ones, not those of the first boot."""
    base, _ = plans
    (check,) = [r for r in base.by_type(COMMAND) if r.name.endswith("-backup-check")]
    (roles,) = [r for r in base.by_type(COMMAND) if r.name.endswith("-roles")]
    assert configure_step(base).urn in check.dependencies
    assert check.urn in roles.dependencies


def test_declared_databases_and_roles_move_the_configure_and_roles_steps_and_nothing_else():
    """The plan diff of a databases/roles/extensions change: the members' bundles (roles SQL, pg_hba, PgBouncer's
    databases, the preload library and the extension's package) and the roles step's trigger, no instance."""
    base = run_stack("prod")
    declared = run_stack(
        "prod",
        overrides={
            "pg-platform:postgresql": {
                "databases": {"orders": {"extensions": ["vector", "pg_prewarm"]}},
                "roles": {"orders_api": {"database": "orders", "tier": "rw"}},
            }
        },
    )
    (old_roles,) = [r for r in base.by_type(COMMAND) if r.name.endswith("-roles")]
    (new_roles,) = [r for r in declared.by_type(COMMAND) if r.name.endswith("-roles")]
    assert old_roles.inputs["triggers"][1:] != new_roles.inputs["triggers"][1:]
    for name, bundle in bundles_of(configure_step(declared)).items():
        files = {f["path"]: f["content"] for f in bundle["files"]}
        roles_sql = next(c for p, c in files.items() if p.endswith("/roles.sql"))
        assert (
            "CREATE DATABASE orders OWNER orders_owner" in roles_sql and "GRANT orders_rw TO orders_api;" in roles_sql
        )
        assert any(p.endswith("/pgbouncer.ini") and "\norders = host=" in c for p, c in files.items())
        assert "orders_api" in patroni_file(bundle) and "pg_prewarm" in patroni_file(bundle)
        assert bundle["packages"] == ["postgresql-17-pgvector"], name
    shapes = [
        {r.name: (r.inputs.get("instanceType"), r.inputs.get("ami")) for r in p.by_type(INSTANCE)}
        for p in (base, declared)
    ]
    assert shapes[0] == shapes[1]


def test_each_member_has_a_leave_step_that_runs_only_when_it_is_deleted(plans):
    """Only `delete`: a changed bundle or a rolled instance updates the step and runs nothing; removing the
    member (its step goes with it) runs the agent's `leave` on that member before its instance is deleted."""
    base, _ = plans
    steps = leave_steps(base)
    members = {r.name: r for r in base.by_type(INSTANCE) if "-db-" in r.name}
    assert len(steps) == len(members) == 3
    for name, step in steps.items():
        assert "create" not in step.inputs and "update" not in step.inputs and "triggers" not in step.inputs
        argv = shlex.split(step.inputs["delete"])
        assert argv[:2] == [".venv/bin/python", "scripts/ssm_configure.py"] and "--leave" in argv
        member, _instance, bundle = argv[argv.index("--member") + 1 :]
        assert member == name and configure_agent.decode(bundle)["member"] == name
        assert configure_step(base).urn in step.dependencies


def test_ha_switched_off_keeps_one_member_and_its_leave_step_and_drops_the_others():
    """nodes 3 -> 1 in the plan: the dropped members' leave steps are gone with them (so their deletes run the
    handover and the etcd member remove), the kept member's bundle renders a cluster of one."""

    def single(cluster):
        cluster["nodes"] = 1

    three, one = (
        run_stack("dev", overrides=overridden("dev", "cluster", lambda c: c.update(nodes=3))),
        run_stack("dev", overrides=overridden("dev", "cluster", single)),
    )
    assert len(leave_steps(three)) == 3 and len(leave_steps(one)) == 1
    # Chained, so the members that go leave one at a time, the last first.
    chain = sorted(leave_steps(three).items())
    for (_, before), (_, after) in itertools.pairwise(chain):
        assert before.urn in after.dependencies
    assert set(leave_steps(one)) < set(leave_steps(three))
    (kept,) = bundles_of(configure_step(one)).values()
    assert list(kept["etcd"]["settings"]["peers"]) == [kept["member"]]


def test_each_member_hands_over_before_its_instance_is_replaced(plans):
    """The handover step's trigger is its instance's id: a roll replaces the step with the instance, and Pulumi
    deletes it first (members replace delete-before-replace), so its `delete` switches a leader over while it
    still runs. It depends on the member's leave step: a member removed for good hands over, then leaves."""
    base, _ = plans
    leaving, handing = leave_steps(base), handover_steps(base)
    members = {r.name: r for r in base.by_type(INSTANCE) if "-db-" in r.name}
    assert set(handing) == set(leaving) and len(handing) == len(members) == 3
    for name, step in handing.items():
        assert "create" not in step.inputs and "update" not in step.inputs
        argv = shlex.split(step.inputs["delete"])
        assert argv[:2] == [".venv/bin/python", "scripts/ssm_configure.py"] and "--handover" in argv
        member, instance, bundle = argv[argv.index("--member") + 1 :]
        assert member == name and configure_agent.decode(bundle)["member"] == name
        assert step.inputs["triggers"] == [instance]
        assert leaving[name].urn in step.dependencies
    for instance in members.values():
        assert instance.delete_before_replace, instance.name
