"""`tools manifests` writes every Kubernetes object a stack creates, each valid against its CRD or the Kubernetes
schemas, and never a secret value."""

from __future__ import annotations

import yaml

from tools.__main__ import main
from tools.manifests import PLACEHOLDER, kubernetes_objects
from tools.runner import run_stack

STACKS = ("k8s-dev", "k8s-prod", "k8s-azure-dev", "k8s-gcp-dev")


def test_every_exported_object_is_valid_and_no_secret_leaves(tmp_path, capsys):
    argv = ["manifests", "--out", str(tmp_path), "--check"]
    for stack in STACKS:
        argv += ["--stack", stack]
    assert main(argv) == 0, capsys.readouterr()
    for stack in STACKS:
        plan = run_stack(stack)
        files = sorted((tmp_path / stack).glob("*.yaml"))
        assert len(files) == len(kubernetes_objects(plan)) > 0
        kinds = {yaml.safe_load(f.read_text())["kind"] for f in files}
        assert {"Cluster", "Pooler", "ScheduledBackup", "ObjectStore", "NetworkPolicy", "PrometheusRule"} <= kinds
        generated = {r.outputs["result"] for r in plan.by_type("random:index/randomPassword:RandomPassword")}
        text = "".join(f.read_text() for f in files)
        assert generated and not any(value in text for value in generated)
        assert "PRIVATE KEY-----" not in text and PLACEHOLDER in text


def test_an_invalid_object_fails_the_check(tmp_path, capsys, monkeypatch):
    from tools import k8s_schemas

    monkeypatch.setattr(k8s_schemas, "validate", lambda obj: ["broken"] if obj.get("kind") == "Pooler" else [])
    assert main(["manifests", "--stack", "k8s-dev", "--out", str(tmp_path), "--check"]) == 1
    assert "broken" in capsys.readouterr().out
