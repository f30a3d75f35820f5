"""A hand-made GCP stack that satisfies every rule (the shared ones and GCP's), built so each test can break
exactly one thing. Records have the runner's shape (tools/records.py); a node's user data is the plain
#cloud-config in its `user-data` metadata key, with the files it receives, as on the AWS fixture stack."""

from __future__ import annotations

import copy
import json
from typing import Any

from dataplane.boot.gcs_lock import LOCK_SCRIPT, lock_config, render_lock_script
from tests.policy.fixtures import PGBACKREST, cloud_config, monitoring_user_data, node_user_data, rec
from tools.records import ResourceRecord

REGION, PROJECT = "europe-west3", "acme-pgp-test"
ZONES = tuple(f"{REGION}-{z}" for z in "abc")
BUCKET = "pgp-backups-acme-pgp-test"
PEER = {"name": "app", "project": "acme-app", "network": "app-vpc", "cidr": "10.90.0.0/16"}
WORM_DAYS = 14
METADATA_URL = "http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/token"
# GCP label values are lower case.
LABELS = {
    "stage": "prod",
    "owner": "team-data-platform",
    "cost-center": "cc-4711",
    "data-classification": "confidential",
}
STACK_CONFIG = {
    "gcp:region": REGION,
    "gcp:project": PROJECT,
    "pg-platform:stage": "prod",
    "pg-platform:objectives": json.dumps({"rpo_seconds": 0, "rto_seconds": 30, "retention_days": 30, "worm_days": 14}),
    "pg-platform:network": json.dumps({"cidr": "10.80.0.0/16", "zones": list(ZONES), "peers": [PEER]}),
}
NODE_SA = f"pgp-node@{PROJECT}.iam.gserviceaccount.com"
KEY = f"projects/{PROJECT}/locations/{REGION}/keyRings/pgp/cryptoKeys"
GCS_PGBACKREST = PGBACKREST.replace(
    "repo1-type=s3\nrepo1-s3-bucket=pg-backups\nrepo1-s3-region=eu-central-1\n"
    "repo1-s3-endpoint=s3.eu-central-1.amazonaws.com\n",
    f"repo1-type=gcs\nrepo1-gcs-bucket={BUCKET}\nrepo1-gcs-key-type=auto\n",
)
assert "gcs-bucket" in GCS_PGBACKREST
HEALTH_CHECK = "gcp:compute/regionHealthCheck:RegionHealthCheck"
GLOBAL_HEALTH_CHECK = "gcp:compute/healthCheck:HealthCheck"
INSTANCE = "gcp:compute/instance:Instance"
FIREWALL = "gcp:compute/firewall:Firewall"


def labels(**extra: str) -> dict[str, str]:
    return {**LABELS, **extra}


def lock_script(mode: str = "COMPLIANCE", days: int = WORM_DAYS, bucket: str = BUCKET) -> str:
    """The members' Object Retention Lock timer's script, as the GCP boot renders it."""
    return render_lock_script(
        lock_config(bucket, mode, days, METADATA_URL, "https://storage.googleapis.com/storage/v1")
    )


def gcp_node_user_data(host: str, extra: dict[str, str] | None = None, lock: str | None = "", **kwargs: Any) -> str:
    """The AWS fixture's member files with a GCS repository and the lock timer's script (`lock`, the compliant
    one by default, None for none), as plain text (GCE metadata takes 256 KiB)."""
    import base64
    import gzip

    files = {"/etc/pgbackrest/pgbackrest.conf": GCS_PGBACKREST, **(extra or {})}
    if lock is not None:
        files[LOCK_SCRIPT] = lock or lock_script()
    packed = node_user_data(host, extra=files, **kwargs)
    return gzip.decompress(base64.b64decode(packed)).decode()


def plain_monitoring_user_data(alerts: dict[str, Any] | None = None) -> str:
    import base64
    import gzip

    return gzip.decompress(base64.b64decode(monitoring_user_data(alerts))).decode()


def metadata(user_data: str) -> dict[str, str]:
    return {"user-data": user_data, "enable-oslogin": "TRUE", "block-project-ssh-keys": "TRUE"}


