"""The configure bundle and its agent, without a cluster: what the bundle carries (every rendered file's
content, no secret), how the agent turns the running dynamic configuration into the desired one, that it
writes only what differs, and that the command line a member runs really starts the agent."""

from __future__ import annotations

import grp
import json
import os
import pwd
import subprocess

import pytest

from dataplane import configure, configure_agent, etcd
from dataplane.boot.units import ETCD_RESTART
from dataplane.node_files import node_files
from sandbox.layout import build_layout


@pytest.fixture(scope="module")
def spec(tmp_path_factory):
    return build_layout("prod", root=tmp_path_factory.mktemp("layout")).spec


def test_the_bundle_carries_every_rendered_file_and_the_dynamic_configuration(spec):
    member = spec.members[0]
    bundle = configure_agent.decode(configure.encoded(spec, member))
    assert {f["path"]: f["content"] for f in bundle["files"]} == node_files(spec, member)
    assert bundle["dcs"]["synchronous_mode"] is True and "parameters" in bundle["dcs"]["postgresql"]
    assert bundle["patroni_config"] in {f["path"] for f in bundle["files"]}
    assert set(bundle["templates"]) <= {f["path"] for f in bundle["files"]}


def _assigned_secrets(text: str) -> list[str]:
    """SECRET_ENV variables given a literal value (not another variable) anywhere in the text."""
    import re

    from dataplane.model import SECRET_ENV

    return [var for var in SECRET_ENV.values() if re.search(rf"{var}\s*[=:]\s*['\"]?(?![$'\"\s{{]|$)", text, re.M)]


def test_the_bundle_holds_no_secret(spec):
    """Passwords stay in the member's secrets environment; the bundle (which Pulumi's state and the step's log
    keep) only names the variables."""
    text = json.dumps(configure_agent.decode(configure.encoded(spec, spec.members[0])), indent=0)
    assert _assigned_secrets(text.replace("\\n", "\n")) == []
    assert _assigned_secrets("PATRONI_RESTAPI_PASSWORD='s3cret'\n") == ["PATRONI_RESTAPI_PASSWORD"]


def test_the_same_spec_encodes_to_the_same_text_and_a_change_moves_the_digest(spec):
    import dataclasses

    member = spec.members[0]
    first, second = configure.encoded(spec, member), configure.encoded(spec, member)
    assert first == second
    wider = dataclasses.replace(spec, client_cidrs=(*spec.client_cidrs, "127.0.0.2/32"))
    assert configure.digest(configure.encoded(wider, member)) != configure.digest(first)


def test_the_dynamic_configuration_patch_sets_changes_and_removes_dropped_parameters():
    current = {
        "ttl": 30,
        "loop_wait": 2,
        "postgresql": {"use_slots": True, "parameters": {"max_connections": 200, "old_setting": "x"}},
        "someone_elses": 1,
    }
    desired = {"ttl": 25, "loop_wait": 2, "postgresql": {"use_slots": True, "parameters": {"max_connections": 300}}}
    assert configure_agent.dcs_patch(current, desired) == {
        "ttl": 25,
        "postgresql": {"parameters": {"max_connections": 300, "old_setting": None}},
    }
    assert configure_agent.dcs_patch(desired, desired) == {}
    assert configure_agent.dcs_patch({}, {"synchronous_mode": False}) == {"synchronous_mode": False}


def test_only_files_that_differ_are_written(tmp_path):
    me = f"{pwd.getpwuid(os.getuid()).pw_name}:{grp.getgrgid(os.getgid()).gr_name}"
    same, other = tmp_path / "same.conf", tmp_path / "other.conf"
    same.write_text("a = 1\n")
    os.chmod(same, 0o640)
    other.write_text("b = 1\n")
    files = [
        {"path": str(same), "content": "a = 1\n", "mode": 0o640, "owner": me},
        {"path": str(other), "content": "b = 2\n", "mode": 0o640, "owner": me},
        {"path": str(tmp_path / "new.conf"), "content": "c = 3\n", "mode": 0o600, "owner": me},
    ]
    assert configure_agent.write_changed(files) == [str(other), str(tmp_path / "new.conf")]
    assert other.read_text() == "b = 2\n" and (os.stat(tmp_path / "new.conf").st_mode & 0o777) == 0o600
    assert configure_agent.write_changed(files) == []
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".pgp-configure-")]


