"""The offline run refuses what the real AWS provider refuses: pulumi-aws auto-names resources as the bridge does
(and fails where the bridge's Check fails), and every recorded property is checked against the limits of the API
member it becomes, read from botocore's service models."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from stacks.errors import UserError
from tests.unit.constraint_helpers import violations
from tools.constraints import naming, registry
from tools.constraints.aws import AUTONAMING
from tools.records import ResourceRecord
from tools.runner import ConstraintError, check_constraints, run_stack

STACKS = ("dev", "prod")


@pytest.fixture(scope="module")
def plans():
    return {stack: run_stack(stack) for stack in STACKS}


def broken(type_token: str, path: str, inputs: dict) -> list[str]:
    return [f"{v.source}: {v.limit}" for v in violations(type_token, inputs) if v.path == path]


# --- (a) today's target-group name fails the offline plan ------------------------------------------------------


def write_program(root: Path, body: str, stack: str = "planted") -> str:
    (root / "__main__.py").write_text(textwrap.dedent(body))
    (root / f"Pulumi.{stack}.yaml").write_text("config:\n  aws:region: eu-central-1\n")
    return stack


def test_todays_target_group_name_fails_the_plan(tmp_path):
    stack = write_program(
        tmp_path,
        """
        import pulumi_aws as aws
        aws.lb.TargetGroup("pgp-prod-cluster-write-tg", port=5432, protocol="TCP", target_type="instance",
                           vpc_id="vpc-0a1b2c3d4e5f67890")
    """,
    )
    with pytest.raises(ConstraintError) as caught:
        run_stack(stack, root=tmp_path)
    error = caught.value
    assert isinstance(error, UserError)
    message = str(error)
    value = re.search(r"pgp-prod-cluster-write-tg-[0-9a-f]{7}\b", message).group(0)
    assert len(value) == 33
    assert "aws:lb/targetGroup:TargetGroup pgp-prod-cluster-write-tg" in message
    assert f"name = '{value}' (33 chars)" in message
    # Refused twice over: by the bridge's Check before any API call, and by the API's documented limit.
    assert (
        'pulumi-aws provider/aliases.go aws_lb_target_group: AutoName("name", 32, "-")' in message
        and "plus 7 random chars is longer than maximum length 32" in message
    )
    assert (
        'botocore elbv2 CreateTargetGroupInput.Name (documentation: "can have a maximum of 32 characters"): '
        "max length 32" in message
    )
    by_source = {v.source.split(" ")[0]: v for v in error.violations}
    assert {v.path for v in error.violations} == {"name"} and {v.value for v in error.violations} == {value}
    assert set(by_source) == {"pulumi-aws", "botocore"}


def test_the_renamed_target_groups_fit(tmp_path):
    stack = write_program(
        tmp_path,
        """
        import pulumi_aws as aws
        aws.lb.TargetGroup("pgp-staging-cluster-pool", port=6432, protocol="TCP", vpc_id="vpc-0a1b2c3d4e5f67890")
    """,
    )
    plan = run_stack(stack, root=tmp_path)
    (group,) = plan.resources
    assert re.fullmatch(r"pgp-staging-cluster-pool-[0-9a-f]{7}", group.inputs["name"])
    assert len(group.inputs["name"]) == 32
    assert group.outputs["name"] == group.inputs["name"]


def test_check_can_be_skipped_for_planted_values(tmp_path):
    stack = write_program(
        tmp_path,
        """
        import pulumi_aws as aws
        aws.lb.TargetGroup("pgp-prod-cluster-write-tg", port=5432, protocol="TCP", vpc_id="vpc-0a1b2c3d4e5f67890")
    """,
    )
    plan = run_stack(stack, root=tmp_path, check=False)
    assert len(check_constraints(plan)) == 2


# --- (b) coverage ----------------------------------------------------------------------------------------------


def test_every_custom_type_of_dev_and_prod_is_mapped(plans):
    types = {r.type for plan in plans.values() for r in plan.resources if r.custom}
    missing = sorted(t for t in types if registry().lookup(t) is None)
    assert not missing, f"no constraint mapping for {missing}: add them to tools/constraints/aws.py or local.py"
    local = {t for t in types if registry().lookup(t).no_cloud_api}
    assert local == {t for t in types if t.split(":")[0] in ("random", "tls", "command")}
    for t in local:
        assert (
            "no cloud API" in registry().lookup(t).no_cloud_api
            or "not a resource property" in registry().lookup(t).no_cloud_api
        )


def test_every_bound_property_is_a_real_input(plans):
    """A binding naming a property the provider does not have would never fire: check them against the SDK."""
    import importlib
    import inspect

    def camel(snake: str) -> str:
        head, *rest = snake.split("_")
        return head + "".join(p[:1].upper() + p[1:] for p in rest)

    for type_token in {r.type for plan in plans.values() for r in plan.resources if r.type.startswith("aws:")}:
        _, module, cls = type_token.split(":")
        resource = getattr(importlib.import_module("pulumi_aws." + module.split("/")[0]), cls)
        inputs = {camel(p) for p in inspect.signature(resource._internal_init).parameters}
        for binding in registry().lookup(type_token).bindings:
            top = binding.path.split(".")[0].removesuffix("[]")
            assert top in inputs, f"{type_token}: {binding.path} is not an input ({sorted(inputs)})"


# --- (c) each kind of constraint fails on a bad value ----------------------------------------------------------

TG = "aws:lb/targetGroup:TargetGroup"


def test_health_check_interval_out_of_range():
    assert broken(TG, "healthCheck.interval", {"healthCheck": {"interval": 4}}) == [
        "botocore elbv2 CreateTargetGroupInput.HealthCheckIntervalSeconds: between 5 and 300"
    ]
    assert broken(TG, "healthCheck.timeout", {"healthCheck": {"timeout": 121}}) == [
        "botocore elbv2 CreateTargetGroupInput.HealthCheckTimeoutSeconds: between 2 and 120"
    ]
    assert broken(TG, "healthCheck.unhealthyThreshold", {"healthCheck": {"unhealthyThreshold": 1}})
    assert not violations(
        TG,
        {
            "healthCheck": {"interval": 5, "timeout": 3, "healthyThreshold": 2, "unhealthyThreshold": 2},
            "name": "pgp-prod-cluster-rw-0a1b2c3",
        },
    )


def test_health_check_interval_through_the_runner():
    def slow_checks(r: ResourceRecord) -> None:
        if r.type == TG:
            r.inputs["healthCheck"]["interval"] = 301.0

    with pytest.raises(ConstraintError) as caught:
        run_stack("dev", mutate=slow_checks)
    assert {(v.path, v.value, v.limit) for v in caught.value.violations} == {
        ("healthCheck.interval", 301.0, "between 5 and 300")
    }


def test_bad_enums():
    assert broken("aws:ebs/volume:Volume", "type", {"type": "gp4"})[0].startswith(
        "botocore ec2 CreateVolumeRequest.VolumeType: one of standard, io1, io2, gp2"
    )
    assert broken("aws:ec2/instance:Instance", "instanceType", {"instanceType": "r7i.huge"})
    assert not broken("aws:ec2/instance:Instance", "instanceType", {"instanceType": "r7i.xlarge"})
    assert broken("aws:ec2/instance:Instance", "metadataOptions.httpTokens", {"metadataOptions": {"httpTokens": "on"}})
    assert broken("aws:ec2/instance:Instance", "rootBlockDevice.volumeType", {"rootBlockDevice": {"volumeType": "gp9"}})
    assert broken("aws:cloudwatch/logGroup:LogGroup", "retentionInDays", {"retentionInDays": 2})
    assert broken("aws:ec2/flowLog:FlowLog", "maxAggregationInterval", {"maxAggregationInterval": 120})


def test_ebs_limits_depend_on_the_volume_type():
    (found,) = broken("aws:ebs/volume:Volume", "iops", {"type": "gp3", "iops": 90000})
    assert found.startswith('botocore ec2 CreateVolumeRequest.Iops (documentation: "Valid ranges: gp3: 3,000')
    assert found.endswith(": between 3000 and 80000 when type is gp3")
    assert not broken("aws:ebs/volume:Volume", "iops", {"type": "io2", "iops": 90000})
    assert broken(
        "aws:ec2/instance:Instance",
        "rootBlockDevice.volumeSize",
        {"rootBlockDevice": {"volumeType": "st1", "volumeSize": 20}},
    )


def test_too_long_iam_role_name():
    assert broken("aws:iam/role:Role", "name", {"name": "r" * 65}) == [
        "botocore iam CreateRoleRequest.RoleName: length 1..64"
    ]
    assert broken("aws:iam/role:Role", "name", {"name": "has space"}) == [
        "botocore iam CreateRoleRequest.RoleName: pattern [\\w+=,.@-]+"
    ]
    assert broken("aws:iam/instanceProfile:InstanceProfile", "name", {"name": "p" * 129})


def test_too_long_auto_named_iam_role(tmp_path):
    """The bridge's maximum for roles is 64: a 57-character logical name leaves no room for the suffix."""
    stack = write_program(
        tmp_path,
        f"""
        import json
        import pulumi_aws as aws
        aws.iam.Role("{"r" * 57}", assume_role_policy=json.dumps({{"Version": "2012-10-17", "Statement": []}}))
    """,
    )
    with pytest.raises(ConstraintError) as caught:
        run_stack(stack, root=tmp_path)
    assert 'AutoName("name", 64, "-")' in str(caught.value)
    assert "botocore iam CreateRoleRequest.RoleName: length 1..64" in str(caught.value)


