"""BackupVault: the pgBackRest repository, a versioned Cloud Storage bucket with Object Retention Lock, encrypted
with the platform's own Cloud KMS key: S3 Object Lock's semantics on Cloud Storage.

Not Bucket Lock: a bucket retention policy refuses replacing or deleting any object younger than the period, and
pgBackRest replaces backup.info, backup.info.copy and the manifest copies on every backup and expire, so it fails
on such a bucket (pgBackRest issue #1439, "Support GCS retention policy"); Cloud Storage also refuses Object
Versioning with a retention policy. Instead the bucket is versioned and enables Object Retention Lock (only
possible at creation): an object whose retain-until time has not passed cannot be deleted or replaced, but it can
still be made noncurrent, so pgBackRest's rewrite of backup.info leaves the locked generation behind, noncurrent,
until its lock ends. Cloud Storage has no bucket default for per-object retention: the members' lock timer gives
each new object its retention (dataplane/boot/gcs_lock.py), Locked for COMPLIANCE (nobody can shorten or remove
it), Unlocked for GOVERNANCE (a storage admin with overrideUnlockedRetention can).

Two nets besides the lock: soft delete keeps deleted or replaced generations for min(lock days, 90) days (the
API's longest), which also covers an object in the minute before the timer locks it; and lifecycle deletes
noncurrent generations only once they are past the lock (the topology's noncurrent expiry, derived past it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from components.contracts import VaultIntent
from components.gcp.base import GcpComponent
from dataplane.model import GcsRepository

DAY_SECONDS = 86_400
# Customer-managed keys rotate every 90 days; old versions stay to decrypt what they encrypted.
KEY_ROTATION = f"{90 * DAY_SECONDS}s"
ENCRYPTER_DECRYPTER = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
ABORT_MULTIPART_DAYS = 7
# Soft delete keeps a deleted object 7 to 90 days (0 turns it off): Cloud Storage's bounds.
SOFT_DELETE_MIN_DAYS, SOFT_DELETE_MAX_DAYS = 7, 90


@dataclass(frozen=True)
class BackupVaultArgs:
    intent: VaultIntent
    repository: GcsRepository  # pgBackRest's view of the bucket; its name is the bucket's
    region: str
    # Cloud Storage's service agent encrypts with the bucket's key on the writer's behalf.
    storage_agent: pulumi.Input[str]
    protect: bool
    tags: Mapping[str, str]


def soft_delete_seconds(intent: VaultIntent) -> int:
    """As long as the lock, within Cloud Storage's 7 to 90 days."""
    days = min(max(intent.lock_days, SOFT_DELETE_MIN_DAYS), SOFT_DELETE_MAX_DAYS)
    return days * DAY_SECONDS


def is_locked(intent: VaultIntent) -> bool:
    """COMPLIANCE: nobody can shorten or remove the retention; GOVERNANCE: an admin can."""
    return intent.lock_mode == "COMPLIANCE" and intent.lock_days > 0


class BackupVault(GcpComponent):
    def __init__(self, name: str, args: BackupVaultArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("gcp", "BackupVault", name, args.tags, opts)
        locked = is_locked(args.intent)
        # Key rings and keys are never deleted by Cloud KMS (destroying a key destroys its versions); a locked
        # bucket outlives the stack too (README, "Destroying a stage"), so both are left in the project then.
        self.key_ring = gcp.kms.KeyRing(
            self.child_name("keyring"),
            location=args.region,
            opts=self.child_opts(protect=args.protect, retain_on_delete=locked),
        )
        self.key = gcp.kms.CryptoKey(
            self.child_name("key"),
            key_ring=self.key_ring.id,
            purpose="ENCRYPT_DECRYPT",
            rotation_period=KEY_ROTATION,
            version_template=gcp.kms.CryptoKeyVersionTemplateArgs(
                algorithm="GOOGLE_SYMMETRIC_ENCRYPTION", protection_level="SOFTWARE"
            ),
            labels=self.labels(purpose="pgbackrest"),
            opts=self.child_opts(protect=args.protect, retain_on_delete=locked),
        )
        grant = gcp.kms.CryptoKeyIAMMember(
            self.child_name("key-storage-agent"),
            crypto_key_id=self.key.id,
            role=ENCRYPTER_DECRYPTER,
            member=pulumi.Output.concat("serviceAccount:", args.storage_agent),
            opts=self.child_opts(),
        )
        self.bucket = gcp.storage.Bucket(
            self.child_name("bucket"),
            name=args.repository.bucket,
            location=args.region.upper(),
            storage_class="STANDARD",
            uniform_bucket_level_access=True,
            public_access_prevention="enforced",
            encryption=gcp.storage.BucketEncryptionArgs(default_kms_key_name=self.key.id),
            versioning=gcp.storage.BucketVersioningArgs(enabled=True),
            # Settable only when the bucket is created; the members' timer sets each object's retention.
            enable_object_retention=args.intent.lock_days > 0,
            soft_delete_policy=gcp.storage.BucketSoftDeletePolicyArgs(
                retention_duration_seconds=soft_delete_seconds(args.intent)
            ),
            lifecycle_rules=[
                gcp.storage.BucketLifecycleRuleArgs(
                    action=gcp.storage.BucketLifecycleRuleActionArgs(type="AbortIncompleteMultipartUpload"),
                    condition=gcp.storage.BucketLifecycleRuleConditionArgs(age=ABORT_MULTIPART_DAYS),
                ),
                # pgBackRest's expiry and rewrites leave noncurrent generations: gone once past their lock.
                gcp.storage.BucketLifecycleRuleArgs(
                    action=gcp.storage.BucketLifecycleRuleActionArgs(type="Delete"),
                    condition=gcp.storage.BucketLifecycleRuleConditionArgs(
                        days_since_noncurrent_time=args.intent.noncurrent_expiry_days, with_state="ARCHIVED"
                    ),
                ),
            ],
            force_destroy=False,
            labels=self.labels(purpose="pgbackrest"),
            # The first write needs the service agent's grant on the key.
            opts=self.child_opts(protect=args.protect, retain_on_delete=locked, depends_on=[grant]),
        )
        self.location = self.bucket.url
        self.repository = args.repository
        self.register_outputs({"bucket": self.bucket.name, "url": self.bucket.url, "key": self.key.id})
