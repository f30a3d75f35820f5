"""What the pack tells the engine about itself (GetAnalyzerInfo), the generated docs and the taggable catalog."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import jsonschema

ROOT = Path(__file__).resolve().parents[2]
PACK = ROOT / "policy"


def test_every_rule_is_documented_to_the_engine(pack):
    analysis = pack.run([])
    policies = analysis.policies
    assert len(policies) >= 30
    for name, meta in policies.items():
        assert re.fullmatch(r"PGP-(?:(?:AWS|AZURE|GCP|KUBERNETES)-)?[A-Z0-9]+-\d{3}", name), name
        assert meta.description and meta.title and meta.remediation, name
        assert meta.severity in ("low", "medium", "high", "critical"), name
        assert meta.framework and meta.reference, name
        assert meta.scope in ("resource", "stack"), name
        assert meta.enforcement_level == "mandatory", name  # fails closed without a stage config
        # Each threshold's default satisfies its own schema, so the engine accepts an empty config.
        for key, schema in meta.config_schema.items():
            assert "default" in schema, (name, key)
            jsonschema.validate(schema["default"], schema)


def test_stage_configs_reconcile_and_differ_where_intended(pack):
    prod = pack.analyzer.configure(pack.config("prod"))
    dev = pack.analyzer.configure(pack.config("dev"))
    assert {c["enforcementLevel"] for c in prod.values()} == {"mandatory"}
    assert {c["enforcementLevel"] for c in dev.values()} == {"advisory", "disabled"}
    assert prod["PGP-AWS-S3-001"]["allowed_modes"] == ["COMPLIANCE"] and prod["PGP-AWS-S3-001"]["min_lock_days"] == 14
    assert dev["PGP-AWS-S3-001"]["allowed_modes"] == ["COMPLIANCE", "GOVERNANCE"]
    assert prod["PGP-BAK-001"]["min_retention_days"] == 30 and dev["PGP-BAK-001"]["min_retention_days"] == 7


def test_each_profile_refuses_what_its_pack_config_would(pack):
    """A retention the pack refuses must already fail in the settings, where the error names the setting."""
    from stacks.profiles import PROFILES

    for name, profile in PROFILES.items():
        configured = pack.analyzer.configure(pack.config(name))
        assert profile.min_retention_days == configured["PGP-BAK-001"]["min_retention_days"], name
        # A profile whose settings let backups.enabled be false is one whose pack does not require them.
        assert profile.backups_optional is not configured["PGP-BAK-002"]["require_backups"], name


def test_docs_table_is_generated_from_the_pack():
    rendered = subprocess.run(
        [sys.executable, str(PACK / "scripts" / "gen_docs.py")], check=True, capture_output=True, text=True
    ).stdout
    assert (ROOT / "docs" / "policy.md").read_text() == rendered, (
        "docs/policy.md is stale: run .venv/bin/python policy/scripts/gen_docs.py > docs/policy.md"
    )


def test_taggable_catalog_matches_installed_provider():
    sys.path.insert(0, str(PACK / "scripts"))
    try:
        from gen_aws_taggable import taggable_types
    finally:
        sys.path.pop(0)
    import pulumi_aws

    expected = taggable_types(Path(pulumi_aws.__file__).parent)
    lines = (PACK / "pgp_policy" / "aws" / "taggable.txt").read_text().splitlines()
    shipped = [line for line in lines if line and not line.startswith("#")]
    assert shipped == expected
    assert "aws:ec2/instance:Instance" in shipped and "aws:iam/rolePolicy:RolePolicy" not in shipped


def test_pack_is_self_contained():
    """The pack runs in its own environment: it may import only the SDK, pyyaml, the stdlib and itself."""
    allowed = {"pulumi_policy", "pulumi", "yaml", "pgp_policy", "__future__"}
    stdlib = set(sys.stdlib_module_names)
    for path in [PACK / "__main__.py", *(PACK / "pgp_policy").rglob("*.py")]:
        for m in re.finditer(r"^\s*(?:from|import)\s+([\w.]+)", path.read_text(), re.M):
            top = m.group(1).split(".")[0]
            assert top in allowed or top in stdlib or m.group(1).startswith("."), (path.name, m.group(1))
    requirements = (PACK / "requirements.txt").read_text()
    assert "pulumi-policy" in requirements and "pyyaml" in requirements


def test_analyzer_runs_the_pack_as_the_engine_does_and_stops_it():
    from tools.analyzer import PolicyAnalyzer

    analyzer = PolicyAnalyzer(stack="x", stack_config={"pg-platform:stage": "x"})
    analyzer.start()
    proc = analyzer.proc
    try:
        assert proc.args[1:5] == ["-u", "-m", "pulumi.policy", "127.0.0.1:0"] and proc.args[5] == "."
        assert analyzer.info.name == "pg-platform" and analyzer.info.supportsConfig
        assert analyzer.plugin_version  # GetPluginInfo answered
    finally:
        analyzer.close()
    assert proc.poll() is not None and analyzer.proc is None


def test_readme_rule_table_is_generated_from_the_pack():
    sys.path.insert(0, str(PACK / "scripts"))
    try:
        from gen_docs import readme_with_table
    finally:
        sys.path.remove(str(PACK / "scripts"))
    readme = (ROOT / "README.md").read_text()
    assert readme_with_table(readme) == readme, (
        "README's policy table is stale: run .venv/bin/python policy/scripts/gen_docs.py --readme"
    )


def _string_constants(path: Path) -> list[tuple[int, str]]:
    return [
        (node.lineno, node.value)
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]


def test_each_type_token_is_spelt_once_and_only_by_its_cloud():
    """Shared rules reach a cloud only through its adapter; a cloud's tokens live in its types module alone."""
    token = re.compile(r"^[a-z][\w-]*:[\w/.-]+:[A-Z]\w*$")  # package:module:Type
    tokens: dict[str, list[str]] = {}
    for path in sorted((PACK / "pgp_policy").rglob("*.py")):
        where = str(path.relative_to(PACK / "pgp_policy"))
        for line, value in _string_constants(path):
            if token.match(value):
                tokens.setdefault(value, []).append(f"{where}:{line}")
    assert tokens, "no type token found: the pattern is wrong"
    sys.path.insert(0, str(PACK))
    try:
        from pgp_policy.clouds import CLOUDS
    finally:
        sys.path.remove(str(PACK))
    # A cloud's folder is its name; its tokens' package may differ (azure-native for azure).
    folder = {package: cloud.name for cloud in CLOUDS for package in cloud.packages}
    for value, places in tokens.items():
        cloud = folder.get(value.split(":", 1)[0], value.split(":", 1)[0])
        assert [p.split(":")[0] for p in places] == [f"{cloud}/types.py"], (value, places)
