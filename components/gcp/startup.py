"""How a GCE node gets the data plane's cloud-config, and what only GCP's network needs at every boot.

The data plane renders one cloud-config per node, as on every cloud; Compute Engine hands it to cloud-init
through the `user-data` metadata key, which cloud-init's GCE datasource reads. Google's Debian images do not
ship cloud-init (their guest agent runs the `startup-script` key instead), so the startup script installs it
from Debian on the node's first boot and runs its stages once; on later boots cloud-init's own units run
(and skip what ran per instance).

Two things follow from GCP alone, so they live here and not in the data plane:
- An internal passthrough Network Load Balancer does not translate ports: a packet for the read route's port
  arrives with that port. Each boot redirects it locally to the port the member serves it on (the ruleset of
  dataplane/boot/redirects.py, which Azure's members load through a unit instead).
- The Cloud Monitoring disk alert reads the Ops Agent's metrics, which only Google's repository provides; the
  startup script installs the agent with Google's install script until it is present
  (https://cloud.google.com/stackdriver/docs/solutions/agents/ops-agent/installation).
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping

from dataplane.boot.gcp import DEBIAN_MIRROR, DEBIAN_SECURITY_MIRROR
from dataplane.boot.redirects import nft_ruleset

USER_DATA_KEY = "user-data"
STARTUP_SCRIPT_KEY = "startup-script"
OPS_AGENT_INSTALLER = "https://dl.google.com/cloudagents/add-google-cloud-ops-agent-repo.sh"
NETWORK_CFG = "/etc/cloud/cloud.cfg.d/99-pg-platform-network.cfg"


def node_metadata(user_data: str, startup_script: str) -> dict[str, str]:
    return {
        USER_DATA_KEY: user_data,
        STARTUP_SCRIPT_KEY: startup_script,
        # Operator access through OS Login (IAM-checked, audited) only, never keys in project metadata.
        "enable-oslogin": "TRUE",
        "block-project-ssh-keys": "TRUE",
    }


def _https_sources() -> str:
    return (
        f"s#https?://(deb|security)\\.debian\\.org/debian-security#{DEBIAN_SECURITY_MIRROR}#g; "
        f"s#https?://deb\\.debian\\.org/debian([ /]|$)#{DEBIAN_MIRROR}\\1#g"
    )


def render_startup_script(redirects: Mapping[int, int]) -> str:
    lines = [
        "#!/bin/bash",
        "# rendered by pg-platform components/gcp: cloud-init for the user-data, the routed ports, the Ops Agent",
        "set -euo pipefail",
        "export DEBIAN_FRONTEND=noninteractive",
        "if ! command -v cloud-init >/dev/null; then",
        # The network admits HTTPS only: the image's Debian sources may name plain HTTP.
        f"  sed -i -E {shlex.quote(_https_sources())} /etc/apt/sources.list.d/*.sources /etc/apt/sources.list "
        "2>/dev/null || true",
        "  apt-get update -q",
        "  apt-get install -y -q cloud-init nftables",
        # The image's own network configuration stays: cloud-init only delivers the node's files and commands.
        f"  echo 'network: {{config: disabled}}' > {NETWORK_CFG}",
        "  cloud-init init",
        "  cloud-init modules --mode=config",
        "  cloud-init modules --mode=final",
        "fi",
    ]
    if redirects:
        lines.append(f"nft -f - <<'NFT'\n{nft_ruleset(redirects).rstrip()}\nNFT")
    lines += [
        "if ! systemctl is-enabled --quiet google-cloud-ops-agent 2>/dev/null; then",
        f"  curl -fsSL -o /tmp/add-ops-agent-repo.sh {OPS_AGENT_INSTALLER}",
        "  bash /tmp/add-ops-agent-repo.sh --also-install",
        "fi",
    ]
    return "\n".join(lines) + "\n"
