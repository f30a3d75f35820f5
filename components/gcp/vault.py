"""BackupVault: the pgBackRest repository, a Cloud Storage bucket under a retention policy, encrypted with the
platform's own Cloud KMS key.

A bucket retention policy is GCP's write-once lock: no object can be deleted or replaced before it is older
than the retention period, whoever asks. Locked (prod's COMPLIANCE mode), the policy can never be removed or
shortened, and the bucket cannot be deleted before its newest object has aged out. Unlocked (GOVERNANCE), a
storage admin may lift it. Cloud Storage refuses Object Versioning on a bucket with a retention policy (a
retained object already cannot be replaced), so the bucket is not versioned and the noncurrent-version expiry
of the other clouds has no object to act on here.
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


@dataclass(frozen=True)
class BackupVaultArgs:
    intent: VaultIntent
    repository: GcsRepository  # pgBackRest's view of the bucket; its name is the bucket's
    region: str
    # Cloud Storage's service agent encrypts with the bucket's key on the writer's behalf.
    storage_agent: pulumi.Input[str]
    protect: bool
    tags: Mapping[str, str]


def retention_seconds(intent: VaultIntent) -> int:
    return intent.lock_days * DAY_SECONDS


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
            retention_policy=gcp.storage.BucketRetentionPolicyArgs(
                retention_period=str(retention_seconds(args.intent)), is_locked=locked
            ),
            lifecycle_rules=[
                gcp.storage.BucketLifecycleRuleArgs(
                    action=gcp.storage.BucketLifecycleRuleActionArgs(type="AbortIncompleteMultipartUpload"),
                    condition=gcp.storage.BucketLifecycleRuleConditionArgs(age=ABORT_MULTIPART_DAYS),
                )
            ],
            force_destroy=False,
            labels=self.labels(purpose="pgbackrest"),
            # The first write needs the service agent's grant on the key.
            opts=self.child_opts(protect=args.protect, retain_on_delete=locked, depends_on=[grant]),
        )
        self.location = self.bucket.url
        self.repository = args.repository
        self.register_outputs({"bucket": self.bucket.name, "url": self.bucket.url, "key": self.key.id})
