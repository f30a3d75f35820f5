"""The real program, run for each GCP stack file under the SDK mock runtime, builds the graph we promise."""

from __future__ import annotations

import collections
import ipaddress

import pytest
import yaml

from components.gcp.startup import STARTUP_SCRIPT_KEY, USER_DATA_KEY
from dataplane.model import SECRET_ENV
from dataplane.routing import WRITE_CHECK_PATH, read_check_path
from stacks.clouds.gcp import HEALTH_CHECK_SOURCE_RANGES
from stacks.offline import settings_for_stack
from stacks.ports import INTRA_CLUSTER_PORTS, PORTS
from stacks.topology import derive_topology
from tests.program.contract.readers import READERS
from tests.unit.stack_helpers import overridden
from tools.records import Plan, ResourceRecord
from tools.runner import run_stack

STACKS = ("gcp-dev", "gcp-prod")
READER = READERS["gcp"]  # through the contract's readers: importing the reader first would import it twice
INSTANCE = "gcp:compute/instance:Instance"
FIREWALL = "gcp:compute/firewall:Firewall"


@pytest.fixture(scope="module", params=STACKS)
def stack(request) -> tuple[str, Plan]:
    return request.param, run_stack(request.param)


@pytest.fixture(scope="module")
def prod() -> Plan:
    return run_stack("gcp-prod")


@pytest.fixture(scope="module")
def dev() -> Plan:
    return run_stack("gcp-dev")


def of(plan: Plan, type_token: str) -> list[ResourceRecord]:
    return plan.by_type(type_token)


def monitoring_instance(plan: Plan) -> ResourceRecord:
    (node,) = [r for r in of(plan, INSTANCE) if r.inputs["labels"].get("role") == "monitoring"]
    return node


def firewall(plan: Plan, suffix: str) -> ResourceRecord:
    (rule,) = [r for r in of(plan, FIREWALL) if r.name.endswith(f"-{suffix}")]
    return rule


def _webhooks(stack: str) -> dict[str, str]:
    return {r.name: r.webhook_url for r in settings_for_stack(stack).monitoring.receivers if r.webhook_url}


def test_resource_counts_follow_the_settings(stack):
    name, plan = stack
    settings = settings_for_stack(name)
    nodes, zones, peers = settings.cluster.nodes, len(settings.network.zones), len(settings.network.peers)
    member_zones = len(set(derive_topology(settings).node_zones.value))
    routes = 3 if nodes > 1 else 2
    secrets = len(SECRET_ENV) + nodes + len(_webhooks(name))
    emails = sum(1 for r in settings.monitoring.receivers if r.email)
    counts = collections.Counter(r.type for r in plan.resources)
    expected = {
        "gcp:compute/network:Network": 1,
        "gcp:compute/subnetwork:Subnetwork": zones,
        "gcp:compute/address:Address": nodes + 1,  # the members' fixed addresses + the endpoint's
        "gcp:compute/instance:Instance": nodes + 1,
        "gcp:compute/disk:Disk": nodes + 1,  # members' data + the monitoring node's TSDB
        "gcp:compute/networkPeering:NetworkPeering": peers,
        "gcp:compute/router:Router": 1,
        "gcp:compute/routerNat:RouterNat": 1,
        "gcp:compute/instanceGroup:InstanceGroup": member_zones,
        "gcp:compute/regionHealthCheck:RegionHealthCheck": routes,
        "gcp:compute/regionBackendService:RegionBackendService": routes,
        "gcp:compute/forwardingRule:ForwardingRule": routes,
        "gcp:dns/managedZone:ManagedZone": 1,
        "gcp:dns/recordSet:RecordSet": 1,
        "gcp:storage/bucket:Bucket": 1,
        "gcp:kms/keyRing:KeyRing": 3,  # backups, volumes, secrets
        "gcp:kms/cryptoKey:CryptoKey": 3,
        "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember": 3,  # the storage, compute and Secret Manager agents
        "gcp:projects/serviceIdentity:ServiceIdentity": 1,  # Secret Manager's agent
        "gcp:serviceaccount/account:Account": nodes + 2,  # members, monitoring, restore
        "gcp:projects/iAMCustomRole:IAMCustomRole": 1,  # the members' object lock
        "gcp:storage/bucketIAMMember:BucketIAMMember": 2 * nodes + 1,  # members write and lock, restore reads
        "gcp:secretmanager/secret:Secret": secrets,
        "gcp:secretmanager/secretVersion:SecretVersion": secrets,
        # each member: the shared passwords and its own TLS bundle; the monitoring node: the webhooks
        "gcp:secretmanager/secretIamMember:SecretIamMember": nodes * (len(SECRET_ENV) + 1) + len(_webhooks(name)),
        "gcp:projects/iAMMember:IAMMember": 2 * (nodes + 1),  # metric and log writers
        "gcp:monitoring/notificationChannel:NotificationChannel": emails,
        "gcp:monitoring/alertPolicy:AlertPolicy": (nodes + 1) + nodes,  # uptime per node, disk per member
        "random:index/randomPassword:RandomPassword": len(SECRET_ENV),
        # the configure step, a leave and a handover step per member, the first backup check, the roles
        "command:local:Command": 1 + 2 * nodes + 2,
    }
    assert {t: counts.get(t, 0) for t in expected} == expected


