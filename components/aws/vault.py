"""BackupVault: the pgBackRest repository, an S3 bucket whose every object version is write-once."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.base import PlatformComponent
from components.contracts import VaultIntent
from dataplane.model import S3Repository

ABORT_MULTIPART_DAYS = 7


@dataclass(frozen=True)
class BackupVaultArgs:
    intent: VaultIntent  # lock mode and days, noncurrent expiry (components.contracts)
    repository: S3Repository  # pgBackRest's view of the bucket; its name is the bucket's
    protect: bool
    account_id: pulumi.Input[str]
    tags: Mapping[str, str]


class BackupVault(PlatformComponent):
    """Object Lock needs versioning; pgBackRest rewrites backup.info, so each rewrite is a new locked
    version and its expiry only writes delete markers. The lifecycle rule removes noncurrent versions
    once their lock has passed, and cleans expired delete markers and abandoned multipart uploads."""

    def __init__(self, name: str, args: BackupVaultArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aws", "BackupVault", name, args.tags, opts)
        # Under a COMPLIANCE lock neither the bucket nor its key can be deleted before the last version's lock
        # ends (AWS refuses; the key policy denies it). Destroying a prod stack therefore leaves them in the
        # account instead of failing halfway (README, "Destroying a stage").
        retain = args.intent.lock_mode == "COMPLIANCE" and args.intent.lock_days > 0
        self.key = aws.kms.Key(
            self.child_name("key"),
            description=f"{name} backups",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=pulumi.Output.from_input(args.account_id).apply(
                lambda account: backup_key_policy(account, args.intent.lock_mode)
            ),
            tags=self.tags("key"),
            opts=self.child_opts(protect=args.protect, retain_on_delete=retain),
        )
        aws.kms.Alias(
            self.child_name("key-alias"), name=f"alias/{name}", target_key_id=self.key.key_id, opts=self.child_opts()
        )
        self.bucket = aws.s3.Bucket(
            self.child_name("bucket"),
            bucket=args.repository.bucket,
            object_lock_enabled=args.intent.lock_days > 0,
            force_destroy=False,
            tags=self.tags("bucket", purpose="pgbackrest"),
            opts=self.child_opts(protect=args.protect, retain_on_delete=retain),
        )

        def settings_opts(depends_on: list | None = None) -> pulumi.ResourceOptions:
            # Each of these is the bucket's one configuration of its kind: replacing it create-first and
            # then deleting the old one would clear it (no lock, no encryption default, no TLS policy).
            return self.child_opts(
                protect=args.protect, depends_on=depends_on, delete_before_replace=True, retain_on_delete=retain
            )

        versioning = aws.s3.BucketVersioning(
            self.child_name("versioning"),
            bucket=self.bucket.id,
            versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
            opts=settings_opts(),
        )
        if args.intent.lock_days > 0:
            aws.s3.BucketObjectLockConfiguration(
                self.child_name("object-lock"),
                bucket=self.bucket.id,
                object_lock_enabled="Enabled",
                rule=aws.s3.BucketObjectLockConfigurationRuleArgs(
                    default_retention=aws.s3.BucketObjectLockConfigurationRuleDefaultRetentionArgs(
                        mode=args.intent.lock_mode, days=args.intent.lock_days
                    )
                ),
                opts=settings_opts(depends_on=[versioning]),
            )
        aws.s3.BucketPublicAccessBlock(
            self.child_name("public-access-block"),
            bucket=self.bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=settings_opts(),
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            self.child_name("encryption"),
            bucket=self.bucket.id,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                        sse_algorithm="aws:kms", kms_master_key_id=self.key.arn
                    ),
                    bucket_key_enabled=True,
                )
            ],
            opts=settings_opts(),
        )
        aws.s3.BucketOwnershipControls(
            self.child_name("ownership"),
            bucket=self.bucket.id,
            rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
            opts=settings_opts(),
        )
        aws.s3.BucketPolicy(
            self.child_name("tls-only"),
            bucket=self.bucket.id,
            policy=self.bucket.arn.apply(_tls_only_policy),
            opts=settings_opts(),
        )
        aws.s3.BucketLifecycleConfiguration(
            self.child_name("lifecycle"),
            bucket=self.bucket.id,
            rules=[
                aws.s3.BucketLifecycleConfigurationRuleArgs(
                    id="expire-noncurrent-after-lock",
                    status="Enabled",
                    filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                    noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                        noncurrent_days=args.intent.noncurrent_expiry_days
                    ),
                    expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(expired_object_delete_marker=True),
                ),
                aws.s3.BucketLifecycleConfigurationRuleArgs(
                    id="abort-incomplete-multipart",
                    status="Enabled",
                    filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                    abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                        days_after_initiation=ABORT_MULTIPART_DAYS
                    ),
                ),
            ],
            opts=settings_opts(depends_on=[versioning]),
        )
        self.location = self.bucket.bucket
        self.repository = args.repository
        self.register_outputs({"bucket": self.bucket.bucket, "bucket_arn": self.bucket.arn, "key_arn": self.key.arn})


def backup_key_policy(account_id: str, lock_mode: str) -> str:
    """The account administers the key, but while backups are under a COMPLIANCE lock nobody may disable it or
    schedule its deletion: an unreadable backup is as lost as a deleted one. Lifting that takes a key-policy
    change, which CloudTrail records."""
    statements = [
        {
            "Sid": "AccountAdministers",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
            "Action": "kms:*",
            "Resource": "*",
        }
    ]
    if lock_mode == "COMPLIANCE":
        statements.append(
            {
                "Sid": "LockedBackupsStayReadable",
                "Effect": "Deny",
                "Principal": {"AWS": "*"},
                "Action": ["kms:ScheduleKeyDeletion", "kms:DisableKey"],
                "Resource": "*",
            }
        )
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def _tls_only_policy(bucket_arn: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "DenyInsecureTransport",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": [bucket_arn, f"{bucket_arn}/*"],
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                }
            ],
        }
    )
