"""The contract every cloud's build must keep, checked on the recorded graph of every stack of that cloud.

One suite for all clouds: what differs is only how a cloud's graph is read (readers.py)."""

from __future__ import annotations

import pytest

from dataplane.node_files import node_files
from dataplane.routing import client_routes
from stacks.files import stack_names
from stacks.offline import settings_for_stack
from stacks.ports import PORTS
from stacks.topology import derive_topology
from tests.program.contract.readers import READERS, CloudReader, skip_unless_applies, strings
from tools.records import Plan, ResourceRecord
from tools.runner import run_stack

CASES = [(cloud, stack) for stack in stack_names() for cloud in [settings_for_stack(stack).cloud] if cloud in READERS]


@pytest.fixture(scope="module", params=CASES, ids=[f"{c}-{s}" for c, s in CASES])
def built(request) -> tuple[CloudReader, str, Plan]:
    cloud, stack = request.param
    plan = run_stack(stack)
    reader = READERS[cloud]
    # A reader whose facts depend on the graph (Kubernetes: its host cloud's) narrows itself to this one.
    for_plan = getattr(reader, "for_plan", None)
    return (for_plan(plan) if for_plan else reader), stack, plan


def test_every_stack_has_a_cloud_reader():
    assert {settings_for_stack(s).cloud for s in stack_names()} <= set(READERS)


def test_one_member_per_derived_address_across_the_zones(built):
    reader, stack, plan = built
    skip_unless_applies(reader, "members")
    topology = derive_topology(settings_for_stack(stack))
    members = reader.members(plan)
    assert sorted(reader.address_of(m) for m in members) == sorted(topology.node_addresses.value)
    zones = {reader.address_of(m): reader.zone_of(plan, m) for m in members}
    assert [zones[a] for a in topology.node_addresses.value] == list(topology.node_zones.value)
    assert len(set(zones.values())) == min(len(members), len(settings_for_stack(stack).network.zones))


def test_the_vault_is_locked_as_derived(built):
    reader, stack, plan = built
    topology = derive_topology(settings_for_stack(stack))
    assert reader.vault_lock(plan) == (topology.lock_mode.value, topology.lock_days.value)
    assert topology.lock_days.value > 0


def test_routes_follow_patroni_health(built):
    reader, stack, plan = built
    skip_unless_applies(reader, "routes")
    settings = settings_for_stack(stack)
    spec = reader.spec(plan, settings, derive_topology(settings))
    expected = {port: (PORTS.patroni_rest, path) for port, _, path in client_routes(spec).values()}
    assert reader.route_checks(plan) == expected


def test_node_files_are_the_data_planes(built):
    reader, stack, plan = built
    skip_unless_applies(reader, "node_files")
    settings = settings_for_stack(stack)
    spec = reader.spec(plan, settings, derive_topology(settings))
    by_address = {reader.address_of(m): m for m in reader.members(plan)}
    for member in spec.members:
        # At boot, or (AWS) by the configure step before anything reads them.
        delivered = {**reader.boot_files(by_address[member.host]), **reader.configured_files(plan, member.name)}
        assert delivered.items() >= node_files(spec, member).items(), member.name


def _under_secret(record: ResourceRecord, path: str) -> bool:
    return any(path == s or path.startswith((f"{s}.", f"{s}[")) for s in record.secret_paths)


def test_generated_secrets_appear_only_as_secrets(built):
    reader, _, plan = built
    generated = {r.outputs["result"] for r in plan.by_type("random:index/randomPassword:RandomPassword")}
    private_keys = {r.outputs.get("privateKeyPem") for r in plan.by_type("tls:index/privateKey:PrivateKey")} - {None}
    assert generated
    for record in plan.resources:
        for path, text in strings(record.inputs):
            if any(value in text for value in generated | private_keys):
                assert _under_secret(record, path), f"a generated secret in plain input {record.name}.{path}"
        boot = reader.boot_text(record)
        if boot is not None:
            assert not any(value in boot for value in generated) and "PRIVATE KEY-----" not in boot, record.name


def test_stateful_resources_are_protected_in_prod_only(built):
    reader, stack, plan = built
    protect = derive_topology(settings_for_stack(stack)).protect_stateful.value
    for type_token in reader.stateful_types:
        records = plan.by_type(type_token)
        assert records, type_token
        assert all(r.protect == protect for r in records), type_token


def test_every_taggable_resource_carries_the_stage_tags(built):
    reader, stack, plan = built
    wanted = settings_for_stack(stack).tags
    tagged = [(r, reader.tags_of(r)) for r in plan.resources if r.custom]
    assert any(tags is not None for _, tags in tagged)
    for record, tags in tagged:
        if tags is not None:
            assert tags.items() >= wanted.items(), record.name


def test_the_inventory_says_what_runs_where(built):
    """The `inventory` export the console finds members by: every member with its zone and a distinct id."""
    _, stack, plan = built
    settings = settings_for_stack(stack)
    topology = derive_topology(settings)
    inventory = plan.outputs["inventory"]
    assert (inventory["cloud"], inventory["region"], inventory["scope"]) == (
        settings.cloud,
        settings.region,
        settings.name,
    )
    members = inventory["members"]
    assert [m["zone"] for m in members.values()] == list(topology.node_zones.value)
    assert len(members) == topology.node_count.value
    ids = [m["id"] for m in members.values()]
    assert all(isinstance(i, str) and i for i in ids) and len(set(ids)) == len(ids), ids
    if settings.cloud != "kubernetes":  # CloudNativePG's monitoring is the cluster's, not a node of the stack
        monitoring = inventory["monitoring"]["id"]
        assert isinstance(monitoring, str) and monitoring and monitoring not in ids, monitoring
