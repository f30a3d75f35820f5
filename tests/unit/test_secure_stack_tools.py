"""A stack file with `secure:` values, outside the repository, through every offline tool as a user runs them:
each exits 0, and neither the ciphertext nor the plain webhook URL reaches a plain input, user data or a saved plan."""

from __future__ import annotations

import base64
import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

from stacks.files import ROOT
from stacks.settings import SECRET_PLACEHOLDER_HOST

WEBHOOK = "https://events.example.com/v2/enqueue/pg-platform-prod"
CIPHERTEXT = "v1:c2VjdXJlIHdlYmhvb2sgb2YgdGhlIHRvb2xzIHRlc3Q="


@pytest.fixture(scope="module")
def secure_stack(tmp_path_factory) -> Path:
    text = (ROOT / "Pulumi.prod.yaml").read_text()
    assert f"webhook_url: {WEBHOOK}" in text
    directory = tmp_path_factory.mktemp("elsewhere")
    path = directory / "Pulumi.prod.yaml"
    path.write_text(text.replace(f"webhook_url: {WEBHOOK}", f"webhook_url: {{secure: {CIPHERTEXT}}}"))
    return path


def tools(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tools", *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_every_offline_tool_runs_on_a_secure_stack_file(secure_stack, tmp_path):
    for args in (["topology", "--stack", str(secure_stack)], ["run", "--stack", str(secure_stack)]):
        done = tools(*args)
        assert done.returncode == 0, (args, done.stderr)
        assert "Traceback" not in done.stderr
    plan_json = tmp_path / "head.json"
    done = tools("plan", "--stack", str(secure_stack), "--json", str(plan_json))
    assert done.returncode == 0, done.stderr
    base_json = tmp_path / "base.json"
    assert tools("plan", "--stack", "prod", "--json", str(base_json)).returncode == 0
    diff = tools("diff", "--base", str(base_json), "--head", str(plan_json))
    assert diff.returncode == 0, diff.stderr

    saved = plan_json.read_text()
    assert CIPHERTEXT not in saved and WEBHOOK not in saved and SECRET_PLACEHOLDER_HOST not in saved
    assert WEBHOOK not in diff.stdout and CIPHERTEXT not in diff.stdout
    doc = json.loads(saved)["plan"]
    for resource in doc["resources"]:
        for key in ("userData", "userDataBase64"):
            if key in resource["inputs"]:
                raw = resource["inputs"][key]
                text = gzip.decompress(base64.b64decode(raw)).decode() if key.endswith("64") else raw
                assert CIPHERTEXT not in text and SECRET_PLACEHOLDER_HOST not in text, resource["name"]
    # The placeholder the offline reader stands in for the URL is stored only as a secret, which saved plans redact.
    webhook_versions = [
        r
        for r in doc["resources"]
        if r["type"] == "aws:secretsmanager/secretVersion:SecretVersion" and "webhook" in r["name"]
    ]
    assert webhook_versions and all("secretString" in r["secret_paths"] for r in webhook_versions)
    assert all(r["inputs"]["secretString"].startswith("[secret sha256:") for r in webhook_versions)
