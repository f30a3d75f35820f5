"""The real program, run for each Azure stack file under the SDK mock runtime, builds the graph we promise."""

from __future__ import annotations

import base64
import collections
import gzip
import json

import pytest

from components.azure.spec import (
    KEY_VAULT_CRYPTO_SERVICE_ENCRYPTION_USER,
    KEY_VAULT_SECRETS_USER,
    STORAGE_BLOB_DATA_CONTRIBUTOR,
    STORAGE_BLOB_DATA_READER,
)
from dataplane.model import SECRET_ENV
from stacks.clouds.azure import STANDARD_LB, key_vault_logical_name, storage_account_logical_name
from stacks.offline import settings_for_stack
from stacks.ports import EXPORTER_PORTS, INTRA_CLUSTER_PORTS, PORTS
from stacks.topology import derive_topology
from tests.program.contract.readers import strings
from tools.records import Plan, ResourceRecord
from tools.runner import run_stack

STACKS = ("azure-dev", "azure-prod")
NET = "azure-native:network"
VM = "azure-native:compute:VirtualMachine"
DISK = "azure-native:compute:Disk"
DES = "azure-native:compute:DiskEncryptionSet"
ACCOUNT = "azure-native:storage:StorageAccount"
POLICY = "azure-native:storage:BlobContainerImmutabilityPolicy"
ASSIGNMENT = "azure-native:authorization:RoleAssignment"
SECRET = "azure-native:keyvault:Secret"
KEY = "azure-native:keyvault:Key"
COMMAND = "command:local:Command"


@pytest.fixture(scope="module", params=STACKS)
def stack(request) -> tuple[str, Plan]:
    return request.param, run_stack(request.param)


@pytest.fixture(scope="module")
def prod() -> Plan:
    return run_stack("azure-prod")


@pytest.fixture(scope="module")
def dev() -> Plan:
    return run_stack("azure-dev")


def of(plan: Plan, type_token: str) -> list[ResourceRecord]:
    return plan.by_type(type_token)


def by_id(plan: Plan) -> dict[str, ResourceRecord]:
    return {r.outputs["id"]: r for r in plan.resources if r.custom and isinstance(r.outputs.get("id"), str)}


def role(record: ResourceRecord) -> str:
    return record.inputs["roleDefinitionId"].rsplit("/", 1)[-1]


def vms(plan: Plan, kind: str) -> list[ResourceRecord]:
    return [r for r in of(plan, VM) if r.inputs["tags"].get("role") == kind]


def custom_data(vm: ResourceRecord) -> str:
    return gzip.decompress(base64.b64decode(vm.inputs["osProfile"]["customData"])).decode()


def test_resource_counts_follow_the_settings(stack):
    name, plan = stack
    settings = settings_for_stack(name)
    nodes, zones, peers = settings.cluster.nodes, len(settings.network.zones), len(settings.network.peers)
    webhooks = sum(1 for r in settings.monitoring.receivers if r.webhook_url)
    locked = derive_topology(settings).lock_mode.value == "COMPLIANCE"
    counts = collections.Counter(r.type for r in plan.resources)
    expected = {
        "azure-native:resources:ResourceGroup": 1,
        f"{NET}:VirtualNetwork": 1,
        f"{NET}:Subnet": zones + 1,  # private per zone + the monitoring subnet
        f"{NET}:NetworkSecurityGroup": 2,
        f"{NET}:NatGateway": 1,
        f"{NET}:PublicIPAddress": 1,  # the NAT gateway's egress address
        f"{NET}:VirtualNetworkPeering": 2 * peers,  # both halves
        f"{NET}:FlowLog": 1,
        f"{NET}:NetworkInterface": nodes + 1,
        f"{NET}:LoadBalancer": 1,
        f"{NET}:PrivateEndpoint": 1,
        VM: nodes + 1,
        DISK: nodes + 1,  # members' data + the monitoring node's TSDB
        DES: 1,
        ACCOUNT: 2,  # backups + flow logs
        POLICY: 1,
        "azure-native:storage:ManagementPolicy": 1,
        KEY: 2,  # backups, disks
        # passwords + one TLS bundle per node + one per webhook receiver
        SECRET: len(SECRET_ENV) + nodes + webhooks,
        "random:index/randomPassword:RandomPassword": len(SECRET_ENV),
        "tls:index/locallySignedCert:LocallySignedCert": nodes + 1,
        "azure-native:monitor:MetricAlert": (nodes + 1) + 1,  # VM availability per VM, no primary
        "azure-native:monitor:ActionGroup": 1,
        COMMAND: 1 if locked else 0,  # the immutability lock
    }
    assert {t: counts.get(t, 0) for t in expected} == expected


