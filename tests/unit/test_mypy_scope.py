"""mypy follows only the cloud SDK services the code uses (pyproject.toml says why): a service reached but not
listed would type as Any without a word, and one listed but unused costs time for nothing."""

from __future__ import annotations

import ast
import importlib.util
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCOPED = ("pulumi_aws", "pulumi_azure_native", "pulumi_gcp", "pulumi_kubernetes")


def _mypy() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]


def _followed() -> list[str]:
    modules: list[str] = []
    for override in _mypy()["overrides"]:
        if override.get("follow_imports") == "normal":
            modules += override["module"]
    return modules


def _package_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    assert spec is not None and spec.submodule_search_locations, f"{package} is not installed"
    return Path(next(iter(spec.submodule_search_locations)))


def _is_service(package: str, name: str) -> bool:
    return (_package_dir(package) / name / "__init__.py").is_file()


def _checked_files() -> list[Path]:
    files: list[Path] = []
    for entry in _mypy()["files"]:
        path = ROOT / entry
        files += [path] if path.is_file() else sorted(p for p in path.rglob("*.py") if "venv" not in p.parts)
    return files


def _services_used(tree: ast.AST) -> set[str]:
    """`package.service` for every service of a scoped SDK that a module imports or reaches as an attribute of
    the imported package (`aws.ec2.Instance`, `from pulumi_azure_native import storage`)."""
    used: set[str] = set()
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                package, _, rest = alias.name.partition(".")
                if package in SCOPED:
                    if rest:
                        used.add(f"{package}.{rest.split('.')[0]}")
                    if not rest or alias.asname is None:
                        aliases[alias.asname or package] = package
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            package, _, rest = node.module.partition(".")
            if package not in SCOPED:
                continue
            if rest:
                used.add(f"{package}.{rest.split('.')[0]}")
            else:
                used |= {f"{package}.{a.name}" for a in node.names if _is_service(package, a.name)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases:
            package = aliases[node.value.id]
            if _is_service(package, node.attr):
                used.add(f"{package}.{node.attr}")
    return used


def test_the_scanner_finds_services_in_every_form_of_import():
    source = (
        "import pulumi_aws as aws\nimport pulumi_gcp.kms\nfrom pulumi_azure_native import storage, Provider\n"
        "from pulumi_kubernetes.core import v1\nx = aws.ec2.Instance\ny = aws.get_caller_identity\n"
    )
    assert _services_used(ast.parse(source)) == {
        "pulumi_aws.ec2",
        "pulumi_gcp.kms",
        "pulumi_azure_native.storage",
        "pulumi_kubernetes.core",
    }


def test_mypy_follows_exactly_the_services_the_code_uses():
    used: set[str] = set()
    for path in _checked_files():
        used |= _services_used(ast.parse(path.read_text(), filename=str(path)))
    followed = {m.removesuffix(".*") for m in _followed() if m.endswith(".*") and m.split(".")[0] in SCOPED}
    assert used, "no cloud SDK service found: the scanner or the mypy file list is broken"
    assert sorted(used - followed) == [], "add these to the followed overrides in pyproject.toml"
    assert sorted(followed - used) == [], "no code uses these any more: drop them from pyproject.toml"


def test_every_top_level_module_of_each_sdk_is_followed():
    followed = set(_followed())
    for package in SCOPED:
        top_level = {package} | {
            f"{package}.{path.stem}" for path in _package_dir(package).glob("*.py") if path.stem != "__init__"
        }
        assert sorted(top_level - followed) == [], f"{package}'s version changed its top-level modules"


def test_every_followed_module_exists():
    for module in _followed():
        package, _, rest = module.removesuffix(".*").partition(".")
        if package not in SCOPED:
            continue
        where = _package_dir(package) / rest.replace(".", "/") if rest else _package_dir(package)
        assert (where / "__init__.py").is_file() or where.with_suffix(".py").is_file(), module