def test_components_are_typed_and_parent_their_children(stack):
    name, plan = stack
    prefix = settings_for_stack(name).name
    components = {r.urn: r for r in plan.resources if not r.custom}
    assert {r.type for r in components.values()} >= {
        "pg-platform:index:PostgresPlatform",
        *(f"pg-platform:gcp:{role}" for role in ("Network", "BackupVault", "Identity", "Secrets")),
        *(f"pg-platform:gcp:{role}" for role in ("PostgresCluster", "Monitoring", "PostProvision")),
    }
    for record in plan.resources:
        if not record.custom:
            continue
        parent = components.get(record.parent)
        assert parent is not None, f"{record.name} is not parented to a component"
        # Service account ids fit 30 characters only as pgp-<stage>-<node> (stacks/clouds/gcp.py).
        if record.type == "gcp:serviceaccount/account:Account":
            assert parent.type == "pg-platform:gcp:Identity" and record.name.startswith(prefix + "-")
        else:
            assert record.name.startswith(parent.name + "-"), f"{record.name} not named from {parent.name}"


def test_members_in_their_zones_on_their_fixed_addresses(prod):
    topology = derive_topology(settings_for_stack("gcp-prod"))
    members = READER.members(prod)
    assert sorted(m.inputs["zone"] for m in members) == sorted(topology.node_zones.value)
    addresses = {a.inputs["address"]: a for a in of(prod, "gcp:compute/address:Address") if a.inputs.get("address")}
    subnets = {s.id: s for s in of(prod, "gcp:compute/subnetwork:Subnetwork")}
    for member in members:
        nic = member.inputs["networkInterfaces"][0]
        reserved = addresses[nic["networkIp"]]
        assert reserved.inputs["addressType"] == "INTERNAL" and reserved.inputs["subnetwork"] == nic["subnetwork"]
        cidr = ipaddress.ip_network(subnets[nic["subnetwork"]].inputs["ipCidrRange"])
        assert ipaddress.ip_address(nic["networkIp"]) in cidr
    disks = [d for d in of(prod, "gcp:compute/disk:Disk") if d.inputs["labels"].get("role") == "postgres-data"]
    assert sorted(d.inputs["zone"] for d in disks) == sorted(topology.node_zones.value)


