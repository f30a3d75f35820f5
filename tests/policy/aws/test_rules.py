"""AWS's own rule families (PGP-AWS-*), through the analyzer protocol, on the compliant fixture stack and one
violating variant per row; and what the AWS adapter reads for the shared rules (provider default tags)."""

from __future__ import annotations

import json

import pytest

from tests.policy.conftest import assert_violation, by_policy, cloud_of, dump
from tests.policy.fixtures import Stack, rec, tagged
from tests.policy.mutations import (
    LOCK,
    SG_IN,
    SG_OUT,
    add_rule,
    bucket_policy,
    lifecycle,
    remove,
    set_input,
)


def send_command_policy(resource: str = "arn:aws:ssm:eu-central-1::document/AWS-RunShellScript", extra=None) -> str:
    """A run-command grant on `resource` (and one more statement), as a duty role's inline policy."""
    statements = [
        {"Effect": "Allow", "Action": ["ssm:SendCommand"], "Resource": [resource]},
        *([extra] if extra else []),
    ]
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def on(anchor: str, mutate):
    """A mutation of one resource whose violation is reported on another (an alarm's, on its instance)."""
    return lambda s: (mutate(s), anchor)[1]


VIOLATIONS = [
    (
        "PGP-AWS-NET-001",
        "public ip",
        set_input("pg-cluster-pg-1", "associatePublicIpAddress", True),
        "associatePublicIpAddress is true",
    ),
    (
        "PGP-AWS-NET-001",
        "public subnet",
        set_input("pg-network-private-eu-central-1b", "mapPublicIpOnLaunch", True),
        "mapPublicIpOnLaunch is true",
    ),
    (
        "PGP-AWS-NET-002",
        "world on postgres",
        add_rule(
            SG_IN,
            "open-5432",
            {"ipProtocol": "tcp", "fromPort": 5432, "toPort": 5432, "cidrIpv4": "0.0.0.0/0", "description": "x"},
        ),
        "admits 0.0.0.0/0 on port(s) 5432",
    ),
    (
        "PGP-AWS-NET-002",
        "ipv6 all protocols",
        add_rule(SG_IN, "open-all6", {"ipProtocol": "-1", "cidrIpv6": "::/0", "description": "x"}),
        "admits ::/0 on port(s) 5432, 5433, 6432, 8008, 2379, 2380",
    ),
    (
        "PGP-AWS-NET-002",
        "half the internet",
        add_rule(
            SG_IN,
            "open-half",
            {"ipProtocol": "tcp", "fromPort": 5432, "toPort": 5432, "cidrIpv4": "128.0.0.0/1", "description": "x"},
        ),
        "admits 128.0.0.0/1 on port(s) 5432",
    ),
    (
        "PGP-AWS-NET-002",
        "world spelt oddly",
        add_rule(
            SG_IN,
            "open-odd",
            {"ipProtocol": "tcp", "fromPort": 8008, "toPort": 8008, "cidrIpv6": "::0/0", "description": "x"},
        ),
        "admits ::0/0 on port(s) 8008",
    ),
    (
        "PGP-AWS-NET-003",
        "egress to a half",
        add_rule(SG_OUT, "egress-half", {"ipProtocol": "-1", "cidrIpv4": "0.0.0.0/1", "description": "x"}),
        "egress to 0.0.0.0/1 on all ports",
    ),
    (
        "PGP-AWS-NET-003",
        "all egress",
        add_rule(SG_OUT, "egress-all", {"ipProtocol": "-1", "cidrIpv4": "0.0.0.0/0", "description": "x"}),
        "egress to 0.0.0.0/0 on all ports",
    ),
    (
        "PGP-AWS-NET-003",
        "egress range",
        add_rule(
            SG_OUT,
            "egress-range",
            {"ipProtocol": "tcp", "fromPort": 0, "toPort": 65535, "cidrIpv4": "0.0.0.0/0", "description": "x"},
        ),
        "on ports 0-65535",
    ),
    (
        "PGP-AWS-NET-004",
        "default sg open",
        set_input("pg-network-default-sg", "ingress", [{"protocol": "-1", "fromPort": 0, "toPort": 0, "self": True}]),
        "keeps rules: ingress=1",
    ),
    (
        "PGP-AWS-NET-004",
        "default sg not adopted",
        remove("pg-network-default-sg", "pg-network-vpc"),
        "has no DefaultSecurityGroup",
    ),
    ("PGP-AWS-NET-005", "no flow log", remove("pg-network-flow-log", "pg-network-vpc"), "has no flow log"),
    ("PGP-AWS-NET-005", "rejects only", set_input("pg-network-flow-log", "trafficType", "REJECT"), "not ALL"),
    (
        "PGP-AWS-NET-006",
        "undeclared peer",
        set_input("pg-network-peer-app", "peerVpcId", "vpc-0rogue"),
        "peer VPC vpc-0rogue (account 123456789012, region eu-central-1) is not a declared peer",
    ),
    (
        "PGP-AWS-NET-006",
        "wrong account",
        set_input("pg-network-peer-app", "peerOwnerId", "999999999999"),
        "declared for account 123456789012, not 999999999999",
    ),
    ("PGP-AWS-NET-007", "public lb", set_input("pg-cluster-nlb", "internal", False), "internal is not true"),
    (
        "PGP-AWS-NET-008",
        "undescribed rule",
        set_input("pg-network-lb-write-cidr0", "description", ""),
        "has no description",
    ),
    (
        "PGP-AWS-S3-001",
        "governance",
        set_input(LOCK, "rule.defaultRetention.mode", "GOVERNANCE"),
        "lock mode GOVERNANCE is not one of COMPLIANCE",
    ),
    (
        "PGP-AWS-S3-001",
        "too short",
        set_input(LOCK, "rule.defaultRetention.days", 3),
        "lock of 3 day(s) is outside 14-365",
    ),
    (
        "PGP-AWS-S3-001",
        "lock disabled",
        set_input("pg-vault-bucket", "objectLockEnabled", False),
        "objectLockEnabled is not true",
    ),
    ("PGP-AWS-S3-001", "no lock config", remove(LOCK, "pg-vault-bucket"), "no BucketObjectLockConfiguration"),
    (
        "PGP-AWS-S3-002",
        "suspended",
        set_input("pg-vault-versioning", "versioningConfiguration.status", "Suspended"),
        "versioning is Suspended",
    ),
    ("PGP-AWS-S3-002", "missing", remove("pg-vault-versioning", "pg-vault-bucket"), "versioning is not configured"),
    (
        "PGP-AWS-S3-003",
        "one flag off",
        set_input("pg-vault-public-access-block", "restrictPublicBuckets", False),
        "leaves restrictPublicBuckets off",
    ),
    (
        "PGP-AWS-S3-003",
        "missing",
        remove("pg-vault-public-access-block", "pg-vault-bucket"),
        "no BucketPublicAccessBlock",
    ),
    (
        "PGP-AWS-S3-004",
        "sse-s3",
        set_input("pg-vault-encryption", "rules", [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}]),
        "default encryption is AES256, not SSE-KMS",
    ),
    (
        "PGP-AWS-S3-004",
        "aws managed key",
        lambda s: (
            s.find("pg-vault-encryption").property_dependencies.update(rules=[]),
            set_input(
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
        bucket_policy({"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "*"}),
        "no bucket policy statement denies requests without TLS",
    ),
    (
        "PGP-AWS-S3-006",
        "expires inside lock",
        lifecycle(
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
        lifecycle([{"status": "Enabled", "noncurrentVersionExpiration": {"noncurrentDays": 15}}]),
        "no enabled rule aborts incomplete multipart uploads",
    ),
    (
        "PGP-AWS-KMS-001",
        "no rotation",
        set_input("pg-vault-key", "enableKeyRotation", False),
        "enableKeyRotation is not true",
    ),
    (
        "PGP-AWS-EC2-001",
        "root unencrypted",
        set_input("pg-cluster-pg-1", "rootBlockDevice.encrypted", False),
        "rootBlockDevice is not encrypted",
    ),
    (
        "PGP-AWS-EC2-001",
        "volume unencrypted",
        set_input("pg-cluster-pg-1-data", "encrypted", False),
        "volume is not encrypted",
    ),
    (
        "PGP-AWS-EC2-002",
        "imdsv1",
        set_input("pg-cluster-pg-1", "metadataOptions.httpTokens", "optional"),
        "httpTokens is optional, not required",
    ),
    (
        "PGP-AWS-EC2-002",
        "hop limit",
        set_input("pg-cluster-pg-1", "metadataOptions.httpPutResponseHopLimit", 2),
        "httpPutResponseHopLimit is 2, above 1",
    ),
    (
        "PGP-AWS-EC2-003",
        "recovery disabled",
        set_input("pg-cluster-pg-1", "maintenanceOptions.autoRecovery", "disabled"),
        "pg-cluster-pg-1: maintenanceOptions.autoRecovery is disabled",
    ),
    (
        "PGP-AWS-EC2-003",
        "instance store",
        set_input("pg-cluster-pg-2", "instanceType", "r6id.xlarge"),
        "pg-cluster-pg-2: instance type r6id.xlarge has instance store volumes",
    ),
    (
        "PGP-AWS-EC2-003",
        "no recover alarm",
        remove("pg-cluster-pg-3-system-check", "pg-cluster-pg-3"),
        "pg-cluster-pg-3: no CloudWatch alarm on StatusCheckFailed_System recovers it",
    ),
    (
        "PGP-AWS-EC2-003",
        "alarm only notifies",
        on("pg-monitoring-node", set_input("pg-monitoring-node-system-check", "alarmActions", ["arn:aws:sns:x"])),
        "pg-monitoring-node: no CloudWatch alarm on StatusCheckFailed_System recovers it",
    ),
    (
        "PGP-AWS-EC2-003",
        "recover on the instance check",
        on("pg-cluster-pg-1", set_input("pg-cluster-pg-1-system-check", "metricName", "StatusCheckFailed_Instance")),
        "pg-cluster-pg-1: no CloudWatch alarm on StatusCheckFailed_System recovers it",
    ),
    (
        "PGP-AWS-EC2-003",
        "recover in another region",
        on(
            "pg-cluster-pg-2",
            set_input(
                "pg-cluster-pg-2-system-check",
                "alarmActions",
                ["arn:aws:sns:x", "arn:aws:automate:us-east-1:ec2:recover"],
            ),
        ),
        "pg-cluster-pg-2: its recover alarm acts in us-east-1, not in eu-central-1",
    ),
    (
        "PGP-AWS-IAM-001",
        "s3:* on *",
        set_input(
            "pg-identity-node-policy",
            "policy",
            json.dumps({"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}),
        ),
        "Statement[0] allows s3:* on Resource '*'",
    ),
    (
        "PGP-AWS-IAM-001",
        "not action",
        set_input(
            "pg-identity-node-policy",
            "policy",
            json.dumps({"Statement": [{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}]}),
        ),
        "allows NotAction",
    ),
    (
        "PGP-AWS-IAM-002",
        "send command to any instance",
        set_input("pg-identity-operator-policy", "policy", send_command_policy(resource="*")),
        "Statement[0] allows ssm:SendCommand on Resource '*'",
    ),
    (
        "PGP-AWS-IAM-002",
        "instances without a tag condition",
        set_input(
            "pg-identity-operator-policy",
            "policy",
            send_command_policy(resource="arn:aws:ec2:eu-central-1:123456789012:instance/*"),
        ),
        "on arn:aws:ec2:eu-central-1:123456789012:instance/* without a resource-tag condition",
    ),
    (
        "PGP-AWS-IAM-002",
        "any document",
        set_input(
            "pg-identity-operator-policy",
            "policy",
            send_command_policy(resource="arn:aws:ssm:eu-central-1::document/*"),
        ),
        "with any document matching arn:aws:ssm:eu-central-1::document/*",
    ),
    (
        "PGP-AWS-IAM-002",
        "wildcard action beside send command",
        set_input(
            "pg-identity-operator-policy",
            "policy",
            send_command_policy(extra={"Effect": "Allow", "Action": "s3:Get*", "Resource": "arn:aws:s3:::pg/*"}),
        ),
        "Statement[1] allows wildcard action(s) s3:Get* beside ssm:SendCommand",
    ),
    (
        "PGP-AWS-IAM-002",
        "ssm wildcard",
        set_input(
            "pg-identity-operator-policy",
            "policy",
            json.dumps(
                {
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Action": "ssm:Send*",
                            "Resource": "arn:aws:ssm:eu-central-1::document/AWS-RunShellScript",
                        }
                    ]
                }
            ),
        ),
        "Statement[0] allows wildcard action(s) ssm:Send* beside ssm:SendCommand",
    ),
    (
        "PGP-AWS-SEC-001",
        "aws managed key",
        set_input("pg-secrets-superuser", "kmsKeyId", "alias/aws/secretsmanager"),
        "kmsKeyId is alias/aws/secretsmanager (AWS-managed key)",
    ),
    (
        "PGP-AWS-SEC-001",
        "no recovery window",
        set_input("pg-secrets-superuser", "recoveryWindowInDays", 0),
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
        set_input("pg-network-flow-logs", "retentionInDays", 30),
        "retentionInDays is 30, minimum 365",
    ),
    (
        "PGP-AWS-MON-002",
        "silent alarm",
        set_input("pg-cluster-pg-1-instance-check", "alarmActions", []),
        "no alarmActions",
    ),
]


def test_every_aws_rule_has_a_violating_case(pack):
    analysis = pack.run(Stack().records)
    assert {p for p in analysis.policies if cloud_of(p) == "aws"} == {rule for rule, *_ in VIOLATIONS}


@pytest.mark.parametrize("rule,case,mutate,expected", VIOLATIONS, ids=[f"{v[0]}:{v[1]}" for v in VIOLATIONS])
def test_violation(pack, rule, case, mutate, expected):
    assert_violation(pack, rule, case, mutate, expected)


def test_lock_must_cover_the_full_backup_interval(pack):
    stack = Stack()
    set_input(LOCK, "rule.defaultRetention.days", 3)(stack)
    lifecycle(
        [
            {"status": "Enabled", "noncurrentVersionExpiration": {"noncurrentDays": 4}},
            {"status": "Enabled", "abortIncompleteMultipartUpload": {"daysAfterInitiation": 1}},
        ]
    )(stack)
    analysis = pack.run(stack.records, stage="dev")
    msgs = [d.message for d in by_policy(analysis, "PGP-AWS-S3-001")]
    assert any("shorter than the 7-day full-backup interval" in m for m in msgs), dump(analysis)


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
        add_rule(
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
        from pgp_policy import world as pack_world
        from pgp_policy.aws import network as pack_network
    finally:
        sys.path.remove(str(PACK_DIR))
    assert pack_world.WORLD_PUBLIC_ADDRESSES == stage_model.WORLD_PUBLIC_ADDRESSES
    assert pack_world.NON_PUBLIC_IPV4 == stage_model.NON_PUBLIC_IPV4
    for rule in (pack_network.NET_002, pack_network.NET_003):
        assert rule.defaults()["world_public_addresses"] == stage_model.WORLD_PUBLIC_ADDRESSES
