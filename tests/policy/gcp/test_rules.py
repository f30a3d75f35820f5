"""GCP's own rule families (PGP-GCP-*) and the shared rules on GCP resources, through the analyzer protocol: the
compliant GCP fixture stack passes every rule, and each violating variant fails with the rule's id, prod's
mandatory level and a message naming what is wrong; every GCP type the platform builds is judged by a rule
with a passing and a failing case."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.policy.conftest import by_policy, cloud_of, dump
from tests.policy.gcp.conftest import assert_gcp_violation
from tests.policy.gcp.fixtures import (
    FIREWALL,
    REGION,
    GcpStack,
    gcp_node_user_data,
    labels,
    lock_script,
    rec,
)
from tests.policy.mutations import remove, set_input, unprotect

Mutation = Callable[[GcpStack], str | None]


def pop(name: str, path: str) -> Mutation:
    def mutate(s: GcpStack) -> str:
        target = s.find(name).inputs
        *parents, last = path.split(".")
        for p in parents:
            target = target[p]
        target.pop(last)
        return name

    return mutate


def edit(name: str, change: Callable[[dict], object]) -> Mutation:
    def mutate(s: GcpStack) -> str:
        change(s.find(name).inputs)
        return name

    return mutate


def unlink(name: str, prop: str, value: str) -> Mutation:
    """Point `prop` at something outside the stack: no property dependency, a value no resource has."""

    def mutate(s: GcpStack) -> str:
        record = s.find(name)
        record.property_dependencies.pop(prop, None)
        record.inputs[prop] = value
        return name

    return mutate


def add_firewall(name: str, **inputs) -> Mutation:
    def mutate(s: GcpStack) -> str:
        vpc = s.find("pg-network-vpc")
        s.records.append(
            rec(
                FIREWALL,
                name,
                {"network": "pg-network-vpc-id", "description": "x", "logConfig": {"metadata": "x"}, **inputs},
                refs={"network": [vpc]},
            )
        )
        return name

    return mutate


def _lock(s: GcpStack, script: str | None) -> str:
    """Every member's lock timer script replaced (None: not rendered); the anchor is the first member."""
    for node in s.nodes:
        s.set_user_data(node.name, gcp_node_user_data(node.inputs["networkInterfaces"][0]["networkIp"], lock=script))
    return s.nodes[0].name


def add_key(s: GcpStack) -> str:
    s.records.append(
        rec(
            "gcp:serviceaccount/key:Key",
            "pg-identity-node-key",
            {"serviceAccountId": "pgp-node"},
            refs={"serviceAccountId": [s.account]},
        )
    )
    return s.account.name


def node_files(extra: dict[str, str]) -> Mutation:
    def mutate(s: GcpStack) -> str:
        node = s.nodes[0]
        host = node.inputs["networkInterfaces"][0]["networkIp"]
        node.inputs["metadata"]["user-data"] = gcp_node_user_data(host, extra=extra)
        return node.name

    return mutate


def same_zone(s: GcpStack) -> str:
    for n in s.nodes:
        n.inputs["zone"] = s.nodes[0].inputs["zone"]
    return s.nodes[0].name


def without_alert_policies(s: GcpStack) -> None:
    for r in list(s.records):
        if r.type == "gcp:monitoring/alertPolicy:AlertPolicy":
            s.remove(r.name)


WORLD = {"allows": [{"protocol": "tcp", "ports": ["22"]}], "sourceRanges": ["0.0.0.0/0"]}
SA_KEY_JSON = json.dumps(
    {"type": "service_account", "project_id": "acme", "private_key_id": "0123456789abcdef0123456789abcdef01234567"}
)

