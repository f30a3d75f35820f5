"""The offline checks refuse what GCP refuses: every GCP type the issue's components create is mapped, its
properties are checked against the limits the discovery documents (or Google's published rules) state, and
pulumi-gcp's auto-naming is emulated, including a name too long once the provider's suffix is on."""

from __future__ import annotations

import base64

import pytest

from stacks.clouds import gcp as facts
from tests.unit.constraint_helpers import violations
from tools.constraints import naming, registry
from tools.constraints.gcp import AUTONAMING, PLUGIN, field_

TYPES = (
    "gcp:compute/network:Network",
    "gcp:compute/subnetwork:Subnetwork",
    "gcp:compute/firewall:Firewall",
    "gcp:compute/networkPeering:NetworkPeering",
    "gcp:compute/router:Router",
    "gcp:compute/routerNat:RouterNat",
    "gcp:compute/address:Address",
    "gcp:compute/disk:Disk",
    "gcp:compute/instance:Instance",
    "gcp:compute/instanceGroup:InstanceGroup",
    "gcp:compute/healthCheck:HealthCheck",
    "gcp:compute/regionHealthCheck:RegionHealthCheck",
    "gcp:compute/regionBackendService:RegionBackendService",
    "gcp:compute/forwardingRule:ForwardingRule",
    "gcp:storage/bucket:Bucket",
    "gcp:storage/bucketIAMMember:BucketIAMMember",
    "gcp:kms/keyRing:KeyRing",
    "gcp:kms/cryptoKey:CryptoKey",
    "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember",
    "gcp:serviceaccount/account:Account",
    "gcp:serviceaccount/iAMMember:IAMMember",
    "gcp:projects/iAMMember:IAMMember",
    "gcp:secretmanager/secret:Secret",
    "gcp:secretmanager/secretVersion:SecretVersion",
    "gcp:secretmanager/secretIamMember:SecretIamMember",
    "gcp:monitoring/alertPolicy:AlertPolicy",
    "gcp:monitoring/notificationChannel:NotificationChannel",
)


def broken(type_token: str, inputs: dict) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for v in violations(type_token, inputs):
        out.setdefault(v.path, []).append(f"{v.source}: {v.limit}")
    return out


def test_every_type_is_mapped_and_registered():
    assert set(TYPES) <= set(PLUGIN.known_types()) and set(TYPES) <= registry().known_types()
    assert all(registry().lookup(t).bindings for t in TYPES)


def test_the_rules_come_from_the_installed_discovery_documents():
    assert field_("compute", "Network.name").spec["pattern"] == "[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?"
    assert "6-30 characters" in field_("iam", "CreateServiceAccountRequest.accountId").description


GOOD = {
    "gcp:compute/network:Network": {"name": "pgp-prod-network", "routingMode": "REGIONAL", "mtu": 1460},
    "gcp:compute/subnetwork:Subnetwork": {
        "name": "pgp-prod-a",
        "ipCidrRange": "10.40.0.0/18",
        "logConfig": {"aggregationInterval": "INTERVAL_5_SEC", "flowSampling": 0.5, "metadata": "INCLUDE_ALL_METADATA"},
    },
    "gcp:compute/firewall:Firewall": {
        "name": "pgp-prod-clients",
        "priority": 1000,
        "direction": "INGRESS",
        "sourceRanges": ["10.50.0.0/16"],
        "targetTags": ["pgp-prod-db"],
    },
    "gcp:compute/healthCheck:HealthCheck": {
        "name": "pgp-prod-primary",
        "checkIntervalSec": 2,
        "timeoutSec": 1,
        "healthyThreshold": 2,
        "unhealthyThreshold": 2,
        "httpHealthCheck": {"port": 8008, "requestPath": "/primary"},
    },
    "gcp:compute/disk:Disk": {
        "name": "pgp-prod-db-1-data",
        "type": "hyperdisk-balanced",
        "size": 500,
        "provisionedIops": 6000,
        "labels": {"owner": "team-data-platform", "cost-center": "cc-4711"},
    },
    "gcp:storage/bucket:Bucket": {
        "name": "pgp-prod-backups-1a2b3c4",
        "storageClass": "STANDARD",
        "publicAccessPrevention": "enforced",
        "retentionPolicy": {"retentionPeriod": 14 * 86400, "isLocked": True},
    },
    "gcp:serviceaccount/account:Account": {"accountId": "pgp-prod-monitoring-1a2b3c4", "displayName": "monitoring"},
    "gcp:secretmanager/secret:Secret": {"secretId": "pgp-prod-superuser", "labels": {"stage": "prod"}},
    "gcp:secretmanager/secretVersion:SecretVersion": {"secretData": "s3cret"},
    "gcp:kms/cryptoKey:CryptoKey": {
        "name": "pgp-prod-backup",
        "rotationPeriod": "7776000s",
        "purpose": "ENCRYPT_DECRYPT",
    },
    "gcp:serviceaccount/iAMMember:IAMMember": {
        "serviceAccountId": "projects/p-dev/serviceAccounts/pgp-gkedev-k8s-1a2b3c4@p-dev.iam.gserviceaccount.com",
        "role": "roles/iam.workloadIdentityUser",
        "member": "serviceAccount:p-dev.svc.id.goog[pgp-gkedev/pgp-gkedev]",
    },
    "gcp:storage/bucketIAMMember:BucketIAMMember": {
        "bucket": "b",
        "role": "roles/storage.objectCreator",
        "member": "serviceAccount:pgp-prod-db-1@p.iam.gserviceaccount.com",
    },
    "gcp:monitoring/alertPolicy:AlertPolicy": {
        "displayName": "pgp prod: no primary",
        "combiner": "OR",
        "conditions": [{"conditionThreshold": {"comparison": "COMPARISON_LT"}}],
        "userLabels": {"stage": "prod"},
    },
}


