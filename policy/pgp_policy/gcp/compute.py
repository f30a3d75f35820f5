"""Compute Engine nodes: Shielded VM, disks under the stack's key, a dedicated service account, hardened
metadata (OS Login, no serial port), no IP forwarding, and a restart by Compute Engine when the host fails."""

from __future__ import annotations

from typing import Any

from pulumi_policy import Severity

from ..core import Rule, as_list, dig, plain, resource_policy, truthy
from .types import CLOUD, DISK, INSTANCE, INSTANCE_TEMPLATE, REGION_INSTANCE_TEMPLATE

AREA = "compute"
MACHINES = (INSTANCE, INSTANCE_TEMPLATE, REGION_INSTANCE_TEMPLATE)
DEFAULT_COMPUTE_SA = "-compute@developer.gserviceaccount.com"


def _only(types: tuple[str, ...], fn):
    def validate(args, report):
        if args.resource_type in types:
            fn(args, report)

    return validate


# --- PGP-GCP-VM-001 -----------------------------------------------------------------------------------------
VM_001 = Rule(
    id="PGP-GCP-VM-001",
    title="Shielded VM",
    why="Secure Boot refuses a tampered boot chain, and the vTPM with integrity monitoring reports one; a rootkit "
    "below the OS would otherwise read every page of the database.",
    description="Instances and templates enable Secure Boot and keep the vTPM and integrity monitoring on (the "
    "API leaves Secure Boot off unless asked).",
    severity=Severity.HIGH,
    control="CKV_GCP_39; CIS GCP Foundations 4.8",
    area=AREA,
    scope="resource",
    clouds=(CLOUD,),
    remediation="Set shielded_instance_config={'enable_secure_boot': True, 'enable_vtpm': True, "
    "'enable_integrity_monitoring': True} on a Shielded VM image (debian-12 is one).",
)


def _shielded(args, report) -> None:
    config = args.props.get("shieldedInstanceConfig") or {}
    if not truthy(config.get("enableSecureBoot")):
        report(f"{args.name}: shieldedInstanceConfig.enableSecureBoot is not true")
    for key in ("enableVtpm", "enableIntegrityMonitoring"):
        if config.get(key) is not None and not truthy(config.get(key)):
            report(f"{args.name}: shieldedInstanceConfig.{key} is false")


# --- PGP-GCP-VM-002 -----------------------------------------------------------------------------------------
VM_002 = Rule(
    id="PGP-GCP-VM-002",
    title="Disks under the stack's key",
    why="Data, WAL and temp files must be readable only through a key the stack controls and audits; a raw "
    "customer-supplied key in the program would sit in Pulumi state.",
    description="Boot disks and persistent disks are encrypted with a Cloud KMS key (kmsKeySelfLink), never "
    "with a raw or RSA-wrapped key given in the program.",
    severity=Severity.HIGH,
    control="CKV_GCP_37, CKV_GCP_38; CIS GCP Foundations 4.7",
    area=AREA,
    scope="resource",
    clouds=(CLOUD,),
    remediation="Set boot_disk.kms_key_self_link and Disk.disk_encryption_key.kms_key_self_link to the stack's "
    "disk key (the Compute Engine service agent needs cryptoKeyEncrypterDecrypter on it).",
)

RAW_KEYS = ("diskEncryptionKeyRaw", "diskEncryptionKeyRsa", "rawKey", "rsaEncryptedKey")


def _raw(block: Any) -> list[str]:
    block = plain(block)
    return [k for k in RAW_KEYS if isinstance(block, dict) and block.get(k)]


def _disk_keys(args, report) -> None:
    props = args.props
    if args.resource_type == DISK:
        key = props.get("diskEncryptionKey") or {}
        if not key.get("kmsKeySelfLink"):
            report(f"{args.name}: diskEncryptionKey.kmsKeySelfLink is unset (Google-managed key)")
        for k in _raw(key):
            report(f"{args.name}: diskEncryptionKey.{k} puts key material in the program")
        return
    if args.resource_type == INSTANCE:
        boot = props.get("bootDisk") or {}
        if not boot.get("kmsKeySelfLink"):
            report(f"{args.name}: bootDisk.kmsKeySelfLink is unset (Google-managed key)")
        for k in _raw(boot):
            report(f"{args.name}: bootDisk.{k} puts key material in the program")
        for i, disk in enumerate(as_list(props.get("attachedDisks"))):
            for k in _raw(disk):
                report(f"{args.name}: attachedDisks[{i}].{k} puts key material in the program")
        return
    for i, disk in enumerate(as_list(props.get("disks"))):  # templates describe their disks inline
        if not dig(disk, "diskEncryptionKey", "kmsKeySelfLink"):
            report(f"{args.name}: disks[{i}].diskEncryptionKey.kmsKeySelfLink is unset (Google-managed key)")


# --- PGP-GCP-VM-003 -----------------------------------------------------------------------------------------
VM_003 = Rule(
    id="PGP-GCP-VM-003",
    title="A dedicated service account, not the default one",
    why="The Compute Engine default service account has Editor on the project: with it, one compromised node "
    "could rewrite the whole project.",
    description="Instances and templates that run with a service account name a user-managed one; never the "
    "project's default compute service account (an account block without an email means it).",
    severity=Severity.HIGH,
    control="CKV_GCP_30, CKV_GCP_31; CIS GCP Foundations 4.1, 4.2",
    area=AREA,
    scope="resource",
    clouds=(CLOUD,),
    remediation="Create a gcp.serviceaccount.Account per node role and pass service_account={'email': "
    "account.email, 'scopes': ['cloud-platform']}; grant it only its bucket, key and secrets.",
)


