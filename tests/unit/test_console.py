"""The operator console without a cluster: what it refuses (naming the argument), the candidate it picks, and on
an AWS stack the exact commands it sends through a fake SSM client to the instances the program's own
`inventory` export names."""

from __future__ import annotations

import argparse
import json
import re
import shlex
import sys
from pathlib import Path

import pytest

from dataplane import console
from dataplane.console import ConsoleError, MemberState
from dataplane.model import APP_READONLY_USER, APP_READWRITE_USER, REPLICATION_USER, SUPERUSER
from dataplane.operations import PATRONICTL_COMMAND
from tools import console as cli
from tools.runner import run_stack

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


def _states(*rows: tuple[str, str, str]) -> list[MemberState]:
    return [MemberState(name, role, state, 1, 0.0, False) for name, role, state in rows]


def _spec(roles: dict | None = None):
    from components.aws.spec import aws_cluster_spec
    from stacks.topology import derive_topology
    from tests.unit.stack_helpers import settings_with

    settings = settings_with("prod", postgresql={"databases": {"orders": None}, "roles": roles or {}})
    return aws_cluster_spec(settings, derive_topology(settings), "123456789012")


def test_the_platform_roles_cannot_be_locked_and_each_refusal_says_why():
    spec = _spec()
    for role in (SUPERUSER, REPLICATION_USER):
        with pytest.raises(ConsoleError, match=f"role '{role}' is the platform's own: "):
            console.lock_sql(spec, role, True)
    with pytest.raises(ConsoleError, match="locks the application roles"):
        console.lock_sql(spec, "someone_else", True)
    locked = console.lock_sql(spec, APP_READWRITE_USER, True)
    assert locked.startswith(f"ALTER ROLE {APP_READWRITE_USER} NOLOGIN;")
    assert f"pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = '{APP_READWRITE_USER}'" in locked
    assert console.lock_sql(spec, APP_READWRITE_USER, False) == f"ALTER ROLE {APP_READWRITE_USER} LOGIN;"
    with pytest.raises(ConsoleError, match="lower-case letters"):
        console.check_role_name("app_rw; DROP TABLE x")
    declared = _spec({"orders_api": {"database": "orders", "tier": "rw"}})
    assert console.lock_sql(declared, "orders_api", False) == "ALTER ROLE orders_api LOGIN;"