def test_components_are_typed_and_parent_their_children(stack):
    _, plan = stack
    components = {r.urn: r for r in plan.resources if not r.custom}
    assert {r.type for r in components.values()} >= {
        "pg-platform:index:PostgresPlatform",
        *(f"pg-platform:azure:{role}" for role in ("Network", "BackupVault", "Secrets", "Identity")),
        "pg-platform:azure:PostgresCluster",
        "pg-platform:azure:Monitoring",
    }
    stage = settings_for_stack(plan.stack).stage
    # Names Azure restricts further keep to its rules: no hyphens in storage accounts and encryption sets; the
    # vault's is the stage's, as stacks/clouds/azure.py sizes the stage name for it.
    fixed = {key_vault_logical_name(stage), storage_account_logical_name(stage), f"pgp{stage}flow"}
    for record in plan.resources:
        if record.custom:
            parent = components.get(record.parent)
            assert parent is not None, f"{record.name} is not parented to a component"
            named = record.name.startswith((parent.name + "-", parent.name.replace("-", "_") + "_"))
            assert named or record.name in fixed, f"{record.name} not named from {parent.name}"


def test_members_spread_over_the_zones_with_their_disks(stack):
    name, plan = stack
    topology = derive_topology(settings_for_stack(name))
    members = sorted(vms(plan, "postgres"), key=lambda vm: vm.inputs["osProfile"]["computerName"])
    assert [vm.inputs["zones"] for vm in members] == [[z] for z in topology.node_zones.value]
    ids = by_id(plan)
    for vm in members:
        (data,) = vm.inputs["storageProfile"]["dataDisks"]
        disk = ids[data["managedDisk"]["id"]]
        assert disk.inputs["zones"] == vm.inputs["zones"] and data["createOption"] == "Attach"
        assert data["deleteOption"] == "Detach"  # the data outlives the VM
    (monitoring,) = vms(plan, "monitoring")
    assert monitoring.inputs["zones"] == [settings_for_stack(name).network.zones[0]]


def test_no_public_addresses(stack):
    _, plan = stack
    ids = by_id(plan)
    (nat,) = of(plan, f"{NET}:NatGateway")
    nat_ips = {ip["id"] for ip in nat.inputs["publicIpAddresses"]}
    # The only public address is the NAT gateway's, which answers no inbound connection.
    assert {r.outputs["id"] for r in of(plan, f"{NET}:PublicIPAddress")} == nat_ips
    for nic in of(plan, f"{NET}:NetworkInterface"):
        for config in nic.inputs["ipConfigurations"]:
            assert "publicIPAddress" not in config
    (lb,) = of(plan, f"{NET}:LoadBalancer")
    for frontend in lb.inputs["frontendIPConfigurations"]:
        assert "publicIPAddress" not in frontend and "publicIPPrefix" not in frontend and frontend["subnet"]["id"]
    for subnet in of(plan, f"{NET}:Subnet"):
        assert subnet.inputs["defaultOutboundAccess"] is False
        assert ids[subnet.inputs["networkSecurityGroup"]["id"]].type == f"{NET}:NetworkSecurityGroup"
    for account in of(plan, ACCOUNT):
        assert account.inputs["allowBlobPublicAccess"] is False
        assert account.inputs["networkRuleSet"]["defaultAction"] == "Deny"
    for disk in of(plan, DISK):
        assert disk.inputs["networkAccessPolicy"] == "DenyAll" and disk.inputs["publicNetworkAccess"] == "Disabled"


def _rules(plan: Plan, label: str) -> list[dict]:
    (nsg,) = [n for n in of(plan, f"{NET}:NetworkSecurityGroup") if n.name.endswith(label)]
    return nsg.inputs["securityRules"]


