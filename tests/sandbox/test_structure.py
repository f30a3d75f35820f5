"""The sandbox's shape, without starting it: its modules import each other without a cycle (function-level
imports included), and every module in sandbox/drills is one drill, registered under its CLI name."""

from __future__ import annotations

import ast
from pathlib import Path

from sandbox import drills
from sandbox.client import Sandbox
from sandbox.harness.result import Drill, DrillOptions, DrillResult
from sandbox.layout import build_layout

SANDBOX = Path(__file__).resolve().parents[2] / "sandbox"
PACKAGE = SANDBOX.name
# The drills the CLI has always offered; a new drill adds its name here as it adds its module.
EXPECTED_DRILLS = {
    "alerts",
    "backups_toggle",
    "configure",
    "crash",
    "databases",
    "day_two_alerts",
    "etcd_move",
    "failover",
    "ha_toggle",
    "node_size",
    "replication",
    "restore",
    "roles",
    "rolling_restart",
    "switchover",
    "tls",
    "tls_settings",
    "worm",
}


def module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, name: str, known: set[str]) -> set[str]:
    """The package's modules `path` imports anywhere in its body (function-level imports included), plus the
    packages Python runs on the way (importing a.b.c runs a/__init__ and a/b/__init__ first), except the
    importer's own enclosing packages, which are already running when it starts."""
    is_package = path.name == "__init__.py"
    explicit: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            explicit |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name if is_package else name.rpartition(".")[0]
                for _ in range(node.level - 1):
                    base = base.rpartition(".")[0]
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            # `from a import b` imports the module a.b when there is one, else a name defined in a.
            for alias in node.names:
                explicit.add(f"{module}.{alias.name}" if f"{module}.{alias.name}" in known else module)
    enclosing = {name.rsplit(".", i)[0] for i in range(1, name.count(".") + 1)}
    implicit = {target.rsplit(".", i)[0] for target in explicit for i in range(1, target.count(".") + 1)}
    return ((explicit & known) | (implicit & known - enclosing)) - {name}


def import_graph(root: Path) -> dict[str, set[str]]:
    paths = {module_name(p, root): p for p in root.rglob("*.py")}
    return {name: imported_modules(path, name, set(paths)) for name, path in paths.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path that returns to its start, or None (depth-first, three colours)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_sandbox_modules_import_each_other_without_a_cycle():
    graph = import_graph(SANDBOX)
    assert f"{PACKAGE}.cluster" in graph and f"{PACKAGE}.services.patroni" in graph
    cycle = find_cycle(graph)
    assert cycle is None, " -> ".join(cycle or [])


def test_the_cycle_check_sees_function_level_and_relative_imports(tmp_path):
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("")
    (package / "a.py").write_text("def f():\n    from pkg.sub import b\n")
    (package / "sub" / "b.py").write_text("from .. import a\n")
    graph = import_graph(package)
    assert graph["pkg.a"] == {"pkg.sub", "pkg.sub.b"}
    assert find_cycle(graph) == ["pkg.a", "pkg.sub.b", "pkg.a"]
    (package / "sub" / "b.py").write_text("import json\n")
    assert find_cycle(import_graph(package)) is None
    # A package that imports its module, which imports a name from the half-run package, is a cycle too.
    (package / "__init__.py").write_text("from pkg.a import f\n")
    (package / "a.py").write_text("from pkg import VERSION\n")
    assert find_cycle(import_graph(package)) == ["pkg", "pkg.a", "pkg"]


def test_every_drill_module_registers_one_drill_under_its_cli_name():
    registry = drills.registry()
    assert set(registry) == EXPECTED_DRILLS
    modules = {p.stem for p in (SANDBOX / "drills").glob("*.py") if p.stem != "__init__"}
    assert modules == set(registry)
    assert all(isinstance(d, Drill) and d.name == name for name, d in registry.items())
    assert drills.names() == sorted(EXPECTED_DRILLS)


def test_a_drill_that_raises_is_reported_as_failed_with_its_reason(monkeypatch, tmp_path):
    def broken(sandbox: Sandbox, options: DrillOptions) -> DrillResult:
        raise RuntimeError("broke")

    monkeypatch.setitem(drills.registry(), "tls", Drill("tls", broken))
    result = drills.run_drill(Sandbox(build_layout("prod", root=tmp_path)), "tls")
    assert not result.passed
    assert (result.name, result.measurements, result.notes) == ("tls", {"error": "RuntimeError"}, ["broke"])
