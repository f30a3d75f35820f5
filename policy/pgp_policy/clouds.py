"""The clouds the pack knows, and the questions shared rules ask across them. A cloud is a subpackage with an
`adapter` module (its `ADAPTER`) and a `rules` module (its families): adding the folder adds the cloud, and the
shared rules stay as they are."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from .cloud import Cloud
from .nodes import NodeFiles

# In name order, so rule lists and docs keep one order whatever the file system lists first.
CLOUD_PACKAGES = tuple(
    sorted(
        m.name
        for m in pkgutil.iter_modules([str(Path(__file__).parent)])
        if m.ispkg and (Path(__file__).parent / m.name / "adapter.py").exists()
    )
)
CLOUDS: tuple[Cloud, ...] = tuple(
    importlib.import_module(f".{name}.adapter", __package__).ADAPTER for name in CLOUD_PACKAGES
)
NAMES = tuple(c.name for c in CLOUDS)
_BY_PACKAGE = {package: c for c in CLOUDS for package in c.packages}


def cloud_for(resource_type: str) -> Cloud | None:
    """The cloud whose provider package the type token names, if the pack knows it."""
    return _BY_PACKAGE.get(resource_type.split(":", 1)[0])


def is_machine(resource_type: str) -> bool:
    cloud = cloud_for(resource_type)
    return cloud is not None and resource_type in cloud.machine_types


def machines(resources: Iterable[Any]) -> Iterator[tuple[Cloud, Any]]:
    for r in resources:
        cloud = cloud_for(r.resource_type)
        if cloud is not None and is_machine(r.resource_type):
            yield cloud, r


def machine_nodes(resources: Iterable[Any]) -> Iterator[tuple[Cloud, Any, NodeFiles]]:
    """Every machine with the files its user data gives it."""
    for cloud, r in machines(resources):
        yield cloud, r, cloud.node(r.props)


def machine_node(resource_type: str, props: Any) -> NodeFiles | None:
    """The node files of one machine (a resource rule's subject); None when it is not a machine."""
    cloud = cloud_for(resource_type)
    return cloud.node(props) if cloud is not None and is_machine(resource_type) else None


def of_cloud_types(resources: Iterable[Any], cloud: Cloud, types: frozenset[str]) -> list[Any]:
    return [r for r in resources if r.resource_type in types and cloud_for(r.resource_type) is cloud]
