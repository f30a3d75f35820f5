"""scripts/iap_configure.py against a stand-in `gcloud` on PATH (a real process, as the configure step starts it):
the SSH through Identity-Aware Proxy it opens per command, the agent's command line on the session's standard
input, the order dataplane.configure.roll_out plans, and a failing member named in one line."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from dataplane import configure

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
BUNDLES = {"db-1": "QlVORExFLTE=", "db-2": "QlVORExFLTI=", "db-3": "QlVORExFLTM="}
WHERE = {"db-1": "pgp-db-1:europe-west3-a", "db-2": "pgp-db-2:europe-west3-b", "db-3": "pgp-db-3:europe-west3-c"}

# Answers as the member's agent would: the report for (instance, mode) from REPORTS, or cloud-init's success.
FAKE_GCLOUD = textwrap.dedent(
    """\
    #!{python}
    import json, os, shlex, sys
    argv = sys.argv[1:]
    script = sys.stdin.read()
    with open(os.environ["FAKE_GCLOUD_LOG"], "a") as log:
        log.write(json.dumps({{"argv": argv, "stdin": script}}) + "\\n")
    instance = argv[2]
    if "cloud-init status" in script:
        sys.exit(int(os.environ.get("FAKE_BOOT_STATUS", "0")))
    mode = shlex.split(script)[4]
    report = json.load(open(os.environ["FAKE_GCLOUD_REPORTS"]))[instance + " " + mode]
    print(json.dumps(report))
    sys.exit(1 if "error" in report else 0)
    """
)


@pytest.fixture()
def gcloud(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "gcloud"
    fake.write_text(FAKE_GCLOUD.format(python=sys.executable))
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_GCLOUD_LOG", str(tmp_path / "calls.jsonl"))
    monkeypatch.setenv("FAKE_GCLOUD_REPORTS", str(tmp_path / "reports.json"))

    def answer(reports: dict[tuple[str, str], dict]) -> None:
        (tmp_path / "reports.json").write_text(json.dumps({f"{i} {m}": r for (i, m), r in reports.items()}))

    def calls() -> list[dict]:
        log = tmp_path / "calls.jsonl"
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

    return answer, calls


@pytest.fixture()
def iap_configure(monkeypatch):
    monkeypatch.syspath_prepend(str(SCRIPTS))
    import iap_configure as module  # type: ignore[import-not-found]  # scripts/ is not a package

    yield module
    sys.modules.pop("iap_configure", None)


def _apply(member: str, role: str) -> dict:
    return {
        "member": member,
        "actions": ["dynamic configuration patched"],
        "restart_needed": ["postgresql"],
        "pending_reason": {"shared_buffers": {"old_value": "1GB", "new_value": "2GB"}},
        "role": role,
    }


def _argv(members: dict[str, str]) -> list[str]:
    argv = [sys.executable, str(SCRIPTS / "iap_configure.py"), "--project", "acme-pgp-prod", "--boot-timeout", "5"]
    for name in members:
        argv += ["--member", name, WHERE[name], BUNDLES[name]]
    return argv


def test_each_command_goes_to_one_member_over_iap_on_stdin_replicas_restarted_before_the_leader(gcloud):
    answer, calls = gcloud
    answer(
        {
            ("pgp-db-1", "apply"): _apply("db-1", "replica"),
            ("pgp-db-2", "apply"): _apply("db-2", "primary"),
            ("pgp-db-3", "apply"): _apply("db-3", "replica"),
            ("pgp-db-1", "restart"): {"member": "db-1", "actions": ["postgresql restarted"]},
            ("pgp-db-2", "restart"): {"member": "db-2", "actions": ["switched over to db-1", "postgresql restarted"]},
            ("pgp-db-3", "restart"): {"member": "db-3", "actions": ["postgresql restarted"]},
        }
    )
    done = subprocess.run(_argv(BUNDLES), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "restart db-2: switched over to db-1, postgresql restarted"
    made = calls()
    booted, agent = made[:3], made[3:]
    assert all("cloud-init status --wait" in c["stdin"] for c in booted)
    sent = [(c["argv"][2], shlex.split(c["stdin"])[4]) for c in agent]
    assert sent == [
        ("pgp-db-1", "apply"),
        ("pgp-db-2", "apply"),
        ("pgp-db-3", "apply"),
        ("pgp-db-1", "restart"),
        ("pgp-db-3", "restart"),
        ("pgp-db-2", "restart"),
    ]
    for call in agent:
        argv = call["argv"]
        name = {"pgp-db-1": "db-1", "pgp-db-2": "db-2", "pgp-db-3": "db-3"}[argv[2]]
        assert argv[:3] == ["compute", "ssh", argv[2]] and "--tunnel-through-iap" in argv
        assert argv[argv.index("--zone") + 1] == WHERE[name].split(":")[1]
        assert argv[argv.index("--project") + 1] == "acme-pgp-prod"
        # The agent's whole command line on stdin: the remote shell's one-argument limit never applies.
        assert argv[-2:] == ["--command", "sudo bash -s"]
        assert call["stdin"].strip() == configure.shell_command(BUNDLES[name], shlex.split(call["stdin"])[4])


def test_a_failing_member_is_named_and_what_the_change_reached_is_rolled_back(gcloud):
    answer, calls = gcloud
    answer(
        {
            ("pgp-db-1", "apply"): _apply("db-1", "primary"),
            ("pgp-db-2", "apply"): {"error": "RuntimeError: Patroni PATCH /config: HTTP 409: conflict"},
            ("pgp-db-2", "rollback"): {"member": "db-2", "actions": ["rolled back"], "role": "replica"},
            ("pgp-db-1", "rollback"): {"member": "db-1", "actions": ["rolled back"], "role": "primary"},
        }
    )
    done = subprocess.run(_argv({"db-1": "", "db-2": ""}), capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "configure failed on db-2 (pgp-db-2:europe-west3-b): RuntimeError: Patroni PATCH /config" in done.stderr
    assert "Traceback" not in done.stderr
    sent = [(c["argv"][2], shlex.split(c["stdin"])[4]) for c in calls() if "cloud-init" not in c["stdin"]]
    assert sent == [("pgp-db-1", "apply"), ("pgp-db-2", "apply"), ("pgp-db-2", "rollback"), ("pgp-db-1", "rollback")]


def test_a_leaving_member_runs_the_agents_leave_mode_and_a_failure_fails_the_delete(gcloud):
    answer, calls = gcloud
    answer({("pgp-db-3", "leave"): {"member": "db-3", "actions": ["removed from the etcd cluster (1a2b)"]}})
    done = subprocess.run([*_argv({"db-3": ""}), "--leave"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "db-3: removed from the etcd cluster (1a2b)" in done.stdout
    assert [shlex.split(c["stdin"])[4] for c in calls()] == ["leave"]  # no boot wait: the member is going
    answer({("pgp-db-3", "leave"): {"error": "RuntimeError: etcd leave on db-3: quorum"}})
    done = subprocess.run([*_argv({"db-3": ""}), "--leave"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "db-3 could not leave the cluster" in done.stderr


def test_booting_members_are_retried_while_ssh_fails_and_a_failed_boot_stops_the_step(iap_configure):
    answers = iter([(False, "exit 255: Connection closed", ""), (True, "exit 0", "")])
    asked = []

    def booting(where: str, shell: str, timeout: float):
        asked.append(where)
        return next(answers)

    assert iap_configure.wait_booted(booting, ["a:z"], 30, poll_seconds=0) is None
    assert asked == ["a:z", "a:z"]
    failed = iap_configure.wait_booted(lambda *_: (False, "exit 1: status: error", ""), ["a:z"], 30, poll_seconds=0)
    assert failed == "cloud-init did not finish on a:z: exit 1: status: error"
    never = iap_configure.wait_booted(lambda *_: (False, "exit 255: refused", ""), ["a:z"], 0.05, poll_seconds=0.01)
    assert never is not None and "did not finish booting" in never


def test_without_gcloud_the_step_says_what_to_install(iap_configure):
    call = iap_configure.iap_call("acme", gcloud="/nonexistent/gcloud")
    succeeded, status, _ = call("a:z", "true", 5)
    assert not succeeded and "install the Google Cloud CLI" in status
    with pytest.raises(ValueError, match="INSTANCE:ZONE"):
        iap_configure.ssh_argv("acme", "no-zone")


def test_a_member_being_replaced_hands_over_if_it_leads_and_a_failed_handover_fails_the_delete(gcloud):
    answer, calls = gcloud
    answer({("pgp-db-2", "handover"): {"member": "db-2", "actions": ["switched over to db-1"], "role": "primary"}})
    done = subprocess.run([*_argv({"db-2": ""}), "--handover"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "db-2: switched over to db-1" in done.stdout
    assert [shlex.split(c["stdin"])[4] for c in calls()] == ["handover"]
    answer({("pgp-db-2", "handover"): {"member": "db-2", "actions": [], "role": "replica"}})
    done = subprocess.run([*_argv({"db-2": ""}), "--handover"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "db-2: nothing to hand over" in done.stdout
    answer({("pgp-db-2", "handover"): {"error": "RuntimeError: no standby to hand over to"}})
    done = subprocess.run([*_argv({"db-2": ""}), "--handover"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "db-2 could not hand over" in done.stderr
    done = subprocess.run([*_argv({"db-2": ""}), "--handover", "--leave"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "not allowed with argument" in done.stderr