def test_bad_bucket_names():
    bucket = "aws:s3/bucket:Bucket"
    assert not broken(bucket, "bucket", {"bucket": "pgp-prod-backups-111122223333-eu-central-1"})
    assert [b.split(": ")[-1] for b in broken(bucket, "bucket", {"bucket": "PGP_Backups..x"})] == [
        "only lowercase letters, numbers, periods and hyphens",
        "no two adjacent periods",
    ]
    assert broken(bucket, "bucket", {"bucket": "192.168.5.4"})[0].endswith("not formatted as an IP address")
    assert broken(bucket, "bucket", {"bucket": "ab"})[0].endswith("length 3..63")
    assert broken(bucket, "bucket", {"bucket": "x" * 64})[0].startswith("Amazon S3 User Guide")
    assert broken(bucket, "bucket", {"bucket": "-pgp"})[0].endswith("begins and ends with a letter or number")


def test_bad_tags():
    role = "aws:iam/role:Role"
    assert broken(role, "tags.owner", {"tags": {"owner": "v" * 257}}) == [
        "botocore iam CreateRoleRequest.Tags[].Value: max length 256"
    ]
    assert broken(role, "tags.owner", {"tags": {"owner": "team#data"}}) == [
        "botocore iam CreateRoleRequest.Tags[].Value: pattern [\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*"
    ]
    assert not broken(role, "tags.owner", {"tags": {"owner": "Équipe Données 42"}})  # \p{L}, \p{Z}, \p{N}
    assert broken(role, "tags", {"tags": {f"k{i}": "v" for i in range(51)}}) == [
        "botocore iam CreateRoleRequest.Tags: at most 50 items"
    ]
    # EC2 documents 127 characters for keys, not 128, and reserves aws:.
    assert broken("aws:ec2/vpc:Vpc", f"tags.{'k' * 128} (key)", {"tags": {"k" * 128: "v"}}) == [
        'botocore ec2 Tag.Key (documentation: "accept a maximum of 127 Unicode characters"): max length 127'
    ]
    assert broken("aws:ec2/vpc:Vpc", "tags.aws:stage (key)", {"tags": {"aws:stage": "prod"}})
    assert broken("aws:cloudwatch/logGroup:LogGroup", "tags.stage", {"tags": {"stage": "prod!"}})