def _sources(rule: dict) -> list[str]:
    return rule.get("sourceAddressPrefixes") or [rule["sourceAddressPrefix"]]


def test_nsgs_admit_clients_from_the_allowlist_and_cluster_ports_inside_only(stack):
    name, plan = stack
    settings = settings_for_stack(name)
    topology = derive_topology(settings)
    for label in ("db-nsg", "monitoring-nsg"):
        rules = _rules(plan, label)
        inbound = sorted((r for r in rules if r["direction"] == "Inbound"), key=lambda r: r["priority"])
        last = inbound[-1]
        assert (last["access"], last["priority"], _sources(last), last["destinationPortRange"]) == (
            "Deny",
            4096,
            ["*"],
            "*",
        )
        for rule in inbound[:-1]:
            assert rule["access"] == "Allow"
            assert not {"*", "Internet", "0.0.0.0/0", "VirtualNetwork"} & set(_sources(rule)), rule["name"]
        assert len({r["priority"] for r in rules if r["direction"] == "Inbound"}) == len(inbound)
    db = {r["name"]: r for r in _rules(plan, "db-nsg") if r["direction"] == "Inbound"}
    assert _sources(db["clients"]) == list(settings.network.allowlist.cidrs)
    (lb,) = of(plan, f"{NET}:LoadBalancer")
    backends = sorted(r["backendPort"] for r in lb.inputs["loadBalancingRules"])
    assert db["clients"]["destinationPortRanges"] == [str(int(p)) for p in backends]
    assert _sources(db["members"]) == list(topology.subnet_cidrs.value)
    assert db["members"]["destinationPortRanges"] == [str(p) for p in INTRA_CLUSTER_PORTS]
    assert _sources(db["scrapes"]) == [topology.egress_subnet_cidr.value]
    assert set(db["scrapes"]["destinationPortRanges"]) == {str(p) for p in (*EXPORTER_PORTS, PORTS.patroni_rest)}
    assert (_sources(db["lb-probes"]), db["lb-probes"]["destinationPortRanges"]) == (
        ["AzureLoadBalancer"],
        [str(PORTS.patroni_rest)],
    )
    monitoring_in = [r for r in _rules(plan, "monitoring-nsg") if r["direction"] == "Inbound"]
    assert [r["access"] for r in monitoring_in] == ["Deny"]


def test_the_container_is_immutable_for_worm_days_and_locked_in_prod(stack):
    name, plan = stack
    settings = settings_for_stack(name)
    topology = derive_topology(settings)
    (policy,) = of(plan, POLICY)
    assert policy.inputs["immutabilityPolicyName"] == "default"
    assert policy.inputs["immutabilityPeriodSinceCreationInDays"] == settings.objectives.worm_days
    assert settings.objectives.worm_days == topology.lock_days.value
    (container,) = of(plan, "azure-native:storage:BlobContainer")
    assert container.inputs["immutableStorageWithVersioning"] == {"enabled": True}
    (service,) = of(plan, "azure-native:storage:BlobServiceProperties")
    assert service.inputs["isVersioningEnabled"] is True and service.inputs["blobServicesName"] == "default"
    (lifecycle,) = of(plan, "azure-native:storage:ManagementPolicy")
    assert lifecycle.inputs["managementPolicyName"] == "default"
    (rule,) = lifecycle.inputs["policy"]["rules"]
    expiry = rule["definition"]["actions"]["version"]["delete"]["daysAfterCreationGreaterThan"]
    assert expiry == topology.noncurrent_version_expiry_days.value > topology.lock_days.value
    locks = of(plan, COMMAND)
    if topology.lock_mode.value == "COMPLIANCE":
        (lock,) = locks
        create = lock.inputs["create"]
        assert create.startswith("az storage container immutability-policy lock ")
        assert f"--container-name {container.inputs['containerName']}" in create
        assert f"--if-match {policy.outputs['etag']}" in create or "--if-match '" in create
        assert policy.urn in lock.dependencies and lock.protect and not lock.inputs.get("delete")
        assert lock.ignore_changes == ["create"]  # the lock's new ETag must not run it again
    else:
        assert locks == []


