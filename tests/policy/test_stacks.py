"""The real program for each stack through the real pack: dev and prod pass their gate, and breaking prod in
the ways that matter fails it with the expected rule."""

from __future__ import annotations

import argparse
import base64
import copy
import dataclasses
import gzip
import json

import pytest
import yaml

from components.aws.userdata import compress_user_data
from stacks.errors import SettingsError
from stacks.files import engine_config, stack_file, stack_names
from tools import plan as plan_tool
from tools.analyzer import PolicyAnalyzer, load_pack_config
from tools.records import ResourceRecord
from tools.runner import run_stack

INSTANCE = "aws:ec2/instance:Instance"


@pytest.fixture(scope="module")
def prod_pack():
    with PolicyAnalyzer(stack="prod", stack_config=engine_config("prod")) as analyzer:
        yield analyzer


def gate(stack: str, analyzer: PolicyAnalyzer, **kwargs):
    plan = run_stack(stack, **kwargs)
    config = plan_tool.default_pack_config(engine_config(stack, overrides=kwargs.get("overrides")), stack)
    return plan, analyzer.analyze_plan(plan, load_pack_config(config))


def fired(analysis, rule: str) -> list:
    return [d for d in analysis.mandatory if d.policy == rule]


def _detail(analysis) -> str:
    return json.dumps([(d.policy, d.level, d.urn.split("::")[-1], d.detail) for d in analysis.diagnostics], indent=1)


# Every cloud's machines: the nodes booting Patroni and the monitoring node.
MACHINES = (INSTANCE, "gcp:compute/instance:Instance", "azure-native:compute:VirtualMachine")


@pytest.mark.parametrize("stack", stack_names())
def test_stack_passes_its_gate(stack):
    config = engine_config(stack)
    with PolicyAnalyzer(stack=stack, stack_config=config) as analyzer:
        plan, analysis = gate(stack, analyzer)
    assert analysis.mandatory == [], _detail(analysis)
    # The pack really saw the stack: nodes booting Patroni and the monitoring node, or the operator's Cluster.
    operator_run = [r for r in plan.resources if r.type == "kubernetes:postgresql.cnpg.io/v1:Cluster"]
    assert len([r for r in plan.resources if r.type in MACHINES]) >= 2 or operator_run
    profile = config.get("pg-platform:profile", stack)
    expected = "advisory" if profile == "dev" else "mandatory"
    assert {c["enforcementLevel"] for n, c in analysis.config.items() if n != "PGP-PRT-001"} == {expected}
    if profile == "prod":
        assert analysis.diagnostics == [], _detail(analysis)


def test_plan_cli_prod(capsys, tmp_path):
    out = tmp_path / "prod.md"
    rc = plan_tool.main(
        argparse.Namespace(
            stack="prod",
            format="markdown",
            output=str(out),
            json=str(tmp_path / "prod.json"),
            pack_config=None,
            pack_dir=str(plan_tool.PACK_DIR),
        )
    )
    assert rc == 0, out.read_text()
    assert "policy gate passes" in out.read_text()
    err = capsys.readouterr().err
    assert "plan prod:" in err and " s (program " in err
    doc = json.loads((tmp_path / "prod.json").read_text())
    assert doc["summary"]["mandatory"] == 0 and doc["timings"]["total"] > 0


# --- mutations of prod -------------------------------------------------------------------------------------------


def _db_nodes(record: ResourceRecord) -> bool:
    return record.type == INSTANCE and "monitoring" not in record.name


def _first_db_node(record: ResourceRecord) -> bool:
    return _db_nodes(record) and record.name.endswith("-1")


