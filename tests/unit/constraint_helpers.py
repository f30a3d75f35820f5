"""What the constraint tests of every cloud share: one recorded resource, and what the registry finds in it."""

from __future__ import annotations

from tools.constraints import registry
from tools.constraints.core import Violation
from tools.records import ResourceRecord


def record(type_token: str, inputs: dict, name: str = "r", outputs: dict | None = None) -> ResourceRecord:
    return ResourceRecord(
        urn=f"urn:pulumi:test::pg-platform::{type_token}::{name}",
        type=type_token,
        name=name,
        custom=True,
        parent=None,
        inputs=inputs,
        secret_paths=[],
        dependencies=[],
        property_dependencies={},
        provider=None,
        protect=False,
        outputs=outputs or {},
    )


def violations(type_token: str, inputs: dict, outputs: dict | None = None) -> list[Violation]:
    """The violations of one resource of a type the registry maps (an unmapped type fails the test)."""
    found, unmapped = registry().check([record(type_token, inputs, outputs=outputs)])
    assert not unmapped
    return found
