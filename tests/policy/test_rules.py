"""Every rule, through the analyzer protocol: the compliant fixture stack passes, and each violating variant
fails with the rule's id, the stage's enforcement level and a message naming what is wrong."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
import yaml

from tests.policy.conftest import by_policy, dump
from tests.policy.fixtures import ALERTS, Stack, monitoring_user_data, node_user_data, rec, tagged
from tools.protocol import UNKNOWN

SG_IN = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
SG_OUT = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"


def _set(name: str, path: str, value) -> Callable[[Stack], str]:
    def mutate(s: Stack) -> str:
        target = s.find(name).inputs
        *parents, last = path.split(".")
        for p in parents:
            target = target[p]
        target[last] = value
        return name

    return mutate


def _add_rule(type_token: str, name: str, inputs: dict) -> Callable[[Stack], str]:
    def mutate(s: Stack) -> str:
        s.records.append(rec(type_token, name, {"securityGroupId": "sg-1", "tags": tagged(), **inputs}))
        return name

    return mutate


def _remove(name: str, anchor: str | None = None) -> Callable[[Stack], str | None]:
    def mutate(s: Stack) -> str | None:
        s.remove(name)
        return anchor

    return mutate


def _patroni(change, anchor: str = "pg-cluster-pg-1") -> Callable[[Stack], str]:
    def mutate(s: Stack) -> str:
        s.edit_patroni(change)
        return anchor

    return mutate


def _param(key: str, value) -> Callable[[Stack], str]:
    def change(doc):
        if value is None:
            doc["postgresql"]["parameters"].pop(key, None)
        else:
            doc["postgresql"]["parameters"][key] = value

    return _patroni(change)


def _hba(lines) -> Callable[[Stack], str]:
    return _patroni(lambda doc: doc["postgresql"].update(pg_hba=lines))


def _node_files(extra: dict[str, str], nodes: int = 1) -> Callable[[Stack], str]:
    def mutate(s: Stack) -> str:
        for node in s.nodes[:nodes]:
            node.inputs["userDataBase64"] = node_user_data(node.inputs["privateIp"], extra=extra)
        return s.nodes[0].name

    return mutate


def _alerts_without(alert: str) -> Callable[[Stack], None]:
    def mutate(s: Stack) -> None:
        doc = {"groups": [{"name": "pg", "rules": [r for r in ALERTS["groups"][0]["rules"] if r["alert"] != alert]}]}
        s.monitor.inputs["userDataBase64"] = monitoring_user_data(doc)

    return mutate


def _nodes(keep: int) -> Callable[[Stack], None]:
    def mutate(s: Stack) -> None:
        for n in s.nodes[keep:]:
            s.remove(n.name)
        s.nodes = s.nodes[:keep]

    return mutate


def _same_zone(s: Stack) -> None:
    for n in s.nodes:
        n.property_dependencies["subnetId"] = [s.subnets[0].urn]


def _bucket_policy(statement: dict) -> Callable[[Stack], None]:
    return _set("pg-vault-tls-only", "policy", json.dumps({"Version": "2012-10-17", "Statement": [statement]}))


def _lifecycle(rules: list[dict]) -> Callable[[Stack], None]:
    return _set("pg-vault-lifecycle", "rules", rules)


def _unprotect(name: str) -> Callable[[Stack], str]:
    def mutate(s: Stack) -> str:
        s.find(name).protect = False
        return name

    return mutate


def _retention(kind: str, days: str) -> Callable[[Stack], str]:
    conf = (
        "[global]\nrepo1-type=s3\nrepo1-s3-bucket=pg-backups\n"
        f"repo1-retention-full-type={kind}\nrepo1-retention-full={days}\n"
    )
    return _node_files({"/etc/pgbackrest/pgbackrest.conf": conf})


def _secret_in_patroni(doc):
    doc["postgresql"]["authentication"]["superuser"]["password"] = "hunter2-literal"


LOCK = "pg-vault-object-lock"

# (rule id, case, mutation returning the URN-anchor resource name or None, expected text in the message)
VIOLATIONS = [
    (
        "PGP-AWS-NET-001",
        "public ip",
        _set("pg-cluster-pg-1", "associatePublicIpAddress", True),
        "associatePublicIpAddress is true",
    ),
    (
        "PGP-AWS-NET-001",
        "public subnet",
        _set("pg-network-private-eu-central-1b", "mapPublicIpOnLaunch", True),
        "mapPublicIpOnLaunch is true",
    ),
    (
        "PGP-AWS-NET-002",
        "world on postgres",
        _add_rule(
            SG_IN,
            "open-5432",
            {"ipProtocol": "tcp", "fromPort": 5432, "toPort": 5432, "cidrIpv4": "0.0.0.0/0", "description": "x"},
        ),
        "admits 0.0.0.0/0 on port(s) 5432",
    ),
    (
        "PGP-AWS-NET-002",
        "ipv6 all protocols",
        _add_rule(SG_IN, "open-all6", {"ipProtocol": "-1", "cidrIpv6": "::/0", "description": "x"}),
        "admits ::/0 on port(s) 5432, 5433, 6432, 8008, 2379, 2380",
    ),
    (
        "PGP-AWS-NET-002",
        "half the internet",
        _add_rule(
            SG_IN,
            "open-half",
            {"ipProtocol": "tcp", "fromPort": 5432, "toPort": 5432, "cidrIpv4": "128.0.0.0/1", "description": "x"},
        ),
        "admits 128.0.0.0/1 on port(s) 5432",
    ),
    (
        "PGP-AWS-NET-002",
        "world spelt oddly",
        _add_rule(
            SG_IN,
            "open-odd",
            {"ipProtocol": "tcp", "fromPort": 8008, "toPort": 8008, "cidrIpv6": "::0/0", "description": "x"},
        ),
        "admits ::0/0 on port(s) 8008",
    ),
    (
        "PGP-AWS-NET-003",
        "egress to a half",
        _add_rule(SG_OUT, "egress-half", {"ipProtocol": "-1", "cidrIpv4": "0.0.0.0/1", "description": "x"}),
        "egress to 0.0.0.0/1 on all ports",
    ),
    (
        "PGP-AWS-NET-003",
        "all egress",
        _add_rule(SG_OUT, "egress-all", {"ipProtocol": "-1", "cidrIpv4": "0.0.0.0/0", "description": "x"}),
        "egress to 0.0.0.0/0 on all ports",
    ),
    (
        "PGP-AWS-NET-003",
        "egress range",
        _add_rule(
            SG_OUT,
            "egress-range",
            {"ipProtocol": "tcp", "fromPort": 0, "toPort": 65535, "cidrIpv4": "0.0.0.0/0", "description": "x"},
        ),
        "on ports 0-65535",
    ),
    (
        "PGP-AWS-NET-004",
        "default sg open",
        _set("pg-network-default-sg", "ingress", [{"protocol": "-1", "fromPort": 0, "toPort": 0, "self": True}]),
        "keeps rules: ingress=1",
    ),
    (
        "PGP-AWS-NET-004",
        "default sg not adopted",
        _remove("pg-network-default-sg", "pg-network-vpc"),
        "has no DefaultSecurityGroup",
    ),
    ("PGP-AWS-NET-005", "no flow log", _remove("pg-network-flow-log", "pg-network-vpc"), "has no flow log"),
    ("PGP-AWS-NET-005", "rejects only", _set("pg-network-flow-log", "trafficType", "REJECT"), "not ALL"),
    (
        "PGP-AWS-NET-006",
        "undeclared peer",
        _set("pg-network-peer-app", "peerVpcId", "vpc-0rogue"),
        "peer VPC vpc-0rogue (account 123456789012, region eu-central-1) is not a declared peer",
    ),
    (
        "PGP-AWS-NET-006",
        "wrong account",
        _set("pg-network-peer-app", "peerOwnerId", "999999999999"),
        "declared for account 123456789012, not 999999999999",
    ),
    ("PGP-AWS-NET-007", "public lb", _set("pg-cluster-nlb", "internal", False), "internal is not true"),
    ("PGP-AWS-NET-008", "undescribed rule", _set("pg-network-lb-write-cidr0", "description", ""), "has no description"),
    (
        "PGP-AWS-S3-001",
        "governance",
        _set(LOCK, "rule.defaultRetention.mode", "GOVERNANCE"),
        "lock mode GOVERNANCE is not one of COMPLIANCE",
    ),
    ("PGP-AWS-S3-001", "too short", _set(LOCK, "rule.defaultRetention.days", 3), "lock of 3 day(s) is outside 14-365"),
    (
        "PGP-AWS-S3-001",
        "lock disabled",
        _set("pg-vault-bucket", "objectLockEnabled", False),
        "objectLockEnabled is not true",
    ),
    ("PGP-AWS-S3-001", "no lock config", _remove(LOCK, "pg-vault-bucket"), "no BucketObjectLockConfiguration"),
    (
        "PGP-AWS-S3-002",
        "suspended",
        _set("pg-vault-versioning", "versioningConfiguration.status", "Suspended"),
        "versioning is Suspended",
    ),
    ("PGP-AWS-S3-002", "missing", _remove("pg-vault-versioning", "pg-vault-bucket"), "versioning is not configured"),
    (
        "PGP-AWS-S3-003",
        "one flag off",
        _set("pg-vault-public-access-block", "restrictPublicBuckets", False),
        "leaves restrictPublicBuckets off",
    ),
    (
        "PGP-AWS-S3-003",
        "missing",
        _remove("pg-vault-public-access-block", "pg-vault-bucket"),
        "no BucketPublicAccessBlock",
    ),
    (
        "PGP-AWS-S3-004",
        "sse-s3",
        _set("pg-vault-encryption", "rules", [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}]),
        "default encryption is AES256, not SSE-KMS",
    ),
    (
        "PGP-AWS-S3-004",
        "aws managed key",
        lambda s: (
            s.find("pg-vault-encryption").property_dependencies.update(rules=[]),
            _set(
                "pg-vault-encryption",
                "rules",
                [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": "alias/aws/s3"}}],
            )(s),
        )[1],
        "SSE-KMS without a customer-managed key",
    ),
    (
        "PGP-AWS-S3-005",
        "no tls condition",
        _bucket_policy({"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "*"}),
        "no bucket policy statement denies requests without TLS",
    ),
    (
        "PGP-AWS-S3-006",
        "expires inside lock",
        _lifecycle(
            [
                {"status": "Enabled", "noncurrentVersionExpiration": {"noncurrentDays": 5}},
                {"status": "Enabled", "abortIncompleteMultipartUpload": {"daysAfterInitiation": 7}},
            ]
        ),
        "expire after 5 day(s), before the 14-day lock ends",
    ),
    (
        "PGP-AWS-S3-006",
        "no multipart abort",
        _lifecycle([{"status": "Enabled", "noncurrentVersionExpiration": {"noncurrentDays": 15}}]),
        "no enabled rule aborts incomplete multipart uploads",
    ),
    (
        "PGP-AWS-KMS-001",
        "no rotation",
        _set("pg-vault-key", "enableKeyRotation", False),
        "enableKeyRotation is not true",
    ),
    ("PGP-BAK-001", "short retention", _retention("time", "7"), "repo1 keeps full backups 7 day(s), minimum 30"),
    ("PGP-BAK-001", "count retention", _retention("count", "4"), "repo1-retention-full-type is count"),
    (
        "PGP-AWS-EC2-001",
        "root unencrypted",
        _set("pg-cluster-pg-1", "rootBlockDevice.encrypted", False),
        "rootBlockDevice is not encrypted",
    ),
    (
        "PGP-AWS-EC2-001",
        "volume unencrypted",
        _set("pg-cluster-pg-1-data", "encrypted", False),
        "volume is not encrypted",
    ),
    (
        "PGP-AWS-EC2-002",
        "imdsv1",
        _set("pg-cluster-pg-1", "metadataOptions.httpTokens", "optional"),
        "httpTokens is optional, not required",
    ),
    (
        "PGP-AWS-EC2-002",
        "hop limit",
        _set("pg-cluster-pg-1", "metadataOptions.httpPutResponseHopLimit", 2),
        "httpPutResponseHopLimit is 2, above 1",
    ),
    (
        "PGP-NODE-001",
        "password in patroni.yml",
        _patroni(_secret_in_patroni),
        "postgresql.authentication.superuser.password has a literal value",
    ),
    (
        "PGP-NODE-001",
        "password in env file",
        _node_files({"/etc/pg-platform/app.env": "PG_APP_RW_PASSWORD=s3cr3t\n"}),
        "/etc/pg-platform/app.env: PG_APP_RW_PASSWORD has a literal value",
    ),
    (
        "PGP-NODE-001",
        "pgbouncer auth file",
        _node_files({"/etc/pgbouncer/userlist.txt": '"app_rw" "SCRAM-SHA-256$4096:abc$def:ghi"\n'}),
        "/etc/pgbouncer/userlist.txt: a literal credential for app_rw",
    ),
    (
        "PGP-NODE-001",
        "private key",
        _node_files({"/etc/ssl/node.key": "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n"}),
        "a PEM private key",
    ),
    (
        "PGP-NODE-001",
        "aws key",
        _node_files({"/root/.aws/credentials": "[default]\naws_access_key_id=AKIAABCDEFGHIJKLMNOP\n"}),
        "an AWS access key id",
    ),
    (
        "PGP-AWS-IAM-001",
        "s3:* on *",
        _set(
            "pg-identity-node-policy",
            "policy",
            json.dumps({"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}),
        ),
        "Statement[0] allows s3:* on Resource '*'",
    ),
    (
        "PGP-AWS-IAM-001",
        "not action",
        _set(
            "pg-identity-node-policy",
            "policy",
            json.dumps({"Statement": [{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}]}),
        ),
        "allows NotAction",
    ),
    (
        "PGP-AWS-SEC-001",
        "aws managed key",
        _set("pg-secrets-superuser", "kmsKeyId", "alias/aws/secretsmanager"),
        "kmsKeyId is alias/aws/secretsmanager (AWS-managed key)",
    ),
    (
        "PGP-AWS-SEC-001",
        "no recovery window",
        _set("pg-secrets-superuser", "recoveryWindowInDays", 0),
        "recoveryWindowInDays is 0, minimum 7",
    ),
    (
        "PGP-AWS-LOG-001",
        "unencrypted",
        lambda s: (s.find("pg-network-flow-logs").inputs.pop("kmsKeyId"), "pg-network-flow-logs")[1],
        "no kmsKeyId",
    ),
    (
        "PGP-AWS-LOG-001",
        "short retention",
        _set("pg-network-flow-logs", "retentionInDays", 30),
        "retentionInDays is 30, minimum 365",
    ),
    ("PGP-HA-001", "single node", _nodes(1), "1 member(s), minimum 3"),
    ("PGP-HA-001", "one zone", _same_zone, "members in 1 zone(s) (eu-central-1a), minimum 3"),
    (
        "PGP-HA-002",
        "not strict",
        _patroni(lambda d: d["bootstrap"]["dcs"].update(synchronous_mode_strict=False)),
        "synchronous_mode_strict is False",
    ),
    (
        "PGP-HA-002",
        "async",
        _patroni(lambda d: d["bootstrap"]["dcs"].update(synchronous_mode=False)),
        "synchronous_mode is False",
    ),
    (
        "PGP-HA-003",
        "tcp check",
        _set("pg-cluster-write-tg", "healthCheck", {"protocol": "TCP"}),
        "health check protocol TCP",
    ),
    (
        "PGP-HA-003",
        "wrong path",
        _set("pg-cluster-write-tg", "healthCheck.path", "/health"),
        "health check path /health is not a Patroni role endpoint",
    ),
    ("PGP-HA-004", "no monitoring node", _remove("pg-monitoring-node"), "no monitoring node"),
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
        _node_files(
            {
                "/etc/pgbackrest/pgbackrest.conf": "[global]\nrepo1-type=s3\n"
                "repo1-s3-bucket=elsewhere\nrepo1-retention-full-type=time\n"
                "repo1-retention-full=30\n"
            },
            nodes=3,
        ),
        "pgBackRest writes to elsewhere, not to a bucket of this stack",
    ),
    ("PGP-PG-001", "trust", _hba(["local all postgres trust", "host all all 0.0.0.0/0 reject"]), "uses trust"),
    ("PGP-PG-001", "md5", _hba(["hostssl app app_rw 10.50.0.0/16 md5", "host all all 0.0.0.0/0 reject"]), "uses md5"),
    (
        "PGP-PG-001",
        "no tls",
        _hba(["host app app_rw 10.50.0.0/16 scram-sha-256", "host all all 0.0.0.0/0 reject"]),
        "admits connections without TLS (host)",
    ),
    (
        "PGP-PG-001",
        "no final reject",
        _hba(["hostssl app app_rw 10.50.0.0/16 scram-sha-256"]),
        "does not end with a reject",
    ),
    ("PGP-PG-002", "md5 hashing", _param("password_encryption", "md5"), "password_encryption is md5"),
    ("PGP-PG-003", "ssl off", _param("ssl", "off"), "ssl is off"),
    (
        "PGP-PG-003",
        "tls 1.1",
        _param("ssl_min_protocol_version", "TLSv1.1"),
        "ssl_min_protocol_version is TLSv1.1, minimum TLSv1.2",
    ),
    ("PGP-PG-004", "not preloaded", _param("shared_preload_libraries", "pg_stat_statements"), "lacks pgaudit"),
    ("PGP-PG-004", "log none", _param("pgaudit.log", "none"), "pgaudit.log is none"),
    ("PGP-PG-005", "no connection log", _param("log_connections", "off"), "log_connections is off"),
    ("PGP-PG-005", "statement none", _param("log_statement", "none"), "log_statement is none"),
    ("PGP-PG-005", "short prefix", _param("log_line_prefix", "%m "), "lacks %p %d %u %a %h"),
    ("PGP-PG-005", "temp files", _param("log_temp_files", None), "log_temp_files is unset (-1), expected 0"),
    ("PGP-PG-006", "archive off", _param("archive_mode", "off"), "archive_mode is off"),
    ("PGP-PG-007", "listen star", _param("listen_addresses", "*"), "PostgreSQL listens on *"),
    ("PGP-MON-001", "no cert alert", _alerts_without("CertificateExpiry"), "no alert for cert-expiry"),
    ("PGP-MON-001", "no archiving alert", _alerts_without("WalArchivingFailing"), "no alert for wal-archiving"),
    ("PGP-AWS-MON-002", "silent alarm", _set("pg-cluster-pg-1-status-check", "alarmActions", []), "no alarmActions"),
    (
        "PGP-MON-003",
        "unwatched node",
        _remove("pg-cluster-pg-2-status-check", "pg-cluster-pg-2"),
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
        _set("pg-vault-key", "tags.data-classification", "secret"),
        "data-classification 'secret' is not one of",
    ),
    (
        "PGP-TAG-001",
        "wrong stage",
        _set("pg-vault-key", "tags.stage", "dev"),
        "tag stage='dev' but the stack's stage is 'prod'",
    ),
    ("PGP-PRT-001", "bucket unprotected", _unprotect("pg-vault-bucket"), "pg-vault-bucket is not protected"),
    ("PGP-PRT-001", "volume unprotected", _unprotect("pg-cluster-pg-2-data"), "pg-cluster-pg-2-data is not protected"),
]


def test_compliant_stack_passes_every_rule(pack):
    analysis = pack.run(Stack().records)
    assert analysis.diagnostics == [], dump(analysis)
    # Every rule ran (none was skipped as not applicable) against the compliant stack.
    assert analysis.not_applicable == []
    assert set(analysis.config) == set(analysis.policies)


def test_every_rule_has_a_violating_case(pack):
    analysis = pack.run(Stack().records)
    assert set(analysis.policies) == {rule for rule, *_ in VIOLATIONS}


@pytest.mark.parametrize("rule,case,mutate,expected", VIOLATIONS, ids=[f"{v[0]}:{v[1]}" for v in VIOLATIONS])
def test_violation(pack, rule, case, mutate, expected):
    stack = Stack()
    anchor = mutate(stack)
    analysis = pack.run(stack.records)
    hits = by_policy(analysis, rule)
    assert hits, f"{rule} did not fire for {case}: {dump(analysis)}"
    assert any(expected in d.message for d in hits), dump(analysis)
    assert {d.level for d in hits} == {"mandatory"}
    assert all(d.pack == "pg-platform" and d.severity for d in hits)
    if anchor:
        assert any(d.urn.endswith(f"::{anchor}") for d in hits if expected in d.message), dump(analysis)
    # Remediation text reaches the report through GetAnalyzerInfo.
    assert analysis.policies[rule].remediation


def test_dev_stage_is_advisory_and_relaxed(pack):
    stack = Stack()
    _nodes(1)(stack)
    _set(LOCK, "rule.defaultRetention.mode", "GOVERNANCE")(stack)
    _set(LOCK, "rule.defaultRetention.days", 7)(stack)
    _unprotect("pg-vault-bucket")(stack)
    _set("pg-cluster-pg-1", "associatePublicIpAddress", True)(stack)
    analysis = pack.run(stack.records, stage="dev")
    # One node, a GOVERNANCE lock and no protect are what dev is allowed; a public IP is not, but only advises.
    assert {d.policy for d in analysis.diagnostics} == {"PGP-AWS-NET-001"}, dump(analysis)
    assert {d.level for d in analysis.diagnostics} == {"advisory"}
    assert analysis.config["PGP-PRT-001"]["enforcementLevel"] == "disabled"
    assert analysis.config["PGP-HA-001"]["min_nodes"] == 1


def test_lock_must_cover_the_full_backup_interval(pack):
    stack = Stack()
    _set(LOCK, "rule.defaultRetention.days", 3)(stack)
    _lifecycle(
        [
            {"status": "Enabled", "noncurrentVersionExpiration": {"noncurrentDays": 4}},
            {"status": "Enabled", "abortIncompleteMultipartUpload": {"daysAfterInitiation": 1}},
        ]
    )(stack)
    analysis = pack.run(stack.records, stage="dev")
    msgs = [d.message for d in by_policy(analysis, "PGP-AWS-S3-001")]
    assert any("shorter than the 7-day full-backup interval" in m for m in msgs), dump(analysis)


def test_quorum_mode_is_synchronous_enough(pack):
    stack = Stack()
    _patroni(lambda d: d["bootstrap"]["dcs"].update(synchronous_mode="quorum"))(stack)
    assert by_policy(pack.run(stack.records), "PGP-HA-002") == []


def test_provider_default_tags_count(pack):
    stack = Stack()
    provider = rec(
        "pulumi:providers:aws", "tagged", {"region": "eu-central-1", "defaultTags": json.dumps({"tags": tagged()})}
    )
    stack.records.insert(0, provider)
    bucket = stack.find("pg-vault-bucket")
    bucket.inputs.pop("tags")
    bucket.provider = f"{provider.urn}::{provider.id}"
    assert by_policy(pack.run(stack.records), "PGP-TAG-001") == []
    bucket.provider = None
    assert by_policy(pack.run(stack.records), "PGP-TAG-001")


def test_secret_inputs_are_sent_as_secrets_and_still_checked(pack):
    stack = Stack()
    _param("ssl", "off")(stack)
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
    _node_files({"/etc/pg-platform/boot.env": env})(stack)
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


def test_stack_rules_see_outputs_resource_rules_see_inputs(pack):
    """As in the engine: Analyze gets a resource's inputs, AnalyzeStack its outputs (final state)."""
    stack = Stack()
    bucket = stack.find("pg-vault-bucket")
    bucket.outputs = {**bucket.inputs, "objectLockEnabled": False, "arn": "arn:aws:s3:::pg-backups"}
    lb = stack.find("pg-cluster-nlb")
    lb.outputs = {**lb.inputs, "internal": False}
    analysis = pack.run(stack.records)
    assert [d.detail for d in by_policy(analysis, "PGP-AWS-S3-001")] == [
        "aws:s3/bucket:Bucket::pg-vault-bucket: objectLockEnabled is not true"
    ]
    assert by_policy(analysis, "PGP-AWS-NET-007") == []


