"""The real program, run for each stack file under the SDK mock runtime, builds the graph we promise."""

from __future__ import annotations

import base64
import collections
import gzip

import pytest

from components.aws.cluster import ROLLED_BY_OPERATOR, TARGET_GROUP_SUFFIX
from dataplane.model import SECRET_ENV
from stacks.offline import settings_for_stack
from tests.program.contract.readers import strings
from tests.unit.stack_helpers import overridden
from tools.records import Plan, ResourceRecord
from tools.runner import run_stack

STACKS = ("dev", "prod")


@pytest.fixture(scope="module", params=STACKS)
def stack(request) -> tuple[str, Plan]:
    return request.param, run_stack(request.param)


@pytest.fixture(scope="module")
def prod() -> Plan:
    return run_stack("prod")


@pytest.fixture(scope="module")
def dev() -> Plan:
    return run_stack("dev")


def of(plan: Plan, type_token: str) -> list[ResourceRecord]:
    return plan.by_type(type_token)


def user_data(record: ResourceRecord) -> str:
    return gzip.decompress(base64.b64decode(record.inputs["userDataBase64"])).decode()


def _webhooks(stack: str) -> dict[str, str]:
    return {r.name: r.webhook_url for r in settings_for_stack(stack).monitoring.receivers if r.webhook_url}


def monitoring_instance(plan: Plan) -> ResourceRecord:
    (node,) = [r for r in of(plan, "aws:ec2/instance:Instance") if r.inputs["tags"].get("role") == "monitoring"]
    return node


def db_instances(plan: Plan) -> list[ResourceRecord]:
    return [r for r in of(plan, "aws:ec2/instance:Instance") if r.inputs["tags"].get("role") == "postgres"]


def test_resource_counts_follow_the_settings(stack):
    name, plan = stack
    settings = settings_for_stack(name)
    nodes, zones, peers = settings.cluster.nodes, len(settings.network.zones), len(settings.network.peers)
    counts = collections.Counter(r.type for r in plan.resources)
    routes = 3 if nodes > 1 else 2
    expected = {
        "aws:ec2/vpc:Vpc": 1,
        "aws:ec2/subnet:Subnet": zones + 1,  # private per zone + the NAT's egress subnet
        "aws:ec2/instance:Instance": nodes + 1,  # database nodes + monitoring node
        "aws:ebs/volume:Volume": nodes + 1,  # members' data + the monitoring node's TSDB
        "aws:ec2/volumeAttachment:VolumeAttachment": nodes + 1,
        "aws:ec2/vpcPeeringConnection:VpcPeeringConnection": peers,
        "aws:lb/loadBalancer:LoadBalancer": 1,
        # write and pooled; read only with replicas (an NLB with no healthy target fails open)
        "aws:lb/targetGroup:TargetGroup": routes,
        "aws:lb/listener:Listener": routes,
        "aws:lb/targetGroupAttachment:TargetGroupAttachment": routes * nodes,
        "aws:s3/bucket:Bucket": 1,
        "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration": 1,
        # passwords + one TLS bundle per node + one per webhook receiver
        # The passwords, each member's TLS bundle, each webhook, and the members' programs (NodeBoot).
        "aws:secretsmanager/secret:Secret": len(SECRET_ENV) + nodes + len(_webhooks(name)) + 1,
        "random:index/randomPassword:RandomPassword": len(SECRET_ENV),
        "tls:index/locallySignedCert:LocallySignedCert": nodes + 1,  # members + the shared client cert
        # system and instance status checks per node, disk per member, no primary
        "aws:cloudwatch/metricAlarm:MetricAlarm": 2 * (nodes + 1) + nodes + 1,
        "aws:ec2/flowLog:FlowLog": 1,
        "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": 1,
        # configure, backup check, roles, and each member's leave and handover steps
        "command:local:Command": 3 + 2 * nodes,
    }
    assert {t: counts.get(t, 0) for t in expected} == expected


def test_components_are_typed_and_parent_their_children(stack):
    _, plan = stack
    components = {r.urn: r for r in plan.resources if not r.custom}
    assert {r.type for r in components.values()} >= {
        "pg-platform:index:PostgresPlatform",
        "pg-platform:aws:Network",
        "pg-platform:aws:BackupVault",
        "pg-platform:aws:Identity",
        "pg-platform:aws:Secrets",
        "pg-platform:aws:PostgresCluster",
        "pg-platform:aws:Monitoring",
        "pg-platform:aws:PostProvision",
    }
    for record in plan.resources:
        if record.custom:
            parent = components.get(record.parent)
            assert parent is not None, f"{record.name} is not parented to a component"
            assert record.name.startswith(parent.name + "-"), f"{record.name} not named from {parent.name}"