# (rule id, case, mutation returning the URN-anchor resource name or None, expected text in the message)
VIOLATIONS: list[tuple[str, str, Mutation, str]] = [
    (
        "PGP-GCP-NET-001",
        "access config",
        edit("pg-cluster-pg-1", lambda i: i["networkInterfaces"][0].update(accessConfigs=[{"networkTier": "PREMIUM"}])),
        "networkInterfaces[0].accessConfigs gives the instance an external address",
    ),
    (
        "PGP-GCP-NET-001",
        "external address",
        set_input("pg-network-member-0-address", "addressType", "EXTERNAL"),
        "addressType is EXTERNAL",
    ),
    (
        "PGP-GCP-NET-001",
        "address type unset",
        pop("pg-network-member-1-address", "addressType"),
        "addressType is unset (EXTERNAL)",
    ),
    ("PGP-GCP-NET-002", "world ssh", add_firewall("pg-network-open-ssh", **WORLD), "admits 0.0.0.0/0 on tcp:22"),
    (
        "PGP-GCP-NET-002",
        "no source at all",
        add_firewall("pg-network-open-pg", allows=[{"protocol": "tcp", "ports": ["5432"]}]),
        "admits 0.0.0.0/0 (no source given: GCP takes 0.0.0.0/0) on tcp:5432",
    ),
    (
        "PGP-GCP-NET-002",
        "half the internet, every port",
        add_firewall("pg-network-open-half", allows=[{"protocol": "all"}], sourceRanges=["128.0.0.0/1"]),
        "admits 128.0.0.0/1 on all protocols",
    ),
    (
        "PGP-GCP-NET-002",
        "ipv6 world",
        add_firewall("pg-network-open-v6", allows=[{"protocol": "tcp", "ports": ["8008"]}], sourceRanges=["::/0"]),
        "admits ::/0 on tcp:8008",
    ),
    (
        "PGP-GCP-NET-003",
        "all egress",
        add_firewall(
            "pg-network-egress-all", direction="EGRESS", allows=[{"protocol": "all"}], destinationRanges=["0.0.0.0/0"]
        ),
        "allows egress to 0.0.0.0/0 on all protocols",
    ),
    (
        "PGP-GCP-NET-003",
        "egress range, no destination",
        add_firewall("pg-network-egress-range", direction="EGRESS", allows=[{"protocol": "tcp", "ports": ["1-65535"]}]),
        "allows egress to 0.0.0.0/0 on tcp:1-65535",
    ),
    (
        "PGP-GCP-NET-004",
        "no default deny",
        remove("pg-network-deny-egress", "pg-network-vpc"),
        "has no firewall rule denying all egress to 0.0.0.0/0",
    ),
    (
        "PGP-GCP-NET-004",
        "default deny disabled",
        lambda s: (set_input("pg-network-deny-egress", "disabled", True)(s), "pg-network-vpc")[1],
        "has no firewall rule denying all egress to 0.0.0.0/0",
    ),
    (
        "PGP-GCP-NET-005",
        "auto mode",
        set_input("pg-network-vpc", "autoCreateSubnetworks", True),
        "autoCreateSubnetworks is True",
    ),
    (
        "PGP-GCP-NET-005",
        "auto mode by default",
        pop("pg-network-vpc", "autoCreateSubnetworks"),
        "autoCreateSubnetworks is unset (true)",
    ),
    ("PGP-GCP-NET-006", "no flow logs", pop("pg-network-private-a", "logConfig"), "no logConfig (flow logs off)"),
    (
        "PGP-GCP-NET-006",
        "thin sampling",
        set_input("pg-network-private-b", "logConfig.flowSampling", 0.1),
        "logConfig.flowSampling is 0.1, minimum 0.5",
    ),
    (
        "PGP-GCP-NET-007",
        "no private google access",
        set_input("pg-network-private-c", "privateIpGoogleAccess", False),
        "privateIpGoogleAccess is not true",
    ),
    (
        "PGP-GCP-NET-008",
        "undeclared peer",
        set_input("pg-network-peer-app", "peerNetwork", "projects/rogue/global/networks/vpc"),
        "peer network projects/rogue/global/networks/vpc is not a declared peer",
    ),
    (
        "PGP-GCP-NET-008",
        "custom routes",
        set_input("pg-network-peer-app", "importCustomRoutes", True),
        "importCustomRoutes is true",
    ),
    ("PGP-GCP-NET-009", "router without nat", remove("pg-network-nat", "pg-network-router"), "carries no Cloud NAT"),
    (
        "PGP-GCP-NET-009",
        "nat unlogged",
        set_input("pg-network-nat", "logConfig.enable", False),
        "logConfig.enable is not true",
    ),
    (
        "PGP-GCP-NET-010",
        "undescribed",
        set_input("pg-network-allow-members", "description", ""),
        "the firewall rule has no description",
    ),
    (
        "PGP-GCP-NET-010",
        "unlogged",
        pop("pg-network-allow-members", "logConfig"),
        "firewall rules logging is off",
    ),
    (
        "PGP-GCP-LB-001",
        "external forwarding rule",
        set_input("pg-cluster-write", "loadBalancingScheme", "EXTERNAL"),
        "loadBalancingScheme is EXTERNAL, not internal",
    ),
    (
        "PGP-GCP-LB-001",
        "forwarding rule default",
        pop("pg-cluster-read", "loadBalancingScheme"),
        "loadBalancingScheme is unset (EXTERNAL), not internal",
    ),
    (
        "PGP-GCP-LB-001",
        "external backend service",
        set_input("pg-cluster-write-backend", "loadBalancingScheme", "EXTERNAL"),
        "loadBalancingScheme is EXTERNAL, not internal",
    ),
    (
        "PGP-GCP-LB-002",
        "unchecked backend",
        unlink("pg-cluster-write-backend", "healthChecks", "projects/x/regions/y/healthChecks/tcp"),
        "no health check of the stack",
    ),
    (
        "PGP-GCP-LB-002",
        "forwarding rule to elsewhere",
        unlink("pg-cluster-read", "backendService", "projects/x/regions/y/backendServices/other"),
        "backendService is not a backend service of the stack",
    ),
    (
        "PGP-GCP-LB-002",
        "member in no group",
        lambda s: (s.remove("pg-cluster-group-a"), "pg-cluster-pg-1")[1],
        "is in no instance group behind the load balancer",
    ),
    (
        "PGP-GCP-LB-002",
        "empty group",
        lambda s: (
            s.find("pg-cluster-group-b").property_dependencies.pop("instances"),
            s.find("pg-cluster-group-b").inputs.update(instances=[]),
            "pg-cluster-group-b",
        )[2],
        "pg-cluster-group-b holds no member of the stack",
    ),
    (
        "PGP-GCP-LB-002",
        "backend without groups",
        lambda s: (
            s.find("pg-cluster-read-backend").property_dependencies.pop("backends"),
            s.find("pg-cluster-read-backend").inputs.update(backends=[]),
            "pg-cluster-read-backend",
        )[2],
        "no instance group of the stack among its backends",
    ),
    (
        "PGP-GCP-LB-003",
        "slow detection",
        set_input("pg-cluster-write-check", "checkIntervalSec", 10),
        "a failed backend is noticed after 20 s (limit 10)",
    ),
    (
        "PGP-GCP-LB-003",
        "timeout above interval",
        set_input("pg-cluster-read-check", "timeoutSec", 5),
        "timeoutSec 5 exceeds checkIntervalSec 2",
    ),
    (
        "PGP-GCP-GCS-001",
        "bucket retention policy",
        set_input("pg-vault-bucket", "retentionPolicy", {"retentionPeriod": str(14 * 86_400), "isLocked": True}),
        "pgBackRest issue #1439",
    ),
    ("PGP-GCP-GCS-001", "unversioned", pop("pg-vault-bucket", "versioning"), "versioning is not enabled"),
    (
        "PGP-GCP-GCS-001",
        "no object retention",
        set_input("pg-vault-bucket", "enableObjectRetention", False),
        "enableObjectRetention is not true",
    ),
    ("PGP-GCP-GCS-001", "no lock timer", lambda s: _lock(s, None), "renders no lock timer"),
    ("PGP-GCP-GCS-001", "too short", lambda s: _lock(s, lock_script(days=3)), "a lock of 3 day(s) is outside 14-365"),
    (
        "PGP-GCP-GCS-001",
        "governance in prod",
        lambda s: _lock(s, lock_script(mode="GOVERNANCE")),
        "sets mode Unlocked, not Locked",
    ),
    (
        "PGP-GCP-GCS-001",
        "another bucket",
        lambda s: _lock(s, lock_script(bucket="pgp-elsewhere")),
        "locks pgp-elsewhere, not pgp-backups-acme-pgp-test",
    ),
    (
        "PGP-GCP-GCS-001",
        "short soft delete",
        set_input("pg-vault-bucket", "softDeletePolicy.retentionDurationSeconds", 7 * 86_400),
        "soft delete keeps 7 day(s), under the 14-day minimum",
    ),
    (
        "PGP-GCP-GCS-001",
        "noncurrent expiry inside the lock",
        edit("pg-vault-bucket", lambda i: i["lifecycleRules"][1]["condition"].update(daysSinceNoncurrentTime=7)),
        "deleted after 7 day(s), not past the 14-day lock",
    ),
    (
        "PGP-GCP-GCS-001",
        "no noncurrent expiry",
        edit("pg-vault-bucket", lambda i: i["lifecycleRules"].pop(1)),
        "no Delete lifecycle rule on noncurrent generations",
    ),
    (
        "PGP-GCP-GCS-002",
        "object acls",
        set_input("pg-vault-bucket", "uniformBucketLevelAccess", False),
        "uniformBucketLevelAccess is not true",
    ),
    (
        "PGP-GCP-GCS-002",
        "public access inherited",
        set_input("pg-vault-bucket", "publicAccessPrevention", "inherited"),
        "publicAccessPrevention is inherited, not enforced",
    ),
    (
        "PGP-GCP-GCS-003",
        "google-managed key",
        pop("pg-vault-bucket", "encryption"),
        "no encryption.defaultKmsKeyName (Google-managed key)",
    ),
    (
        "PGP-GCP-GCS-004",
        "bucket admin",
        set_input("pg-vault-node", "role", "roles/storage.admin"),
        "role roles/storage.admin is not one of",
    ),
    (
        "PGP-GCP-GCS-004",
        "a person",
        set_input("pg-vault-node", "member", "user:alice@example.com"),
        "member user:alice@example.com is not a service account",
    ),
    ("PGP-GCP-KMS-001", "never rotates", pop("pg-keys-vault", "rotationPeriod"), "no rotationPeriod"),
    (
        "PGP-GCP-KMS-001",
        "yearly",
        set_input("pg-keys-disks", "rotationPeriod", "31536000s"),
        "rotationPeriod is 365 days, above 90",
    ),
    (
        "PGP-GCP-KMS-002",
        "destroyed after a day",
        set_input("pg-keys-secrets", "destroyScheduledDuration", "86400s"),
        "destroyScheduledDuration is 86400s, minimum 30 days",
    ),
    (
        "PGP-GCP-KMS-003",
        "global key ring",
        set_input("pg-keys-ring", "location", "global"),
        f"location is global, not the stack's region {REGION}",
    ),
    (
        "PGP-GCP-KMS-004",
        "key admin",
        set_input("pg-keys-vault-node", "role", "roles/cloudkms.admin"),
        "role roles/cloudkms.admin is not one of",
    ),
    (
        "PGP-GCP-KMS-004",
        "a group",
        set_input("pg-keys-vault-node", "member", "group:dba@example.com"),
        "member group:dba@example.com is not a service account",
    ),
    (
        "PGP-GCP-VM-001",
        "no secure boot",
        set_input("pg-cluster-pg-1", "shieldedInstanceConfig.enableSecureBoot", False),
        "shieldedInstanceConfig.enableSecureBoot is not true",
    ),
    (
        "PGP-GCP-VM-001",
        "no vtpm",
        set_input("pg-monitoring-node", "shieldedInstanceConfig.enableVtpm", False),
        "shieldedInstanceConfig.enableVtpm is false",
    ),
    (
        "PGP-GCP-VM-002",
        "boot disk google-managed",
        pop("pg-cluster-pg-2", "bootDisk.kmsKeySelfLink"),
        "bootDisk.kmsKeySelfLink is unset (Google-managed key)",
    ),
    (
        "PGP-GCP-VM-002",
        "data disk google-managed",
        set_input("pg-cluster-pg-1-data", "diskEncryptionKey", {}),
        "diskEncryptionKey.kmsKeySelfLink is unset (Google-managed key)",
    ),
    (
        "PGP-GCP-VM-002",
        "raw key in the program",
        set_input("pg-cluster-pg-2-data", "diskEncryptionKey", {"rawKey": "c2VjcmV0"}),
        "diskEncryptionKey.rawKey puts key material in the program",
    ),
    (
        "PGP-GCP-VM-003",
        "default service account",
        set_input("pg-cluster-pg-1", "serviceAccount.email", "123456789-compute@developer.gserviceaccount.com"),
        "is the default compute service account",
    ),
    (
        "PGP-GCP-VM-003",
        "account without email",
        pop("pg-monitoring-node", "serviceAccount.email"),
        "serviceAccount has no email, so the instance runs as the default compute service account",
    ),
    (
        "PGP-GCP-VM-004",
        "no os login",
        set_input("pg-cluster-pg-3", "metadata.enable-oslogin", "FALSE"),
        "metadata enable-oslogin is FALSE, not TRUE",
    ),
    (
        "PGP-GCP-VM-004",
        "serial port",
        set_input("pg-cluster-pg-3", "metadata.serial-port-enable", "TRUE"),
        "metadata serial-port-enable is TRUE",
    ),
    ("PGP-GCP-VM-005", "ip forwarding", set_input("pg-cluster-pg-1", "canIpForward", True), "canIpForward is true"),
    (
        "PGP-GCP-VM-006",
        "no automatic restart",
        set_input("pg-cluster-pg-1", "scheduling.automaticRestart", False),
        "scheduling.automaticRestart is false",
    ),
    (
        "PGP-GCP-VM-006",
        "terminated on maintenance",
        set_input("pg-cluster-pg-2", "scheduling.onHostMaintenance", "TERMINATE"),
        "scheduling.onHostMaintenance is TERMINATE",
    ),
    (
        "PGP-GCP-VM-006",
        "spot",
        set_input("pg-monitoring-node", "scheduling.provisioningModel", "SPOT"),
        "a Spot or preemptible VM is stopped",
    ),
    (
        "PGP-GCP-IAM-001",
        "public bucket",
        set_input("pg-vault-node", "member", "allUsers"),
        "member allUsers grants roles/storage.objectUser to the public",
    ),
    (
        "PGP-GCP-IAM-001",
        "public key",
        set_input("pg-keys-disks-node", "member", "allAuthenticatedUsers"),
        "member allAuthenticatedUsers grants",
    ),
    (
        "PGP-GCP-IAM-001",
        "public project",
        set_input("pg-identity-logging-logWriter", "member", "allUsers"),
        "member allUsers grants roles/logging.logWriter to the public",
    ),
    (
        "PGP-GCP-IAM-002",
        "editor",
        set_input("pg-identity-logging-logWriter", "role", "roles/editor"),
        "roles/editor is a basic role",
    ),
    (
        "PGP-GCP-IAM-002",
        "impersonation",
        set_input("pg-identity-monitoring-metricWriter", "role", "roles/iam.serviceAccountUser"),
        "lets the member act as every service account",
    ),
    (
        "PGP-GCP-IAM-002",
        "project-level storage admin",
        set_input("pg-identity-logging-logWriter", "role", "roles/storage.admin"),
        "roles/storage.admin is an administrative role",
    ),
    (
        "PGP-GCP-IAM-002",
        "project-level object reader",
        set_input("pg-identity-logging-logWriter", "role", "roles/storage.objectViewer"),
        "reaches every bucket, key or secret",
    ),
    ("PGP-GCP-IAM-003", "user-managed key", add_key, "has a user-managed key"),
    (
        "PGP-GCP-IAM-005",
        "a whole namespace",
        edit(
            "pg-identity-node-workload-identity",
            lambda i: i.update(
                member="principalSet://iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/acme-pgp-test.svc.id.goog/namespace/pgp-test"
            ),
        ),
        "is not one Kubernetes service account",
    ),
    (
        "PGP-GCP-IAM-005",
        "token creator",
        edit("pg-identity-node-workload-identity", lambda i: i.update(role="roles/iam.serviceAccountTokenCreator")),
        "not roles/iam.workloadIdentityUser",
    ),
    (
        "PGP-GCP-IAM-001",
        "public impersonation",
        edit("pg-identity-node-workload-identity", lambda i: i.update(member="allUsers")),
        "to the public",
    ),
    (
        "PGP-GCP-IAM-004",
        "retention override",
        edit(
            "pg-identity-backup-lock-role",
            lambda i: i["permissions"].append("storage.objects.overrideUnlockedRetention"),
        ),
        "overrideUnlockedRetention shortens or removes",
    ),
    (
        "PGP-GCP-IAM-004",
        "bucket permission",
        edit("pg-identity-backup-lock-role", lambda i: i["permissions"].append("storage.buckets.update")),
        "permissions storage.buckets.update are not object permissions",
    ),
    (
        "PGP-GCP-IAM-004",
        "foreign custom role",
        unlink("pg-vault-node-lock", "role", "projects/other/roles/objectAdminish"),
        "is not a custom role of the stack",
    ),
    (
        "PGP-GCP-SEC-004",
        "another service's agent",
        set_input("pg-secrets-agent", "service", "storage.googleapis.com"),
        "Secret Manager's agent has no encrypt/decrypt grant",
    ),
    (
        "PGP-GCP-SEC-001",
        "google-managed key",
        edit(
            "pg-secrets-superuser",
            lambda i: i["replication"]["userManaged"]["replicas"][0].pop("customerManagedEncryption"),
        ),
        f"replicas[0] ({REGION}) has no customerManagedEncryption.kmsKeyName",
    ),
    (
        "PGP-GCP-SEC-001",
        "automatic replication",
        set_input("pg-secrets-superuser", "replication", {"auto": {}}),
        "replication.auto has no customerManagedEncryption.kmsKeyName",
    ),
    (
        "PGP-GCP-SEC-002",
        "disabled version",
        set_input("pg-secrets-superuser-version", "enabled", False),
        "the version is disabled",
    ),
    (
        "PGP-GCP-SEC-002",
        "version of a foreign secret",
        unlink("pg-secrets-superuser-version", "secret", "projects/other/secrets/x"),
        "secret projects/other/secrets/x is not a secret of the stack",
    ),
    (
        "PGP-GCP-SEC-003",
        "secret admin",
        set_input("pg-secrets-superuser-node", "role", "roles/secretmanager.admin"),
        "role roles/secretmanager.admin is not one of roles/secretmanager.secretAccessor",
    ),
    (
        "PGP-GCP-SEC-003",
        "a person",
        set_input("pg-secrets-superuser-node", "member", "user:bob@example.com"),
        "member user:bob@example.com is not a service account",
    ),
    (
        "PGP-GCP-MON-001",
        "silent",
        set_input("pg-cluster-pg-1-down", "notificationChannels", []),
        "no notificationChannels",
    ),
    ("PGP-GCP-MON-001", "disabled", set_input("pg-cluster-pg-2-down", "enabled", False), "enabled is false"),
    (
        "PGP-GCP-MON-002",
        "token in plain labels",
        set_input("pg-monitoring-dba-oncall", "labels.auth_token", "xyz"),
        "labels.auth_token is a credential; pass it in sensitiveLabels",
    ),
    (
        "PGP-GCP-MON-002",
        "disabled channel",
        set_input("pg-monitoring-dba-oncall", "enabled", False),
        "enabled is false",
    ),
    (
        "PGP-GCP-DNS-001",
        "public zone",
        set_input("pg-network-private-zone", "visibility", "public"),
        "visibility is public",
    ),
    (
        "PGP-GCP-DNS-001",
        "zone visible to no network",
        set_input("pg-network-private-zone", "privateVisibilityConfig", {"networks": []}),
        "privateVisibilityConfig names no network",
    ),
    (
        "PGP-GCP-DNS-002",
        "public address",
        set_input("pg-cluster-endpoint", "rrdatas", ["203.0.114.7"]),
        "203.0.114.7 is a public address",
    ),
    (
        "PGP-GCP-DNS-002",
        "zone outside the stack",
        unlink("pg-cluster-endpoint", "managedZone", "someone-elses-zone"),
        "zone someone-elses-zone is not a private zone of the stack",
    ),
    # --- the shared rules, on GCP resources through the GCP adapter
    ("PGP-HA-001", "one zone", same_zone, f"members in 1 zone(s) ({REGION}-a)"),
    (
        "PGP-HA-003",
        "root path",
        set_input("pg-cluster-write-check", "httpsHealthCheck.requestPath", "/"),
        "health check path / is not a Patroni role endpoint",
    ),
    (
        "PGP-HA-003",
        "tcp check",
        lambda s: (
            s.find("pg-cluster-read-check").inputs.pop("httpsHealthCheck"),
            set_input("pg-cluster-read-check", "tcpHealthCheck", {"port": 5433})(s),
        )[1],
        "health check protocol TCP sees an open port",
    ),
    (
        "PGP-HA-003",
        "wrong port",
        set_input("pg-cluster-write-check", "httpsHealthCheck.port", 5432),
        "health check port 5432, not the Patroni REST port 8008",
    ),
    (
        "PGP-HA-004",
        "foreign bucket",
        lambda s: (set_input("pg-vault-bucket", "name", "some-other-bucket")(s), "pg-cluster-pg-1")[1],
        "pgBackRest writes to pgp-backups-acme-pgp-test, not to a bucket of this stack",
    ),
    (
        "PGP-HA-004",
        "no alert policies",
        without_alert_policies,
        "0 Cloud Monitoring alert policy(s), minimum 1",
    ),
    (
        "PGP-MON-003",
        "unwatched member",
        remove("pg-cluster-pg-2-down", "pg-cluster-pg-2"),
        "has no Cloud Monitoring alert policy on its own metrics",
    ),
    (
        "PGP-NODE-001",
        "service account key file",
        node_files({"/etc/pg-platform/sa.json": SA_KEY_JSON}),
        "a GCP service account key",
    ),
    (
        "PGP-NODE-001",
        "api key",
        node_files({"/etc/pg-platform/maps.env": "MAPS=AIzaSyA1234567890abcdefghijklmnopqrstuv\n"}),
        "a Google API key",
    ),
    (
        "PGP-TAG-001",
        "bucket without owner",
        edit("pg-vault-bucket", lambda i: i["labels"].pop("owner")),
        "missing tag(s) owner",
    ),
    (
        "PGP-TAG-001",
        "alert policy without labels",
        pop("pg-cluster-pg-3-down", "userLabels"),
        "missing tag(s) stage, owner, cost-center, data-classification",
    ),
    ("PGP-PRT-001", "key unprotected", unprotect("pg-keys-vault"), "pg-keys-vault is not protected"),
    ("PGP-PRT-001", "disk unprotected", unprotect("pg-cluster-pg-3-data"), "pg-cluster-pg-3-data is not protected"),
    ("PGP-PRT-001", "secret unprotected", unprotect("pg-secrets-superuser"), "pg-secrets-superuser is not protected"),
]


