"""GCP as the host of a Kubernetes target (GKE): the stage's Cloud Storage BackupVault (as the VM flavour builds
it), and a Google service account the Cluster's Kubernetes service account impersonates through GKE Workload
Identity, so the Barman Cloud plugin writes backups with short-lived tokens and no key file exists anywhere.

GKE's tokens come from the project's workload identity pool, `<project>.svc.id.goog`: the binding names the one
Kubernetes service account as `serviceAccount:<pool>[<namespace>/<service account>]`, so no other service account
of the cluster (or of any other cluster in the project's pool) can impersonate the backup account."""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp

from components.contracts import VaultIntent
from components.gcp import identity as gcp_identity
from components.gcp.base import GcpComponent
from components.gcp.identity import BACKUP_WRITER_ROLE, member, restore_account
from components.gcp.spec import gcs_repository
from components.gcp.vault import BackupVault, BackupVaultArgs
from components.workload_host import HostBackup
from dataplane.boot.gcp import METADATA_TOKEN_URL
from dataplane.boot.gcs_lock import STORAGE_URL, lock_config, render_lock_script
from stacks.settings import Settings

# The annotation GKE's metadata server reads to hand the pod the Google service account's tokens.
SERVICE_ACCOUNT_ANNOTATION = "iam.gke.io/gcp-service-account"
WORKLOAD_IDENTITY_USER = "roles/iam.workloadIdentityUser"
BACKUP_ACCOUNT = "k8s-backup"


def workload_pool(project: str) -> str:
    return f"{project}.svc.id.goog"


def workload_member(project: str, namespace: str, service_account: str) -> str:
    """The IAM principal of exactly one Kubernetes service account in the project's pool."""
    return f"serviceAccount:{workload_pool(project)}[{namespace}/{service_account}]"


def destination_path(bucket: str, path: str) -> str:
    return f"gs://{bucket}{path}"


class KubernetesBackupIdentity(GcpComponent):
    """The backup writer the Cluster's service account impersonates (objectUser on the bucket only), and the
    break-glass restore account of the VM flavour."""

    def __init__(
        self,
        name: str,
        *,
        prefix: str,
        project: str,
        namespace: str,
        service_account: str,
        bucket: pulumi.Input[str],
        object_lock: bool,
        tags: dict[str, str],
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("gcp", "KubernetesBackupIdentity", name, tags, opts)
        # `pgp-<stage>-k8s-backup`: no longer than the VM flavour's `pgp-<stage>-monitoring`, which bounds the stage.
        self.account = gcp_identity.service_account(
            self, f"{prefix}-{BACKUP_ACCOUNT}", "CloudNativePG backups (Barman Cloud plugin)"
        )
        self.impersonation = gcp.serviceaccount.IAMMember(
            self.child_name("workload-identity"),
            service_account_id=self.account.name,
            role=WORKLOAD_IDENTITY_USER,
            member=workload_member(project, namespace, service_account),
            opts=self.child_opts(),
        )
        self.writer = gcp.storage.BucketIAMMember(
            self.child_name("backups"),
            bucket=bucket,
            role=BACKUP_WRITER_ROLE,
            member=member(self.account.email),
            opts=self.child_opts(),
        )
        if object_lock:
            # The lock job runs as the same service account (dataplane/cnpg_lock.py), as each VM member does.
            role = gcp_identity.lock_role(self, prefix, project)
            gcp.storage.BucketIAMMember(
                self.child_name("backup-lock"),
                bucket=bucket,
                role=role.name,
                member=member(self.account.email),
                opts=self.child_opts(),
            )
        self.restore = restore_account(self, prefix, bucket)
        self.register_outputs({"email": self.account.email, "restore_identity": self.restore.email})


def backup_host(
    parent: pulumi.ComponentResource,
    name: str,
    settings: Settings,
    intent: VaultIntent,
    *,
    namespace: str,
    service_account: str,
    protect: bool,
    tags: dict[str, str],
) -> HostBackup:
    child = pulumi.ResourceOptions(parent=parent)
    invoke = pulumi.InvokeOptions(parent=parent)
    project = gcp.organizations.get_project(opts=invoke).project_id
    assert project, "gcp:project names the project the GKE cluster (and its workload identity pool) is in"
    # Cloud Storage's agent exists only once asked for: this call creates it, so the key grant can name it.
    storage_agent = gcp.storage.get_project_service_account(opts=invoke).email_address
    repository = gcs_repository(settings, project)
    vault = BackupVault(
        f"{name}-vault",
        BackupVaultArgs(
            intent=intent,
            repository=repository,
            region=settings.region,
            storage_agent=storage_agent,
            protect=protect,
            tags=tags,
        ),
        child,
    )
    identity = KubernetesBackupIdentity(
        f"{name}-backup-identity",
        prefix=settings.name,
        project=project,
        namespace=namespace,
        service_account=service_account,
        bucket=vault.bucket.name,
        object_lock=intent.lock_days > 0,
        tags=tags,
        opts=child,
    )
    # Cloud Storage has no default retention for new objects: the VM flavour's lock script gives each its own.
    lock = (
        lock_config(repository.bucket, intent.lock_mode, intent.lock_days, METADATA_TOKEN_URL, STORAGE_URL)
        if intent.lock_days > 0
        else None
    )
    return HostBackup(
        vault=vault,
        repository=repository,
        location=vault.location,
        destination_path=destination_path(repository.bucket, repository.path),
        credentials={"googleCredentials": {"gkeEnvironment": True}},
        service_account_annotations={SERVICE_ACCOUNT_ANNOTATION: identity.account.email},
        restore_identity=identity.restore.email,
        ready=(identity,),
        lock_script=render_lock_script(lock) if lock else None,
    )
