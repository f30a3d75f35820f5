"""`tools plan --stack prod`: the offline preview plus the policy gate.

Runs the real program for the stack under the mock runtime (tools.runner), starts the real policy pack and
asks it over the analyzer protocol what `pulumi preview --policy-pack policy --policy-pack-config
policy/config/<profile>.json` would report, then prints the resource tree and the report. Exit status 1 on any
mandatory violation (what makes `pulumi up` refuse), 2 when the stack's configuration is rejected before any
resource exists.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from tools.analyzer import PACK_DIR, Analysis, Diagnostic, PolicyAnalyzer, load_pack_config
from tools.records import Plan, ResourceRecord
from tools.stack_args import add_stack_argument

LEVEL_ORDER = {"mandatory": 0, "remediate": 1, "advisory": 2, "disabled": 3}
FORMATS = ("text", "json", "markdown")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_stack_argument(parser, repeatable=False)
    parser.add_argument("--format", choices=FORMATS, default="text")
    parser.add_argument("--output", metavar="FILE", help="write the report here instead of stdout")
    parser.add_argument("--json", metavar="FILE", help="also save the plan and report as JSON (for `tools diff`)")
    parser.add_argument(
        "--pack-config", metavar="FILE", help="policy pack config (default: policy/config/<profile>.json)"
    )
    parser.add_argument("--pack-dir", metavar="DIR", default=str(PACK_DIR), help="policy pack directory")


# --- running -------------------------------------------------------------------------------------------------


def profile_of(stack_config: dict[str, str], stack: str) -> str:
    """The profile the stack's stage inherits (pg-platform:profile, else the stage's name): it picks the pack
    config, so a staging stage inheriting prod is gated as prod is."""
    from stacks.files import namespace_values
    from stacks.profiles import inherited_profile

    values = namespace_values(stack_config)
    return inherited_profile(values.get("stage", stack), values.get("profile")) or stack


def default_pack_config(stack_config: dict[str, str], stack: str, pack_dir: Path = PACK_DIR) -> Path:
    return Path(pack_dir) / "config" / f"{profile_of(stack_config, stack)}.json"


def evaluate(plan: Plan, analyzer: PolicyAnalyzer, pack_config: dict[str, Any]) -> Analysis:
    return analyzer.analyze_plan(plan, pack_config)


def run(
    stack: str,
    *,
    overrides: dict[str, Any] | None = None,
    mutate=None,
    pack_config: str | Path | None = None,
    pack_dir: Path = PACK_DIR,
) -> tuple[Plan, Analysis, dict[str, Any]]:
    """Program, then pack. Returns the plan, the analysis and timings in seconds."""
    from stacks.files import engine_config
    from tools.runner import run_stack

    started = time.perf_counter()
    plan = run_stack(stack, overrides=overrides, mutate=mutate)
    program_done = time.perf_counter()
    config = engine_config(stack, overrides=overrides)
    config_path = Path(pack_config) if pack_config else default_pack_config(config, stack, pack_dir)
    with PolicyAnalyzer(pack_dir, project=plan.project, stack=stack, stack_config=config) as analyzer:
        analysis = analyzer.analyze_plan(plan, load_pack_config(config_path))
    finished = time.perf_counter()
    timings = {
        "program": program_done - started,
        "policy": finished - program_done,
        "total": finished - started,
        "pack_config": str(config_path),
    }
    return plan, analysis, timings


# --- rendering -----------------------------------------------------------------------------------------------


def short_urn(urn: str) -> str:
    parts = urn.split("::")
    return f"{parts[-2].split('$')[-1]}::{parts[-1]}" if len(parts) >= 2 else (urn or "(stack)")


def _sorted(diags: list[Diagnostic]) -> list[Diagnostic]:
    return sorted(diags, key=lambda d: (LEVEL_ORDER.get(d.level, 9), d.policy, d.urn, d.detail))


def tree_lines(plan: Plan, analysis: Analysis | None = None) -> list[str]:
    urns = {r.urn for r in plan.resources}
    children: dict[str | None, list[ResourceRecord]] = defaultdict(list)
    for r in plan.resources:
        children[r.parent if r.parent in urns else None].append(r)
    findings: dict[str, Counter] = defaultdict(Counter)
    for d in analysis.diagnostics if analysis else []:
        findings[d.urn][d.level] += 1
    lines = [f"pulumi:pulumi:Stack  {plan.project}-{plan.stack}  ({len(plan.resources)} resources)"]

    def walk(parent: str | None, depth: int) -> None:
        for r in children.get(parent, []):
            marks = " [protect]" if r.protect else ""
            marks += "".join(f" [{n} {lvl}]" for lvl, n in sorted(findings[r.urn].items()))
            lines.append(f"{'    ' * depth}+ {r.type}  {r.name}{marks}")
            walk(r.urn, depth + 1)

    walk(None, 1)
    return lines


def summary(analysis: Analysis) -> dict[str, int]:
    counts = Counter(d.level for d in analysis.diagnostics)
    return {lvl: counts.get(lvl, 0) for lvl in ("mandatory", "advisory", "remediate")}


def render_text(plan: Plan, analysis: Analysis, timings: dict[str, Any]) -> str:
    out = tree_lines(plan, analysis)
    out += [
        "",
        f"Policy pack {analysis.pack}@{analysis.version} ({len(analysis.policies)} rules, config "
        f"{timings.get('pack_config', '?')}):",
    ]
    if not analysis.diagnostics:
        out.append("    no violations")
    for d in _sorted(analysis.diagnostics):
        meta = analysis.policies.get(d.policy)
        out.append(f"    [{d.level}] {d.policy} {meta.title if meta else ''} ({d.severity or '-'})")
        out.append(f"        resource:    {short_urn(d.urn)}")
        out.append(f"        finding:     {d.detail}")
        if meta and meta.remediation:
            out.append(f"        remediation: {meta.remediation}")
    s = summary(analysis)
    out += [
        "",
        f"{len(plan.resources)} resources; {s['mandatory']} mandatory, {s['advisory']} advisory "
        f"violation(s); program {timings['program']:.2f} s, policy {timings['policy']:.2f} s, "
        f"total {timings['total']:.2f} s",
    ]
    return "\n".join(out) + "\n"


def _md(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_markdown(plan: Plan, analysis: Analysis, timings: dict[str, Any]) -> str:
    s = summary(analysis)
    verdict = "blocked" if s["mandatory"] else "passes"
    icon = ":x:" if s["mandatory"] else ":white_check_mark:"
    out = [
        f"### {icon} pg-platform plan `{plan.stack}`: policy gate {verdict}",
        "",
        f"{len(plan.resources)} resources · {s['mandatory']} mandatory · {s['advisory']} advisory · "
        f"pack `{analysis.pack}@{analysis.version}` ({len(analysis.policies)} rules) · "
        f"{timings['total']:.1f} s",
        "",
    ]
    if analysis.diagnostics:
        out += ["| level | rule | resource | finding | remediation |", "|---|---|---|---|---|"]
        for d in _sorted(analysis.diagnostics):
            meta = analysis.policies.get(d.policy)
            out.append(
                f"| {d.level} | `{d.policy}` {_md(meta.title if meta else '')} | `{_md(short_urn(d.urn))}` | "
                f"{_md(d.detail)} | {_md(meta.remediation if meta else '')} |"
            )
        out.append("")
    counts = Counter(r.type for r in plan.resources)
    out += [
        "<details><summary>resource tree</summary>",
        "",
        "```",
        *tree_lines(plan, analysis),
        "```",
        "",
        "| count | type |",
        "|---:|---|",
        *[f"| {n} | `{t}` |" for t, n in sorted(counts.items())],
        "",
        "</details>",
        "",
    ]
    return "\n".join(out)


# Outputs the providers mark secret although the program never passed them as secrets (the mock runtime does
# not know that); saved plans end up in CI artifacts, so these are redacted too.
PROVIDER_SECRET_OUTPUTS = (
    "result",
    "bcryptHash",
    "privateKeyPem",
    "privateKeyOpenssh",
    "privateKeyPemPkcs8",
    "secretString",
    "secretBinary",
)


def _redact_at(tree: Any, path: str) -> None:
    from tools.analyzer import _path

    keys = _path(path)
    parent = tree
    try:
        for k in keys[:-1]:
            parent = parent[k]
        value = parent[keys[-1]]
    except (KeyError, IndexError, TypeError):
        return
    digest = hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:16]
    parent[keys[-1]] = f"[secret sha256:{digest}]"


def redacted(plan: Plan) -> dict[str, Any]:
    """The plan as JSON with secret values replaced by a digest: a diff still sees that a secret changed,
    nobody sees the value."""
    doc = plan.to_json()
    for r in doc["resources"]:
        for path in r["secret_paths"]:
            _redact_at(r["inputs"], path)
            _redact_at(r["outputs"], path)
        for key in PROVIDER_SECRET_OUTPUTS:
            if key in r["outputs"]:
                _redact_at(r["outputs"], key)
    return doc


def to_document(plan: Plan, analysis: Analysis, timings: dict[str, Any]) -> dict[str, Any]:
    return {
        "stack": plan.stack,
        "summary": summary(analysis),
        "timings": timings,
        "plan": redacted(plan),
        "policy": analysis.to_json(),
    }


def load_document(path: str | Path) -> dict[str, Any]:
    """A saved `plan --format json` document, or a bare recorded plan (tools run --json)."""
    doc = json.loads(Path(path).read_text())
    if "plan" not in doc:
        doc = {"stack": doc.get("stack"), "plan": doc, "policy": None}
    return doc


def rejected(error: Exception) -> str:
    """How a tool reports a user's mistake that stopped the run."""
    from stacks.errors import SettingsError, StackFileError

    if isinstance(error, (SettingsError, StackFileError)):
        return f"configuration rejected before any resource exists:\n{error}"
    return str(error)