def test_backups_and_disks_use_the_stages_own_keys(stack):
    _, plan = stack
    ids = by_id(plan)
    keys = {k.inputs["keyName"]: k for k in of(plan, KEY)}
    (vault,) = of(plan, "azure-native:keyvault:Vault")
    (account,) = [a for a in of(plan, ACCOUNT) if a.inputs["tags"].get("purpose") == "pgbackrest"]
    encryption = account.inputs["encryption"]
    assert encryption["keySource"] == "Microsoft.Keyvault"
    assert encryption["keyVaultProperties"]["keyName"] == "backup-key"
    assert encryption["keyVaultProperties"]["keyVaultUri"] == vault.outputs["properties"]["vaultUri"]
    assert encryption["requireInfrastructureEncryption"] is True
    identity = encryption["encryptionIdentity"]["encryptionUserAssignedIdentity"]
    assert account.inputs["identity"]["userAssignedIdentities"] == [identity]
    (des,) = of(plan, DES)
    assert des.inputs["activeKey"]["keyUrl"] == keys["disk-key"].outputs["keyUriWithVersion"]
    assert des.inputs["encryptionType"] == "EncryptionAtRestWithCustomerKey"
    # Each key's only user is its own service identity.
    users = {
        (a.inputs["scope"], a.inputs["principalId"])
        for a in of(plan, ASSIGNMENT)
        if role(a) == KEY_VAULT_CRYPTO_SERVICE_ENCRYPTION_USER
    }
    (des_identity,) = des.inputs["identity"]["userAssignedIdentities"]
    assert users == {
        (keys["backup-key"].outputs["id"], ids[identity].outputs["principalId"]),
        (keys["disk-key"].outputs["id"], ids[des_identity].outputs["principalId"]),
    }
    for disk in of(plan, DISK):
        assert disk.inputs["encryption"]["diskEncryptionSetId"] == des.outputs["id"]
    for vm in of(plan, VM):
        os_disk = vm.inputs["storageProfile"]["osDisk"]["managedDisk"]
        assert os_disk["diskEncryptionSet"]["id"] == des.outputs["id"]
        assert vm.inputs["securityProfile"]["encryptionAtHost"] is True


def test_storage_and_key_vault_refuse_keys_and_public_networks(stack):
    _, plan = stack
    for account in of(plan, ACCOUNT):
        inputs = account.inputs
        assert inputs["minimumTlsVersion"] == "TLS1_2" and inputs["enableHttpsTrafficOnly"] is True
        assert inputs["allowSharedKeyAccess"] is False
    (backups,) = [a for a in of(plan, ACCOUNT) if a.inputs["tags"].get("purpose") == "pgbackrest"]
    assert backups.inputs["publicNetworkAccess"] == "Disabled"
    (vault,) = of(plan, "azure-native:keyvault:Vault")
    props = vault.inputs["properties"]
    assert props["enableRbacAuthorization"] and props["enablePurgeProtection"] and props["enableSoftDelete"]
    assert props["networkAcls"]["defaultAction"] == "Deny"
    subnets = {s.outputs["id"] for s in of(plan, f"{NET}:Subnet")}
    assert {r["id"] for r in props["networkAcls"]["virtualNetworkRules"]} == subnets