def firewall(name: str, parent, net, **inputs: Any) -> ResourceRecord:
    base = {
        "network": "pg-network-vpc-id",
        "description": name,
        "logConfig": {"metadata": "INCLUDE_ALL_METADATA"},
        "priority": 1000,
    }
    return rec(FIREWALL, name, {**base, **inputs}, parent=parent, refs={"network": [net]})


class GcpStack:
    """A compliant GCP stack; `find` returns a record to break, `records` what goes to the analyzer."""

    def __init__(self) -> None:
        self.records: list[ResourceRecord] = []
        r = self._add
        platform = r(rec("pg-platform:index:PostgresPlatform", "pg", {}, custom=False))

        # --- network
        net = r(rec("pg-platform:gcp:Network", "pg-network", {}, parent=platform, custom=False))
        vpc = r(
            rec(
                "gcp:compute/network:Network",
                "pg-network-vpc",
                {"autoCreateSubnetworks": False, "routingMode": "REGIONAL"},
                parent=net,
            )
        )
        self.subnets = [
            r(
                rec(
                    "gcp:compute/subnetwork:Subnetwork",
                    f"pg-network-private-{z[-1]}",
                    {
                        "network": "pg-network-vpc-id",
                        "region": REGION,
                        "ipCidrRange": f"10.80.{i * 16}.0/20",
                        "privateIpGoogleAccess": True,
                        "logConfig": {
                            "aggregationInterval": "INTERVAL_5_SEC",
                            "flowSampling": 0.5,
                            "metadata": "INCLUDE_ALL_METADATA",
                        },
                    },
                    parent=net,
                    refs={"network": [vpc]},
                )
            )
            for i, z in enumerate(ZONES)
        ]
        member_tag = {"targetTags": ["pg-member"]}
        r(
            firewall(
                "pg-network-allow-clients",
                net,
                vpc,
                allows=[{"protocol": "tcp", "ports": ["5432", "5433", "6432"]}],
                sourceRanges=[PEER["cidr"]],
                **member_tag,
            )
        )
        r(
            firewall(
                "pg-network-allow-members",
                net,
                vpc,
                allows=[{"protocol": "tcp", "ports": ["5432", "8008", "2379-2380", "8432"]}],
                sourceTags=["pg-member"],
                **member_tag,
            )
        )
        r(
            firewall(
                "pg-network-allow-health-checks",
                net,
                vpc,
                allows=[{"protocol": "tcp", "ports": ["8008"]}],
                sourceRanges=["35.191.0.0/16", "130.211.0.0/22"],
                **member_tag,
            )
        )
        r(
            firewall(
                "pg-network-allow-iap-ssh",
                net,
                vpc,
                allows=[{"protocol": "tcp", "ports": ["22"]}],
                sourceRanges=["35.235.240.0/20"],
                **member_tag,
            )
        )
        r(
            firewall(
                "pg-network-deny-ingress",
                net,
                vpc,
                denies=[{"protocol": "all"}],
                sourceRanges=["0.0.0.0/0"],
                priority=65534,
            )
        )
        r(
            firewall(
                "pg-network-allow-egress-https",
                net,
                vpc,
                direction="EGRESS",
                allows=[{"protocol": "tcp", "ports": ["443"]}],
                destinationRanges=["0.0.0.0/0"],
            )
        )
        r(
            firewall(
                "pg-network-allow-egress-internal",
                net,
                vpc,
                direction="EGRESS",
                allows=[{"protocol": "all"}],
                destinationRanges=["10.80.0.0/16"],
            )
        )
        r(
            firewall(
                "pg-network-deny-egress",
                net,
                vpc,
                direction="EGRESS",
                denies=[{"protocol": "all"}],
                destinationRanges=["0.0.0.0/0"],
                priority=65534,
            )
        )
        router = r(
            rec(
                "gcp:compute/router:Router",
                "pg-network-router",
                {"network": "pg-network-vpc-id", "region": REGION},
                parent=net,
                refs={"network": [vpc]},
            )
        )
        r(
            rec(
                "gcp:compute/routerNat:RouterNat",
                "pg-network-nat",
                {
                    "router": "pg-network-router",
                    "region": REGION,
                    "natIpAllocateOption": "AUTO_ONLY",
                    "sourceSubnetworkIpRangesToNat": "LIST_OF_SUBNETWORKS",
                    "logConfig": {"enable": True, "filter": "ERRORS_ONLY"},
                },
                parent=net,
                refs={"router": [router]},
            )
        )
        r(
            rec(
                "gcp:compute/networkPeering:NetworkPeering",
                "pg-network-peer-app",
                {
                    "network": "pg-network-vpc-self-link",
                    "peerNetwork": f"https://www.googleapis.com/compute/v1/projects/{PEER['project']}/global/networks/"
                    f"{PEER['network']}",
                    "exportCustomRoutes": False,
                    "importCustomRoutes": False,
                },
                parent=net,
                refs={"network": [vpc]},
            )
        )
        dns_zone = r(
            rec(
                "gcp:dns/managedZone:ManagedZone",
                "pg-network-private-zone",
                {
                    "name": "pg-private",
                    "dnsName": "pg.internal.",
                    "visibility": "private",
                    "privateVisibilityConfig": {"networks": [{"networkUrl": "pg-network-vpc-id"}]},
                    "labels": labels(),
                },
                parent=net,
                refs={"privateVisibilityConfig": [vpc]},
            )
        )
        self.addresses = [
            r(
                rec(
                    "gcp:compute/address:Address",
                    f"pg-network-member-{i}-address",
                    {
                        "addressType": "INTERNAL",
                        "purpose": "GCE_ENDPOINT",
                        "address": f"10.80.{i * 16}.10",
                        "region": REGION,
                        "labels": labels(),
                    },
                    parent=net,
                    refs={"subnetwork": [subnet]},
                )
            )
            for i, subnet in enumerate(self.subnets)
        ]

        # --- keys, vault, identity, secrets
        keys = r(rec("pg-platform:gcp:Keys", "pg-keys", {}, parent=platform, custom=False))
        ring = r(rec("gcp:kms/keyRing:KeyRing", "pg-keys-ring", {"name": "pgp", "location": REGION}, parent=keys))
        self.keys = {
            purpose: r(
                rec(
                    "gcp:kms/cryptoKey:CryptoKey",
                    f"pg-keys-{purpose}",
                    {
                        "name": purpose,
                        "keyRing": f"projects/{PROJECT}/locations/{REGION}/keyRings/pgp",
                        "purpose": "ENCRYPT_DECRYPT",
                        "rotationPeriod": "7776000s",
                        "destroyScheduledDuration": "2592000s",
                        "labels": labels(),
                    },
                    parent=keys,
                    refs={"keyRing": [ring]},
                    protect=True,
                )
            )
            for purpose in ("vault", "disks", "secrets")
        }
        ident = r(rec("pg-platform:gcp:Identity", "pg-identity", {}, parent=platform, custom=False))
        self.account = r(
            rec(
                "gcp:serviceaccount/account:Account",
                "pg-identity-node",
                {"accountId": "pgp-node", "displayName": "PostgreSQL nodes", "email": NODE_SA},
                parent=ident,
            )
        )
        # GKE's form (components/gcp/kubernetes.py): one Kubernetes service account may act as the account.
        r(
            rec(
                "gcp:serviceaccount/iAMMember:IAMMember",
                "pg-identity-node-workload-identity",
                {
                    "serviceAccountId": f"projects/{PROJECT}/serviceAccounts/{NODE_SA}",
                    "role": "roles/iam.workloadIdentityUser",
                    "member": f"serviceAccount:{PROJECT}.svc.id.goog[pgp-test/pgp-test]",
                },
                parent=ident,
                refs={"serviceAccountId": [self.account]},
            )
        )
        member = f"serviceAccount:{NODE_SA}"
        for purpose, key in self.keys.items():
            r(
                rec(
                    "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember",
                    f"pg-keys-{purpose}-node",
                    {
                        "cryptoKeyId": f"{KEY}/{purpose}",
                        "role": "roles/cloudkms.cryptoKeyEncrypterDecrypter",
                        "member": member,
                    },
                    parent=keys,
                    refs={"cryptoKeyId": [key]},
                )
            )
        for role in ("roles/logging.logWriter", "roles/monitoring.metricWriter"):
            r(
                rec(
                    "gcp:projects/iAMMember:IAMMember",
                    f"pg-identity-{role.split('/')[1].replace('.', '-')}",
                    {"project": PROJECT, "role": role, "member": member},
                    parent=ident,
                )
            )
        vault = r(rec("pg-platform:gcp:BackupVault", "pg-vault", {}, parent=platform, custom=False))
        bucket = r(
            rec(
                "gcp:storage/bucket:Bucket",
                "pg-vault-bucket",
                {
                    "name": BUCKET,
                    "location": REGION.upper(),
                    "uniformBucketLevelAccess": True,
                    "publicAccessPrevention": "enforced",
                    "encryption": {"defaultKmsKeyName": f"{KEY}/vault"},
                    "versioning": {"enabled": True},
                    "enableObjectRetention": True,
                    "softDeletePolicy": {"retentionDurationSeconds": WORM_DAYS * 86_400},
                    "lifecycleRules": [
                        {"action": {"type": "AbortIncompleteMultipartUpload"}, "condition": {"age": 7}},
                        {
                            "action": {"type": "Delete"},
                            "condition": {"daysSinceNoncurrentTime": WORM_DAYS + 1, "withState": "ARCHIVED"},
                        },
                    ],
                    "labels": labels(),
                },
                parent=vault,
                refs={"encryption": [self.keys["vault"]]},
                protect=True,
            )
        )
        r(
            rec(
                "gcp:storage/bucketIAMMember:BucketIAMMember",
                "pg-vault-node",
                {"bucket": BUCKET, "role": "roles/storage.objectUser", "member": member},
                parent=vault,
                refs={"bucket": [bucket]},
            )
        )
        lock_role = r(
            rec(
                "gcp:projects/iAMCustomRole:IAMCustomRole",
                "pg-identity-backup-lock-role",
                {
                    "project": PROJECT,
                    "roleId": "pgp_backupObjectLock",
                    "title": "pgp backup object lock",
                    "permissions": ["storage.objects.setRetention"],
                    "stage": "GA",
                },
                parent=ident,
            )
        )
        r(
            rec(
                "gcp:storage/bucketIAMMember:BucketIAMMember",
                "pg-vault-node-lock",
                {"bucket": BUCKET, "role": f"projects/{PROJECT}/roles/pgp_backupObjectLock", "member": member},
                parent=vault,
                refs={"bucket": [bucket], "role": [lock_role]},
            )
        )
        secrets = r(rec("pg-platform:gcp:Secrets", "pg-secrets", {}, parent=platform, custom=False))
        agent = r(
            rec(
                "gcp:projects/serviceIdentity:ServiceIdentity",
                "pg-secrets-agent",
                {"project": PROJECT, "service": "secretmanager.googleapis.com"},
                parent=secrets,
            )
        )
        r(
            rec(
                "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember",
                "pg-keys-secrets-agent",
                {
                    "cryptoKeyId": f"{KEY}/secrets",
                    "role": "roles/cloudkms.cryptoKeyEncrypterDecrypter",
                    "member": "serviceAccount:service-123456789012@gcp-sa-secretmanager.iam.gserviceaccount.com",
                },
                parent=secrets,
                refs={"cryptoKeyId": [self.keys["secrets"]], "member": [agent]},
            )
        )
        secret = r(
            rec(
                "gcp:secretmanager/secret:Secret",
                "pg-secrets-superuser",
                {
                    "secretId": "pgp-superuser",
                    "replication": {
                        "userManaged": {
                            "replicas": [
                                {"location": REGION, "customerManagedEncryption": {"kmsKeyName": f"{KEY}/secrets"}}
                            ]
                        }
                    },
                    "labels": labels(),
                },
                parent=secrets,
                refs={"replication": [self.keys["secrets"]]},
                protect=True,
            )
        )
        r(
            rec(
                "gcp:secretmanager/secretVersion:SecretVersion",
                "pg-secrets-superuser-version",
                {"secret": f"projects/{PROJECT}/secrets/pgp-superuser", "secretData": "generated", "enabled": True},
                parent=secrets,
                refs={"secret": [secret]},
                secret_paths=["secretData"],
            )
        )
        r(
            rec(
                "gcp:secretmanager/secretIamMember:SecretIamMember",
                "pg-secrets-superuser-node",
                {
                    "secretId": f"projects/{PROJECT}/secrets/pgp-superuser",
                    "role": "roles/secretmanager.secretAccessor",
                    "member": member,
                },
                parent=secrets,
                refs={"secretId": [secret]},
            )
        )

        # --- members and the load balancer
        self.cluster = r(rec("pg-platform:gcp:PostgresCluster", "pg-cluster", {}, parent=platform, custom=False))
        self.nodes: list[ResourceRecord] = []
        groups = []
        for i, (zone, subnet) in enumerate(zip(ZONES, self.subnets, strict=True)):
            host = f"10.80.{i * 16}.10"
            disk = r(
                rec(
                    "gcp:compute/disk:Disk",
                    f"pg-cluster-pg-{i + 1}-data",
                    {
                        "zone": zone,
                        "size": 500,
                        "type": "pd-ssd",
                        "diskEncryptionKey": {"kmsKeySelfLink": f"{KEY}/disks"},
                        "labels": labels(),
                    },
                    parent=self.cluster,
                    refs={"diskEncryptionKey": [self.keys["disks"]]},
                    protect=True,
                )
            )
            node = r(
                self._instance(
                    f"pg-cluster-pg-{i + 1}", self.cluster, zone, subnet, host, gcp_node_user_data(host), disk
                )
            )
            self.nodes.append(node)
            groups.append(
                r(
                    rec(
                        "gcp:compute/instanceGroup:InstanceGroup",
                        f"pg-cluster-group-{zone[-1]}",
                        {"zone": zone, "instances": [f"{node.name}-self-link"], "network": "pg-network-vpc-id"},
                        parent=self.cluster,
                        refs={"instances": [node]},
                    )
                )
            )
        # An internal passthrough NLB's backend service takes regional or global health checks: one of each.
        for role, port, path, check_type in (
            ("write", 5432, "/primary", HEALTH_CHECK),
            ("read", 5433, "/replica", GLOBAL_HEALTH_CHECK),
        ):
            check = r(
                rec(
                    check_type,
                    f"pg-cluster-{role}-check",
                    {
                        "checkIntervalSec": 2,
                        "timeoutSec": 1,
                        "healthyThreshold": 2,
                        "unhealthyThreshold": 2,
                        "httpsHealthCheck": {"port": 8008, "requestPath": path},
                    },
                    parent=self.cluster,
                )
            )
            service = r(
                rec(
                    "gcp:compute/regionBackendService:RegionBackendService",
                    f"pg-cluster-{role}-backend",
                    {
                        "region": REGION,
                        "loadBalancingScheme": "INTERNAL",
                        "protocol": "TCP",
                        "healthChecks": f"pg-cluster-{role}-check-id",
                        "backends": [{"group": f"{g.name}-id", "balancingMode": "CONNECTION"} for g in groups],
                    },
                    parent=self.cluster,
                    refs={"healthChecks": [check], "backends": groups},
                )
            )
            r(
                rec(
                    "gcp:compute/forwardingRule:ForwardingRule",
                    f"pg-cluster-{role}",
                    {
                        "region": REGION,
                        "loadBalancingScheme": "INTERNAL",
                        "ipProtocol": "TCP",
                        "ports": [str(port)],
                        "backendService": f"pg-cluster-{role}-backend-id",
                        "subnetwork": "pg-network-private-a-id",
                        "labels": labels(),
                    },
                    parent=self.cluster,
                    refs={"backendService": [service]},
                )
            )

        r(
            rec(
                "gcp:dns/recordSet:RecordSet",
                "pg-cluster-endpoint",
                {
                    "managedZone": "pg-private",
                    "name": "pg.pg.internal.",
                    "type": "A",
                    "ttl": 5,
                    "rrdatas": ["10.80.0.100"],
                },
                parent=self.cluster,
                refs={"managedZone": [dns_zone]},
            )
        )

        # --- monitoring
        mon = r(rec("pg-platform:gcp:Monitoring", "pg-monitoring", {}, parent=platform, custom=False))
        self.monitor = r(
            self._instance(
                "pg-monitoring-node", mon, ZONES[0], self.subnets[0], "10.80.0.20", plain_monitoring_user_data()
            )
        )
        channel = r(
            rec(
                "gcp:monitoring/notificationChannel:NotificationChannel",
                "pg-monitoring-dba-oncall",
                {
                    "type": "email",
                    "displayName": "dba-oncall",
                    "labels": {"email_address": "dba-oncall@example.com"},
                    "userLabels": labels(),
                },
                parent=mon,
            )
        )
        for node in [*self.nodes, self.monitor]:
            r(
                rec(
                    "gcp:monitoring/alertPolicy:AlertPolicy",
                    f"{node.name}-down",
                    {
                        "displayName": f"{node.name} instance down",
                        "combiner": "OR",
                        "conditions": [
                            {
                                "displayName": "uptime absent",
                                "conditionAbsent": {
                                    "filter": 'resource.type = "gce_instance" AND metric.type = '
                                    '"compute.googleapis.com/instance/uptime" AND resource.labels.instance_id = '
                                    f'"{node.name}-instance-id"',
                                    "duration": "300s",
                                },
                            }
                        ],
                        "notificationChannels": ["pg-monitoring-dba-oncall-id"],
                        "userLabels": labels(),
                    },
                    parent=mon,
                    refs={"conditions": [node], "notificationChannels": [channel]},
                )
            )

    def _instance(self, name: str, parent, zone: str, subnet, host: str, user_data: str, disk=None) -> ResourceRecord:
        inputs: dict[str, Any] = {
            "name": name,
            "zone": zone,
            "machineType": "n2-highmem-4",
            "networkInterfaces": [{"subnetwork": f"{subnet.name}-id", "networkIp": host}],
            "bootDisk": {
                "kmsKeySelfLink": f"{KEY}/disks",
                "initializeParams": {"image": "debian-cloud/debian-12", "size": 20},
            },
            "shieldedInstanceConfig": {"enableSecureBoot": True, "enableVtpm": True, "enableIntegrityMonitoring": True},
            "scheduling": {"onHostMaintenance": "MIGRATE", "automaticRestart": True, "provisioningModel": "STANDARD"},
            "serviceAccount": {"email": NODE_SA, "scopes": ["https://www.googleapis.com/auth/cloud-platform"]},
            "metadata": metadata(user_data),
            "tags": ["pg-member"],
            "labels": labels(role="postgres" if disk else "monitoring"),
        }
        refs = {"networkInterfaces": [subnet]}
        if disk is not None:
            inputs["attachedDisks"] = [{"source": f"{disk.name}-id", "deviceName": "data"}]
            refs["attachedDisks"] = [disk]
        return rec(INSTANCE, name, inputs, parent=parent, refs=refs)

    def _add(self, record: ResourceRecord) -> ResourceRecord:
        self.records.append(record)
        return record

    def find(self, name: str) -> ResourceRecord:
        return next(r for r in self.records if r.name == name)

    def remove(self, name: str) -> None:
        self.records = [r for r in self.records if r.name != name]

    def set_user_data(self, name: str, text: str) -> None:
        self.find(name).inputs["metadata"]["user-data"] = text

    def copy(self) -> GcpStack:
        return copy.deepcopy(self)


__all__ = ["STACK_CONFIG", "GcpStack", "cloud_config", "labels"]