def test_no_external_addresses(stack):
    _, plan = stack
    for instance in of(plan, INSTANCE):
        for nic in instance.inputs["networkInterfaces"]:
            assert not nic.get("accessConfigs") and not nic.get("ipv6AccessConfigs"), instance.name
    for address in of(plan, "gcp:compute/address:Address"):
        assert address.inputs["addressType"] == "INTERNAL"
    for rule in of(plan, "gcp:compute/forwardingRule:ForwardingRule"):
        assert rule.inputs["loadBalancingScheme"] == "INTERNAL" and rule.inputs["allowGlobalAccess"] is False
    for backend in of(plan, "gcp:compute/regionBackendService:RegionBackendService"):
        assert backend.inputs["loadBalancingScheme"] == "INTERNAL"
    for subnet in of(plan, "gcp:compute/subnetwork:Subnetwork"):
        assert subnet.inputs["privateIpGoogleAccess"] is True
        assert subnet.inputs["logConfig"]["metadata"] == "INCLUDE_ALL_METADATA"
    (network,) = of(plan, "gcp:compute/network:Network")
    assert network.inputs["autoCreateSubnetworks"] is False
    (zone,) = of(plan, "gcp:dns/managedZone:ManagedZone")
    assert zone.inputs["visibility"] == "private"


def _tcp_ports(rule: ResourceRecord, key: str = "allows") -> set[int]:
    return {int(p) for entry in rule.inputs.get(key) or [] for p in entry.get("ports") or []}


def test_firewall_admits_clients_only_from_the_allowlist(stack):
    name, plan = stack
    settings = settings_for_stack(name)
    prefix = settings.name
    ingress = [r for r in of(plan, FIREWALL) if r.inputs["direction"] == "INGRESS"]
    clients = firewall(plan, "allow-clients")
    assert clients.inputs["sourceRanges"] == list(settings.network.allowlist.cidrs)
    assert _tcp_ports(clients) == {PORTS.write, PORTS.read, PORTS.pooled_write}
    assert clients.inputs["targetTags"] == [f"{prefix}-member"]
    members = firewall(plan, "allow-members")
    assert _tcp_ports(members) == set(INTRA_CLUSTER_PORTS) and not members.inputs.get("sourceRanges")
    assert members.inputs["sourceTags"] == [f"{prefix}-member"]
    health = firewall(plan, "allow-health-checks")
    assert set(health.inputs["sourceRanges"]) == set(HEALTH_CHECK_SOURCE_RANGES)
    assert _tcp_ports(health) == {PORTS.patroni_rest}
    # Every rule with address ranges admits only the allowlist, Google's checkers or IAP; nothing is open.
    for rule in ingress:
        assert "0.0.0.0/0" not in (rule.inputs.get("sourceRanges") or []) or rule.inputs.get("denies"), rule.name
        assert all(entry["protocol"] == "tcp" for entry in rule.inputs.get("allows") or []), rule.name
    deny = firewall(plan, "deny-ingress")
    assert deny.inputs["denies"] == [{"protocol": "all"}] and deny.inputs["sourceRanges"] == ["0.0.0.0/0"]
    assert deny.inputs["priority"] > max(r.inputs["priority"] for r in ingress if r.inputs.get("allows"))
    deny_out = firewall(plan, "deny-egress")
    assert deny_out.inputs["direction"] == "EGRESS" and deny_out.inputs["denies"] == [{"protocol": "all"}]


def test_nlb_routes_by_patroni_health_at_the_clouds_pace(prod):
    topology = derive_topology(settings_for_stack("gcp-prod"))
    check = topology.routing_check.value
    assert READER.route_checks(prod) == {
        PORTS.write: (PORTS.patroni_rest, WRITE_CHECK_PATH),
        PORTS.pooled_write: (PORTS.patroni_rest, WRITE_CHECK_PATH),
        PORTS.read: (PORTS.patroni_rest, read_check_path(topology)),
    }
    for health in of(prod, "gcp:compute/regionHealthCheck:RegionHealthCheck"):
        assert health.inputs["httpsHealthCheck"]["port"] == PORTS.patroni_rest
        assert (health.inputs["checkIntervalSec"], health.inputs["timeoutSec"]) == (
            check.interval_seconds,
            check.timeout_seconds,
        )
        assert (health.inputs["healthyThreshold"], health.inputs["unhealthyThreshold"]) == (check.rise, check.fall)
    for backend in of(prod, "gcp:compute/regionBackendService:RegionBackendService"):
        assert backend.inputs["connectionTrackingPolicy"]["connectionPersistenceOnUnhealthyBackends"] == (
            "NEVER_PERSIST"
        )
        assert len(backend.inputs["backends"]) == 3  # one group per zone
    addresses = {r.inputs["ipAddress"] for r in of(prod, "gcp:compute/forwardingRule:ForwardingRule")}
    (record,) = of(prod, "gcp:dns/recordSet:RecordSet")
    assert len(addresses) == 1 and record.inputs["rrdatas"] == list(addresses)
    assert record.inputs["name"] == f"{prod.outputs['endpoint']}."


