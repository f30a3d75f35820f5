"""Identity: instance roles that can touch only this platform's bucket, keys and secrets."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.aws.duties import DUTY_SESSION_SECONDS, DutyScope, duty_policy, trust_policy
from components.base import PlatformComponent
from dataplane.boot.aws import CLOUDWATCH_NAMESPACE
from dataplane.duties import DUTIES

# Lets the post-provision steps reach private nodes through Session Manager instead of SSH or a public IP.
SSM_CORE_POLICY = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"


@dataclass(frozen=True)
class IdentityArgs:
    bucket_arn: pulumi.Input[str]
    backup_key_arn: pulumi.Input[str]
    secrets_key_arn: pulumi.Input[str]
    shared_secret_arns: Sequence[pulumi.Input[str]]  # passwords every member needs
    member_tls_secret_arns: Mapping[str, pulumi.Input[str]]  # member name -> its own TLS bundle
    account_id: pulumi.Input[str]
    tags: Mapping[str, str]
    # What the duty roles are scoped to: the region, the `stage` tag of the stack's instances, the platform's
    # name (its alarms and log groups), and the application roles' passwords (`pgp --as dba psql`).
    region: str
    stage: str
    platform_name: str
    app_secret_arns: Sequence[pulumi.Input[str]]


def backup_statements(bucket_arn: str, backup_key_arn: str) -> list[dict]:
    """What a backup writer needs: list/get/put/delete on its bucket (delete only writes markers under Object
    Lock) and its key; no version-level delete, no lock bypass, no bucket configuration changes."""
    return [
        {
            "Sid": "BackupBucketList",
            "Effect": "Allow",
            "Action": ["s3:ListBucket", "s3:GetBucketLocation"],
            "Resource": [bucket_arn],
        },
        {
            "Sid": "BackupObjects",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
            "Resource": [f"{bucket_arn}/*"],
        },
        {
            "Sid": "BackupEncryption",
            "Effect": "Allow",
            "Action": ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
            "Resource": [backup_key_arn],
        },
    ]


def node_policy(bucket_arn: str, backup_key_arn: str, secrets_key_arn: str, secret_arns: list[str]) -> str:
    """pgBackRest's backup_statements, the node's own secrets, and its disk metrics."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                *backup_statements(bucket_arn, backup_key_arn),
                {
                    "Sid": "OwnSecrets",
                    "Effect": "Allow",
                    "Action": ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
                    "Resource": secret_arns,
                },
                {"Sid": "OwnSecretsKey", "Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": [secrets_key_arn]},
                # PutMetricData cannot be scoped to a resource; the condition keeps the agent to its own namespace.
                {
                    "Sid": "DiskMetrics",
                    "Effect": "Allow",
                    "Action": ["cloudwatch:PutMetricData"],
                    "Resource": "*",
                    "Condition": {"StringEquals": {"cloudwatch:namespace": CLOUDWATCH_NAMESPACE}},
                },
            ],
        }
    )


# Long enough to copy a backup set's versions back, short enough that a forgotten session soon expires.
RESTORE_SESSION_SECONDS = 3600


def restore_trust_policy(account_id: str) -> str:
    """Principals of this account that IAM administrators allow to assume the role, and only with MFA: the
    role exists for the day a destructive event hits the bucket, not for routine use."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "BreakGlassWithMfa",
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
                    "Action": "sts:AssumeRole",
                    "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}},
                }
            ],
        }
    )


def restore_policy(bucket_arn: str, backup_key_arn: str) -> str:
    """Read any object *version* and write it back as the current one: after a destructive event (objects
    deleted, overwritten or expired by pgBackRest on a compromised node) every locked version is still there,
    and this is the only role that can see them. It can neither delete a version nor bypass the lock."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "ListVersions",
                    "Effect": "Allow",
                    "Action": [
                        "s3:ListBucket",
                        "s3:ListBucketVersions",
                        "s3:GetBucketLocation",
                        "s3:GetBucketVersioning",
                        "s3:GetBucketObjectLockConfiguration",
                    ],
                    "Resource": [bucket_arn],
                },
                {
                    "Sid": "ReadVersions",
                    "Effect": "Allow",
                    "Action": [
                        "s3:GetObject",
                        "s3:GetObjectVersion",
                        "s3:GetObjectRetention",
                        "s3:GetObjectVersionAttributes",
                        "s3:GetObjectAttributes",
                    ],
                    "Resource": [f"{bucket_arn}/*"],
                },
                # Restoring a version is a copy of it onto its own key: a new, again locked, current version.
                {
                    "Sid": "RestoreVersions",
                    "Effect": "Allow",
                    "Action": ["s3:PutObject"],
                    "Resource": [f"{bucket_arn}/*"],
                },
                {
                    "Sid": "BackupKey",
                    "Effect": "Allow",
                    "Action": ["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
                    "Resource": [backup_key_arn],
                },
                {
                    "Sid": "NeverDestroy",
                    "Effect": "Deny",
                    "Action": [
                        "s3:DeleteObjectVersion",
                        "s3:BypassGovernanceRetention",
                        "s3:PutObjectRetention",
                        "s3:PutBucketObjectLockConfiguration",
                        "s3:PutLifecycleConfiguration",
                        "s3:PutBucketPolicy",
                        "s3:DeleteBucket",
                    ],
                    "Resource": [bucket_arn, f"{bucket_arn}/*"],
                },
            ],
        }
    )


