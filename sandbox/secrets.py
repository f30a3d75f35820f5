"""The sandbox's stand-in for a secrets store: random passwords generated once into a 0600 env file.

Services get them as the environment variables dataplane.model.SECRET_ENV names, exactly as a cloud
node's boot script exports them from its secrets store.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from dataplane.model import SECRET_ENV

PASSWORD_BYTES = 24


def load_or_create(path: Path) -> dict[str, str]:
    """env var -> value; new secrets are added for names missing from an existing file, none is changed."""
    values = read(path)
    missing = [env for env in SECRET_ENV.values() if env not in values]
    if missing:
        for env in missing:
            # URL-safe, no quoting needed in env files, connection strings or pgpass.
            values[env] = secrets.token_urlsafe(PASSWORD_BYTES)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.writelines(f"{k}={v}\n" for k, v in sorted(values.items()))
        os.chmod(path, 0o600)
    return values


def read(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    values = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def secret(values: dict[str, str], name: str) -> str:
    return values[SECRET_ENV[name]]
