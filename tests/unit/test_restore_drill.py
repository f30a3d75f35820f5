"""The scheduled restore drill (dataplane/restore_drill.py) without a cluster: its schedule and alert bound per
stage, the script and timer the AWS members get through the configure step, and the alerts that watch it. The
script runs for real on the sandbox in tests/sandbox/test_restore_drill_timer.py."""

from __future__ import annotations

import subprocess

import pytest

from dataplane import configure, configure_agent, prometheus, restore_drill
from dataplane.member_tools import member_tool_files
from stacks.offline import settings_for_stack
from stacks.topology import derive_topology, restore_drill_schedule
from tools.console_aws import aws_spec


@pytest.fixture(scope="module")
def prod():
    spec = aws_spec("prod", "pgp-prod-backups")
    return spec, spec.members[0]


def test_prod_drills_daily_and_dev_weekly_after_the_nightly_backups():
    prod, dev = (derive_topology(settings_for_stack(s)).restore_drill.value for s in ("prod", "dev"))
    assert (prod.cron, prod.max_age_seconds) == ("30 3 * * *", 30 * 3600)
    assert (dev.cron, dev.max_age_seconds) == ("30 3 * * 0", 7 * 86400 + 6 * 3600)
    with pytest.raises(ValueError, match="daily or weekly"):
        restore_drill_schedule(3)


def test_only_clouds_with_a_configure_step_schedule_it():
    for stack in ("azure-prod", "k8s-prod"):
        topology = derive_topology(settings_for_stack(stack))
        assert "restore_drill" in dict(topology.unused), stack
        rules = prometheus.cluster_alert_rules("s", topology)["groups"][0]["rules"]
        assert not {r["alert"] for r in rules} & {"RestoreDrillTooOld", "RestoreDrillFailed"}, stack
    for stack in ("prod", "gcp-prod"):
        topology = derive_topology(settings_for_stack(stack))
        assert "restore_drill" not in dict(topology.unused), stack
        rules = prometheus.cluster_alert_rules("s", topology)["groups"][0]["rules"]
        assert {r["alert"] for r in rules} >= {"RestoreDrillTooOld", "RestoreDrillFailed"}, stack


def test_the_script_is_valid_bash_and_restores_the_chosen_backup_beside_the_member(prod):
    spec, member = prod
    script = restore_drill.render_restore_drill(spec, member)
    subprocess.run(["bash", "-n"], input=script, text=True, check=True)
    restore = next(line for line in script.splitlines() if line.endswith(" restore"))
    assert '--type=immediate "--set=$backup_set" "--repo=$repo" --target-action=promote' in restore
    assert '"--lock-path=$aux/pgbackrest/lock"' in restore
    assert f"https://{member.host}:{member.ports.patroni_rest}/cluster" in script
    assert "--no-role-passwords >/dev/null" in script
    verify = f"{spec.paths_for(member).pgbackrest_bin} --config="
    assert any(
        line.startswith(f"as_service {verify}") and line.endswith(' verify "--repo=$repo"')
        for line in script.splitlines()
    )
    assert script.index(' verify "--repo=$repo"') < script.index(restore)
    # The outcome is written on every exit, after the instance is gone.
    cleanup = script[script.index("cleanup() {") : script.index("trap cleanup EXIT")]
    assert cleanup.index('rm -rf "$aux"') < cleanup.index(restore_drill.METRICS_FILE) < cleanup.index("journal_append")
    assert "'drill restore'" in cleanup and '"name": "pgp-prod-backups"' in cleanup


def test_the_timer_runs_it_as_root_into_the_journal_and_the_configure_step_carries_both(prod):
    spec, member = prod
    cron = restore_drill.render_cron(spec, member, spec.topology.restore_drill.value)
    timer = "30 3 * * * root /usr/local/sbin/pgp-restore-drill --scheduled 2>&1 | systemd-cat -t pgp-restore-drill"
    assert timer in cron
    files = configure_agent.decode(configure.encoded(spec, member, member_tool_files(spec, member)))["files"]
    by_path = {f["path"]: f for f in files}
    assert by_path[restore_drill.RESTORE_DRILL_COMMAND]["mode"] == 0o700
    assert by_path[restore_drill.CRON_FILE]["content"] == cron


def test_the_alerts_bound_the_last_success_and_catch_a_failed_run(prod):
    spec, _ = prod
    rules = {r["alert"]: r for r in prometheus.alert_rules(spec)["groups"][0]["rules"]}
    too_old, failed = rules["RestoreDrillTooOld"]["expr"], rules["RestoreDrillFailed"]["expr"]
    assert f"max({restore_drill.LAST_SUCCESS}) > 108000" in too_old
    # A cluster younger than one drill interval has no finding yet: the absence counts once Prometheus holds it.
    assert "absent(" in too_old and "prometheus_tsdb_lowest_timestamp_seconds" in too_old
    assert failed == f"max({restore_drill.LAST_RUN}) > max({restore_drill.LAST_SUCCESS})"
