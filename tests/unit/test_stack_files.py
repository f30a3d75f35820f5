"""Malformed stack files fail with an error naming the file, the line and the config key, never a traceback;
secure values work offline as undecryptable secrets; every tool reports an unknown stack cleanly."""

from __future__ import annotations

import argparse
import json
import re

import pytest
from pulumi.runtime import config as runtime_config

from stacks.errors import SettingsError, StackFileError, UnknownStackError, UserError
from stacks.files import resolve_stack, stack_config, using_stack_file
from stacks.offline import settings_for_stack
from stacks.settings import SECRET_PLACEHOLDER_HOST
from tests.unit.stack_helpers import edited, settings_from_text, stack_text, write_stack
from tools.runner import run_stack

WEBHOOK = "webhook_url: https://events.example.com/v2/enqueue/pg-platform-prod"
CIPHERTEXT = "v1:Y2lwaGVydGV4dCBvZiB0aGUgd2ViaG9vayBVUkw="


def rejected(tmp_path, text, error=UserError) -> UserError:
    with pytest.raises(error) as caught:
        settings_from_text(tmp_path, text)
    return caught.value


def problem(error: SettingsError, key: str):
    matching = [p for p in error.problems if p.key == key]
    assert matching, f"no problem for {key}: {error}"
    return matching[0]


# --- numbers -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value,message",
    [
        ("abc", "must be a whole number"),
        ("'²'", "must be a whole number"),
        ("'٣'", "must be a whole number"),
        ("9" * 5000, "is a number of 5000 characters, more than any setting takes"),
        ("'" + "9" * 5000 + "'", "out of range 1..9"),
        ("2024-13-45", "must be a whole number"),
        ("!!int abc", "cannot be read as int"),
    ],
    ids=["word", "superscript", "arabic digit", "5000 digits", "5000 digits quoted", "bad date", "tagged word"],
)
def test_bad_integers_name_the_key(tmp_path, value, message):
    error = rejected(tmp_path, edited("prod", "nodes: 3", f"nodes: {value}"), SettingsError)
    p = problem(error, "pg-platform:cluster.nodes")
    assert message in p.message
    assert len(str(error)) < 600, "a huge value must not be printed whole"


# --- YAML --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value,message",
    [
        ("`3", "found character '`' that cannot start any token"),  # scanner
        ("[3", "expected ',' or ']'"),  # parser
        ("*nope", "found undefined alias 'nope'"),  # composer
    ],
    ids=["scanner", "parser", "composer"],
)
def test_yaml_syntax_errors_name_file_line_and_key(tmp_path, value, message):
    error = rejected(tmp_path, edited("prod", "nodes: 3", f"nodes: {value}"), StackFileError)
    line = next(i for i, row in enumerate(stack_text("prod").splitlines(), 1) if "nodes: 3" in row)
    text = str(error)
    assert text.startswith("Pulumi.prod.yaml: line ") and message in text
    assert "(in pg-platform:cluster)" in text and f"line {line}" in text


@pytest.mark.parametrize(
    "value,message",
    [
        ("!!python/object/apply:os.system [echo]", "YAML tag !!python/object/apply:os.system is not supported"),
        ("!!binary aGVsbG8=", "YAML tag !!binary is not supported"),
        ("!!set {a: null}", "YAML tag !!set is not supported"),
        ("!Ref nodes", "YAML tag !Ref is not supported"),
        ("!!bool maybe", "cannot be read as bool"),
        ("&loop [*loop]", "refers to itself through a YAML alias"),
    ],
    ids=["python object", "binary", "set", "local tag", "bad bool", "recursive alias"],
)
def test_yaml_constructor_errors_name_the_key(tmp_path, value, message):
    error = rejected(tmp_path, edited("prod", "nodes: 3", f"nodes: {value}"), SettingsError)
    assert next(p.key for p in error.problems).startswith("pg-platform:cluster.nodes")
    assert message in str(error) and "Pulumi.prod.yaml line" in str(error)


