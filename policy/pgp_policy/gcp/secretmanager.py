"""Secret Manager: the stack's secrets sit under a customer key Secret Manager's agent may use, every version
belongs to a secret of the stack and is enabled (the boot reads `versions/latest`), and only service accounts may
read them."""

from __future__ import annotations

from pulumi_policy import Severity

from ..core import Rule, as_list, dig, plain, resource_policy, settings, short, stack_policy, truthy
from ..graph import of_type, points_at
from .kms import KMS_004
from .types import CLOUD, CRYPTO_KEY, CRYPTO_KEY_IAM_MEMBER, SECRET, SECRET_IAM_MEMBER, SECRET_VERSION, SERVICE_IDENTITY

AREA = "iam"

# --- PGP-GCP-SEC-001 ----------------------------------------------------------------------------------------
SEC_001 = Rule(
    id="PGP-GCP-SEC-001",
    title="Secrets encrypted with a customer key",
    why="With Google's default encryption anyone allowed secretAccessor reads every secret; a customer key adds a "
    "second, auditable and revocable grant.",
    description="Every replica of a Secret Manager secret (automatic or user-managed replication) names a "
    "Cloud KMS key (customerManagedEncryption.kmsKeyName).",
    severity=Severity.MEDIUM,
    control="seed: secrets in the cloud's secret store (by analogy with CKV_AWS_149)",
    area=AREA,
    scope="resource",
    clouds=(CLOUD,),
    remediation="replication={'user_managed': {'replicas': [{'location': <region>, 'customer_managed_encryption': "
    "{'kms_key_name': key.id}}]}}; the Secret Manager service agent needs cryptoKeyEncrypterDecrypter.",
)


def _secret_cmek(args, report) -> None:
    if args.resource_type != SECRET:
        return
    replication = plain(args.props.get("replication")) or {}
    if replication.get("auto") is not None:
        if not dig(replication, "auto", "customerManagedEncryption", "kmsKeyName"):
            report(f"{args.name}: replication.auto has no customerManagedEncryption.kmsKeyName")
        return
    replicas = as_list(dig(replication, "userManaged", "replicas"))
    if not replicas:
        report(f"{args.name}: no replication with a customer-managed key")
    for i, replica in enumerate(replicas):
        if not dig(replica, "customerManagedEncryption", "kmsKeyName"):
            report(
                f"{args.name}: replication.userManaged.replicas[{i}] ({replica.get('location')}) has no "
                f"customerManagedEncryption.kmsKeyName"
            )


# --- PGP-GCP-SEC-002 ----------------------------------------------------------------------------------------
SEC_002 = Rule(
    id="PGP-GCP-SEC-002",
    title="Secret versions belong to the stack's secrets and are enabled",
    why="Nodes read `versions/latest` at boot; a disabled latest version fails every boot, and a version of a "
    "secret outside the stack escapes the stack's key, grants and protection.",
    description="Each secret version names a secret of the stack and is not disabled.",
    severity=Severity.MEDIUM,
    control="seed: secrets in the cloud's secret store",
    area=AREA,
    scope="stack",
    clouds=(CLOUD,),
    remediation="SecretVersion(secret=secret.id, secret_data=...) for a Secret of the same stack; leave enabled true.",
)


def _versions(args, report) -> None:
    secrets = of_type(args.resources, SECRET)
    for v in of_type(args.resources, SECRET_VERSION):
        if not any(points_at(v, "secret", s) for s in secrets):
            report(f"{short(v.urn)}: secret {v.props.get('secret')} is not a secret of the stack", v.urn)
        if v.props.get("enabled") is not None and not truthy(v.props.get("enabled")):
            report(f"{short(v.urn)}: the version is disabled, so versions/latest fails at boot", v.urn)


# --- PGP-GCP-SEC-003 ----------------------------------------------------------------------------------------
SEC_003 = Rule(
    id="PGP-GCP-SEC-003",
    title="Secrets readable by service accounts only",
    why="A secret grant beyond secretAccessor lets its holder add versions or grant others; people need no "
    "standing access to database credentials.",
    description="Secret IAM members are service accounts holding one of the allowed roles (secretAccessor).",
    severity=Severity.HIGH,
    control="seed: node identity limited to its secrets",
    area=AREA,
    scope="resource",
    clouds=(CLOUD,),
    remediation="Grant roles/secretmanager.secretAccessor on each secret to the node's service account only.",
    config={
        "allowed_roles": {
            "type": "array",
            "items": {"type": "string"},
            "default": ["roles/secretmanager.secretAccessor"],
        }
    },
)


