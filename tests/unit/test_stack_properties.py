"""Property: whatever a stack file holds, reading it (and deriving its topology) either succeeds or raises a
UserError whose message names a `pg-platform:` or `aws:` key, never any other exception.

Two generators: arbitrary YAML-ish values put in place of (or beside) any value of the real stack files, and
character-level edits of the real files' config lines. Bounded and without deadlines so the suite stays fast.
"""

from __future__ import annotations

import os
import re
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stacks.errors import UserError
from stacks.files import ROOT, stack_file
from stacks.offline import settings_for_stack
from stacks.topology import derive_topology

KEY = re.compile(r"(?<![A-Za-z0-9_.-])(?:pg-platform|aws):\S")
STACKS = ("dev", "prod")
TEXTS = {s: stack_file(s, ROOT).read_text() for s in STACKS}
CONFIGS = {s: yaml.safe_load(TEXTS[s])["config"] for s in STACKS}
# A fixed, bounded run in the suite (a few seconds); PGP_PROPERTY_EXAMPLES=5000 explores with fresh randomness.
EXPLORE = int(os.environ.get("PGP_PROPERTY_EXAMPLES", "0"))
PROPERTY = settings(
    max_examples=EXPLORE or 120,
    deadline=None,
    derandomize=not EXPLORE,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

# Values that sit on the edges of what the settings accept.
EDGES = [
    "0.0.0.0/0",
    "0.0.0.0/00",
    "::0/0",
    "0.0.0.0/1",
    "10.40.0.0/16",
    "10.50.0.0/16",
    "eu-central-1a",
    "eu-west-1a",
    "eu-central-1",
    "us-west-2-lax-1a",
    "sg-0a1b2c3d4e5f60718",
    "vpc-0f1e2d3c4b5a69788",
    "app-prod",
    "https://hooks.example.com/x",
    "http://x",
    "smtp.example.com:587",
    "a@b.co",
    "9" * 5000,
    "²",
    " padded ",
    "2024-13-45",
    "prod",
    "dev",
    "aws",
    "gp3",
    "r7i.xlarge",
    "",
    "\t",
    "secure",
    {"secure": "v1:YWJj"},
    {"peer": "app-prod", "id": "sg-0a1b2c3d4e5f60718"},
    10**40,
    -1,
    0,
    3,
    35,
    2**63,
]
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(10**30), 10**30)
    | st.floats(allow_nan=True)
    | st.text(max_size=12)
    | st.sampled_from(EDGES)
)
KEYS = st.sampled_from(
    [
        "name",
        "cidr",
        "zones",
        "id",
        "peer",
        "secure",
        "receivers",
        "nodes",
        "accepted",
        "cidrs",
        "security_groups",
        "peers",
        "webhook_url",
        "email",
    ]
) | st.text(max_size=8)
values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4), max_leaves=12
)


def paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for k, v in value.items():
            out += paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += paths(v, (*prefix, i))
    return out


PATHS = {s: paths(CONFIGS[s]) for s in STACKS}


def names_a_key(message: str, content: str) -> bool:
    if KEY.search(message):
        return True
    # An edit that mangled a key itself (`aws:region` -> `ws:region`) is named as the file now spells it.
    spelled = set(re.findall(r"[A-Za-z0-9_-]+:[A-Za-z0-9_.:-]*[A-Za-z0-9_-]", content))
    return any(key in message for key in spelled)


def load(root, stack: str, content: str) -> None:
    (root / f"Pulumi.{stack}.yaml").write_text(content, encoding="utf-8")
    try:
        derive_topology(settings_for_stack(stack, root))
    except UserError as error:
        assert names_a_key(str(error), content), f"the error names no config key:\n{error}"


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("stacks")


@PROPERTY
@given(data=st.data())
def test_any_value_anywhere_is_accepted_or_named(root, data):
    import copy

    stack = data.draw(st.sampled_from(STACKS))
    config = copy.deepcopy(CONFIGS[stack])
    path = data.draw(st.sampled_from(PATHS[stack]))
    *parents, last = path
    target = config
    for part in parents:
        target = target[part]
    action = data.draw(st.sampled_from(["replace", "replace", "delete", "add"]))
    if action == "delete":
        del target[last]
    elif action == "add" and isinstance(target, dict):
        target[data.draw(KEYS)] = data.draw(values)
    elif action == "add":
        target.insert(last, data.draw(values))
    else:
        target[last] = data.draw(values)
    load(root, stack, yaml.safe_dump({"config": config}, sort_keys=False, allow_unicode=True, width=200))


YAML_CHARS = st.sampled_from([*":-[]{}&*!|>'\"%@`#,?~ \t\n\\", "\x07", "\ufeff", "é", "²", "  ", ": ", "- "])
edit_text = st.lists(YAML_CHARS | st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=4).map("".join)


@PROPERTY
@given(data=st.data())
def test_any_edit_of_a_config_line_is_accepted_or_named(root, data):
    stack = data.draw(st.sampled_from(STACKS))
    lines = TEXTS[stack].splitlines(keepends=True)
    first = next(i for i, line in enumerate(lines) if line.startswith("config:")) + 1
    index = data.draw(st.integers(first, len(lines) - 1))
    line = lines[index]
    start = data.draw(st.integers(0, len(line)))
    end = data.draw(st.integers(start, min(len(line), start + 4)))
    lines[index] = line[:start] + data.draw(st.just("") | edit_text) + line[end:]
    load(root, stack, "".join(lines))
