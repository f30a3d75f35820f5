"""How the contract suite reads one cloud's recorded graph: the interface, and what readers share. A cloud adds
`tests/program/<cloud>/reader.py` with its `READER` and passes the same suite; nothing in test_contract.py names a
cloud's resource types."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import pytest
import yaml

from dataplane.model import ClusterSpec
from stacks.settings import TARGETS, Settings
from stacks.topology import Topology
from tools.records import Plan, ResourceRecord

ROOT = Path(__file__).resolve().parents[3]


class CloudReader(Protocol):
    # Types whose loss loses data or keys: protected in prod, and only there.
    stateful_types: tuple[str, ...]

    def members(self, plan: Plan) -> list[ResourceRecord]: ...
    def zone_of(self, plan: Plan, member: ResourceRecord) -> str: ...
    def address_of(self, member: ResourceRecord) -> str: ...
    def boot_files(self, member: ResourceRecord) -> dict[str, str]: ...
    # What a post-provision configure step writes on a member before anything reads it (none without one).
    def configured_files(self, plan: Plan, member_name: str) -> dict[str, str]: ...
    def boot_text(self, record: ResourceRecord) -> str | None: ...
    def vault_lock(self, plan: Plan) -> tuple[str, int]: ...
    def route_checks(self, plan: Plan) -> dict[int, tuple[int, str]]: ...
    def spec(self, plan: Plan, settings: Settings, topology: Topology) -> ClusterSpec: ...
    def tags_of(self, record: ResourceRecord) -> dict[str, str] | None: ...


def skip_unless_applies(reader: CloudReader, check: str) -> None:
    """A target without VMs (Kubernetes) names the checks that do not apply to it, with the reason."""
    reason = getattr(reader, "not_applicable", {}).get(check)
    if reason:
        pytest.skip(f"not applicable: {reason}")


def strings(value: object, path: str = "") -> Iterator[tuple[str, str]]:
    """Every string in a resource's inputs with its path, spelt as the runner spells secret paths (`a.b[0]`)."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from strings(v, f"{path}.{k}" if path else k)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from strings(v, f"{path}[{i}]")


def cloud_init_files(text: str) -> dict[str, str]:
    return {f["path"]: f["content"] for f in yaml.safe_load(text)["write_files"]}


def _readers() -> dict[str, CloudReader]:
    found = {}
    for cloud in TARGETS:
        try:
            module = importlib.import_module(f"tests.program.{cloud}.reader")
        except ModuleNotFoundError as missing:
            if missing.name not in (f"tests.program.{cloud}", f"tests.program.{cloud}.reader"):
                raise
            continue  # test_every_stack_has_a_cloud_reader fails for a stack of this cloud
        found[cloud] = module.READER
    return found


READERS: dict[str, CloudReader] = _readers()
