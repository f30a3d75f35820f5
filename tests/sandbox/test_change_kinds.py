"""Day-two change kinds against the running prod-profile sandbox, through the configure command a cloud member
runs: the TLS minimum raised to 1.3 and put back, and the backups turned off and on, each without a restart; and
the node size changed and changed back member by member, as rolls. Each keeps writes within the RTO and leaves
every member running what was rendered."""

from __future__ import annotations

import pytest

from sandbox.drills import run_drill
from sandbox.harness.result import objectives

pytestmark = pytest.mark.sandbox


def test_tls_1_3_refuses_a_tls_1_2_client_and_keeps_writes_within_the_rto(sandbox):
    result = run_drill(sandbox, "tls_settings")
    print(result.summary())
    measured = result.measurements
    assert measured["tls12_accepted_before"] is True
    assert measured["members_changed"] == len(sandbox.layout.spec.members)
    assert measured["running_equals_rendered"] is True
    assert measured["restored"] is True
    assert measured["restart_needed"] == "none"
    assert measured["acknowledged_lost"] == 0 and measured["restored_lost"] == 0
    assert isinstance(measured["write_outage_s"], float) and isinstance(measured["restored_outage_s"], float)
    assert max(measured["write_outage_s"], measured["restored_outage_s"]) <= objectives(sandbox).rto_seconds
    assert result.passed, result.summary()


def test_backups_off_archives_nothing_and_on_again_checks_and_backs_up(sandbox):
    result = run_drill(sandbox, "backups_toggle")
    print(result.summary())
    measured = result.measurements
    assert measured["off_running_equals_rendered"] is True and measured["on_running_equals_rendered"] is True
    assert measured["pushed_while_off"] == 0
    assert measured["check_passed"] is True and isinstance(measured["full_backup_s"], float)
    assert measured["archive_resumed"] is True
    assert measured["restart_needed"] == "none"
    assert measured["acknowledged_lost"] == 0 and measured["on_lost"] == 0
    assert isinstance(measured["write_outage_s"], float) and isinstance(measured["on_outage_s"], float)
    assert max(measured["write_outage_s"], measured["on_outage_s"]) <= objectives(sandbox).rto_seconds
    assert result.passed, result.summary()


def test_a_new_node_size_rolls_member_by_member_and_shared_settings_follow_the_smallest(sandbox):
    result = run_drill(sandbox, "node_size")
    print(result.summary())
    measured = result.measurements
    assert measured["mixed_sizes_kept"] is True, "a member not yet rolled keeps its size's settings"
    assert measured["resized_everywhere"] is True and measured["back_everywhere"] is True
    assert measured["running_equals_rendered"] is True
    assert measured["acknowledged_lost"] == 0 and measured["down_lost"] == 0
    assert isinstance(measured["write_outage_s"], float) and isinstance(measured["down_outage_s"], float)
    assert max(measured["write_outage_s"], measured["down_outage_s"]) <= objectives(sandbox).rto_seconds
    assert result.passed, result.summary()
