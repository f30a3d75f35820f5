"""Files and directories the sandbox's services own: written atomically, owned by the service user."""

from __future__ import annotations

import os
from pathlib import Path

from sandbox.supervisor import chown_service_user


def write_file(path: str | Path, content: str | bytes, mode: int = 0o640, service_owned: bool = True) -> None:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    data = content.encode() if isinstance(content, str) else content
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_bytes(data)
    os.chmod(tmp, mode)
    if service_owned:
        chown_service_user(tmp)
    tmp.replace(target)


def service_dir(path: str | Path, mode: int = 0o750) -> Path:
    directory = Path(path)
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, mode)
    chown_service_user(directory)
    return directory


def environment_file(path: str | Path) -> dict[str, str]:
    """KEY=value lines as systemd's EnvironmentFile= reads them (one level of quotes removed)."""
    env = {}
    for line in Path(path).read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            env[key.strip()] = value
    return env


def tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return f"(no {path})"