def test_names_and_descriptions():
    assert broken("aws:kms/alias:Alias", "name", {"name": "pgp-prod-vault"})[0].endswith("must begin with alias/")
    assert broken("aws:kms/alias:Alias", "name", {"name": "alias/aws/pgp"})[0].endswith("cannot begin with alias/aws/")
    assert broken("aws:secretsmanager/secret:Secret", "name", {"name": "pgp prod/superuser"})
    assert broken("aws:secretsmanager/secret:Secret", "recoveryWindowInDays", {"recoveryWindowInDays": 5})
    assert not broken("aws:secretsmanager/secret:Secret", "recoveryWindowInDays", {"recoveryWindowInDays": 0})
    assert broken("aws:cloudwatch/metricAlarm:MetricAlarm", "name", {"name": "a" * 256})
    assert broken("aws:cloudwatch/metricAlarm:MetricAlarm", "treatMissingData", {"treatMissingData": "zero"})
    assert broken("aws:cloudwatch/metricAlarm:MetricAlarm", "period", {"period": 90})[0].endswith(
        "10, 20, 30 or a multiple of 60"
    )
    assert not broken("aws:cloudwatch/metricAlarm:MetricAlarm", "period", {"period": 120.0})
    assert broken("aws:cloudwatch/logGroup:LogGroup", "name", {"name": "/pg platform/flow logs"})
    assert broken("aws:sns/topic:Topic", "name", {"name": "pgp.alarms"})
    assert not broken("aws:sns/topic:Topic", "name", {"name": "pgp-alarms.fifo"})
    rule = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
    assert broken(rule, "description", {"cidrIpv4": "10.0.0.0/8", "description": "clients from Zürich"})
    assert broken(rule, "description", {"cidrIpv4": "10.0.0.0/8", "description": "d" * 256})
    # The model allows & for CIDR rules but not for rules that reference a group.
    assert not broken(rule, "description", {"cidrIpv4": "10.0.0.0/8", "description": "read & write"})
    assert broken(
        rule, "description", {"referencedSecurityGroupId": "sg-0a1b2c3d4e5f60718", "description": "read & write"}
    )
    assert broken("aws:ec2/securityGroup:SecurityGroup", "name", {"name": "sg-nodes"})


