"""`pgp clone` and the scratch instances of `pgp clone`, `restore-db` and `restore-table` against the running
prod-profile sandbox: a clone proven and removed, a kept one that serves the data as it was and is dropped, and
every failure after the scratch instance exists (restore, start, pg_dump, an unreachable member) leaving no
scratch directory, no scratch postmaster and no listener on a clone port behind.

The failures are real ones, injected where they would happen: a recovery target before any backup (the restore
fails), a setting that stops PostgreSQL from starting and an option pg_dump does not know (written into the
script the target runs), and a member that stops answering while its script runs on (as SSM does when a command
outlives its wait)."""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from dataplane import pitr
from dataplane.console import Ran
from dataplane.model import APP_DATABASE, Member
from sandbox import processes
from sandbox.console_target import SandboxTarget
from tools import console as cli

pytestmark = pytest.mark.sandbox

# Before any backup of a sandbox started today: pgBackRest finds no backup set to restore.
BEFORE_ANY_BACKUP = "2000-01-01T00:00:00Z"
FIGURES = Path("/tmp/pgp-clone-figures.txt")


def pgp(sandbox, *argv: str, expect: int = 0) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "tools.console", "--root", str(sandbox.layout.root.parent), *argv]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == expect, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    return done


def _leader_sql(sandbox, sql: str, database: str = APP_DATABASE) -> str:
    return processes.psql(sandbox.layout, sandbox.leader_member(), sql, dbname=database)


def _leader_now(sandbox) -> str:
    return _leader_sql(
        sandbox, "select to_char(clock_timestamp() at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
    )


def _clone_ports(sandbox) -> set[int]:
    return {p for m in sandbox.layout.spec.members for p in pitr.clone_ports(m)}


def _leftovers(sandbox) -> list[str]:
    """Scratch directories on any member's data volume, processes running from one, and listeners on a clone
    port."""
    spec = sandbox.layout.spec
    found = [
        str(p)
        for m in spec.members
        for prefix in pitr.SCRATCH_PREFIXES
        for p in Path(pitr.aux_parent(spec, m)).glob(f"{prefix}*")
    ]
    ps = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True, check=True).stdout
    found += [line for line in ps.splitlines() if any(prefix in line for prefix in pitr.SCRATCH_PREFIXES)]
    listening = subprocess.run(["ss", "-Hltn"], capture_output=True, text=True, check=True).stdout
    ports = {int(m.group(1)) for m in re.finditer(r":(\d+)\s", listening)}
    return found + [f"listening on clone port {p}" for p in sorted(ports & _clone_ports(sandbox))]


