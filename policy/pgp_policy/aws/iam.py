"""Identity: the node role may touch its bucket, its key and its secrets, nothing account-wide."""
from __future__ import annotations

import json
from typing import Any

from pulumi_policy import Severity

from .core import Rule, as_list, plain, resource_policy, settings

AREA = "iam"
POLICY_DOCS = {
    "aws:iam/rolePolicy:RolePolicy": ("policy",),
    "aws:iam/policy:Policy": ("policy",),
    "aws:iam/userPolicy:UserPolicy": ("policy",),
    "aws:iam/groupPolicy:GroupPolicy": ("policy",),
}
ROLE = "aws:iam/role:Role"

IAM_001 = Rule(
    id="PGP-IAM-001", title="No wildcard actions on wildcard resources",
    why="A node role with service-wide wildcards on all resources turns one compromised node into a compromised account.",
    description="No identity policy allows a whole service ('*' or 'svc:*') on Resource '*', and none uses "
                "Allow with NotAction.",
    severity=Severity.HIGH, control="CKV_AWS_62, CKV_AWS_355; seed: node role limited to its bucket and key",
    area=AREA, scope="resource",
    remediation="List the actions the node needs (s3:GetObject, s3:PutObject, s3:ListBucket, kms:Decrypt, "
                "kms:GenerateDataKey, secretsmanager:GetSecretValue) on the bucket, key and secret ARNs.",
)


def _doc(raw: Any) -> Any:
    if isinstance(raw, str):
        return json.loads(raw)
    return plain(raw)


def problems(doc: Any) -> list[str]:
    out = []
    for i, st in enumerate(as_list(doc.get("Statement") if isinstance(doc, dict) else None)):
        if st.get("Effect", "Allow") != "Allow":
            continue
        if st.get("NotAction") is not None:
            out.append(f"Statement[{i}] allows NotAction {as_list(st.get('NotAction'))}")
            continue
        resources = as_list(st.get("Resource"))
        wide = [a for a in as_list(st.get("Action")) if a == "*" or str(a).endswith(":*")]
        if "*" in resources and wide:
            out.append(f"Statement[{i}] allows {', '.join(wide)} on Resource '*'")
    return out


def _wildcards(args, report) -> None:
    docs: list[tuple[str, Any]] = []
    if args.resource_type in POLICY_DOCS:
        docs = [(k, args.props.get(k)) for k in POLICY_DOCS[args.resource_type]]
    elif args.resource_type == ROLE:
        docs = [(f"inlinePolicies[{i}]", p.get("policy")) for i, p in enumerate(as_list(args.props.get("inlinePolicies")))]
    for where, raw in docs:
        if raw is None:
            continue
        try:
            doc = _doc(raw)
        except ValueError:
            report(f"{args.name}: {where} is not valid JSON")
            continue
        for p in problems(doc):
            report(f"{args.name}: {where} {p}")


SECRET = "aws:secretsmanager/secret:Secret"
SEC_001 = Rule(
    id="PGP-SEC-001", title="Secrets encrypted with a customer key, recoverable",
    why="With the AWS-managed key anyone allowed secretsmanager:GetSecretValue reads every secret; a customer key "
        "adds a second, auditable grant. A recovery window undoes an accidental deletion.",
    description="Secrets Manager secrets name a customer-managed KMS key and keep a recovery window of at least "
                "the configured days.",
    severity=Severity.MEDIUM, control="CKV_AWS_149; seed: secrets in Secrets Manager", area=AREA, scope="resource",
    remediation="Pass kms_key_id=<the stack's secrets key arn> and recovery_window_in_days >= the minimum.",
    config={"min_recovery_window_days": {"type": "integer", "minimum": 0, "maximum": 30, "default": 7}},
)


def _secret(args, report) -> None:
    if args.resource_type != SECRET:
        return
    key = args.props.get("kmsKeyId")
    if not key or str(key).startswith("alias/aws/"):
        report(f"{args.name}: kmsKeyId is {key or 'unset'} (AWS-managed key)")
    window = args.props.get("recoveryWindowInDays")
    minimum = settings(args, SEC_001)["min_recovery_window_days"]
    if window is not None and int(window) < minimum:
        report(f"{args.name}: recoveryWindowInDays is {int(window)}, minimum {minimum}")


POLICIES = [(IAM_001, resource_policy(IAM_001, _wildcards)), (SEC_001, resource_policy(SEC_001, _secret))]
