"""pg-platform:postgresql.parameters: a DBA's PostgreSQL parameters, checked against the cluster major's own list
before anything is built, refused when the platform owns them, and rendered on top of the platform's tunables."""

from __future__ import annotations

import dataclasses

import pytest

from components.aws.spec import aws_cluster_spec
from dataplane import cnpg
from dataplane.patroni import patroni_config
from dataplane.postgresql import cluster_wide_parameters, logging_parameters, postgresql_parameters
from stacks.errors import SettingsError
from stacks.pg_catalog import PLATFORM_OWNED, catalog
from stacks.topology import derive_topology
from tests.unit.stack_helpers import settings_with

KEY = "pg-platform:postgresql.parameters"


def with_parameters(stack: str, parameters: object, **changes):
    return settings_with(stack, postgresql={"parameters": parameters}, **changes)


def refused(stack: str, parameters: object, **changes) -> dict[str, tuple[str, str]]:
    """key -> (message, fix) of every problem."""
    with pytest.raises(SettingsError) as caught:
        with_parameters(stack, parameters, **changes)
    return {p.key: (p.message, p.fix) for p in caught.value.problems}


def spec_for(settings):
    return aws_cluster_spec(settings, derive_topology(settings), "123456789012")


def test_no_parameters_is_the_default():
    assert settings_with("prod").postgresql.parameters == {}
    assert spec_for(settings_with("prod")).stack_parameters == ()


def test_good_values_render_into_patronis_parameters_for_prod():
    settings = with_parameters("prod", {"work_mem": "64MB", "Random_Page_Cost": 1.5, "jit": False})
    assert settings.postgresql.parameters == {"work_mem": "64MB", "random_page_cost": 1.5, "jit": "off"}
    spec = spec_for(settings)
    member = spec.members[0]
    local = patroni_config(spec, member)["postgresql"]["parameters"]
    assert local["work_mem"] == "64MB" and local["random_page_cost"] == 1.5 and local["jit"] == "off"
    assert postgresql_parameters(spec, member)["work_mem"] == "64MB"
    # Without the setting the platform's own sizing stands.
    assert postgresql_parameters(spec_for(settings_with("prod")), member)["work_mem"] != "64MB"


def test_a_cluster_wide_parameter_goes_to_the_dcs_not_the_member():
    """Patroni keeps max_locks_per_transaction in the DCS (standbys refuse lower values than the primary's)."""
    spec = spec_for(with_parameters("prod", {"max_locks_per_transaction": 256}))
    config = patroni_config(spec, spec.members[0])
    assert config["bootstrap"]["dcs"]["postgresql"]["parameters"]["max_locks_per_transaction"] == 256
    assert "max_locks_per_transaction" not in config["postgresql"]["parameters"]
    assert cluster_wide_parameters(spec)["max_locks_per_transaction"] == 256


def test_kubernetes_renders_them_into_the_cloudnativepg_cluster():
    settings = with_parameters("k8s-prod", {"work_mem": "32MB"})
    spec = spec_for(settings)
    assert cnpg.parameters(spec)["work_mem"] == "32MB"


@pytest.mark.parametrize(
    ("name", "value", "message", "fix"),
    [
        ("wrok_mem", "64MB", "is not a parameter of PostgreSQL 17", "did you mean work_mem?"),
        ("work_mem", "64mb", "has unit 'mb', which is not one of work_mem's units (case matters)", "e.g. 64MB"),
        ("work_mem", "32kB", "is out of range 64..2147483647 (in units of kB)", "a value in 64..2147483647"),
        ("max_worker_processes", "lots", "must be an integer", "set max_worker_processes to a value in 0..262143"),
        ("jit", "maybe", "must be a boolean", "set jit to on or off"),
        ("huge_pages", "tyr", "is not a value of huge_pages", "did you mean try? use one of: off, on, try"),
        ("random_page_cost", -1, "is out of range 0..", "set random_page_cost to a value in 0.."),
        ("statement_timeout", "5m", "has unit 'm'", "write the unit as one of d, h, min, s, ms, us"),
        ("pg_stat_statements.max", 5000, "is a parameter of the extension 'pg_stat_statements'", "remove it"),
        ("search_path", ["a", "b"], "must be a single value", "write a list as one string"),
    ],
)
def test_each_bad_value_names_its_key_and_the_fix(name, value, message, fix):
    problems = refused("prod", {name: value})
    assert list(problems) == [f"{KEY}.{name}"]
    got_message, got_fix = problems[f"{KEY}.{name}"]
    assert message in got_message and fix in got_fix


def test_every_bad_parameter_is_reported_at_once():
    problems = refused("prod", {"work_mem": "1", "port": 5433, "wrok_mem": "1MB", "WORK_MEM": "8MB"})
    assert set(problems) == {f"{KEY}.{k}" for k in ("work_mem", "port", "wrok_mem", "WORK_MEM")}
    assert problems[f"{KEY}.WORK_MEM"][0] == "sets work_mem again (names are case-insensitive)"


