"""Pure checks of the renderers against specs built from the real stack files."""

from __future__ import annotations

import configparser
import dataclasses
import ipaddress

import pytest
import yaml
from dataplane_support import cloud_spec, local_spec

from dataplane import etcd, patroni, pg_hba, pgbackrest, postgresql, tls
from dataplane.model import APP_READONLY_USER, APP_READWRITE_USER, REPLICATION_USER, PosixRepository, S3Repository
from stacks.sizes import AWS_INSTANCE_SIZES, NodeSize

pytestmark = pytest.mark.dataplane


@pytest.fixture(scope="module")
def prod():
    return cloud_spec("prod")


@pytest.fixture(scope="module")
def dev():
    return cloud_spec("dev")


def pgbackrest_ini(text: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str
    parser.read_string(text)
    return parser


def _keys(node):
    if isinstance(node, dict):
        for key, value in node.items():
            yield str(key)
            yield from _keys(value)
    elif isinstance(node, list):
        for item in node:
            yield from _keys(item)


# --- patroni -----------------------------------------------------------------------------------------


def test_rpo_zero_renders_strict_synchronous_mode(prod):
    dcs = yaml.safe_load(patroni.render_patroni_config(prod, prod.members[0]))["bootstrap"]["dcs"]
    assert dcs["synchronous_mode"] is True
    assert dcs["synchronous_mode_strict"] is True
    assert dcs["synchronous_node_count"] == prod.topology.synchronous_node_count.value == 1
    assert dcs["maximum_lag_on_failover"] == 0


def test_asynchronous_stage_has_no_sync_mode_and_bounded_lag(dev):
    dcs = yaml.safe_load(patroni.render_patroni_config(dev, dev.members[0]))["bootstrap"]["dcs"]
    assert dcs["synchronous_mode"] is False
    assert "synchronous_mode_strict" not in dcs and "synchronous_node_count" not in dcs
    assert dcs["maximum_lag_on_failover"] == dev.topology.maximum_lag_on_failover.value > 0


@pytest.mark.parametrize("stack", ["prod", "dev"])
def test_patroni_timing_comes_from_topology_and_satisfies_patroni(stack):
    spec = cloud_spec(stack)
    dcs = patroni.patroni_config(spec, spec.members[0])["bootstrap"]["dcs"]
    topo = spec.topology
    assert (dcs["ttl"], dcs["loop_wait"], dcs["retry_timeout"], dcs["primary_start_timeout"]) == (
        topo.ttl.value,
        topo.loop_wait.value,
        topo.retry_timeout.value,
        topo.primary_start_timeout.value,
    )
    assert dcs["loop_wait"] + 2 * dcs["retry_timeout"] <= dcs["ttl"]
    assert dcs["ttl"] >= 20


def test_patroni_uses_tls_everywhere_and_no_password_in_file(prod):
    member = prod.members[1]
    text = patroni.render_patroni_config(prod, member)
    cfg = yaml.safe_load(text)
    assert cfg["etcd3"]["protocol"] == "https"
    assert cfg["etcd3"]["hosts"] == [f"{m.host}:{m.ports.etcd_client}" for m in prod.members]
    assert {"cacert", "cert", "key"} <= cfg["etcd3"].keys()
    assert {"certfile", "keyfile", "cafile"} <= cfg["restapi"].keys()
    assert cfg["restapi"]["authentication"] == {"username": "patroni"}
    assert cfg["restapi"]["listen"] == f"{member.host}:{member.ports.patroni_rest}"
    for user in cfg["postgresql"]["authentication"].values():
        assert "password" not in user
    assert not [k for k in _keys(cfg) if "password" in k.lower() and k != "password_encryption"]
    assert cfg["postgresql"]["authentication"]["replication"]["sslmode"] == "verify-full"
    assert cfg["postgresql"]["use_pg_rewind"] is True
    assert cfg["postgresql"]["create_replica_methods"] == ["pgbackrest", "basebackup"]
    assert f"--pg1-path={prod.paths_for(member).data_dir}" in cfg["postgresql"]["pgbackrest"]["command"]
    assert cfg["postgresql"]["pg_hba"] == pg_hba.hba_lines(prod)
    assert "callbacks" not in cfg["postgresql"]


@pytest.mark.parametrize("stage", ["prod", "dev"])
def test_a_failed_primary_rejoins_as_a_standby_without_an_operator(stage, request):
    """A member that comes back after a failover (recovered instance, restarted VM) follows the new leader by
    itself: pg_rewind, which wal_log_hints and checksums make possible, and if that fails or cannot run, Patroni
    rebuilds it from the repository or a base backup instead of waiting for `patronictl reinit`."""
    spec = request.getfixturevalue(stage)
    for member in spec.members:
        cfg = yaml.safe_load(patroni.render_patroni_config(spec, member))
        pg = cfg["postgresql"]
        assert pg["use_pg_rewind"] is True and cfg["bootstrap"]["dcs"]["postgresql"]["use_pg_rewind"] is True
        assert pg["remove_data_directory_on_rewind_failure"] is True
        assert pg["remove_data_directory_on_diverged_timelines"] is True
        assert pg["create_replica_methods"] and pg["authentication"]["rewind"]["username"]
        assert cfg["bootstrap"]["dcs"]["postgresql"]["parameters"]["wal_log_hints"] == "on"


def test_patroni_splits_cluster_wide_parameters_into_dcs(prod):
    cfg = patroni.patroni_config(prod, prod.members[0])
    dcs_params = cfg["bootstrap"]["dcs"]["postgresql"]["parameters"]
    local = cfg["postgresql"]["parameters"]
    assert dcs_params["wal_level"] == "replica" and dcs_params["wal_log_hints"] == "on"
    assert dcs_params["max_wal_senders"] >= len(prod.members)
    assert not set(dcs_params) & set(local)
    assert "listen_addresses" not in local and "restore_command" not in local


# --- postgresql --------------------------------------------------------------------------------------


def test_listen_addresses_is_the_member_never_wildcard(prod):
    for member in prod.members:
        params = postgresql.postgresql_parameters(prod, member)
        assert params["listen_addresses"] == member.host
        assert "*" not in str(params["listen_addresses"]) and "0.0.0.0" not in str(params["listen_addresses"])
        assert yaml.safe_load(patroni.render_patroni_config(prod, member))["postgresql"]["listen"].startswith(
            member.host + ":"
        )


def test_cis_parameters(prod):
    p = postgresql.postgresql_parameters(prod, prod.members[0])
    assert p["ssl"] == "on" and p["ssl_min_protocol_version"] == "TLSv1.2"
    assert p["password_encryption"] == "scram-sha-256"
    assert "pgaudit" in p["shared_preload_libraries"] and p["pgaudit.log"]
    for flag in (
        "logging_collector",
        "log_connections",
        "log_disconnections",
        "log_checkpoints",
        "log_lock_waits",
        "log_replication_commands",
        "archive_mode",
        "autovacuum",
        "hot_standby",
        "wal_log_hints",
    ):
        assert p[flag] == "on", flag
    assert p["log_file_mode"] == "0600" and p["log_temp_files"] == 0
    for escape in ("%m", "%p", "%d", "%u", "%a", "%h"):
        assert escape in p["log_line_prefix"]
    assert p["log_statement"] == "ddl" and p["log_min_messages"] == "warning"
    assert p["log_min_error_statement"] == "error"
    assert p["archive_timeout"] == prod.topology.archive_timeout.value
    assert p["wal_level"] == "replica"
    assert "data-checksums" in postgresql.INITDB_OPTIONS


def test_archive_command_names_the_members_own_data_directory(prod):
    for member in prod.members:
        cmd = postgresql.postgresql_parameters(prod, member)["archive_command"]
        assert f"--pg1-path={prod.paths_for(member).data_dir}" in cmd
        assert "archive-push" in cmd and cmd.endswith('"%p"')


@pytest.mark.parametrize("size", sorted(AWS_INSTANCE_SIZES))
def test_memory_follows_node_size(size):
    node = AWS_INSTANCE_SIZES[size]
    mem = postgresql.memory_parameters(node)
    assert mem["shared_buffers"] == f"{node.memory_mib // 4}MB"
    assert mem["effective_cache_size"] == f"{node.memory_mib * 3 // 4}MB"
    work = int(mem["work_mem"].removesuffix("MB"))
    # Every connection running two sorts at work_mem stays inside the memory left over by shared_buffers.
    assert work * postgresql.max_connections(node) * 2 <= node.memory_mib * 3 // 4


def test_sandbox_size_is_small():
    mem = postgresql.memory_parameters(NodeSize(1, 512))
    assert mem["shared_buffers"] == "128MB"


def test_a_member_not_yet_resized_keeps_its_own_memory_and_the_smallest_sets_shared_settings(prod):
    from dataplane import pgbouncer, roles

    small, large = AWS_INSTANCE_SIZES["r7i.xlarge"], AWS_INSTANCE_SIZES["r7i.2xlarge"]
    assert prod.topology.node_size == small
    resized = dataclasses.replace(prod, topology=dataclasses.replace(prod.topology, node_size=large))
    # Mid-roll: the last member already runs the new size, the others still run the old one.
    first, *_, last = resized.members
    mixed = resized.with_member_sizes({m.name: small for m in resized.members if m != last})
    assert mixed.size_of(last) == large
    by_member = [postgresql.postgresql_parameters(mixed, m) for m in (first, last)]
    assert by_member[1]["shared_buffers"] == f"{large.memory_mib // 4}MB"
    assert by_member[0]["shared_buffers"] == f"{small.memory_mib // 4}MB"
    for params in by_member:
        assert params["max_connections"] == postgresql.max_connections(small)
    assert pgbouncer.pool_sizes(mixed) == pgbouncer.pool_sizes(prod)
    assert roles.connection_limits(mixed) == roles.connection_limits(prod)
    # Once every member is rolled, the shared settings follow the new size.
    rolled = resized.with_member_sizes({m.name: large for m in resized.members})
    assert rolled.member_sizes == ()
    assert postgresql.postgresql_parameters(rolled, rolled.members[0])["max_connections"] == (
        postgresql.max_connections(large)
    )


def test_sizes_for_an_unknown_member_are_refused(prod):
    with pytest.raises(ValueError, match="pgp-prod-db-9"):
        prod.with_member_sizes({"pgp-prod-db-9": AWS_INSTANCE_SIZES["r7i.xlarge"]})


def test_running_sizes_read_back_from_instance_types(prod):
    from components.spec import running_sizes
    from stacks.clouds.aws import node_size

    kinds = ["r7i.2xlarge"] + ["r7i.xlarge"] * (len(prod.members) - 1)
    spec = running_sizes(prod, kinds, node_size)
    assert spec.size_of(prod.members[0]) == AWS_INSTANCE_SIZES["r7i.2xlarge"]
    assert spec.size_of(prod.members[1]) == prod.topology.node_size
    with pytest.raises(ValueError):
        running_sizes(prod, kinds[:1], node_size)


@pytest.mark.parametrize("major", [14, 15, 16, 17])
def test_renders_for_supported_majors(prod, major):
    spec = dataclasses.replace(prod, topology=dataclasses.replace(prod.topology, postgres_major=major))
    cfg = patroni.patroni_config(spec, spec.members[0])
    assert cfg["postgresql"]["bin_dir"] == f"/usr/lib/postgresql/{major}/bin"


def test_unsupported_major_is_refused(prod):
    spec = dataclasses.replace(prod, topology=dataclasses.replace(prod.topology, postgres_major=13))
    with pytest.raises(ValueError, match="13"):
        postgresql.postgresql_parameters(spec, spec.members[0])


# --- pg_hba ------------------------------------------------------------------------------------------


def test_hba_ends_with_reject_and_only_uses_tls_and_scram(prod):
    lines = [line for line in pg_hba.render_pg_hba(prod).splitlines() if line and not line.startswith("#")]
    assert lines[-2].split() == ["host", "all", "all", "0.0.0.0/0", "reject"]
    assert lines[-1].split() == ["host", "all", "all", "::/0", "reject"]
    for line in lines[:-2]:
        cols = line.split()
        if cols[0] == "local":
            assert cols[-1] == "peer" and cols[2] == "postgres"
        else:
            assert cols[0] == "hostssl" and cols[-1] == "scram-sha-256", line
    assert not any(m in line.split() for line in lines for m in ("trust", "md5", "password", "ident"))


def test_hba_replication_only_for_replicator_from_members(prod):
    member_nets = {f"{m.host}/32" for m in prod.members}
    for rule in pg_hba.hba_rules(prod):
        if rule.database == "replication" and rule.kind != "local":
            assert rule.user == REPLICATION_USER and rule.address in member_nets
        if rule.user == REPLICATION_USER:
            assert rule.database == "replication"


def test_hba_admits_applications_only_from_allowlist_and_members(prod):
    allowed = {f"{m.host}/32" for m in prod.members} | set(prod.client_cidrs)
    app_rules = [r for r in pg_hba.hba_rules(prod) if APP_READWRITE_USER in r.user.split(",")]
    assert {r.address for r in app_rules} == allowed
    assert all(APP_READONLY_USER in r.user.split(",") and r.database == "app" for r in app_rules)


def test_hba_refuses_world_client_network(prod):
    spec = dataclasses.replace(prod, client_cidrs=("0.0.0.0/0",))
    with pytest.raises(ValueError, match="internet"):
        pg_hba.hba_rules(spec)


# --- etcd --------------------------------------------------------------------------------------------


def test_etcd_tls_with_client_certificates_and_full_initial_cluster(prod):
    member = prod.members[2]
    cfg = yaml.safe_load(etcd.render_etcd_config(prod, member))
    assert cfg["name"] == member.name
    assert cfg["initial-cluster"] == ",".join(f"{m.name}=https://{m.host}:{m.ports.etcd_peer}" for m in prod.members)
    assert cfg["listen-client-urls"] == f"https://{member.host}:{member.ports.etcd_client}"
    for section in ("client-transport-security", "peer-transport-security"):
        assert cfg[section]["client-cert-auth"] is True and cfg[section]["trusted-ca-file"]
    assert cfg["enable-v2"] is False
    with pytest.raises(ValueError):
        etcd.etcd_config(prod, member, initial_state="bogus")


# --- pgbackrest --------------------------------------------------------------------------------------


def test_pgbackrest_per_member_config_on_separate_hosts(prod):
    member = prod.members[1]
    ini = pgbackrest_ini(pgbackrest.render_pgbackrest_conf(prod, member))
    g, s = ini["global"], ini[prod.stanza]
    assert s["pg1-path"] == prod.paths_for(member).data_dir and "pg1-host" not in s
    peers = [m for m in prod.members if m != member]
    for n, peer in enumerate(peers, start=2):
        assert s[f"pg{n}-host"] == peer.host and s[f"pg{n}-host-type"] == "tls"
    assert g["backup-standby"] == "y"
    assert g["tls-server-address"] == member.host
    assert g["tls-server-auth"] == f"{tls.CLIENT_COMMON_NAME}={prod.stanza}"
    assert g["repo1-type"] == "s3" and g["repo1-s3-key-type"] == "auto"
    assert g["repo1-s3-kms-key-id"] == prod.repositories[0].kms_key_id
    assert g["repo1-s3-endpoint"] == "s3.eu-central-1.amazonaws.com"
    assert g["repo1-cipher-type"] == "aes-256-cbc"
    assert g["repo1-retention-full-type"] == "time"
    assert g["repo1-retention-full"] == str(prod.topology.retention_full_days.value)
    assert g["archive-async"] == "y" and g["spool-path"] and g["start-fast"] == "y"
    assert g["compress-type"] in ("zst", "lz4")
    assert "cipher-pass" not in pgbackrest.render_pgbackrest_conf(prod, member)


def test_pgbackrest_single_node_has_no_standby_backup(dev):
    ini = pgbackrest_ini(pgbackrest.render_pgbackrest_conf(dev, dev.members[0]))
    assert "backup-standby" not in ini["global"] and "tls-server-address" not in ini["global"]
    assert ini["global"]["repo1-retention-full"] == "7"


def test_pgbackrest_colocated_members_are_local_paths(tmp_path):
    spec = local_spec(tmp_path, "prod", 3, hosts=["127.0.0.1"] * 3)
    ini = pgbackrest_ini(pgbackrest.render_pgbackrest_conf(spec, spec.members[2]))
    s = ini[spec.stanza]
    assert s["pg1-path"] == spec.paths_for(spec.members[2]).data_dir
    assert s["pg2-path"] == spec.paths_for(spec.members[0]).data_dir
    assert s["pg2-port"] == str(spec.members[0].ports.postgres)
    assert not any(k.endswith("-host") for k in s)


def test_shared_s3_keys_and_multiple_repositories(dev):
    sandbox_s3 = S3Repository(
        path="/pgp",
        bucket="b",
        region="us-east-1",
        endpoint="localhost:9000",
        uri_style="path",
        key_type="shared",
        verify_tls=True,
        ca_file="/ca.crt",
    )
    spec = dataclasses.replace(dev, repositories=(PosixRepository(path="/repo"), sandbox_s3))
    text = pgbackrest.render_pgbackrest_conf(spec, spec.members[0])
    g = pgbackrest_ini(text)["global"]
    assert g["repo2-s3-key-type"] == "shared" and g["repo2-s3-uri-style"] == "path"
    assert g["repo2-storage-ca-file"] == "/ca.crt" and g["repo1-path"] == "/repo"
    env = pgbackrest.repo_environment(spec)
    assert env["PGBACKREST_REPO1_CIPHER_PASS"] == env["PGBACKREST_REPO2_CIPHER_PASS"] == "backup-cipher"
    assert "PGBACKREST_REPO2_S3_KEY" in env and "PGBACKREST_REPO1_S3_KEY" not in env
    assert "repo2-s3-key=" not in text


def test_backup_schedule_follows_topology(prod, dev):
    sched = prod.topology.backup_schedule.value
    cron = pgbackrest.render_backup_cron(prod, prod.members[0])
    assert f"{sched.full_cron} postgres " in cron and "--type=full backup" in cron
    assert f"{sched.diff_cron} postgres " in cron and f"{sched.incr_cron} postgres " in cron
    assert "/primary" in cron
    types = [b.backup_type for b in pgbackrest.backup_schedule(dev)]
    assert types == ["full", "incr"]
    with pytest.raises(ValueError):
        pgbackrest.backup_command(dev, dev.members[0], "weekly")


# --- tls ---------------------------------------------------------------------------------------------


def test_member_certificate_names(prod):
    member = prod.members[0]
    req = tls.member_request(prod, member)
    assert member.host in req.ip_addresses
    # The cloud router is the private DNS name clients verify-full against.
    assert prod.router.host == "prod.pg-platform.internal" and prod.router.host in req.dns_names
    assert "localhost" in req.dns_names and member.name in req.dns_names
    assert req.server and req.client
    client = tls.client_request(prod)
    assert client.client and not client.server


def test_issued_certificates_chain_to_the_ca(prod):
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec

    issued = tls.issue(prod)
    ca = x509.load_pem_x509_certificate(issued["ca"].cert_pem)
    for member in prod.members:
        cert = x509.load_pem_x509_certificate(issued[member.name].cert_pem)
        ca.public_key().verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(cert.signature_hash_algorithm))
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert ipaddress.ip_address(member.host) in sans.get_values_for_type(x509.IPAddress)
    files = tls.member_tls_contents(prod, prod.members[0], issued)
    assert set(files) == set(dataclasses.asdict(tls.tls_files(prod, prod.members[0])).values())


