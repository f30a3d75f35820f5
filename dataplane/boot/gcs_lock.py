"""The backup bucket's write-once lock on GCP: a timer on each member that gives every live object of the bucket
without a retention its Object Retention Lock, so the bucket behaves as an S3 bucket with an Object Lock default
retention does.

Cloud Storage has no bucket-wide default for per-object retention, and a bucket retention policy (Bucket Lock)
refuses pgBackRest: it rewrites backup.info, backup.info.copy and the manifest copies on every backup and expire,
and a retention policy refuses replacing or deleting any object younger than the period (pgBackRest issue #1439).
On a versioned bucket with Object Retention Lock instead, a replaced object only becomes noncurrent and keeps its
retain-until time; what gives it that time is this timer, at most one interval after the upload.

Every member runs it (the leader writes; a standby finds nothing to lock, and after a failover the new leader
already runs it): the script lists the live objects (`GET <api>/b/<bucket>/o`, only name, generation and
retention, page by page) and PATCHes each one without a retention, by generation, with the topology's mode
(`Locked` for COMPLIANCE, `Unlocked` for GOVERNANCE) and `retainUntilTime` now + the lock's days. The token is
the instance's service account's, from the metadata server; standard library only, like the Secret Manager
client (`boot/gcp.py`). Patching an object that has no retention needs `storage.objects.update` and
`storage.objects.setRetention`, never `overrideUnlockedRetention` (which only shortens or removes one).
"""

from __future__ import annotations

import inspect
import json
import textwrap
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import timedelta

from dataplane.boot.cloud import BootFile, http_json
from dataplane.boot.cloud_config import UNIT_PREFIX

STORAGE_URL = "https://storage.googleapis.com/storage/v1"
LOCK_SCRIPT = "/usr/local/sbin/pgp-gcs-lock"
LOCK_UNIT = f"{UNIT_PREFIX}gcs-lock"
# The longest an uploaded object stays without its lock is one interval (plus the run itself).
LOCK_INTERVAL_SECONDS = 60
# S3 Object Lock's modes by their Cloud Storage JSON API names (the XML API spells them as S3 does).
GCS_MODES = {"COMPLIANCE": "Locked", "GOVERNANCE": "Unlocked"}


# fmt: off
def http_send(method, url, headers, body, attempts=5):  # no annotations: the node runs this source as it is
    """`method` `url` with a JSON body; the decoded JSON answer, or None for 404 (the object is gone). Other
    failures are retried with backoff; the error names the URL and the status, never a body."""
    data = json.dumps(body).encode()
    headers = dict(headers, **{"Content-Type": "application/json"})
    for attempt in range(attempts):
        try:
            request = urllib.request.Request(url, data=data, headers=headers, method=method)
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.load(response)
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            if (exc.code < 500 and exc.code != 429) or attempt == attempts - 1:
                raise OSError(f"{method} {url}: HTTP {exc.code}") from None
        except OSError as exc:
            if attempt == attempts - 1:
                raise OSError(f"{method} {url}: {exc}") from None
        time.sleep(min(2 ** attempt, 30))


class GcsRetentionLock:
    """Locks every live object of one bucket that has no retention yet, for the configured mode and days."""

    def __init__(self, config):
        self.config, self.token = config, ""

    def headers(self):
        if not self.token:
            self.token = http_json(self.config["metadata_token_url"], {"Metadata-Flavor": "Google"})["access_token"]
        return {"Authorization": "Bearer " + self.token}

    def unlocked(self):
        """(name, generation) of each live object without a retention, every page."""
        base = self.config["storage_url"] + "/b/" + urllib.parse.quote(self.config["bucket"], safe="") + "/o"
        query = {"fields": "items(name,generation,retention),nextPageToken"}
        while True:
            page = http_json(base + "?" + urllib.parse.urlencode(query), self.headers())
            for item in page.get("items", []):
                if not item.get("retention"):
                    yield item["name"], item["generation"]
            if not page.get("nextPageToken"):
                return
            query["pageToken"] = page["nextPageToken"]

    def retention(self, now):
        until = now + timedelta(days=self.config["lock_days"])
        return {"mode": self.config["mode"], "retainUntilTime": until.strftime("%Y-%m-%dT%H:%M:%SZ")}

    def run(self, now):
        """Lock what is unlocked; the number locked. A failure on one object does not spare the others."""
        base = self.config["storage_url"] + "/b/" + urllib.parse.quote(self.config["bucket"], safe="") + "/o/"
        locked, failed = 0, []
        for name, generation in list(self.unlocked()):
            url = base + urllib.parse.quote(name, safe="") + "?" + urllib.parse.urlencode({"generation": generation})
            try:
                if http_send("PATCH", url, self.headers(), {"retention": self.retention(now)}) is not None:
                    locked += 1
            except OSError as exc:
                failed.append(str(exc))
        if failed:
            raise SystemExit(f"{len(failed)} object(s) left unlocked: " + "; ".join(failed[:5]))
        return locked
