"""Partial point-in-time restores (`pgp restore-table`, `pgp restore-db`) without a cluster: what the console
refuses before anything runs, and the script it sends, rendered for the prod program's own members. The script
runs for real against the sandbox in tests/sandbox/test_operator_console.py."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime

import pytest

from dataplane import pitr
from dataplane.boot.member import MEMBER_DATA_MOUNT
from dataplane.console import ConsoleError
from tools.console_aws import aws_spec

NOW = datetime(2026, 12, 2, 22, 0, tzinfo=UTC)


def test_the_time_is_read_with_its_offset_in_utc_and_only_in_the_past():
    assert pitr.target_time("2026-12-02T21:30:00Z", NOW) == "2026-12-02 21:30:00.000000+00"
    assert pitr.target_time("2026-12-02 22:30:00.25+01:00", NOW) == "2026-12-02 21:30:00.250000+00"
    with pytest.raises(ConsoleError, match="add the offset"):
        pitr.target_time("2026-12-02T21:30:00", NOW)
    with pytest.raises(ConsoleError, match="is not in the past"):
        pitr.target_time("2026-12-02T23:00:00Z", NOW)
    with pytest.raises(ConsoleError, match="--time 'yesterday': give an ISO 8601 time"):
        pitr.target_time("yesterday", NOW)


def test_names_reach_the_script_only_as_plain_identifiers():
    assert pitr.check_table("orders") == "public.orders"
    assert pitr.check_table("sales.orders") == "sales.orders"
    for bad in ("orders; drop table x", "a.b.c", "Orders", "o$rders", "o'rders"):
        with pytest.raises(ConsoleError, match="--table"):
            pitr.check_table(bad)
    with pytest.raises(ConsoleError, match="--into 'app-copy': a database name"):
        pitr.check_database("app-copy", "--into")


@pytest.fixture(scope="module")
def prod():
    spec = aws_spec("prod", "pgp-prod-backups")
    return spec, spec.members[0]


def _script(prod, job: pitr.PartialRestore) -> str:
    spec, member = prod
    script = pitr.render_partial_restore(spec, member, job)
    subprocess.run(["bash", "-n"], input=script, text=True, check=True)
    return script


def test_the_auxiliary_instance_lives_on_the_data_volume_with_its_own_paths_and_never_archives(prod):
    spec, member = prod
    script = _script(prod, pitr.PartialRestore("app", "app", "2026-12-02 21:30:00.000000+00", "public.orders"))
    assert f"mktemp -d {MEMBER_DATA_MOUNT}/{pitr.AUX_PREFIX}XXXXXX" in script
    restore = next(line for line in script.splitlines() if line.endswith(" restore"))
    for option in ("--pg1-path", "--spool-path", "--lock-path", "--log-path"):
        assert f'"{option}=$aux/' in restore
    assert "'--target=2026-12-02 21:30:00.000000+00' --target-action=promote" in restore
    settings = pitr.auxiliary_settings(spec, "x", 1, "", "/s", "/s/hba")
    assert settings["archive_mode"] == "off" and settings["hot_standby"] == "off"
    assert settings["synchronous_standby_names"] == ""
    # Removed on every exit, success or not.
    assert "trap cleanup EXIT" in script and 'rm -rf "$aux"' in script
    copy = next(line for line in script.splitlines() if "pg_dump" in line)
    assert "--strict-names --table=public.orders" in copy
    assert f"pg_restore -h {spec.paths_for(member).run_dir} -p {member.ports.postgres}" in copy
    assert "--exit-on-error --single-transaction" in copy
    assert "created_db=1" not in script  # a table restore creates no database, so it never drops one


def test_a_database_restore_creates_a_new_database_and_drops_it_if_the_copy_fails(prod):
    script = _script(prod, pitr.PartialRestore("app", "app_before", "2026-12-02 21:30:00.000000+00"))
    assert "CREATE DATABASE app_before OWNER $owner TEMPLATE template0" in script
    created = script.index("created_db=1")
    assert script.index("CREATE DATABASE") < created < script.index("pg_dump")
    assert 'leader_sql "DROP DATABASE IF EXISTS app_before"' in script
    assert "--table" not in script


def test_the_console_refuses_an_existing_target_before_it_runs_anything():
    table = pitr.PartialRestore("app", "app", "t", "public.orders")
    queries = list(pitr.refusal_queries(table).items())
    assert queries[0] == (
        "--into app: no such database in the cluster; create it, or restore it with pgp restore-db",
        ("postgres", "SELECT NOT exists(SELECT 1 FROM pg_database WHERE datname = 'app')"),
    )
    assert queries[1][1] == ("app", "SELECT to_regclass('public.orders') IS NOT NULL")
    assert "rename or drop it first" in queries[1][0]
    database = pitr.PartialRestore("app", "app_copy", "t")
    [(message, (_, sql))] = pitr.refusal_queries(database).items()
    assert message.startswith("--into app_copy: the database exists") and "datname = 'app_copy'" in sql
