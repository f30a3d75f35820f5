"""How the contract suite reads Azure's recorded graph."""

from __future__ import annotations

import base64
import gzip
from dataclasses import dataclass, field
from functools import cache

from dataplane.model import ClusterSpec
from stacks.settings import Settings
from stacks.topology import Topology
from tests.program.contract.readers import cloud_init_files
from tools.records import Plan, ResourceRecord

VM = "azure-native:compute:VirtualMachine"
NIC = "azure-native:network:NetworkInterface"
LB = "azure-native:network:LoadBalancer"
POLICY = "azure-native:storage:BlobContainerImmutabilityPolicy"
COMMAND = "command:local:Command"
LOCK_ACTION = "immutability-policy lock"


@cache
def azure_taggable() -> frozenset[str]:
    """The types whose ARM request body has `tags`, read from the same azure-mgmt models the constraint checks
    use (tools/constraints/azure.py), so a type that can carry tags is never left out."""
    from tools.constraints.azure import TYPES, model_class

    return frozenset(arm.token for arm in TYPES if "tags" in (getattr(model_class(arm.model), "_attribute_map", {})))


def nic_address(nic: ResourceRecord) -> str:
    (primary,) = [c for c in nic.inputs["ipConfigurations"] if c.get("primary")]
    return primary["privateIPAddress"]


@dataclass
class AzureReader:
    stateful_types: tuple[str, ...] = (
        "azure-native:resources:ResourceGroup",
        "azure-native:compute:Disk",
        "azure-native:compute:DiskEncryptionSet",
        "azure-native:storage:StorageAccount",
        "azure-native:storage:BlobServiceProperties",
        "azure-native:storage:ManagementPolicy",
        "azure-native:storage:BlobContainer",
        POLICY,
        "azure-native:keyvault:Vault",
        "azure-native:keyvault:Key",
        "azure-native:keyvault:Secret",
        "random:index/randomPassword:RandomPassword",
        "tls:index/selfSignedCert:SelfSignedCert",
    )
    # The members' addresses, by VM URN: a VM names its NIC by id, and the NIC holds the address.
    _addresses: dict[str, str] = field(default_factory=dict, repr=False)

    def members(self, plan: Plan) -> list[ResourceRecord]:
        nics = {n.outputs["id"]: n for n in plan.by_type(NIC)}
        found = [r for r in plan.by_type(VM) if r.inputs["tags"].get("role") == "postgres"]
        for vm in found:
            (interface,) = vm.inputs["networkProfile"]["networkInterfaces"]
            self._addresses[vm.urn] = nic_address(nics[interface["id"]])
        return found

    def zone_of(self, plan: Plan, member: ResourceRecord) -> str:
        (zone,) = member.inputs["zones"]
        return zone

    def address_of(self, member: ResourceRecord) -> str:
        return self._addresses[member.urn]

    def boot_text(self, record: ResourceRecord) -> str | None:
        if record.type != VM:
            return None
        data = record.inputs["osProfile"].get("customData")
        return gzip.decompress(base64.b64decode(data)).decode() if data else None

    def boot_files(self, member: ResourceRecord) -> dict[str, str]:
        return cloud_init_files(self.boot_text(member) or "")

    def configured_files(self, plan: Plan, member_name: str) -> dict[str, str]:
        return {}  # no configure step yet: everything arrives with the boot

    def vault_lock(self, plan: Plan) -> tuple[str, int]:
        """A policy that the lock action locks is COMPLIANCE (nobody can shorten or remove it); an unlocked one can
        be deleted by an owner, as a GOVERNANCE lock can be bypassed."""
        policies = plan.by_type(POLICY)
        if not policies:
            return ("", 0)
        (policy,) = policies
        locked = any(LOCK_ACTION in str(c.inputs.get("create")) for c in plan.by_type(COMMAND))
        return ("COMPLIANCE" if locked else "GOVERNANCE", int(policy.inputs["immutabilityPeriodSinceCreationInDays"]))

    def route_checks(self, plan: Plan) -> dict[int, tuple[int, str]]:
        (lb,) = plan.by_type(LB)
        probes = {p["name"]: p for p in lb.inputs["probes"]}
        checks = {}
        for rule in lb.inputs["loadBalancingRules"]:
            probe = probes[rule["probe"]["id"].rsplit("/", 1)[-1]]
            checks[int(rule["frontendPort"])] = (int(probe["port"]), probe["requestPath"])
        return checks

    def spec(self, plan: Plan, settings: Settings, topology: Topology) -> ClusterSpec:
        from components.azure.spec import azure_cluster_spec
        from tools.fakecloud.azure import FAKE_SUBSCRIPTION

        # The repository is names only (account and container): nothing is completed at deploy time.
        return azure_cluster_spec(settings, topology, FAKE_SUBSCRIPTION)

    def tags_of(self, record: ResourceRecord) -> dict[str, str] | None:
        return record.inputs.get("tags") if record.type in azure_taggable() else None


READER = AzureReader()
