"""How the contract suite reads a Kubernetes stack's graph: the host cloud's parts (the vault, its tags) through the
host's reader, the CloudNativePG objects by their labels. The checks that assume VMs say why they do not apply."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field

from dataplane.model import ClusterSpec
from stacks.settings import Settings
from stacks.topology import Topology
from tools.records import Plan, ResourceRecord

CLUSTER = "kubernetes:postgresql.cnpg.io/v1:Cluster"


def host_reader(plan: Plan):
    """The reader of the cloud whose resources the graph holds besides Kubernetes' (the backup vault's)."""
    (host,) = {r.type.split(":", 1)[0] for r in plan.resources if r.custom} - {"kubernetes", "pulumi", "random", "tls"}
    return importlib.import_module(f"tests.program.{host}.reader").READER


NOT_APPLICABLE = {
    "members": "the members are pods the operator creates from the Cluster's `instances`; their count and zone "
    "spread are checked in tests/program/kubernetes/test_graph.py",
    "routes": "clients reach the primary through Services the operator re-points on promotion, not through "
    "load balancer health checks of Patroni",
    "node_files": "no VM boots: the parameters and pg_hba reach PostgreSQL through the Cluster spec, checked "
    "against dataplane's in tests/dataplane/test_cnpg.py",
}


@dataclass(frozen=True)
class KubernetesReader:
    stateful_types: tuple[str, ...] = (
        CLUSTER,
        "aws:s3/bucket:Bucket",
        "aws:kms/key:Key",
        "random:index/randomPassword:RandomPassword",
        "tls:index/selfSignedCert:SelfSignedCert",
    )
    not_applicable: dict[str, str] = field(default_factory=lambda: dict(NOT_APPLICABLE))

    def members(self, plan: Plan) -> list[ResourceRecord]:
        raise NotImplementedError(self.not_applicable["members"])

    def zone_of(self, plan: Plan, member: ResourceRecord) -> str:
        raise NotImplementedError(self.not_applicable["members"])

    def address_of(self, member: ResourceRecord) -> str:
        raise NotImplementedError(self.not_applicable["members"])

    def boot_files(self, member: ResourceRecord) -> dict[str, str]:
        raise NotImplementedError(self.not_applicable["node_files"])

    def boot_text(self, record: ResourceRecord) -> str | None:
        return None  # nothing boots from user data

    def vault_lock(self, plan: Plan) -> tuple[str, int]:
        return host_reader(plan).vault_lock(plan)

    def route_checks(self, plan: Plan) -> dict[int, tuple[int, str]]:
        raise NotImplementedError(self.not_applicable["routes"])

    def spec(self, plan: Plan, settings: Settings, topology: Topology) -> ClusterSpec:
        raise NotImplementedError(self.not_applicable["node_files"])

    def tags_of(self, record: ResourceRecord) -> dict[str, str] | None:
        if record.type.startswith("kubernetes:"):
            metadata = record.inputs.get("metadata")
            return metadata.get("labels") if isinstance(metadata, dict) else None
        if record.type.startswith(("random:", "tls:", "pulumi:")):
            return None
        return importlib.import_module("tests.program.aws.reader").READER.tags_of(record)


READER = KubernetesReader()