def _figures(line: str) -> None:
    """What a run measured, for the README: the sandbox tests' output is captured."""
    with FIGURES.open("a") as out:
        out.write(f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {line}\n")


def _running(pid: int) -> bool:
    """Not a zombie: an ended postmaster stays one until the process that adopted it reaps it."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _still_running(pids: set[int], grace: float = 10) -> list[int]:
    """The PIDs still running once `grace` seconds have passed: an immediate stop ends the postmaster's
    children just after it returns."""
    deadline = time.monotonic() + grace
    while (running := [pid for pid in pids if _running(pid)]) and time.monotonic() < deadline:
        time.sleep(0.2)
    return running


class Watching(SandboxTarget):
    """The sandbox target, noting the PID of every scratch postmaster while its script runs, so that a test can
    check by PID that none survives; `rewrite` changes the scratch script before it runs (the injected fault)."""

    def __init__(self, layout, rewrite=None):
        super().__init__(layout)
        self.rewrite = rewrite
        self.postmasters: set[int] = set()

    def scratch_parent(self, member: Member) -> Path:
        return Path(pitr.aux_parent(self.spec, member))

    def _watch(self, member: Member, done: threading.Event) -> None:
        while not done.wait(0.05):
            for prefix in pitr.SCRATCH_PREFIXES:
                for pid_file in self.scratch_parent(member).glob(f"{prefix}*/data/postmaster.pid"):
                    with contextlib.suppress(OSError, ValueError, IndexError):
                        self.postmasters.add(int(pid_file.read_text().split()[0]))

    def is_scratch_script(self, shell: str) -> bool:
        return "\nstep 'restore from the repository'\n" in shell

    def run(self, member: Member, shell: str, timeout: float) -> Ran:
        if not self.is_scratch_script(shell):
            return super().run(member, shell, timeout)
        if self.rewrite is not None:
            shell = self.rewrite(shell)
        done = threading.Event()
        watcher = threading.Thread(target=self._watch, args=(member, done), daemon=True)
        watcher.start()
        try:
            return self.run_scratch(member, shell, timeout)
        finally:
            done.set()
            watcher.join()

    def run_scratch(self, member: Member, shell: str, timeout: float) -> Ran:
        return super().run(member, shell, timeout)


def _console(target, *argv: str) -> int:
    parser = argparse.ArgumentParser(prog="pgp")
    cli.add_arguments(parser)
    args = parser.parse_args(list(argv))
    original = cli.target_for
    cli.target_for = lambda _args: target
    try:
        return cli.main(args)
    finally:
        cli.target_for = original


def _assert_clean(sandbox, target: Watching | None = None) -> None:
    assert _leftovers(sandbox) == []
    if target is not None:
        assert target.postmasters, "the scratch postmaster was seen while it ran"
        assert _still_running(target.postmasters) == []


def test_a_clone_is_restored_promoted_proven_writable_and_removed(sandbox, capsys):
    sandbox.wait_healthy(90)
    # A database made after the last backup: the clone of the newest backup must have it, so a backup first.
    _leader_sql(sandbox, "create database clone_newest", database="postgres")
    pgp(sandbox, "backup", "--type", "incr")
    _leader_sql(sandbox, "drop database clone_newest", database="postgres")
    target = Watching(sandbox.layout)
    assert _console(target, "--json", "clone") == 0
    done = json.loads(capsys.readouterr().out)
    assert done["kept"] is False and done["of"] == "newest backup"
    assert done["port"] in pitr.clone_ports(sandbox.leader_member())
    assert done["restore_seconds"] > 0 and done["writable_seconds"] > 0
    now = int(_leader_sql(sandbox, "select count(*) from pg_database where datallowconn"))
    assert done["databases"] == now + 1  # as of the backup, with clone_newest
    _figures(
        f"clone proof: restore {done['restore_seconds']} s, writable {done['writable_seconds']} s after start, "
        f"{done['seconds']} s in all"
    )
    _assert_clean(sandbox, target)


def test_a_kept_clone_serves_the_cluster_as_it_was_until_it_is_dropped(sandbox):
    sandbox.wait_healthy(90)
    _leader_sql(sandbox, "create table clone_probe (n int); insert into clone_probe select generate_series(1, 30)")
    name = ""
    try:
        time.sleep(0.2)
        moment = _leader_now(sandbox)
        time.sleep(0.2)
        _leader_sql(sandbox, "insert into clone_probe values (31)")
        done = json.loads(pgp(sandbox, "--json", "clone", "--at", moment, "--keep").stdout)
        name = done["name"]
        _figures(
            f"kept clone --at: restore {done['restore_seconds']} s, writable {done['writable_seconds']} s after start, "
            f"{done['seconds']} s in all"
        )
        leader = sandbox.leader_member()
        assert done["member"] == leader.name and Path(done["directory"]).is_dir()
        bin_dir = sandbox.layout.member_paths(leader.name).postgres_bin_dir
        clone_sql = [
            f"{bin_dir}/psql",
            "-X",
            "-q",
            "-A",
            "-t",
            done["dsn"].replace("dbname=postgres", f"dbname={APP_DATABASE}"),
        ]
        rows = processes.run_as_service_user([*clone_sql, "-c", "select count(*) from clone_probe"]).stdout.strip()
        assert rows == "30"  # as it was at the moment, not as it is
        # Writable, and apart from the cluster: what is written to the clone stays there.
        processes.run_as_service_user([*clone_sql, "-c", "insert into clone_probe values (99)"])
        assert _leader_sql(sandbox, "select count(*) from clone_probe where n = 99") == "0"
        listed = json.loads(pgp(sandbox, "--json", "clones").stdout)["instances"]
        assert [(r["name"], r["kind"], r["state"], r["port"]) for r in listed] == [
            (name, "clone", "running", done["port"])
        ]
        dropped = pgp(sandbox, "clone", "--drop", name)
        assert f"{name} removed" in dropped.stdout
        name = ""
        assert _leftovers(sandbox) == []
        actions = [e["action"] for e in json.loads(pgp(sandbox, "--json", "journal", "--limit", "2").stdout)]
        assert actions == ["clone", "clone drop"]
        pgp(sandbox, "clone", "--drop", done["name"], expect=2)  # gone: named as such, nothing run
    finally:
        if name:
            pgp(sandbox, "clone", "--drop", name)
        _leader_sql(sandbox, "drop table if exists clone_probe")


def _restore_argv(command: str, moment: str) -> list[str]:
    if command == "restore-table":
        return [
            "restore-table",
            "--db",
            APP_DATABASE,
            "--table",
            "clone_fault",
            "--into",
            APP_DATABASE + "_x",
            "--time",
            moment,
        ]
    if command == "restore-db":
        return ["restore-db", "--db", APP_DATABASE, "--into", "clone_fault_copy", "--time", moment]
    return ["clone", "--at", moment]


@pytest.fixture()
def fault_tables(sandbox):
    """A table to restore (restore-table), a database for it to go into, and a time after both."""
    sandbox.wait_healthy(90)
    _leader_sql(sandbox, f"create database {APP_DATABASE}_x", database="postgres")
    _leader_sql(sandbox, "create table clone_fault (n int); insert into clone_fault values (1)")
    time.sleep(0.2)
    moment = _leader_now(sandbox)
    time.sleep(0.2)
    yield moment
    _leader_sql(sandbox, "drop table if exists clone_fault")
    _leader_sql(sandbox, f"drop database if exists {APP_DATABASE}_x", database="postgres")
    _leader_sql(sandbox, "drop database if exists clone_fault_copy", database="postgres")


COMMANDS = ("clone", "restore-db", "restore-table")


@pytest.mark.parametrize("command", COMMANDS)
def test_a_restore_that_fails_leaves_no_scratch_instance(sandbox, fault_tables, command):
    failed = pgp(sandbox, *_restore_argv(command, BEFORE_ANY_BACKUP), expect=1)
    assert "failed at step restore" in failed.stderr and "unable to find backup set" in failed.stderr
    _assert_clean(sandbox)


def _bad_setting(shell: str) -> str:
    # A library that is not there: the postmaster stops at once, as it does after a package went missing.
    injected = 'echo "shared_preload_libraries = \'pgp_injected_missing\'" >> "$aux/data/postgresql.auto.conf"'
    assert "\nstep start\n" in shell
    return shell.replace("\nstep start\n", f"\n{injected}\nstep start\n", 1)


@pytest.mark.parametrize("command", COMMANDS)
def test_a_scratch_instance_that_does_not_start_is_removed(sandbox, fault_tables, command, capsys):
    target = Watching(sandbox.layout, rewrite=_bad_setting)
    assert _console(target, *_restore_argv(command, fault_tables)) == 1
    err = capsys.readouterr().err
    assert "failed at step start" in err and "pgp_injected_missing" in err and "is removed" in err
    assert "Traceback" not in err
    _assert_clean(sandbox)


def _bad_dump(shell: str) -> str:
    assert "/pg_dump " in shell
    return shell.replace("/pg_dump ", "/pg_dump --pgp-injected-unknown-option ", 1)


@pytest.mark.parametrize("command", ("restore-db", "restore-table"))
def test_a_failed_pg_dump_removes_the_scratch_instance_and_what_it_created(sandbox, fault_tables, command, capsys):
    target = Watching(sandbox.layout, rewrite=_bad_dump)
    assert _console(target, *_restore_argv(command, fault_tables)) == 1
    err = capsys.readouterr().err
    assert "failed at step copy" in err and "pgp-injected-unknown-option" in err
    _assert_clean(sandbox, target)
    assert (
        _leader_sql(sandbox, "select count(*) from pg_database where datname = 'clone_fault_copy'", "postgres") == "0"
    )


def _slow_recovery(shell: str) -> str:
    # Recovery that takes a while, so the member stops answering while the script still works there.
    assert "\nstep promote\n" in shell
    return shell.replace("\nstep promote\n", "\nsleep 120\nstep promote\n", 1)


class Unreachable(Watching):
    """A member that stops answering once the scratch postmaster runs, while the script goes on there, as an SSM
    command does when the console's wait for it ends; with `for_good`, it answers nothing after either."""

    def __init__(self, layout, for_good: bool = False):
        super().__init__(layout, rewrite=_slow_recovery)
        self.for_good = for_good
        self.lost = False
        self.scripts: list[subprocess.Popen[str]] = []

    def run(self, member: Member, shell: str, timeout: float) -> Ran:
        if self.lost and self.for_good:
            return Ran(124, "", f"no answer from {member.name} within {timeout:.0f} s")
        return super().run(member, shell, timeout)

    def run_scratch(self, member: Member, shell: str, timeout: float) -> Ran:
        script = subprocess.Popen(
            ["bash", "-c", shell],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
        )
        self.scripts.append(script)
        deadline = time.monotonic() + 120
        while not self.postmasters and script.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert self.postmasters and script.poll() is None, "the scratch postmaster ran while the script went on"
        self.lost = True
        return Ran(124, "", f"no answer from {member.name} within {timeout:.0f} s")


@pytest.mark.parametrize("command", COMMANDS)
def test_a_member_that_stops_answering_has_its_scratch_instance_removed(sandbox, fault_tables, command, capsys):
    target = Unreachable(sandbox.layout)
    assert _console(target, *_restore_argv(command, fault_tables)) == 1
    err = capsys.readouterr().err
    assert "failed at step unknown: the member did not answer" in err and "is removed" in err
    # The script on the member was asked to end and cleaned up after itself.
    assert [s.wait(timeout=120) for s in target.scripts] == [143]
    _assert_clean(sandbox, target)


def test_a_scratch_instance_left_on_a_member_that_stays_unreachable_is_named_and_dropped_later(sandbox, capsys):
    sandbox.wait_healthy(90)
    target = Unreachable(sandbox.layout, for_good=True)
    assert _console(target, "clone", "--keep") == 1
    err = capsys.readouterr().err
    found = re.search(r"remove it with `pgp clone --drop ([a-z0-9-]+)` once (\S+) answers", err)
    assert found, err
    # Once it answers again, the name the failure gave removes what is left.
    pgp(sandbox, "clone", "--drop", found.group(1))
    for script in target.scripts:
        script.wait(timeout=120)
    _assert_clean(sandbox, target)