def test_the_read_port_reaches_postgres_on_the_members(prod, dev):
    """A passthrough NLB keeps the client's port: the read route's port is redirected on the members."""
    for member in READER.members(prod):
        script = member.inputs["metadata"][STARTUP_SCRIPT_KEY]
        assert f"tcp dport {PORTS.read} redirect to :{PORTS.postgres}" in script
    for member in READER.members(dev):
        assert "redirect" not in member.inputs["metadata"][STARTUP_SCRIPT_KEY]  # one member, no read route


def test_the_boot_is_cloud_inits_user_data_and_the_startup_script_installs_it(stack):
    _, plan = stack
    for instance in of(plan, INSTANCE):
        metadata = instance.inputs["metadata"]
        assert metadata[USER_DATA_KEY].startswith("#cloud-config\n")
        script = metadata[STARTUP_SCRIPT_KEY]
        assert "apt-get install -y -q cloud-init" in script and "cloud-init modules --mode=final" in script
        assert "google-cloud-ops-agent" in script
        assert metadata["enable-oslogin"] == "TRUE" and metadata["block-project-ssh-keys"] == "TRUE"


@pytest.mark.parametrize("stack_name,mode,days", [("gcp-prod", "Locked", 14), ("gcp-dev", "Unlocked", 2)])
def test_objects_are_locked_for_worm_days_locked_in_prod_only(stack_name, mode, days, prod, dev):
    """Object Retention Lock on a versioned bucket, never a bucket retention policy (pgBackRest #1439): each
    member's timer locks new objects; soft delete and the noncurrent expiry reach past the lock."""
    from dataplane.boot.gcs_lock import LOCK_SCRIPT, LOCK_UNIT

    plan = {"gcp-prod": prod, "gcp-dev": dev}[stack_name]
    (bucket,) = of(plan, "gcp:storage/bucket:Bucket")
    settings = settings_for_stack(stack_name)
    topology = derive_topology(settings)
    assert days == settings.objectives.worm_days == topology.lock_days.value
    assert not bucket.inputs.get("retentionPolicy"), "a retention policy refuses pgBackRest's rewrites"
    assert bucket.inputs["versioning"] == {"enabled": True}
    assert bucket.inputs["enableObjectRetention"] is True
    soft_days = bucket.inputs["softDeletePolicy"]["retentionDurationSeconds"] / 86_400
    assert soft_days == min(max(days, 7), 90)
    assert bucket.inputs["uniformBucketLevelAccess"] is True
    assert bucket.inputs["publicAccessPrevention"] == "enforced"
    assert bucket.inputs["forceDestroy"] is False
    rules = {r["action"]["type"]: r["condition"] for r in bucket.inputs["lifecycleRules"]}
    assert rules["AbortIncompleteMultipartUpload"] == {"age": 7}
    assert rules["Delete"] == {
        "daysSinceNoncurrentTime": topology.noncurrent_version_expiry_days.value,
        "withState": "ARCHIVED",
    }
    assert rules["Delete"]["daysSinceNoncurrentTime"] > days
    assert READER.vault_lock(plan) == (topology.lock_mode.value, days)
    for member in READER.members(plan):
        files = READER.boot_files(member)
        assert f'"mode": "{mode}"' in files[LOCK_SCRIPT] and f'"lock_days": {days}' in files[LOCK_SCRIPT]
        assert "OnUnitActiveSec=60" in files[f"/etc/systemd/system/{LOCK_UNIT}.timer"]
        runcmd = yaml.safe_load(READER.boot_text(member))["runcmd"]
        assert ["systemctl", "enable", "--now", f"{LOCK_UNIT}.timer"] in runcmd
    assert LOCK_SCRIPT not in READER.boot_files(monitoring_instance(plan))


