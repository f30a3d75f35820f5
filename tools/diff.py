"""`tools diff`: what a change does to a stack, resource by resource and property by property.

    tools diff --base base.json --head head.json      saved `tools plan --json` documents (e.g. the base
                                                       branch's and the pull request's plan of one stack)
    tools diff --stacks dev prod                      run both stacks now and compare them (stage drift)

Resources are matched by URN (with the stack name neutralised, so two stages line up). Inputs are compared
as recorded; secrets are never printed (the runner records which paths were secret). Whether an update
replaces a resource is decided by the provider's Diff during a real preview, which needs the provider plugin
and credentials: offline, a diff says "changed", never "replace". Compressed user data is unpacked so a
reviewer sees which node files change.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import difflib
import gzip
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools.records import Plan, ResourceRecord

MASK = "[secret]"
MAX_VALUE = 120
USER_DATA_KEYS = ("userData", "userDataBase64")
REPLACE_NOTE = (
    "Offline plans cannot tell an in-place update from a replacement: that is the provider's "
    "Diff in a real `pulumi preview`."
)


@dataclass
class PropertyChange:
    path: str
    kind: str  # added | removed | changed
    base: Any = None
    head: Any = None
    secret: bool = False


@dataclass
class ResourceChange:
    key: str
    type: str
    name: str
    kind: str  # added | removed | changed
    properties: list[PropertyChange] = field(default_factory=list)
    options: list[PropertyChange] = field(default_factory=list)
    files: list[str] = field(default_factory=list)  # unified diff of unpacked user data


@dataclass
class PolicyDelta:
    introduced: list[dict[str, str]]
    resolved: list[dict[str, str]]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--base", metavar="FILE", help="saved plan of the base (tools plan --json FILE)")
    src.add_argument(
        "--stacks",
        nargs=2,
        metavar=("BASE", "HEAD"),
        help="run two stacks (names or paths to Pulumi.<stack>.yaml) and compare them",
    )
    parser.add_argument("--head", metavar="FILE", help="saved plan of the head (with --base)")
    parser.add_argument("--format", choices=("text", "markdown", "json"), default="text")
    parser.add_argument("--output", metavar="FILE")


# --- comparison ------------------------------------------------------------------------------------------------


def resource_key(urn: str, stack: str) -> str:
    """Type chain and name of a URN, with the stack's name as a '-'-separated word of the resource name
    neutralised, so base and head of different stacks (dev vs prod) line up. Within one stack it is the
    URN without its stack and project."""
    parts = urn.split("::")
    if len(parts) < 4:
        return urn
    name = "-".join("<stack>" if word == stack else word for word in parts[-1].split("-"))
    return f"{parts[-2]}::{name}"


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        if not value and prefix:
            return {prefix: {}}
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    if isinstance(value, list):
        if not value and prefix:
            return {prefix: []}
        out = {}
        for i, v in enumerate(value):
            out.update(flatten(v, f"{prefix}[{i}]"))
        return out
    return {prefix: value}


def is_secret(path: str, secret_paths: list[str]) -> bool:
    return any(path == s or path.startswith(s + ".") or path.startswith(s + "[") for s in secret_paths)


def unpack_user_data(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    if value.lstrip().startswith("#"):
        return value
    try:
        raw = base64.b64decode(value, validate=True)
        return (gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw).decode()
    except (binascii.Error, ValueError, OSError, UnicodeDecodeError):
        return None


def _user_data_files(text: str) -> dict[str, str]:
    """write_files of a #cloud-config, for a readable per-file diff; the whole text otherwise."""
    import yaml

    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError:
        doc = None
    if not isinstance(doc, dict):
        return {"user-data": text}
    files = {"cloud-config": yaml.safe_dump({k: v for k, v in doc.items() if k != "write_files"}, sort_keys=True)}
    for entry in doc.get("write_files") or []:
        if isinstance(entry, dict) and entry.get("path"):
            content = entry.get("content") or ""
            if str(entry.get("encoding") or "").startswith(("b64", "base64", "gz")):
                content = unpack_user_data(content) or content
            files[str(entry["path"])] = str(content)
    return files


def user_data_diff(base: Any, head: Any, secret: bool) -> list[str]:
    if secret:
        return []
    a, b = unpack_user_data(base), unpack_user_data(head)
    if a is None and b is None:
        return []
    fa, fb = _user_data_files(a or ""), _user_data_files(b or "")
    lines: list[str] = []
    for path in sorted(set(fa) | set(fb)):
        if fa.get(path) == fb.get(path):
            continue
        lines += difflib.unified_diff(
            (fa.get(path) or "").splitlines(),
            (fb.get(path) or "").splitlines(),
            f"a{path}" if path.startswith("/") else f"a/{path}",
            f"b{path}" if path.startswith("/") else f"b/{path}",
            n=1,
            lineterm="",
        )
    return lines


