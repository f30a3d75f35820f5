"""AWS as the host of a Kubernetes target (EKS): the stage's S3 BackupVault, and the IAM role the Cluster's
service account assumes through the cluster's OIDC issuer (IRSA), so the Barman Cloud plugin writes backups with
short-lived credentials and no access key exists anywhere."""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws

from components.aws.identity import backup_statements, break_glass_role
from components.aws.spec import s3_repository
from components.aws.vault import BackupVault, BackupVaultArgs
from components.base import PlatformComponent
from components.contracts import VaultIntent
from components.workload_host import HostBackup, service_account_subject
from stacks.settings import Settings

# The annotation EKS's pod identity webhook reads to inject the role's web identity token.
ROLE_ANNOTATION = "eks.amazonaws.com/role-arn"
TOKEN_AUDIENCE = "sts.amazonaws.com"


def backup_role_name(settings: Settings) -> str:
    # Named, not auto-named: the service account's annotation carries the ARN before the role exists.
    return f"{settings.name}-k8s-backup"


def web_identity_trust_policy(account_id: str, issuer: str, namespace: str, service_account: str) -> str:
    """Only the one service account of the one cluster may assume the role."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "ClusterServiceAccount",
                    "Effect": "Allow",
                    "Principal": {"Federated": f"arn:aws:iam::{account_id}:oidc-provider/{issuer}"},
                    "Action": "sts:AssumeRoleWithWebIdentity",
                    "Condition": {
                        "StringEquals": {
                            f"{issuer}:sub": service_account_subject(namespace, service_account),
                            f"{issuer}:aud": TOKEN_AUDIENCE,
                        }
                    },
                }
            ],
        }
    )


class KubernetesBackupIdentity(PlatformComponent):
    """The service account's role (backup writer) and the break-glass restore role."""

    def __init__(
        self,
        name: str,
        *,
        role_name: str,
        trust_policy: str,
        vault: BackupVault,
        account_id: str,
        tags: dict[str, str],
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("aws", "KubernetesBackupIdentity", name, tags, opts)
        self.role = aws.iam.Role(
            self.child_name("role"),
            name=role_name,
            description="CloudNativePG backups (Barman Cloud plugin) through IRSA",
            assume_role_policy=trust_policy,
            tags=self.tags("role"),
            opts=self.child_opts(),
        )
        aws.iam.RolePolicy(
            self.child_name("policy"),
            role=self.role.id,
            policy=pulumi.Output.all(vault.bucket.arn, vault.key.arn).apply(
                lambda v: json.dumps({"Version": "2012-10-17", "Statement": backup_statements(v[0], v[1])})
            ),
            opts=self.child_opts(),
        )
        self.restore_role = break_glass_role(self, account_id, vault.bucket.arn, vault.key.arn)
        self.register_outputs({"role_arn": self.role.arn, "restore_role_arn": self.restore_role.arn})


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
    assert settings.kubernetes is not None and settings.kubernetes.oidc_issuer is not None
    child = pulumi.ResourceOptions(parent=parent)
    account_id = aws.get_caller_identity(opts=pulumi.InvokeOptions(parent=parent)).account_id
    repository = s3_repository(settings, account_id)
    vault = BackupVault(
        f"{name}-vault",
        BackupVaultArgs(intent=intent, repository=repository, protect=protect, account_id=account_id, tags=tags),
        child,
    )
    role_name = backup_role_name(settings)
    identity = KubernetesBackupIdentity(
        f"{name}-backup-identity",
        role_name=role_name,
        trust_policy=web_identity_trust_policy(account_id, settings.kubernetes.oidc_issuer, namespace, service_account),
        vault=vault,
        account_id=account_id,
        tags=tags,
        opts=child,
    )
    return HostBackup(
        vault=vault,
        repository=repository,
        location=vault.location,
        destination_path=f"s3://{repository.bucket}{repository.path}",
        credentials={"s3Credentials": {"inheritFromIAMRole": True}},
        service_account_annotations={ROLE_ANNOTATION: f"arn:aws:iam::{account_id}:role/{role_name}"},
        restore_identity=identity.restore_role.arn,
        # The role is named in advance, but its policy must exist before the first segment is archived.
        ready=(identity,),
    )