# fmt: on


def lock_config(bucket: str, lock_mode: str, lock_days: int, metadata_url: str, storage_url: str) -> dict[str, object]:
    if lock_mode not in GCS_MODES:
        raise ValueError(f"lock mode {lock_mode!r} is not one of {', '.join(GCS_MODES)}")
    if lock_days < 1:
        raise ValueError("a retention lock of less than a day locks nothing")
    if not storage_url.startswith("https://"):
        raise ValueError(f"Cloud Storage URL {storage_url!r} is not https: it gets a bearer token")
    return {
        "bucket": bucket,
        "mode": GCS_MODES[lock_mode],
        "lock_days": lock_days,
        "metadata_token_url": metadata_url,
        "storage_url": storage_url.rstrip("/"),
    }


def render_lock_script(config: dict[str, object]) -> str:
    source = inspect.getsource(http_json) + "\n\n" + inspect.getsource(http_send) + "\n\n"
    source += inspect.getsource(GcsRetentionLock)
    return (
        "#!/usr/bin/python3\n# rendered by pg-platform dataplane; do not edit\n"
        "import json, sys, time, urllib.error, urllib.parse, urllib.request\n"
        "from datetime import datetime, timedelta, timezone\n\n"
        f"CONFIG = json.loads({json.dumps(config, sort_keys=True)!r})\n\n\n"
        + source
        + textwrap.dedent(
            """

            if __name__ == "__main__":
                locked = GcsRetentionLock(CONFIG).run(datetime.now(timezone.utc))
                print(f"locked {locked} object(s) of {CONFIG['bucket']}")
            """
        )
    )


def render_lock_service() -> str:
    return "\n".join(
        [
            "[Unit]",
            "Description=Object Retention Lock on the backup bucket's new objects",
            "Wants=network-online.target",
            "After=network-online.target",
            "",
            "[Service]",
            "Type=oneshot",
            # Needs nothing of the node but the network and the metadata server's token.
            "DynamicUser=yes",
            f"ExecStart={LOCK_SCRIPT}",
            "",
        ]
    )


def render_lock_timer() -> str:
    return "\n".join(
        [
            "[Unit]",
            "Description=Lock the backup bucket's new objects every minute",
            "",
            "[Timer]",
            f"OnBootSec={LOCK_INTERVAL_SECONDS}",
            f"OnUnitActiveSec={LOCK_INTERVAL_SECONDS}",
            "AccuracySec=5",
            "",
            "[Install]",
            "WantedBy=timers.target",
            "",
        ]
    )


def lock_files(config: dict[str, object]) -> list[BootFile]:
    return [
        BootFile(LOCK_SCRIPT, render_lock_script(config), 0o755),
        BootFile(f"/etc/systemd/system/{LOCK_UNIT}.service", render_lock_service(), 0o644),
        BootFile(f"/etc/systemd/system/{LOCK_UNIT}.timer", render_lock_timer(), 0o644),
    ]


def lock_commands() -> list[list[str]]:
    return [["systemctl", "daemon-reload"], ["systemctl", "enable", "--now", f"{LOCK_UNIT}.timer"]]
