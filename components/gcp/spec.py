"""Where GCP keeps a stage's backups, as pgBackRest and the bucket see it, and the names derived once."""

from __future__ import annotations

from components.spec import cluster_spec
from dataplane.model import ClusterSpec, GcsRepository
from stacks.settings import Settings
from stacks.topology import Topology

# Google publishes Debian's images in the debian-cloud project, one family per architecture.
DEBIAN_IMAGE = {"x86_64": "debian-cloud/debian-12", "arm64": "debian-cloud/debian-12-arm64"}
# The node's service account carries the permissions; the scope only stops the token at Google's APIs.
CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"


def backup_bucket_name(settings: Settings, project: str) -> str:
    # Bucket names are global: the project id makes this one unique and predictable for restores.
    return f"{settings.name}-backups-{project}"


def gcs_repository(settings: Settings, project: str) -> GcsRepository:
    # key_type auto: pgBackRest takes the instance's service account token from the metadata server.
    return GcsRepository(path=f"/{settings.name}", bucket=backup_bucket_name(settings, project), key_type="auto")


def gcp_cluster_spec(settings: Settings, topology: Topology, project: str) -> ClusterSpec:
    return cluster_spec(settings, topology, gcs_repository(settings, project))


def machine_type_name(recorded: str) -> str:
    """The machine type's name from what an instance records, which the Compute Engine API returns as a URL
    (`.../zones/<zone>/machineTypes/<name>`) and the provider as the name alone."""
    return recorded.rsplit("/", 1)[-1]


def member_tag(name: str) -> str:
    """The network tag the firewall rules select the members by (`name` is the stage prefix)."""
    return f"{name}-member"


def monitoring_tag(name: str) -> str:
    return f"{name}-monitoring"
