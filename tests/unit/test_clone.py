"""`pgp clone`, `pgp clones` and the removal of a failed scratch instance without a cluster: the scripts rendered
for the prod program's own members, and on an AWS stack the exact commands sent through a fake SSM client, to
the member the inventory names. The scripts run for real against the sandbox in tests/sandbox/test_clone.py."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from datetime import UTC, datetime

import pytest

from dataplane import pitr
from dataplane.console import Ran
from dataplane.model import SUPERUSER
from sandbox.layout import build_layout
from stacks.ports import CLONE_PORT_COUNT, CLONE_PORT_FIRST
from tests.unit.test_console import SCRIPTS, FakeSsm, _cluster, _main
from tools import console as cli
from tools.console_aws import aws_spec
from tools.runner import run_stack

NAME = "a1b2c3"


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


@pytest.fixture(scope="module")
def prod():
    spec = aws_spec("prod", "pgp-prod-backups")
    return spec, spec.members[0]


def _bash_ok(script: str) -> str:
    subprocess.run(["bash", "-n"], input=script, text=True, check=True)
    return script


def test_scratch_names_are_short_and_reach_a_path_only_as_plain_words(prod):
    spec, member = prod
    names = {pitr.scratch_name() for _ in range(50)}
    assert len(names) == 50 and all(pitr.check_scratch_name(n, "x") == n for n in names)
    # The instance's socket is in its directory: the path must stay within the 107 bytes a socket path may have.
    assert len(f"{pitr.clone_directory(spec, member, pitr.scratch_name())}/.s.PGSQL.65535") < 80
    for bad in ("../etc", "a b", "Clone", "x;rm", ""):
        with pytest.raises(pitr.ConsoleError, match="--drop"):
            pitr.check_scratch_name(bad, "--drop")


def test_a_clone_restores_beside_the_member_on_a_free_localhost_port_and_never_archives(prod):
    spec, member = prod
    script = _bash_ok(pitr.render_clone(spec, member, pitr.Clone(NAME)))
    directory = pitr.clone_directory(spec, member, NAME)
    assert directory == f"{pitr.aux_parent(spec, member)}/{pitr.CLONE_PREFIX}{NAME}"
    assert f'aux={directory}; mkdir -m 0700 "$aux"' in script  # never an existing directory
    assert f"for candidate in $(seq {CLONE_PORT_FIRST} {CLONE_PORT_FIRST + CLONE_PORT_COUNT - 1}); do" in script
    restore = next(line for line in script.splitlines() if line.endswith(" restore"))
    assert "--type=immediate --target-action=promote" in restore and "--target=" not in restore
    assert "step archive" not in script  # the newest backup needs no WAL from now
    for setting in ("port = '$port'", f"listen_addresses = '{pitr.CLONE_LISTEN}'", "archive_mode = 'off'"):
        assert setting in script
    assert f"'local all {SUPERUSER} peer' 'host all all {pitr.CLONE_LISTEN}/32 scram-sha-256'" in script
    assert "pgp_clone_write_check" in script
    # A proof removes itself; only --keep stops the cleanup from removing it.
    assert "keep_instance=1" not in script
    kept = _bash_ok(pitr.render_clone(spec, member, pitr.Clone(NAME, keep=True)))
    assert kept.index("keep_instance=1") > kept.index("pgp_clone_write_check")
    assert f'rm -f "$aux/{pitr.SCRIPT_PID_FILE}"' in kept


def test_a_clone_at_a_time_archives_the_wal_up_to_now_and_recovers_to_it(prod):
    spec, member = prod
    at = pitr.target_time("2026-12-04T03:00:00Z", datetime(2026, 12, 4, 4, tzinfo=UTC), "--at")
    script = _bash_ok(pitr.render_clone(spec, member, pitr.Clone(NAME, at)))
    restore = next(line for line in script.splitlines() if line.endswith(" restore"))
    assert "--type=time '--target=2026-12-04 03:00:00.000000+00' --target-action=promote" in restore
    assert script.index("pg_switch_wal") < script.index(restore)
    with pytest.raises(pitr.ConsoleError, match="--at '2026-12-05T00:00:00Z' is not in the past"):
        pitr.target_time("2026-12-05T00:00:00Z", datetime(2026, 12, 4, 4, tzinfo=UTC), "--at")


def test_every_scratch_script_cleans_up_on_a_signal_and_names_its_failed_step(prod):
    spec, member = prod
    job = pitr.PartialRestore("app", "app", "2026-12-02 21:30:00.000000+00", "public.orders", NAME)
    for script in (pitr.render_clone(spec, member, pitr.Clone(NAME)), pitr.render_partial_restore(spec, member, job)):
        assert "trap cleanup EXIT" in script and "trap 'exit 143' TERM" in script
        assert f'say "{pitr.FAILED_AT}$step_now\'"' in script
        assert script.index(f'echo "$$" > "$aux/{pitr.SCRIPT_PID_FILE}"') < script.index("trap cleanup EXIT")
    assert f"aux={pitr.scratch_dir(spec, member, pitr.AUX_PREFIX, NAME)}; mkdir" in pitr.render_partial_restore(
        spec, member, job
    )


def test_the_sandbox_clone_ports_are_apart_from_every_sandbox_port():
    layout = build_layout("prod")
    clone_ports = [p for m in layout.spec.members for p in pitr.clone_ports(m)]
    assert len(set(clone_ports)) == len(clone_ports)  # each member's range is its own
    assert not set(clone_ports) & set(layout.all_ports())


def test_a_removal_stops_the_script_first_and_touches_only_a_scratch_directory(prod):
    spec, member = prod
    directory = pitr.clone_directory(spec, member, NAME)
    script = _bash_ok(pitr.remove_scratch_command(spec, member, directory))
    assert f"aux={directory}" in script
    assert script.index('kill -TERM "$script"') < script.index('rm -rf "$aux"')
    assert 'echo "removed="; exit 0' in script  # nothing there: nothing to do, and said so
    for elsewhere in (
        spec.paths_for(member).data_dir,
        f"{pitr.aux_parent(spec, member)}/x",
        f"/tmp/{pitr.AUX_PREFIX}x",
    ):
        with pytest.raises(ValueError, match="not a scratch directory"):
            pitr.remove_scratch_command(spec, member, elsewhere)


def test_the_scratch_listing_is_read_line_by_line(prod):
    spec, member = prod
    _bash_ok(pitr.list_scratch_command(spec, member))
    text = f"{pitr.CLONE_PREFIX}{NAME} 5500 running 1764818100\n{pitr.AUX_PREFIX}x1 - stopped 1764818000\nnoise\n"
    assert pitr.parse_scratch_list(text) == [
        {"kind": "clone", "name": NAME, "port": 5500, "state": "running", "created": 1764818100},
        {"kind": "auxiliary", "name": "x1", "port": None, "state": "stopped", "created": 1764818000},
    ]
    assert pitr.parse_clone_result("progress\ncloned=5501 3.2 1.4 4\n") == {
        "port": 5501,
        "restore_seconds": 3.2,
        "writable_seconds": 1.4,
        "databases": 4,
    }


def test_the_failed_step_is_read_from_what_the_script_said():
    said = f"04:00:01 restore\n04:00:02 start\n04:00:09 {pitr.FAILED_AT}start'\n04:00:09 removed /x\n"
    assert cli.failed_step(Ran(1, "", said)) == "start"
    assert cli.failed_step(Ran(124, "", "no answer")) == "unknown: the member did not answer"


class ScriptedSsm(FakeSsm):
    """The leader's answers by what the command is: `answers` maps a marker in the command to
    (status, stdout, stderr); the cluster's state for patronictl, empty success for the rest."""

    def __init__(self, cluster, answers: dict[str, tuple[str, str, str]]):
        super().__init__(cluster)
        self.answers = answers

    def get_command_invocation(self, CommandId, InstanceId):
        _, command = self.sent[int(CommandId) - 1]
        if " list --format json" in command:
            return {"Status": "Success", "StandardOutputContent": json.dumps(self.cluster)}
        for marker, (status, out, err) in self.answers.items():
            if marker in command:
                code = {} if status == "Success" else {"ResponseCode": 1}
                return {"Status": status, "StandardOutputContent": out, "StandardErrorContent": err, **code}
        return {"Status": "Success", "StandardOutputContent": "", "StandardErrorContent": ""}


