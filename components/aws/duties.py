"""The duty roles `pgp --as operator|dba|auditor` assumes (dataplane/duties.py says which commands each runs):
pure policy documents, one per duty, each granting what those commands call and nothing else.

What IAM can and cannot separate, said plainly: the console's member commands all go through one SSM
document, AWS-RunShellScript, which runs any shell as root. The operator and the DBA roles therefore reach the
same instances through the same document; IAM cannot tell a switchover from a `user lock` there. They differ in
what else they hold (only the DBA reads the application roles' passwords, which `pgp psql` needs) and in who they
are: the journal names the duty and the assumed session of every action, and CloudTrail the same session. The
auditor cannot send a command at all, and is denied secret reads and non-S3 decryption outright, so a broad
policy attached to it later does not quietly widen it.

Scoping: SendCommand only with AWS-RunShellScript, and only on instances tagged with this stage and named
after this platform (the deployer may not retag `stage`: tools/deployer_policy.py; the duties tag nothing);
the journal only under `journal/`; the backup key only through S3, the secrets key only through Secrets
Manager. `*` is the resource only where the action has no resource-level permissions (the Describe/List/Get
calls listed in UNSCOPED), pinned to the stack's region."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from dataplane.duties import AUDITOR, DBA, DUTIES, OPERATOR
from dataplane.journal import JOURNAL_PREFIX
from stacks.tags import NAME_TAG, STAGE_TAG

# The document every member command runs through (scripts/ssm_run.py sends it; the deployer's configure step
# and the duty roles may send it and no other).
SSM_DOCUMENT = "AWS-RunShellScript"
# An operator's session: long enough for a full backup to be waited on, short enough to expire the same day.
DUTY_SESSION_SECONDS = 4 * 3600
# Actions that IAM authorizes only on Resource "*" (Service Authorization Reference: no resource types).
UNSCOPED = frozenset(
    {
        "ssm:GetCommandInvocation",
        "ssm:ListCommandInvocations",
        "ssm:ListCommands",
        "ec2:DescribeInstances",
        "ec2:DescribeVolumes",
        "ec2:DescribeSecurityGroups",
        "ec2:DescribeSubnets",
        "ec2:DescribeVpcs",
        "cloudwatch:GetMetricData",
        "cloudwatch:GetMetricStatistics",
        "cloudwatch:ListMetrics",
    }
)


@dataclass(frozen=True)
class DutyScope:
    """What the duty policies name: all known once the stack's bucket, keys and secrets exist."""

    region: str
    account_id: str
    stage: str  # the `stage` tag every instance of the stack carries
    name: str  # the platform's name, which prefixes its alarms and log groups
    bucket_arn: str
    backup_key_arn: str  # the bucket's default key: journal entries are SSE-KMS with it
    secrets_key_arn: str
    app_secret_arns: Sequence[str]  # the application roles' passwords (`pgp psql`)


def trust_policy(account_id: str) -> str:
    """Principals of this account whom its IAM administrators allow sts:AssumeRole on the role, with MFA: the
    account decides who holds a duty (an identity policy on the people's users or groups), the role decides
    what the duty may do. A stolen access key without its MFA device assumes nothing."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "DutyWithMfa",
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
                    "Action": "sts:AssumeRole",
                    "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}},
                }
            ],
        }
    )


def _region(scope: DutyScope) -> dict:
    return {"StringEquals": {"aws:RequestedRegion": scope.region}}


def _via(service: str, scope: DutyScope) -> dict:
    return {"StringEquals": {"kms:ViaService": f"{service}.{scope.region}.amazonaws.com"}}


def _journal_read(scope: DutyScope) -> list[dict]:
    """List and read the journal's entries (dataplane/journal.py S3Journal.entries), nothing else in the
    bucket: pgBackRest's repository stays out of reach."""
    return [
        {
            "Sid": "JournalList",
            "Effect": "Allow",
            "Action": ["s3:ListBucket"],
            "Resource": [scope.bucket_arn],
            "Condition": {"StringLike": {"s3:prefix": [f"{JOURNAL_PREFIX}/*"]}},
        },
        {
            "Sid": "JournalRead",
            "Effect": "Allow",
            "Action": ["s3:GetObject"],
            "Resource": [f"{scope.bucket_arn}/{JOURNAL_PREFIX}/*"],
        },
        {
            "Sid": "JournalKeyRead",
            "Effect": "Allow",
            "Action": ["kms:Decrypt"],
            "Resource": [scope.backup_key_arn],
            "Condition": _via("s3", scope),
        },
    ]


def _journal_write(scope: DutyScope) -> list[dict]:
    """A new entry per action; under the bucket's Object Lock a put never overwrites one."""
    return [
        {
            "Sid": "JournalAppend",
            "Effect": "Allow",
            "Action": ["s3:PutObject"],
            "Resource": [f"{scope.bucket_arn}/{JOURNAL_PREFIX}/*"],
        },
        {
            "Sid": "JournalKeyWrite",
            "Effect": "Allow",
            "Action": ["kms:GenerateDataKey"],
            "Resource": [scope.backup_key_arn],
            "Condition": _via("s3", scope),
        },
    ]