def test_a_private_or_narrow_source_is_not_the_world(pack):
    stack = Stack()
    for i, cidr in enumerate(("10.0.0.0/8", "198.51.100.0/24", "100.64.0.0/10")):
        _add_rule(
            SG_IN,
            f"narrow-{i}",
            {"ipProtocol": "tcp", "fromPort": 5432, "toPort": 5432, "cidrIpv4": cidr, "description": "x"},
        )(stack)
    assert by_policy(pack.run(stack.records), "PGP-AWS-NET-002") == []


def test_the_world_is_one_fact_for_the_stage_model_and_the_pack():
    """The pack imports nothing of the program, so its copy of the threshold and the non-public blocks is pinned."""
    import sys

    from stacks import settings as stage_model
    from tools.analyzer import PACK_DIR

    sys.path.insert(0, str(PACK_DIR))
    try:
        from pgp_policy.aws import network as pack_network
    finally:
        sys.path.remove(str(PACK_DIR))
    assert pack_network.WORLD_PUBLIC_ADDRESSES == stage_model.WORLD_PUBLIC_ADDRESSES
    assert pack_network.NON_PUBLIC_IPV4 == stage_model.NON_PUBLIC_IPV4
    for rule in (pack_network.NET_002, pack_network.NET_003):
        assert rule.defaults()["world_public_addresses"] == stage_model.WORLD_PUBLIC_ADDRESSES
