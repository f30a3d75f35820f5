"""Node sizes the platform knows, so pools and memory parameters derive from the node, not guesses."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class NodeSize:
    vcpus: int
    memory_mib: int


# AWS instance types offered for database and monitoring nodes (x86_64, Nitro, EBS-optimised).
AWS_INSTANCE_SIZES: dict[str, NodeSize] = {
    "t3.medium": NodeSize(2, 4096),
    "t3.large": NodeSize(2, 8192),
    "m7i.large": NodeSize(2, 8192),
    "m7i.xlarge": NodeSize(4, 16384),
    "m7i.2xlarge": NodeSize(8, 32768),
    "r7i.large": NodeSize(2, 16384),
    "r7i.xlarge": NodeSize(4, 32768),
    "r7i.2xlarge": NodeSize(8, 65536),
    "r7i.4xlarge": NodeSize(16, 131072),
}

# What a sandbox node gets on a 2-core loopback machine: small enough for three nodes side by side.
SANDBOX_SIZE = NodeSize(vcpus=1, memory_mib=512)
