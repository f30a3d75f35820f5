"""`pgp --as DUTY` on AWS: the exact sts:AssumeRole call, every client on the duty's session, the journal naming
the session and the duty; and a command outside the duty refused before any target exists."""

from __future__ import annotations

import argparse
import io
import json

import pytest

from components.aws.duties import DUTY_SESSION_SECONDS
from dataplane import journal
from dataplane.console import ConsoleError
from dataplane.model import APP_READWRITE_USER
from tests.unit.test_console import FakeSsm, _cluster, fast_ssm, prod_outputs  # noqa: F401  (fixtures)
from tools import console as cli
from tools import console_aws

ACCOUNT = "123456789012"
CALLER = f"arn:aws:iam::{ACCOUNT}:user/ana"
MFA = (f"arn:aws:iam::{ACCOUNT}:mfa/ana", "908172")
CREDENTIALS = {"AccessKeyId": "ASIADUTY", "SecretAccessKey": "duty-secret", "SessionToken": "duty-token"}


def _args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="pgp")
    cli.add_arguments(parser)
    return parser.parse_args(argv)


class FakeSts:
    def __init__(self, arn: str):
        self.arn = arn
        self.assumed: list[dict] = []

    def get_caller_identity(self):
        return {"Arn": self.arn}

    def assume_role(self, **request):
        self.assumed.append(request)
        return {"Credentials": CREDENTIALS}


class FakeS3:
    def __init__(self):
        self.put: list[dict] = []

    def put_object(self, **request):
        self.put.append(request)


class FakeBoto:
    """boto3 as the console uses it: the caller's STS client, and a Session built from the duty's credentials
    whose clients are the duty's."""

    def __init__(self, duty_clients: dict):
        self.caller_sts = FakeSts(CALLER)
        self.duty_clients = duty_clients
        self.sessions: list[dict] = []
        self.asked_with_own_credentials: list[str] = []
        boto = self

        class session:
            class Session:
                def __init__(self, **credentials):
                    boto.sessions.append(credentials)

                def client(self, service, region_name):
                    return boto.duty_clients[service]

        self.session = session

    def client(self, service, region_name):
        self.asked_with_own_credentials.append(service)
        assert service == "sts", f"{service} asked with the caller's own credentials"
        return self.caller_sts


def test_the_session_is_named_after_the_caller_within_stss_limits():
    assert console_aws.session_name(CALLER) == "pgp-ana"
    assert console_aws.session_name(f"arn:aws:iam::{ACCOUNT}:root") == "pgp-root"
    sso = f"arn:aws:sts::{ACCOUNT}:assumed-role/AWSReservedSSO_Admin_0a1b/ana.lima@example.com"
    assert console_aws.session_name(sso) == "pgp-ana.lima@example.com"
    assert console_aws.session_name(f"arn:aws:iam::{ACCOUNT}:user/a b:c") == "pgp-a-b-c"
    assert len(console_aws.session_name(f"arn:aws:iam::{ACCOUNT}:user/{'x' * 80}")) == 64
    chained = console_aws.assume_role_request("arn:role", sso)
    assert chained["DurationSeconds"] == console_aws.CHAINED_SESSION_SECONDS < DUTY_SESSION_SECONDS
    with pytest.raises(ConsoleError, match="--mfa-code '12ab': the six digits"):
        console_aws.assume_role_request("arn:role", CALLER, (MFA[0], "12ab"))
    with pytest.raises(ConsoleError, match=r"--as dba: the stack outputs name no dba role.*pulumi up"):
        console_aws.duty_role_arn({"duty_role_arns": {}}, "dba")


