"""Virtual machines and their disks: customer-key encryption through a disk encryption set, Trusted Launch,
SSH keys only, one zone per VM, boot diagnostics."""

from __future__ import annotations

import re
from typing import Any

from pulumi_policy import Severity

from ..core import Rule, as_list, dig, plain, resource_policy, settings, truthy
from .types import CLOUD, DES, DISK, VM

AREA = "compute"
CUSTOMER_KEY_TYPES = (
    "EncryptionAtRestWithCustomerKey",
    "EncryptionAtRestWithPlatformAndCustomerKeys",
    "ConfidentialVmEncryptedWithCustomerKey",
)


def _only(types: tuple[str, ...], fn):
    def validate(args, report):
        if args.resource_type in types:
            fn(args, report)

    return validate


# --- PGP-AZURE-VM-001 ---------------------------------------------------------------------------------------
VM_001 = Rule(
    id="PGP-AZURE-VM-001",
    title="Disks encrypted with a customer key",
    why="Data, WAL and temp files on disk must be unreadable from a stolen snapshot or an exported disk, and the "
    "key must be one we can audit and revoke.",
    description="Managed disks are encrypted at rest with a customer key through a disk encryption set: the "
    "VM's OS disk and every new data disk name one (or the VM encrypts at host), and standalone disks "
    "use a customer-key encryption type with a disk encryption set.",
    severity=Severity.HIGH,
    control="CIS Microsoft Azure Foundations 7.3/7.4; Azure Security Benchmark DP-5; CKV_AZURE_93/151",
    area=AREA,
    scope="resource",
    clouds=(CLOUD,),
    remediation="Pass managed_disk={'disk_encryption_set': {'id': des.id}} on the OS and data disks (or "
    "security_profile.encryption_at_host=True), and encryption={'type': "
    "'EncryptionAtRestWithCustomerKey', 'disk_encryption_set_id': des.id} on each Disk.",
)


def _vm_disks(props: Any) -> list[tuple[str, Any]]:
    storage = props.get("storageProfile") or {}
    disks = [("osDisk", storage.get("osDisk"))] if storage.get("osDisk") else []
    for i, d in enumerate(as_list(storage.get("dataDisks"))):
        # An attached disk is its own Disk resource, judged there.
        if str(d.get("createOption") or "").lower() != "attach":
            disks.append((f"dataDisks[{i}] (lun {d.get('lun')})", d))
    return disks


def _encrypted(args, report) -> None:
    p = args.props
    if args.resource_type == DISK:
        enc = p.get("encryption") or {}
        kind = enc.get("type") or "EncryptionAtRestWithPlatformKey"
        if kind not in CUSTOMER_KEY_TYPES:
            report(f"{args.name}: encryption.type is {kind}, not a customer key")
        elif not enc.get("diskEncryptionSetId"):
            report(f"{args.name}: encryption names no diskEncryptionSetId")
        return
    if truthy(dig(p, "securityProfile", "encryptionAtHost")):
        return
    if not dig(p, "storageProfile", "osDisk"):
        report(f"{args.name}: storageProfile.osDisk is unset, so the OS disk gets the platform key")
    for where, disk in _vm_disks(p):
        if not dig(disk, "managedDisk", "diskEncryptionSet", "id"):
            report(f"{args.name}: {where} names no diskEncryptionSet and encryptionAtHost is off")


# --- PGP-AZURE-VM-002 ---------------------------------------------------------------------------------------
VM_002 = Rule(
    id="PGP-AZURE-VM-002",
    title="Trusted Launch",
    why="Secure Boot and a virtual TPM stop boot kits and kernel-mode rootkits from persisting on a database node, "
    "and let Defender attest the boot chain.",
    description="VMs run as Trusted Launch (or Confidential) with Secure Boot and vTPM on, unless their size is "
    "one the configured patterns list as lacking Trusted Launch support.",
    severity=Severity.MEDIUM,
    control="Azure Security Benchmark PV-4 (Trusted Launch); CKV_AZURE_50 (by analogy)",
    area=AREA,
    scope="resource",
    clouds=(CLOUD,),
    remediation="Set security_profile={'security_type': 'TrustedLaunch', 'uefi_settings': "
    "{'secure_boot_enabled': True, 'v_tpm_enabled': True}} and boot a Gen2 image.",
    config={
        "unsupported_size_patterns": {
            "type": "array",
            "items": {"type": "string"},
            "default": [r"^Basic_A\d", r"^Standard_A\d"],
            "description": "regexes of VM sizes without Trusted Launch support (Gen1-only series)",
        }
    },
)


def _trusted_launch(args, report) -> None:
    size = str(dig(args.props, "hardwareProfile", "vmSize") or "")
    if any(re.search(p, size) for p in settings(args, VM_002)["unsupported_size_patterns"]):
        return
    sec = args.props.get("securityProfile") or {}
    kind = sec.get("securityType")
    if kind not in ("TrustedLaunch", "ConfidentialVM"):
        report(f"{args.name}: securityProfile.securityType is {kind or 'unset (Standard)'}")
    for flag in ("secureBootEnabled", "vTpmEnabled"):
        if not truthy(dig(sec, "uefiSettings", flag)):
            report(f"{args.name}: uefiSettings.{flag} is not true")


