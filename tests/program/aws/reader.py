"""How the contract suite reads AWS's recorded graph."""

from __future__ import annotations

import base64
import dataclasses
import gzip
from dataclasses import dataclass

from dataplane.model import ClusterSpec
from stacks.settings import Settings
from stacks.topology import Topology
from tests.program.contract.readers import ROOT, cloud_init_files
from tools.records import Plan, ResourceRecord


@dataclass(frozen=True)
class AwsReader:
    stateful_types: tuple[str, ...] = (
        "aws:ebs/volume:Volume",
        "aws:s3/bucket:Bucket",
        "aws:kms/key:Key",
        "aws:secretsmanager/secret:Secret",
        "aws:secretsmanager/secretVersion:SecretVersion",
        "random:index/randomPassword:RandomPassword",
        "tls:index/selfSignedCert:SelfSignedCert",
        # the bucket's settings: replacing one clears it
        "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration",
        "aws:s3/bucketVersioning:BucketVersioning",
        "aws:s3/bucketPolicy:BucketPolicy",
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
    )

    def members(self, plan: Plan) -> list[ResourceRecord]:
        return [r for r in plan.by_type("aws:ec2/instance:Instance") if r.inputs["tags"].get("role") == "postgres"]

    def zone_of(self, plan: Plan, member: ResourceRecord) -> str:
        (subnet,) = [s for s in plan.by_type("aws:ec2/subnet:Subnet") if s.id == member.inputs["subnetId"]]
        return subnet.inputs["availabilityZone"]

    def address_of(self, member: ResourceRecord) -> str:
        return member.inputs["privateIp"]

    def boot_text(self, record: ResourceRecord) -> str | None:
        data = record.inputs.get("userDataBase64")
        return gzip.decompress(base64.b64decode(data)).decode() if data else None

    def boot_files(self, member: ResourceRecord) -> dict[str, str]:
        return cloud_init_files(self.boot_text(member) or "")

    def configured_files(self, plan: Plan, member_name: str) -> dict[str, str]:
        """What the post-provision configure step writes on a member before the roles step runs (the roles
        SQL travels only this way: EC2's 16 KB of user data leave it out)."""
        from tests.program.aws.test_configure_step import bundles_of, configure_step

        bundle = bundles_of(configure_step(plan))[member_name]
        return {f["path"]: f["content"] for f in bundle["files"]}

    def vault_lock(self, plan: Plan) -> tuple[str, int]:
        (bucket,) = plan.by_type("aws:s3/bucket:Bucket")
        if not bucket.inputs.get("objectLockEnabled"):
            return ("", 0)
        (lock,) = plan.by_type("aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration")
        retention = lock.inputs["rule"]["defaultRetention"]
        return retention["mode"], retention["days"]

    def route_checks(self, plan: Plan) -> dict[int, tuple[int, str]]:
        groups = {g.outputs["arn"]: g for g in plan.by_type("aws:lb/targetGroup:TargetGroup")}
        checks = {}
        for listener in plan.by_type("aws:lb/listener:Listener"):
            group = groups[listener.inputs["defaultActions"][0]["targetGroupArn"]]
            check = group.inputs["healthCheck"]
            checks[listener.inputs["port"]] = (int(check["port"]), check["path"])
        return checks

    def spec(self, plan: Plan, settings: Settings, topology: Topology) -> ClusterSpec:
        from components.aws.spec import aws_cluster_spec
        from dataplane.boot.aws import AwsBoot
        from tools.fakecloud import FAKE_ACCOUNT

        # The vault's key exists only once the vault does, so the boot data completes the repository with it.
        (key,) = [k for k in plan.by_type("aws:kms/key:Key") if k.name.endswith("vault-key")]
        spec = aws_cluster_spec(settings, topology, FAKE_ACCOUNT)
        cloud = AwsBoot(region=settings.region, kms_key_id=key.outputs["arn"])
        return dataclasses.replace(spec, repositories=cloud.repositories(spec.repositories))

    def tags_of(self, record: ResourceRecord) -> dict[str, str] | None:
        return record.inputs.get("tags") if record.type in aws_taggable() else None


def aws_taggable() -> frozenset[str]:
    # Generated from pulumi-aws by the pack (policy/scripts/gen_aws_taggable.py): the provider's own list.
    (path,) = ROOT.glob("policy/pgp_policy/aws/*taggable.txt")  # each cloud keeps its own list
    text = path.read_text()
    return frozenset(line for line in text.splitlines() if line and not line.startswith("#"))


READER = AwsReader()