def test_cmek_on_the_bucket_and_every_disk(stack):
    _, plan = stack
    keys = {k.name: k.id for k in of(plan, "gcp:kms/cryptoKey:CryptoKey")}
    backup_key = next(v for k, v in keys.items() if k.endswith("vault-key"))
    volume_key = next(v for k, v in keys.items() if k.endswith("volumes-key"))
    (bucket,) = of(plan, "gcp:storage/bucket:Bucket")
    assert bucket.inputs["encryption"]["defaultKmsKeyName"] == backup_key
    for disk in of(plan, "gcp:compute/disk:Disk"):
        assert disk.inputs["diskEncryptionKey"]["kmsKeySelfLink"] == volume_key, disk.name
    for instance in of(plan, INSTANCE):
        assert instance.inputs["bootDisk"]["kmsKeySelfLink"] == volume_key, instance.name
    grants = {g.inputs["cryptoKeyId"]: g.inputs for g in of(plan, "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember")}
    assert grants[backup_key]["member"].endswith("@gs-project-accounts.iam.gserviceaccount.com")
    # Secret Manager's key is test_secrets_stay_secret_and_in_the_region's.
    assert grants[volume_key]["member"].endswith("@compute-system.iam.gserviceaccount.com")
    assert {g["role"] for g in grants.values()} == {"roles/cloudkms.cryptoKeyEncrypterDecrypter"}
    for key in of(plan, "gcp:kms/cryptoKey:CryptoKey"):
        assert key.inputs["rotationPeriod"] == f"{90 * 86_400}s"
    # The bucket waits for its agent's grant: Cloud Storage refuses a default key it cannot use.
    backup_grant = next(g for g in of(plan, "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember") if "vault" in g.name)
    assert backup_grant.urn in bucket.dependencies


def test_shielded_debian_nodes_with_their_own_service_accounts(stack):
    _, plan = stack
    accounts = {a.outputs["email"]: a for a in of(plan, "gcp:serviceaccount/account:Account")}
    emails = [i.inputs["serviceAccount"]["email"] for i in of(plan, INSTANCE)]
    assert len(set(emails)) == len(emails) and set(emails) <= set(accounts)
    for instance in of(plan, INSTANCE):
        shielded = instance.inputs["shieldedInstanceConfig"]
        assert shielded == {"enableSecureBoot": True, "enableVtpm": True, "enableIntegrityMonitoring": True}
        assert instance.inputs["bootDisk"]["initializeParams"]["image"] == "debian-cloud/debian-12"


def test_every_node_is_restarted_on_another_host_when_its_host_fails(stack):
    """Members and the monitoring node alike: live migration through maintenance, automatic restart after a host
    failure (same instance, disks and internal address), never Spot."""
    name, plan = stack
    instances = of(plan, INSTANCE)
    assert len(instances) == settings_for_stack(name).cluster.nodes + 1
    for instance in instances:
        assert instance.inputs["scheduling"] == {
            "onHostMaintenance": "MIGRATE",
            "automaticRestart": True,
            "provisioningModel": "STANDARD",
        }, instance.name