def test_the_command_line_runs_the_agent_and_reports_a_failure_in_one_line(spec, tmp_path):
    bundle = configure.bundle(spec, spec.members[0])
    bundle["secrets_env"] = str(tmp_path / "missing.env")
    argv = configure.command(configure_agent.encode(bundle))
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert done.returncode == 1, done.stderr
    missing = f"No such file or directory: '{tmp_path}/missing.env'"
    assert json.loads(done.stdout) == {"error": f"FileNotFoundError: [Errno 2] {missing}"}
    assert "Traceback" not in done.stderr


def test_every_argument_fits_what_linux_allows(spec):
    for member in spec.members:
        argv = configure.command(configure.encoded(spec, member))
        assert max(len(a) for a in argv) < configure.MAX_ARGUMENT_BYTES


def test_a_rolling_restart_takes_the_replicas_first_unless_it_lowers_a_hot_standby_parameter():
    raised = {"max_locks_per_transaction": {"old_value": "64", "new_value": "128"}}
    lowered = {"max_connections": {"old_value": "300", "new_value": "200"}}
    shared = {"shared_buffers": {"old_value": "128MB", "new_value": "1GB"}}
    for reasons in (raised, shared):
        pending = {"m-1": ("primary", reasons), "m-2": ("replica", reasons), "m-3": ("replica", reasons)}
        assert configure.restart_plan(pending) == [("m-2", "restart"), ("m-3", "restart"), ("m-1", "restart")]
    pending = {"m-1": ("replica", lowered), "m-2": ("primary", lowered), "m-3": ("replica", {})}
    assert configure.restart_plan(pending) == [("m-2", "restart-in-place"), ("m-1", "restart"), ("m-3", "restart")]
    assert configure.restart_plan({"m-1": ("replica", {})}) == [("m-1", "restart")]
    with pytest.raises(ValueError, match="configure mode 'reboot'"):
        configure.command("x", "reboot")


def test_a_failed_roll_out_puts_every_member_it_reached_back_and_raises():
    """A member's apply fails: the members before it and the failing one are rolled back (newest first, so the
    first member's snapshot, taken before any change, restores the dynamic configuration last), the ones
    rolled back onto a restart-only value restart, a member never reached is left alone, and the failure
    is raised again."""
    calls: list[tuple[str, str]] = []

    def run(name: str, mode: str) -> dict:
        calls.append((name, mode))
        if (name, mode) == ("m-2", "apply"):
            raise RuntimeError("m-2: PermissionError")
        restart = ["postgresql"] if mode == "rollback" and name == "m-1" else []
        return {"member": name, "role": "replica", "actions": [mode], "restart_needed": restart}

    said: list[str] = []
    with pytest.raises(RuntimeError, match="m-2: PermissionError"):
        configure.roll_out(["m-1", "m-2", "m-3"], run, said.append)
    assert calls == [("m-1", "apply"), ("m-2", "apply"), ("m-2", "rollback"), ("m-1", "rollback"), ("m-1", "restart")]
    assert any("rolling back m-1, m-2 to the last good configuration" in line for line in said)


def test_a_failed_rolling_restart_rolls_every_member_back(spec):
    calls: list[tuple[str, str]] = []

    def run(name: str, mode: str) -> dict:
        calls.append((name, mode))
        if mode == "restart":
            raise RuntimeError(f"{name}: PostgreSQL did not start")
        return {
            "member": name,
            "role": "replica",
            "actions": [mode],
            "restart_needed": ["postgresql"] * (mode == "apply"),
        }

    with pytest.raises(RuntimeError, match="did not start"):
        configure.roll_out(["m-1", "m-2"], run, lambda _: None)
    assert calls == [("m-1", "apply"), ("m-2", "apply"), ("m-1", "restart"), ("m-2", "rollback"), ("m-1", "rollback")]
    assert configure.bundle(spec, spec.members[0])["rollback_path"].endswith("/configure-rollback.json")


