"""`tools manifests`: the Kubernetes objects a stack creates, as YAML files, for scanners and `kubectl apply
--dry-run`, read from the graph the offline runner records (the same inputs `pulumi up` sends).

    tools manifests --stack k8s-prod --out build/k8s-prod          write one file per object
    tools manifests --stack k8s-prod --out build/k8s-prod --check  and validate each (CRDs, Kubernetes schemas)

Helm releases and the provider are not objects of the cluster's API: they are left out. Secret values are never
written: each becomes a placeholder, so the files are safe to hand to any scanner."""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml

from tools.records import Plan, ResourceRecord
from tools.stack_args import add_stack_argument, for_each_stack

PLACEHOLDER = "[secret: not exported]"
NOT_OBJECTS = ("kubernetes:helm.sh/", "pulumi:providers:")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_stack_argument(parser)
    parser.add_argument("--out", required=True, type=Path, help="directory to write <stack>/<kind>-<name>.yaml to")
    parser.add_argument("--check", action="store_true", help="validate every object; exit 1 if any is invalid")
    parser.add_argument("--json", action="store_true", help="print what was written (and problems) as JSON")


def _masked(value: Any, path: str, secret_paths: list[str]) -> Any:
    if any(path == s or path.startswith((f"{s}.", f"{s}[")) for s in secret_paths):
        # A secret map keeps its keys, so the object keeps its shape (a Secret's stringData stays a map).
        return {k: PLACEHOLDER for k in value} if isinstance(value, dict) else PLACEHOLDER
    if isinstance(value, dict):
        return {k: _masked(v, f"{path}.{k}" if path else k, secret_paths) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v, f"{path}[{i}]", secret_paths) for i, v in enumerate(value)]
    return value


def kubernetes_objects(plan: Plan) -> list[tuple[ResourceRecord, dict[str, Any]]]:
    """(record, object) for every Kubernetes API object of the plan, secrets masked."""
    return [
        (record, _masked(dict(record.inputs), "", record.secret_paths))
        for record in plan.resources
        if record.custom and record.type.startswith("kubernetes:") and not record.type.startswith(NOT_OBJECTS)
    ]


def file_name(obj: dict[str, Any]) -> str:
    metadata = obj.get("metadata") or {}
    namespace = metadata.get("namespace")
    name = "-".join(p for p in (obj.get("kind", "object").lower(), namespace, metadata.get("name")) if p)
    return re.sub(r"[^A-Za-z0-9._-]", "_", name) + ".yaml"


def main(args: argparse.Namespace) -> int:
    from tools import k8s_schemas
    from tools.runner import run_stack

    report: dict[str, Any] = {}
    failed = False

    def export(source) -> None:
        nonlocal failed
        objects = kubernetes_objects(run_stack(source.name))
        folder = args.out / source.name
        folder.mkdir(parents=True, exist_ok=True)
        written, problems = [], {}
        for _, obj in objects:
            path = folder / file_name(obj)
            path.write_text(yaml.safe_dump(obj, sort_keys=False))
            written.append(str(path))
            if args.check and (found := k8s_schemas.validate(obj)):
                problems[path.name] = found
        failed = failed or bool(problems)
        report[source.name] = {"written": written, "problems": problems}
        if not args.json:
            print(f"stack {source.name}: {len(written)} object(s) written to {folder}")
            for name, found in problems.items():
                for problem in found:
                    print(f"  {name}: {problem}")
            if args.check and not problems:
                crds, version = k8s_schemas.CRD_DIR, k8s_schemas.KUBERNETES_VERSION
                print(f"  every object is valid (CRDs in {crds}, Kubernetes {version})")

    status = for_each_stack("manifests", args.stack, export)
    if args.json:
        json.dump(report, sys.stdout, indent=1)
        print()
    return status or (1 if failed else 0)
