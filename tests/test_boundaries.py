"""The packages depend on each other in one direction only:

    stacks  <-  dataplane  <-  components  <-  tools  (and sandbox, which runs the data plane on loopback)

`stacks` (the stage model) is the bottom layer and knows no SDK; `dataplane` renders files from it and knows no
SDK and no cloud component; the policy pack is self-contained (it is installed on its own, next to the engine).
Every module is parsed, imports inside functions included, so a lazy import cannot hide a dependency.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROJECT = ("stacks", "dataplane", "components", "tools", "sandbox", "policy", "pgp_policy", "bench")


class Rule(NamedTuple):
    package: str  # a folder of the repository
    forbidden: tuple[str, ...]  # module prefixes; "pulumi*" is every Pulumi SDK
    allowed: tuple[str, ...] = ()  # exceptions to `forbidden`
    root: str = ""  # the folder its imports are relative to, when it is not the repository


RULES = (
    Rule("stacks", ("pulumi*", "components", "dataplane", "tools", "sandbox", "policy", "pgp_policy")),
    Rule("dataplane", ("pulumi*", "components", "tools", "sandbox", "policy", "pgp_policy")),
    Rule("components", ("tools", "sandbox", "policy", "pgp_policy")),
    Rule("sandbox", ("pulumi*", "components", "policy", "pgp_policy")),
    Rule("tools", ("policy", "pgp_policy")),
    # The pack runs from policy/: only its SDK and itself (pgp_policy), nothing of the project.
    Rule("policy/pgp_policy", ("pulumi*", *(p for p in PROJECT if p != "pgp_policy")), ("pulumi_policy",), "policy"),
)

# Known crossings, each with the reason it still exists; the test fails once one is gone, so the entry goes too.
KNOWN: dict[tuple[str, str], str] = {}


def _matches(module: str, prefix: str) -> bool:
    if prefix.endswith("*"):
        return module.split(".")[0].startswith(prefix[:-1])
    return module == prefix or module.startswith(prefix + ".")


def _package_of(path: Path, root: str) -> str:
    return ".".join(path.relative_to(ROOT / root).with_suffix("").parts[:-1])


def imports(path: Path, root: str = "") -> Iterator[str]:
    """Every module `path` imports, at any depth of the file, with relative imports resolved."""
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = _package_of(path, root).split(".")
                base = base[: len(base) - node.level + 1]
                yield ".".join([*base, node.module] if node.module else base)
            elif node.module:
                yield node.module


def modules(package: str) -> list[Path]:
    return sorted(p for p in (ROOT / package).rglob("*.py") if not {"venv", ".venv", "__pycache__"} & set(p.parts))


def violations(rule: Rule) -> set[tuple[str, str]]:
    found = set()
    for path in modules(rule.package):
        for module in imports(path, rule.root):
            if any(_matches(module, a) for a in rule.allowed):
                continue
            if any(_matches(module, f) for f in rule.forbidden):
                found.add((str(path.relative_to(ROOT)), module))
    return found


@pytest.mark.parametrize("rule", RULES, ids=[r.package for r in RULES])
def test_package_imports_only_what_its_layer_may(rule):
    assert modules(rule.package), f"no modules under {rule.package}/"
    unexpected = violations(rule) - set(KNOWN)
    assert not unexpected, "\n".join(f"{path} imports {module}" for path, module in sorted(unexpected))


def test_known_crossings_still_exist():
    found = set().union(*(violations(rule) for rule in RULES))
    assert not set(KNOWN) - found, f"remove from KNOWN: {sorted(set(KNOWN) - found)}"


def test_the_checker_sees_lazy_and_relative_imports(tmp_path, monkeypatch):
    """The scan itself: an import inside a function and a relative import are both found."""
    package = tmp_path / "dataplane" / "sub"
    package.mkdir(parents=True)
    (package / "mod.py").write_text("def f():\n    import pulumi_aws\n    from ..x import y\n    from . import z\n")
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    assert sorted(imports(package / "mod.py")) == ["dataplane.sub", "dataplane.x", "pulumi_aws"]
    assert violations(Rule("dataplane", ("pulumi*",))) == {(str(Path("dataplane/sub/mod.py")), "pulumi_aws")}


# A cloud's SDK, by the cloud's folder under components/. Only that folder imports it, and no cloud imports
# another: a cloud is an addition (docs/adding-a-cloud.md), and the composition (components/*.py) knows none.
CLOUD_SDKS = {
    "aws": "pulumi_aws",
    "azure": "pulumi_azure_native",
    "gcp": "pulumi_gcp",
    "kubernetes": "pulumi_kubernetes",
}


def cloud_sdk_crossings() -> set[tuple[str, str]]:
    found = set()
    for path in modules("components"):
        parts = path.relative_to(ROOT / "components").parts
        home = parts[0] if len(parts) > 1 else None
        for module in imports(path):
            for cloud, sdk in CLOUD_SDKS.items():
                foreign = cloud != home
                if foreign and (_matches(module, sdk) or _matches(module, f"components.{cloud}")):
                    found.add((str(path.relative_to(ROOT)), module))
    return found


def test_only_a_clouds_own_components_import_its_sdk():
    assert (ROOT / "components" / "aws").is_dir()
    crossings = cloud_sdk_crossings()
    assert not crossings, "\n".join(f"{path} imports {module}" for path, module in sorted(crossings))


def test_the_cloud_check_sees_a_composition_importing_a_cloud(tmp_path, monkeypatch):
    (tmp_path / "components" / "aws").mkdir(parents=True)
    (tmp_path / "components" / "platform.py").write_text("import pulumi_aws\nfrom components.aws import build\n")
    (tmp_path / "components" / "aws" / "network.py").write_text("import pulumi_aws\nimport pulumi_gcp\n")
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    assert cloud_sdk_crossings() == {
        ("components/platform.py", "pulumi_aws"),
        ("components/platform.py", "components.aws"),
        ("components/aws/network.py", "pulumi_gcp"),
    }
