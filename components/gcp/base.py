"""What every GCP component shares: the stage's tags as GCP labels."""

from __future__ import annotations

from components.base import PlatformComponent


class GcpComponent(PlatformComponent):
    def labels(self, **extra: str) -> dict[str, str]:
        """The stage's tags as labels. AWS's `Name` tag is its console's display name, which a GCP resource's name
        already is (and an uppercase key is no label key)."""
        return {**self._tags, **extra}