def _neutral(value: Any, stack: str | None) -> Any:
    """A value with its stack's name as a separate word replaced, so across stages `pgp-dev-vault` equals
    `pgp-prod-vault` and only real differences remain."""
    if not stack or not isinstance(value, str):
        return value
    return re.sub(rf"(?<![A-Za-z0-9]){re.escape(stack)}(?![A-Za-z0-9])", "<stack>", value)


def compare_records(
    base: ResourceRecord | None, head: ResourceRecord | None, key: str, stacks: tuple[str, str] | None = None
) -> ResourceChange | None:
    ref = head or base
    assert ref is not None
    if base is None or head is None:
        change = ResourceChange(key, ref.type, ref.name, "added" if base is None else "removed")
        secrets = ref.secret_paths
        for path, value in sorted(flatten(ref.inputs).items()):
            secret = is_secret(path, secrets)
            change.properties.append(
                PropertyChange(
                    path, change.kind, None if base is None else value, value if base is None else None, secret
                )
            )
        return change
    change = ResourceChange(key, head.type, head.name, "changed")
    fb, fh = flatten(base.inputs), flatten(head.inputs)
    sb, sh = stacks or (None, None)
    secrets = sorted(set(base.secret_paths) | set(head.secret_paths))
    for path in sorted(set(fb) | set(fh)):
        if path in fb and path in fh and _neutral(fb[path], sb) == _neutral(fh[path], sh):
            continue
        kind = "added" if path not in fb else "removed" if path not in fh else "changed"
        secret = is_secret(path, secrets)
        change.properties.append(PropertyChange(path, kind, fb.get(path), fh.get(path), secret))
        if path in USER_DATA_KEYS:
            change.files += user_data_diff(fb.get(path), fh.get(path), secret)
    for option in ("protect", "provider"):
        a, b = getattr(base, option), getattr(head, option)
        if _neutral(a, sb) != _neutral(b, sh):
            change.options.append(PropertyChange(option, "changed", a, b))
    if (base.parent and resource_key(base.parent, sb or "")) != (head.parent and resource_key(head.parent, sh or "")):
        # A new parent is a new URN: without an alias the engine deletes and recreates the resource.
        change.options.append(PropertyChange("parent", "changed", base.parent, head.parent))
    return change if change.properties or change.options else None


def compare(base: Plan, head: Plan) -> list[ResourceChange]:
    b = {resource_key(r.urn, base.stack): r for r in base.resources}
    h = {resource_key(r.urn, head.stack): r for r in head.resources}
    order = [k for k in h] + [k for k in b if k not in h]
    stacks = (base.stack, head.stack) if base.stack != head.stack else None
    changes = [compare_records(b.get(k), h.get(k), k, stacks) for k in order]
    return [c for c in changes if c is not None]


def policy_delta(
    base_policy: dict | None, head_policy: dict | None, base_stack: str, head_stack: str
) -> PolicyDelta | None:
    if not base_policy or not head_policy:
        return None

    def keyed(policy: dict, stack: str) -> dict[tuple, dict[str, str]]:
        return {
            (
                d["policy"],
                resource_key(d["urn"], stack) if d["urn"] else "",
                d["detail"].replace(stack, "<stack>") if base_stack != head_stack else d["detail"],
            ): d
            for d in policy.get("diagnostics", [])
        }

    a, b = keyed(base_policy, base_stack), keyed(head_policy, head_stack)
    return PolicyDelta(introduced=[b[k] for k in b if k not in a], resolved=[a[k] for k in a if k not in b])


# --- rendering -----------------------------------------------------------------------------------------------


def show(value: Any, secret: bool, path: str = "") -> str:
    if secret:
        return MASK
    if value is None:
        return "-"
    if path in USER_DATA_KEYS and isinstance(value, str):
        text = unpack_user_data(value)
        return f"(user data, {len(text)} chars unpacked; per-file diff below)" if text else f"({len(value)} chars)"
    if isinstance(value, float) and value.is_integer():
        # Recorded inputs crossed a protobuf Struct, where every number is a double.
        value = int(value)
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return text if len(text) <= MAX_VALUE else text[: MAX_VALUE - 15] + f"... ({len(text)} chars)"


def counts(changes: list[ResourceChange]) -> dict[str, int]:
    return {k: sum(1 for c in changes if c.kind == k) for k in ("added", "removed", "changed")}


