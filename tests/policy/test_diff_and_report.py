"""tools diff and the plan report on hand-made plans (the stacks themselves are in test_stacks.py)."""

from __future__ import annotations

import argparse
import json

from tests.policy.fixtures import STACK, Stack, node_user_data, patroni, rec, tagged
from tools import diff as diff_tool
from tools import plan as plan_tool
from tools.records import Plan


def _plan(stack: Stack, name: str = STACK) -> Plan:
    return Plan("pg-platform", name, stack.records, {})


def _change(changes, name):
    return next(c for c in changes if c.name == name)


def test_diff_reports_added_removed_and_changed_properties():
    base, head = Stack(), Stack()
    head.find("pg-vault-object-lock").inputs["rule"]["defaultRetention"]["days"] = 30
    head.remove("pg-network-flow-log")
    head.records.append(rec("aws:s3/bucket:Bucket", "extra", {"bucket": "extra", "tags": tagged()}))
    changes = diff_tool.compare(_plan(base), _plan(head))
    assert diff_tool.counts(changes) == {"added": 1, "removed": 1, "changed": 1}
    lock = _change(changes, "pg-vault-object-lock")
    assert [(p.path, p.kind, p.base, p.head) for p in lock.properties] == [
        ("rule.defaultRetention.days", "changed", 14, 30)
    ]
    assert _change(changes, "pg-network-flow-log").kind == "removed"
    md = diff_tool.render_markdown("t", changes, None)
    assert "cannot tell an in-place update from a replacement" in md and "`rule.defaultRetention.days`" in md


def test_diff_masks_secrets_and_unpacks_user_data():
    base, head = Stack(), Stack()
    for s, password in ((base, "old-password"), (head, "new-password")):
        secret = s.find("pg-secrets-superuser")
        secret.inputs["secretString"] = password
        secret.secret_paths = ["secretString"]
    doc = patroni(head.nodes[0].inputs["privateIp"])
    doc["postgresql"]["parameters"]["log_statement"] = "all"
    head.nodes[0].inputs["userDataBase64"] = node_user_data(head.nodes[0].inputs["privateIp"], doc)
    changes = diff_tool.compare(_plan(base), _plan(head))
    out = (
        diff_tool.render_text("t", changes, None)
        + diff_tool.render_markdown("t", changes, None)
        + diff_tool.to_json(changes, None)
    )
    assert "old-password" not in out and "new-password" not in out and diff_tool.MASK in out
    node = _change(changes, "pg-cluster-pg-1")
    assert "-    log_statement: ddl" in node.files and "+    log_statement: all" in node.files
    assert any(line.startswith("--- a/etc/pg-platform/patroni.yml") for line in node.files)


def test_diff_options_and_cross_stage_matching():
    base, head = Stack(), Stack()
    head.find("pg-vault-bucket").protect = False
    changes = diff_tool.compare(_plan(base, "dev"), _plan(head, "prod"))
    bucket = _change(changes, "pg-vault-bucket")
    assert [(o.path, o.base, o.head) for o in bucket.options] == [("protect", True, False)]
    assert diff_tool.resource_key("urn:pulumi:dev::p::a:b:C$d:e:F::pg-dev-vault", "dev") == diff_tool.resource_key(
        "urn:pulumi:prod::p::a:b:C$d:e:F::pg-prod-vault", "prod"
    )


def test_diff_cli_on_saved_plans_reports_policy_delta(pack, tmp_path):
    base, head = Stack(), Stack()
    head.find("pg-cluster-nlb").inputs["internal"] = False
    paths = []
    for label, s in (("base", base), ("head", head)):
        analysis = pack.run(s.records)
        doc = plan_tool.to_document(
            _plan(s), analysis, {"program": 0.0, "policy": analysis.seconds, "total": analysis.seconds}
        )
        path = tmp_path / f"{label}.json"
        path.write_text(json.dumps(doc))
        paths.append(path)
    out = tmp_path / "diff.md"
    rc = diff_tool.main(
        argparse.Namespace(base=str(paths[0]), head=str(paths[1]), stacks=None, format="markdown", output=str(out))
    )
    md = out.read_text()
    assert rc == 0
    assert "`internal` | changed | `true` | `false`" in md
    assert "new: [mandatory] PGP-AWS-NET-007 pg-cluster-nlb: pg-cluster-nlb: internal is not true" in md


def test_plan_report_formats(pack):
    stack = Stack()
    stack.find("pg-cluster-nlb").inputs["internal"] = False
    analysis = pack.run(stack.records)
    timings = {"program": 0.5, "policy": analysis.seconds, "total": 0.5 + analysis.seconds, "pack_config": "x"}
    text = plan_tool.render_text(_plan(stack), analysis, timings)
    assert "+ aws:s3/bucket:Bucket  pg-vault-bucket [protect]" in text
    assert "+ aws:lb/loadBalancer:LoadBalancer  pg-cluster-nlb [1 mandatory]" in text
    assert "[mandatory] PGP-AWS-NET-007 Load balancers are internal (critical)" in text
    assert "remediation: Create the load balancer with internal=True" in text
    assert "total" in text.splitlines()[-1]
    md = plan_tool.render_markdown(_plan(stack), analysis, timings)
    assert md.startswith("### :x: pg-platform plan `test`: policy gate blocked")
    assert (
        "| mandatory | `PGP-AWS-NET-007` Load balancers are internal | "
        "`aws:lb/loadBalancer:LoadBalancer::pg-cluster-nlb` |" in md
    )
    doc = plan_tool.to_document(_plan(stack), analysis, timings)
    assert doc["summary"] == {"mandatory": 1, "advisory": 0, "remediate": 0}
    assert Plan.from_json(json.loads(json.dumps(doc))["plan"]).resources[0].urn == stack.records[0].urn


def test_saved_plans_redact_secrets_but_diff_still_sees_them_change(pack, tmp_path):
    docs = []
    for password in ("old-password", "new-password"):
        stack = Stack()
        secret = stack.find("pg-secrets-superuser")
        secret.inputs["secretString"] = password
        secret.secret_paths = ["secretString"]
        key = rec("tls:index/privateKey:PrivateKey", "ca-key", {"algorithm": "ECDSA"})
        key.outputs = {
            "algorithm": "ECDSA",
            "privateKeyPem": "-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n",
        }
        stack.records.append(key)
        analysis = pack.run(stack.records)
        doc = plan_tool.to_document(_plan(stack), analysis, {"program": 0, "policy": 0, "total": 0})
        text = json.dumps(doc)
        assert password not in text and "BEGIN PRIVATE KEY" not in text
        path = tmp_path / f"{password}.json"
        path.write_text(text)
        docs.append(path)
    out = tmp_path / "diff.txt"
    diff_tool.main(
        argparse.Namespace(base=str(docs[0]), head=str(docs[1]), stacks=None, format="text", output=str(out))
    )
    assert f"~ secretString: {diff_tool.MASK} => {diff_tool.MASK}" in out.read_text()
