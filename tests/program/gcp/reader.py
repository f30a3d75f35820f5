"""How the contract suite reads GCP's recorded graph."""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass

from dataplane.model import ClusterSpec
from stacks.settings import Settings
from stacks.topology import Topology
from tests.program.contract.readers import ROOT, cloud_init_files
from tools.records import Plan, ResourceRecord

INSTANCE = "gcp:compute/instance:Instance"
BUCKET = "gcp:storage/bucket:Bucket"


def script_lock(plan: Plan, script: str | None) -> tuple[str, int]:
    """The (mode, days) a rendered lock script gives the bucket's new objects; ("", 0) without one. The script
    must name the plan's bucket, which must allow object retention and keep versions."""
    from dataplane.boot.gcs_lock import GCS_MODES

    if script is None:
        return ("", 0)
    (bucket,) = plan.by_type(BUCKET)
    (line,) = [x for x in script.splitlines() if x.startswith("CONFIG = json.loads(")]
    config = json.loads(ast.literal_eval(line.removeprefix("CONFIG = json.loads(").removesuffix(")")))
    assert config["bucket"] == bucket.inputs["name"], config
    assert bucket.inputs["enableObjectRetention"] is True and bucket.inputs["versioning"]["enabled"] is True
    mode = {gcs: s3 for s3, gcs in GCS_MODES.items()}[config["mode"]]
    return (mode, config["lock_days"])


@dataclass(frozen=True)
class GcpReader:
    stateful_types: tuple[str, ...] = (
        "gcp:compute/disk:Disk",
        BUCKET,
        "gcp:kms/keyRing:KeyRing",
        "gcp:kms/cryptoKey:CryptoKey",
        "gcp:secretmanager/secret:Secret",
        "gcp:secretmanager/secretVersion:SecretVersion",
        "random:index/randomPassword:RandomPassword",
        "tls:index/selfSignedCert:SelfSignedCert",
    )

    def members(self, plan: Plan) -> list[ResourceRecord]:
        return [r for r in plan.by_type(INSTANCE) if r.inputs["labels"].get("role") == "postgres"]

    def zone_of(self, plan: Plan, member: ResourceRecord) -> str:
        # The instance's zone must be its subnet's region's, and the address inside the subnet of that zone.
        (subnet,) = [
            s
            for s in plan.by_type("gcp:compute/subnetwork:Subnetwork")
            if s.id == member.inputs["networkInterfaces"][0]["subnetwork"]
        ]
        assert member.inputs["zone"].startswith(subnet.inputs["region"] + "-")
        return member.inputs["zone"]

    def address_of(self, member: ResourceRecord) -> str:
        return member.inputs["networkInterfaces"][0]["networkIp"]

    def boot_text(self, record: ResourceRecord) -> str | None:
        if record.type != INSTANCE:
            return None
        return record.inputs.get("metadata", {}).get("user-data")

    def boot_files(self, member: ResourceRecord) -> dict[str, str]:
        return cloud_init_files(self.boot_text(member) or "")

    def configured_files(self, plan: Plan, member_name: str) -> dict[str, str]:
        """What the post-provision configure step writes on a member (the same files its boot wrote)."""
        from tests.program.contract.configure_step import bundles, configure_step

        return {f["path"]: f["content"] for f in bundles(configure_step(plan))[member_name]["files"]}

    def vault_lock(self, plan: Plan) -> tuple[str, int]:
        """What every member's lock timer sets on the bucket's new objects: Locked is COMPLIANCE (nobody can
        shorten or remove it), Unlocked GOVERNANCE. The bucket must allow object retention and keep versions."""
        from dataplane.boot.gcs_lock import LOCK_SCRIPT

        (lock,) = {script_lock(plan, self.boot_files(m).get(LOCK_SCRIPT)) for m in self.members(plan)}
        return lock  # every member locks alike

    def route_checks(self, plan: Plan) -> dict[int, tuple[int, str]]:
        backends = {b.id: b for b in plan.by_type("gcp:compute/regionBackendService:RegionBackendService")}
        checks = {c.id: c for c in plan.by_type("gcp:compute/regionHealthCheck:RegionHealthCheck")}
        routes = {}
        for rule in plan.by_type("gcp:compute/forwardingRule:ForwardingRule"):
            check = checks[backends[rule.inputs["backendService"]].inputs["healthChecks"]].inputs["httpsHealthCheck"]
            (port,) = rule.inputs["ports"]
            routes[int(port)] = (int(check["port"]), check["requestPath"])
        return routes

    def spec(self, plan: Plan, settings: Settings, topology: Topology) -> ClusterSpec:
        from components.gcp.spec import gcp_cluster_spec

        return gcp_cluster_spec(settings, topology, settings_project(plan))

    def tags_of(self, record: ResourceRecord) -> dict[str, str] | None:
        if record.type not in gcp_labelled():
            return None
        prop = "userLabels" if record.type.startswith("gcp:monitoring/") else "labels"
        return record.inputs.get(prop) or {}


def settings_project(plan: Plan) -> str:
    """The project the graph was built in, as its service accounts' emails name it."""
    (account, *_) = plan.by_type("gcp:serviceaccount/account:Account")
    return account.outputs["email"].split("@", 1)[1].removesuffix(".iam.gserviceaccount.com")


def gcp_labelled() -> frozenset[str]:
    # Generated from pulumi-gcp by the pack: the provider's own list of labelled types.
    (path,) = ROOT.glob("policy/pgp_policy/gcp/taggable.txt")
    text = path.read_text()
    return frozenset(line for line in text.splitlines() if line and not line.startswith("#"))


READER = GcpReader()
