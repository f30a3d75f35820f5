"""GCP's shapes, as pulumi-gcp returns them: compute ids are relative resource paths
(`projects/<p>/global/networks/<name>`, `projects/<p>/zones/<z>/instances/<name>`) and self links the same path
under `https://www.googleapis.com/compute/v1/`; numeric ids are 19 digits, a project number 12; service account
emails are `<account id>@<project>.iam.gserviceaccount.com` with a 21-digit unique id; KMS keys
`projects/<p>/locations/<l>/keyRings/<r>/cryptoKeys/<k>`; secrets `projects/<p>/secrets/<id>` (versions by project
number); buckets are their name with `gs://<name>`; IAM members `<resource>/<role>/<member>` (the provider's
ids). Internal addresses not given are allocated from their subnet's range, as Compute Engine does."""

from __future__ import annotations

import ipaddress
from typing import Any

from tools.fakecloud.core import FakeCloudBase

COMPUTE = "https://www.googleapis.com/compute/v1/"
DIGITS = "0123456789"
# Compute Engine hands out the lowest free addresses; the members' fixed addresses start at the tenth.
_ALLOCATED_FROM = 2
_ALLOCATED_SPAN = 7


class GcpShapes(FakeCloudBase):
    @property
    def _project(self) -> str:
        return str(self.config.get("gcp:project") or "project-not-set")

    @property
    def _project_number(self) -> str:
        return "1" + self._chars(self._project, 11, DIGITS, "project-number")

    def _numeric(self, seed: str, salt: str = "numeric") -> str:
        return "1" + self._chars(seed, 18, DIGITS, salt)

    def _subnet_ranges(self) -> dict[str, str]:
        if not hasattr(self, "_gcp_subnets"):
            self._gcp_subnets: dict[str, str] = {}
        return self._gcp_subnets

    def _compute(self, urn: str, s: dict, kind: str, scope: str = "global") -> tuple[str, dict[str, Any]]:
        rid = f"projects/{self._project}/{scope}/{kind}/{s.get('name')}"
        return rid, {"selfLink": COMPUTE + rid, "creationTimestamp": "2026-01-01T00:00:00.000-08:00"}

    def _regional(self, s: dict) -> str:
        return f"regions/{s.get('region') or self.region}"

    def _allocate(self, urn: str, subnetwork: str | None) -> str:
        cidr = self._subnet_ranges().get(subnetwork or "")
        net = ipaddress.ip_network(cidr or "10.0.0.0/24")
        offset = _ALLOCATED_FROM + int(self._chars(urn, 4, salt="ip"), 16) % _ALLOCATED_SPAN
        return str(net.network_address + offset)

    # Compute Engine: networks
    def _gcp_compute_network_Network(self, urn, s):
        rid, out = self._compute(urn, s, "networks")
        return rid, {**out, "numericId": self._numeric(urn), "gatewayIpv4": ""}

    def _gcp_compute_subnetwork_Subnetwork(self, urn, s):
        rid, out = self._compute(urn, s, "subnetworks", self._regional(s))
        net = ipaddress.ip_network(s.get("ipCidrRange") or "10.0.0.0/24")
        self._subnet_ranges()[rid] = str(net)
        self._subnet_ranges()[COMPUTE + rid] = str(net)
        return rid, {**out, "gatewayAddress": str(net.network_address + 1), "subnetworkId": self._numeric(urn)}

    def _gcp_compute_firewall_Firewall(self, urn, s):
        return self._compute(urn, s, "firewalls")

    def _gcp_compute_networkPeering_NetworkPeering(self, urn, s):
        network = str(s.get("network") or "").rsplit("/", 1)[-1]
        # INACTIVE until the peer network configures its side.
        return f"{network}/{s.get('name')}", {"state": "INACTIVE", "stateDetails": "[2000]: Waiting for peer network."}

    def _gcp_compute_router_Router(self, urn, s):
        return self._compute(urn, s, "routers", self._regional(s))

    def _gcp_compute_routerNat_RouterNat(self, urn, s):
        region = s.get("region") or self.region
        return f"{self._project}/{region}/{s.get('router')}/{s.get('name')}", {}

    def _gcp_compute_address_Address(self, urn, s):
        rid, out = self._compute(urn, s, "addresses", self._regional(s))
        address = s.get("address") or self._allocate(urn, s.get("subnetwork"))
        return rid, {**out, "address": address, "users": []}

    # Compute Engine: instances and disks
    def _gcp_compute_disk_Disk(self, urn, s):
        rid, out = self._compute(urn, s, "disks", f"zones/{s.get('zone')}")
        return rid, {**out, "diskId": self._numeric(urn), "users": []}

    def _gcp_compute_instance_Instance(self, urn, s):
        rid, out = self._compute(urn, s, "instances", f"zones/{s.get('zone')}")
        for i, nic in enumerate(s.get("networkInterfaces") or []):
            nic.setdefault("name", f"nic{i}")
            if not nic.get("networkIp"):
                nic["networkIp"] = self._allocate(urn, nic.get("subnetwork"))
            nic.setdefault("network", "")
        return rid, {
            **out,
            "instanceId": self._numeric(urn),
            "cpuPlatform": "Intel Cascade Lake",
            "currentStatus": "RUNNING",
        }

    def _gcp_compute_instanceGroup_InstanceGroup(self, urn, s):
        rid, out = self._compute(urn, s, "instanceGroups", f"zones/{s.get('zone')}")
        return rid, {**out, "size": len(s.get("instances") or [])}

    # Compute Engine: the internal passthrough load balancer
    def _gcp_compute_regionHealthCheck_RegionHealthCheck(self, urn, s):
        rid, out = self._compute(urn, s, "healthChecks", self._regional(s))
        kind = next((k for k in ("https", "http", "tcp") if s.get(f"{k}HealthCheck")), "tcp")
        return rid, {**out, "type": kind.upper(), "healthCheckId": self._numeric(urn)}

    def _gcp_compute_regionBackendService_RegionBackendService(self, urn, s):
        rid, out = self._compute(urn, s, "backendServices", self._regional(s))
        return rid, {**out, "generatedId": int(self._chars(urn, 9, DIGITS, "gen")), "fingerprint": self._chars(urn, 16)}

    def _gcp_compute_forwardingRule_ForwardingRule(self, urn, s):
        rid, out = self._compute(urn, s, "forwardingRules", self._regional(s))
        address = s.get("ipAddress") or self._allocate(urn, s.get("subnetwork"))
        return rid, {**out, "ipAddress": address, "forwardingRuleId": int(self._chars(urn, 18, DIGITS, "fr"))}

    # Cloud DNS
    def _gcp_dns_managedZone_ManagedZone(self, urn, s):
        return f"projects/{self._project}/managedZones/{s.get('name')}", {
            "managedZoneId": int(self._chars(urn, 16, DIGITS, "zone")),
            "nameServers": ["ns-gcp-private.googledomains.com."],
            "creationTime": "2026-01-01T00:00:00.000Z",
        }

    def _gcp_dns_recordSet_RecordSet(self, urn, s):
        zone = f"projects/{self._project}/managedZones/{s.get('managedZone')}"
        return f"{zone}/rrsets/{s.get('name')}/{s.get('type')}", {}

    # Cloud Storage
    def _gcp_storage_bucket_Bucket(self, urn, s):
        name = s.get("name")
        return str(name), {
            "url": f"gs://{name}",
            "selfLink": f"https://www.googleapis.com/storage/v1/b/{name}",
            "project": self._project,
            "projectNumber": int(self._project_number),
            "timeCreated": "2026-01-01T00:00:00.000Z",
        }

    def _iam_member(self, resource: object, s: dict) -> tuple[str, dict[str, Any]]:
        return f"{resource}/{s.get('role')}/{s.get('member')}", {"etag": "BwY" + self._chars(str(resource), 9)}

    def _gcp_storage_bucketIAMMember_BucketIAMMember(self, urn, s):
        return self._iam_member(f"b/{s.get('bucket')}", s)

    # Cloud KMS
    def _gcp_kms_keyRing_KeyRing(self, urn, s):
        return f"projects/{self._project}/locations/{s.get('location')}/keyRings/{s.get('name')}", {}

    def _gcp_kms_cryptoKey_CryptoKey(self, urn, s):
        rid = f"{s.get('keyRing')}/cryptoKeys/{s.get('name')}"
        return rid, {"primaries": [{"name": f"{rid}/cryptoKeyVersions/1", "state": "ENABLED"}]}

    def _gcp_kms_cryptoKeyIAMMember_CryptoKeyIAMMember(self, urn, s):
        return self._iam_member(s.get("cryptoKeyId"), s)

    # IAM
    def _gcp_serviceaccount_account_Account(self, urn, s):
        email = f"{s.get('accountId')}@{self._project}.iam.gserviceaccount.com"
        rid = f"projects/{self._project}/serviceAccounts/{email}"
        return rid, {
            "email": email,
            "name": rid,
            "uniqueId": "1" + self._chars(urn, 20, DIGITS, "unique-id"),
            "member": f"serviceAccount:{email}",
        }

    def _gcp_serviceaccount_iAMMember_IAMMember(self, urn, s):
        # On the account itself (who may act as it), by the account's resource name.
        return self._iam_member(s.get("serviceAccountId"), s)

    def _gcp_projects_iAMMember_IAMMember(self, urn, s):
        return self._iam_member(s.get("project"), s)

    def _gcp_projects_iAMCustomRole_IAMCustomRole(self, urn, s):
        name = f"projects/{s.get('project') or self._project}/roles/{s.get('roleId')}"
        return name, {"name": name, "deleted": False}

    def _gcp_projects_serviceIdentity_ServiceIdentity(self, urn, s):
        # The agent's address is the service's: service-<project number>@gcp-sa-<service's first label>.
        service = str(s.get("service") or "").split(".", 1)[0]
        email = f"service-{self._project_number}@gcp-sa-{service}.iam.gserviceaccount.com"
        return f"projects/{self._project}/services/{s.get('service')}", {
            "email": email,
            "member": f"serviceAccount:{email}",
        }

    # Secret Manager
    def _gcp_secretmanager_secret_Secret(self, urn, s):
        secret_id = s.get("secretId")
        return f"projects/{self._project}/secrets/{secret_id}", {
            "name": f"projects/{self._project_number}/secrets/{secret_id}",
            "createTime": "2026-01-01T00:00:00.000000Z",
            "project": self._project,
        }

    def _gcp_secretmanager_secretVersion_SecretVersion(self, urn, s):
        secret_id = str(s.get("secret") or "").rsplit("/", 1)[-1]
        name = f"projects/{self._project_number}/secrets/{secret_id}/versions/1"
        return name, {"name": name, "version": "1", "createTime": "2026-01-01T00:00:00.000000Z"}

    def _gcp_secretmanager_secretIamMember_SecretIamMember(self, urn, s):
        return self._iam_member(s.get("secretId"), s)

    # Cloud Monitoring
    def _gcp_monitoring_alertPolicy_AlertPolicy(self, urn, s):
        name = f"projects/{self._project}/alertPolicies/{self._chars(urn, 19, DIGITS, 'policy')}"
        return name, {"name": name, "creationRecords": [{"mutateTime": "2026-01-01T00:00:00Z", "mutatedBy": ""}]}

    def _gcp_monitoring_notificationChannel_NotificationChannel(self, urn, s):
        name = f"projects/{self._project}/notificationChannels/{self._chars(urn, 19, DIGITS, 'channel')}"
        return name, {"name": name, "verificationStatus": ""}

    # Invokes
    def _call_gcp_organizations_getProject_getProject(self, query):
        project = query.get("projectId") or self._project
        return {
            "id": f"projects/{project}",
            "projectId": project,
            "number": self._project_number,
            "name": project,
            "labels": {},
        }

    def _call_gcp_storage_getProjectServiceAccount_getProjectServiceAccount(self, query):
        email = f"service-{self._project_number}@gs-project-accounts.iam.gserviceaccount.com"
        return {
            "id": email,
            "emailAddress": email,
            "member": f"serviceAccount:{email}",
            "project": query.get("project") or self._project,
        }