def _member_commands(scope: DutyScope) -> list[dict]:
    """SendCommand is authorized on the document and on each instance: the shell document only, and only the
    instances of this stage named after this platform (its members, and the monitoring node `pgp status` asks
    for firing alerts): `stage` is a common tag, and another workload of the account may carry it too. The
    duty roles cannot retag an instance."""
    return [
        {
            "Sid": "ShellDocument",
            "Effect": "Allow",
            "Action": ["ssm:SendCommand"],
            "Resource": [f"arn:aws:ssm:{scope.region}::document/{SSM_DOCUMENT}"],
        },
        {
            "Sid": "StageInstances",
            "Effect": "Allow",
            "Action": ["ssm:SendCommand"],
            "Resource": [f"arn:aws:ec2:{scope.region}:{scope.account_id}:instance/*"],
            "Condition": {
                "StringEquals": {f"ssm:resourceTag/{STAGE_TAG}": scope.stage},
                "StringLike": {f"ssm:resourceTag/{NAME_TAG}": f"{scope.name}-*"},
            },
        },
        {
            "Sid": "CommandResults",
            "Effect": "Allow",
            "Action": ["ssm:GetCommandInvocation", "ssm:ListCommandInvocations", "ec2:DescribeInstances"],
            "Resource": "*",
            "Condition": _region(scope),
        },
    ]


def _app_passwords(scope: DutyScope) -> list[dict]:
    """`pgp psql` logs in as an application role, with the password its applications read."""
    return [
        {
            "Sid": "AppRolePasswords",
            "Effect": "Allow",
            "Action": ["secretsmanager:GetSecretValue"],
            "Resource": list(scope.app_secret_arns),
        },
        {
            "Sid": "AppRolePasswordsKey",
            "Effect": "Allow",
            "Action": ["kms:Decrypt"],
            "Resource": [scope.secrets_key_arn],
            "Condition": _via("secretsmanager", scope),
        },
    ]


def _auditor(scope: DutyScope) -> list[dict]:
    prefix = f"{scope.region}:{scope.account_id}"
    return [
        *_journal_read(scope),
        {
            "Sid": "ReadState",
            "Effect": "Allow",
            "Action": [
                "ssm:ListCommandInvocations",
                "ssm:ListCommands",
                "ec2:DescribeInstances",
                "ec2:DescribeVolumes",
                "ec2:DescribeSecurityGroups",
                "ec2:DescribeSubnets",
                "ec2:DescribeVpcs",
                "cloudwatch:GetMetricData",
                "cloudwatch:GetMetricStatistics",
                "cloudwatch:ListMetrics",
            ],
            "Resource": "*",
            "Condition": _region(scope),
        },
        {
            "Sid": "StageAlarms",
            "Effect": "Allow",
            "Action": ["cloudwatch:DescribeAlarms", "cloudwatch:DescribeAlarmHistory"],
            "Resource": [f"arn:aws:cloudwatch:{prefix}:alarm:{scope.name}-*"],
        },
        {
            "Sid": "StageLogs",
            "Effect": "Allow",
            "Action": ["logs:DescribeLogStreams", "logs:GetLogEvents", "logs:FilterLogEvents"],
            "Resource": [f"arn:aws:logs:{prefix}:log-group:{scope.name}-*"],
        },
        # Explicit: an auditor reads what was done, never a secret, and changes nothing, whatever else is
        # attached to the role later.
        {
            "Sid": "NeverSecrets",
            "Effect": "Deny",
            "Action": ["secretsmanager:GetSecretValue"],
            "Resource": "*",
        },
        {
            "Sid": "DecryptOnlyTheJournal",
            "Effect": "Deny",
            "Action": ["kms:Decrypt"],
            "Resource": "*",
            "Condition": {"StringNotEquals": {"kms:ViaService": f"s3.{scope.region}.amazonaws.com"}},
        },
        {
            "Sid": "NeverAct",
            "Effect": "Deny",
            "Action": [
                "ssm:SendCommand",
                "ssm:StartSession",
                "s3:PutObject",
                "s3:DeleteObject",
                "s3:DeleteObjectVersion",
            ],
            "Resource": "*",
        },
    ]


def duty_statements(duty: str, scope: DutyScope) -> list[dict]:
    if duty == OPERATOR:
        return [*_member_commands(scope), *_journal_read(scope), *_journal_write(scope)]
    if duty == DBA:
        return [*_member_commands(scope), *_journal_read(scope), *_journal_write(scope), *_app_passwords(scope)]
    if duty == AUDITOR:
        return _auditor(scope)
    raise ValueError(f"unknown duty {duty!r}: one of {DUTIES}")


def duty_policy(duty: str, scope: DutyScope) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": duty_statements(duty, scope)})