# --- PGP-AZURE-VM-003 ---------------------------------------------------------------------------------------
VM_003 = Rule(
    id="PGP-AZURE-VM-003",
    title="SSH keys only",
    why="A password login can be guessed or replayed, and the admin password sits in the VM model and state.",
    description="Linux VMs disable password authentication and set no admin password.",
    severity=Severity.HIGH,
    control="CIS Microsoft Azure Foundations 7.x; Azure Security Benchmark IM-6; CKV_AZURE_1/149",
    area=AREA,
    scope="resource",
    clouds=(CLOUD,),
    remediation="Set os_profile.linux_configuration.disable_password_authentication=True with ssh public keys, "
    "and drop admin_password.",
)


def _ssh_only(args, report) -> None:
    os_profile = args.props.get("osProfile") or {}
    if not truthy(dig(os_profile, "linuxConfiguration", "disablePasswordAuthentication")):
        report(f"{args.name}: linuxConfiguration.disablePasswordAuthentication is not true")
    if os_profile.get("adminPassword"):
        report(f"{args.name}: osProfile sets an adminPassword")


# --- PGP-AZURE-VM-004 ---------------------------------------------------------------------------------------
VM_004 = Rule(
    id="PGP-AZURE-VM-004",
    title="VMs pinned to one zone",
    why="Without a zone Azure places the VM anywhere in the region, so two members may share the zone whose loss "
    "the cluster must survive.",
    description="Every VM names exactly one availability zone.",
    severity=Severity.HIGH,
    control="Azure Security Benchmark BR (resilience); seed: members spread over zones",
    area=AREA,
    scope="resource",
    clouds=(CLOUD,),
    remediation="Pass zones=[<the member's zone>] (the topology places members round-robin).",
)


def _zonal(args, report) -> None:
    zones = as_list(plain(args.props.get("zones")))
    if len(zones) != 1:
        report(f"{args.name}: zones is {zones or 'unset'}, expected exactly one zone")


# --- PGP-AZURE-VM-005 ---------------------------------------------------------------------------------------
VM_005 = Rule(
    id="PGP-AZURE-VM-005",
    title="Boot diagnostics on",
    why="A node that does not come up (cloud-init failing, a full disk) can only be diagnosed from its serial "
    "console and screenshot.",
    description="VMs enable boot diagnostics (managed storage when no storage URI is named).",
    severity=Severity.LOW,
    control="Azure Security Benchmark LT-3 (by analogy); seed: nodes diagnosable without a login",
    area=AREA,
    scope="resource",
    clouds=(CLOUD,),
    remediation="Set diagnostics_profile={'boot_diagnostics': {'enabled': True}}.",
)


def _boot_diagnostics(args, report) -> None:
    if not truthy(dig(args.props, "diagnosticsProfile", "bootDiagnostics", "enabled")):
        report(f"{args.name}: diagnosticsProfile.bootDiagnostics.enabled is not true")


# --- PGP-AZURE-VM-006 ---------------------------------------------------------------------------------------
VM_006 = Rule(
    id="PGP-AZURE-VM-006",
    title="Disk encryption sets use a rotating customer key",
    why="A disk encryption set pinned to one key version keeps encrypting with it after rotation; following the "
    "latest version makes the vault's rotation policy effective.",
    description="Disk encryption sets use a customer-key encryption type, name a Key Vault key (activeKey.keyUrl "
    "and its source vault), read it through a managed identity and follow its latest version.",
    severity=Severity.MEDIUM,
    control="Azure Security Benchmark DP-6; CIS Microsoft Azure Foundations 7.x (CMK for disks)",
    area=AREA,
    scope="resource",
    clouds=(CLOUD,),
    remediation="Set encryption_type='EncryptionAtRestWithCustomerKey', active_key={'key_url': key.key_uri, "
    "'source_vault': {'id': vault.id}}, identity={'type': 'UserAssigned', ...} and "
    "rotation_to_latest_key_version_enabled=True.",
)


def _des(args, report) -> None:
    p = args.props
    kind = p.get("encryptionType") or "EncryptionAtRestWithCustomerKey"  # the API's default
    if kind not in CUSTOMER_KEY_TYPES:
        report(f"{args.name}: encryptionType is {kind}")
    if not dig(p, "activeKey", "keyUrl"):
        report(f"{args.name}: activeKey.keyUrl is unset")
    if not dig(p, "identity", "type") or str(dig(p, "identity", "type")) == "None":
        report(f"{args.name}: no managed identity to read the key")
    if not truthy(p.get("rotationToLatestKeyVersionEnabled")):
        report(f"{args.name}: rotationToLatestKeyVersionEnabled is not true")


POLICIES = [
    (VM_001, resource_policy(VM_001, _only((VM, DISK), _encrypted))),
    (VM_002, resource_policy(VM_002, _only((VM,), _trusted_launch))),
    (VM_003, resource_policy(VM_003, _only((VM,), _ssh_only))),
    (VM_004, resource_policy(VM_004, _only((VM,), _zonal))),
    (VM_005, resource_policy(VM_005, _only((VM,), _boot_diagnostics))),
    (VM_006, resource_policy(VM_006, _only((DES,), _des))),
]