def _edit_cloud_config(record: ResourceRecord, edit) -> None:
    key = "userDataBase64" if "userDataBase64" in record.inputs else "userData"
    raw = record.inputs[key]
    text = gzip.decompress(base64.b64decode(raw)).decode() if key == "userDataBase64" else raw
    doc = yaml.safe_load(text)
    for entry in doc["write_files"]:
        content = entry.get("content", "")
        if entry.get("encoding") in ("b64", "base64"):
            content = base64.b64decode(content).decode()
        new = edit(entry["path"], content)
        if new is not None:
            entry["content"] = new
            entry.pop("encoding", None)
    text = "#cloud-config\n" + yaml.safe_dump(doc)
    record.inputs[key] = compress_user_data(text) if key == "userDataBase64" else text


def _trust_in_hba(record: ResourceRecord) -> None:
    _patroni_edit(
        lambda doc: doc["postgresql"].__setitem__(
            "pg_hba", [line.replace("scram-sha-256", "trust") for line in doc["postgresql"]["pg_hba"]]
        )
    )(record)


def _only_one_member(record: ResourceRecord) -> None:
    """What nodes: 1 would leave: one instance booting Patroni."""
    if _db_nodes(record) and not record.name.endswith("-1"):
        record.inputs.pop("userDataBase64", None)
        record.inputs.pop("userData", None)


def _public_ip(record: ResourceRecord) -> None:
    if _first_db_node(record):
        record.inputs["associatePublicIpAddress"] = True


def _world_allowlist(record: ResourceRecord) -> None:
    if record.type == "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule" and record.inputs.get("cidrIpv4"):
        record.inputs["cidrIpv4"] = "0.0.0.0/0"


def _governance_lock(record: ResourceRecord) -> None:
    if record.type == "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration":
        record.inputs["rule"]["defaultRetention"]["mode"] = "GOVERNANCE"


def _untagged_bucket(record: ResourceRecord) -> None:
    if record.type == "aws:s3/bucket:Bucket":
        record.inputs["tags"].pop("cost-center")


def on_state(mutate):
    """Apply an input edit to the recorded outputs too: the runner derives outputs before `mutate` runs, and
    the engine hands stack rules the outputs, which a provider would have computed from the edited inputs."""

    def both(record: ResourceRecord) -> None:
        mutate(record)
        if record.outputs:
            mutate(dataclasses.replace(record, inputs=record.outputs))

    return both


MUTATIONS = [
    ("public ip", _public_ip, "PGP-AWS-NET-001", "associatePublicIpAddress is true"),
    ("world in allowlist", _world_allowlist, "PGP-AWS-NET-002", "admits 0.0.0.0/0 on port(s)"),
    ("governance lock", _governance_lock, "PGP-AWS-S3-001", "lock mode GOVERNANCE is not one of COMPLIANCE"),
    ("single node", _only_one_member, "PGP-HA-001", "1 member(s), minimum 3"),
    ("trust in pg_hba", _trust_in_hba, "PGP-PG-001", "uses trust"),
    ("missing tag", _untagged_bucket, "PGP-TAG-001", "missing tag(s) cost-center"),
]


@pytest.mark.parametrize("case,mutate,rule,expected", MUTATIONS, ids=[m[0] for m in MUTATIONS])
def test_prod_mutation_fails_the_gate(prod_pack, case, mutate, rule, expected):
    _, analysis = gate("prod", prod_pack, mutate=on_state(mutate))
    hits = fired(analysis, rule)
    assert hits and any(expected in d.message for d in hits), _detail(analysis)


PROD = yaml.safe_load(stack_file("prod").read_text())["config"]


@pytest.mark.parametrize(
    "override,key",
    [
        (
            {
                "pg-platform:network": {
                    **PROD["pg-platform:network"],
                    "allowlist": {"cidrs": ["0.0.0.0/0"], "security_groups": []},
                }
            },
            "allowlist.cidrs",
        ),
        ({"pg-platform:cluster": {**PROD["pg-platform:cluster"], "nodes": 1}}, "rpo_seconds"),
    ],
    ids=["world allowlist", "one node at RPO 0"],
)
def test_prod_config_mutations_rejected_before_any_resource(override, key):
    """The stack's own settings refuse these before a resource exists: a pass for the configuration."""
    with pytest.raises(SettingsError, match=key):
        run_stack("prod", overrides=override)