def test_routes_probe_patroni_and_follow_the_routing_check(stack):
    _, plan = stack
    (lb,) = of(plan, f"{NET}:LoadBalancer")
    assert lb.inputs["sku"]["name"] == "Standard"
    check = STANDARD_LB.check
    probes = {p["name"]: p for p in lb.inputs["probes"]}
    for probe in probes.values():
        assert (probe["protocol"], probe["port"], probe["intervalInSeconds"], probe["probeThreshold"]) == (
            "Https",
            PORTS.patroni_rest,
            check.interval_seconds,
            check.fall,
        )
    rules = {r["name"]: r for r in lb.inputs["loadBalancingRules"]}
    assert probes[rules["write"]["probe"]["id"].rsplit("/", 1)[-1]]["requestPath"] == "/primary"
    assert probes[rules["pooled"]["probe"]["id"].rsplit("/", 1)[-1]]["requestPath"] == "/primary"
    assert (rules["write"]["frontendPort"], rules["write"]["backendPort"]) == (PORTS.write, PORTS.postgres)
    assert (rules["pooled"]["frontendPort"], rules["pooled"]["backendPort"]) == (PORTS.pooled_write, PORTS.pgbouncer)
    # A Standard LB refuses two rules to one backend port of the same IP configuration: the read route arrives
    # on its own port, and every member redirects it to PostgreSQL's (nftables, reapplied at each boot).
    assert len({r["backendPort"] for r in rules.values()}) == len(rules)
    members = vms(plan, "postgres")
    if len(members) > 1:
        assert probes[rules["read"]["probe"]["id"].rsplit("/", 1)[-1]]["requestPath"].startswith("/replica")
        assert (rules["read"]["frontendPort"], rules["read"]["backendPort"]) == (PORTS.read, PORTS.read)
    for vm in members:
        redirected = f"tcp dport {PORTS.read} redirect to :{PORTS.postgres}" in custom_data(vm)
        assert redirected == (len(members) > 1), vm.name
    assert "redirect to" not in custom_data(vms(plan, "monitoring")[0])
    (frontend,) = lb.inputs["frontendIPConfigurations"]
    (record,) = of(plan, "azure-native:privatedns:PrivateRecordSet")
    assert record.inputs["aRecords"] == [{"ipv4Address": frontend["privateIPAddress"]}]


def test_exported_client_access_matches_the_routes(stack):
    _, plan = stack
    (lb,) = of(plan, f"{NET}:LoadBalancer")
    ports = {r["frontendPort"] for r in lb.inputs["loadBalancingRules"]}
    assert {e["port"] for e in plan.outputs["endpoints"].values()} == ports
    assert set(plan.outputs["connection_uris"]) == set(plan.outputs["endpoints"])


def test_secrets_stay_secret_and_webhook_urls_never_appear_in_plain(stack):
    name, plan = stack
    for secret in of(plan, SECRET):
        assert "properties" in secret.secret_paths or "properties.value" in secret.secret_paths, secret.name
    urls = [r.webhook_url for r in settings_for_stack(name).monitoring.receivers if r.webhook_url]
    for record in plan.resources:
        for path, text in strings(record.inputs):
            if any(url in text for url in urls):
                assert any(path == s or path.startswith(f"{s}.") for s in record.secret_paths), (record.name, path)
    for vm in of(plan, VM):
        assert not any(url in custom_data(vm) for url in urls)


def test_identities_hold_only_their_own_data_roles(stack):
    _, plan = stack
    ids = by_id(plan)
    (container,) = of(plan, "azure-native:storage:BlobContainer")
    secrets = {s.outputs["id"]: s.inputs["secretName"] for s in of(plan, SECRET)}
    grants = collections.defaultdict(set)
    for assignment in of(plan, ASSIGNMENT):
        grants[assignment.inputs["principalId"]].add((role(assignment), assignment.inputs["scope"]))
        assert assignment.inputs["principalType"] == "ServicePrincipal"
    for vm in vms(plan, "postgres"):
        (identity,) = vm.inputs["identity"]["userAssignedIdentities"]
        member = vm.inputs["osProfile"]["computerName"]
        held = grants[ids[identity].outputs["principalId"]]
        assert (STORAGE_BLOB_DATA_CONTRIBUTOR, container.outputs["id"]) in held
        names = {secrets[scope] for r, scope in held if r == KEY_VAULT_SECRETS_USER}
        assert names == {*SECRET_ENV, f"tls-{member}"}
        assert {r for r, _ in held} == {STORAGE_BLOB_DATA_CONTRIBUTOR, KEY_VAULT_SECRETS_USER}
    (monitoring,) = vms(plan, "monitoring")
    (identity,) = monitoring.inputs["identity"]["userAssignedIdentities"]
    held = grants[ids[identity].outputs["principalId"]]
    assert {secrets[s] for _, s in held} == {s for s in secrets.values() if s.startswith("webhook-")}
    restore = plan.outputs["restore_role_arn"]
    held = grants[ids[restore].outputs["principalId"]]
    assert held == {
        (STORAGE_BLOB_DATA_READER, container.outputs["id"]),
        (KEY_VAULT_SECRETS_USER, next(i for i, n in secrets.items() if n == "backup-cipher")),
    }


