"""The stack's journal: what was done to the cluster, by whom, when, and how it ended (operator actions through
`pgp`, drills, a sandbox `up`). One object per entry in the stack's locked backup bucket, under
`journal/<scope>/`, beside pgBackRest's repository and never written twice: the bucket's default Object Lock
retention keeps every entry for the WORM period, so the journal is append-only by the storage's own rules.

The entries are pure data; `S3Journal` only calls the S3 client it is given (the sandbox's emulator, or the
operator's own AWS credentials)."""

from __future__ import annotations

import hashlib
import json
import uuid
from base64 import b64encode
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

JOURNAL_PREFIX = "journal"
RESULTS = ("ok", "failed")


def drill_action(name: str) -> str:
    return f"drill {name}"


# The drills whose last run the inventory reports by name.
RESTORE_DRILL = drill_action("restore")
FAILOVER_DRILL = drill_action("failover")
RECENT_ENTRIES = 10


@dataclass(frozen=True)
class Entry:
    at: str  # ISO 8601, UTC, microseconds: keys sort by it
    who: str
    action: str  # "switchover", "backup", "drill restore", "up", ...
    result: str  # one of RESULTS
    seconds: float | None = None
    details: Mapping[str, Any] = field(default_factory=dict)
    duty: str | None = None  # the duty acted as (`pgp --as`, dataplane/duties.py); None: the caller's own identity


def entry(
    action: str,
    who: str,
    result: str,
    seconds: float | None = None,
    details: Mapping[str, Any] | None = None,
    now: datetime | None = None,
    duty: str | None = None,
) -> Entry:
    if result not in RESULTS:
        raise ValueError(f"journal result {result!r} is not one of {RESULTS}")
    at = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return Entry(at, who, action, result, None if seconds is None else round(seconds, 1), dict(details or {}), duty)


def prefix(scope: str) -> str:
    return f"{JOURNAL_PREFIX}/{scope}/"


def key(scope: str, item: Entry, unique: str | None = None) -> str:
    """Time-ordered and unique: listing the prefix returns the entries oldest first."""
    day = item.at[:10].replace("-", "/")
    slug = "".join(c if c.isalnum() else "-" for c in item.action)
    return f"{prefix(scope)}{day}/{item.at}-{slug}-{unique or uuid.uuid4().hex[:12]}.json"


def encode(item: Entry) -> bytes:
    return json.dumps(asdict(item), sort_keys=True, default=str).encode()


def decode(body: bytes) -> Entry:
    data = json.loads(body)
    return Entry(
        data["at"],
        data["who"],
        data["action"],
        data["result"],
        data.get("seconds"),
        data.get("details", {}),
        # Entries written before duties existed have none.
        data.get("duty"),
    )


def summary(entries: Sequence[Entry]) -> dict[str, Any]:
    """What the inventory shows from the journal: the last of each kind an operator asks after, and the
    latest entries."""
    ordered = sorted(entries, key=lambda e: e.at)

    def last(action: str, ok_only: bool = False) -> dict[str, Any] | None:
        found = [e for e in ordered if e.action == action and (e.result == "ok" or not ok_only)]
        return asdict(found[-1]) if found else None

    return {
        "last_backup": last("backup"),
        "last_restore_drill": last(RESTORE_DRILL),
        "last_successful_restore_drill": last(RESTORE_DRILL, ok_only=True),
        "last_failover_drill": last(FAILOVER_DRILL),
        "last_switchover": last("switchover"),
        "recent": [asdict(e) for e in ordered[-RECENT_ENTRIES:]],
        "entries": len(ordered),
    }


class S3Journal:
    """The journal in an S3 bucket with Object Lock: a put per entry, a listing to read it back."""

    def __init__(self, client: Any, bucket: str, scope: str):
        self.client, self.bucket, self.scope = client, bucket, scope

    def append(self, item: Entry) -> str:
        body = encode(item)
        name = key(self.scope, item)
        # S3 refuses a put into an Object Lock bucket without an integrity header.
        digest = b64encode(hashlib.md5(body, usedforsecurity=False).digest()).decode()
        self.client.put_object(
            Bucket=self.bucket, Key=name, Body=body, ContentType="application/json", ContentMD5=digest
        )
        return name

    def entries(self) -> list[Entry]:
        found: list[Entry] = []
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix(self.scope))
        for page in pages:
            for item in page.get("Contents", []):
                body = self.client.get_object(Bucket=self.bucket, Key=item["Key"])["Body"].read()
                found.append(decode(body))
        return found