def test_compliant_gcp_stack_passes_every_rule(gcp_pack):
    analysis = gcp_pack.run(GcpStack().records)
    assert analysis.diagnostics == [], dump(analysis)
    assert analysis.not_applicable == []
    assert set(analysis.config) == set(analysis.policies)


def test_every_gcp_rule_has_a_violating_case(gcp_pack):
    analysis = gcp_pack.run(GcpStack().records)
    assert {p for p in analysis.policies if cloud_of(p) == "gcp"} == {
        rule for rule, *_ in VIOLATIONS if cloud_of(rule) == "gcp"
    }


@pytest.mark.parametrize("rule,case,mutate,expected", VIOLATIONS, ids=[f"{v[0]}:{v[1]}" for v in VIOLATIONS])
def test_violation(gcp_pack, rule, case, mutate, expected):
    assert_gcp_violation(gcp_pack, rule, case, mutate, expected)


def _platform_types() -> set[str]:
    """The GCP types the platform builds: those tools/constraints/gcp.py checks the inputs of."""
    from tools.constraints.gcp import PLUGIN

    return set(PLUGIN.known_types())


def test_every_gcp_type_is_judged_with_a_passing_and_a_failing_case():
    types = _platform_types()
    assert len(types) >= 26
    compliant = {r.type for r in GcpStack().records}
    assert types <= compliant, sorted(types - compliant)  # the passing case: the compliant stack holds each type
    failing: set[str] = set()
    for _, _, mutate, _ in VIOLATIONS:
        stack = GcpStack()
        anchor = mutate(stack)
        if anchor:
            failing |= {r.type for r in stack.records if r.name == anchor}
    assert types <= failing, sorted(types - failing)


