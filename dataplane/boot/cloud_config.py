"""The cloud-config document itself: how files are written into it and how it is dumped, the same for every
node and every cloud."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml

# Rendered (gzipped) user data may use at most USER_DATA_BUDGET of the cloud's limit, so a stack with longer
# names, more receivers or another file still fits.
USER_DATA_BUDGET = 0.75
UNIT_PREFIX = "pgp-"
# Debian must neither start services with vendor configs (ports clash with ours) nor, on members, create its
# own "main" PostgreSQL cluster: written before any package, removed once they are installed.
POLICY_RC = "/usr/sbin/policy-rc.d"


class _CloudConfigDumper(yaml.SafeDumper):
    """Multi-line strings (file contents, scripts) as literal blocks: readable in the console and a few hundred
    bytes smaller compressed than escaped double-quoted strings. PyYAML falls back to quoting where a literal
    block could not carry the string exactly."""


def _str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|" if "\n" in data else None)


_CloudConfigDumper.add_representer(str, _str)


def dump_cloud_config(doc: dict[str, Any]) -> str:
    text = yaml.dump(doc, Dumper=_CloudConfigDumper, sort_keys=False, width=1000)
    if yaml.safe_load(text) != doc:
        raise ValueError("the cloud-config does not read back as rendered")
    return text


def file_entry(path: str, content: str, mode: int, owner: str = "root:root", defer: bool = True) -> dict[str, Any]:
    """One write_files entry."""
    entry: dict[str, Any] = {"path": path, "content": content, "permissions": f"0{mode:o}", "owner": owner}
    if defer:
        # Written after the packages are installed, so the service user exists.
        entry["defer"] = True
    return entry


def policy_rc_entry() -> dict[str, Any]:
    return file_entry(POLICY_RC, "#!/bin/sh\nexit 101\n", 0o755, defer=False)


def service_dropin(service: str, lines: Sequence[str]) -> tuple[str, str]:
    """Path and content of a drop-in adding `lines` to the [Unit] section of a packaged service."""
    return f"/etc/systemd/system/{service}.service.d/pg-platform.conf", "\n".join(["[Unit]", *lines, ""])