# --- routing / haproxy -------------------------------------------------------------------------------


def test_read_check_bounds_lag(prod, dev):
    from dataplane import routing

    assert routing.read_check_path(prod.topology) == f"/replica?lag={routing.READ_LAG_CAP_BYTES}"
    small = dataclasses.replace(
        dev.topology, maximum_lag_on_failover=dataclasses.replace(dev.topology.maximum_lag_on_failover, value=1 << 20)
    )
    assert routing.read_check_path(small) == "/replica?lag=1048576"


def test_haproxy_checks_every_member_over_verified_tls(prod):
    from dataplane.haproxy import render_haproxy_config

    text = render_haproxy_config(prod, "/etc/pg-platform/tls/ca.crt")
    for m in prod.members:
        line = (
            f"server {m.name} {m.host}:{m.ports.postgres} check port {m.ports.patroni_rest} check-ssl verify required"
        )
        assert text.count(line) == 2  # write and read backends
        assert f"server {m.name} {m.host}:{m.ports.pgbouncer} check port {m.ports.patroni_rest}" in text
    assert "uri /primary" in text and "uri /replica?lag=" in text
    assert f"bind {prod.router.host}:{prod.router.stats_port}" in text and "prometheus-exporter" in text


# --- pgbouncer ---------------------------------------------------------------------------------------