def main(args: argparse.Namespace) -> int:
    from tools.stack_args import for_each_stack

    runs = []
    status = for_each_stack(
        "plan",
        [args.stack],
        lambda source: runs.append(
            (source.name, *run(source.name, pack_config=args.pack_config, pack_dir=Path(args.pack_dir)))
        ),
        describe=rejected,
    )
    if status:
        return status
    ((stack, plan, analysis, timings),) = runs
    rendered = {
        "text": render_text,
        "markdown": render_markdown,
        "json": lambda p, a, t: json.dumps(to_document(p, a, t), indent=1, sort_keys=True) + "\n",
    }
    text = rendered[args.format](plan, analysis, timings)
    if args.output:
        Path(args.output).write_text(text)
    else:
        sys.stdout.write(text)
    if args.json:
        Path(args.json).write_text(json.dumps(to_document(plan, analysis, timings), indent=1, sort_keys=True) + "\n")
    s = summary(analysis)
    print(
        f"plan {stack}: {len(plan.resources)} resources, {s['mandatory']} mandatory / {s['advisory']} "
        f"advisory violation(s) in {timings['total']:.2f} s (program {timings['program']:.2f} s, policy "
        f"{timings['policy']:.2f} s)",
        file=sys.stderr,
    )
    return 1 if s["mandatory"] else 0