def _aws(prod_outputs, answers, monkeypatch):
    from tools.console_aws import AwsTarget

    monkeypatch.setattr(pitr, "scratch_name", lambda: NAME)
    names = list(prod_outputs["inventory"]["members"])
    ssm = ScriptedSsm(_cluster(names), answers)
    target = AwsTarget("prod", prod_outputs, ssm=ssm)
    ids = {name: m["id"] for name, m in prod_outputs["inventory"]["members"].items()}
    return target, ssm, ids, target.spec.member(names[0])


def test_clone_on_aws_sends_the_leader_the_rendered_script_and_reports_the_clone(
    prod_outputs, fast_ssm, monkeypatch, capsys
):
    answers = {"# rendered by pg-platform dataplane: clone ": ("Success", "cloned=5500 41.3 6.2 4\n", "")}
    target, ssm, ids, leader = _aws(prod_outputs, answers, monkeypatch)
    assert _main(["--json", "clone", "--keep"], target) == 0
    assert ssm.sent[1:] == [([ids[leader.name]], pitr.render_clone(target.spec, leader, pitr.Clone(NAME, keep=True)))]
    done = json.loads(capsys.readouterr().out)
    directory = pitr.clone_directory(target.spec, leader, NAME)
    assert {k: done[k] for k in ("name", "member", "kept", "port", "dsn", "restore_seconds", "writable_seconds")} == {
        "name": NAME,
        "member": leader.name,
        "kept": True,
        "port": 5500,
        "dsn": f"host={directory} port=5500 user={SUPERUSER} dbname=postgres",
        "restore_seconds": 41.3,
        "writable_seconds": 6.2,
    }
    ssm.sent.clear()
    assert _main(["clone"], target) == 0
    assert ssm.sent[1:] == [([ids[leader.name]], pitr.render_clone(target.spec, leader, pitr.Clone(NAME)))]
    assert "then removed; pass --keep to keep one" in capsys.readouterr().out