def _service_account(args, report) -> None:
    for where, account in _accounts(args.props):
        email = str(account.get("email") or "")
        if not email:
            report(f"{args.name}: {where} has no email, so the instance runs as the default compute service account")
        elif email.endswith(DEFAULT_COMPUTE_SA):
            report(f"{args.name}: {where}.email {email} is the default compute service account")


def _accounts(props: Any) -> list[tuple[str, Any]]:
    value = plain(props.get("serviceAccount"))
    if isinstance(value, dict):
        return [("serviceAccount", value)]
    return [(f"serviceAccount[{i}]", a) for i, a in enumerate(as_list(value)) if isinstance(a, dict)]


# --- PGP-GCP-VM-004 -----------------------------------------------------------------------------------------
VM_004 = Rule(
    id="PGP-GCP-VM-004",
    title="OS Login on, serial port off",
    why="OS Login ties every SSH login to an IAM identity that can be revoked centrally; the interactive serial "
    "console accepts connections from anywhere and bypasses the firewall.",
    description="Instance metadata turns OS Login on (enable-oslogin TRUE) and does not enable the interactive "
    "serial port (serial-port-enable).",
    severity=Severity.HIGH,
    control="CKV_GCP_34, CKV_GCP_35; CIS GCP Foundations 4.4, 4.5",
    area=AREA,
    scope="resource",
    clouds=(CLOUD,),
    remediation="Set metadata={'enable-oslogin': 'TRUE', ...} and leave serial-port-enable unset or FALSE.",
)


def _metadata(args, report) -> None:
    metadata = args.props.get("metadata") or {}
    if not truthy(metadata.get("enable-oslogin")):
        report(f"{args.name}: metadata enable-oslogin is {metadata.get('enable-oslogin') or 'unset'}, not TRUE")
    if truthy(metadata.get("serial-port-enable")):
        report(f"{args.name}: metadata serial-port-enable is {metadata.get('serial-port-enable')}")


# --- PGP-GCP-VM-005 -----------------------------------------------------------------------------------------
VM_005 = Rule(
    id="PGP-GCP-VM-005",
    title="No IP forwarding",
    why="A node that forwards packets can route traffic between networks around the firewall rules.",
    description="Instances and templates do not enable canIpForward.",
    severity=Severity.MEDIUM,
    control="CKV_GCP_36; CIS GCP Foundations 4.6",
    area=AREA,
    scope="resource",
    clouds=(CLOUD,),
    remediation="Leave can_ip_forward unset or False.",
)


def _no_forwarding(args, report) -> None:
    if truthy(args.props.get("canIpForward")):
        report(f"{args.name}: canIpForward is true")


# --- PGP-GCP-VM-006 -----------------------------------------------------------------------------------------
VM_006 = Rule(
    id="PGP-GCP-VM-006",
    title="Restarted by Compute Engine when its host fails",
    why="A member whose host fails must come back and rejoin without an operator: with automatic restart Compute "
    "Engine starts the same instance on another host with its disks and internal address, and live migration "
    "keeps it running through host maintenance; a Spot or preemptible VM is stopped instead.",
    description="Instances and templates leave scheduling.automaticRestart on (unset means true), do not set "
    "onHostMaintenance TERMINATE, and are neither Spot (provisioningModel SPOT) nor preemptible.",
    severity=Severity.HIGH,
    control="seed: the old failed primary is replaced by another standby, without an operator",
    area=AREA,
    scope="resource",
    clouds=(CLOUD,),
    remediation="Set scheduling={'automatic_restart': True, 'on_host_maintenance': 'MIGRATE', "
    "'provisioning_model': 'STANDARD'}.",
)


def _restarted(args, report) -> None:
    scheduling = plain(args.props.get("scheduling")) or {}
    if scheduling.get("automaticRestart") is not None and not truthy(scheduling.get("automaticRestart")):
        report(f"{args.name}: scheduling.automaticRestart is false")
    if str(scheduling.get("onHostMaintenance") or "MIGRATE").upper() == "TERMINATE":
        report(f"{args.name}: scheduling.onHostMaintenance is TERMINATE")
    if str(scheduling.get("provisioningModel") or "STANDARD").upper() == "SPOT" or truthy(
        scheduling.get("preemptible")
    ):
        report(f"{args.name}: a Spot or preemptible VM is stopped, not restarted, when Compute Engine reclaims it")


POLICIES = [
    (VM_001, resource_policy(VM_001, _only(MACHINES, _shielded))),
    (VM_002, resource_policy(VM_002, _only((*MACHINES, DISK), _disk_keys))),
    (VM_003, resource_policy(VM_003, _only(MACHINES, _service_account))),
    (VM_004, resource_policy(VM_004, _only(MACHINES, _metadata))),
    (VM_005, resource_policy(VM_005, _only(MACHINES, _no_forwarding))),
    (VM_006, resource_policy(VM_006, _only(MACHINES, _restarted))),
]
