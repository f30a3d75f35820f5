"""The stack's journal against an S3 with Object Lock as AWS runs it (moto in process): each entry is its own
object under the bucket's default retention, read back in order, and summarised for the inventory."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
import pytest
from moto import mock_aws

from dataplane import journal

T0 = datetime(2026, 12, 2, 21, 0, tzinfo=UTC)


@pytest.fixture()
def locked_bucket():
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="pgp-prod-backups", ObjectLockEnabledForBucket=True)
        s3.put_object_lock_configuration(
            Bucket="pgp-prod-backups",
            ObjectLockConfiguration={
                "ObjectLockEnabled": "Enabled",
                "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 7}},
            },
        )
        yield s3


def test_entries_are_locked_objects_read_back_in_order_and_summarised(locked_bucket):
    store = journal.S3Journal(locked_bucket, "pgp-prod-backups", "pgp-prod")
    written = [
        journal.entry("up", "alice", "ok", 61.0, now=T0),
        journal.entry("backup", "alice", "ok", 12.3, {"type": "full"}, now=T0 + timedelta(minutes=1)),
        journal.entry(journal.RESTORE_DRILL, "ci", "failed", 30, now=T0 + timedelta(minutes=2)),
        journal.entry(journal.RESTORE_DRILL, "ci", "ok", 9.9, now=T0 + timedelta(minutes=3)),
        journal.entry("switchover", "bob", "ok", 5.5, {"to": "m2"}, now=T0 + timedelta(minutes=4)),
    ]
    keys = [store.append(e) for e in reversed(written)]  # written out of order: the keys sort by time anyway
    assert all(k.startswith("journal/pgp-prod/2026/12/02/2026-12-02T21:0") for k in keys)
    head = locked_bucket.head_object(Bucket="pgp-prod-backups", Key=keys[0])
    assert head["ObjectLockMode"] == "COMPLIANCE"  # the bucket's retention: append-only by the storage's rules
    read = store.entries()
    assert read == written
    summary = journal.summary(read)
    assert summary["last_backup"]["details"] == {"type": "full"}
    assert summary["last_restore_drill"]["result"] == "ok"
    assert summary["last_successful_restore_drill"]["at"] == written[3].at
    assert summary["last_failover_drill"] is None
    assert summary["last_switchover"]["who"] == "bob"
    assert summary["entries"] == 5 and len(summary["recent"]) == 5
    # Another stack's journal in the same bucket is not this one's.
    assert journal.S3Journal(locked_bucket, "pgp-prod-backups", "pgp-dev").entries() == []


def test_a_result_is_ok_or_failed():
    with pytest.raises(ValueError, match="journal result 'maybe'"):
        journal.entry("backup", "alice", "maybe")
