"""`tools graph`: a stack's resource graph as a snapshot, and whether a change keeps every resource.

    tools graph --stack prod --write graphs/prod.json     record the graph the program builds today
    tools graph --stack prod --against graphs/prod.json   exit 1 unless the program still builds that graph

A restructuring must not make a deployed stack replace or delete anything. The engine matches resources by
URN, so "the same graph" means: every recorded URN is still built, under that URN or by a resource that carries
an alias resolving to it, with the same type, parent, inputs and options; and nothing new appears. Secret
values are replaced by a marker: offline they come from generated keys and passwords that differ per run, and
a snapshot must be safe to commit. Which inputs are secret is still compared.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

from tools.records import Plan
from tools.stack_args import add_stack_argument, for_each_stack

# Recorded per resource. Outputs and ids come from the fake cloud, so they are not the program's to keep.
SNAPSHOT_KEYS = (
    "type",
    "custom",
    "parent",
    "inputs",
    "secret_paths",
    "protect",
    "retain_on_delete",
    "ignore_changes",
    "provider",
    "dependencies",
    "property_dependencies",
)


SECRET = "[secret]"


_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def path_parts(path: str) -> list[str | int]:
    """A recorded input path (`a.b[0].c`, as the runner spells secret paths) as keys and list indexes."""
    return [int(index) if index else key for key, index in _PATH_PART.findall(path)]


def _holds(container: Any, key: str | int) -> bool:
    if isinstance(container, list):
        return isinstance(key, int) and key < len(container)
    return isinstance(container, dict) and key in container


def _masked(inputs: dict[str, Any], secret_paths: list[str]) -> dict[str, Any]:
    masked = json.loads(json.dumps(inputs))
    for path in secret_paths:
        *parents, leaf = path_parts(path)
        target: Any = masked
        for part in parents:
            target = target[part] if _holds(target, part) else None
        if _holds(target, leaf):
            target[leaf] = SECRET
    return masked


def snapshot(plan: Plan) -> dict[str, Any]:
    """The graph as `{urn: {...}}`, independent of registration order."""
    resources: dict[str, Any] = {}
    for record in plan.resources:
        entry = {k: getattr(record, k) for k in SNAPSHOT_KEYS}
        entry["inputs"] = _masked(record.inputs, record.secret_paths)
        entry["secret_paths"] = sorted(record.secret_paths)
        entry["dependencies"] = sorted(record.dependencies)
        entry["property_dependencies"] = {k: sorted(v) for k, v in sorted(record.property_dependencies.items())}
        entry["aliases"] = record.aliases
        resources[record.urn] = entry
    return {"stack": plan.stack, "resources": dict(sorted(resources.items()))}


def _split(urn: str) -> tuple[str, str, str]:
    """(prefix `urn:pulumi:<stack>::<project>`, qualified type chain, name)."""
    prefix, _, rest = urn.partition("::")
    project, _, rest = rest.partition("::")
    chain, _, name = rest.partition("::")
    return f"{prefix}::{project}", chain, name


def alias_urns(urn: str, aliases: list[Any], parent_of: dict[str, str | None]) -> set[str]:
    """The URNs a resource was known by, from its alias URNs and alias specs (name, type, parent)."""
    known: set[str] = set()
    head_prefix, chain, name = _split(urn)
    for alias in aliases:
        if isinstance(alias, str):
            known.add(alias)
            continue
        if "urn" in alias:
            known.add(alias["urn"])
            continue
        spec = alias.get("spec", alias)
        own_type = chain.rsplit("$", 1)[-1]
        parent_chain = chain.rsplit("$", 1)[0] if "$" in chain else ""
        if spec.get("noParent"):
            parent_chain = ""
        elif spec.get("parentUrn"):
            parent_chain = _split(spec["parentUrn"])[1]
        new_type = spec.get("type") or own_type
        qualified = f"{parent_chain}${new_type}" if parent_chain else new_type
        prefix = head_prefix
        if spec.get("stack") or spec.get("project"):
            stack = spec.get("stack") or head_prefix.split(":")[2]
            project = spec.get("project") or head_prefix.split("::")[1]
            prefix = f"urn:pulumi:{stack}::{project}"
        known.add(f"{prefix}::{qualified}::{spec.get('name') or name}")
    return known


def _renamed(value: Any, rename: dict[str, str]) -> Any:
    if isinstance(value, str):
        return rename.get(value, value)
    if isinstance(value, list):
        return [_renamed(v, rename) for v in value]
    if isinstance(value, dict):
        return {k: _renamed(v, rename) for k, v in value.items()}
    return value


def compare(base: dict[str, Any], head: dict[str, Any]) -> list[str]:
    """What a deployed stack at `base` would see if `head` were applied; empty when nothing is replaced."""
    base_resources, head_resources = base["resources"], head["resources"]
    parents = {u: r["parent"] for u, r in head_resources.items()}
    # head URN -> the base URN it continues (itself, or the one an alias names).
    continues: dict[str, str] = {}
    for urn, resource in head_resources.items():
        if urn in base_resources:
            continues[urn] = urn
            continue
        matches = alias_urns(urn, resource.get("aliases", []), parents) & set(base_resources)
        if matches:
            continues[urn] = sorted(matches)[0]
    rename = {h: b for h, b in continues.items() if h != b}
    problems = []
    kept = set(continues.values())
    for urn in sorted(set(base_resources) - kept):
        problems.append(f"deleted (no resource keeps this URN or aliases it): {urn}")
    for urn in sorted(set(head_resources) - set(continues)):
        problems.append(f"added: {urn}")
    for head_urn, base_urn in sorted(continues.items()):
        before = base_resources[base_urn]
        after = {k: _renamed(v, rename) for k, v in head_resources[head_urn].items() if k != "aliases"}
        for key in SNAPSHOT_KEYS:
            if before.get(key) != after.get(key):
                label = base_urn if head_urn == base_urn else f"{base_urn} (now {head_urn})"
                problems.append(f"{key} changed: {label}")
    return problems


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_stack_argument(parser, repeatable=False)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", metavar="FILE", type=Path, help="record the stack's graph in FILE")
    mode.add_argument("--against", metavar="FILE", type=Path, help="compare the stack's graph with FILE")


def main(args: argparse.Namespace) -> int:
    from tools.runner import run_stack

    status = 0

    def work(source: Any) -> None:
        nonlocal status
        head = snapshot(run_stack(source.name))
        if args.write:
            args.write.parent.mkdir(parents=True, exist_ok=True)
            args.write.write_text(json.dumps(head, indent=1, sort_keys=True) + "\n")
            print(f"graph {source.name}: {len(head['resources'])} resources written to {args.write}")
            return
        base = json.loads(args.against.read_text())
        problems = compare(base, head)
        for problem in problems:
            print(f"  {problem}")
        print(
            f"graph {source.name}: {len(head['resources'])} resources against {len(base['resources'])} in "
            f"{args.against}: {'the same graph' if not problems else f'{len(problems)} difference(s)'}"
        )
        status = 1 if problems else 0

    return for_each_stack("graph", [args.stack], work) or status


def load_plan(path: Path) -> Plan:
    data = json.loads(path.read_text())
    return Plan.from_json(data.get("plan", data))
