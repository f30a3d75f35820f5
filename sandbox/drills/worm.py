"""worm: the newest archived WAL object in the locked bucket cannot lose a version; a plain delete only hides it."""

from __future__ import annotations

from sandbox.client import Sandbox
from sandbox.harness.result import Drill, DrillOptions, DrillResult
from sandbox.services import s3

NAME = "worm"


def worm(sandbox: Sandbox, options: DrillOptions) -> DrillResult:
    """On the locked bucket a backup object's version cannot be deleted, and a delete without a version only
    hides it behind a delete marker; removing the marker brings the object back, proving nothing was lost."""

    layout = sandbox.layout
    repo = layout.s3_repository
    client = s3.client(layout)
    prefix = repo.path.strip("/") + "/"
    versions = client.list_object_versions(Bucket=repo.bucket, Prefix=prefix + "archive/").get("Versions", [])
    versions = [v for v in versions if v["IsLatest"] and not v["Key"].endswith((".info", ".info.copy"))]
    if not versions:
        return DrillResult(NAME, False, {"objects": 0}, "locked backup objects", ["no archived WAL in the bucket yet"])
    # The newest archived segment: pgBackRest wrote it moments ago, so it proves today's uploads get the lock.
    target = sorted(versions, key=lambda v: v["LastModified"])[-1]
    key, version_id = target["Key"], target["VersionId"]
    checks: dict[str, bool] = {}
    notes = [f"object {key} version {version_id}"]

    def retention() -> tuple[str | None, object]:
        head = client.head_object(Bucket=repo.bucket, Key=key, VersionId=version_id)
        return head.get("ObjectLockMode"), head.get("ObjectLockRetainUntilDate")

    lock = layout.spec.topology
    mode, until = retention()
    checks[f"locked {lock.lock_mode.value}"] = mode == lock.lock_mode.value
    notes.append(f"retention {mode} until {until}")
    try:
        client.delete_object(Bucket=repo.bucket, Key=key, VersionId=version_id)
        checks["versioned delete refused"] = False
        notes.append("versioned delete was ACCEPTED")
    except client.exceptions.ClientError as exc:
        checks["versioned delete refused"] = exc.response["Error"]["Code"] in ("AccessDenied", "InvalidRequest")
        notes.append(f"versioned delete: {exc.response['Error']['Code']}")
    marker = client.delete_object(Bucket=repo.bucket, Key=key)
    checks["plain delete leaves a delete marker"] = bool(marker.get("DeleteMarker"))
    still_there = client.get_object(Bucket=repo.bucket, Key=key, VersionId=version_id)["Body"].read()
    checks["locked version still readable"] = len(still_there) > 0
    # Delete markers carry no lock: removing it restores the object for pgBackRest.
    client.delete_object(Bucket=repo.bucket, Key=key, VersionId=marker["VersionId"])
    checks["object visible again after removing the marker"] = (
        client.head_object(Bucket=repo.bucket, Key=key)["VersionId"] == version_id
    )
    failed = [k for k, ok in checks.items() if not ok]
    return DrillResult(
        NAME,
        not failed,
        {"checks_passed": f"{len(checks) - len(failed)}/{len(checks)}"},
        f"{lock.lock_mode.value} lock for {lock.lock_days.value} days: no version of a backup object "
        f"can be deleted; a plain delete only hides it",
        notes + [f"FAILED: {k}" for k in failed],
    )


DRILL = Drill(NAME, worm)