def test_dev_relaxes_the_retention_lock(gcp_pack):
    stack = GcpStack()
    _lock(stack, lock_script(mode="GOVERNANCE", days=7))
    analysis = gcp_pack.run(stack.records, stage="dev")
    assert by_policy(analysis, "PGP-GCP-GCS-001") == [], dump(analysis)
    prod = by_policy(gcp_pack.run(stack.records), "PGP-GCP-GCS-001")
    assert {d.detail.split(": ", 1)[1] for d in prod} == {"a lock of 7 day(s) is outside 14-365"}
    stack = GcpStack()
    _lock(stack, lock_script(mode="GOVERNANCE"))
    prod = by_policy(gcp_pack.run(stack.records), "PGP-GCP-GCS-001")
    assert {d.detail.split(": ", 1)[1] for d in prod} == {"its lock timer sets mode Unlocked, not Locked (COMPLIANCE)"}


def test_the_lock_must_cover_the_full_backup_interval(gcp_pack):
    stack = GcpStack()
    _lock(stack, lock_script(days=3))
    msgs = [d.message for d in by_policy(gcp_pack.run(stack.records, stage="dev"), "PGP-GCP-GCS-001")]
    assert any("shorter than the 7-day full-backup interval" in m for m in msgs), msgs


def test_narrow_public_sources_are_not_the_world(gcp_pack):
    """Google's health-check and IAP ranges are public but narrow; a private range is no world either."""
    stack = GcpStack()
    for i, cidr in enumerate(("35.191.0.0/16", "10.0.0.0/8", "198.51.100.0/24")):
        add_firewall(f"narrow-{i}", allows=[{"protocol": "tcp", "ports": ["5432"]}], sourceRanges=[cidr])(stack)
    add_firewall("tagged", allows=[{"protocol": "tcp", "ports": ["5432"]}], sourceTags=["pg-member"])(stack)
    assert by_policy(gcp_pack.run(stack.records), "PGP-GCP-NET-002") == []


