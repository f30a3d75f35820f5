"""Separation of duties: the one command->duty mapping (dataplane/duties.py) and the AWS duty roles' policies
(components/aws/duties.py), least privilege checked statement by statement."""

from __future__ import annotations

import argparse
import json

import pytest

from components.aws import duties as aws_duties
from dataplane import duties
from dataplane.console import ConsoleError
from dataplane.duties import AUDITOR, DBA, DUTIES, OPERATOR
from tools import console as console_cli

SCOPE = aws_duties.DutyScope(
    region="eu-central-1",
    account_id="123456789012",
    stage="prod",
    name="pgp-prod",
    bucket_arn="arn:aws:s3:::pgp-prod-vault-backups",
    backup_key_arn="arn:aws:kms:eu-central-1:123456789012:key/backup",
    secrets_key_arn="arn:aws:kms:eu-central-1:123456789012:key/secrets",
    app_secret_arns=(
        "arn:aws:secretsmanager:eu-central-1:123456789012:secret:pgp-prod-app-rw",
        "arn:aws:secretsmanager:eu-central-1:123456789012:secret:pgp-prod-app-ro",
    ),
)
READ_VERBS = ("Get", "List", "Describe", "Filter")
# Everything a duty may name: the stage's bucket (the journal), keys, application passwords, the shell document,
# the instances (under a tag condition), and the platform's alarms and log groups.
STAGE_RESOURCES = {
    SCOPE.bucket_arn,
    f"{SCOPE.bucket_arn}/journal/*",
    SCOPE.backup_key_arn,
    SCOPE.secrets_key_arn,
    *SCOPE.app_secret_arns,
    "arn:aws:ssm:eu-central-1::document/AWS-RunShellScript",
    "arn:aws:ec2:eu-central-1:123456789012:instance/*",
    "arn:aws:cloudwatch:eu-central-1:123456789012:alarm:pgp-prod-*",
    "arn:aws:logs:eu-central-1:123456789012:log-group:pgp-prod-*",
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pgp")
    console_cli.add_arguments(parser)
    return parser


def _console_requests() -> set[str]:
    """Every request the console's parser accepts: each command, with each choice of its action."""
    parser = _parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    found = set()
    for command, p in sub.choices.items():
        action = next((a for a in p._actions if a.dest == "action"), None)
        found |= {duties.request(command, c) for c in action.choices} if action else {command}
    return found


def test_every_console_request_has_exactly_its_duties_and_nothing_else_is_mapped():
    assert _console_requests() == set(duties.COMMAND_DUTIES)
    assert all(allowed and allowed <= set(DUTIES) for allowed in duties.COMMAND_DUTIES.values())


def test_the_duties_separate_cluster_work_from_database_work_and_the_auditor_only_reads():
    operator_only = {r for r, d in duties.COMMAND_DUTIES.items() if d == {OPERATOR}}
    dba_only = {r for r, d in duties.COMMAND_DUTIES.items() if d == {DBA}}
    audited = {r for r, d in duties.COMMAND_DUTIES.items() if AUDITOR in d}
    assert {"switchover", "restart", "reinit", "backup", "restore-drill"} <= operator_only
    assert {"user lock", "user unlock", "user rotate", "psql", "restore-table", "restore-db"} <= dba_only
    assert audited == {"journal", "inventory"}
    # Every command that changes the cluster (the ones the journal records) belongs to one duty alone.
    recorded = {r for r in duties.COMMAND_DUTIES if r.split()[0] in console_cli.RECORDED}
    assert recorded and all(len(duties.COMMAND_DUTIES[r]) == 1 for r in recorded)
    assert not duties.sends_member_commands(AUDITOR) and duties.sends_member_commands(OPERATOR)


def test_a_request_outside_the_duty_is_refused_naming_the_duty_that_may_run_it():
    with pytest.raises(
        ConsoleError, match=r"--as auditor: `switchover` is the operator duty.*run it with --as operator$"
    ):
        duties.check(AUDITOR, "switchover")
    with pytest.raises(ConsoleError, match="`user rotate` is the dba duty, not the operator's"):
        duties.check(OPERATOR, duties.request("user", "rotate"))
    with pytest.raises(ConsoleError, match="run it with --as operator or --as dba"):
        duties.check(AUDITOR, "status")
    with pytest.raises(ConsoleError, match="--as root: use one of operator, dba, auditor"):
        duties.check("root", "status")
    duties.check(OPERATOR, "switchover")
    duties.check(DBA, "user lock")
    duties.check(None, "switchover")  # no --as: the caller's own permissions decide
    with pytest.raises(KeyError):
        duties.check(OPERATOR, "drop-everything")


def _pack_iam():
    """The pack's IAM rules, importable only from the pack's directory (it imports nothing of the program)."""
    import sys

    from tools.analyzer import PACK_DIR

    sys.path.insert(0, str(PACK_DIR))
    try:
        from pgp_policy.aws import iam
    finally:
        sys.path.remove(str(PACK_DIR))
    return iam


def _statements(duty: str) -> list[dict]:
    return json.loads(aws_duties.duty_policy(duty, SCOPE))["Statement"]


def _allowed(duty: str) -> set[str]:
    return {a for s in _statements(duty) if s["Effect"] == "Allow" for a in s["Action"]}


@pytest.mark.parametrize("duty", DUTIES)
def test_each_duty_names_every_action_and_scopes_every_resource_it_can(duty):
    for st in _statements(duty):
        if st["Effect"] != "Allow":
            continue
        assert all("*" not in a for a in st["Action"]), st
        if st["Resource"] == "*":
            # Only actions without resource-level permissions, in the stack's region.
            assert set(st["Action"]) <= aws_duties.UNSCOPED, st
            assert st["Condition"] == {"StringEquals": {"aws:RequestedRegion": SCOPE.region}}
        else:
            assert set(st["Resource"]) <= STAGE_RESOURCES, st
    # What the pack refuses (PGP-AWS-IAM-001/002), the program never ships.
    doc = json.loads(aws_duties.duty_policy(duty, SCOPE))
    iam = _pack_iam()
    assert iam.problems(doc) == [] and iam.send_command_problems(doc) == []


@pytest.mark.parametrize("duty", DUTIES)
def test_the_bucket_is_reached_under_the_journal_prefix_only_and_its_key_only_through_s3(duty):
    for st in _statements(duty):
        if st["Effect"] != "Allow":
            continue
        s3 = [a for a in st["Action"] if a.startswith("s3:")]
        if s3 == ["s3:ListBucket"]:
            assert st["Resource"] == [SCOPE.bucket_arn]
            assert st["Condition"] == {"StringLike": {"s3:prefix": ["journal/*"]}}
        elif s3:
            assert st["Resource"] == [f"{SCOPE.bucket_arn}/journal/*"], st
        if any(a.startswith("kms:") for a in st["Action"]):
            service = {SCOPE.backup_key_arn: "s3", SCOPE.secrets_key_arn: "secretsmanager"}[st["Resource"][0]]
            assert st["Condition"] == {"StringEquals": {"kms:ViaService": f"{service}.eu-central-1.amazonaws.com"}}


@pytest.mark.parametrize("duty", (OPERATOR, DBA))
def test_the_operator_and_dba_send_the_shell_document_to_the_stages_instances_only(duty):
    sending = [s for s in _statements(duty) if "ssm:SendCommand" in s["Action"]]
    resources = {r for s in sending for r in s["Resource"]}
    assert resources == {
        "arn:aws:ssm:eu-central-1::document/AWS-RunShellScript",
        "arn:aws:ec2:eu-central-1:123456789012:instance/*",
    }
    (instances,) = [s for s in sending if s["Resource"][0].startswith("arn:aws:ec2:")]
    assert instances["Condition"] == {
        "StringEquals": {"ssm:resourceTag/stage": "prod"},
        "StringLike": {"ssm:resourceTag/Name": "pgp-prod-*"},
    }
    assert all(s["Action"] == ["ssm:SendCommand"] for s in sending)


def test_only_the_dba_reads_passwords_and_only_the_application_roles():
    assert "secretsmanager:GetSecretValue" not in _allowed(OPERATOR) | _allowed(AUDITOR)
    (read,) = [s for s in _statements(DBA) if "secretsmanager:GetSecretValue" in s["Action"]]
    assert read["Resource"] == list(SCOPE.app_secret_arns)


def test_the_auditor_reads_and_is_denied_every_write_secret_and_other_decryption():
    allowed = _allowed(AUDITOR)
    assert allowed, "the auditor reads something"
    assert all(a.split(":")[1].startswith(READ_VERBS) or a == "kms:Decrypt" for a in allowed), allowed
    assert "ssm:SendCommand" not in allowed and "ssm:ListCommandInvocations" in allowed
    denied = {a for s in _statements(AUDITOR) if s["Effect"] == "Deny" for a in s["Action"]}
    assert {"ssm:SendCommand", "secretsmanager:GetSecretValue", "kms:Decrypt", "s3:PutObject"} <= denied
    (decrypt,) = [s for s in _statements(AUDITOR) if s["Effect"] == "Deny" and s["Action"] == ["kms:Decrypt"]]
    assert decrypt["Condition"] == {"StringNotEquals": {"kms:ViaService": "s3.eu-central-1.amazonaws.com"}}


def test_a_duty_is_assumed_by_this_accounts_principals_with_mfa_only():
    (trust,) = json.loads(aws_duties.trust_policy("123456789012"))["Statement"]
    assert trust["Principal"] == {"AWS": "arn:aws:iam::123456789012:root"}
    assert trust["Action"] == "sts:AssumeRole"
    assert trust["Condition"] == {"Bool": {"aws:MultiFactorAuthPresent": "true"}}
    with pytest.raises(ValueError, match="unknown duty"):
        aws_duties.duty_statements("root", SCOPE)
