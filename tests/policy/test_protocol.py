"""The wire signatures the runner decodes and the analyzer client encodes are the SDK's, defined once in
tools/protocol.py: a Pulumi release that changed them would otherwise make secrets arrive as plain maps and
unknowns as strings, silently."""

from __future__ import annotations

import ast
from pathlib import Path

from pulumi.runtime import rpc

from tools import protocol

ROOT = Path(__file__).resolve().parents[2]
NAMES = ("SIG_KEY", "SECRET_SIG", "RESOURCE_SIG", "OUTPUT_SIG", "UNKNOWN")
# Copies still to be replaced by an import (their files were being reworked when the constants moved); an entry
# whose copy is gone fails below, so this list can only shrink.
NOT_YET: set[str] = set()


def test_signatures_are_the_sdks():
    assert rpc._special_sig_key == protocol.SIG_KEY
    assert rpc._special_secret_sig == protocol.SECRET_SIG
    assert rpc._special_resource_sig == protocol.RESOURCE_SIG
    assert rpc._special_output_value_sig == protocol.OUTPUT_SIG
    assert protocol.UNKNOWN == rpc.UNKNOWN


def test_no_other_module_defines_them():
    values = {getattr(protocol, n) for n in NAMES}
    spelt: dict[str, int] = {}
    for folder in ("tools", "sandbox", "policy", "tests", "components", "stacks", "dataplane"):
        for path in (ROOT / folder).rglob("*.py"):
            if path == ROOT / "tools" / "protocol.py" or "venv" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Constant) and node.value in values:
                    spelt.setdefault(str(path.relative_to(ROOT)), node.lineno)
    assert set(spelt) == NOT_YET, f"import these from tools.protocol instead: {spelt}"
