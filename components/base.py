"""What every component shares: child options derived from the component, and the type-token scheme."""

from __future__ import annotations

from collections.abc import Mapping

import pulumi

from stacks.tags import NAME_TAG

TYPE_PREFIX = "pg-platform"


def type_token(cloud: str, role: str) -> str:
    return f"{TYPE_PREFIX}:{cloud}:{role}"


class PlatformComponent(pulumi.ComponentResource):
    """A component whose children are named `<component>-<suffix>`, parented to it and tagged alike.

    Only parent (and through it the providers) flows to children: merging a caller's whole `opts` into
    every child would copy aliases, ids and dependencies that belong to the component alone.
    """

    def __init__(
        self, cloud: str, role: str, name: str, tags: Mapping[str, str], opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__(type_token(cloud, role), name, None, opts)
        self._name = name
        self._tags = dict(tags)

    @property
    def logical_name(self) -> str:
        """The component's own name, which prefixes its children's."""
        return self._name

    def child_name(self, suffix: str) -> str:
        return f"{self._name}-{suffix}"

    def child_opts(
        self,
        *,
        protect: bool = False,
        depends_on: list | None = None,
        delete_before_replace: bool | None = None,
        ignore_changes: list[str] | None = None,
        renamed_from: list[str] | None = None,
        retain_on_delete: bool | None = None,
        replace_on_changes: list[str] | None = None,
    ) -> pulumi.ResourceOptions:
        """`renamed_from`: earlier suffixes of this child, so a deployed stack keeps the resource (same type
        and parent, new name) instead of replacing it."""
        aliases = [pulumi.Alias(name=self.child_name(old)) for old in renamed_from or ()] or None
        return pulumi.ResourceOptions(
            parent=self,
            protect=protect,
            depends_on=depends_on,
            delete_before_replace=delete_before_replace,
            ignore_changes=ignore_changes,
            aliases=aliases,
            retain_on_delete=retain_on_delete,
            replace_on_changes=replace_on_changes,
        )

    def tags(self, suffix: str, **extra: str) -> dict[str, str]:
        return {**self._tags, NAME_TAG: self.child_name(suffix), **extra}