def render_text(title: str, changes: list[ResourceChange], delta: PolicyDelta | None) -> str:
    c = counts(changes)
    out = [f"{title}: {c['added']} to add, {c['changed']} to change, {c['removed']} to delete", REPLACE_NOTE, ""]
    sign = {"added": "+", "removed": "-", "changed": "~"}
    for ch in changes:
        out.append(f"{sign[ch.kind]} {ch.type}  {ch.name}")
        if ch.kind == "changed":
            for p in ch.options + ch.properties:
                out.append(
                    f"    {sign[p.kind]} {p.path}: {show(p.base, p.secret, p.path)} => {show(p.head, p.secret, p.path)}"
                )
            out += [f"      {line}" for line in ch.files]
    out += _policy_lines(delta, markdown=False)
    return "\n".join(out) + "\n"


def _md(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _policy_lines(delta: PolicyDelta | None, markdown: bool) -> list[str]:
    if delta is None:
        return []
    out = ["", "#### Policy findings" if markdown else "Policy findings:"]
    if not delta.introduced and not delta.resolved:
        out.append("no change in policy findings")
    for label, items in (("new", delta.introduced), ("resolved", delta.resolved)):
        for d in items:
            line = f"{label}: [{d['level']}] {d['policy']} {d['urn'].split('::')[-1] or '(stack)'}: {d['detail']}"
            out.append(f"- {_md(line)}" if markdown else f"    {line}")
    return out


def render_markdown(title: str, changes: list[ResourceChange], delta: PolicyDelta | None) -> str:
    c = counts(changes)
    out = [
        f"### {title}",
        "",
        f"**{c['added']}** to add · **{c['changed']}** to change · **{c['removed']}** to delete",
        "",
        f"> {REPLACE_NOTE}",
        "",
    ]
    if changes:
        out += ["| | type | name | properties |", "|---|---|---|---|"]
        sign = {"added": ":heavy_plus_sign:", "removed": ":heavy_minus_sign:", "changed": ":pencil2:"}
        for ch in changes:
            out.append(f"| {sign[ch.kind]} | `{ch.type}` | `{ch.name}` | {len(ch.properties) + len(ch.options)} |")
        for ch in [ch for ch in changes if ch.kind == "changed"]:
            out += [
                "",
                f"<details><summary>:pencil2: <code>{ch.name}</code> ({ch.type})</summary>",
                "",
                "| property | change | base | head |",
                "|---|---|---|---|",
            ]
            for p in ch.options + ch.properties:
                out.append(
                    f"| `{_md(p.path)}` | {p.kind} | `{_md(show(p.base, p.secret, p.path))}` | "
                    f"`{_md(show(p.head, p.secret, p.path))}` |"
                )
            if ch.files:
                out += ["", "```diff", *ch.files[:400], "```"]
            out += ["", "</details>"]
    out += _policy_lines(delta, markdown=True)
    return "\n".join(out) + "\n"


def to_json(changes: list[ResourceChange], delta: PolicyDelta | None) -> str:
    def prop(p: PropertyChange) -> dict[str, Any]:
        return {
            "path": p.path,
            "kind": p.kind,
            "secret": p.secret,
            "base": MASK if p.secret else p.base,
            "head": MASK if p.secret else p.head,
        }

    return (
        json.dumps(
            {
                "note": REPLACE_NOTE,
                "summary": counts(changes),
                "resources": [
                    {
                        "key": c.key,
                        "type": c.type,
                        "name": c.name,
                        "kind": c.kind,
                        "options": [prop(p) for p in c.options],
                        "properties": [prop(p) for p in c.properties],
                        "files": c.files,
                    }
                    for c in changes
                ],
                "policy": None if delta is None else {"introduced": delta.introduced, "resolved": delta.resolved},
            },
            indent=1,
        )
        + "\n"
    )


def main(args: argparse.Namespace) -> int:
    from tools.plan import load_document

    if args.stacks:
        from tools.plan import rejected, run, to_document
        from tools.stack_args import for_each_stack

        docs = []
        status = for_each_stack(
            "diff", args.stacks, lambda source: docs.append(to_document(*run(source.name))), describe=rejected
        )
        if status:
            return status
        base_doc, head_doc = docs
    else:
        if not args.head:
            print("--base needs --head", file=sys.stderr)
            return 2
        base_doc, head_doc = load_document(args.base), load_document(args.head)
    base, head = Plan.from_json(base_doc["plan"]), Plan.from_json(head_doc["plan"])
    changes = compare(base, head)
    delta = policy_delta(base_doc.get("policy"), head_doc.get("policy"), base.stack, head.stack)
    title = (
        f"pg-platform diff `{base.stack}` → `{head.stack}`"
        if base.stack != head.stack
        else f"pg-platform diff `{head.stack}`"
    )
    text = {
        "text": lambda: render_text(title, changes, delta),
        "markdown": lambda: render_markdown(title, changes, delta),
        "json": lambda: to_json(changes, delta),
    }[args.format]()
    if args.output:
        Path(args.output).write_text(text)
    else:
        sys.stdout.write(text)
    return 0