def test_an_alert_policy_over_every_instance_watches_each(gcp_pack):
    stack = GcpStack()
    for node in stack.nodes[1:]:
        stack.remove(f"{node.name}-down")
    policy = stack.find("pg-cluster-pg-1-down")
    policy.property_dependencies.pop("conditions")
    policy.inputs["conditions"][0]["conditionAbsent"]["filter"] = (
        'resource.type = "gce_instance" AND metric.type = "compute.googleapis.com/instance/uptime"'
    )
    assert by_policy(gcp_pack.run(stack.records), "PGP-MON-003") == []


def test_an_alert_policy_naming_the_instance_watches_it(gcp_pack):
    stack = GcpStack()
    policy = stack.find("pg-cluster-pg-2-down")
    policy.property_dependencies.pop("conditions")
    policy.inputs["conditions"][0]["conditionAbsent"]["filter"] = (
        'resource.type = "gce_instance" AND metadata.system_labels.name = "pg-cluster-pg-2"'
    )
    assert by_policy(gcp_pack.run(stack.records), "PGP-MON-003") == []
    policy.inputs["conditions"][0]["conditionAbsent"]["filter"] = (
        'resource.type = "gce_instance" AND metadata.system_labels.name = "pg-cluster-pg-9"'
    )
    assert by_policy(gcp_pack.run(stack.records), "PGP-MON-003")


