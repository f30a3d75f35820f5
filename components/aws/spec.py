"""Where AWS keeps a stage's backups, as pgBackRest and the bucket see it."""

from __future__ import annotations

from components.spec import cluster_spec
from dataplane.model import ClusterSpec, S3Repository
from stacks.settings import Settings
from stacks.topology import Topology


def backup_bucket_name(settings: Settings, account_id: str) -> str:
    # Bucket names are global: account and region make this one unique and predictable for restores.
    return f"{settings.name}-backups-{account_id}-{settings.region}"


def s3_repository(settings: Settings, account_id: str) -> S3Repository:
    return s3_repository_for_bucket(settings, backup_bucket_name(settings, account_id))


def s3_repository_for_bucket(settings: Settings, bucket: str) -> S3Repository:
    """The repository as a deployed stack names it (its `backup_bucket` output), for tools that run later."""
    return S3Repository(
        path=f"/{settings.name}",
        bucket=bucket,
        region=settings.region,
        endpoint=f"s3.{settings.region}.amazonaws.com",
        uri_style="host",
        key_type="auto",
    )


def aws_cluster_spec(settings: Settings, topology: Topology, account_id: str) -> ClusterSpec:
    return cluster_spec(settings, topology, s3_repository(settings, account_id))