def test_only_a_declared_role_is_rotated_and_only_its_verifier_is_sent():
    spec = _spec({"orders_api": {"database": "orders", "tier": "rw"}})
    password, salt = console.new_password()
    assert len(password) >= 32 and password.isascii() and len(salt) == 16
    verifier = console.scram_verifier(password, salt)
    sql = console.rotate_sql(spec, "orders_api", verifier)
    assert f"ALTER ROLE orders_api PASSWORD '{verifier}';" in sql and password not in sql
    assert sql.startswith("SET log_statement = 'none'; SET pgaudit.log = 'none';")
    # RFC 7677's test vector: user "user", password "pencil", salt W22ZaJ0SNY7soEsUEjb6gQ==, 4096 iterations.
    import base64

    vector = console.scram_verifier("pencil", base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ=="))
    assert vector.startswith("SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$")
    assert vector.endswith(":wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=")
    for role, words in (
        (APP_READWRITE_USER, "stack secret"),
        (SUPERUSER, "platform's own"),
        ("someone", "not declared in pg-platform:postgresql.roles (declared: orders_api)"),
    ):
        with pytest.raises(ConsoleError, match=re.escape(words)):
            console.rotate_sql(spec, role, verifier)


def test_a_switchover_goes_to_the_sync_standby_unless_told_and_never_to_a_stopped_member():
    states = _states(("a", "leader", "running"), ("b", "replica", "streaming"), ("c", "sync_standby", "streaming"))
    assert console.switchover_candidate(states, None) == "c"
    assert console.switchover_candidate(states, "b") == "b"
    with pytest.raises(ConsoleError, match="--to a: it is already the leader"):
        console.switchover_candidate(states, "a")
    with pytest.raises(ConsoleError, match="--to z: no such member; members: a, b, c"):
        console.switchover_candidate(states, "z")
    stopped = _states(("a", "leader", "running"), ("b", "replica", "stopped"))
    with pytest.raises(ConsoleError, match="--to b: it is not streaming"):
        console.switchover_candidate(stopped, "b")
    with pytest.raises(ConsoleError, match="no standby is streaming"):
        console.switchover_candidate(stopped, None)
    with pytest.raises(ConsoleError, match="0 leaders"):
        console.leader_of(_states(("a", "replica", "running")))


def test_log_requests_name_the_argument_and_the_choices():
    with pytest.raises(ConsoleError, match="--service 'nginx': use one of postgresql, patroni"):
        console.journal_command("nginx", 10)
    with pytest.raises(ConsoleError, match="--lines 0"):
        console.journal_command("patroni", 0)
    assert console.journal_command("patroni", 5) == "journalctl --no-pager -u pgp-patroni -n 5"


def test_a_stack_without_an_inventory_output_is_named_with_the_fix():
    with pytest.raises(ConsoleError, match="no `inventory`: run `pulumi up` once"):
        console.Inventory.from_outputs({"endpoint": "x"})


class FakeSsm:
    """Answers patronictl list with a cluster, and any other command with `answer`."""

    class exceptions:
        class InvocationDoesNotExist(Exception):
            pass

    def __init__(self, cluster: list[dict], answer: str = ""):
        self.cluster = cluster
        self.answer = answer
        self.sent: list[tuple[list[str], str]] = []

    def send_command(self, InstanceIds, DocumentName, Parameters):
        assert DocumentName == "AWS-RunShellScript"
        self.sent.append((InstanceIds, Parameters["commands"][0]))
        return {"Command": {"CommandId": str(len(self.sent))}}

    def get_command_invocation(self, CommandId, InstanceId):
        _, command = self.sent[int(CommandId) - 1]
        out = json.dumps(self.cluster) if " list --format json" in command else self.answer
        return {"Status": "Success", "StandardOutputContent": out, "StandardErrorContent": ""}


@pytest.fixture(scope="module")
def prod_outputs() -> dict:
    return run_stack("prod").outputs


@pytest.fixture()
def fast_ssm(monkeypatch):
    monkeypatch.syspath_prepend(str(SCRIPTS))
    import ssm_run  # type: ignore[import-not-found]  # scripts/ is not a package

    monkeypatch.setattr(ssm_run, "POLL_SECONDS", 0)
    yield
    sys.modules.pop("ssm_run", None)


def _cluster(names: list[str]) -> list[dict]:
    roles = ["Leader", "Sync Standby", "Replica"]
    return [
        {"Cluster": "x", "Member": n, "Role": roles[i], "State": "running" if i == 0 else "streaming", "TL": 3}
        for i, n in enumerate(names)
    ]


def _main(argv: list[str], target) -> int:
    parser = argparse.ArgumentParser(prog="pgp")
    cli.add_arguments(parser)
    args = parser.parse_args(argv)
    return cli.COMMANDS[args.command](target, args)


def test_on_aws_the_console_reaches_the_members_the_inventory_names(prod_outputs, fast_ssm, capsys):
    from tools.console_aws import AwsTarget

    names = list(prod_outputs["inventory"]["members"])
    ssm = FakeSsm(_cluster(names), answer="2\n")
    target = AwsTarget("prod", prod_outputs, ssm=ssm)
    ids = {name: m["id"] for name, m in prod_outputs["inventory"]["members"].items()}

    assert _main(["status"], target) == 0
    assert ssm.sent[0] == ([ids[names[0]]], f"{PATRONICTL_COMMAND} list --format json")
    # Then each member's versions, the repository's backups, and Alertmanager on the monitoring node.
    spec = target.spec
    assert [sent for sent, _ in ssm.sent[1:4]] == [[ids[n]] for n in names]
    assert ssm.sent[1][1] == console.versions_command(spec, spec.member(names[0]))
    assert ssm.sent[4] == ([ids[names[0]]], console.backups_command(spec, spec.member(names[0])))
    monitoring = prod_outputs["inventory"]["monitoring"]["id"]
    assert ssm.sent[5] == ([monitoring], console.alerts_command("localhost", 9093))
    out = capsys.readouterr().out
    assert "sync_standby" in out and "unknown: last backup: unreadable pgbackrest info" in out
    ssm.sent.clear()

    _main(["user", "lock", APP_READWRITE_USER], target)
    instance, command = ssm.sent[-1]
    assert instance == [ids[names[0]]]  # the leader
    words = shlex.split(command.split("exec setpriv ", 1)[1])
    assert words[:4] == ["--reuid=postgres", "--regid=postgres", "--init-groups", "--"]
    assert words[-1] == console.lock_sql(spec, APP_READWRITE_USER, True)
    assert "2 session(s) ended" in capsys.readouterr().out

    _main(["logs", names[2], "--service", "etcd", "--lines", "7"], target)
    assert ssm.sent[-1] == ([ids[names[2]]], "journalctl --no-pager -u pgp-etcd -n 7")


def test_a_stack_on_another_cloud_is_refused_with_what_to_use_instead(prod_outputs):
    from tools.console_aws import AwsTarget

    elsewhere = {**prod_outputs, "inventory": {**prod_outputs["inventory"], "cloud": "azure"}}
    with pytest.raises(ConsoleError, match="runs on azure: the console reaches members through AWS Systems Manager"):
        AwsTarget("prod", elsewhere, ssm=object())


def test_config_diff_on_aws_runs_the_agents_diff_mode_on_every_member(prod_outputs, fast_ssm, monkeypatch):
    from tools.console_aws import AwsTarget

    class DiffSsm(FakeSsm):
        def get_command_invocation(self, CommandId, InstanceId):
            _, command = self.sent[int(CommandId) - 1]
            assert shlex.split(command)[4] == "diff"
            report = {
                "member": InstanceId,
                "role": "replica",
                "files_differ": [],
                "dcs_patch": {},
                "pending_reason": {},
            }
            return {"Status": "Success", "StandardOutputContent": json.dumps(report) + "\n"}

    ssm = DiffSsm([])
    target = AwsTarget("prod", prod_outputs, ssm=ssm)
    found = target.config_diff()
    ids = [m["id"] for m in prod_outputs["inventory"]["members"].values()]
    assert [r["member"] for r in found] == ids
    assert [sent for sent, _ in ssm.sent] == [[i] for i in ids]


def test_restore_table_on_aws_checks_on_the_leader_then_sends_it_the_rendered_script(
    prod_outputs, fast_ssm, capsys, monkeypatch
):
    from dataplane import pitr
    from tools.console_aws import AwsTarget

    monkeypatch.setattr(pitr, "scratch_name", lambda: "20261201-100000-abcdef")

    names = list(prod_outputs["inventory"]["members"])
    leader_id = prod_outputs["inventory"]["members"][names[0]]["id"]
    ssm = FakeSsm(_cluster(names), answer="rows=12\n")
    target = AwsTarget("prod", prod_outputs, ssm=ssm)
    moment = "2026-12-01T10:00:00Z"
    argv = ["restore-table", "--db", "app", "--table", "orders", "--time", moment]
    assert _main(argv, target) == 0
    job = pitr.PartialRestore("app", "app", pitr.target_time(moment), "public.orders", "20261201-100000-abcdef")
    leader = target.spec.member(names[0])
    checks = [console.psql_command(target.spec, leader, sql, db) for db, sql in pitr.refusal_queries(job).values()]
    assert ssm.sent[1:] == [([leader_id], c) for c in checks] + [
        ([leader_id], pitr.render_partial_restore(target.spec, leader, job))
    ]
    assert "public.orders as of 2026-12-01 10:00:00.000000+00 restored into app: 12 rows" in capsys.readouterr().out

    refusing = FakeSsm(_cluster(names), answer="t\n")
    with pytest.raises(ConsoleError, match="--into app: no such database"):
        _main(argv, AwsTarget("prod", prod_outputs, ssm=refusing))
    assert not any("pg_dump" in command for _, command in refusing.sent)


def test_restore_drill_on_aws_runs_the_installed_timer_script_until_the_designated_member_drills(
    prod_outputs, fast_ssm, monkeypatch, capsys
):
    from dataplane import restore_drill
    from tools.console_aws import AwsTarget

    names = list(prod_outputs["inventory"]["members"])
    ids = [prod_outputs["inventory"]["members"][n]["id"] for n in names]

    class DrillSsm(FakeSsm):
        def get_command_invocation(self, CommandId, InstanceId):
            # The replica drills; the others are told where the drill runs and exit 0 at once.
            drilled = InstanceId == ids[2]
            out = f"{restore_drill.RESULT_PREFIX}20261203-010002F 1 3 52428800\n" if drilled else ""
            err = "restore drill passed" if drilled else f"the drill runs on {names[2]}"
            return {"Status": "Success", "StandardOutputContent": out, "StandardErrorContent": err}

    monkeypatch.setattr(AwsTarget, "who", lambda self: "arn:aws:sts::123456789012:assumed-role/dba/ana")
    ssm = DrillSsm([])
    assert _main(["restore-drill"], AwsTarget("prod", prod_outputs, ssm=ssm)) == 0
    by = "--by arn:aws:sts::123456789012:assumed-role/dba/ana"
    assert ssm.sent == [([i], f"{restore_drill.RESTORE_DRILL_COMMAND} {by}") for i in ids]
    out = capsys.readouterr().out
    assert f"restore drill passed on {names[2]}: backup 20261203-010002F (repo 1)" in out and "50.0 MiB" in out

    with pytest.raises(ConsoleError, match="--set 'latest': not a pgBackRest backup label"):
        _main(["restore-drill", "--set", "latest"], AwsTarget("prod", prod_outputs, ssm=DrillSsm([])))


def test_status_reads_versions_and_alerts_from_what_the_members_and_alertmanager_print():
    text = "postgresql 17.6\npatroni 4.1.5\npgbackrest 2.56.0\npgbouncer \netcd 3.5.21\n"
    assert console.parse_versions(text) == {
        "postgresql": "17.6",
        "patroni": "4.1.5",
        "pgbackrest": "2.56.0",
        "pgbouncer": "unknown",
        "etcd": "3.5.21",
    }
    alerts = [
        {"labels": {"alertname": "B", "severity": "warning"}, "startsAt": "2026-12-03T02:00:00Z", "status": {}},
        {
            "labels": {"alertname": "A", "severity": "critical", "member": "m1"},
            "startsAt": "2026-12-03T01:00:00Z",
            "status": {"state": "active"},
        },
        {"labels": {"alertname": "C"}, "startsAt": "2026-12-03T00:00:00Z", "status": {"state": "suppressed"}},
    ]
    assert [(a["alert"], a["member"]) for a in console.parse_alerts(json.dumps(alerts))] == [("A", "m1"), ("B", None)]


def test_psql_takes_an_application_role_through_the_router_and_verifies_the_server():
    assert console.client_route(APP_READONLY_USER, ["write", "pooled", "read"], None) == "read"
    assert console.client_route(APP_READONLY_USER, ["write", "pooled"], None) == "write"  # dev: one member
    assert console.client_route(APP_READWRITE_USER, ["write", "pooled", "read"], "pooled") == "pooled"
    with pytest.raises(ConsoleError, match="--role postgres: use one of app_rw, app_ro"):
        console.client_route(SUPERUSER, ["write"], None)
    with pytest.raises(ConsoleError, match="--route read: this stack routes write, pooled"):
        console.client_route(APP_READONLY_USER, ["write", "pooled"], "read")
    conninfo = console.client_conninfo("db.example", 5432, APP_READWRITE_USER, "app", "/tmp/ca dir/ca.crt")
    assert "sslmode=verify-full" in conninfo and "sslrootcert='/tmp/ca dir/ca.crt'" in conninfo


def test_psql_on_aws_reads_the_roles_secret_and_writes_the_exported_ca_for_the_session(prod_outputs, monkeypatch):
    import boto3

    from tools.console_aws import AwsTarget

    asked = []

    class FakeSecrets:
        def get_secret_value(self, SecretId):
            asked.append(SecretId)
            return {"SecretString": "s3cret"}

    monkeypatch.setattr(boto3, "client", lambda service, region_name: FakeSecrets())
    target = AwsTarget("prod", prod_outputs, ssm=object())
    assert set(target.client_endpoints()) == {"write", "pooled", "read"}
    with target.client_login(APP_READONLY_USER) as (password, ca_file):
        assert password == "s3cret" and Path(ca_file).read_text() == prod_outputs["ca_certificate"]
    assert not Path(ca_file).exists()
    assert asked == [prod_outputs["app_role_secret_ids"][APP_READONLY_USER]]


def test_since_is_read_as_an_age_or_a_time_with_its_offset_and_reaches_both_kinds_of_log():
    from datetime import UTC, datetime

    now = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
    assert console.since_time("90m", now) == "2026-12-03 10:30:00"
    assert console.since_time("1d", now) == "2026-12-02 12:00:00"
    assert console.since_time("2026-12-03T11:00:00+01:00", now) == "2026-12-03 10:00:00"
    for bad, message in (("yesterday", "give 30m, 2h, 1d"), ("2026-12-03 11:00", "add the offset"), ("13:00Z", "")):
        with pytest.raises(ConsoleError, match=f"--since '{bad}'.*{message}"):
            console.since_time(bad, now)
    with pytest.raises(ConsoleError, match="is in the future"):
        console.since_time("2026-12-04T00:00:00Z", now)
    assert console.journal_command("etcd", 50, "2026-12-03 10:30:00") == (
        "journalctl --no-pager -u pgp-etcd --since '2026-12-03 10:30:00 UTC' -n 50"
    )