def test_as_dba_the_console_assumes_the_stages_dba_role_and_journals_the_session_and_duty(
    prod_outputs,  # noqa: F811
    fast_ssm,  # noqa: F811
    monkeypatch,
    capsys,
):
    import boto3

    names = list(prod_outputs["inventory"]["members"])
    session_arn = f"arn:aws:sts::{ACCOUNT}:assumed-role/pgp-prod-identity-dba-role-1/pgp-ana"
    ssm, s3 = FakeSsm(_cluster(names), answer="0\n"), FakeS3()
    fake = FakeBoto({"ssm": ssm, "s3": s3, "sts": FakeSts(session_arn)})
    monkeypatch.setattr(boto3, "client", fake.client)
    monkeypatch.setattr(boto3, "session", fake.session)
    argv = ["--stack", "prod", "--as", "dba", "--mfa-serial", MFA[0], "--mfa-code", MFA[1]]
    args = _args([*argv, "user", "lock", APP_READWRITE_USER])
    monkeypatch.setattr(
        cli,
        "target_for",
        lambda a: console_aws.AwsTarget("prod", prod_outputs, duty=a.duty, mfa=(a.mfa_serial, a.mfa_code)),
    )

    assert cli.main(args) == 0
    assert fake.caller_sts.assumed == [
        {
            "RoleArn": prod_outputs["duty_role_arns"]["dba"],
            "RoleSessionName": "pgp-ana",
            "DurationSeconds": DUTY_SESSION_SECONDS,
            "SerialNumber": MFA[0],
            "TokenCode": MFA[1],
        }
    ]
    # Assumed once; everything after it (SSM, the journal, who) on the duty's session.
    assert fake.asked_with_own_credentials == ["sts"]
    assert fake.sessions == [
        {
            "aws_access_key_id": "ASIADUTY",
            "aws_secret_access_key": "duty-secret",
            "aws_session_token": "duty-token",
            "region_name": prod_outputs["inventory"]["region"],
        }
    ]
    assert ssm.sent, "the lock went through the duty's SSM client"
    (put,) = s3.put
    entry = journal.decode(put["Body"])
    assert (entry.action, entry.who, entry.duty, entry.result) == ("user lock", session_arn, "dba", "ok")
    assert MFA[1] not in put["Body"].decode() and "mfa" not in json.dumps(entry.details)
    assert f"{APP_READWRITE_USER} locked" in capsys.readouterr().out


def test_a_command_outside_the_duty_is_refused_before_any_target_or_cloud_is_asked(monkeypatch):
    def no_target(args):
        raise AssertionError("a refused command reached target_for")

    monkeypatch.setattr(cli, "target_for", no_target)
    err = io.StringIO()
    monkeypatch.setattr("sys.stderr", err)
    assert cli.main(_args(["--stack", "prod", "--as", "auditor", "switchover"])) == 2
    assert "--as auditor: `switchover` is the operator duty" in err.getvalue()
    assert cli.main(_args(["--as", "operator", "user", "rotate", "someone"])) == 2
    assert "run it with --as dba" in err.getvalue()


def test_the_auditors_inventory_asks_no_member_and_its_journal_shows_who_acted_as_what(
    prod_outputs,  # noqa: F811
    monkeypatch,
    capsys,
):
    class Journal:
        def entries(self):
            return [
                journal.entry("switchover", "arn:aws:sts::1:assumed-role/op/pgp-ana", "ok", 9.0, duty="operator"),
                journal.entry("backup", "arn:aws:iam::1:user/old", "ok", 60.0),  # before duties existed
            ]

    target = console_aws.AwsTarget("prod", prod_outputs, ssm=FakeSsm([]), duty="auditor")
    monkeypatch.setattr(target, "journal", Journal)
    assert cli.COMMANDS["inventory"](target, _args(["--as", "auditor", "inventory"])) == 0
    assert target.ssm().sent == []
    out = capsys.readouterr().out
    assert "not asked (the auditor sends no member command)" in out
    assert "switchover           ok     arn:aws:sts::1:assumed-role/op/pgp-ana as operator (9.0 s)" in out
    cli.COMMANDS["journal"](target, _args(["--as", "auditor", "journal"]))
    first, second = capsys.readouterr().out.splitlines()
    assert first.endswith("arn:aws:sts::1:assumed-role/op/pgp-ana as operator (9.0 s)")
    assert second.endswith("ok     arn:aws:iam::1:user/old (60.0 s)")