def test_identities_touch_only_their_own(stack):
    name, plan = stack
    settings = settings_for_stack(name)
    (bucket,) = of(plan, "gcp:storage/bucket:Bucket")
    bucket_roles = collections.defaultdict(set)
    for grant in of(plan, "gcp:storage/bucketIAMMember:BucketIAMMember"):
        assert grant.inputs["bucket"] == bucket.inputs["name"]
        bucket_roles[grant.inputs["member"]].add(grant.inputs["role"])
    members = {m.inputs["serviceAccount"]["email"] for m in READER.members(plan)}
    restore = plan.outputs["restore_role_arn"]
    (lock_role,) = of(plan, "gcp:projects/iAMCustomRole:IAMCustomRole")
    # setRetention only: never overrideUnlockedRetention, which shortens or removes a GOVERNANCE lock.
    assert lock_role.inputs["permissions"] == ["storage.objects.setRetention"]
    assert {r.inputs["role"] for r in of(plan, "gcp:storage/bucketIAMMember:BucketIAMMember")} >= {
        lock_role.outputs["name"]
    }
    assert bucket_roles == {
        **{f"serviceAccount:{m}": {"roles/storage.objectUser", lock_role.outputs["name"]} for m in members},
        f"serviceAccount:{restore}": {"roles/storage.objectViewer"},
    }
    stored = {r.id: r for r in of(plan, "gcp:secretmanager/secret:Secret")}
    readers = collections.defaultdict(set)
    for grant in of(plan, "gcp:secretmanager/secretIamMember:SecretIamMember"):
        assert grant.inputs["role"] == "roles/secretmanager.secretAccessor"
        readers[grant.inputs["secretId"]].add(grant.inputs["member"])
    monitoring = f"serviceAccount:{monitoring_instance(plan).inputs['serviceAccount']['email']}"
    for secret_id, secret in stored.items():
        label = secret.inputs["labels"]["secret"]
        if label.startswith("tls-"):
            assert len(readers[secret_id]) == 1, label  # a member reads exactly its own bundle
        elif label.startswith("webhook-"):
            assert readers[secret_id] == {monitoring}
        else:
            assert len(readers[secret_id]) == settings.cluster.nodes, label
    project_roles = {g.inputs["role"] for g in of(plan, "gcp:projects/iAMMember:IAMMember")}
    assert project_roles == {"roles/monitoring.metricWriter", "roles/logging.logWriter"}


def test_secrets_stay_secret_and_in_the_region(stack):
    name, plan = stack
    region = settings_for_stack(name).region
    keys = {k.name: k for k in of(plan, "gcp:kms/cryptoKey:CryptoKey")}
    secrets_key = next(k for name, k in keys.items() if name.endswith("secrets-key"))
    (agent,) = of(plan, "gcp:projects/serviceIdentity:ServiceIdentity")
    assert agent.inputs["service"] == "secretmanager.googleapis.com"
    (grant,) = [g for g in of(plan, "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember") if "secrets" in g.name]
    assert grant.inputs["cryptoKeyId"] == secrets_key.id and grant.inputs["member"].endswith(
        "@gcp-sa-secretmanager.iam.gserviceaccount.com"
    )
    for secret in of(plan, "gcp:secretmanager/secret:Secret"):
        (replica,) = secret.inputs["replication"]["userManaged"]["replicas"]
        assert replica["location"] == region
        assert replica["customerManagedEncryption"]["kmsKeyName"] == secrets_key.id
        assert grant.urn in secret.dependencies  # Secret Manager refuses a key its agent cannot use
    for version in of(plan, "gcp:secretmanager/secretVersion:SecretVersion"):
        assert "secretData" in version.secret_paths, version.name
    for url in _webhooks(name).values():
        for record in plan.resources:
            assert url not in str(record.inputs) or record.secret_paths, record.name


def test_stateful_resources_protected_in_prod_only(prod, dev):
    for plan, protect in ((prod, True), (dev, False)):
        for type_token in READER.stateful_types:
            assert all(r.protect is protect for r in of(plan, type_token)), type_token
        for instance in of(plan, INSTANCE):
            # Replaceable, even in prod: the data lives on its own protected disk.
            assert instance.protect is False and not instance.inputs.get("deletionProtection"), instance.name