def test_pgbouncer_ini(prod):
    from dataplane import pgbouncer

    member = prod.members[0]
    ini = configparser.ConfigParser(interpolation=None)
    ini.read_string(pgbouncer.render_pgbouncer_ini(prod, member))
    b = ini["pgbouncer"]
    assert b["auth_type"] == "scram-sha-256" and b["auth_user"] == "pgbouncer_auth"
    assert "pgbouncer.get_auth($1)" in b["auth_query"]
    assert b["client_tls_sslmode"] == "require" and b["server_tls_sslmode"] in ("verify-ca", "verify-full")
    assert b["pool_mode"] == "transaction" and b["listen_addr"] == member.host
    assert int(b["max_db_connections"]) < postgresql.max_connections(prod.topology.node_size)
    assert int(b["default_pool_size"]) <= int(b["max_db_connections"])
    assert ini["databases"]["app"] == f"host={member.host} port={member.ports.postgres} dbname=app"


def test_pgbouncer_auth_file_is_a_template_filled_at_boot(prod):
    from dataplane import pgbouncer
    from dataplane.model import SECRET_ENV

    template = pgbouncer.render_auth_file_template(prod)
    assert (
        template
        == f'"pgbouncer_auth" "${{{SECRET_ENV["pooler-auth"]}}}"\n"monitor" "${{{SECRET_ENV["monitoring"]}}}"\n'
    )
    filled = pgbouncer.fill_template(template, {SECRET_ENV["pooler-auth"]: 'p"w', SECRET_ENV["monitoring"]: "m"})
    assert filled == '"pgbouncer_auth" "p""w"\n"monitor" "m"\n'
    with pytest.raises(KeyError, match="not set"):
        pgbouncer.fill_template(template, {SECRET_ENV["pooler-auth"]: "x"})
    with pytest.raises(KeyError, match="not a known"):
        pgbouncer.fill_template('"u" "${HOME}"\n', {"HOME": "/root"})


