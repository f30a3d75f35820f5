"""Identity: the node role may touch its bucket, its key and its secrets, nothing account-wide."""

from __future__ import annotations

import fnmatch
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


def _documents(args) -> list[tuple[str, Any]]:
    if args.resource_type in POLICY_DOCS:
        return [(k, args.props.get(k)) for k in POLICY_DOCS[args.resource_type]]
    if args.resource_type == ROLE:
        return [
            (f"inlinePolicies[{i}]", p.get("policy")) for i, p in enumerate(as_list(args.props.get("inlinePolicies")))
        ]
    return []


def _wildcards(args, report) -> None:
    for where, raw in _documents(args):
        if raw is None:
            continue
        try:
            doc = _doc(raw)
        except ValueError:
            report(f"{args.name}: {where} is not valid JSON")
            continue
        for p in problems(doc):
            report(f"{args.name}: {where} {p}")


IAM_002 = Rule(
    id="PGP-AWS-IAM-002",
    title="Run-command rights name their documents and their instances",
    why="ssm:SendCommand with AWS-RunShellScript is root on every instance it reaches: a role that may send a "
    "command to any instance, with any document, or that holds wildcard actions, is root on the account's fleet "
    "and whatever else the wildcard covers.",
    description="An identity policy that allows ssm:SendCommand (an operator duty) lists every action by name "
    "(no '*' in any allowed action), allows SendCommand only on named SSM documents and on instances "
    "limited by a resource-tag condition, and never on Resource '*'.",
    severity=Severity.HIGH,
    control="CKV_AWS_290 (write access without constraints); seed: separation of duties (pgp --as)",
    area=AREA,
    scope="resource",
    clouds=(CLOUD,),
    remediation="Split the statement: ssm:SendCommand on arn:aws:ssm:<region>::document/AWS-RunShellScript, and "
    "ssm:SendCommand on arn:aws:ec2:<region>:<account>:instance/* with Condition StringEquals "
    "ssm:resourceTag/stage = <stage>; name every other action (components/aws/duties.py).",
)
SEND_COMMAND = "ssm:SendCommand"
TAG_CONDITION_KEYS = ("ssm:resourcetag/", "aws:resourcetag/")


def _grants(action: Any, wanted: str) -> bool:
    """Whether an allowed action pattern covers `wanted` (IAM matches actions case-insensitively)."""
    return fnmatch.fnmatchcase(wanted.lower(), str(action).lower())


def _tag_limited(statement: dict) -> bool:
    condition = statement.get("Condition") or {}
    return any(
        str(key).lower().startswith(TAG_CONDITION_KEYS)
        for operator, keys in condition.items()
        if isinstance(keys, dict) and not str(operator).startswith("ForAnyValue")
        for key in keys
    )


def send_command_problems(doc: Any) -> list[str]:
    """What makes a run-command grant wider than named documents on tag-limited instances (empty for a policy
    that does not allow ssm:SendCommand at all)."""
    statements = [s for s in as_list(doc.get("Statement") if isinstance(doc, dict) else None) if isinstance(s, dict)]
    allowed = [(i, s) for i, s in enumerate(statements) if s.get("Effect", "Allow") == "Allow"]
    sending = [(i, s) for i, s in allowed if any(_grants(a, SEND_COMMAND) for a in as_list(s.get("Action")))]
    if not sending:
        return []
    out = []
    for i, st in allowed:
        wild = [a for a in as_list(st.get("Action")) if "*" in str(a)]
        if wild:
            out.append(f"Statement[{i}] allows wildcard action(s) {', '.join(map(str, wild))} beside ssm:SendCommand")
    for i, st in sending:
        for resource in map(str, as_list(st.get("Resource"))):
            kind = resource.split(":", 5)[-1] if resource.count(":") >= 5 else resource
            if resource == "*":
                out.append(f"Statement[{i}] allows ssm:SendCommand on Resource '*'")
            elif kind.startswith("document/") and "*" in kind:
                out.append(f"Statement[{i}] allows ssm:SendCommand with any document matching {resource}")
            elif kind.startswith(("instance/", "managed-instance/")) and "*" in kind and not _tag_limited(st):
                out.append(f"Statement[{i}] allows ssm:SendCommand on {resource} without a resource-tag condition")
        if st.get("NotResource") is not None:
            out.append(f"Statement[{i}] allows ssm:SendCommand with NotResource")
    return out


def _send_command(args, report) -> None:
    for where, raw in _documents(args):
        if raw is None:
            continue
        try:
            doc = _doc(raw)
        except ValueError:
            continue  # IAM-001 reports the unreadable document
        for p in send_command_problems(doc):
            report(f"{args.name}: {where} {p}")


POLICIES = [(IAM_001, resource_policy(IAM_001, _wildcards)), (IAM_002, resource_policy(IAM_002, _send_command))]
