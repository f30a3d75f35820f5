"""The deployer's IAM policy, generated from the recorded graph: complete, within IAM's limits, scoped, current."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest

from tools import deployer_policy as dp
from tools.records import ResourceRecord

ROOT = Path(__file__).resolve().parents[2]
STACKS = ("dev", "prod")
ACTION = re.compile(r"^[a-z0-9-]+:[A-Za-z0-9]+$")  # one named action: no "*", no "svc:*", no "svc:Get*"


@pytest.fixture(scope="module")
def runs():
    return {stack: dp.run_with_invokes(stack) for stack in STACKS}


@pytest.fixture(scope="module")
def policies(runs):
    return {stack: dp.deployer_policy(plan, region, invokes) for stack, (plan, invokes, region) in runs.items()}


def _statements(documents):
    return [s for d in documents for s in d["Statement"]]


def _actions(documents):
    return {a for s in _statements(documents) for a in s["Action"]}


@pytest.mark.parametrize("stack", STACKS)
def test_every_resource_type_and_invoke_of_the_graph_is_mapped(runs, stack):
    plan, invokes, _ = runs[stack]
    assert dp.unmapped(plan, invokes) == []
    tokens = {i.token for i in invokes}
    # The program looks up its account and the Debian image; both must be in the policy's reckoning.
    assert {"aws:ec2/getAmi:getAmi", "aws:index/getCallerIdentity:getCallerIdentity"} <= tokens


def test_a_new_resource_type_fails_loudly(runs):
    plan, invokes, region = runs["dev"]
    plan = copy.deepcopy(plan)
    plan.resources.append(
        ResourceRecord(
            urn="urn:x",
            type="aws:rds/instance:Instance",
            name="pgp-dev-x",
            custom=True,
            parent=None,
            inputs={},
            secret_paths=[],
            dependencies=[],
            property_dependencies={},
            provider=None,
            protect=False,
        )
    )
    with pytest.raises(dp.UnmappedTypes, match="aws:rds/instance:Instance"):
        dp.deployer_policy(plan, region, invokes)
    with pytest.raises(dp.UnmappedTypes, match="aws:index/getFoo:getFoo"):
        dp.deployer_policy(runs["dev"][0], region, [*invokes, dp.Invoke("aws:index/getFoo:getFoo")])


@pytest.mark.parametrize("stack", STACKS)
def test_policies_are_valid_json_under_the_managed_policy_limit(policies, stack):
    documents = policies[stack]
    assert 1 <= len(documents) <= 10  # a role takes 10 managed policies by default
    sids = [s["Sid"] for s in _statements(documents)]
    assert len(sids) == len(set(sids))
    for document in documents:
        assert json.loads(json.dumps(document)) == document
        assert len(json.dumps(document, separators=(",", ":"))) <= dp.MANAGED_POLICY_LIMIT
        assert document["Version"] == "2012-10-17"
        for statement in document["Statement"]:
            assert re.fullmatch(r"[A-Za-z0-9]+", statement["Sid"])
            assert statement["Effect"] == "Allow" and statement["Action"] and statement["Resource"]
            assert "NotAction" not in statement and "NotResource" not in statement


@pytest.mark.parametrize("stack", STACKS)
def test_no_wildcard_actions(policies, stack):
    for statement in _statements(policies[stack]):
        for action in statement["Action"]:
            assert ACTION.fullmatch(action), f"{statement['Sid']}: {action!r} is not one named action"


@pytest.mark.parametrize("stack", STACKS)
def test_resource_star_only_where_iam_offers_nothing_narrower(policies, stack):
    justified = {scope.sid for scope in dp.SCOPES.values() if scope.star}
    for statement in _statements(policies[stack]):
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        if "*" in resources:
            assert statement["Sid"] in justified, statement["Sid"]
            # Nothing that creates, changes or deletes runs on "*" unless a tag or region condition binds it.
            if any(not a.split(":")[1].startswith(("Describe", "Get", "List")) for a in statement["Action"]):
                assert statement.get("Condition") or statement["Action"] in (
                    ["route53:CreateHostedZone"],
                    ["sts:GetCallerIdentity"],
                ), statement["Sid"]


@pytest.mark.parametrize("stack", STACKS)
def test_scoped_to_the_stage(policies, runs, stack):
    prefix = f"pgp-{stack}-"
    statements = _statements(policies[stack])
    text = json.dumps(statements)
    other = "prod" if stack == "dev" else "dev"
    assert f"pgp-{other}" not in text and f'"{other}"' not in text
    region = runs[stack][2]
    for statement in statements:
        for arn in statement["Resource"] if isinstance(statement["Resource"], list) else []:
            service, arn_region = arn.split(":")[2:4]
            if service in ("ec2", "elasticloadbalancing", "kms", "secretsmanager", "sns", "logs", "cloudwatch", "ssm"):
                assert arn_region == region, arn
            if service in ("iam", "s3") and "aws-service-role" not in arn:
                assert prefix in arn, arn
    pass_role = [s for s in statements if "iam:PassRole" in s["Action"]]
    assert pass_role and all("iam:PassedToService" in json.dumps(s["Condition"]) for s in pass_role)
    services = next(s for s in pass_role if "StringEquals" in s["Condition"])["Condition"]["StringEquals"]
    assert services["iam:PassedToService"] == ["ec2.amazonaws.com", "vpc-flow-logs.amazonaws.com"]


@pytest.mark.parametrize("stack", STACKS)
def test_every_name_scoped_resource_is_named_inside_the_prefix(runs, stack):
    """ARN scoping by `pgp-<stage>-*` holds only while every such resource's physical name starts with it."""
    plan = runs[stack][0]
    name_scoped = (
        "aws:iam/role:Role",
        "aws:iam/instanceProfile:InstanceProfile",
        "aws:s3/bucket:Bucket",
        "aws:secretsmanager/secret:Secret",
        "aws:cloudwatch/logGroup:LogGroup",
        "aws:sns/topic:Topic",
        "aws:cloudwatch/metricAlarm:MetricAlarm",
        "aws:lb/loadBalancer:LoadBalancer",
        "aws:lb/targetGroup:TargetGroup",
        "aws:kms/alias:Alias",
    )
    checked = 0
    for record in plan.resources:
        if record.type in name_scoped:
            # An explicit name or prefix, else Pulumi's auto-name: the logical name plus a random suffix.
            name = (
                record.inputs.get("name")
                or record.inputs.get("namePrefix")
                or record.inputs.get("bucket")
                or record.inputs.get("alarmName")
                or record.name
            )
            assert name.removeprefix("alias/").startswith(f"pgp-{stack}-"), (record.type, name)
            checked += 1
    assert checked > 20


