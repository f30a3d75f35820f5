"""The seam between the boot script and the cloud it runs on: one implementation per cloud (`boot/aws.py`).

Everything else in `dataplane/boot/` is the same on every cloud: the packages and their pinned sources, the
rendered node files, the systemd units, the data volume, the boot steps. A cloud decides only what differs:
where the Debian mirror is, how a node reads a secret from the cloud's store with its own identity (the boot
script and the Alertmanager fill embed the client lines it returns), which agents it installs, and which
repository details exist only once the cloud's resources do (an encryption key's id, for example).
"""

from __future__ import annotations

import inspect
import json
import textwrap
import time
import urllib.request
from typing import Literal, NamedTuple, Protocol

from dataplane.model import Repository

# Which kind of node a boot is for: a database member, or the monitoring node.
NodeKind = Literal["member", "monitoring"]


class BootFile(NamedTuple):
    """A file a cloud's agents need on the node (written after the packages are installed)."""

    path: str
    content: str
    mode: int


class BootCloud(Protocol):
    """What the boot of a node asks its cloud. Secrets are always passed by reference (`secret_refs`), never
    by value; the node resolves them at boot with the identity the cloud gave it."""

    @property
    def secrets_store(self) -> str:
        """The store's name as people know it, for comments and unit descriptions ("Secrets Manager")."""
        ...

    @property
    def secret_ref_noun(self) -> str:
        """What a secret reference is called on this cloud ("ARN"), for the user data's header."""
        ...

    @property
    def configure_writes_roles(self) -> bool:
        """Whether the cloud's post-provision configure step writes the roles SQL before its roles step runs it,
        so the user data may leave it out."""
        ...

    def debian_mirrors(self) -> tuple[str, str]:
        """The Debian archive and security mirrors (HTTPS) nearest to the cloud's nodes."""
        ...

    def packages(self) -> list[str]:
        """Debian packages the secrets client needs (installed before the boot script runs)."""
        ...

    def config(self) -> dict[str, str]:
        """Values the secrets client reads at boot, merged into the boot script's configuration."""
        ...

    def secret_client(self, config: str) -> str:
        """Python lines, indented by four spaces, that bind `client` from the configuration dict named `config`."""
        ...

    def secret_value(self, ref: str) -> str:
        """A Python expression: the string value of the secret whose reference is the expression `ref`."""
        ...

    def agent_commands(self, node: NodeKind) -> list[list[str]]:
        """runcmd entries installing and starting the cloud's agents (remote operations, metrics)."""
        ...

    def agent_files(self, node: NodeKind, data_mount: str) -> list[BootFile]:
        """Configuration files of those agents."""
        ...

    def repositories(self, repositories: tuple[Repository, ...]) -> tuple[Repository, ...]:
        """The cluster's repositories completed with what exists only once the cloud's resources do; refuses a
        repository that is not the one the cloud built."""
        ...


# A cloud whose secrets store has a plain HTTPS API (Key Vault, Secret Manager) reads it with the standard library
# on the node: its client class and this helper are shipped into the user data as source (`stdlib_client`), so
# they stay between `# fmt: off` and `# fmt: on` and use nothing but the standard library.
# fmt: off
def http_json(url, headers, attempts=8):  # no annotations: the node runs this source as it is
    """GET `url` and decode its JSON body. Every failure is retried with backoff (about 90 s in all): the
    metadata service, the identity's role assignment and the network may all still be settling at first boot.
    The error it gives up with names the URL and the status, never a body."""
    for attempt in range(attempts):
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=30) as response:
                return json.load(response)
        except OSError as exc:
            if attempt == attempts - 1:
                raise OSError(f"GET {url}: {exc}") from None
            time.sleep(min(2 ** attempt, 30))
# fmt: on


def stdlib_client(client_class: type, config: str) -> str:
    """`BootCloud.secret_client` lines for a standard-library client: the imports, `http_json` and the class,
    indented by four spaces, binding `client = client_class(<config>)`."""
    source = (
        "import base64, json, re, time, urllib.request\n\n"
        + inspect.getsource(http_json)
        + "\n\n"
        + inspect.getsource(client_class)
        + f"\n\nclient = {client_class.__name__}({config})\n"
    )
    return textwrap.indent(source, "    ")