def test_values_are_checked_against_the_clusters_major():
    """wal_compression is an enum from PostgreSQL 15 (lz4, zstd), a boolean before."""
    assert with_parameters("prod", {"wal_compression": "zstd"}).postgresql.parameters == {"wal_compression": "zstd"}
    problems = refused("prod", {"wal_compression": "zstd"}, cluster__postgres_major=14)
    assert problems[f"{KEY}.wal_compression"][0] == "must be a boolean"


@pytest.mark.parametrize(
    ("name", "value", "reason"),
    [
        ("port", 5433, "HAProxy, PgBouncer, Patroni and pg_hba reach the server"),
        ("ssl_min_protocol_version", "TLSv1", "CIS 6.8/6.9 and 7.5"),
        ("archive_command", "/bin/true", "WAL archiving to pgBackRest bounds data loss to the RPO"),
        ("shared_preload_libraries", "auto_explain", "pgaudit (CIS 3.2)"),
        ("log_statement", "none", "CIS 3.1"),
        ("pgaudit.log", "none", "CIS 3.1"),
        ("synchronous_standby_names", "*", "Patroni sets it from the RPO"),
        ("max_connections", 1000, "PgBouncer's pools"),
        ("Data_Directory", "/tmp", "Patroni places the data directory"),
    ],
)
def test_platform_owned_parameters_are_refused_with_the_reason(name, value, reason):
    message, fix = refused("prod", {name: value})[f"{KEY}.{name}"]
    assert message.startswith("is set by the platform: ") and reason in message and fix == "remove it"


def test_operator_owned_parameters_are_refused_on_kubernetes_as_everywhere():
    """CloudNativePG's fixed parameters are all platform-owned, so no stack can set them (and cnpg.parameters,
    which drops them from the Cluster, never silently loses a DBA's value)."""
    assert set(cnpg.OPERATOR_OWNED_PARAMETERS) <= set(PLATFORM_OWNED)
    for stack in ("k8s-prod", "prod"):
        problems = refused(stack, dict.fromkeys(cnpg.OPERATOR_OWNED_PARAMETERS, "on"))
        assert set(problems) == {f"{KEY}.{name}" for name in cnpg.OPERATOR_OWNED_PARAMETERS}


def test_tunables_are_open_on_kubernetes_and_patronis_parameters_closed():
    """wal_keep_size is Patroni's (platform-owned everywhere); a tunable like work_mem is open on both."""
    assert with_parameters("k8s-prod", {"work_mem": "16MB"}).postgresql.parameters == {"work_mem": "16MB"}
    assert f"{KEY}.wal_keep_size" in refused("k8s-prod", {"wal_keep_size": "2GB"})


# Owned names dataplane.postgresql does not render: Patroni sets them, or a value would undo what the platform
# set (another TLS library setting, another archiver, commits that do not wait for the synchronous standby).
OWNED_NOT_RENDERED = {
    "unix_socket_group",
    "ssl_crl_file",
    "ssl_crl_dir",
    "ssl_ciphers",
    "ssl_ecdh_curve",
    "ssl_dh_params_file",
    "ssl_max_protocol_version",
    "ssl_passphrase_command",
    "ssl_passphrase_command_supports_reload",
    "archive_library",
    "archive_cleanup_command",
    "cron.database_name",  # only where a database lists pg_cron
    "synchronous_commit",
    "synchronous_standby_names",
    "data_directory",
    "config_file",
    "hba_file",
    "ident_file",
}


def test_the_owned_names_are_ones_the_platform_sets_and_postgresql_knows():
    spec = spec_for(settings_with("prod"))
    member = spec.members[0]
    rendered = postgresql_parameters(spec, member)
    assert set(PLATFORM_OWNED) - set(rendered) == OWNED_NOT_RENDERED
    # Every logging parameter the platform sets is a CIS control, but the two thresholds a DBA tunes.
    cis = set(logging_parameters(spec, member)) - {"log_autovacuum_min_duration", "log_min_duration_statement"}
    assert cis <= set(PLATFORM_OWNED)
    # PostgreSQL's own names (config_file is command-line only, so not in the catalogue) or pgaudit's.
    known = set(catalog(17)) | {"config_file"} | {n for n in PLATFORM_OWNED if n.startswith(("pgaudit.", "cron."))}
    assert set(PLATFORM_OWNED) <= known


def test_the_renderer_refuses_an_owned_parameter_that_bypassed_the_settings():
    spec = dataclasses.replace(spec_for(settings_with("prod")), stack_parameters=(("port", 1),))
    with pytest.raises(ValueError, match="the platform owns port"):
        postgresql_parameters(spec, spec.members[0])