@pytest.mark.parametrize("type_token", sorted(GOOD))
def test_valid_values_pass(type_token):
    assert broken(type_token, GOOD[type_token]) == {}


BAD = [
    ("gcp:compute/network:Network", {"name": "Pgp-Network"}, "name", "pattern"),
    ("gcp:compute/network:Network", {"name": "p" * 64}, "name", "length 1..63"),
    ("gcp:compute/network:Network", {"mtu": 9000}, "mtu", "between 1300 and 8896"),
    ("gcp:compute/subnetwork:Subnetwork", {"ipCidrRange": "10.40.0.0/30"}, "ipCidrRange", "at most /29"),
    ("gcp:compute/subnetwork:Subnetwork", {"logConfig": {"flowSampling": 2}}, "logConfig.flowSampling", "between 0"),
    (
        "gcp:compute/subnetwork:Subnetwork",
        {"logConfig": {"aggregationInterval": "5s"}},
        "logConfig.aggregationInterval",
        "one of",
    ),
    ("gcp:compute/firewall:Firewall", {"priority": 70000}, "priority", "between 0 and 65535"),
    ("gcp:compute/firewall:Firewall", {"direction": "IN"}, "direction", "one of"),
    ("gcp:compute/firewall:Firewall", {"sourceRanges": ["10.50.0.1/16"]}, "sourceRanges[0]", "CIDR"),
    ("gcp:compute/firewall:Firewall", {"targetTags": ["DB"]}, "targetTags[0]", "pattern"),
    ("gcp:compute/networkPeering:NetworkPeering", {"name": "peer-"}, "name", "pattern"),
    ("gcp:compute/routerNat:RouterNat", {"natIpAllocateOption": "AUTO"}, "natIpAllocateOption", "one of"),
    ("gcp:compute/healthCheck:HealthCheck", {"checkIntervalSec": 0}, "checkIntervalSec", "between 1 and 300"),
    (
        "gcp:compute/healthCheck:HealthCheck",
        {"checkIntervalSec": 2, "timeoutSec": 3},
        "timeoutSec",
        "not greater than checkIntervalSec",
    ),
    (
        "gcp:compute/regionHealthCheck:RegionHealthCheck",
        {"healthyThreshold": 11},
        "healthyThreshold",
        "between 1 and 10",
    ),
    (
        "gcp:compute/regionHealthCheck:RegionHealthCheck",
        {"unhealthyThreshold": 0},
        "unhealthyThreshold",
        "between 1 and 10",
    ),
    (
        "gcp:compute/regionHealthCheck:RegionHealthCheck",
        {"httpHealthCheck": {"port": 0}},
        "httpHealthCheck.port",
        "between 1 and 65535",
    ),
    (
        "gcp:compute/regionHealthCheck:RegionHealthCheck",
        {"httpHealthCheck": {"requestPath": "primary"}},
        "httpHealthCheck.requestPath",
        "pattern",
    ),
    (
        "gcp:compute/regionBackendService:RegionBackendService",
        {"loadBalancingScheme": "INTERNAL_PASSTHROUGH"},
        "loadBalancingScheme",
        "one of",
    ),
    ("gcp:compute/forwardingRule:ForwardingRule", {"ipProtocol": "HTTP"}, "ipProtocol", "one of"),
    (
        "gcp:compute/disk:Disk",
        {"type": "hyperdisk-balanced", "size": 100, "provisionedIops": 200_000},
        "provisionedIops",
        "between 3000 and 160000",
    ),
    (
        "gcp:compute/disk:Disk",
        {"type": "hyperdisk-balanced", "size": 10, "provisionedIops": 6_000},
        "provisionedIops",
        "500 IOPS per GiB",
    ),
    (
        "gcp:compute/disk:Disk",
        {"type": "pd-extreme", "size": 500, "provisionedIops": 5_000},
        "provisionedIops",
        "between 10000 and 120000",
    ),
    ("gcp:compute/disk:Disk", {"size": 0}, "size", "between 1"),
    ("gcp:compute/disk:Disk", {"labels": {"cost-center": "CC-4711"}}, "labels.cost-center", "lowercase"),
    ("gcp:compute/disk:Disk", {"labels": {"Name": "x"}}, "labels.Name (key)", "starting with a lowercase letter"),
    ("gcp:compute/disk:Disk", {"labels": {f"k{i}": "v" for i in range(64)}}, "labels", "at most 63 items"),
    ("gcp:compute/instance:Instance", {"metadataStartupScript": "x" * 262_145}, "metadataStartupScript", "262144"),
    ("gcp:compute/instance:Instance", {"metadata": {"user data": "x"}}, "metadata.user data (key)", "pattern"),
    (
        "gcp:compute/instance:Instance",
        {"metadata": {f"k{i}": "x" * 200_000 for i in range(3)}},
        "metadata",
        "less than 512 KB",
    ),
    (
        "gcp:compute/instance:Instance",
        {"bootDisk": {"initializeParams": {"type": "hyperdisk-balanced", "size": 10, "provisionedIops": 9_000}}},
        "bootDisk.initializeParams.provisionedIops",
        "500 IOPS per GiB",
    ),
    ("gcp:compute/instance:Instance", {"machineType": "r7i.xlarge"}, "machineType", "machine type name"),
    (
        "gcp:compute/instanceGroup:InstanceGroup",
        {"namedPorts": [{"name": "pg", "port": 70000}]},
        "namedPorts[0].port",
        "between 1 and 65535",
    ),
    (
        "gcp:serviceaccount/iAMMember:IAMMember",
        {"serviceAccountId": "pgp-gkedev-k8s-backup@p-dev.iam.gserviceaccount.com"},
        "serviceAccountId",
        "pattern",
    ),
    (
        "gcp:serviceaccount/iAMMember:IAMMember",
        {"member": "serviceAccount:p-dev.svc.id.goog[pgp-gkedev]"},
        "member",
        "<project>.svc.id.goog[<namespace>/<name>]",
    ),
    ("gcp:storage/bucket:Bucket", {"name": "PGP-backups"}, "name", "only lowercase"),
    ("gcp:storage/bucket:Bucket", {"name": "ab"}, "name", "3-63 characters"),
    ("gcp:storage/bucket:Bucket", {"name": "google-backups"}, "name", "google"),
    ("gcp:storage/bucket:Bucket", {"name": "goog-backups"}, "name", "goog"),
    ("gcp:storage/bucket:Bucket", {"name": "192.168.1.1"}, "name", "IP address"),
    (
        "gcp:storage/bucket:Bucket",
        {"retentionPolicy": {"retentionPeriod": 0}},
        "retentionPolicy.retentionPeriod",
        "between 1",
    ),
    ("gcp:storage/bucket:Bucket", {"storageClass": "GLACIER"}, "storageClass", "one of"),
    ("gcp:storage/bucket:Bucket", {"publicAccessPrevention": "unspecified"}, "publicAccessPrevention", "one of"),
    (
        "gcp:storage/bucketIAMMember:BucketIAMMember",
        {"member": "pgp@p.iam.gserviceaccount.com"},
        "member",
        "serviceAccount:",
    ),
    ("gcp:storage/bucketIAMMember:BucketIAMMember", {"role": "storage.objectViewer"}, "role", "pattern"),
    ("gcp:kms/keyRing:KeyRing", {"name": "pgp prod"}, "name", "pattern"),
    ("gcp:kms/cryptoKey:CryptoKey", {"rotationPeriod": "3600s"}, "rotationPeriod", "24 h"),
    ("gcp:kms/cryptoKey:CryptoKey", {"purpose": "ENCRYPT"}, "purpose", "one of"),
    ("gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember", {"member": "everyone"}, "member", "allUsers"),
    ("gcp:serviceaccount/account:Account", {"accountId": "pgp"}, "accountId", "length 6..30"),
    (
        "gcp:serviceaccount/account:Account",
        {"accountId": "pgp-staging1-monitoring-1a2b3c4"},
        "accountId",
        "length 6..30",
    ),
    ("gcp:serviceaccount/account:Account", {"accountId": "Pgp-prod-db"}, "accountId", "pattern"),
    ("gcp:serviceaccount/account:Account", {"displayName": "d" * 101}, "displayName", "100 UTF-8 bytes"),
    ("gcp:projects/iAMMember:IAMMember", {"member": "user:x@example.com", "role": "viewer"}, "role", "pattern"),
    ("gcp:secretmanager/secret:Secret", {"secretId": "pgp.prod"}, "secretId", "pattern"),
    ("gcp:secretmanager/secret:Secret", {"secretId": "s" * 256}, "secretId", "max length 255"),
    ("gcp:secretmanager/secretVersion:SecretVersion", {"secretData": "x" * 65_537}, "secretData", "65536 bytes"),
    ("gcp:secretmanager/secretIamMember:SecretIamMember", {"member": "serviceaccount:x"}, "member", "allUsers"),
    ("gcp:monitoring/alertPolicy:AlertPolicy", {"conditions": [{}] * 7}, "conditions", "1..6 items"),
    ("gcp:monitoring/alertPolicy:AlertPolicy", {"combiner": "XOR"}, "combiner", "one of"),
    ("gcp:monitoring/alertPolicy:AlertPolicy", {"displayName": "d" * 513}, "displayName", "max length 512"),
    (
        "gcp:monitoring/alertPolicy:AlertPolicy",
        {"userLabels": {"Stage": "prod"}},
        "userLabels.Stage (key)",
        "lowercase",
    ),
    (
        "gcp:monitoring/notificationChannel:NotificationChannel",
        {"displayName": "d" * 513},
        "displayName",
        "max length 512",
    ),
]


