"""Identity: the node role may touch its bucket, its key and its secrets, nothing account-wide."""

from __future__ import annotations

import json
from typing import Any

from pulumi_policy import Severity

from ..core import Rule, as_list, plain, resource_policy
from .types import CLOUD, GROUP_POLICY, POLICY, ROLE, ROLE_POLICY, USER_POLICY

AREA = "iam"
POLICY_DOCS = {ROLE_POLICY: ("policy",), POLICY: ("policy",), USER_POLICY: ("policy",), GROUP_POLICY: ("policy",)}

IAM_001 = Rule(
    id="PGP-AWS-IAM-001",
    title="No wildcard actions on wildcard resources",
    why="A node role with service-wide wildcards on all resources turns one compromised node into a compromised "
    "account.",
    description="No identity policy allows a whole service ('*' or 'svc:*') on Resource '*', and none uses "
    "Allow with NotAction.",
    severity=Severity.HIGH,
    control="CKV_AWS_62, CKV_AWS_355; seed: node role limited to its bucket and key",
    area=AREA,
    scope="resource",
    clouds=(CLOUD,),
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
        docs = [
            (f"inlinePolicies[{i}]", p.get("policy")) for i, p in enumerate(as_list(args.props.get("inlinePolicies")))
        ]
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


POLICIES = [(IAM_001, resource_policy(IAM_001, _wildcards))]