# --- roles -------------------------------------------------------------------------------------------


def test_role_sql_takes_passwords_from_psql_variables(prod):
    import re

    from dataplane import roles

    sql = roles.render_role_sql(prod)
    passwords = re.findall(r"PASSWORD (\S+);", sql)
    assert sorted(passwords) == sorted(f":'{v}'" for v in roles.PSQL_VARIABLES)
    assert "SUPERUSER" not in sql.replace("NOSUPERUSER", "")
    assert "CREATEROLE" not in sql.replace("NOCREATEROLE", "")
    assert "REVOKE CREATE ON SCHEMA public FROM PUBLIC" in sql and "SECURITY DEFINER" in sql
    assert "CONNECTION LIMIT" in sql and "GRANT pg_monitor TO monitor" in sql
    assert "ALTER DEFAULT PRIVILEGES FOR ROLE app_owner" in sql
    env_sql = roles.render_role_sql(prod, variables_from_env=True)
    assert "\\set app_rw_password `printenv PG_APP_RW_PASSWORD`" in env_sql
    with pytest.raises(KeyError):
        roles.psql_variable_arguments({})


# --- paths and node files ----------------------------------------------------------------------------


def test_member_placeholders_give_each_member_its_own_directories(tmp_path):
    spec = local_spec(tmp_path, "prod", 3)
    dirs = [spec.paths_for(m) for m in spec.members]
    assert len({d.data_dir for d in dirs}) == 3 and len({d.config_dir for d in dirs}) == 3
    assert all("{" not in v for d in dirs for v in dataclasses.asdict(d).values())
    assert dirs[0].postgres_bin_dir == "/usr/lib/postgresql/15/bin"


def test_node_files_live_in_the_members_config_dir_and_reference_secrets_only_by_name(prod):
    import re

    from dataplane.model import SECRET_ENV
    from dataplane.node_files import node_files

    for member in prod.members:
        files = node_files(prod, member)
        base = prod.paths_for(member).config_dir + "/"
        assert files and all(path.startswith(base) for path in files)
        text = "".join(files.values())
        assert "PRIVATE KEY" not in text
        for var in SECRET_ENV.values():
            for match in re.finditer(rf"{var}\b(.?)", text):
                assert match.group(1) in ("}", "`", "\n", ",", ""), match.group(0)