@pytest.mark.parametrize("type_token,inputs,path,limit", BAD, ids=[f"{t.split(':')[1]}-{p}" for t, _, p, _ in BAD])
def test_invalid_values_are_refused(type_token, inputs, path, limit):
    found = broken(type_token, inputs)
    assert path in found and any(limit in text for text in found[path]), found


def test_secret_data_counts_decoded_bytes():
    fits = base64.b64encode(b"x" * 65_536).decode()
    assert broken("gcp:secretmanager/secretVersion:SecretVersion", {"secretData": fits}) == {}


# --- auto-naming -----------------------------------------------------------------------------------------------


def named(type_token: str, logical: str, inputs: dict | None = None) -> naming.Named | None:
    return naming.compute(
        AUTONAMING[type_token], f"urn:pulumi:test::pg-platform::{type_token}::{logical}", inputs or {}
    )


def test_autoname_shape():
    n = named("gcp:compute/firewall:Firewall", "pgp-prod-clients")
    assert n.in_inputs and n.failure is None and n.value.startswith("pgp-prod-clients-") and len(n.value) == 24
    assert all(c in naming.HEX for c in n.value[-7:])
    assert named("gcp:compute/firewall:Firewall", "x", {"name": "given"}) is None


def test_lowercase_autonaming_for_networks():
    n = named("gcp:compute/network:Network", "PGP-Prod-Network")
    assert n.value.startswith("pgp-prod-network-")
    # the default rule does not lowercase: the API's pattern then refuses the name
    f = named("gcp:compute/firewall:Firewall", "PGP-Prod-Clients")
    assert "name" in broken("gcp:compute/firewall:Firewall", {"name": f.value})


def test_too_long_after_autonaming():
    # lowercaseAutoName has Maxlen 63: the provider's Check refuses it
    n = named("gcp:compute/subnetwork:Subnetwork", "s" * 56)
    assert n.failure == f"name '{'s' * 56}-' plus 7 random chars is longer than maximum length 63"
    # SetAutonaming's 255 lets a 70-character firewall name through; the compute API's name rule refuses it
    f = named("gcp:compute/firewall:Firewall", "f" * 62)
    assert f.failure is None and len(f.value) == 70
    assert "length 1..63" in " ".join(broken("gcp:compute/firewall:Firewall", {"name": f.value})["name"])
    # service account ids: 30 with the suffix
    a = named("gcp:serviceaccount/account:Account", facts.LONGEST_SERVICE_ACCOUNT.format(stage="staging1"))
    assert "longer than maximum length 30" in a.failure


def test_runner_uses_the_gcp_rules():
    from tools.constraints import autoname_rule

    assert autoname_rule("gcp:serviceaccount/account:Account").property == "accountId"
    assert autoname_rule("gcp:secretmanager/secret:Secret").property == "secretId"
    assert autoname_rule("gcp:monitoring/alertPolicy:AlertPolicy") is None  # displayName, not a name
