"""Hand-made resource records: a small stack that satisfies every rule, built so each test can break exactly
one thing. Records have the runner's shape (tools/records.py); user data is a gzip+base64 #cloud-config like
the components produce, with the files a node receives."""

from __future__ import annotations

import base64
import copy
import gzip
import json
from collections.abc import Callable
from typing import Any

import yaml

from components.aws.duties import DutyScope, duty_policy
from dataplane.duties import OPERATOR
from tools.records import ResourceRecord

PROJECT, STACK = "pg-platform", "test"
TAGS = {"stage": "prod", "owner": "team-data-platform", "cost-center": "CC-4711", "data-classification": "confidential"}
ZONES = ("eu-central-1a", "eu-central-1b", "eu-central-1c")
PEER = {
    "name": "app",
    "vpc_id": "vpc-0peer",
    "cidr": "10.50.0.0/16",
    "account_id": "123456789012",
    "region": "eu-central-1",
}
DUTY_SCOPE = DutyScope(
    region="eu-central-1",
    account_id="123456789012",
    stage="prod",
    name="pg",
    bucket_arn="arn:aws:s3:::pg-backups",
    backup_key_arn="arn:aws:kms:eu-central-1:123456789012:key/pg-backup-key",
    secrets_key_arn="arn:aws:kms:eu-central-1:123456789012:key/pg-secrets-key",
    app_secret_arns=("arn:aws:secretsmanager:eu-central-1:123456789012:secret:pg-app-rw",),
)
# What the engine hands the pack as PULUMI_CONFIG for this stack.
STACK_CONFIG = {
    "aws:region": "eu-central-1",
    "pg-platform:stage": "prod",
    "pg-platform:objectives": json.dumps({"rpo_seconds": 0, "rto_seconds": 30, "retention_days": 30, "worm_days": 14}),
    "pg-platform:network": json.dumps({"cidr": "10.40.0.0/16", "zones": list(ZONES), "peers": [PEER]}),
}


def urn(type_token: str, name: str, parent: ResourceRecord | None = None) -> str:
    chain = f"{parent.type}$" if parent else ""
    return f"urn:pulumi:{STACK}::{PROJECT}::{chain}{type_token}::{name}"


def rec(
    type_token: str,
    name: str,
    inputs: dict[str, Any],
    *,
    parent: ResourceRecord | None = None,
    refs: dict[str, list[ResourceRecord]] | None = None,
    protect: bool = False,
    custom: bool = True,
    secret_paths: list[str] | None = None,
) -> ResourceRecord:
    refs = refs or {}
    deps = sorted({r.urn for rs in refs.values() for r in rs})
    return ResourceRecord(
        urn=urn(type_token, name, parent),
        type=type_token,
        name=name,
        custom=custom,
        parent=parent.urn if parent else None,
        inputs=inputs,
        secret_paths=secret_paths or [],
        dependencies=deps,
        property_dependencies={k: [r.urn for r in v] for k, v in refs.items()},
        provider=None,
        protect=protect,
        id=f"{name}-id" if custom else None,
    )


def tagged(**extra: str) -> dict[str, str]:
    return {**TAGS, **extra}


# --- what a node receives ------------------------------------------------------------------------------------


def hba() -> list[str]:
    return [
        "local all postgres peer",
        "hostssl replication replicator 10.40.0.0/16 scram-sha-256",
        "hostssl app app_rw 10.50.0.0/16 scram-sha-256",
        "hostssl all monitor 10.40.0.0/16 cert",
        "host all all 0.0.0.0/0 reject",
        "host all all ::/0 reject",
    ]


def pg_parameters(host: str) -> dict[str, Any]:
    return {
        "listen_addresses": host,
        "password_encryption": "scram-sha-256",
        "ssl": "on",
        "ssl_min_protocol_version": "TLSv1.2",
        "shared_preload_libraries": "pgaudit,pg_stat_statements",
        "pgaudit.log": "ddl,role,write",
        "log_connections": "on",
        "log_disconnections": "on",
        "log_checkpoints": "on",
        "log_lock_waits": "on",
        "log_temp_files": 0,
        "log_line_prefix": "%m [%p] %q%u@%d app=%a host=%h ",
        "log_statement": "ddl",
        "archive_mode": "on",
        "archive_command": "pgbackrest --stanza=pg archive-push %p",
    }


