"""Identity: a service account per node that can touch only this platform's bucket and its own secrets, and a
restore account that only reads the backups.

Service account ids are the provider's auto-name of the logical name (`<logical>-<7 hex>`, at most 30), so
the logical names are the short `pgp-<stage>-<node>` (stacks/clouds/gcp.py bounds the stage for the longest,
`pgp-<stage>-monitoring`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from components.gcp.base import GcpComponent
from stacks.settings import MONITORING_NODE

# pgBackRest creates, reads, lists and deletes objects (its expiry removes what retention no longer needs) and
# replaces backup.info on every backup: objectCreator cannot replace or delete, so it takes objectUser. The
# objects' retention is what keeps a backup: Cloud Storage refuses deleting or replacing a generation before its
# retain-until time, whatever the caller's role (a replacement only makes it noncurrent).
BACKUP_WRITER_ROLE = "roles/storage.objectUser"
# The members' lock timer (dataplane/boot/gcs_lock.py) gives new objects their Object Retention Lock: PATCHing an
# object's retention takes storage.objects.update (objectUser has it) and storage.objects.setRetention, which no
# object role but objectAdmin has, and objectAdmin also has overrideUnlockedRetention, which shortens or removes a
# GOVERNANCE retention. So a project custom role holds exactly setRetention, granted on the bucket only.
LOCK_PERMISSIONS = ("storage.objects.setRetention",)
BACKUP_READER_ROLE = "roles/storage.objectViewer"
SECRET_ACCESSOR = "roles/secretmanager.secretAccessor"
# What the Ops Agent and the guest agent write about the node (project-wide roles: their APIs have no finer scope).
AGENT_ROLES = ("roles/monitoring.metricWriter", "roles/logging.logWriter")
RESTORE_ACCOUNT = "restore"


@dataclass(frozen=True)
class IdentityArgs:
    prefix: str  # the stage's name prefix, pgp-<stage>
    project: str
    bucket: pulumi.Input[str]
    shared_secret_ids: Sequence[pulumi.Input[str]]  # passwords every member needs
    member_tls_secret_ids: Mapping[str, pulumi.Input[str]]  # member name -> its own TLS bundle
    webhook_secret_ids: Mapping[str, pulumi.Input[str]]  # receiver -> its webhook URL: the monitoring node's
    tags: Mapping[str, str]
    object_lock: bool = False  # the members set the bucket's objects' retention (the vault's lock)


def lock_role_id(prefix: str) -> str:
    """A custom role id allows letters, digits, `_` and `.` only; a deleted one is not reusable for 37 days, so
    the id is the stage's, stable across updates."""
    return prefix.replace("-", "_") + "_backupObjectLock"


def lock_role(owner: GcpComponent, prefix: str, project: str) -> gcp.projects.IAMCustomRole:
    """The project role holding exactly LOCK_PERMISSIONS, granted on the bucket to whoever runs the lock."""
    return gcp.projects.IAMCustomRole(
        owner.child_name("backup-lock-role"),
        project=project,
        role_id=lock_role_id(prefix),
        title=f"{prefix} backup object lock",
        description="Set the Object Retention Lock of new backup objects; never shorten or remove one",
        permissions=list(LOCK_PERMISSIONS),
        stage="GA",
        opts=owner.child_opts(),
    )


def member(email: pulumi.Input[str]) -> pulumi.Output[str]:
    return pulumi.Output.concat("serviceAccount:", email)


class Identity(GcpComponent):
    def __init__(self, name: str, args: IdentityArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("gcp", "Identity", name, args.tags, opts)
        self.accounts: dict[str, gcp.serviceaccount.Account] = {}
        self.lock_role = lock_role(self, args.prefix, args.project) if args.object_lock else None
        for member_name, tls_secret in args.member_tls_secret_ids.items():
            account = self._account(member_name, f"PostgreSQL member {member_name}")
            self._node_roles(member_name, account, args)
            gcp.storage.BucketIAMMember(
                self.child_name(f"{member_name}-backups"),
                bucket=args.bucket,
                role=BACKUP_WRITER_ROLE,
                member=member(account.email),
                opts=self.child_opts(),
            )
            if self.lock_role is not None:
                gcp.storage.BucketIAMMember(
                    self.child_name(f"{member_name}-backup-lock"),
                    bucket=args.bucket,
                    role=self.lock_role.name,
                    member=member(account.email),
                    opts=self.child_opts(),
                )
            for i, secret in enumerate([*args.shared_secret_ids, tls_secret]):
                gcp.secretmanager.SecretIamMember(
                    self.child_name(f"{member_name}-secret-{i}"),
                    secret_id=secret,
                    role=SECRET_ACCESSOR,
                    member=member(account.email),
                    opts=self.child_opts(),
                )
            self.accounts[member_name] = account

        monitoring = self._account(f"{args.prefix}-{MONITORING_NODE}", "Prometheus, Alertmanager and Grafana node")
        self._node_roles(MONITORING_NODE, monitoring, args)
        for receiver, secret in sorted(args.webhook_secret_ids.items()):
            gcp.secretmanager.SecretIamMember(
                self.child_name(f"{MONITORING_NODE}-webhook-{receiver}"),
                secret_id=secret,
                role=SECRET_ACCESSOR,
                member=member(monitoring.email),
                opts=self.child_opts(),
            )
        restore = restore_account(self, args.prefix, args.bucket)
        self.member_identities = {m: a.email for m, a in self.accounts.items()}
        self.monitoring_identity = monitoring.email
        self.restore_identity = restore.email
        # The console's duties (`pgp --as`) reach members through AWS Systems Manager only so far: none here yet.
        self.duty_identities: dict[str, pulumi.Output[str]] = {}
        self.register_outputs(
            {
                "member_identities": self.member_identities,
                "monitoring_identity": self.monitoring_identity,
                "restore_identity": self.restore_identity,
            }
        )

    def _account(self, logical: str, description: str) -> gcp.serviceaccount.Account:
        return service_account(self, logical, description)

    def _node_roles(self, label: str, account: gcp.serviceaccount.Account, args: IdentityArgs) -> None:
        for role in AGENT_ROLES:
            gcp.projects.IAMMember(
                self.child_name(f"{label}-{role.rpartition('.')[2].lower()}"),
                project=args.project,
                role=role,
                member=member(account.email),
                opts=self.child_opts(),
            )


def service_account(owner: GcpComponent, logical: str, description: str) -> gcp.serviceaccount.Account:
    return gcp.serviceaccount.Account(
        logical,
        display_name=logical,
        description=f"{owner.logical_name}: {description}",
        opts=owner.child_opts(),
    )


def restore_account(owner: GcpComponent, prefix: str, bucket: pulumi.Input[str]) -> gcp.serviceaccount.Account:
    """Break-glass restores: read and list the backups, nothing else (the bucket's key is used by Cloud Storage's
    service agent on the reader's behalf, so no key grant is needed)."""
    restore = service_account(owner, f"{prefix}-{RESTORE_ACCOUNT}", "Restores from the backups (read only)")
    gcp.storage.BucketIAMMember(
        owner.child_name("restore-backups"),
        bucket=bucket,
        role=BACKUP_READER_ROLE,
        member=member(restore.email),
        opts=owner.child_opts(),
    )
    return restore
