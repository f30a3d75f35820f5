"""Identity: instance roles that can touch only this platform's bucket, keys and secrets."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Mapping, Sequence

import pulumi
import pulumi_aws as aws

from components.base import PlatformComponent
from dataplane.cloud_init import CLOUDWATCH_NAMESPACE

# Lets the post-provision steps reach private nodes through Session Manager instead of SSH or a public IP.
SSM_CORE_POLICY = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"


@dataclass(frozen=True)
class IdentityArgs:
    bucket_arn: pulumi.Input[str]
    backup_key_arn: pulumi.Input[str]
    secrets_key_arn: pulumi.Input[str]
    shared_secret_arns: Sequence[pulumi.Input[str]]          # passwords every member needs
    member_tls_secret_arns: Mapping[str, pulumi.Input[str]]  # member name -> its own TLS bundle
    tags: Mapping[str, str]


def node_policy(bucket_arn: str, backup_key_arn: str, secrets_key_arn: str, secret_arns: list[str]) -> str:
    """pgBackRest needs list/get/put/delete on its bucket (delete only writes markers under Object Lock);
    no version-level delete, no lock bypass, no bucket configuration changes."""
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "BackupBucketList", "Effect": "Allow", "Action": ["s3:ListBucket", "s3:GetBucketLocation"],
             "Resource": [bucket_arn]},
            {"Sid": "BackupObjects", "Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
             "Resource": [f"{bucket_arn}/*"]},
            {"Sid": "BackupEncryption", "Effect": "Allow",
             "Action": ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
             "Resource": [backup_key_arn]},
            {"Sid": "OwnSecrets", "Effect": "Allow",
             "Action": ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"], "Resource": secret_arns},
            {"Sid": "OwnSecretsKey", "Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": [secrets_key_arn]},
            # PutMetricData cannot be scoped to a resource; the condition keeps the agent to its own namespace.
            {"Sid": "DiskMetrics", "Effect": "Allow", "Action": ["cloudwatch:PutMetricData"], "Resource": "*",
             "Condition": {"StringEquals": {"cloudwatch:namespace": CLOUDWATCH_NAMESPACE}}},
        ],
    })


class Identity(PlatformComponent):
    """One role per member: each node reads the shared passwords but only its own TLS private key."""

    def __init__(self, name: str, args: IdentityArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aws", "Identity", name, args.tags, opts)
        self.node_roles: dict[str, aws.iam.Role] = {}
        self.node_profiles: dict[str, aws.iam.InstanceProfile] = {}
        shared = pulumi.Output.all(*args.shared_secret_arns)
        for member, tls_arn in args.member_tls_secret_arns.items():
            role = self._role(member)
            aws.iam.RolePolicy(self.child_name(f"{member}-policy"), role=role.id,
                               policy=pulumi.Output.all(args.bucket_arn, args.backup_key_arn, args.secrets_key_arn,
                                                        shared, tls_arn).apply(
                                   lambda v: node_policy(v[0], v[1], v[2], [*v[3], v[4]])),
                               opts=self.child_opts())
            self.node_roles[member] = role
            self.node_profiles[member] = aws.iam.InstanceProfile(
                self.child_name(f"{member}-profile"), role=role.name, tags=self.tags(f"{member}-profile"),
                opts=self.child_opts())

        # Prometheus scrapes the members' fixed addresses: the monitoring node needs Session Manager only.
        self.monitoring_role = self._role("monitoring")
        self.monitoring_profile = aws.iam.InstanceProfile(self.child_name("monitoring-profile"),
                                                          role=self.monitoring_role.name,
                                                          tags=self.tags("monitoring-profile"), opts=self.child_opts())
        self.register_outputs({"node_role_arns": {m: r.arn for m, r in self.node_roles.items()},
                               "monitoring_role_arn": self.monitoring_role.arn})

    def _role(self, label: str) -> aws.iam.Role:
        role = aws.iam.Role(self.child_name(f"{label}-role"), assume_role_policy=json.dumps({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
                           "Action": "sts:AssumeRole"}]}), tags=self.tags(f"{label}-role"), opts=self.child_opts())
        aws.iam.RolePolicyAttachment(self.child_name(f"{label}-ssm"), role=role.name, policy_arn=SSM_CORE_POLICY,
                                     opts=self.child_opts())
        return role