def patroni(host: str, **dcs: Any) -> dict[str, Any]:
    return {
        "scope": "pg",
        "name": host,
        "restapi": {"listen": f"{host}:8008"},
        "bootstrap": {
            "dcs": {
                "ttl": 20,
                "loop_wait": 2,
                "retry_timeout": 5,
                "synchronous_mode": True,
                "synchronous_mode_strict": True,
                "synchronous_node_count": 1,
                "postgresql": {"parameters": {"wal_level": "replica"}},
                **dcs,
            }
        },
        "postgresql": {
            "listen": f"{host}:5432",
            "connect_address": f"{host}:5432",
            "authentication": {"superuser": {"username": "postgres"}, "replication": {"username": "replicator"}},
            "parameters": pg_parameters(host),
            "pg_hba": hba(),
        },
    }


PGBACKREST = """[global]
repo1-type=s3
repo1-s3-bucket=pg-backups
repo1-s3-region=eu-central-1
repo1-s3-endpoint=s3.eu-central-1.amazonaws.com
repo1-retention-full-type=time
repo1-retention-full=30
repo1-cipher-type=aes-256-cbc

[pg]
pg1-path=/var/lib/postgresql/data
"""

BACKUP_CRON = (
    "0 1 * * 0 postgres pgbackrest --stanza=pg backup --type=full\n"
    "0 1 * * 1-6 postgres pgbackrest --stanza=pg backup --type=diff\n"
)

ALERTS = {
    "groups": [
        {
            "name": "pg",
            "rules": [
                {"alert": "PostgresInstanceDown", "expr": "up{job='postgres'} == 0"},
                {"alert": "PatroniNoPrimary", "expr": "sum(patroni_primary) == 0"},
                {"alert": "PatroniMultiplePrimaries", "expr": "sum(patroni_primary) > 1"},
                {"alert": "ReplicationLagHigh", "expr": "pg_replication_lag_bytes > 1e6"},
                {"alert": "WalArchivingFailing", "expr": "increase(pg_stat_archiver_failed_count[5m]) > 0"},
                {"alert": "BackupTooOld", "expr": "time() - pgbackrest_last_full_backup_time > 8*86400"},
                {"alert": "DiskAlmostFull", "expr": "node_filesystem_avail_bytes / node_filesystem_size_bytes < 0.05"},
                {"alert": "ConnectionSaturation", "expr": "pg_stat_activity_count / pg_settings_max_connections > 0.9"},
                {"alert": "CertificateExpiry", "expr": "probe_ssl_earliest_cert_expiry - time() < 14*86400"},
            ],
        }
    ]
}


def cloud_config(files: dict[str, str], **top: Any) -> str:
    return "#cloud-config\n" + yaml.safe_dump(
        {**top, "write_files": [{"path": p, "content": c, "permissions": "0600"} for p, c in files.items()]}
    )


def user_data_b64(text: str) -> str:
    return base64.b64encode(gzip.compress(text.encode(), mtime=0)).decode()


def node_user_data(
    host: str, patroni_doc: dict[str, Any] | None = None, extra: dict[str, str] | None = None, **top: Any
) -> str:
    files = {
        "/etc/pg-platform/patroni.yml": yaml.safe_dump(patroni_doc or patroni(host)),
        "/etc/pgbackrest/pgbackrest.conf": PGBACKREST,
        "/etc/cron.d/pgbackrest": BACKUP_CRON,
        "/etc/pg-platform/patroni.env": "PATRONI_SUPERUSER_PASSWORD=${PATRONI_SUPERUSER_PASSWORD}\n",
        **(extra or {}),
    }
    return user_data_b64(cloud_config(files, **top))


def monitoring_user_data(alerts: dict[str, Any] | None = None) -> str:
    files = {
        "/etc/prometheus/prometheus.yml": yaml.safe_dump({"scrape_configs": [{"job_name": "postgres"}]}),
        "/etc/prometheus/rules/pg.yml": yaml.safe_dump(alerts or ALERTS),
    }
    return user_data_b64(cloud_config(files))


# --- the stack ---------------------------------------------------------------------------------------------