class Identity(PlatformComponent):
    """One role per member: each node reads the shared passwords but only its own TLS private key."""

    def __init__(self, name: str, args: IdentityArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aws", "Identity", name, args.tags, opts)
        self.node_roles: dict[str, aws.iam.Role] = {}
        self.node_profiles: dict[str, aws.iam.InstanceProfile] = {}
        shared = pulumi.Output.all(*args.shared_secret_arns)
        for member, tls_arn in args.member_tls_secret_arns.items():
            role = self._role(member)
            aws.iam.RolePolicy(
                self.child_name(f"{member}-policy"),
                role=role.id,
                policy=pulumi.Output.all(
                    args.bucket_arn, args.backup_key_arn, args.secrets_key_arn, shared, tls_arn
                ).apply(lambda v: node_policy(v[0], v[1], v[2], [*v[3], v[4]])),
                opts=self.child_opts(),
            )
            self.node_roles[member] = role
            self.node_profiles[member] = aws.iam.InstanceProfile(
                self.child_name(f"{member}-profile"),
                role=role.name,
                tags=self.tags(f"{member}-profile"),
                opts=self.child_opts(),
            )

        # Prometheus scrapes the members' fixed addresses: the monitoring node needs Session Manager only.
        self.monitoring_role = self._role("monitoring")
        self.monitoring_profile = aws.iam.InstanceProfile(
            self.child_name("monitoring-profile"),
            role=self.monitoring_role.name,
            tags=self.tags("monitoring-profile"),
            opts=self.child_opts(),
        )

        # Break glass: restore from object versions. Nodes rightly lack s3:GetObjectVersion/ListBucketVersions.
        self.restore_role = break_glass_role(self, args.account_id, args.bucket_arn, args.backup_key_arn)
        # Separation of duties: the roles `pgp --as DUTY` assumes, each with its own policy (components/aws/duties.py).
        self.duty_roles = {duty: self._duty_role(duty, args) for duty in DUTIES}
        # A node runs as its instance profile; the restore identity and the duty roles are assumed with MFA.
        self.member_identities = {m: p.name for m, p in self.node_profiles.items()}
        self.monitoring_identity = self.monitoring_profile.name
        self.restore_identity = self.restore_role.arn
        self.duty_identities = {duty: role.arn for duty, role in self.duty_roles.items()}
        self.register_outputs(
            {
                "node_role_arns": {m: r.arn for m, r in self.node_roles.items()},
                "monitoring_role_arn": self.monitoring_role.arn,
                "restore_role_arn": self.restore_role.arn,
                "duty_role_arns": self.duty_identities,
            }
        )

    def _duty_role(self, duty: str, args: IdentityArgs) -> aws.iam.Role:
        role = aws.iam.Role(
            self.child_name(f"{duty}-role"),
            description=f"pgp --as {duty}: the console's {duty} duty",
            assume_role_policy=pulumi.Output.from_input(args.account_id).apply(trust_policy),
            max_session_duration=DUTY_SESSION_SECONDS,
            tags=self.tags(f"{duty}-role", purpose=f"duty-{duty}"),
            opts=self.child_opts(),
        )
        aws.iam.RolePolicy(
            self.child_name(f"{duty}-policy"),
            role=role.id,
            policy=pulumi.Output.all(
                args.account_id,
                args.bucket_arn,
                args.backup_key_arn,
                args.secrets_key_arn,
                pulumi.Output.all(*args.app_secret_arns),
            ).apply(
                lambda v: duty_policy(
                    duty,
                    DutyScope(
                        region=args.region,
                        account_id=v[0],
                        stage=args.stage,
                        name=args.platform_name,
                        bucket_arn=v[1],
                        backup_key_arn=v[2],
                        secrets_key_arn=v[3],
                        app_secret_arns=list(v[4]),
                    ),
                )
            ),
            opts=self.child_opts(),
        )
        return role

    def _role(self, label: str) -> aws.iam.Role:
        role = aws.iam.Role(
            self.child_name(f"{label}-role"),
            assume_role_policy=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
                    ],
                }
            ),
            tags=self.tags(f"{label}-role"),
            opts=self.child_opts(),
        )
        aws.iam.RolePolicyAttachment(
            self.child_name(f"{label}-ssm"), role=role.name, policy_arn=SSM_CORE_POLICY, opts=self.child_opts()
        )
        return role


def break_glass_role(
    owner: PlatformComponent,
    account_id: pulumi.Input[str],
    bucket_arn: pulumi.Input[str],
    backup_key_arn: pulumi.Input[str],
) -> aws.iam.Role:
    """The restore identity, a child of `owner`: reads every locked version back, assumed with MFA."""
    role = aws.iam.Role(
        owner.child_name("restore-role"),
        description="break glass: restore pgBackRest objects from versions",
        assume_role_policy=pulumi.Output.from_input(account_id).apply(restore_trust_policy),
        max_session_duration=RESTORE_SESSION_SECONDS,
        tags=owner.tags("restore-role", purpose="break-glass"),
        opts=owner.child_opts(),
    )
    aws.iam.RolePolicy(
        owner.child_name("restore-policy"),
        role=role.id,
        policy=pulumi.Output.all(bucket_arn, backup_key_arn).apply(lambda v: restore_policy(v[0], v[1])),
        opts=owner.child_opts(),
    )
    return role
