"""The rules every cloud shares, through the analyzer protocol: the compliant fixture stack passes, and each
violating variant fails with the rule's id, the stage's enforcement level and a message naming what is wrong.
Each cloud's own rule families have their table in tests/policy/<cloud>/test_rules.py."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.policy.conftest import assert_violation, by_policy, cloud_of, dump
from tests.policy.fixtures import Stack, node_user_data, patroni
from tests.policy.mutations import (
    LOCK,
    alerts_without,
    hba_lines,
    keep_nodes,
    node_files,
    patroni_edit,
    pg_param,
    remove,
    retention,
    same_zone,
    secret_in_patroni,
    set_input,
    unprotect,
)
from tools.protocol import UNKNOWN

# (rule id, case, mutation returning the URN-anchor resource name or None, expected text in the message)
VIOLATIONS = [
    ("PGP-BAK-001", "short retention", retention("time", "7"), "repo1 keeps full backups 7 day(s), minimum 30"),
    ("PGP-BAK-001", "count retention", retention("count", "4"), "repo1-retention-full-type is count"),
    (
        "PGP-BAK-002",
        "archives nothing",
        pg_param("archive_command", "/bin/true"),
        "archive_command is '/bin/true', which pushes no WAL to pgBackRest",
    ),
    (
        "PGP-BAK-002",
        "no full backup scheduled",
        node_files({"/etc/cron.d/pgbackrest": "# no backups are scheduled\n"}),
        "no cron line schedules a full pgBackRest backup",
    ),
    (
        "PGP-NODE-001",
        "password in patroni.yml",
        patroni_edit(secret_in_patroni),
        "postgresql.authentication.superuser.password has a literal value",
    ),
    (
        "PGP-NODE-001",
        "password in env file",
        node_files({"/etc/pg-platform/app.env": "PG_APP_RW_PASSWORD=s3cr3t\n"}),
        "/etc/pg-platform/app.env: PG_APP_RW_PASSWORD has a literal value",
    ),
    (
        "PGP-NODE-001",
        "pgbouncer auth file",
        node_files({"/etc/pgbouncer/userlist.txt": '"app_rw" "SCRAM-SHA-256$4096:abc$def:ghi"\n'}),
        "/etc/pgbouncer/userlist.txt: a literal credential for app_rw",
    ),
    (
        "PGP-NODE-001",
        "private key",
        node_files({"/etc/ssl/node.key": "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n"}),
        "a PEM private key",
    ),
    (
        "PGP-NODE-001",
        "aws key",
        node_files({"/root/.aws/credentials": "[default]\naws_access_key_id=AKIAABCDEFGHIJKLMNOP\n"}),
        "an AWS access key id",
    ),
    ("PGP-HA-001", "single node", keep_nodes(1), "1 member(s), minimum 3"),
    ("PGP-HA-001", "one zone", same_zone, "members in 1 zone(s) (eu-central-1a), minimum 3"),
    (
        "PGP-HA-002",
        "not strict",
        patroni_edit(lambda d: d["bootstrap"]["dcs"].update(synchronous_mode_strict=False)),
        "synchronous_mode_strict is False",
    ),
    (
        "PGP-HA-002",
        "async",
        patroni_edit(lambda d: d["bootstrap"]["dcs"].update(synchronous_mode=False)),
        "synchronous_mode is False",
    ),
    (
        "PGP-HA-003",
        "tcp check",
        set_input("pg-cluster-write-tg", "healthCheck", {"protocol": "TCP"}),
        "health check protocol TCP",
    ),
    (
        "PGP-HA-003",
        "wrong path",
        set_input("pg-cluster-write-tg", "healthCheck.path", "/health"),
        "health check path /health is not a Patroni role endpoint",
    ),
    ("PGP-HA-004", "no monitoring node", remove("pg-monitoring-node"), "no monitoring node"),
    (
        "PGP-HA-004",
        "no alarms",
        lambda s: (
            [s.remove(r.name) for r in list(s.records) if r.type == "aws:cloudwatch/metricAlarm:MetricAlarm"] and None
        ),
        "0 CloudWatch alarm(s), minimum 1",
    ),
    (
        "PGP-HA-004",
        "foreign bucket",
        node_files(
            {
                "/etc/pgbackrest/pgbackrest.conf": "[global]\nrepo1-type=s3\n"
                "repo1-s3-bucket=elsewhere\nrepo1-retention-full-type=time\n"
                "repo1-retention-full=30\n"
            },
            nodes=3,
        ),
        "pgBackRest writes to elsewhere, not to a bucket of this stack",
    ),
    ("PGP-PG-001", "trust", hba_lines(["local all postgres trust", "host all all 0.0.0.0/0 reject"]), "uses trust"),
    (
        "PGP-PG-001",
        "md5",
        hba_lines(["hostssl app app_rw 10.50.0.0/16 md5", "host all all 0.0.0.0/0 reject"]),
        "uses md5",
    ),
    (
        "PGP-PG-001",
        "no tls",
        hba_lines(["host app app_rw 10.50.0.0/16 scram-sha-256", "host all all 0.0.0.0/0 reject"]),
        "admits connections without TLS (host)",
    ),
    (
        "PGP-PG-001",
        "no final reject",
        hba_lines(["hostssl app app_rw 10.50.0.0/16 scram-sha-256"]),
        "does not end with a reject",
    ),
    ("PGP-PG-002", "md5 hashing", pg_param("password_encryption", "md5"), "password_encryption is md5"),
    ("PGP-PG-003", "ssl off", pg_param("ssl", "off"), "ssl is off"),
    (
        "PGP-PG-003",
        "tls 1.1",
        pg_param("ssl_min_protocol_version", "TLSv1.1"),
        "ssl_min_protocol_version is TLSv1.1, minimum TLSv1.2",
    ),
    ("PGP-PG-004", "not preloaded", pg_param("shared_preload_libraries", "pg_stat_statements"), "lacks pgaudit"),
    ("PGP-PG-004", "log none", pg_param("pgaudit.log", "none"), "pgaudit.log is none"),
    ("PGP-PG-005", "no connection log", pg_param("log_connections", "off"), "log_connections is off"),
    ("PGP-PG-005", "statement none", pg_param("log_statement", "none"), "log_statement is none"),
    ("PGP-PG-005", "short prefix", pg_param("log_line_prefix", "%m "), "lacks %p %d %u %a %h"),
    ("PGP-PG-005", "temp files", pg_param("log_temp_files", None), "log_temp_files is unset (-1), expected 0"),
    ("PGP-PG-006", "archive off", pg_param("archive_mode", "off"), "archive_mode is off"),
    ("PGP-PG-007", "listen star", pg_param("listen_addresses", "*"), "PostgreSQL listens on *"),
    ("PGP-MON-001", "no cert alert", alerts_without("CertificateExpiry"), "no alert for cert-expiry"),
    ("PGP-MON-001", "no archiving alert", alerts_without("WalArchivingFailing"), "no alert for wal-archiving"),
    (
        "PGP-MON-003",
        "unwatched node",
        lambda s: [s.remove(f"pg-cluster-pg-2-{c}") for c in ("system-check", "instance-check")] and "pg-cluster-pg-2",
        "aws:ec2/instance:Instance::pg-cluster-pg-2 has no CloudWatch alarm on its own metrics",
    ),
    (
        "PGP-TAG-001",
        "missing owner",
        lambda s: (s.find("pg-vault-bucket").inputs["tags"].pop("owner"), "pg-vault-bucket")[1],
        "missing tag(s) owner",
    ),
    (
        "PGP-TAG-001",
        "bad classification",
        set_input("pg-vault-key", "tags.data-classification", "secret"),
        "data-classification 'secret' is not one of",
    ),
    (
        "PGP-TAG-001",
        "wrong stage",
        set_input("pg-vault-key", "tags.stage", "dev"),
        "tag stage='dev' but the stack's stage is 'prod'",
    ),
    ("PGP-PRT-001", "bucket unprotected", unprotect("pg-vault-bucket"), "pg-vault-bucket is not protected"),
    ("PGP-PRT-001", "volume unprotected", unprotect("pg-cluster-pg-2-data"), "pg-cluster-pg-2-data is not protected"),
]


def test_compliant_stack_passes_every_rule(pack):
    analysis = pack.run(Stack().records)
    assert analysis.diagnostics == [], dump(analysis)
    # Every rule ran (none was skipped as not applicable) against the compliant stack.
    assert analysis.not_applicable == []
    assert set(analysis.config) == set(analysis.policies)


def test_every_shared_rule_has_a_violating_case(pack):
    analysis = pack.run(Stack().records)
    assert {p for p in analysis.policies if cloud_of(p) is None} == {rule for rule, *_ in VIOLATIONS}


def test_every_cloud_has_its_rule_table(pack):
    clouds = {cloud_of(p) for p in pack.run(Stack().records).policies} - {None}
    assert clouds and all((Path(__file__).parent / str(c) / "test_rules.py").exists() for c in clouds)


@pytest.mark.parametrize("rule,case,mutate,expected", VIOLATIONS, ids=[f"{v[0]}:{v[1]}" for v in VIOLATIONS])
def test_violation(pack, rule, case, mutate, expected):
    assert_violation(pack, rule, case, mutate, expected)


def _without_backups() -> Stack:
    """The fixture stack as a stage with pg-platform:backups.enabled: false renders it: nothing archived, no
    backup scheduled on any node, and no backup-age alert."""
    stack = Stack()
    for node in stack.nodes:
        doc = patroni(node.inputs["privateIp"])
        doc["postgresql"]["parameters"]["archive_command"] = "/bin/true"
        node.inputs["userDataBase64"] = node_user_data(
            node.inputs["privateIp"], doc, extra={"/etc/cron.d/pgbackrest": "# no backups are scheduled\n"}
        )
    alerts_without("BackupTooOld")(stack)
    return stack


def test_a_dev_stage_may_run_without_backups(pack):
    analysis = pack.run(_without_backups().records, stage="dev")
    # Neither the backup rule nor the monitoring rule's backup-age concern applies to a stage that backs nothing up.
    assert not {d.policy for d in analysis.diagnostics} & {"PGP-BAK-002", "PGP-MON-001", "PGP-PG-006"}, dump(analysis)


def test_a_prod_stage_without_backups_is_refused(pack):
    analysis = pack.run(_without_backups().records)
    hits = by_policy(analysis, "PGP-BAK-002")
    assert {d.level for d in hits} == {"mandatory"}, dump(analysis)
    assert len({d.urn for d in hits}) == len(Stack().nodes), dump(analysis)
    # Once backups are off the backup-age alert is not demanded: PGP-BAK-002 alone says why this stage fails.
    assert not by_policy(analysis, "PGP-MON-001"), dump(analysis)


def test_dev_stage_is_advisory_and_relaxed(pack):
    stack = Stack()
    keep_nodes(1)(stack)
    set_input(LOCK, "rule.defaultRetention.mode", "GOVERNANCE")(stack)
    set_input(LOCK, "rule.defaultRetention.days", 7)(stack)
    unprotect("pg-vault-bucket")(stack)
    set_input("pg-cluster-pg-1", "associatePublicIpAddress", True)(stack)
    analysis = pack.run(stack.records, stage="dev")
    # One node, a GOVERNANCE lock and no protect are what dev is allowed; a public IP is not, but only advises.
    assert {d.policy for d in analysis.diagnostics} == {"PGP-AWS-NET-001"}, dump(analysis)
    assert {d.level for d in analysis.diagnostics} == {"advisory"}
    assert analysis.config["PGP-PRT-001"]["enforcementLevel"] == "disabled"
    assert analysis.config["PGP-HA-001"]["min_nodes"] == 1


def test_quorum_mode_is_synchronous_enough(pack):
    stack = Stack()
    patroni_edit(lambda d: d["bootstrap"]["dcs"].update(synchronous_mode="quorum"))(stack)
    assert by_policy(pack.run(stack.records), "PGP-HA-002") == []


def test_secret_inputs_are_sent_as_secrets_and_still_checked(pack):
    stack = Stack()
    pg_param("ssl", "off")(stack)
    stack.nodes[0].secret_paths = ["userDataBase64"]
    hits = by_policy(pack.run(stack.records), "PGP-PG-003")
    assert any(d.urn.endswith("::pg-cluster-pg-1") for d in hits)


def test_unknown_values_are_advisory_as_in_a_preview(pack):
    stack = Stack()
    stack.nodes[0].inputs["userDataBase64"] = UNKNOWN
    analysis = pack.run(stack.records)
    unknown = [d for d in analysis.diagnostics if "can't be known during preview" in d.message]
    assert unknown and {d.level for d in unknown} == {"advisory"}
    assert analysis.mandatory == [], dump(analysis)


def test_pack_config_is_validated_like_the_engine(pack):
    from tools.analyzer import AnalyzerError

    with pytest.raises(AnalyzerError, match="PGP-HA-001: min_nodes"):
        pack.run(Stack().records, config={"PGP-HA-001": {"min_nodes": "three"}})
    with pytest.raises(AnalyzerError, match="does not have"):
        pack.run(Stack().records, config={"PGP-NOPE-001": "mandatory"})


def test_thresholds_come_from_config(pack):
    stack = Stack()
    analysis = pack.run(stack.records, config={"all": "mandatory", "PGP-HA-001": {"min_nodes": 4}})
    assert [d.detail for d in by_policy(analysis, "PGP-HA-001")] == ["cluster pg: 3 member(s), minimum 4"]


def test_user_data_scan_ignores_references_and_known_non_secrets(pack):
    stack = Stack()
    env = "PGBACKREST_REPO1_CIPHER_PASS=${PGBACKREST_REPO1_CIPHER_PASS}\nETCD_INITIAL_CLUSTER_TOKEN=pg\n"
    node_files({"/etc/pg-platform/boot.env": env})(stack)
    assert by_policy(pack.run(stack.records), "PGP-NODE-001") == []


def test_plain_user_data_is_read_too(pack):
    stack = Stack()
    node = stack.nodes[0]
    doc = yaml.safe_load(
        __import__("gzip").decompress(__import__("base64").b64decode(node.inputs.pop("userDataBase64"))).decode()
    )
    doc["write_files"][0]["content"] = doc["write_files"][0]["content"].replace("scram-sha-256\n", "md5\n", 1)
    node.inputs["userData"] = "#cloud-config\n" + yaml.safe_dump(doc)
    assert any("password_encryption is md5" in d.message for d in by_policy(pack.run(stack.records), "PGP-PG-002"))
