"""pg-platform:tls and pg-platform:backups: two day-two settings, each checked before anything is built (naming the
key and the fix) and rendered into the members' files, where the configure step carries a change with a reload."""

from __future__ import annotations

import pytest

from components.aws.spec import aws_cluster_spec
from dataplane import cnpg, pgbackrest, prometheus, restore_drill
from dataplane.member_tools import member_tool_files
from dataplane.operations import render_backup_check
from dataplane.pgbouncer import render_pgbouncer_ini
from dataplane.postgresql import postgresql_parameters
from stacks import tls
from stacks.errors import SettingsError
from stacks.profiles import PROFILES
from stacks.reader import NAMESPACE
from stacks.topology import derive_topology
from tests.unit.stack_helpers import settings_with


def refused(stack: str, **changes) -> dict[str, tuple[str, str]]:
    """key -> (message, fix) of every problem."""
    with pytest.raises(SettingsError) as caught:
        settings_with(stack, **changes)
    return {p.key.removeprefix(f"{NAMESPACE}:"): (p.message, p.fix) for p in caught.value.problems}


def spec_for(settings):
    return aws_cluster_spec(settings, derive_topology(settings), "123456789012")


def pgbouncer_settings(text: str) -> dict[str, str]:
    return dict((k.strip(), v.strip()) for line in text.splitlines() if "=" in line for k, v in [line.split("=", 1)])


# --- pg-platform:tls -------------------------------------------------------------------------------------


def test_without_the_setting_every_server_renders_todays_tls():
    spec = spec_for(settings_with("prod"))
    member = spec.members[0]
    params = postgresql_parameters(spec, member)
    assert params["ssl_min_protocol_version"] == tls.DEFAULT_MIN_PROTOCOL == "TLSv1.2"
    assert "ssl_ciphers" not in params  # the server's own default list stays
    ini = pgbouncer_settings(render_pgbouncer_ini(spec, member))
    assert ini["client_tls_protocols"] == ini["server_tls_protocols"] == "tlsv1.2,tlsv1.3"
    assert "client_tls_ciphers" not in ini and "server_tls_ciphers" not in ini


def test_tls_1_3_only_reaches_postgresql_and_both_sides_of_pgbouncer():
    spec = spec_for(settings_with("prod", tls={"min_protocol_version": "TLSv1.3"}))
    for member in spec.members:
        assert postgresql_parameters(spec, member)["ssl_min_protocol_version"] == "TLSv1.3"
        ini = pgbouncer_settings(render_pgbouncer_ini(spec, member))
        assert ini["client_tls_protocols"] == ini["server_tls_protocols"] == "tlsv1.3"


def test_a_cipher_list_reaches_postgresql_and_pgbouncer():
    ciphers = "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL:!MD5"
    spec = spec_for(settings_with("dev", tls={"ciphers": ciphers}))
    member = spec.members[0]
    assert postgresql_parameters(spec, member)["ssl_ciphers"] == ciphers
    ini = pgbouncer_settings(render_pgbouncer_ini(spec, member))
    assert ini["client_tls_ciphers"] == ini["server_tls_ciphers"] == ciphers


def test_kubernetes_hands_the_tls_setting_to_the_cloudnativepg_cluster():
    """The operator owns the certificate files, not the protocol: ssl_min_protocol_version and ssl_ciphers pass."""
    spec = spec_for(settings_with("k8s-prod", tls={"min_protocol_version": "TLSv1.3"}))
    assert cnpg.parameters(spec)["ssl_min_protocol_version"] == "TLSv1.3"
    spec = spec_for(settings_with("k8s-prod", tls={"ciphers": "HIGH:!aNULL"}))
    assert cnpg.parameters(spec)["ssl_ciphers"] == "HIGH:!aNULL"


@pytest.mark.parametrize("version", ["TLSv1.1", "TLSv1", "SSLv3", "tlsv1.3", 1.3])
def test_a_protocol_below_1_2_or_misspelt_is_refused(version):
    problems = refused("prod", tls={"min_protocol_version": version})
    assert "tls.min_protocol_version" in problems
    assert "TLSv1.2" in problems["tls.min_protocol_version"][1] and "TLSv1.3" in problems["tls.min_protocol_version"][1]


@pytest.mark.parametrize(
    "ciphers,named",
    [
        ("HIGH:NULL-SHA", "no encryption"),
        ("HIGH:eNULL", "no encryption"),
        ("aNULL:HIGH", "no authentication"),
        ("HIGH:EXPORT", "export-grade"),
        ("EXP-RC4-MD5", "export-grade"),
        ("HIGH:RC4-SHA", "RC4"),
        ("HIGH:+3DES", "3DES"),
        ("DES-CBC-SHA", "DES"),
        ("HIGH:MEDIUM:LOW", "low-strength"),
        ("ALL:!aNULL", "every suite"),
        ("ECDHE+MD5", "MD5"),
    ],
)
def test_a_weak_cipher_list_is_refused_naming_the_weakness(ciphers, named):
    message, fix = refused("dev", tls={"ciphers": ciphers})["tls.ciphers"]
    assert named in message and "!" in fix


@pytest.mark.parametrize(
    "ciphers", ["HIGH:!aNULL:!MD5", "ECDHE-RSA-AES256-GCM-SHA384", "HIGH:!eNULL:!EXPORT:!RC4:!DES"]
)
def test_a_strong_list_that_excludes_weak_suites_is_accepted(ciphers):
    assert tls.cipher_problem(ciphers) is None
    assert settings_with("dev", tls={"ciphers": ciphers}).tls.ciphers == ciphers


