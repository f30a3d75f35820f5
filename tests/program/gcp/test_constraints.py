"""The API checks the GCP build added to tools/constraints/gcp.py: Cloud DNS, the bucket's retention period in
the string form pulumi-gcp 10 sends, and the members' lock role (a custom role's id and title)."""

from __future__ import annotations

import pytest

from tests.unit.test_constraints_gcp import broken


@pytest.mark.parametrize(
    "type_token,inputs,path,limit",
    [
        ("gcp:dns/managedZone:ManagedZone", {"name": "Private_Zone"}, "name", "pattern"),
        ("gcp:dns/managedZone:ManagedZone", {"name": "z" * 64}, "name", "length 1..63"),
        ("gcp:dns/managedZone:ManagedZone", {"visibility": "internal"}, "visibility", "one of"),
        ("gcp:dns/managedZone:ManagedZone", {"dnsName": "pg-platform.internal"}, "dnsName", "ending in '.'"),
        ("gcp:dns/managedZone:ManagedZone", {"labels": {"Owner": "x"}}, "labels.Owner (key)", "lowercase"),
        ("gcp:dns/recordSet:RecordSet", {"name": "prod.pg-platform.internal"}, "name", "ending in '.'"),
        (
            "gcp:storage/bucket:Bucket",
            {"retentionPolicy": {"retentionPeriod": "0"}},
            "retentionPolicy.retentionPeriod",
            "between 1",
        ),
        (
            "gcp:storage/bucket:Bucket",
            {"retentionPolicy": {"retentionPeriod": "14d"}},
            "retentionPolicy.retentionPeriod",
            "whole seconds",
        ),
        ("gcp:projects/iAMCustomRole:IAMCustomRole", {"roleId": "pgp-prod-lock"}, "roleId", "pattern"),
        ("gcp:projects/iAMCustomRole:IAMCustomRole", {"roleId": "pg"}, "roleId", "length 3..64"),
        ("gcp:projects/iAMCustomRole:IAMCustomRole", {"title": "t" * 101}, "title", "at most 100 UTF-8 bytes"),
        ("gcp:projects/iAMCustomRole:IAMCustomRole", {"stage": "STABLE"}, "stage", "one of"),
    ],
)
def test_invalid_values_are_refused(type_token, inputs, path, limit):
    found = broken(type_token, inputs)
    assert path in found and any(limit in text for text in found[path]), found


def test_valid_values_pass():
    assert not broken(
        "gcp:dns/managedZone:ManagedZone",
        {"name": "pgp-prod-network-private-zone-1a2b3c4", "dnsName": "pg-platform.internal.", "visibility": "private"},
    )
    assert not broken("gcp:dns/recordSet:RecordSet", {"name": "prod.pg-platform.internal."})
    assert not broken("gcp:storage/bucket:Bucket", {"retentionPolicy": {"retentionPeriod": str(14 * 86_400)}})
    assert not broken(
        "gcp:projects/iAMCustomRole:IAMCustomRole",
        {"roleId": "pgp_gcpprod_backupObjectLock", "title": "pgp-gcpprod backup object lock", "stage": "GA"},
    )