def test_prod_config_the_settings_accept_still_fails_the_gate():
    """One node in one zone with a relaxed RPO is a valid configuration, but not a valid prod."""
    override = {
        "pg-platform:cluster": {**PROD["pg-platform:cluster"], "nodes": 1},
        "pg-platform:objectives": {**PROD["pg-platform:objectives"], "rpo_seconds": 300, "rto_seconds": 3600},
        "pg-platform:network": {**PROD["pg-platform:network"], "zones": ["eu-central-1a"]},
    }
    with PolicyAnalyzer(stack="prod", stack_config=engine_config("prod", overrides=override)) as analyzer:
        _, analysis = gate("prod", analyzer, overrides=override)
    assert any(d.detail.endswith("1 member(s), minimum 3") for d in fired(analysis, "PGP-HA-001")), _detail(analysis)
    assert any("1 zone(s)" in d.detail for d in fired(analysis, "PGP-HA-001"))
    # The RPO was relaxed, so strict synchronous replication is no longer demanded.
    assert fired(analysis, "PGP-HA-002") == []


def test_diff_between_stages(tmp_path):
    from tools import diff as diff_tool

    out = tmp_path / "diff.json"
    assert (
        diff_tool.main(argparse.Namespace(stacks=["dev", "prod"], base=None, head=None, format="json", output=str(out)))
        == 0
    )
    doc = json.loads(out.read_text())
    by_name = {r["name"]: r for r in doc["resources"]}
    bucket = by_name["pgp-prod-vault-bucket"]
    assert {"path": "protect", "kind": "changed", "secret": False, "base": False, "head": True} in bucket["options"]
    lock = by_name["pgp-prod-vault-object-lock"]
    assert {(p["path"], p["base"], p["head"]) for p in lock["properties"]} >= {
        ("rule.defaultRetention.mode", "GOVERNANCE", "COMPLIANCE")
    }
    # prod's extra members are additions; names that differ only by the stage are not changes.
    assert by_name["pgp-prod-cluster-pgp-prod-db-2"]["kind"] == "added"
    assert not any(
        p["path"] == "tags.Name" for r in doc["resources"] if r["kind"] == "changed" for p in r["properties"]
    )
    assert doc["policy"] == {"introduced": [], "resolved": []}


# --- the rules read the real rendered files ------------------------------------------------------------------
# Edits of the recorded prod plan (what the runner's mutate hook does, without re-running the program), one per
# rule that judges node files, so none of them can pass prod merely because it failed to find what it reads.


@pytest.fixture(scope="module")
def prod_plan():
    return run_stack("prod")


def _patroni_edit(change):
    def mutate(record: ResourceRecord) -> None:
        if not _first_db_node(record):
            return

        def edit(path: str, content: str):
            if not path.endswith("patroni.yml"):
                return None
            doc = yaml.safe_load(content)
            change(doc)
            return yaml.safe_dump(doc)

        _edit_cloud_config(record, edit)

    return mutate


def _pg_param(key: str, value):
    return _patroni_edit(lambda doc: doc["postgresql"].setdefault("parameters", {}).__setitem__(key, value))


def _file_edit(suffix: str, change, nodes=_first_db_node):
    def mutate(record: ResourceRecord) -> None:
        if nodes(record):
            _edit_cloud_config(record, lambda path, content: change(content) if path.endswith(suffix) else None)

    return mutate


def _monitoring(record: ResourceRecord) -> bool:
    return record.type == INSTANCE and "monitoring" in record.name


def _drop_alerts(prefix: str):
    def change(content: str) -> str:
        doc = yaml.safe_load(content)
        for group in doc["groups"]:
            group["rules"] = [r for r in group["rules"] if not r["alert"].startswith(prefix)]
        return yaml.safe_dump(doc)

    return _file_edit("rules/pg-platform.yml", change, nodes=_monitoring)