def test_every_labelled_resource_carries_the_stage_labels(stack):
    name, plan = stack
    wanted = settings_for_stack(name).tags
    assert all(v == v.lower() for v in wanted.values())
    labelled = [r for r in plan.resources if r.custom and READER.tags_of(r) is not None]
    assert {r.type for r in labelled} >= {
        "gcp:compute/instance:Instance",
        "gcp:compute/disk:Disk",
        "gcp:storage/bucket:Bucket",
        "gcp:secretmanager/secret:Secret",
        "gcp:kms/cryptoKey:CryptoKey",
        "gcp:monitoring/alertPolicy:AlertPolicy",
    }
    for record in labelled:
        assert READER.tags_of(record).items() >= wanted.items(), record.name


def test_alerts_page_the_email_receivers(prod):
    channels = {c.id for c in of(prod, "gcp:monitoring/notificationChannel:NotificationChannel")}
    assert channels
    policies = of(prod, "gcp:monitoring/alertPolicy:AlertPolicy")
    for policy in policies:
        assert set(policy.inputs["notificationChannels"]) == channels
    disk = [p for p in policies if p.name.endswith("-disk-free")]
    assert len(disk) == 3
    for policy in disk:
        (condition,) = policy.inputs["conditions"]
        assert "agent.googleapis.com/disk/percent_used" in condition["conditionThreshold"]["filter"]
        assert condition["conditionThreshold"]["thresholdValue"] == 95


def test_only_the_node_being_rolled_takes_the_current_boot(prod):
    """cloud-init runs once per instance: every node ignores its metadata and image but the one being rolled."""
    rolled = run_stack(
        "gcp-prod", overrides=overridden("gcp-prod", "cluster", lambda c: c.update(roll=["db-1", "monitoring"]))
    )
    for instance in of(rolled, INSTANCE):
        rolling = instance.name in ("pgp-gcpprod-cluster-pgp-gcpprod-db-1", "pgp-gcpprod-monitoring-node")
        assert ("metadata" in instance.ignore_changes) is not rolling, instance.name
    for instance in of(prod, INSTANCE):
        assert {"metadata", "bootDisk.initializeParams.image", "machineType"} <= set(instance.ignore_changes)


def test_outputs_are_enough_to_connect(stack):
    _, plan = stack
    out = plan.outputs
    rules = {int(r.inputs["ports"][0]) for r in of(plan, "gcp:compute/forwardingRule:ForwardingRule")}
    assert {e["port"] for e in out["endpoints"].values()} == rules
    secrets = {r.id for r in of(plan, "gcp:secretmanager/secret:Secret")}
    assert set(out["app_role_secret_ids"].values()) <= secrets
    assert out["backup_bucket"].startswith("gs://pgp-")
    assert out["restore_role_arn"].endswith(".iam.gserviceaccount.com")
    assert "--tunnel-through-iap" in out["dashboards"]


def test_post_provision_runs_on_the_leader_through_iap_after_the_bucket(prod):
    # The configure and leave steps run scripts/iap_configure.py (tests/program/gcp/test_configure_step.py).
    steps = {
        r.name.rsplit("-", 1)[-1]: r
        for r in of(prod, "command:local:Command")
        if r.name.endswith(("-backup-check", "-roles"))
    }
    assert set(steps) == {"check", "roles"}
    members = [m.inputs["name"] for m in READER.members(prod)]
    for step in steps.values():
        script = step.inputs["create"]
        assert step.inputs["interpreter"] == ["/bin/bash", "-c"]
        assert "--tunnel-through-iap" in script and "--project acme-pgp-prod" in script
        assert all(name in script for name in members)
    assert "pg-platform-backup-check" in steps["check"].inputs["create"]
    assert "pg-platform-apply-roles" in steps["roles"].inputs["create"]
    assert steps["check"].urn in steps["roles"].dependencies
    (bucket,) = of(prod, "gcp:storage/bucket:Bucket")
    grants = {g.urn for g in of(prod, "gcp:storage/bucketIAMMember:BucketIAMMember")}
    assert bucket.urn in steps["check"].dependencies and grants <= set(steps["check"].dependencies)
