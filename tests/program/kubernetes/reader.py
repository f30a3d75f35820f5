"""How the contract suite reads a Kubernetes stack's graph: the host cloud's parts (the vault, its tags) through the
host's reader, the CloudNativePG objects by their labels. The checks that assume VMs say why they do not apply."""

from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass, field

from dataplane.model import ClusterSpec
from stacks.settings import Settings
from stacks.topology import Topology
from tools.records import Plan, ResourceRecord

CLUSTER = "kubernetes:postgresql.cnpg.io/v1:Cluster"


# The provider package of each host's resource types -> the host (its tests/program/<host>/reader.py).
HOST_PACKAGES = {"aws": "aws", "azure-native": "azure", "gcp": "gcp"}
# What of each host holds the backups or their keys: protected in prod, and only there.
HOST_STATEFUL_TYPES = {
    "aws": ("aws:s3/bucket:Bucket", "aws:kms/key:Key"),
    "azure": (
        "azure-native:resources:ResourceGroup",
        "azure-native:storage:StorageAccount",
        "azure-native:storage:BlobServiceProperties",
        "azure-native:storage:ManagementPolicy",
        "azure-native:storage:BlobContainer",
        "azure-native:storage:BlobContainerImmutabilityPolicy",
        "azure-native:keyvault:Vault",
        "azure-native:keyvault:Key",
    ),
    "gcp": ("gcp:storage/bucket:Bucket", "gcp:kms/keyRing:KeyRing", "gcp:kms/cryptoKey:CryptoKey"),
}
LOCK_CONFIG_MAP = "kubernetes:core/v1:ConfigMap"


def host_of(plan: Plan) -> str:
    """The cloud whose resources the graph holds besides Kubernetes' (the backup vault's)."""
    (package,) = {r.type.split(":", 1)[0] for r in plan.resources if r.custom} - {
        "kubernetes",
        "pulumi",
        "random",
        "tls",
    }
    return HOST_PACKAGES[package]


def host_reader(plan: Plan):
    return importlib.import_module(f"tests.program.{host_of(plan)}.reader").READER


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

    def configured_files(self, plan: Plan, member_name: str) -> dict[str, str]:
        raise NotImplementedError(self.not_applicable["node_files"])

    def boot_text(self, record: ResourceRecord) -> str | None:
        return None  # nothing boots from user data

    def for_plan(self, plan: Plan) -> KubernetesReader:
        """This reader with the stateful types of the plan's host added."""
        return dataclasses.replace(self, stateful_types=(*self.stateful_types, *HOST_STATEFUL_TYPES[host_of(plan)]))

    def vault_lock(self, plan: Plan) -> tuple[str, int]:
        if host_of(plan) != "gcp":
            return host_reader(plan).vault_lock(plan)  # the bucket's or container's own default retention
        # Cloud Storage: the lock script the CronJob runs (dataplane/cnpg_lock.py), as the VM members run it.
        from dataplane.cnpg_lock import LOCK_SCRIPT_KEY
        from tests.program.gcp.reader import script_lock

        scripts = [c.inputs["data"][LOCK_SCRIPT_KEY] for c in plan.by_type(LOCK_CONFIG_MAP)]
        assert len(scripts) <= 1, scripts
        return script_lock(plan, scripts[0] if scripts else None)

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
        package = HOST_PACKAGES[record.type.split(":", 1)[0]]
        return importlib.import_module(f"tests.program.{package}.reader").READER.tags_of(record)


READER = KubernetesReader()
