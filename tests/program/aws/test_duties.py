"""The duty roles in the real program's graph: one per duty, assumed with MFA, each with the policy
components/aws/duties.py renders from the stack's own bucket, keys, secrets and stage, exported for `pgp --as`."""

from __future__ import annotations

import collections
import json

import pytest

from components.aws.duties import DutyScope, duty_policy, trust_policy
from dataplane.duties import DUTIES
from dataplane.model import APP_ROLE_SECRETS
from stacks.offline import settings_for_stack
from stacks.tags import NAME_TAG, STAGE_TAG
from tools.records import Plan
from tools.runner import run_stack


@pytest.fixture(scope="module", params=("dev", "prod"))
def stack(request) -> tuple[str, Plan]:
    return request.param, run_stack(request.param)


def _one(plan: Plan, type_token: str, suffix: str):
    (found,) = [r for r in plan.by_type(type_token) if r.name.endswith(suffix)]
    return found


def test_each_duty_has_its_own_role_and_policy_and_the_stack_exports_them(stack):
    _, plan = stack
    roles = {d: _one(plan, "aws:iam/role:Role", f"-identity-{d}-role") for d in DUTIES}
    policies = collections.Counter(
        r.inputs["role"]
        for r in plan.by_type("aws:iam/rolePolicy:RolePolicy")
        if r.name.endswith(tuple(f"-{d}-policy" for d in DUTIES))
    )
    assert plan.outputs["duty_role_arns"] == {d: r.outputs["arn"] for d, r in roles.items()}
    assert policies == {r.outputs["name"]: 1 for r in roles.values()}
    account = roles["operator"].outputs["arn"].split(":")[4]
    for duty, role in roles.items():
        assert role.inputs["assumeRolePolicy"] == trust_policy(account)
        assert role.inputs["tags"]["purpose"] == f"duty-{duty}"
        assert len(role.outputs["name"]) <= 64  # IAM's limit on a role name


def test_the_duty_policies_name_the_stacks_own_bucket_keys_secrets_and_stage(stack):
    name, plan = stack
    settings = settings_for_stack(name)
    (bucket,) = plan.by_type("aws:s3/bucket:Bucket")
    secrets = {r.name: r.outputs["arn"] for r in plan.by_type("aws:secretsmanager/secret:Secret")}
    role = _one(plan, "aws:iam/role:Role", "-identity-operator-role")
    scope = DutyScope(
        region=settings.region,
        account_id=role.outputs["arn"].split(":")[4],
        stage=settings.stage,
        name=f"pgp-{name}",
        bucket_arn=bucket.outputs["arn"],
        backup_key_arn=_one(plan, "aws:kms/key:Key", "-vault-key").outputs["arn"],
        secrets_key_arn=_one(plan, "aws:kms/key:Key", "-secrets-key").outputs["arn"],
        app_secret_arns=[secrets[f"pgp-{name}-secrets-{secret}"] for secret in APP_ROLE_SECRETS.values()],
    )
    for duty in DUTIES:
        policy = _one(plan, "aws:iam/rolePolicy:RolePolicy", f"-identity-{duty}-policy")
        assert json.loads(policy.inputs["policy"]) == json.loads(duty_policy(duty, scope))
    # The tags the commands are scoped by are on every instance they reach: the members and the monitoring node.
    instances = plan.by_type("aws:ec2/instance:Instance")
    assert {i.inputs["tags"][STAGE_TAG] for i in instances} == {settings.stage}
    assert all(i.inputs["tags"][NAME_TAG].startswith(f"{scope.name}-") for i in instances)
