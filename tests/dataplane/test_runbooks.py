"""Every alert links to a runbook section that exists and says what the rule says."""

import re
from pathlib import Path, PurePosixPath

from dataplane_support import cloud_spec

from dataplane.boot.units import system_units
from dataplane.operations import PATRONICTL_COMMAND, operation_scripts
from dataplane.prometheus import alert_rules
from dataplane.runbooks import render_runbooks

ROOT = Path(__file__).resolve().parents[2]


def prod_spec():
    return cloud_spec("prod")


def test_runbooks_doc_is_current():
    assert (ROOT / "docs" / "runbooks.md").read_text() == render_runbooks(prod_spec().scope, prod_spec().topology), (
        "docs/runbooks.md is stale: run .venv/bin/python -m dataplane.runbooks > docs/runbooks.md"
    )


def test_every_runbook_url_has_its_section():
    text = (ROOT / "docs" / "runbooks.md").read_text()
    anchors = {h.strip().lower() for h in re.findall(r"^## (.+)$", text, re.M)}
    for group in alert_rules(prod_spec())["groups"]:
        for rule in group["rules"]:
            path, _, anchor = rule["annotations"]["runbook_url"].partition("#")
            assert path == "docs/runbooks.md" and anchor in anchors


def test_runbooks_name_units_that_exist():
    spec = prod_spec()
    units = {u.removesuffix(".service") for u in system_units(spec, spec.members[0])}
    text = (ROOT / "docs" / "runbooks.md").read_text()
    for command in re.findall(r"(?:systemctl status|journalctl -u) ([\w -]+?)(?:;|$)", text, re.M):
        for unit in command.split():
            assert unit in units, f"runbook names unit {unit}, the nodes run {sorted(units)}"


def test_runbooks_run_patronictl_through_the_nodes_wrapper():
    """Bare patronictl on a node stops at KeyError: 'password' (the passwords are the unit's environment): every
    step names the wrapper, and the wrapper is a file every member gets."""
    spec = prod_spec()
    name = PurePosixPath(PATRONICTL_COMMAND).name
    assert all(PATRONICTL_COMMAND in operation_scripts(spec, m) for m in spec.members)
    text = (ROOT / "docs" / "runbooks.md").read_text()
    assert f"`sudo {name} list`" in text
    steps = re.findall(r"^- what to do: (.+)$", text, re.M)
    assert any(name in step for step in steps)
    for step in steps:
        assert not re.search(r"(?<![\w-])patronictl\b", step), step