def test_a_failed_clone_on_aws_is_removed_from_outside_too_and_names_its_step(prod_outputs, fast_ssm, monkeypatch):
    said = f"04:00:02 start\nFATAL: could not load library\n04:00:03 {pitr.FAILED_AT}start'\n"
    answers = {
        "# rendered by pg-platform dataplane: clone ": ("Failed", "", said),
        # The script's own cleanup ran: nothing is left for the removal from outside.
        "# rendered by pg-platform dataplane: remove the scratch": ("Success", "removed=\n", ""),
    }
    target, ssm, ids, leader = _aws(prod_outputs, answers, monkeypatch)
    with pytest.raises(cli.MemberFailed) as failed:
        _main(["clone"], target)
    directory = pitr.clone_directory(target.spec, leader, NAME)
    assert ssm.sent[-1] == ([ids[leader.name]], pitr.remove_scratch_command(target.spec, leader, directory))
    directory_removed = f"{leader.name}: clone {NAME} failed at step start; its scratch instance {directory} is removed"
    assert directory_removed in str(failed.value)
    assert "could not load library" in str(failed.value)


def test_a_restore_whose_member_stops_answering_is_removed_or_named_for_later(prod_outputs, fast_ssm, monkeypatch):
    restore = "# rendered by pg-platform dataplane: restore database"
    remove = "# rendered by pg-platform dataplane: remove the scratch"
    answers = {restore: ("TimedOut", "", ""), remove: ("Success", f"removed=/x/{pitr.AUX_PREFIX}{NAME}\n", "")}
    target, ssm, ids, leader = _aws(prod_outputs, answers, monkeypatch)
    argv = ["restore-db", "--db", "app", "--into", "app_copy", "--time", "2026-12-01T10:00:00Z"]
    with pytest.raises(cli.MemberFailed) as failed:
        _main(argv, target)
    directory = pitr.scratch_dir(target.spec, leader, pitr.AUX_PREFIX, NAME)
    assert ssm.sent[-1] == ([ids[leader.name]], pitr.remove_scratch_command(target.spec, leader, directory))
    assert f"the database restore failed at step unknown; its scratch instance {directory} is removed" in str(
        failed.value
    )
    answers[remove] = ("Failed", "", "ssm: the instance is not connected")
    with pytest.raises(cli.MemberFailed, match=f"remove it with `pgp clone --drop {NAME}` once {leader.name} answers"):
        _main(argv, target)


def test_clones_lists_every_member_and_drop_removes_on_the_member_that_has_it(
    prod_outputs, fast_ssm, monkeypatch, capsys
):
    listing = f"{pitr.CLONE_PREFIX}{NAME} 5501 running 1764818100\n"
    answers = {
        "# rendered by pg-platform dataplane: remove the scratch": ("Success", "removed=x\n", ""),
        "shopt -s nullglob": ("Success", listing, ""),
    }
    target, ssm, ids, _ = _aws(prod_outputs, answers, monkeypatch)
    assert _main(["--json", "clones"], target) == 0
    members = target.spec.members
    assert ssm.sent == [([ids[m.name]], pitr.list_scratch_command(target.spec, m)) for m in members]
    rows = json.loads(capsys.readouterr().out)["instances"]
    assert [(r["member"], r["name"], r["port"]) for r in rows] == [(m.name, NAME, 5501) for m in members]
    ssm.sent.clear()
    assert _main(["clone", "--drop", NAME], target) == 0
    first = members[0]
    directory = pitr.clone_directory(target.spec, first, NAME)
    assert ssm.sent[-1] == ([ids[first.name]], pitr.remove_scratch_command(target.spec, first, directory))
    with pytest.raises(pitr.ConsoleError, match="takes no --at or --keep"):
        _main(["clone", "--drop", NAME, "--keep"], target)


def test_clone_and_its_drop_are_journal_actions():
    args = argparse.Namespace(command="clone", drop=NAME, at=None, keep=False, json=False, duty=None)
    recorded = []

    class Journal:
        def append(self, item):
            recorded.append(item)

    class Target:
        def journal(self):
            return Journal()

        def who(self):
            return "ana"

    cli.record(Target(), args, "ok", 1.0)  # type: ignore[arg-type]
    assert "clone" in cli.RECORDED
    assert (recorded[0].action, dict(recorded[0].details)) == ("clone drop", {"drop": NAME})
