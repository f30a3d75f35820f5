"""GCP: the roles of components.contracts on Compute Engine, Cloud Storage, Secret Manager, IAM and Cloud
Monitoring."""

from components.gcp.platform import build

__all__ = ["build"]