RENDERED = [
    ("PGP-PG-002", _pg_param("password_encryption", "md5"), "password_encryption is md5"),
    ("PGP-PG-003", _pg_param("ssl", "off"), "ssl is off"),
    ("PGP-PG-004", _pg_param("shared_preload_libraries", "pg_stat_statements"), "lacks pgaudit"),
    ("PGP-PG-005", _pg_param("log_lock_waits", "off"), "log_lock_waits is off"),
    ("PGP-PG-006", _pg_param("archive_mode", "off"), "archive_mode is off"),
    ("PGP-PG-007", _pg_param("listen_addresses", "*"), "PostgreSQL listens on *"),
    (
        "PGP-HA-002",
        _patroni_edit(lambda d: d["bootstrap"]["dcs"].update(synchronous_mode_strict=False)),
        "synchronous_mode_strict is False",
    ),
    (
        "PGP-BAK-001",
        _file_edit("pgbackrest.conf", lambda c: c.replace("retention-full=30", "retention-full=7")),
        "keeps full backups 7 day(s), minimum 30",
    ),
    (
        "PGP-NODE-001",
        _file_edit("pgbackrest.conf", lambda c: c + "repo1-cipher-pass=literal-passphrase\n"),
        "repo1-cipher-pass has a literal value",
    ),
    ("PGP-MON-001", _drop_alerts("Certificate"), "no alert for cert-expiry"),
]


@pytest.mark.parametrize("rule,mutate,expected", RENDERED, ids=[r[0] for r in RENDERED])
def test_rules_read_the_rendered_node_files(prod_pack, prod_plan, rule, mutate, expected):
    plan = copy.deepcopy(prod_plan)
    for record in plan.resources:
        on_state(mutate)(record)
    analysis = prod_pack.analyze_plan(plan, load_pack_config(plan_tool.PACK_DIR / "config" / "prod.json"))
    assert {d.policy for d in analysis.mandatory} == {rule}, _detail(analysis)
    assert any(expected in d.message for d in analysis.mandatory), _detail(analysis)


def test_unwatched_instance_in_prod(prod_pack, prod_plan):
    plan = copy.deepcopy(prod_plan)
    node = next(r for r in plan.resources if _first_db_node(r))
    plan.resources = [
        r
        for r in plan.resources
        if not (
            r.type == "aws:cloudwatch/metricAlarm:MetricAlarm"
            and node.urn in r.property_dependencies.get("dimensions", [])
        )
    ]
    analysis = prod_pack.analyze_plan(plan, load_pack_config(plan_tool.PACK_DIR / "config" / "prod.json"))
    # Without its alarms nothing recovers it from a failed host either.
    assert sorted((d.policy, d.urn) for d in analysis.mandatory) == [
        ("PGP-AWS-EC2-003", node.urn),
        ("PGP-MON-003", node.urn),
    ], _detail(analysis)


def test_a_node_that_only_pages_on_a_failed_host_fails_in_prod(prod_pack, prod_plan):
    """The real prod plan with one member's recover action dropped (its alarm still pages): the gate refuses it,
    and only for that member."""
    plan = copy.deepcopy(prod_plan)
    node = next(r for r in plan.resources if _first_db_node(r))
    (alarm,) = [
        r
        for r in plan.resources
        if r.type == "aws:cloudwatch/metricAlarm:MetricAlarm"
        and node.urn in r.property_dependencies.get("dimensions", [])
        and r.inputs["metricName"] == "StatusCheckFailed_System"
    ]
    alarm.inputs["alarmActions"] = [a for a in alarm.inputs["alarmActions"] if ":automate:" not in a]
    alarm.outputs["alarmActions"] = list(alarm.inputs["alarmActions"])
    analysis = prod_pack.analyze_plan(plan, load_pack_config(plan_tool.PACK_DIR / "config" / "prod.json"))
    assert [(d.policy, d.urn) for d in analysis.mandatory] == [("PGP-AWS-EC2-003", node.urn)], _detail(analysis)