def test_alias_bombs_stop_early(tmp_path):
    lines = ["config:", "  aws:region: eu-central-1", "  pg-platform:x0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    lines += [f"  pg-platform:x{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    error = rejected(tmp_path, "\n".join(lines) + "\n", StackFileError)
    assert "expands to more than" in str(error) and "pg-platform:x" in str(error)


@pytest.mark.parametrize(
    "text,message",
    [
        ("- a\n- b\n", "is a YAML list, not a mapping"),
        ("just text\n", "is a YAML str, not a mapping"),
        ("config: [1, 2]\n", "`config` is a YAML list, not a mapping"),
        ("confg:\n  aws:region: eu-central-1\n", "unknown top-level key(s) 'confg'"),
        ("config: {}\n---\nconfig: {}\n", "expected a single document"),
    ],
)
def test_files_that_are_not_a_stack_mapping(tmp_path, text, message):
    assert message in str(rejected(tmp_path, text, StackFileError))


def test_a_file_that_is_not_utf8(tmp_path):
    data = stack_text("prod").replace("team-data-platform", "t\xe9am-data-platform").encode("latin-1")
    error = rejected(tmp_path, data, StackFileError)
    assert "byte 0xe9 is not UTF-8" in str(error) and "(in pg-platform:tags)" in str(error)


def test_control_characters(tmp_path):
    error = rejected(tmp_path, edited("prod", "nodes: 3", "nodes: 3\x07"), StackFileError)
    assert "is not allowed in YAML" in str(error) and "pg-platform:cluster" in str(error)


def test_a_missing_stack_file_lists_the_stacks(tmp_path):
    write_stack(tmp_path, "dev", stack_text("dev"))
    with pytest.raises(UnknownStackError, match=r"no stack file .*Pulumi\.prod\.yaml; stacks found in .*: dev"):
        settings_for_stack("prod", tmp_path)


@pytest.mark.parametrize(
    "old,new,key",
    [
        ("    worm_days: 14\n", "    worm_days: 14\n    rpo_seconds: 5\n", "pg-platform:objectives.rpo_seconds"),
        (
            "  pg-platform:tags:\n",
            "  pg-platform:objectives: {rpo_seconds: 300}\n  pg-platform:tags:\n",
            "pg-platform:objectives",
        ),
    ],
    ids=["nested", "top-level"],
)
def test_duplicate_keys_are_errors(tmp_path, old, new, key):
    text = edited("prod", old, new)
    word = key.rsplit(".", 1)[-1] if "." in key else key
    lines = [i for i, row in enumerate(text.splitlines(), 1) if row.strip().startswith(f"{word}:")]
    error = rejected(tmp_path, text, SettingsError)
    assert f"is given twice (lines {lines[0]} and {lines[1]})" in problem(error, key).message


def test_a_misspelt_namespace_in_the_file_is_reported_not_replaced_by_defaults(tmp_path):
    error = rejected(tmp_path, edited("prod", "pg-platform:objectives:", "pg-platfrom:objectives:"), SettingsError)
    assert problem(error, "pg-platfrom:objectives").fix == "rename it pg-platform:objectives"


def test_dates_stay_text(tmp_path):
    settings = settings_from_text(tmp_path, edited("prod", "owner: team-data-platform", "owner: 2025-01-01"))
    assert settings.tags["owner"] == "2025-01-01"


# --- secure values -----------------------------------------------------------------------------------------------


def test_a_secure_webhook_works_offline(tmp_path):
    write_stack(tmp_path, "prod", edited("prod", WEBHOOK, f"webhook_url: {{secure: {CIPHERTEXT}}}"))
    config = stack_config("prod", tmp_path)
    assert config.secret_keys == ["pg-platform:monitoring"]
    settings = settings_for_stack("prod", tmp_path)
    hook = settings.monitoring.receivers[1].webhook_url
    assert re.fullmatch(rf"https://{re.escape(SECRET_PLACEHOLDER_HOST)}/[0-9a-f]{{16}}", hook)
    assert settings.secret_keys == {"pg-platform:monitoring"}
    # Deterministic: the same ciphertext gives the same placeholder, another one another.
    assert settings_for_stack("prod", tmp_path).monitoring.receivers[1].webhook_url == hook
    other = settings_from_text(tmp_path, edited("prod", WEBHOOK, "webhook_url: {secure: v1:b3RoZXI=}"))
    assert other.monitoring.receivers[1].webhook_url != hook


def test_the_program_gets_the_secret_key_and_no_ciphertext(tmp_path):
    source = resolve_stack(
        write_stack(tmp_path, "prod", edited("prod", WEBHOOK, f"webhook_url: {{secure: {CIPHERTEXT}}}"))
    )
    with using_stack_file(source):
        plan = run_stack("prod")
    assert runtime_config.is_config_secret("pg-platform:monitoring")
    saved = json.dumps(plan.to_json())
    assert CIPHERTEXT not in saved and "events.example.com" not in saved
    assert len(plan.resources) == len(run_stack("prod").resources)


def test_secure_values_in_overrides_are_read_like_the_file():
    config = stack_config("prod")
    monitoring = json.loads(config.values["pg-platform:monitoring"])
    monitoring["receivers"][1]["webhook_url"] = {"secure": CIPHERTEXT}
    plan = run_stack("prod", overrides={"pg-platform:monitoring": monitoring})
    assert runtime_config.is_config_secret("pg-platform:monitoring") and plan.resources


@pytest.mark.parametrize(
    "old,new,key",
    [
        ("nodes: 3", "nodes: {secure: v1:abc}", "pg-platform:cluster.nodes"),
        (
            "  pg-platform:stage: prod\n",
            "  pg-platform:stage: prod\n  pg-platform:x: {secure: v1:abc}\n",
            "pg-platform:x",
        ),
        ("  aws:region: eu-central-1\n", "  aws:region: {secure: v1:abc}\n", "aws:region"),
        ("email: dba-oncall@example.com", "email: {secure: v1:abc}", "pg-platform:monitoring.receivers[0].email"),
    ],
    ids=["cluster.nodes", "top-level", "aws:region", "email"],
)
def test_secure_values_where_no_secret_belongs(tmp_path, old, new, key):
    error = rejected(tmp_path, edited("prod", old, new), SettingsError)
    assert "is a secure (encrypted) value" in problem(error, key).message
    assert problem(error, key).fix.startswith("write it in plain text")


def test_a_provider_secret_is_passed_on_as_a_secret(tmp_path):
    text = edited(
        "prod", "  aws:region: eu-central-1\n", "  aws:region: eu-central-1\n  aws:secretKey: {secure: v1:abc}\n"
    )
    write_stack(tmp_path, "prod", text)
    config = stack_config("prod", tmp_path)
    assert config.secret_keys == ["aws:secretKey"] and config.values["aws:secretKey"].startswith("secure-value-")


# --- tools ---------------------------------------------------------------------------------------------------------


def _ns(**kwargs) -> argparse.Namespace:
    return argparse.Namespace(**kwargs)


@pytest.mark.parametrize(
    "command,args",
    [
        ("topology", _ns(stack=["nope"], json=False)),
        ("run", _ns(stack=["nope"], json=None, counts=False)),
        ("plan", _ns(stack="nope", format="text", output=None, json=None, pack_config=None, pack_dir="policy")),
        ("diff", _ns(stacks=["dev", "nope"], base=None, head=None, format="text", output=None)),
    ],
)
def test_every_tool_names_an_unknown_stack(command, args, capsys):
    import importlib

    from tools.__main__ import COMMANDS

    assert importlib.import_module(COMMANDS[command][0]).main(args) == 2
    err = capsys.readouterr().err
    # Every root stack file is listed (the clouds' stacks sort between dev and prod).
    listed = err.partition("stacks found in ")[2].partition(": ")[2].partition(" (or")[0].split(", ")
    assert "no stack 'nope'" in err and {"dev", "prod"} <= set(listed) and "Traceback" not in err


def test_tools_take_a_stack_file_outside_the_repository(tmp_path, capsys):
    from tools import run as run_tool
    from tools import topology_cmd

    path = write_stack(tmp_path, "review", edited("prod", "rto_seconds: 35 ", "rto_seconds: 40 "))
    assert topology_cmd.main(_ns(stack=[str(path)], json=True)) == 0
    assert json.loads(capsys.readouterr().out)["ttl"]["value"] == 25
    assert run_tool.main(_ns(stack=[str(path)], json=None, counts=False)) == 0
    assert "stack review: " in capsys.readouterr().out


def test_tools_report_a_bad_stack_file_given_by_path(tmp_path, capsys):
    from tools.__main__ import main

    path = write_stack(tmp_path, "review", edited("prod", "nodes: 3", "nodes: [3"))
    for command in ("topology", "run", "plan"):
        assert main([command, "--stack", str(path)]) == 2
        err = capsys.readouterr().err
        assert "(in pg-platform:cluster)" in err and "Traceback" not in err
    assert main(["topology", "--stack", str(tmp_path / "review.yaml")]) == 2
    assert "a stack file is named Pulumi.<stack>.yaml" in capsys.readouterr().err


def test_the_command_line_catches_any_user_error(monkeypatch, capsys):
    from stacks.errors import UserError
    from tools import topology_cmd
    from tools.__main__ import main

    def refuse(args):
        raise UserError("the provider would refuse this")

    monkeypatch.setattr(topology_cmd, "main", refuse)
    assert main(["topology"]) == 2
    assert "tools topology: the provider would refuse this" in capsys.readouterr().err


def test_a_stage_beyond_dev_and_prod_passes_its_profiles_gate():
    """The staging example inherits prod: the offline constraint check passes, and the pack runs with prod's
    (mandatory) config and finds nothing."""
    from pathlib import Path

    from tools import plan as plan_tool

    source = resolve_stack(Path(__file__).parent / "stacks" / "Pulumi.staging.yaml")
    with using_stack_file(source):
        plan, analysis, timings = plan_tool.run(source.name)
    assert timings["pack_config"].endswith("policy/config/prod.json")
    assert analysis.diagnostics == []
    assert {c["enforcementLevel"] for c in analysis.config.values()} <= {"mandatory", "disabled"}
    assert any(r.name == "pgp-staging-cluster" for r in plan.resources)