class Stack:
    """A compliant stack; `find` returns a record to break, `records` what goes to the analyzer."""

    def __init__(self) -> None:
        self.records: list[ResourceRecord] = []
        r = self._add
        self.platform = r(rec("pg-platform:index:PostgresPlatform", "pg", {}, custom=False))
        net = r(rec("pg-platform:aws:Network", "pg-network", {}, parent=self.platform, custom=False))
        vpc = r(rec("aws:ec2/vpc:Vpc", "pg-network-vpc", {"cidrBlock": "10.40.0.0/16", "tags": tagged()}, parent=net))
        r(
            rec(
                "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup",
                "pg-network-default-sg",
                {"vpcId": "pg-network-vpc-id", "ingress": [], "egress": [], "tags": tagged()},
                parent=net,
                refs={"vpcId": [vpc]},
            )
        )
        r(
            rec(
                "aws:cloudwatch/logGroup:LogGroup",
                "pg-network-flow-logs",
                {"kmsKeyId": "arn:aws:kms:eu-central-1:1:key/flow", "retentionInDays": 365, "tags": tagged()},
                parent=net,
            )
        )
        r(
            rec(
                "aws:ec2/flowLog:FlowLog",
                "pg-network-flow-log",
                {"vpcId": "pg-network-vpc-id", "trafficType": "ALL", "tags": tagged()},
                parent=net,
                refs={"vpcId": [vpc]},
            )
        )
        self.subnets = [
            r(
                rec(
                    "aws:ec2/subnet:Subnet",
                    f"pg-network-private-{z}",
                    {"vpcId": "pg-network-vpc-id", "availabilityZone": z, "tags": tagged()},
                    parent=net,
                    refs={"vpcId": [vpc]},
                )
            )
            for z in ZONES
        ]
        r(
            rec(
                "aws:ec2/vpcPeeringConnection:VpcPeeringConnection",
                "pg-network-peer-app",
                {
                    "vpcId": "pg-network-vpc-id",
                    "peerVpcId": PEER["vpc_id"],
                    "peerOwnerId": PEER["account_id"],
                    "peerRegion": PEER["region"],
                    "tags": tagged(),
                },
                parent=net,
                refs={"vpcId": [vpc]},
            )
        )
        sg = r(
            rec(
                "aws:ec2/securityGroup:SecurityGroup",
                "pg-network-node-sg",
                {"vpcId": "pg-network-vpc-id", "description": "PostgreSQL nodes", "tags": tagged()},
                parent=net,
                refs={"vpcId": [vpc]},
            )
        )
        r(
            rec(
                "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
                "pg-network-lb-write-cidr0",
                {
                    "securityGroupId": "sg-1",
                    "ipProtocol": "tcp",
                    "fromPort": 5432,
                    "toPort": 5432,
                    "cidrIpv4": "10.50.0.0/16",
                    "description": "write clients",
                    "tags": tagged(),
                },
                parent=net,
                refs={"securityGroupId": [sg]},
            )
        )
        r(
            rec(
                "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
                "pg-network-node-https",
                {
                    "securityGroupId": "sg-1",
                    "ipProtocol": "tcp",
                    "fromPort": 443,
                    "toPort": 443,
                    "cidrIpv4": "0.0.0.0/0",
                    "description": "AWS APIs over HTTPS",
                    "tags": tagged(),
                },
                parent=net,
                refs={"securityGroupId": [sg]},
            )
        )

        vault = r(rec("pg-platform:aws:BackupVault", "pg-vault", {}, parent=self.platform, custom=False))
        key = r(
            rec(
                "aws:kms/key:Key",
                "pg-vault-key",
                {"enableKeyRotation": True, "tags": tagged()},
                parent=vault,
                protect=True,
            )
        )
        bucket = r(
            rec(
                "aws:s3/bucket:Bucket",
                "pg-vault-bucket",
                {"bucket": "pg-backups", "objectLockEnabled": True, "tags": tagged()},
                parent=vault,
                protect=True,
            )
        )
        on = {"bucket": [bucket]}
        r(
            rec(
                "aws:s3/bucketVersioning:BucketVersioning",
                "pg-vault-versioning",
                {"bucket": "pg-backups", "versioningConfiguration": {"status": "Enabled"}},
                parent=vault,
                refs=on,
            )
        )
        r(
            rec(
                "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration",
                "pg-vault-object-lock",
                {
                    "bucket": "pg-backups",
                    "objectLockEnabled": "Enabled",
                    "rule": {"defaultRetention": {"mode": "COMPLIANCE", "days": 14}},
                },
                parent=vault,
                refs=on,
            )
        )
        r(
            rec(
                "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
                "pg-vault-public-access-block",
                {
                    "bucket": "pg-backups",
                    "blockPublicAcls": True,
                    "blockPublicPolicy": True,
                    "ignorePublicAcls": True,
                    "restrictPublicBuckets": True,
                },
                parent=vault,
                refs=on,
            )
        )
        r(
            rec(
                "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
                "pg-vault-encryption",
                {
                    "bucket": "pg-backups",
                    "rules": [
                        {
                            "applyServerSideEncryptionByDefault": {
                                "sseAlgorithm": "aws:kms",
                                "kmsMasterKeyId": "arn:aws:kms:eu-central-1:1:key/pg-vault-key",
                            },
                            "bucketKeyEnabled": True,
                        }
                    ],
                },
                parent=vault,
                refs={"bucket": [bucket], "rules": [key]},
            )
        )
        r(
            rec(
                "aws:s3/bucketPolicy:BucketPolicy",
                "pg-vault-tls-only",
                {
                    "bucket": "pg-backups",
                    "policy": json.dumps(
                        {
                            "Version": "2012-10-17",
                            "Statement": [
                                {
                                    "Sid": "DenyInsecureTransport",
                                    "Effect": "Deny",
                                    "Principal": "*",
                                    "Action": "s3:*",
                                    "Resource": ["arn:aws:s3:::pg-backups", "arn:aws:s3:::pg-backups/*"],
                                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                                }
                            ],
                        }
                    ),
                },
                parent=vault,
                refs=on,
            )
        )
        r(
            rec(
                "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
                "pg-vault-lifecycle",
                {
                    "bucket": "pg-backups",
                    "rules": [
                        {
                            "id": "noncurrent",
                            "status": "Enabled",
                            "noncurrentVersionExpiration": {"noncurrentDays": 15},
                        },
                        {
                            "id": "multipart",
                            "status": "Enabled",
                            "abortIncompleteMultipartUpload": {"daysAfterInitiation": 7},
                        },
                    ],
                },
                parent=vault,
                refs=on,
            )
        )

        ident = r(rec("pg-platform:aws:Identity", "pg-identity", {}, parent=self.platform, custom=False))
        r(
            rec(
                "aws:iam/rolePolicy:RolePolicy",
                "pg-identity-node-policy",
                {
                    "role": "node-role",
                    "policy": json.dumps(
                        {
                            "Version": "2012-10-17",
                            "Statement": [
                                {
                                    "Effect": "Allow",
                                    "Action": ["s3:GetObject", "s3:PutObject"],
                                    "Resource": ["arn:aws:s3:::pg-backups/*"],
                                },
                                {"Effect": "Allow", "Action": ["ec2:DescribeInstances"], "Resource": "*"},
                            ],
                        }
                    ),
                },
                parent=ident,
            )
        )
        # The program's own operator duty (components/aws/duties.py), which PGP-AWS-IAM-002 must let through.
        r(
            rec(
                "aws:iam/rolePolicy:RolePolicy",
                "pg-identity-operator-policy",
                {"role": "operator-role", "policy": duty_policy(OPERATOR, DUTY_SCOPE)},
                parent=ident,
            )
        )
        r(
            rec(
                "aws:secretsmanager/secret:Secret",
                "pg-secrets-superuser",
                {
                    "kmsKeyId": "arn:aws:kms:eu-central-1:1:key/pg-secrets-key",
                    "recoveryWindowInDays": 30,
                    "tags": tagged(),
                },
                parent=ident,
                protect=True,
            )
        )

        self.cluster = r(rec("pg-platform:aws:PostgresCluster", "pg-cluster", {}, parent=self.platform, custom=False))
        self.nodes = []
        for i, (zone, subnet) in enumerate(zip(ZONES, self.subnets, strict=True)):
            host = f"10.40.{i * 16}.10"
            node = r(
                rec(
                    "aws:ec2/instance:Instance",
                    f"pg-cluster-pg-{i + 1}",
                    {
                        "instanceType": "r7i.xlarge",
                        "subnetId": f"{subnet.name}-id",
                        "privateIp": host,
                        "associatePublicIpAddress": False,
                        "userDataBase64": node_user_data(host),
                        "metadataOptions": {
                            "httpEndpoint": "enabled",
                            "httpTokens": "required",
                            "httpPutResponseHopLimit": 1,
                        },
                        "rootBlockDevice": {"encrypted": True, "volumeSize": 20},
                        "maintenanceOptions": {"autoRecovery": "default"},
                        "tags": tagged(role="postgres"),
                    },
                    parent=self.cluster,
                    refs={"subnetId": [subnet]},
                )
            )
            self.nodes.append(node)
            r(
                rec(
                    "aws:ebs/volume:Volume",
                    f"pg-cluster-pg-{i + 1}-data",
                    {"availabilityZone": zone, "size": 500, "encrypted": True, "tags": tagged()},
                    parent=self.cluster,
                    protect=True,
                )
            )
        r(
            rec(
                "aws:lb/loadBalancer:LoadBalancer",
                "pg-cluster-nlb",
                {"internal": True, "loadBalancerType": "network", "tags": tagged()},
                parent=self.cluster,
            )
        )
        r(
            rec(
                "aws:lb/targetGroup:TargetGroup",
                "pg-cluster-write-tg",
                {
                    "port": 5432,
                    "protocol": "TCP",
                    "healthCheck": {"enabled": True, "protocol": "HTTPS", "port": "8008", "path": "/primary"},
                    "tags": tagged(),
                },
                parent=self.cluster,
            )
        )

        mon = r(rec("pg-platform:aws:Monitoring", "pg-monitoring", {}, parent=self.platform, custom=False))
        self.monitor = r(
            rec(
                "aws:ec2/instance:Instance",
                "pg-monitoring-node",
                {
                    "instanceType": "t3.medium",
                    "subnetId": "s",
                    "availabilityZone": ZONES[0],
                    "associatePublicIpAddress": False,
                    "userDataBase64": monitoring_user_data(),
                    "metadataOptions": {"httpTokens": "required", "httpPutResponseHopLimit": 1},
                    "rootBlockDevice": {"encrypted": True},
                    "maintenanceOptions": {"autoRecovery": "default"},
                    "tags": tagged(role="monitoring"),
                },
                parent=mon,
            )
        )
        # As components/aws/monitoring.py: a recover alarm on the system check, a reboot alarm on the instance's.
        for node in [*self.nodes, self.monitor]:
            for check, metric, action in (
                ("system-check", "StatusCheckFailed_System", "recover"),
                ("instance-check", "StatusCheckFailed_Instance", "reboot"),
            ):
                r(
                    rec(
                        "aws:cloudwatch/metricAlarm:MetricAlarm",
                        f"{node.name}-{check}",
                        {
                            "namespace": "AWS/EC2",
                            "metricName": metric,
                            "alarmActions": ["arn:aws:sns:x", f"arn:aws:automate:{ZONES[0][:-1]}:ec2:{action}"],
                            "dimensions": {"InstanceId": f"{node.name}-id"},
                            "tags": tagged(),
                        },
                        parent=mon,
                        refs={"dimensions": [node]},
                    )
                )

    def _add(self, record: ResourceRecord) -> ResourceRecord:
        self.records.append(record)
        return record

    def find(self, name: str) -> ResourceRecord:
        return next(r for r in self.records if r.name == name)

    def remove(self, name: str) -> None:
        self.records = [r for r in self.records if r.name != name]

    def set_user_data(self, name: str, text: str) -> None:
        self.find(name).inputs["userDataBase64"] = user_data_b64(text)

    def edit_patroni(self, change: Callable[[dict[str, Any]], None], nodes: int | None = None) -> None:
        for node in self.nodes[:nodes]:
            doc = patroni(node.inputs["privateIp"])
            change(doc)
            node.inputs["userDataBase64"] = node_user_data(node.inputs["privateIp"], doc)

    def copy(self) -> Stack:
        return copy.deepcopy(self)