def test_the_snapshot_keeps_the_running_values_of_what_the_change_sets():
    current = {"ttl": 20, "postgresql": {"parameters": {"a": 1, "b": 2}, "use_pg_rewind": True}}
    desired = {"ttl": 30, "loop_wait": 2, "postgresql": {"parameters": {"a": 5}}}
    saved = configure_agent._current_dcs(current, desired)
    assert saved == {"ttl": 20, "loop_wait": None, "postgresql": {"parameters": {"a": 1, "b": 2}}}
    # Restoring it from the changed state removes what the change added and keeps what it did not touch.
    changed = {"ttl": 30, "loop_wait": 2, "postgresql": {"parameters": {"a": 5}, "use_pg_rewind": True}}
    assert configure_agent.dcs_patch(changed, saved) == {
        "ttl": 20,
        "loop_wait": None,
        "postgresql": {"parameters": {"a": 1, "b": 2}},
    }


def test_etcd_restarts_one_member_at_a_time_before_any_postgresql_restart():
    """A change to etcd's configuration or unit restarts each member's etcd in turn (the agent refuses while
    another is unhealthy), before the rolling restart of PostgreSQL that may need the DCS for a switchover."""
    calls: list[tuple[str, str]] = []

    def run(name: str, mode: str) -> dict:
        calls.append((name, mode))
        needed = {"m-1": ["etcd", "postgresql"], "m-2": ["etcd"]}.get(name, []) if mode == "apply" else []
        return {"member": name, "role": "replica", "actions": [mode], "restart_needed": needed}

    configure.roll_out(["m-1", "m-2", "m-3"], run, lambda _: None)
    assert calls == [
        ("m-1", "apply"),
        ("m-2", "apply"),
        ("m-3", "apply"),
        ("m-1", "restart-etcd"),
        ("m-2", "restart-etcd"),
        ("m-1", "restart"),
    ]


def test_the_bundle_restarts_etcd_for_its_configuration_and_unit_and_says_how(spec):
    member = spec.members[0]
    bundle = configure.bundle(spec, member, etcd_restart=[["true"]])
    assert set(bundle["restart_files"].values()) == {"etcd"}
    assert etcd.config_path(spec, member) in bundle["restart_files"]
    assert etcd.member_settings_path(spec, member) not in bundle["restart_files"]
    assert bundle["etcd"] == {
        "settings": etcd.member_settings(spec, member),
        "restart": [["true"]],
        "leave": etcd.member_command(spec, member, "leave"),
    }
    assert configure.bundle(spec, member)["etcd"]["restart"] == [list(a) for a in ETCD_RESTART]


def test_an_etcd_restart_is_refused_while_another_member_is_unhealthy(spec, tmp_path):
    """Nothing listens on the other members' client ports: restarting this one could cost the quorum, so the
    agent refuses before it runs the restart command (which would leave a marker)."""
    from dataplane.tls import issue

    issued = issue(spec)
    ca, client = tmp_path / "ca.crt", tmp_path / "client.crt"
    key = tmp_path / "client.key"
    ca.write_bytes(issued["ca"].cert_pem)
    client.write_bytes(issued["client"].cert_pem)
    key.write_bytes(issued["client"].key_pem)
    member = spec.members[0]
    marker = tmp_path / "restarted"
    bundle = configure.bundle(spec, member, etcd_restart=[["touch", str(marker)]])
    bundle["etcd"]["settings"].update(ca=str(ca), cert=str(client), key=str(key))
    with pytest.raises(RuntimeError, match=r"etcd on .* is not healthy"):
        configure_agent.restart_etcd(bundle)
    assert not marker.exists()