def _secret_grants(args, report) -> None:
    if args.resource_type != SECRET_IAM_MEMBER:
        return
    role, member = str(args.props.get("role") or ""), str(args.props.get("member") or "")
    allowed = settings(args, SEC_003)["allowed_roles"]
    if role not in allowed:
        report(f"{args.name}: role {role or 'unset'} is not one of {', '.join(allowed)}")
    if not member.startswith("serviceAccount:"):
        report(f"{args.name}: member {member or 'unset'} is not a service account")


# --- PGP-GCP-SEC-004 ----------------------------------------------------------------------------------------
SECRET_MANAGER = "secretmanager.googleapis.com"
AGENT_DOMAIN = "@gcp-sa-secretmanager.iam.gserviceaccount.com"

SEC_004 = Rule(
    id="PGP-GCP-SEC-004",
    title="Secret keys usable by Secret Manager's agent",
    why="Secret Manager encrypts and decrypts a replica with its customer key as its own service agent: without "
    "the agent's grant the secret cannot be created or read, and every node's boot fails.",
    description="Each Cloud KMS key of the stack that a secret replica names is granted an encrypt/decrypt role "
    "to Secret Manager's service agent (the stack's ServiceIdentity for secretmanager.googleapis.com, or its "
    "service-<project number>@gcp-sa-secretmanager address).",
    severity=Severity.HIGH,
    control="seed: secrets in the cloud's secret store, encrypted with a customer key",
    area=AREA,
    scope="stack",
    clouds=(CLOUD,),
    remediation="agent = gcp.projects.ServiceIdentity(service='secretmanager.googleapis.com'); "
    "gcp.kms.CryptoKeyIAMMember(crypto_key_id=key.id, role='roles/cloudkms.cryptoKeyEncrypterDecrypter', "
    "member=agent.member), and the secrets depend on the grant.",
)


def _replica_keys(secret) -> list[str]:
    replication = plain(secret.props.get("replication")) or {}
    replicas = as_list(dig(replication, "userManaged", "replicas")) or [replication.get("auto") or {}]
    return [str(k) for k in (dig(r, "customerManagedEncryption", "kmsKeyName") for r in replicas) if k]


def _agent_grants(args, report) -> None:
    identities = of_type(args.resources, SERVICE_IDENTITY)
    agents = [a for a in identities if a.props.get("service") == SECRET_MANAGER]
    roles = set(settings(args, KMS_004)["allowed_roles"])
    grants = [g for g in of_type(args.resources, CRYPTO_KEY_IAM_MEMBER) if g.props.get("role") in roles]

    def to_agent(grant) -> bool:
        if grant.property_dependencies.get("member"):
            return any(points_at(grant, "member", a) for a in agents)
        return str(grant.props.get("member") or "").endswith(AGENT_DOMAIN)

    secrets = of_type(args.resources, SECRET)
    for key in of_type(args.resources, CRYPTO_KEY):
        named = [s for s in secrets if points_at(s, "replication", key) or key.props.get("id") in _replica_keys(s)]
        on_key = [g for g in grants if points_at(g, "cryptoKeyId", key)]
        if not named or any(to_agent(g) for g in on_key):
            continue
        report(
            f"{short(key.urn)}: {len(named)} secret(s) are encrypted with it, and Secret Manager's agent has no "
            "encrypt/decrypt grant on it",
            key.urn,
        )
        for other in identities:
            if other not in agents and any(points_at(g, "member", other) for g in on_key):
                report(
                    f"{short(other.urn)}: the agent of {other.props.get('service')}, not Secret Manager's, holds "
                    f"{short(key.urn)}: Secret Manager's agent has no encrypt/decrypt grant",
                    other.urn,
                )


POLICIES = [
    (SEC_001, resource_policy(SEC_001, _secret_cmek)),
    (SEC_002, stack_policy(SEC_002, _versions)),
    (SEC_003, resource_policy(SEC_003, _secret_grants)),
    (SEC_004, stack_policy(SEC_004, _agent_grants)),
]
