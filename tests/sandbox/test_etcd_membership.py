"""Membership changes on the running prod-profile sandbox. etcd's data moved by the configure step, as a deployed
stage moves it onto the data volume: one member's etcd restarted at a time, every member keeping its etcd
identity. HA switched off and on: members leave (handover, etcd member remove) and come back as new instances
(the etcd start script's member add, a cloned replica). Writes within the RTO, and the running configuration
equal to the rendered one afterwards."""

from __future__ import annotations

import pytest

from sandbox.drills import run_drill
from sandbox.harness.result import objectives

pytestmark = pytest.mark.sandbox


def test_etcd_data_moves_member_by_member_and_every_member_keeps_its_identity(sandbox):
    result = run_drill(sandbox, "etcd_move")
    print(result.summary())
    measured = result.measurements
    assert measured["etcd_restarts"] == len(sandbox.layout.spec.members)
    assert measured["member_ids_kept"] is True
    assert measured["data_where_rendered"] is True
    assert measured["running_equals_rendered"] is True
    assert measured["acknowledged_lost"] == 0
    assert isinstance(measured["write_outage_s"], float)
    assert measured["write_outage_s"] <= objectives(sandbox).rto_seconds
    assert result.passed, result.summary()


def test_ha_off_and_on_leaves_and_joins_members_without_losing_a_commit(sandbox):
    result = run_drill(sandbox, "ha_toggle")
    print(result.summary())
    measured = result.measurements
    kept = sandbox.layout.spec.members[0].name
    everyone = sorted(m.name for m in sandbox.layout.spec.members)
    assert measured["members_off"] == {"patroni": [kept], "etcd": [kept]}
    assert measured["members_on"] == {"patroni": everyone, "etcd": everyone}
    assert measured["sync_standby_again"] is True
    assert measured["running_equals_rendered"] is True
    assert measured["acknowledged_lost"] == 0
    assert isinstance(measured["write_outage_s"], float)
    assert measured["write_outage_s"] <= objectives(sandbox).rto_seconds
    assert result.passed, result.summary()
