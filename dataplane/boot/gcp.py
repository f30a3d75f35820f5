"""The boot on GCP: Secret Manager through its REST API with the instance's service account (a token from the
metadata server, standard library only), the guest agent the image ships, and Debian's CDN.

- Secrets: the node asks the metadata server for the default service account's token
  (`Metadata-Flavor: Google`), then GETs `<secret>/versions/latest:access` for each secret by its resource name
  (`projects/<project>/secrets/<name>`); the value is the base64 `payload.data`. No Google SDK: Debian has no
  Secret Manager client (bookworm's python3-google-auth is 1.5), and the two requests need nothing urllib lacks.
- Agents: Debian's GCE images carry `google-guest-agent` (from Debian main; accounts, OS Login keys, the
  metadata scripts), which operator access through IAP needs: the boot makes sure it runs. The Cloud Monitoring
  free-disk alert needs the Ops Agent's `agent.googleapis.com/disk/percent_used`; the boot does not install it.
  It comes only from Google's repository, whose signing keys rotate (the copy Debian's cloud-images repository
  vendors expired in 2023) and cannot be pinned here the way PGDG's key is (`boot/apt.py`), so the components
  install it through VM Manager's Ops Agent policy, Google's own install path, as Azure installs its monitoring
  agent as an extension.
- Mirror: Debian's GCE images set no cloud mirror and use Debian's CDN, `deb.debian.org` (debian-cloud-images,
  the GCE class), over HTTPS here.
- Repository: the bucket is a name known before any resource exists and the service account needs no key in
  pgbackrest.conf, so nothing is completed at deploy time; the boot checks it is the bucket the components built.
- Write-once: a member whose boot names a lock gets the timer that sets Object Retention Lock on the bucket's new
  objects (`boot/gcs_lock.py`), since Cloud Storage has no bucket-wide default retention for objects.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass

from dataplane.boot.cloud import BootFile, NodeKind, http_json, stdlib_client
from dataplane.boot.gcs_lock import STORAGE_URL, lock_commands, lock_config, lock_files
from dataplane.model import AzureRepository, GcsRepository, Repository, S3Repository

DEBIAN_MIRROR = "https://deb.debian.org/debian"
DEBIAN_SECURITY_MIRROR = "https://deb.debian.org/debian-security"

# The metadata server's token endpoint for the instance's own service account (plain HTTP, inside the host).
METADATA_TOKEN_URL = "http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/token"
SECRET_MANAGER_URL = "https://secretmanager.googleapis.com/v1"
GUEST_AGENT_UNIT = "google-guest-agent"
# A secret's resource name: a project id (6-30 lowercase letters, digits, hyphens) or number, and a secret id.
SECRET_NAME = r"projects/[a-z0-9-]{1,30}/secrets/[A-Za-z0-9_-]{1,255}"


# fmt: off
class SecretManager:
    """Secret Manager's REST API with the instance's service account: one token from the metadata server, then
    GET <api>/<secret>/versions/latest:access, whose payload is base64. A reference that is not a secret's
    resource name is refused before the token is sent."""

    def __init__(self, config):
        self.config, self.token = config, ""

    def get(self, ref):
        if not re.fullmatch(self.config["secret_name_pattern"], ref):
            raise ValueError(f"{ref} is not a secret's resource name (projects/<project>/secrets/<name>)")
        if not self.token:
            self.token = http_json(self.config["metadata_token_url"], {"Metadata-Flavor": "Google"})["access_token"]
        url = self.config["secret_manager_url"] + "/" + ref + "/versions/latest:access"
        payload = http_json(url, {"Authorization": "Bearer " + self.token})["payload"]
        return base64.b64decode(payload["data"], validate=True).decode()
# fmt: on


@dataclass(frozen=True)
class GcpBoot:
    """The GCP part of a node's boot (a BootCloud)."""

    bucket: str | None = None  # checked against the spec's GCS repository
    metadata_url: str = METADATA_TOKEN_URL
    secret_manager_url: str = SECRET_MANAGER_URL
    # The topology's write-once lock (VaultIntent): the members lock the bucket's new objects for lock_days.
    lock_mode: str = ""
    lock_days: int = 0
    storage_url: str = STORAGE_URL

    def __post_init__(self) -> None:
        if not self.secret_manager_url.startswith("https://"):
            raise ValueError(f"Secret Manager URL {self.secret_manager_url!r} is not https: it gets a bearer token")
        if self.lock_days:
            self.lock()  # refuses a mode, days or URL the lock could not use

    def lock(self) -> dict[str, object] | None:
        """The members' lock timer configuration, or None without a bucket and a lock."""
        if not (self.bucket and self.lock_days):
            return None
        return lock_config(self.bucket, self.lock_mode, self.lock_days, self.metadata_url, self.storage_url)

    @property
    def secrets_store(self) -> str:
        return "Secret Manager"

    @property
    def configure_writes_roles(self) -> bool:
        return False  # no configure step yet: the roles step runs the file the user data wrote

    @property
    def secret_ref_noun(self) -> str:
        return "resource name"

    def debian_mirrors(self) -> tuple[str, str]:
        return DEBIAN_MIRROR, DEBIAN_SECURITY_MIRROR

    def packages(self) -> list[str]:
        return []  # the client is the standard library's urllib

    def config(self) -> dict[str, str]:
        return {
            "metadata_token_url": self.metadata_url,
            "secret_manager_url": self.secret_manager_url.rstrip("/"),
            "secret_name_pattern": SECRET_NAME,
        }

    def secret_client(self, config: str) -> str:
        return stdlib_client(SecretManager, config)

    def secret_value(self, ref: str) -> str:
        return f"client.get({ref})"

    def agent_commands(self, node: NodeKind) -> list[list[str]]:
        guest = [["systemctl", "enable", "--now", GUEST_AGENT_UNIT]]
        return guest + (lock_commands() if node == "member" and self.lock() else [])

    def agent_files(self, node: NodeKind, data_mount: str) -> list[BootFile]:
        # The Ops Agent's default configuration already reports every mounted file system; members lock backups.
        config = self.lock() if node == "member" else None
        return lock_files(config) if config else []

    def repositories(self, repositories: tuple[Repository, ...]) -> tuple[Repository, ...]:
        for repo in repositories:
            if isinstance(repo, GcsRepository):
                if self.bucket and repo.bucket != self.bucket:
                    raise ValueError(f"boot bucket {self.bucket!r} is not the repository's bucket {repo.bucket!r}")
            elif isinstance(repo, S3Repository | AzureRepository) and repo.key_type == "auto":
                raise ValueError(f"a {repo.kind} repository with key_type auto needs that cloud's identity")
        return repositories
