"""What the offline runner records per resource; the plan, policy and diff tools all read this shape."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class ResourceRecord:
    urn: str
    type: str  # type token, e.g. aws:s3/bucket:Bucket or pg-platform:aws:Network
    name: str
    custom: bool  # False for ComponentResources
    parent: str | None  # parent URN
    inputs: dict[str, Any]  # camelCase property names as the engine sees them; secrets unwrapped
    secret_paths: list[str]  # dotted paths of inputs that were Pulumi secrets
    dependencies: list[str]  # URNs
    property_dependencies: dict[str, list[str]]
    provider: str | None  # provider reference (URN::id) or None for the default provider
    protect: bool
    outputs: dict[str, Any] = field(default_factory=dict)
    id: str | None = None
    retain_on_delete: bool = False
    aliases: list[Any] = field(default_factory=list)  # URNs or alias specs this resource was known by
    ignore_changes: list[str] = field(default_factory=list)
    # Replaced by deleting first: Pulumi then deletes the dependents being replaced with it before it.
    delete_before_replace: bool = False

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_json(data: dict[str, Any]) -> ResourceRecord:
        return ResourceRecord(**data)


@dataclass
class Plan:
    project: str
    stack: str
    resources: list[ResourceRecord]
    outputs: dict[str, Any]

    def by_type(self, type_token: str) -> list[ResourceRecord]:
        return [r for r in self.resources if r.type == type_token]

    def to_json(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "stack": self.stack,
            "outputs": self.outputs,
            "resources": [r.to_json() for r in self.resources],
        }

    @staticmethod
    def from_json(data: dict[str, Any]) -> Plan:
        return Plan(
            data["project"],
            data["stack"],
            [ResourceRecord.from_json(r) for r in data["resources"]],
            data.get("outputs", {}),
        )
