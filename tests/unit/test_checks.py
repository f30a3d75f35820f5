"""The pre-commit hooks and scripts/check.sh (the test command's first step) run the same checks."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def _check_sh_commands() -> set[str]:
    text = (ROOT / "scripts" / "check.sh").read_text()
    # `check "<label>" ... "$bin/<tool>" <subcommand>`: the tool and, for ruff, its subcommand.
    found = re.findall(r'^check "[^"]+" .*"\$bin/(\w+)"(?: (check|format))?', text, re.MULTILINE)
    return {" ".join(part for part in call if part) for call in found}


def _pre_commit_commands() -> set[str]:
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    commands = set()
    for repo in config["repos"]:
        for hook in repo["hooks"]:
            tool, *args = hook["entry"].split()
            name = tool.removeprefix(".venv/bin/")
            commands.add(f"{name} {args[0]}" if name == "ruff" else name)
    return commands


def test_pre_commit_runs_what_check_sh_runs():
    expected = {"ruff check", "ruff format", "mypy", "shellcheck"}
    assert _check_sh_commands() == expected
    assert _pre_commit_commands() == expected