def test_user_data_limit():
    import base64

    instance = "aws:ec2/instance:Instance"
    assert not broken(instance, "userDataBase64", {"userDataBase64": base64.b64encode(b"x" * 16384).decode()})
    assert broken(instance, "userDataBase64", {"userDataBase64": base64.b64encode(b"x" * 16385).decode()})[
        0
    ].startswith("Amazon EC2 User Guide")


def test_a_name_from_a_prefix_is_checked():
    secret = "aws:secretsmanager/secret:Secret"
    found = violations(secret, {"namePrefix": "pgp/" + "s" * 490}, {"name": "pgp/" + "s" * 490 + "2" * 26})
    assert [(v.path, v.limit) for v in found] == [("name", "length 1..512")]


# --- auto-naming as the bridge does it ----------------------------------------------------------------------


def test_auto_names_are_deterministic_and_shaped():
    rule = AUTONAMING[TG]
    urn = "urn:pulumi:prod::pg-platform::pg-platform:aws:PostgresCluster$aws:lb/targetGroup:TargetGroup::pgp-x-rw"
    first, again = naming.compute(rule, urn, {}), naming.compute(rule, urn, {})
    assert first == again and re.fullmatch(r"pgp-x-rw-[0-9a-f]{7}", first.value) and first.in_inputs
    assert naming.compute(rule, urn, {"name": "given"}) is None
    bucket = naming.compute(AUTONAMING["aws:s3/bucket:Bucket"], urn.replace("pgp-x-rw", "PGP-Backups"), {})
    assert re.fullmatch(r"pgp-backups-[0-9a-f]{7}", bucket.value)  # strings.ToLower
    alias = naming.compute(AUTONAMING["aws:kms/alias:Alias"], urn.replace("pgp-x-rw", "pgp-vault"), {})
    assert re.fullmatch(r"alias/pgp-vault-[0-9a-f]{7}", alias.value)  # PostTransform
    fifo = naming.compute(AUTONAMING["aws:sns/topic:Topic"], urn.replace("pgp-x-rw", "q"), {"fifoTopic": True})
    assert fifo.value.endswith(".fifo")
    prefixed = naming.compute(AUTONAMING["aws:secretsmanager/secret:Secret"], urn, {"namePrefix": "pgp/su-"})
    assert not prefixed.in_inputs and re.fullmatch(r"pgp/su-2026\d{14}[0-9a-f]{8}", prefixed.value)
    assert len(prefixed.value) == len("pgp/su-") + 26


