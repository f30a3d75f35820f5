"""The boot on Azure: Key Vault through its REST API with the VM's user-assigned managed identity (a token from
the instance metadata service, standard library only), the Azure Linux VM agent the image ships, and Debian's CDN.

- Secrets: the node asks IMDS for a token for Key Vault (`resource=https://vault.azure.net`, the identity picked
  by its client id, since a VM may carry several identities), then GETs each secret by its id
  (`https://<vault>.vault.azure.net/secrets/<name>`). No Azure SDK: Debian's only one, python3-azure, is the
  whole SDK in one package (543 MB installed, two dozen dependencies) for two requests urllib makes as well.
- Agents: Debian's Azure images carry `waagent` (the Azure Linux VM agent, unit `walinuxagent`). It runs the VM
  extensions: Run Command (the post-provision steps, operator commands) and the Azure Monitor Agent, which the
  components install as an extension with the data collection rule that feeds the free-disk alert. The boot
  installs neither; it only makes sure the agent that carries them runs.
- Mirror: Debian's Azure images point at `http://azure.deb.debian.cloud` (debian-cloud-images, the bookworm
  AZURE class). That configuration is plain HTTP and the nodes fetch packages over HTTPS only, so they use
  Debian's own CDN, `https://deb.debian.org`, which serves HTTPS.
- Repository: the storage account and container are known before any resource exists (they are names), and the
  managed identity needs no key in pgbackrest.conf, so nothing is completed at deploy time; the boot checks
  that the repository is the account and container the components built.
"""

from __future__ import annotations

import re
import urllib.parse
import uuid
from dataclasses import dataclass

from dataplane.boot.cloud import BootFile, NodeKind, http_json, stdlib_client
from dataplane.boot.redirects import redirect_commands, redirect_files
from dataplane.model import AzureRepository, GcsRepository, Repository, S3Repository

DEBIAN_MIRROR = "https://deb.debian.org/debian"
DEBIAN_SECURITY_MIRROR = "https://deb.debian.org/debian-security"

# The instance metadata service's token endpoint (plain HTTP on the link-local address, header Metadata: true).
IMDS_TOKEN_URL = "http://169.254.169.254/metadata/identity/oauth2/token"
IMDS_API_VERSION = "2018-02-01"
KEY_VAULT_RESOURCE = "https://vault.azure.net"
KEY_VAULT_API_VERSION = "7.4"
VM_AGENT_UNIT = "walinuxagent"  # Debian's waagent package


# fmt: off
class KeyVault:
    """Key Vault's REST API with the VM's managed identity: one token from IMDS, then GET <secret id>. A
    reference outside the configured vault is refused before the token is sent anywhere."""

    def __init__(self, config):
        self.config, self.token = config, ""

    def get(self, ref):
        vault = self.config["vault_url"] + "/secrets/"
        if not re.fullmatch(re.escape(vault) + r"[0-9A-Za-z-]{1,127}(/[0-9a-f]{32})?", ref):
            raise ValueError(f"{ref} is not a secret id in {self.config['vault_url']}")
        if not self.token:
            self.token = http_json(self.config["imds_token_url"], {"Metadata": "true"})["access_token"]
        url = ref + "?api-version=" + self.config["key_vault_api_version"]
        return http_json(url, {"Authorization": "Bearer " + self.token})["value"]
# fmt: on


@dataclass(frozen=True)
class AzureBoot:
    """The Azure part of a node's boot (a BootCloud)."""

    identity_client_id: str  # the user-assigned managed identity's client id (a GUID)
    vault_url: str  # the Key Vault's URI, https://<vault>.vault.azure.net[/]
    account: str | None = None  # checked against the spec's Azure repository
    container: str | None = None
    imds_url: str = IMDS_TOKEN_URL
    # (client port, member port) of the routes the load balancer sends to the client's port (boot/redirects.py)
    port_redirects: tuple[tuple[int, int], ...] = ()

    def __post_init__(self) -> None:
        uuid.UUID(self.identity_client_id)  # a managed identity's client id is a GUID; ValueError otherwise
        if not self.vault_url.startswith("https://"):
            raise ValueError(f"Key Vault URL {self.vault_url!r} is not https: the node sends it a bearer token")

    @property
    def secrets_store(self) -> str:
        return "Key Vault"

    @property
    def configure_writes_roles(self) -> bool:
        return False  # no configure step yet: the roles step runs the file the user data wrote

    @property
    def secret_ref_noun(self) -> str:
        return "id"

    def debian_mirrors(self) -> tuple[str, str]:
        return DEBIAN_MIRROR, DEBIAN_SECURITY_MIRROR

    def packages(self) -> list[str]:
        # The secrets client is the standard library's urllib; nftables carries the redirected client ports.
        return ["nftables"] if self.port_redirects else []

    def config(self) -> dict[str, str]:
        query = {"api-version": IMDS_API_VERSION, "resource": KEY_VAULT_RESOURCE, "client_id": self.identity_client_id}
        return {
            "imds_token_url": f"{self.imds_url}?{urllib.parse.urlencode(query)}",
            "vault_url": self.vault_url.rstrip("/"),
            "key_vault_api_version": KEY_VAULT_API_VERSION,
        }

    def secret_client(self, config: str) -> str:
        return stdlib_client(KeyVault, config)

    def secret_value(self, ref: str) -> str:
        return f"client.get({ref})"

    def agent_commands(self, node: NodeKind) -> list[list[str]]:
        # Every node: Run Command and the monitoring extension both go through the VM agent.
        redirects = redirect_commands(self.port_redirects) if node == "member" else []
        return [["systemctl", "enable", "--now", VM_AGENT_UNIT], *redirects]

    def agent_files(self, node: NodeKind, data_mount: str) -> list[BootFile]:
        # The Azure Monitor Agent's configuration is a data collection rule, not a file.
        return redirect_files(dict(self.port_redirects)) if node == "member" else []

    def repositories(self, repositories: tuple[Repository, ...]) -> tuple[Repository, ...]:
        for repo in repositories:
            if isinstance(repo, AzureRepository):
                if self.account and repo.account != self.account:
                    raise ValueError(f"boot account {self.account!r} is not the repository's {repo.account!r}")
                if self.container and repo.container != self.container:
                    raise ValueError(f"boot container {self.container!r} is not the repository's {repo.container!r}")
            elif isinstance(repo, S3Repository | GcsRepository) and repo.key_type == "auto":
                raise ValueError(f"a {repo.kind} repository with key_type auto needs that cloud's identity")
        return repositories