@pytest.mark.parametrize("ciphers", ["HIGH'; ssl=off", "HIGH !aNULL", "", 3])
def test_a_cipher_list_that_could_break_a_config_line_is_refused(ciphers):
    assert "tls.ciphers" in refused("dev", tls={"ciphers": ciphers})


def test_ciphers_with_tls_1_3_only_are_refused_as_having_no_effect():
    message, fix = refused("dev", tls={"min_protocol_version": "TLSv1.3", "ciphers": "HIGH:!aNULL"})["tls.ciphers"]
    assert "no effect" in message and fix == "remove tls.ciphers"


def test_an_unknown_tls_key_is_refused():
    assert "tls.max_protocol_version" in refused("dev", tls={"max_protocol_version": "TLSv1.3"})


# --- pg-platform:backups ---------------------------------------------------------------------------------


def without_backups(stack: str = "dev", **changes):
    return settings_with(stack, backups={"enabled": False}, objectives__rpo_seconds=None, **changes)


def test_backups_are_on_unless_a_dev_stage_turns_them_off():
    assert settings_with("prod").backups.enabled and settings_with("dev").backups.enabled
    assert without_backups().backups.enabled is False
    assert {name for name, p in PROFILES.items() if p.backups_optional} == {"dev"}


def test_prod_refuses_backups_off_naming_the_key_and_the_fix():
    message, fix = refused("prod", backups={"enabled": False})["backups.enabled"]
    assert "prod stage must keep" in message and "remove backups.enabled" in fix


def test_a_stage_inheriting_prod_refuses_backups_off():
    problems = refused("prod", stage="staging", profile="prod", backups={"enabled": False})
    assert "backups.enabled" in problems


def test_a_stated_rpo_needs_the_archive():
    """The dev stack file states an RPO of 300 s: with one node, only the archive meets it."""
    message, fix = refused("dev", backups={"enabled": False})["backups.enabled"]
    assert "objectives.rpo_seconds" in message and "300" in message and "remove objectives.rpo_seconds" in fix


def test_kubernetes_refuses_backups_off():
    message, _ = refused("k8s-dev", backups={"enabled": False}, objectives__rpo_seconds=None)["backups.enabled"]
    assert "CloudNativePG" in message


@pytest.mark.parametrize("value", ["no", 0, "false", []])
def test_backups_enabled_must_be_a_boolean(value):
    assert "backups.enabled" in refused("dev", backups={"enabled": value})


def test_backups_off_archives_nothing_with_archive_mode_still_on():
    """archive_mode needs a restart and archive_command a reload: toggling backups only swaps the command."""
    on, off = spec_for(settings_with("dev")), spec_for(without_backups())
    member = on.members[0]
    before, after = postgresql_parameters(on, member), postgresql_parameters(off, off.members[0])
    assert before["archive_mode"] == after["archive_mode"] == "on"
    assert before["archive_command"] == pgbackrest.archive_push_command(on, member)
    assert after["archive_command"] == pgbackrest.ARCHIVE_NOTHING_COMMAND
    changed = {k for k in before if before[k] != after[k]}
    assert changed == {"archive_command"}


def test_backups_off_schedules_no_backup_and_no_restore_drill():
    on, off = spec_for(settings_with("dev")), spec_for(without_backups())
    member = off.members[0]
    assert pgbackrest.backup_schedule(off) == () and pgbackrest.backup_schedule(on)
    assert "pgbackrest" in pgbackrest.render_backup_cron(on, member)
    assert "pgbackrest" not in pgbackrest.render_backup_cron(off, member)
    tools_on, tools_off = member_tool_files(on, on.members[0]), member_tool_files(off, member)
    # The configure step carries both timers' files, so the change reaches a running member.
    assert {pgbackrest.BACKUP_CRON_FILE, restore_drill.CRON_FILE} <= set(tools_off)
    assert restore_drill.RESTORE_DRILL_COMMAND in tools_on[restore_drill.CRON_FILE][0]
    assert restore_drill.RESTORE_DRILL_COMMAND not in tools_off[restore_drill.CRON_FILE][0]
    assert "--type=full" in tools_on[pgbackrest.BACKUP_CRON_FILE][0]
    assert "--type=full" not in tools_off[pgbackrest.BACKUP_CRON_FILE][0]


def test_backups_off_ships_no_backup_alert():
    on, off = spec_for(settings_with("dev")), spec_for(without_backups())
    names_on = {r["alert"] for r in prometheus.alert_rules(on)["groups"][0]["rules"]}
    names_off = {r["alert"] for r in prometheus.alert_rules(off)["groups"][0]["rules"]}
    assert set(prometheus.BACKUP_ALERTS) <= names_on & prometheus.ALL_ALERTS
    assert names_on - names_off == set(prometheus.BACKUP_ALERTS)
    assert "WalArchivingFailing" in names_off


def test_backups_off_makes_the_post_provision_check_skip_what_could_only_fail():
    """`pgbackrest check` waits for a segment in each repository: with nothing archived `pulumi up` would fail."""
    on, off = spec_for(settings_with("dev")), spec_for(without_backups())
    checked, skipped = render_backup_check(on, on.members[0]), render_backup_check(off, off.members[0])
    assert " check\n" in checked and "--type=full" in checked
    assert " check\n" not in skipped and "--type=full" not in skipped and "stanza-create" in skipped