def test_subnets_and_nodes_in_distinct_zones(prod):
    private = [r for r in of(prod, "aws:ec2/subnet:Subnet") if r.inputs["tags"]["tier"] == "database"]
    assert len({s.inputs["availabilityZone"] for s in private}) == 3
    zones = [i.inputs["tags"]["zone"] for i in db_instances(prod)]
    assert len(set(zones)) == len(zones) == 3
    volumes = [v for v in of(prod, "aws:ebs/volume:Volume") if v.inputs["tags"].get("role") == "postgres-data"]
    assert sorted(v.inputs["availabilityZone"] for v in volumes) == sorted(zones)


def test_no_public_addresses(stack):
    _, plan = stack
    for instance in of(plan, "aws:ec2/instance:Instance"):
        assert instance.inputs["associatePublicIpAddress"] is False
    for subnet in of(plan, "aws:ec2/subnet:Subnet"):
        assert subnet.inputs["mapPublicIpOnLaunch"] is False
    (nlb,) = of(plan, "aws:lb/loadBalancer:LoadBalancer")
    assert nlb.inputs["internal"] is True
    # Only the egress subnet routes to the internet gateway; database subnets reach it through NAT only.
    igw_tables = [t for t in of(plan, "aws:ec2/routeTable:RouteTable") if t.inputs.get("routes")]
    assert [t.name.rsplit("-", 1)[-1] for t in igw_tables] == ["rt"] and "egress" in igw_tables[0].name


