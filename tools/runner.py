"""The offline runner: runs the real `__main__.py` for a stack under the Pulumi SDK's mock runtime and
records every resource registration exactly as the engine would receive it.

The recording monitor sees what plain `Mocks.new_resource` does not: parent, dependencies, property
dependencies, provider, `protect`, and which inputs arrived as secrets. Tests, `tools run`, `tools plan`
and `tools diff` all use this one runner.
"""

from __future__ import annotations

import contextlib
import os
import runpy
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi
from google.protobuf import json_format
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.config import set_all_config
from pulumi.runtime.sync_await import _sync_await

from stacks.clouds import CLOUDS
from stacks.errors import UserError
from stacks.files import ROOT, stack_config
from tools.constraints import autoname_rule, naming, registry
from tools.constraints.core import Violation, format_violations
from tools.fakecloud import FakeCloud
from tools.protocol import OUTPUT_SIG, RESOURCE_SIG, SECRET_SIG, SIG_KEY, UNKNOWN
from tools.records import Plan, ResourceRecord


def _plain(value: Any, path: str, secrets: list[str]) -> Any:
    """Unwrap the engine's encoding into plain JSON, noting where secrets were."""
    if isinstance(value, dict):
        sig = value.get(SIG_KEY)
        if sig == SECRET_SIG:
            secrets.append(path)
            return _plain(value.get("value"), path, secrets)
        if sig == RESOURCE_SIG:
            return value.get("urn")
        if sig == OUTPUT_SIG:
            if value.get("secret"):
                secrets.append(path)
            return _plain(value.get("value", UNKNOWN), path, secrets)
        return {k: _plain(v, f"{path}.{k}" if path else k, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v, f"{path}[{i}]", secrets) for i, v in enumerate(value)]
    return value


REGION_KEYS = tuple(c.region_key for c in CLOUDS.values())


class RecordingMonitor(pulumi_mocks.MockMonitor):
    def __init__(self, mocks: FakeCloud, mutate: Callable[[ResourceRecord], None] | None = None):
        super().__init__(mocks)
        self.mocks: FakeCloud = mocks
        self.records: dict[str, ResourceRecord] = {}
        self.mutate = mutate

    def RegisterResource(self, request):
        urn, named = None, None
        if request.custom and request.type != "pulumi:pulumi:Stack":
            urn = self.make_urn(request.parent, request.type, request.name)
            named = self._autoname(request, urn)
        with self.mocks.registering(urn, named):
            response = super().RegisterResource(request)
        if request.type == "pulumi:pulumi:Stack":
            return response
        secrets: list[str] = []
        raw = json_format.MessageToDict(request.object, preserving_proto_field_name=True)
        inputs = _plain(raw, "", secrets)
        record = ResourceRecord(
            urn=response.urn,
            type=request.type,
            name=request.name,
            custom=bool(request.custom),
            parent=request.parent or None,
            inputs=inputs,
            secret_paths=sorted(set(secrets)),
            dependencies=list(request.dependencies),
            property_dependencies={k: list(v.urns) for k, v in request.propertyDependencies.items()},
            provider=request.provider or None,
            protect=bool(request.protect),
            id=response.id or None,
            outputs=_plain(json_format.MessageToDict(response.object), "", []) if request.custom else {},
            retain_on_delete=bool(request.retainOnDelete),
            ignore_changes=list(request.ignoreChanges),
            delete_before_replace=bool(request.deleteBeforeReplace),
            # As the engine receives them: URNs, or specs ({"spec": {"name"/"type"/"parentUrn": ...}}).
            aliases=[*request.aliasURNs, *(json_format.MessageToDict(a) for a in request.aliases)],
        )
        if self.mutate:
            self.mutate(record)
        self.records[response.urn] = record
        return response

    @staticmethod
    def _autoname(request, urn: str) -> naming.Named | None:
        """What the provider's Check adds before any API call: an auto-named property goes into the inputs the
        engine records (and so into the mock's outputs); a name Terraform picks at create from a prefix only into
        the outputs. A name the bridge refuses to make is recorded anyway, so check_constraints can report it."""
        rule = autoname_rule(request.type)
        if rule is None:
            return None
        named = naming.compute(rule, urn, _plain(json_format.MessageToDict(request.object), "", []))
        if named is not None and named.in_inputs:
            request.object.fields[named.property].string_value = named.value
        return named

    def RegisterResourceOutputs(self, request):
        record = self.records.get(request.urn)
        if record is not None:
            record.outputs = _plain(json_format.MessageToDict(request.outputs), "", [])
        return super().RegisterResourceOutputs(request)


@contextlib.contextmanager
def _program_dir(root: Path):
    cwd = os.getcwd()
    os.chdir(root)
    added = str(root) not in sys.path
    if added:
        sys.path.insert(0, str(root))
    try:
        yield
    finally:
        os.chdir(cwd)
        if added:
            sys.path.remove(str(root))


