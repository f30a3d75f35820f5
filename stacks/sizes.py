"""Node sizes, so pools and memory parameters derive from the node, not guesses. Each cloud tells the size of
its instance types (stacks/clouds/<cloud>.py `node_size`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class NodeSize:
    vcpus: int
    memory_mib: int


# What a sandbox node gets on a 2-core loopback machine: small enough for three nodes side by side.
SANDBOX_SIZE = NodeSize(vcpus=1, memory_mib=512)


def __getattr__(name: str) -> dict[str, NodeSize]:
    # The former closed list of AWS sizes, still named by tests/dataplane/test_renderers.py: now the sizes the
    # cloud derives for its reference types (stacks.clouds.aws.REFERENCE_TYPES).
    if name == "AWS_INSTANCE_SIZES":
        from stacks.clouds import aws

        return {t: aws.node_size(t) for t in aws.REFERENCE_TYPES}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