def test_auto_names_appear_in_inputs_and_outputs(plans):
    for plan in plans.values():
        for r in plan.resources:
            rule = AUTONAMING.get(r.type)
            if rule is None:
                continue
            if rule.prefix_property and r.inputs.get(rule.prefix_property):
                assert rule.property not in r.inputs
                assert r.outputs[rule.property].startswith(r.inputs[rule.prefix_property])
                assert len(r.outputs[rule.property]) == len(r.inputs[rule.prefix_property]) + 26
            else:
                assert r.inputs[rule.property] == r.outputs[rule.property], r.urn
                if r.name in r.inputs[rule.property]:
                    assert re.fullmatch(
                        re.escape(r.name.lower() if rule.transform else r.name) + r"-[0-9a-f]{7}",
                        r.inputs[rule.property].removeprefix("alias/"),
                    )


# --- realistic identifiers from the fake cloud -------------------------------------------------------------

EC2_ID = {
    "aws:ec2/vpc:Vpc": "vpc",
    "aws:ec2/subnet:Subnet": "subnet",
    "aws:ec2/securityGroup:SecurityGroup": "sg",
    "aws:ec2/instance:Instance": "i",
    "aws:ec2/vpcEndpoint:VpcEndpoint": "vpce",
    "aws:ec2/vpcPeeringConnection:VpcPeeringConnection": "pcx",
    "aws:ec2/natGateway:NatGateway": "nat",
    "aws:ec2/internetGateway:InternetGateway": "igw",
    "aws:ec2/routeTable:RouteTable": "rtb",
    "aws:ec2/eip:Eip": "eipalloc",
    "aws:ebs/volume:Volume": "vol",
    "aws:ec2/flowLog:FlowLog": "fl",
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": "sgr",
}
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"


def test_fake_cloud_ids_have_aws_shapes(plans):
    plan = plans["prod"]
    seen = set()
    for r in plan.resources:
        if r.type in EC2_ID:
            assert re.fullmatch(EC2_ID[r.type] + r"-[0-9a-f]{17}", r.id), (r.type, r.id)
            seen.add(r.type)
        if r.type == "aws:kms/key:Key":
            assert re.fullmatch(UUID, r.id) and r.outputs["arn"] == f"arn:aws:kms:eu-central-1:111122223333:key/{r.id}"
        if r.type == "aws:secretsmanager/secret:Secret":
            name = r.outputs["name"]
            assert (
                re.fullmatch(
                    rf"arn:aws:secretsmanager:eu-central-1:\d{{12}}:secret:{re.escape(name)}-[A-Za-z0-9]{{6}}",
                    r.outputs["arn"],
                )
                and r.id == r.outputs["arn"]
            )
        if r.type == TG:
            suffix = r.outputs["arnSuffix"]
            assert re.fullmatch(rf"targetgroup/{re.escape(r.inputs['name'])}/[0-9a-f]{{16}}", suffix)
            assert r.outputs["arn"] == f"arn:aws:elasticloadbalancing:eu-central-1:111122223333:{suffix}"
        if r.type == "aws:lb/loadBalancer:LoadBalancer":
            assert re.fullmatch(rf"net/{re.escape(r.inputs['name'])}/[0-9a-f]{{16}}", r.outputs["arnSuffix"])
            assert r.outputs["dnsName"].endswith(".elb.eu-central-1.amazonaws.com")
        if r.type == "aws:iam/role:Role":
            assert r.id == r.inputs["name"] and r.outputs["arn"] == f"arn:aws:iam::111122223333:role/{r.id}"
        if r.type == "aws:ec2/vpc:Vpc":
            assert re.fullmatch(r"sg-[0-9a-f]{17}", r.outputs["defaultSecurityGroupId"])
    assert seen == set(EC2_ID)
    default_sg = next(r for r in plan.resources if r.type == "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup")
    vpc = next(r for r in plan.resources if r.type == "aws:ec2/vpc:Vpc")
    assert default_sg.id == vpc.outputs["defaultSecurityGroupId"]


def test_fake_cloud_is_deterministic(plans):
    again = run_stack("dev")
    # Registration order depends on thread timing; what each resource gets does not.
    assert {r.urn: (r.id, r.inputs, r.outputs) for r in again.resources} == {
        r.urn: (r.id, r.inputs, r.outputs) for r in plans["dev"].resources
    }


# --- (d) the stacks plan clean --------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_stacks_plan_clean(plans, stack):
    assert check_constraints(plans[stack]) == []