@pytest.mark.parametrize("stack", STACKS)
def test_graph_values_scope_their_statements(policies, runs, stack):
    plan = runs[stack][0]
    by_sid = {s["Sid"]: s for s in _statements(policies[stack])}
    peers = {
        f"arn:aws:ec2:{r.inputs['peerRegion']}:{r.inputs['peerOwnerId']}:vpc/{r.inputs['peerVpcId']}"
        for r in plan.by_type("aws:ec2/vpcPeeringConnection:VpcPeeringConnection")
    }
    assert set(by_sid["Ec2PeerWithDeclaredVpcs"]["Resource"]) == peers
    records = by_sid["Route53StageRecordsOnly"]["Condition"]["ForAllValues:StringEquals"]
    assert records["route53:ChangeResourceRecordSetsNormalizedRecordNames"] == [f"{stack}.pg-platform.internal"]
    attach = by_sid["IamAttachListedPolicies"]["Condition"]["ArnEquals"]["iam:PolicyARN"]
    assert attach == sorted(
        {r.inputs["policyArn"] for r in plan.by_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")}
    )
    assert by_sid["Ec2RunInstancesImage"]["Condition"]["StringEquals"]["ec2:Owner"] == ["136693071363"]
    services = sorted({r.inputs["serviceName"] for r in plan.by_type("aws:ec2/vpcEndpoint:VpcEndpoint")})
    assert by_sid["Ec2CreateVpcEndpointTagged"]["Condition"]["StringEquals"]["ec2:VpceServiceName"] == services
    # Creation must tag into the stage; later calls need the stage's tag; the tag itself cannot be removed.
    assert by_sid["Ec2ManageStageResources"]["Condition"]["StringEquals"] == {"aws:ResourceTag/stage": stack}
    assert by_sid["Ec2UntagKeepsStage"]["Condition"]["ForAllValues:StringNotEquals"] == {"aws:TagKeys": ["stage"]}
    assert by_sid["KmsCreateTaggedKeys"]["Condition"]["StringEquals"]["aws:RequestTag/stage"] == stack


def test_retained_resources_contribute_no_delete_permissions(runs):
    plan, invokes, region = runs["dev"]
    plan = copy.deepcopy(plan)
    assert "s3:DeleteBucket" in _actions(dp.deployer_policy(plan, region, invokes))
    for record in plan.resources:
        if record.type == "aws:s3/bucket:Bucket":
            record.retain_on_delete = True
    assert "s3:DeleteBucket" not in _actions(dp.deployer_policy(plan, region, invokes))


def test_post_provision_steps_can_run_their_ssm_calls(policies):
    """Every boto3 SSM call scripts/ssm_run.py makes, with the document it sends, is allowed."""
    script = (ROOT / "scripts" / "ssm_run.py").read_text()
    calls = set(re.findall(r"ssm\.([a-z_]+)\(", script)) | set(re.findall(r'get_paginator\("([a-z_]+)"\)', script))
    calls.discard("get_paginator")
    assert calls
    actions = _actions(policies["prod"])
    for call in calls:
        assert "ssm:" + "".join(w.capitalize() for w in call.split("_")) in actions, call
    assert f'"{dp.SSM_DOCUMENT}"' in script


def test_split_cuts_an_oversized_statement_by_actions():
    statement = {"Sid": "Big", "Effect": "Allow", "Action": [f"ec2:Action{n:04d}" for n in range(900)], "Resource": "*"}
    documents = dp.split_policy([statement])
    assert len(documents) > 1
    assert all(dp.compact_size(d) <= dp.MANAGED_POLICY_LIMIT for d in documents)
    assert sorted(a for d in documents for s in d["Statement"] for a in s["Action"]) == statement["Action"]


def test_account_id_replaces_the_placeholder(runs):
    plan, invokes, region = runs["prod"]
    text = json.dumps(dp.deployer_policy(plan, region, invokes, account="444455556666"))
    assert dp.ACCOUNT_PLACEHOLDER not in text and dp.RECORDED_ACCOUNT not in text and "444455556666" in text


@pytest.mark.parametrize("stack", STACKS)
def test_shipped_policy_files_are_current(policies, stack):
    expected = dp.render(policies[stack])
    base = dp.DOCS / f"{dp.OUTPUT_STEM}.json"
    paths = dp.output_paths(base, stack, len(expected))
    shipped = sorted(dp.DOCS.glob(f"{dp.OUTPUT_STEM}-{stack}-*.json"))
    assert shipped == sorted(paths), (
        "regenerate: python -m tools deployer-policy --output docs/aws-deployer-policy.json"
    )
    for path, text in zip(paths, expected, strict=True):
        assert path.read_text() == text, (
            f"{path.name} is stale: python -m tools deployer-policy --output docs/aws-deployer-policy.json"
        )