def test_nodes_boot_with_their_own_identity_and_the_vault(stack):
    _, plan = stack
    ids = by_id(plan)
    (vault,) = of(plan, "azure-native:keyvault:Vault")
    vault_url = vault.outputs["properties"]["vaultUri"].rstrip("/")
    for vm in of(plan, VM):
        text = custom_data(vm)
        (identity,) = vm.inputs["identity"]["userAssignedIdentities"]
        assert ids[identity].outputs["clientId"] in text and vault_url in text
        assert len(base64.b64decode(vm.inputs["osProfile"]["customData"])) <= 65535
        assert vm.inputs["osProfile"]["linuxConfiguration"]["disablePasswordAuthentication"] is True
        assert vm.inputs["storageProfile"]["imageReference"]["publisher"] == "Debian"
        assert vm.inputs["securityProfile"]["securityType"] == "TrustedLaunch"


def test_stateful_resources_and_the_lock_are_protected_in_prod_only(prod, dev):
    for plan, protect in ((prod, True), (dev, False)):
        for token in (ACCOUNT, DISK, KEY, SECRET, POLICY, "azure-native:resources:ResourceGroup"):
            assert all(r.protect is protect for r in of(plan, token)), token
    for vm in of(prod, VM):
        assert not vm.protect  # replaced when rolled; its data disk is the stateful part


def test_alerts_page_the_receivers(stack):
    name, plan = stack
    (group,) = of(plan, "azure-native:monitor:ActionGroup")
    emails = {r.email for r in settings_for_stack(name).monitoring.receivers if r.email}
    assert {e["emailAddress"] for e in group.inputs.get("emailReceivers", [])} == emails
    assert "webhookReceivers" not in group.inputs
    alerts = of(plan, "azure-native:monitor:MetricAlert")
    metrics = collections.Counter(a.inputs["criteria"]["allOf"][0]["metricName"] for a in alerts)
    assert metrics == {"VmAvailabilityMetric": len(of(plan, VM)), "DipAvailability": 1}
    for alert in alerts:
        assert alert.inputs["actions"] == [{"actionGroupId": group.outputs["id"]}]


def test_flow_logs_cover_the_vnet(stack):
    _, plan = stack
    (flow,) = of(plan, f"{NET}:FlowLog")
    (vnet,) = of(plan, f"{NET}:VirtualNetwork")
    assert flow.inputs["targetResourceId"] == vnet.outputs["id"] and flow.inputs["enabled"] is True
    assert flow.inputs["retentionPolicy"] == {"days": 365, "enabled": True}
    (account,) = [a for a in of(plan, ACCOUNT) if a.outputs["id"] == flow.inputs["storageId"]]
    (identity,) = flow.inputs["identity"]["userAssignedIdentities"]
    writer = [a for a in of(plan, ASSIGNMENT) if a.inputs["scope"] == account.outputs["id"]]
    assert [role(a) for a in writer] == [STORAGE_BLOB_DATA_CONTRIBUTOR]
    assert writer[0].inputs["principalId"] == by_id(plan)[identity].outputs["principalId"]


def test_peering_runs_both_ways(stack):
    name, plan = stack
    peers = settings_for_stack(name).network.peers
    (vnet,) = of(plan, f"{NET}:VirtualNetwork")
    peerings = of(plan, f"{NET}:VirtualNetworkPeering")
    remote = {p.inputs["remoteVirtualNetwork"]["id"] for p in peerings}
    assert remote == {vnet.outputs["id"], *(p.vnet_id for p in peers)}
    for peer in peers:
        (theirs,) = [p for p in peerings if p.inputs["resourceGroupName"] == peer.resource_group]
        assert theirs.inputs["virtualNetworkName"] == peer.vnet_name and theirs.provider
        assert json.dumps(theirs.provider).find(peer.name) >= 0
    assert set(plan.outputs["peering_connection_ids"]) == {p.name for p in peers}