def test_imdsv2_and_encrypted_volumes(stack):
    _, plan = stack
    for instance in of(plan, "aws:ec2/instance:Instance"):
        meta = instance.inputs["metadataOptions"]
        assert meta["httpTokens"] == "required" and meta["httpPutResponseHopLimit"] == 1
        assert instance.inputs["rootBlockDevice"]["encrypted"] is True
        assert instance.inputs["rootBlockDevice"]["kmsKeyId"].startswith("arn:aws:kms:")
    for volume in of(plan, "aws:ebs/volume:Volume"):
        assert volume.inputs["encrypted"] is True and volume.inputs["type"] == "gp3"
        assert volume.inputs["kmsKeyId"].startswith("arn:aws:kms:")
    (sse,) = of(plan, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")
    default = sse.inputs["rules"][0]["applyServerSideEncryptionByDefault"]
    assert default["sseAlgorithm"] == "aws:kms" and default["kmsMasterKeyId"].startswith("arn:aws:kms:")
    for key in of(plan, "aws:kms/key:Key"):
        assert key.inputs["enableKeyRotation"] is True


@pytest.mark.parametrize("stack_name, mode, days", [("prod", "COMPLIANCE", 14), ("dev", "GOVERNANCE", 2)])
def test_object_lock(stack_name, mode, days, prod, dev):
    plan = {"prod": prod, "dev": dev}[stack_name]
    (bucket,) = of(plan, "aws:s3/bucket:Bucket")
    assert bucket.inputs["objectLockEnabled"] is True
    (lock,) = of(plan, "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration")
    assert lock.inputs["rule"]["defaultRetention"] == {"mode": mode, "days": days}
    (versioning,) = of(plan, "aws:s3/bucketVersioning:BucketVersioning")
    assert versioning.inputs["versioningConfiguration"]["status"] == "Enabled"
    (block,) = of(plan, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
    assert all(
        block.inputs[k] is True
        for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    )
    (lifecycle,) = of(plan, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
    rules = {r["id"]: r for r in lifecycle.inputs["rules"]}
    assert rules["expire-noncurrent-after-lock"]["noncurrentVersionExpiration"]["noncurrentDays"] == days + 1
    assert rules["abort-incomplete-multipart"]["abortIncompleteMultipartUpload"]["daysAfterInitiation"] == 7


def test_nlb_routes_by_patroni_health(prod):
    by_suffix = {suffix: route for route, suffix in TARGET_GROUP_SUFFIX.items()}
    groups = {by_suffix[g.name.split("-")[-1]]: g for g in of(prod, "aws:lb/targetGroup:TargetGroup")}
    assert groups["write"].inputs["healthCheck"]["path"] == "/primary"
    assert groups["pooled"].inputs["healthCheck"]["path"] == "/primary"
    assert groups["read"].inputs["healthCheck"]["path"].startswith("/replica?lag=")
    for group in groups.values():
        check = group.inputs["healthCheck"]
        assert check["port"] == "8008" and check["protocol"] == "HTTPS" and check["matcher"] == "200"
        assert (check["interval"], check["unhealthyThreshold"], check["healthyThreshold"]) == (5, 2, 2)
        assert 2 <= check["timeout"] < check["interval"]  # AWS rejects a timeout not below the interval
    listeners = sorted(r.inputs["port"] for r in of(prod, "aws:lb/listener:Listener"))
    assert listeners == [5432, 5433, 6432]


def test_instances_are_replaceable_even_in_prod(prod):
    # Their data lives on protected volumes (the contract suite checks those); an instance must stay replaceable.
    assert not any(r.protect for r in of(prod, "aws:ec2/instance:Instance"))


def test_every_password_is_stored_as_a_secret(stack):
    """(That no generated secret appears in a plain input or user data is the contract suite's check.)"""
    _, plan = stack
    values = {p.outputs["result"] for p in of(plan, "random:index/randomPassword:RandomPassword")}
    assert len(values) == len(SECRET_ENV)
    versions = of(plan, "aws:secretsmanager/secretVersion:SecretVersion")
    assert versions and all("secretString" in v.secret_paths for v in versions)


def test_security_groups_admit_clients_only_through_the_allowlist(prod):
    from stacks.ports import PORTS

    settings = settings_for_stack("prod")
    groups = {g.urn: g.name.rsplit("-", 2)[-2] for g in of(prod, "aws:ec2/securityGroup:SecurityGroup")}
    rules = of(prod, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")

    def by_group(label):
        return [r for r in rules if groups.get(_group_urn(prod, r)) == label]

    client_ports = {PORTS.write, PORTS.read, PORTS.pooled_write}
    external = [
        r
        for r in rules
        if r.inputs.get("cidrIpv4")
        or r.inputs.get("referencedSecurityGroupId") in settings.network.allowlist.security_groups
    ]
    # Every opening to the outside is on the load balancer, on a client port, from the allowlist.
    assert external and all(r in by_group("lb") for r in external)
    assert {r.inputs["fromPort"] for r in external} == client_ports
    assert {r.inputs["cidrIpv4"] for r in external if r.inputs.get("cidrIpv4")} == set(settings.network.allowlist.cidrs)
    # Nodes and the monitoring node admit other groups only, never a network.
    assert not any(r.inputs.get("cidrIpv4") for r in by_group("node") + by_group("monitoring"))
    assert all(r.inputs.get("description") for r in rules)


def _group_urn(plan: Plan, rule: ResourceRecord) -> str:
    return next(iter(rule.property_dependencies.get("securityGroupId", [])), "")


def test_no_route_to_the_internet_gateway_from_database_subnets(prod):
    private = [t for t in of(prod, "aws:ec2/routeTable:RouteTable") if t.name.endswith("private-rt")]
    assert len(private) == 1 and not private[0].inputs.get("routes")
    for route in of(prod, "aws:ec2/route:Route"):
        if route.inputs["routeTableId"] == private[0].outputs.get("id", private[0].id):
            assert not route.inputs.get("gatewayId"), f"{route.name} routes a database subnet to the IGW"
            assert route.inputs.get("natGatewayId") or route.inputs.get("vpcPeeringConnectionId")


@pytest.mark.parametrize("stack_name", STACKS)
def test_topology_and_reasons_are_exported(stack_name, prod, dev):
    plan = {"prod": prod, "dev": dev}[stack_name]
    topology = plan.outputs["topology"]
    assert all(entry["reason"] for entry in topology.values())
    if stack_name == "prod":
        assert topology["node_count"]["value"] == 3
        assert topology["replication"]["value"] == "synchronous-strict"
        assert "never degrades silently" in topology["replication"]["reason"]
        assert (topology["ttl"]["value"], topology["loop_wait"]["value"], topology["retry_timeout"]["value"]) == (
            20,
            2,
            9,
        )
        assert topology["lock_days"]["value"] == 14 and topology["lock_mode"]["value"] == "COMPLIANCE"
        assert topology["backup_schedule"]["value"]["full_interval_days"] == 7
    else:
        assert topology["node_count"]["value"] == 1
        assert topology["replication"]["value"] == "asynchronous"
        assert topology["archive_timeout"]["value"] == 150
        assert topology["maximum_lag_on_failover"]["value"] == 300 * 1024 * 1024
    assert plan.outputs["endpoint"] == f"{stack_name}.pg-platform.internal"


def test_user_data_fits_ec2s_limit(stack):
    """EC2 refuses user data over 16 KiB before base64; the rendered files only fit compressed (the budget with
    real-length identifiers is tests/dataplane/test_user_data_size.py)."""
    from stacks.clouds.aws import EC2_USER_DATA_LIMIT

    _, plan = stack
    for instance in of(plan, "aws:ec2/instance:Instance"):
        assert len(base64.b64decode(instance.inputs["userDataBase64"])) < EC2_USER_DATA_LIMIT, instance.name


def _names(plan: Plan, urns) -> set[str]:
    names = {r.urn: r.name for r in plan.resources}
    return {names.get(u, u) for u in urns}


def test_boot_and_first_backup_wait_for_what_they_use(prod):
    """The engine orders steps by each resource's own dependencies, not its parent's: the nodes must wait for
    the secret values they fetch at boot, and the first backup for the bucket's lock and encryption."""
    (check,) = [r for r in of(prod, "command:local:Command") if r.name.endswith("backup-check")]
    deps = _names(prod, check.dependencies)
    assert {"pgp-prod-vault-object-lock", "pgp-prod-vault-encryption", "pgp-prod-vault-tls-only"} <= deps
    for instance in db_instances(prod):
        deps = _names(prod, instance.dependencies)
        assert {"pgp-prod-secrets-superuser-version", "pgp-prod-vault-object-lock"} <= deps, instance.name


def test_alarms_can_reach_their_encrypted_topic(prod):
    """CloudWatch publishes to an encrypted topic only if the key and the topic let it."""
    import json

    (topic,) = of(prod, "aws:sns/topic:Topic")
    key = next(k for k in of(prod, "aws:kms/key:Key") if k.outputs["arn"] == topic.inputs["kmsMasterKeyId"])
    grants = [
        s
        for s in json.loads(key.inputs["policy"])["Statement"]
        if s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    ]
    assert grants and {"kms:Decrypt", "kms:GenerateDataKey*"} <= set(grants[0]["Action"])
    (policy,) = of(prod, "aws:sns/topicPolicy:TopicPolicy")
    assert json.loads(policy.inputs["policy"])["Statement"][0]["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    alarms = of(prod, "aws:cloudwatch/metricAlarm:MetricAlarm")
    assert alarms and all(a.inputs["alarmActions"][0] == topic.outputs["arn"] for a in alarms)
    assert all(a.inputs["okActions"] == [topic.outputs["arn"]] for a in alarms)


def test_aws_apis_do_not_depend_on_the_nat(prod):
    from components.aws.network import INTERFACE_ENDPOINT_SERVICES

    endpoints = {e.inputs["serviceName"].rsplit(".", 1)[-1]: e for e in of(prod, "aws:ec2/vpcEndpoint:VpcEndpoint")}
    assert set(INTERFACE_ENDPOINT_SERVICES) | {"s3"} == set(endpoints)
    for service in INTERFACE_ENDPOINT_SERVICES:
        assert endpoints[service].inputs["privateDnsEnabled"] is True
        assert len(endpoints[service].inputs["subnetIds"]) == 3


def test_post_provision_steps_run_on_the_leader_through_ssm(prod):
    from pathlib import Path

    from dataplane.operations import APPLY_ROLES_COMMAND, BACKUP_CHECK_COMMAND, IS_LEADER_COMMAND

    commands = {
        r.name.rsplit("-", 1)[-1]: r
        for r in of(prod, "command:local:Command")
        if "-post-provision-leave-" not in r.name and "-post-provision-handover-" not in r.name
    }
    # The configure step runs on every member, each with its own bundle (tests/program/aws/test_configure_step.py).
    assert set(commands) == {"configure", "check", "roles"}
    assert str(Path(__file__).resolve().parents[2]) not in commands["configure"].inputs["create"]
    for label, node_command in {"check": BACKUP_CHECK_COMMAND, "roles": APPLY_ROLES_COMMAND}.items():
        create = commands[label].inputs["create"]
        assert create.startswith(".venv/bin/python scripts/ssm_run.py ")
        assert "--on-leader" in create and f"--leader-check {IS_LEADER_COMMAND}" in create
        assert create.endswith(f"-- {node_command}")
        # A checkout path in the command would re-run the step from every other machine.
        assert str(Path(__file__).resolve().parents[2]) not in create
        assert commands[label].inputs["triggers"]


def test_member_addresses_are_reserved_before_anything_takes_a_random_one(stack):
    import ipaddress

    _, plan = stack
    reservations = of(plan, "aws:ec2/subnetCidrReservation:SubnetCidrReservation")
    by_urn = {r.urn: r for r in plan.resources}
    members = db_instances(plan)
    assert reservations and all(r.inputs["reservationType"] == "explicit" for r in reservations)
    for member in members:
        address = ipaddress.ip_address(member.inputs["privateIp"])
        assert any(address in ipaddress.ip_network(r.inputs["cidrBlock"]) for r in reservations), address
    reservation_urns = {r.urn for r in reservations}
    # Whatever AWS places at a random address in those subnets is created after the reservations.
    random_placed = [
        *of(plan, "aws:lb/loadBalancer:LoadBalancer"),
        *[e for e in of(plan, "aws:ec2/vpcEndpoint:VpcEndpoint") if e.inputs.get("vpcEndpointType") == "Interface"],
        *[i for i in of(plan, "aws:ec2/instance:Instance") if i.inputs["tags"].get("role") == "monitoring"],
    ]
    assert random_placed
    for record in random_placed:
        deps = {u for urns in record.property_dependencies.values() for u in urns}
        zones_reserved = {by_urn[u].inputs["subnetId"] for u in deps & reservation_urns}
        assert zones_reserved, f"{record.name} does not wait for the member address reservations"


def test_break_glass_role_reads_versions_and_cannot_destroy(prod):
    import json

    (role,) = [r for r in of(prod, "aws:iam/role:Role") if r.name.endswith("restore-role")]
    trust = json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]
    assert trust["Condition"]["Bool"]["aws:MultiFactorAuthPresent"] == "true"
    (policy,) = [p for p in of(prod, "aws:iam/rolePolicy:RolePolicy") if p.name.endswith("restore-policy")]
    statements = json.loads(policy.inputs["policy"])["Statement"]
    allowed = {a for s in statements if s["Effect"] == "Allow" for a in s["Action"]}
    denied = {a for s in statements if s["Effect"] == "Deny" for a in s["Action"]}
    assert {"s3:GetObjectVersion", "s3:ListBucketVersions"} <= allowed
    assert {"s3:DeleteObjectVersion", "s3:BypassGovernanceRetention"} <= denied
    assert not allowed & denied
    # The nodes never get version access: that stays break-glass.
    node_policies = [p for p in of(prod, "aws:iam/rolePolicy:RolePolicy") if "-db-" in p.name]
    for node in node_policies:
        actions = {a for s in json.loads(node.inputs["policy"])["Statement"] for a in s["Action"]}
        assert not actions & {"s3:GetObjectVersion", "s3:ListBucketVersions"}


def test_stack_outputs_are_enough_to_connect(stack):
    name, plan = stack
    out = plan.outputs
    settings = settings_for_stack(name)
    routes = {"write", "pooled"} | ({"read"} if settings.cluster.nodes > 1 else set())
    assert set(out["endpoints"]) == routes == set(out["connection_uris"])
    listeners = {r.inputs["port"] for r in of(plan, "aws:lb/listener:Listener")}
    assert {e["port"] for e in out["endpoints"].values()} == listeners
    for route, uri in out["connection_uris"].items():
        endpoint = out["endpoints"][route]
        assert uri.startswith("postgresql://app_r")
        assert f"@{endpoint['host']}:{endpoint['port']}/" in uri and "sslmode=verify-full" in uri
        assert ":" not in uri.split("//", 1)[1].split("@", 1)[0], "no password in the URI"
    assert out["ca_certificate"].startswith("-----BEGIN CERTIFICATE-----")
    secrets = {r.outputs.get("arn") for r in of(plan, "aws:secretsmanager/secret:Secret")}
    assert set(out["app_role_secret_ids"]) == {"app_rw", "app_ro"}
    assert set(out["app_role_secret_ids"].values()) <= secrets
    assert out["restore_role_arn"] and out["dashboards"]


def test_renamed_target_groups_keep_their_deployed_identity(prod):
    for group in of(prod, "aws:lb/targetGroup:TargetGroup"):
        route = {suffix: r for r, suffix in TARGET_GROUP_SUFFIX.items()}[group.name.split("-")[-1]]
        old_names = [a["spec"].get("name") for a in group.aliases if isinstance(a, dict) and "spec" in a]
        assert f"pgp-prod-cluster-{route}-tg" in old_names


def test_locked_backups_outlive_a_destroyed_stack(prod, dev):
    vault = [
        r
        for r in prod.resources
        if r.custom and r.name.startswith("pgp-prod-vault-") and r.type != "aws:kms/alias:Alias"
    ]
    assert vault and all(r.retain_on_delete for r in vault)
    assert not any(r.retain_on_delete for r in dev.resources)


def _prod_with_peer_accepted(accepted: bool) -> Plan:
    def accept(network):
        for peer in network["peers"]:
            peer["accepted"] = accepted

    return run_stack("prod", overrides=overridden("prod", "network", accept))


def test_peer_security_groups_are_referenced_only_once_the_peering_is_active():
    settings = settings_for_stack("prod")
    groups = settings.network.allowlist.security_groups
    assert groups, "prod allowlists a peer's security group"
    peers = {p.name: p for p in settings.network.peers}

    def peer_group_rules(plan: Plan) -> list[ResourceRecord]:
        return [
            r
            for r in of(plan, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
            if r.inputs.get("referencedSecurityGroupId", "").endswith(tuple(g.id for g in groups))
        ]

    # The stack file as a first deploy has it: the peering is requested, not yet accepted.
    assert not any(p.accepted for p in settings.network.peers)
    assert peer_group_rules(run_stack("prod")) == []
    accepted = peer_group_rules(_prod_with_peer_accepted(True))
    assert len(accepted) == 3 * len(groups)  # write, read and pooled
    for rule in accepted:
        group = next(g for g in groups if rule.inputs["referencedSecurityGroupId"].endswith(g.id))
        # The peer is another account (the fake caller is 111122223333): AWS needs `<account>/sg-…`.
        assert rule.inputs["referencedSecurityGroupId"] == f"{peers[group.peer].account_id}/{group.id}"


# --- the monitoring node and its alarms ----------------------------------------------------------------------


def _statement_allows(policy: dict, action: str, resource: str) -> bool:
    def listed(v):
        return v if isinstance(v, list) else [v]

    return any(
        st["Effect"] == "Allow"
        and ({action, "s3:*"} & set(listed(st["Action"])))
        and resource in listed(st["Resource"])
        for st in policy["Statement"]
    )


def test_monitoring_node_can_install_and_reach_the_ssm_agent(prod):
    """The `dashboards` port forward and shell access need the SSM agent, which Debian's image lacks: the node
    downloads it through the S3 gateway endpoint (its policy must admit the agent's bucket), and talks to SSM
    through the interface endpoints its security group reaches."""
    import json

    from dataplane.boot.aws import aws_agent_debs

    region = settings_for_stack("prod").region
    import yaml

    agent = aws_agent_debs(region)["amazon-ssm-agent"]
    runcmd = [" ".join(c) for c in yaml.safe_load(user_data(monitoring_instance(prod)))["runcmd"]]
    assert any(c.startswith("curl ") and c.endswith(agent) for c in runcmd)
    assert "systemctl enable --now amazon-ssm-agent" in runcmd
    (endpoint,) = [e for e in of(prod, "aws:ec2/vpcEndpoint:VpcEndpoint") if e.inputs["serviceName"].endswith(".s3")]
    assert _statement_allows(
        json.loads(endpoint.inputs["policy"]), "s3:GetObject", f"arn:aws:s3:::{agent.split('/')[3]}/*"
    )
    groups = {g.urn: g.name for g in of(prod, "aws:ec2/securityGroup:SecurityGroup")}
    egress = [
        r
        for r in of(prod, "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule")
        if groups.get(_group_urn(prod, r), "").endswith("monitoring-sg")
    ]
    assert any(
        r.inputs["fromPort"] <= 443 <= r.inputs["toPort"] and r.inputs.get("cidrIpv4") == "0.0.0.0/0" for r in egress
    )
    ingress = [
        r
        for r in of(prod, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
        if groups.get(_group_urn(prod, r), "").endswith("endpoints-sg") and r.inputs["fromPort"] == 443
    ]
    monitoring_sg = next(g for g in of(prod, "aws:ec2/securityGroup:SecurityGroup") if g.name.endswith("monitoring-sg"))
    assert any(
        r.inputs.get("referencedSecurityGroupId") == monitoring_sg.outputs.get("id", monitoring_sg.id) for r in ingress
    )


def _registrations(stack: str, monkeypatch) -> dict[str, object]:
    """The program's RegisterResource requests by name (for options the recorded plan does not keep)."""
    from tools import runner

    seen: dict[str, object] = {}
    original = runner.RecordingMonitor.RegisterResource

    def register(self, request):
        seen[request.name] = request
        return original(self, request)

    monkeypatch.setattr(runner.RecordingMonitor, "RegisterResource", register)
    run_stack(stack)
    return seen


def test_monitoring_node_keeps_its_image_and_history(prod, monkeypatch):
    """A new Debian image must not replace the monitoring node on the next `up` (cloud-init runs once, so it is
    rolled deliberately, like the members); its history is on a data volume that outlives a replacement."""
    requests = _registrations("prod", monkeypatch)
    node = monitoring_instance(prod)
    members = db_instances(prod)
    assert (
        set(requests[node.name].ignoreChanges)
        == {"ami", "userDataBase64", "instanceType"}
        == set(requests[members[0].name].ignoreChanges)
    )
    assert node.inputs["userDataReplaceOnChange"] is False
    (volume,) = [v for v in of(prod, "aws:ebs/volume:Volume") if v.inputs["tags"].get("role") == "monitoring-data"]
    (subnet,) = [
        s for s in of(prod, "aws:ec2/subnet:Subnet") if s.urn in node.property_dependencies.get("subnetId", [])
    ]
    assert volume.inputs["availabilityZone"] == subnet.inputs["availabilityZone"]
    assert volume.inputs["encrypted"] is True and volume.protect
    (attachment,) = [
        a
        for a in of(prod, "aws:ec2/volumeAttachment:VolumeAttachment")
        if a.inputs["instanceId"] == node.outputs.get("id", node.id)
    ]
    assert attachment.inputs["volumeId"] == volume.outputs.get("id", volume.id)
    assert requests[attachment.name].deleteBeforeReplace is True
    from dataplane.boot.data_volume import DATA_VOLUME_SCRIPT
    from dataplane.boot.monitoring import MONITORING_DATA_MOUNT

    assert f"{DATA_VOLUME_SCRIPT} {MONITORING_DATA_MOUNT} prometheus prometheus && " in user_data(node)


def test_alarms_do_not_page_while_nodes_boot(prod):
    """Missing disk metrics (agent not yet installed: first boot, replacement) are not a full disk; the
    "no primary" alarm exists only once the post-provision steps, which wait for a leader, are done."""
    alarms = {
        a.name.removeprefix("pgp-prod-monitoring-"): a for a in of(prod, "aws:cloudwatch/metricAlarm:MetricAlarm")
    }
    disk = [a for n, a in alarms.items() if n.endswith("-disk-free")]
    assert disk and all(a.inputs["treatMissingData"] == "notBreaching" for a in disk)
    assert all(a.inputs["treatMissingData"] != "breaching" for n, a in alarms.items() if n != "no-primary")
    (roles,) = [c for c in of(prod, "command:local:Command") if c.name.endswith("-roles")]
    assert roles.urn in alarms["no-primary"].dependencies
    assert alarms["no-primary"].inputs["treatMissingData"] == "breaching"


def test_webhook_urls_are_secrets_end_to_end(stack, monkeypatch):
    """Each webhook URL (its token) is stored as a Pulumi secret in its own Secrets Manager secret, read only by
    the monitoring node's role; it is in no plain input, no user data and no saved plan."""
    import json

    from tools.plan import redacted

    name, plan = stack
    hooks = _webhooks(name)
    assert hooks
    secrets = {s.name.removeprefix(f"pgp-{name}-secrets-"): s for s in of(plan, "aws:secretsmanager/secret:Secret")}
    versions = {
        v.name.removeprefix(f"pgp-{name}-secrets-").removesuffix("-version"): v
        for v in of(plan, "aws:secretsmanager/secretVersion:SecretVersion")
    }
    arns = {}
    for receiver, url in hooks.items():
        secret, version = secrets[f"webhook-{receiver}"], versions[f"webhook-{receiver}"]
        assert secret.inputs["kmsKeyId"].startswith("arn:aws:kms:")
        assert version.inputs["secretString"] == url and "secretString" in version.secret_paths
        arns[receiver] = secret.outputs["arn"]
    for record in plan.resources:
        for path, text in strings(record.inputs):
            if any(url in text for url in hooks.values()):
                assert any(path == s or path.startswith(s + ".") for s in record.secret_paths), (
                    f"webhook URL in plain input {record.name}.{path}"
                )
    for instance in of(plan, "aws:ec2/instance:Instance"):
        assert not any(url in user_data(instance) for url in hooks.values()), instance.name
    assert all(arn in user_data(monitoring_instance(plan)) for arn in arns.values())
    assert not any(url in json.dumps(redacted(plan)) for url in hooks.values())

    (policy,) = [p for p in of(plan, "aws:iam/rolePolicy:RolePolicy") if p.name.endswith("webhook-secrets-policy")]
    (role,) = [r for r in of(plan, "aws:iam/role:Role") if r.name.endswith("monitoring-role")]
    assert policy.inputs["role"] == role.outputs["name"]
    statements = {s["Sid"]: s for s in json.loads(policy.inputs["policy"])["Statement"]}
    assert statements["WebhookSecrets"]["Action"] == ["secretsmanager:GetSecretValue"]
    assert sorted(statements["WebhookSecrets"]["Resource"]) == sorted(arns.values())
    (key,) = [k for k in of(plan, "aws:kms/key:Key") if k.name == f"pgp-{name}-secrets-key"]
    assert statements["WebhookSecretsKey"]["Resource"] == [key.outputs["arn"]]
    assert statements["WebhookSecretsKey"]["Condition"]["StringEquals"]["kms:ViaService"].startswith("secretsmanager.")
    # No other identity policy of the monitoring role names a secret.
    others = [
        p
        for p in of(plan, "aws:iam/rolePolicy:RolePolicy")
        if p is not policy and p.inputs["role"] == role.outputs["name"]
    ]
    assert not any("secretsmanager" in p.inputs["policy"] for p in others)
    node = monitoring_instance(plan)
    assert policy.urn in node.dependencies
    assert {versions[f"webhook-{r}"].urn for r in hooks} <= set(node.dependencies)


def test_instances_boot_after_their_egress_and_keep_volume_tags_their_own(stack):
    _, plan = stack
    (route,) = [r for r in of(plan, "aws:ec2/route:Route") if r.name.endswith("private-default-route")]
    for instance in of(plan, "aws:ec2/instance:Instance"):
        # First boot installs packages and fetches the PGDG key through the NAT.
        assert route.urn in instance.dependencies, instance.name
        # volume_tags would be read back from the attached data volume and fight its tags forever.
        assert "volumeTags" not in instance.inputs, instance.name
        assert instance.inputs["rootBlockDevice"]["tags"]["Name"].endswith("-root"), instance.name


def _with_roll(stack: str, roll: list[str]) -> Plan:
    return run_stack(stack, overrides=overridden(stack, "cluster", lambda cluster: cluster.update(roll=roll)))


def test_only_the_node_being_rolled_takes_the_current_image_and_user_data():
    """Pulumi keeps ignored inputs at their recorded values even through `--replace`: the node being rolled is
    the one instance that neither ignores them nor updates in place."""
    plan = _with_roll("prod", ["db-1", "monitoring"])
    for instance in of(plan, "aws:ec2/instance:Instance"):
        rolling = instance.name in ("pgp-prod-cluster-pgp-prod-db-1", "pgp-prod-monitoring-node")
        assert instance.inputs["userDataReplaceOnChange"] is rolling, instance.name
        assert (set(instance.ignore_changes) & set(ROLLED_BY_OPERATOR)) == (
            set() if rolling else set(ROLLED_BY_OPERATOR)
        )
    idle = run_stack("prod")
    for instance in of(idle, "aws:ec2/instance:Instance"):
        assert instance.inputs["userDataReplaceOnChange"] is False
        assert set(ROLLED_BY_OPERATOR) <= set(instance.ignore_changes), instance.name


def test_a_new_instance_type_waits_for_each_member_to_be_rolled():
    """EC2 changes an instance type by stopping the instance: unignored, a changed cluster.instance_type would
    stop all three members in one `up`. Each member takes it only on the `up` that rolls it."""
    assert "instanceType" in ROLLED_BY_OPERATOR

    def resized(cluster):
        cluster.update(instance_type="r7i.2xlarge", roll=["db-2"])

    plan = run_stack("prod", overridden("prod", "cluster", resized))
    before = {i.name: i.inputs["userDataBase64"] for i in db_instances(run_stack("prod"))}
    for instance in db_instances(plan):
        rolled = instance.name.endswith("-db-2")
        assert ("instanceType" in instance.ignore_changes) is not rolled, instance.name
        assert instance.inputs["userDataReplaceOnChange"] is rolled
        # The new size's memory settings are in its boot, so the rolled member is replaced, data volume kept.
        assert instance.inputs["userDataBase64"] != before[instance.name], instance.name


@pytest.mark.parametrize(
    "roll,message",
    [
        (["db-0", "db-1"], "more than one member at once"),
        (["db-3"], "is not a node of this cluster"),
        (["monitoring", "monitoring"], "is listed twice"),
    ],
)
def test_roll_refuses_what_would_hurt_the_cluster(roll, message):
    from stacks.errors import SettingsError

    with pytest.raises(SettingsError) as caught:
        _with_roll("prod", roll)
    assert message in str(caught.value) and "pg-platform:cluster.roll" in str(caught.value)


def test_graviton_members_boot_the_arm64_image(prod):
    def graviton(cluster):
        cluster["instance_type"] = "r7g.xlarge"

    plan = run_stack("prod", overridden("prod", "cluster", graviton))
    members = {i.inputs["ami"] for i in db_instances(plan)}
    x86 = {i.inputs["ami"] for i in db_instances(prod)}
    assert len(members) == 1 and members != x86
    # The monitoring node keeps its x86_64 type, so it keeps the image it had.
    assert monitoring_instance(plan).inputs["ami"] == monitoring_instance(prod).inputs["ami"] in x86
    # And each node installs AWS's agent packages built for its own architecture.
    for instance in db_instances(plan):
        text = user_data(instance)
        assert "/debian_arm64/amazon-ssm-agent.deb" in text and "/debian/arm64/latest/" in text
        assert "amd64" not in text.replace("debian-12-amd64", "")
    assert "/debian_amd64/amazon-ssm-agent.deb" in user_data(monitoring_instance(plan))


@pytest.mark.parametrize("stack_name", STACKS)
def test_a_failed_node_is_recovered_or_rebooted_by_ec2_and_pages(stack_name):
    """Every node (members and the monitoring node) keeps EC2's automatic recovery on, and has a recover alarm
    on its system check and a reboot alarm on its instance check, each on its own InstanceId and paging the
    topic: a failed host brings the node back with its id, address and volumes, without an operator."""
    plan = run_stack(stack_name)
    region = settings_for_stack(stack_name).region
    (topic,) = of(plan, "aws:sns/topic:Topic")
    instances = of(plan, "aws:ec2/instance:Instance")
    assert len(instances) == settings_for_stack(stack_name).cluster.nodes + 1
    alarms = of(plan, "aws:cloudwatch/metricAlarm:MetricAlarm")
    for instance in instances:
        assert instance.inputs["maintenanceOptions"] == {"autoRecovery": "default"}, instance.name
        own = {
            a.inputs["metricName"]: a
            for a in alarms
            if a.inputs["namespace"] == "AWS/EC2"
            and a.inputs["dimensions"] == {"InstanceId": instance.outputs.get("id", instance.id)}
        }
        assert set(own) == {"StatusCheckFailed_System", "StatusCheckFailed_Instance"}, instance.name
        for metric, action in (("StatusCheckFailed_System", "recover"), ("StatusCheckFailed_Instance", "reboot")):
            alarm = own[metric].inputs
            assert alarm["alarmActions"] == [topic.outputs["arn"], f"arn:aws:automate:{region}:ec2:{action}"]
            # EC2 acts only on the way into ALARM: an OK must not reboot or move the node again.
            assert alarm["okActions"] == [topic.outputs["arn"]]
            assert alarm["threshold"] == 1 and alarm["comparisonOperator"] == "GreaterThanOrEqualToThreshold"