def _resolve(value: Any) -> Any:
    if isinstance(value, pulumi.Output):
        return _resolve(_sync_await(value.future()))
    if isinstance(value, dict):
        return {k: _resolve(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_resolve(v) for v in value]
    return value


class ConstraintError(UserError):
    """Values the cloud's API (or the provider, before any API call) would refuse: a real preview or update
    fails on them, so the offline run does too."""

    def __init__(self, stack: str, violations: list[Violation]):
        self.stack = stack
        self.violations = list(violations)
        # Each violation names its source (the cloud's API model or the provider's auto-naming), whatever the cloud.
        super().__init__(
            "the plan has values the cloud's API or its Pulumi provider would refuse (checked offline against "
            "their own models and auto-naming)\n" + format_violations(self.violations)
        )


def check_constraints(plan: Plan) -> list[Violation]:
    """Every value in the recorded plan the provider or the cloud's API would refuse: first the auto-names the
    bridge cannot make (its Check fails before any API call), then each mapped property against the limits of
    the API member it becomes (tools/constraints)."""
    found: list[Violation] = []
    for record in plan.resources:
        rule = autoname_rule(record.type) if record.custom else None
        value = record.inputs.get(rule.property) if rule else None
        if rule and rule.maxlen and isinstance(value, str):
            named = naming.compute(rule, record.urn, {k: v for k, v in record.inputs.items() if k != rule.property})
            if named is not None and named.failure and named.value == value:
                found.append(
                    Violation(
                        record.urn,
                        record.type,
                        record.name,
                        rule.property,
                        value,
                        f"max length {rule.maxlen}",
                        f"{rule.source}; the bridge's Check fails before any API call with "
                        f"\"could not make instance of '{record.type}': {named.failure}\"",
                    )
                )
    violations, _unmapped = registry().check(plan.resources)
    return found + violations


def run_stack(
    stack: str,
    overrides: dict[str, Any] | None = None,
    mutate: Callable[[ResourceRecord], None] | None = None,
    root: Path = ROOT,
    *,
    check: bool = True,
) -> Plan:
    """Run `__main__.py` with `Pulumi.<stack>.yaml` as config; `overrides` replaces config keys
    (namespaced, e.g. "pg-platform:cluster"), `mutate` may edit each record as it is registered.

    Afterwards every recorded resource is checked against what the provider and the cloud's API accept
    (check_constraints); a value they would refuse raises ConstraintError, as a real preview fails on it.
    `check=False` is for tests that plant such values on purpose and inspect the plan anyway."""
    # Offline, secure values get placeholders and their keys are secret, as the engine marks them.
    config, secret_keys = stack_config(stack, root, overrides)
    # The program itself reports a missing region; the fake cloud only needs one to shape its ids.
    region = next((config[k] for k in REGION_KEYS if config.get(k)), "region-not-set")
    monitor = RecordingMonitor(FakeCloud(config, region), mutate)
    pulumi_settings.ROOT.set(None)  # a fresh Stack per run, so runs in one process are independent
    pulumi_mocks.set_mocks(monitor.mocks, project="pg-platform", stack=stack, preview=False, monitor=monitor)
    set_all_config(config, secret_keys)
    pulumi_settings.SETTINGS.rpc_manager.clear()
    pulumi_settings.SETTINGS.outputs.clear()

    exported: dict[str, Any] = {}

    def program() -> None:
        with _program_dir(root):
            runpy.run_path(str(root / "__main__.py"), run_name="__main__")
        root_resource = pulumi_settings.get_root_resource()
        assert root_resource is not None, "the mock runtime registers the stack before the program runs"
        exported.update(getattr(root_resource, "outputs", {}))

    from pulumi.runtime.stack import run_pulumi_func

    _sync_await(run_pulumi_func(program))
    outputs = {k: _resolve(v) for k, v in exported.items()}
    plan = Plan(project="pg-platform", stack=stack, resources=list(monitor.records.values()), outputs=outputs)
    if check:
        violations = check_constraints(plan)
        if violations:
            raise ConstraintError(stack, violations)
    return plan


def resource_tree(plan: Plan) -> str:
    """The preview tree a person reads: children indented under their component."""
    children: dict[str | None, list[ResourceRecord]] = {}
    for record in plan.resources:
        children.setdefault(record.parent if record.parent in {r.urn for r in plan.resources} else None, []).append(
            record
        )
    lines = [f"pulumi:pulumi:Stack  {plan.project}-{plan.stack}  ({len(plan.resources)} resources)"]

    def walk(parent: str | None, depth: int) -> None:
        for record in children.get(parent, []):
            flags = " [protect]" if record.protect else ""
            flags += (
                " [secret: " + ", ".join(sorted({p.split(".")[0] for p in record.secret_paths})) + "]"
                if record.secret_paths
                else ""
            )
            lines.append(f"{'  ' * depth}+ {record.type}  {record.name}{flags}")
            walk(record.urn, depth + 1)

    walk(None, 1)
    return "\n".join(lines)