def test_secret_manager_references_are_not_secrets(gcp_pack):
    stack = GcpStack()
    env = "PATRONI_SUPERUSER_PASSWORD=projects/acme-pgp-test/secrets/pgp-superuser\n"
    node_files({"/etc/pg-platform/boot.env": env})(stack)
    assert by_policy(gcp_pack.run(stack.records), "PGP-NODE-001") == []


def test_startup_script_is_scanned_too(gcp_pack):
    stack = GcpStack()
    node = stack.nodes[0]
    node.inputs["metadata"].pop("user-data")
    node.inputs["metadataStartupScript"] = "#!/bin/sh\nexport MAPS_KEY=AIzaSyA1234567890abcdefghijklmnopqrstuv\n"
    hits = by_policy(gcp_pack.run(stack.records), "PGP-NODE-001")
    assert [d.detail for d in hits] == ["pg-cluster-pg-1: user data contains a Google API key"], hits


def test_provider_default_labels_count(gcp_pack):
    stack = GcpStack()
    provider = rec(
        "pulumi:providers:gcp", "labelled", {"project": "acme-pgp-test", "defaultLabels": json.dumps(labels())}
    )
    stack.records.insert(0, provider)
    bucket = stack.find("pg-vault-bucket")
    bucket.inputs.pop("labels")
    bucket.provider = f"{provider.urn}::{provider.id}"
    assert by_policy(gcp_pack.run(stack.records), "PGP-TAG-001") == []
    bucket.provider = None
    assert by_policy(gcp_pack.run(stack.records), "PGP-TAG-001")


def test_taggable_catalog_matches_installed_provider():
    import pulumi_gcp

    from tests.policy.gcp.taggable import taggable_types

    catalog = Path(__file__).resolve().parents[3] / "policy" / "pgp_policy" / "gcp" / "taggable.txt"
    shipped = [line for line in catalog.read_text().splitlines() if line and not line.startswith("#")]
    assert shipped == taggable_types(Path(pulumi_gcp.__file__).parent)
    assert "gcp:storage/bucket:Bucket" in shipped and "gcp:compute/firewall:Firewall" not in shipped


def test_gcp_rule_ids_follow_the_scheme(gcp_pack):
    gcp = [p for p in gcp_pack.run([]).policies if cloud_of(p) == "gcp"]
    assert gcp and all(re.fullmatch(r"PGP-GCP-[A-Z0-9]+-\d{3}", p) for p in gcp)


def test_an_instance_is_not_stateful_its_disks_are(gcp_pack):
    """Attached disks outlive their instance: the Disk is protected, the instance need not be."""
    stack = GcpStack()
    for node in stack.nodes:
        node.protect = False
    assert by_policy(gcp_pack.run(stack.records), "PGP-PRT-001") == []
