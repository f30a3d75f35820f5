"""scripts/ssm_configure.py against a fake SSM client: the exact documents it sends (AWS-RunShellScript with
the agent's command line for one instance at a time), in the order dataplane.configure.roll_out plans, and a
failing member named in one line."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import pytest

from dataplane import configure

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


@pytest.fixture()
def ssm_configure(monkeypatch):
    monkeypatch.syspath_prepend(str(SCRIPTS))
    import ssm_configure as module  # type: ignore[import-not-found]  # scripts/ is not a package
    import ssm_run  # type: ignore[import-not-found]

    monkeypatch.setattr(ssm_run, "POLL_SECONDS", 0)
    yield module
    sys.modules.pop("ssm_configure", None)


class FakeSsm:
    """Answers each command with the report the agent would print for that instance and mode."""

    class exceptions:
        class InvocationDoesNotExist(Exception):
            pass

    def __init__(self, reports: dict[tuple[str, str], dict]):
        self.reports = reports
        self.sent: list[tuple[list[str], str, dict]] = []

    def send_command(self, InstanceIds, DocumentName, Parameters):
        self.sent.append((InstanceIds, DocumentName, Parameters))
        return {"Command": {"CommandId": str(len(self.sent))}}

    def get_command_invocation(self, CommandId, InstanceId):
        _, _, parameters = self.sent[int(CommandId) - 1]
        mode = shlex.split(parameters["commands"][0])[4]
        report = self.reports[(InstanceId, mode)]
        status = "Failed" if "error" in report else "Success"
        return {"Status": status, "StandardOutputContent": json.dumps(report) + "\n"}


def _members():
    return {"db-1": ("i-1", "QlVORExFLTE="), "db-2": ("i-2", "QlVORExFLTI="), "db-3": ("i-3", "QlVORExFLTM=")}


def _apply(member, role, pending):
    return {
        "member": member,
        "actions": ["dynamic configuration patched"] if pending else [],
        "restart_needed": ["postgresql"] if pending else [],
        "pending_reason": {"shared_buffers": {"old_value": "1GB", "new_value": "2GB"}} if pending else {},
        "role": role,
    }


def test_it_sends_each_member_its_own_command_and_restarts_replicas_before_the_leader(ssm_configure):
    reports = {
        ("i-1", "apply"): _apply("db-1", "replica", True),
        ("i-2", "apply"): _apply("db-2", "primary", True),
        ("i-3", "apply"): _apply("db-3", "replica", True),
        ("i-1", "restart"): {"member": "db-1", "actions": ["postgresql restarted"]},
        ("i-2", "restart"): {"member": "db-2", "actions": ["switched over to db-1", "postgresql restarted"]},
        ("i-3", "restart"): {"member": "db-3", "actions": ["postgresql restarted"]},
    }
    ssm = FakeSsm(reports)
    members = _members()
    said: list[str] = []
    configure.roll_out(list(members), ssm_configure.ssm_runner(ssm, members), said.append)
    sent = [(ids, doc, shlex.split(p["commands"][0])) for ids, doc, p in ssm.sent]
    assert {doc for _, doc, _ in sent} == {"AWS-RunShellScript"}
    assert [(ids[0], argv[4]) for ids, _, argv in sent] == [
        ("i-1", "apply"),
        ("i-2", "apply"),
        ("i-3", "apply"),
        ("i-1", "restart"),
        ("i-3", "restart"),
        ("i-2", "restart"),
    ]
    for ids, _, argv in sent:
        assert argv == configure.command(members[{"i-1": "db-1", "i-2": "db-2", "i-3": "db-3"}[ids[0]]][1], argv[4])
    assert said[-1] == "restart db-2: switched over to db-1, postgresql restarted"


def test_a_failing_member_is_named_stops_the_roll_out_and_what_it_reached_is_rolled_back(ssm_configure):
    reports = {
        ("i-1", "apply"): _apply("db-1", "primary", False),
        ("i-2", "apply"): {"error": "RuntimeError: Patroni PATCH /config: HTTP 409: conflict"},
        ("i-2", "rollback"): {**_apply("db-2", "replica", False), "actions": ["rolled back"]},
        ("i-1", "rollback"): {**_apply("db-1", "primary", False), "actions": ["rolled back"]},
    }
    ssm = FakeSsm(reports)
    members = _members()
    with pytest.raises(ssm_configure.MemberFailed, match=r"db-2 \(i-2\): RuntimeError: Patroni PATCH /config"):
        configure.roll_out(list(members), ssm_configure.ssm_runner(ssm, members), lambda _: None)
    sent = [(ids, shlex.split(p["commands"][0])[4]) for ids, _, p in ssm.sent]
    assert sent == [(["i-1"], "apply"), (["i-2"], "apply"), (["i-2"], "rollback"), (["i-1"], "rollback")]


def test_each_deploy_is_one_journal_entry_and_a_journal_that_fails_does_not_fail_it(ssm_configure, capsys):
    """What `pulumi up`'s configure step writes to the stack journal: who deployed (the deployer's principal),
    the result, the members and which of them changed; read back as the console reads every entry."""
    import argparse

    from dataplane import journal

    class S3:
        def __init__(self):
            self.put: list[dict] = []

        def put_object(self, **kwargs):
            assert kwargs["ContentMD5"]  # Object Lock buckets refuse a put without one
            self.put.append(kwargs)

    s3 = S3()

    class Sts:
        def get_caller_identity(self):
            return {"Arn": "arn:aws:sts::111122223333:assumed-role/pgp-prod-deployer/github"}

    class Boto3:
        @staticmethod
        def client(service, region_name):
            return {"s3": s3, "sts": Sts()}[service]

    args = argparse.Namespace(region="eu-central-1", journal_bucket="pgp-prod-vault", scope="pgp-prod")
    ssm_configure.record(args, Boto3, "ok", 12.34, ["db-0", "db-1"], ["db-1"])
    (put,) = s3.put
    assert put["Bucket"] == "pgp-prod-vault" and put["Key"].startswith(journal.prefix("pgp-prod"))
    entry = journal.decode(put["Body"])
    assert (entry.action, entry.result, entry.seconds) == ("up", "ok", 12.3)
    assert entry.who.endswith("pgp-prod-deployer/github")
    assert entry.details == {"members": ["db-0", "db-1"], "changed": ["db-1"]}

    class Broken(Boto3):
        @staticmethod
        def client(service, region_name):
            raise RuntimeError("AccessDenied")

    ssm_configure.record(args, Broken, "failed", 1.0, ["db-0"], [], "db-0: boom")
    assert "not recorded in the journal: RuntimeError: AccessDenied" in capsys.readouterr().err


def test_a_leaving_member_runs_the_agents_leave_mode_alone_and_a_failure_fails_the_delete(ssm_configure, capsys):
    instance, bundle = _members()["db-3"]
    left = {"member": "db-3", "actions": ["switched over to db-1", "removed from the etcd cluster (1a2b)"]}
    ssm = FakeSsm({(instance, "leave"): left})
    assert ssm_configure.leave(ssm, {"db-3": (instance, bundle)}) == 0
    ((ids, document, parameters),) = ssm.sent
    assert (ids, document) == ([instance], "AWS-RunShellScript")
    assert parameters["commands"] == [configure.shell_command(bundle, "leave")]
    assert "db-3: switched over to db-1, removed from the etcd cluster (1a2b)" in capsys.readouterr().out
    failing = FakeSsm({(instance, "leave"): {"error": "RuntimeError: etcd leave on db-3: quorum"}})
    assert ssm_configure.leave(failing, {"db-3": (instance, bundle)}) == 1
    assert "db-3 could not leave the cluster" in capsys.readouterr().err
