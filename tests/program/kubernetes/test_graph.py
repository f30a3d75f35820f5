"""The real program, run for each Kubernetes stack file under the SDK mock runtime: CloudNativePG objects with the
spread, synchronous settings, poolers, backups, policies, probes, security contexts and sizing we promise."""

from __future__ import annotations

import json

import pytest

from dataplane import cnpg
from stacks.offline import settings_for_stack
from stacks.ports import PORTS
from stacks.topology import derive_topology
from tests.program.kubernetes.reader import HOST_STATEFUL_TYPES, host_of
from tools.records import Plan, ResourceRecord
from tools.runner import run_stack

STACKS = ("k8s-dev", "k8s-prod", "k8s-azure-dev", "k8s-gcp-dev")
# EKS: the S3 bucket and the IRSA role; tests/program/kubernetes/test_hosts.py checks the AKS and GKE hosts'.
AWS_STACKS = ("k8s-dev", "k8s-prod")
CLUSTER = "kubernetes:postgresql.cnpg.io/v1:Cluster"
POOLER = "kubernetes:postgresql.cnpg.io/v1:Pooler"
SCHEDULED_BACKUP = "kubernetes:postgresql.cnpg.io/v1:ScheduledBackup"
OBJECT_STORE = "kubernetes:barmancloud.cnpg.io/v1:ObjectStore"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
PDB = "kubernetes:policy/v1:PodDisruptionBudget"
NAMESPACE = "kubernetes:core/v1:Namespace"
SECRET = "kubernetes:core/v1:Secret"
RELEASE = "kubernetes:helm.sh/v3:Release"
BUCKET = "aws:s3/bucket:Bucket"
LOCK = "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration"
ROLE = "aws:iam/role:Role"


@pytest.fixture(scope="module", params=STACKS)
def stack(request) -> tuple[str, Plan]:
    return request.param, run_stack(request.param)


@pytest.fixture(scope="module", params=AWS_STACKS)
def aws_stack(request) -> tuple[str, Plan]:
    return request.param, run_stack(request.param)


@pytest.fixture(scope="module")
def prod() -> Plan:
    return run_stack("k8s-prod")


def one(plan: Plan, token: str) -> ResourceRecord:
    (record,) = plan.by_type(token)
    return record


def cluster_spec(plan: Plan) -> dict:
    return one(plan, CLUSTER).inputs["spec"]


def test_instances_follow_the_topology_and_spread_over_zones(stack):
    name, plan = stack
    topology = derive_topology(settings_for_stack(name))
    spec = cluster_spec(plan)
    assert spec["instances"] == topology.node_count.value
    (spread,) = spec["topologySpreadConstraints"]
    assert spread["topologyKey"] == "topology.kubernetes.io/zone" and spread["whenUnsatisfiable"] == "DoNotSchedule"
    assert spread["labelSelector"]["matchLabels"] == {"cnpg.io/cluster": one(plan, CLUSTER).inputs["metadata"]["name"]}
    affinity = spec["affinity"]
    assert affinity["enablePodAntiAffinity"] and affinity["topologyKey"] == "topology.kubernetes.io/zone"
    assert affinity["podAntiAffinityType"] == ("required" if topology.node_count.value > 1 else "preferred")


def test_synchronous_replication_matches_the_rpo(stack):
    name, plan = stack
    settings = settings_for_stack(name)
    postgresql = cluster_spec(plan)["postgresql"]
    if settings.objectives.rpo_seconds == 0:
        assert postgresql["synchronous"] == {"method": "any", "number": 1, "dataDurability": "required"}
    else:
        assert "synchronous" not in postgresql


def test_poolers_route_reads_and_writes_in_transaction_mode(stack):
    name, plan = stack
    poolers = {p.inputs["spec"]["type"]: p.inputs["spec"] for p in plan.by_type(POOLER)}
    assert set(poolers) == {"rw", "ro"}
    nodes = derive_topology(settings_for_stack(name)).node_count.value
    for spec in poolers.values():
        assert spec["cluster"]["name"] == one(plan, CLUSTER).inputs["metadata"]["name"]
        assert spec["pgbouncer"]["poolMode"] == "transaction"
        assert spec["instances"] == (1 if nodes == 1 else 3)
        assert spec["template"]["spec"]["topologySpreadConstraints"][0]["topologyKey"] == cnpg.ZONE_KEY


def test_the_s3_store_is_the_locked_bucket(aws_stack):
    name, plan = aws_stack
    settings = settings_for_stack(name)
    topology = derive_topology(settings)
    bucket = one(plan, BUCKET).inputs["bucket"]
    store = one(plan, OBJECT_STORE).inputs
    assert store["spec"]["configuration"]["destinationPath"] == f"s3://{bucket}/{settings.name}"
    assert store["spec"]["configuration"]["s3Credentials"] == {"inheritFromIAMRole": True}
    lock = one(plan, LOCK).inputs["rule"]["defaultRetention"]
    assert (lock["mode"], lock["days"]) == (topology.lock_mode.value, topology.lock_days.value)


def test_scheduled_backup_goes_to_the_store(stack):
    name, plan = stack
    settings = settings_for_stack(name)
    topology = derive_topology(settings)
    store = one(plan, OBJECT_STORE).inputs
    assert store["spec"]["retentionPolicy"] == f"{settings.objectives.retention_days}d"
    backup = one(plan, SCHEDULED_BACKUP).inputs["spec"]
    assert backup["method"] == "plugin" and backup["pluginConfiguration"]["name"] == cnpg.BARMAN_PLUGIN
    assert backup["schedule"] == f"0 {topology.backup_schedule.value.full_cron}"
    (plugin,) = cluster_spec(plan)["plugins"]
    assert plugin["isWALArchiver"] and plugin["parameters"]["barmanObjectName"] == store["metadata"]["name"]
    # Nothing archives before the store exists, and the store waits for the bucket's settings.
    cluster = one(plan, CLUSTER)
    store_record = one(plan, OBJECT_STORE)
    assert store_record.urn in cluster.dependencies


def test_the_backup_role_trusts_only_the_clusters_service_account(aws_stack):
    name, plan = aws_stack
    settings = settings_for_stack(name)
    (role,) = [r for r in plan.by_type(ROLE) if r.inputs.get("name") == f"{settings.name}-k8s-backup"]
    (statement,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    issuer = settings.kubernetes.oidc_issuer
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Condition"]["StringEquals"][f"{issuer}:sub"] == (
        f"system:serviceaccount:{settings.name}:{settings.name}"
    )
    annotations = cluster_spec(plan)["serviceAccountTemplate"]["metadata"]["annotations"]
    assert annotations["eks.amazonaws.com/role-arn"].endswith(f":role/{settings.name}-k8s-backup")


def test_network_policies_deny_by_default_and_admit_only_the_allowlist(stack):
    name, plan = stack
    settings = settings_for_stack(name)
    policies = {
        p.inputs["metadata"]["name"].removeprefix(f"{settings.name}-"): p.inputs["spec"]
        for p in plan.by_type(NETWORK_POLICY)
    }
    assert policies["default-deny"] == {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": []}
    (clients,) = policies["clients-to-poolers"]["ingress"]
    namespaces = [
        f["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
        for f in clients["from"]
        if "namespaceSelector" in f
    ]
    cidrs = [f["ipBlock"]["cidr"] for f in clients["from"] if "ipBlock" in f]
    assert namespaces == list(settings.kubernetes.client_namespaces)
    assert cidrs == list(settings.network.allowlist.cidrs)
    assert clients["ports"] == [{"port": PORTS.postgres, "protocol": "TCP"}]
    for spec in policies.values():
        for rule in spec["ingress"]:
            assert rule["from"], "an ingress rule without sources admits every pod and address"
            assert all(f.get("ipBlock", {}).get("cidr") not in ("0.0.0.0/0", "::/0") for f in rule["from"])


def test_probes_hold_back_lagging_standbys_and_isolated_primaries(stack):
    _name, plan = stack
    probes = cluster_spec(plan)["probes"]
    assert probes["readiness"]["type"] == "streaming" and probes["readiness"]["maximumLag"].endswith("Mi")
    assert probes["liveness"]["isolationCheck"]["enabled"] is True


def _container_contexts(plan: Plan) -> list[dict]:
    contexts = [cluster_spec(plan)["securityContext"]]
    for pooler in plan.by_type(POOLER):
        contexts += [c["securityContext"] for c in pooler.inputs["spec"]["template"]["spec"]["containers"]]
    return contexts


def test_security_contexts_are_restricted(stack):
    _name, plan = stack
    for context in _container_contexts(plan):
        assert context["runAsNonRoot"] is True
        assert context["allowPrivilegeEscalation"] is False and context["privileged"] is False
        assert context["readOnlyRootFilesystem"] is True
        assert context["capabilities"] == {"drop": ["ALL"]}
        assert context["seccompProfile"] == {"type": "RuntimeDefault"}
    pod = cluster_spec(plan)["podSecurityContext"]
    assert pod["runAsNonRoot"] is True and pod["seccompProfile"] == {"type": "RuntimeDefault"}
    for namespace in plan.by_type(NAMESPACE):  # the stage's, and the monitoring stack's when it is installed
        assert namespace.inputs["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_requests_equal_limits_and_fit_the_node(stack):
    name, plan = stack
    settings = settings_for_stack(name)
    resources = cluster_spec(plan)["resources"]
    assert resources["requests"] == resources["limits"]
    node = settings.cluster.size
    assert int(resources["limits"]["memory"].removesuffix("Mi")) < node.memory_mib
    assert int(resources["limits"]["cpu"].removesuffix("m")) < node.vcpus * 1000
    for pooler in plan.by_type(POOLER):
        (container,) = pooler.inputs["spec"]["template"]["spec"]["containers"]
        assert container["resources"]["requests"] == container["resources"]["limits"]
    storage = cluster_spec(plan)["storage"]
    assert storage == {"storageClass": settings.kubernetes.storage_class, "size": f"{settings.cluster.disk_size_gb}Gi"}


def test_disruption_budgets_cover_instances_and_poolers(stack):
    _name, plan = stack
    assert cluster_spec(plan)["enablePDB"] is True  # the operator's budget for the instances
    budgets = {
        b.inputs["spec"]["selector"]["matchLabels"]["cnpg.io/poolerName"]: b.inputs["spec"] for b in plan.by_type(PDB)
    }
    assert set(budgets) == {p.inputs["metadata"]["name"] for p in plan.by_type(POOLER)}
    assert all(b["maxUnavailable"] == 1 for b in budgets.values())


def test_role_passwords_are_generated_secrets_referenced_by_managed_roles(stack):
    name, plan = stack
    roles = cluster_spec(plan)["managed"]["roles"]
    secrets = {s.inputs["metadata"]["name"]: s for s in plan.by_type(SECRET)}
    assert {r["name"] for r in roles} == {"app_rw", "app_ro"}
    for role in roles:
        assert role["superuser"] is False and role["login"] is True and role["connectionLimit"] > 0
        secret = secrets[role["passwordSecret"]["name"]]
        assert secret.inputs["type"] == "kubernetes.io/basic-auth"
        assert {"stringData", "stringData.password"} & set(secret.secret_paths)
    assert cluster_spec(plan)["enableSuperuserAccess"] is False
    assert {"stringData", "stringData.ca.key"} & set(secrets[f"{settings_for_stack(name).name}-ca"].secret_paths)


def test_the_operator_charts_are_pinned_and_the_custom_resources_wait_for_them(stack):
    _name, plan = stack
    releases = {r.inputs["chart"]: r for r in plan.by_type(RELEASE)}
    assert releases["cloudnative-pg"].inputs["version"] == cnpg.OPERATOR_CHART[1]
    assert releases["plugin-barman-cloud"].inputs["version"] == cnpg.BARMAN_PLUGIN_CHART[1]
    # The CRDs and webhooks come with the charts: a Cluster or ObjectStore created first is refused.
    for token in (CLUSTER, OBJECT_STORE):
        dependencies = one(plan, token).dependencies
        operator = {releases[chart].urn for chart in (cnpg.OPERATOR_CHART[0], cnpg.BARMAN_PLUGIN_CHART[0])}
        assert operator <= set(dependencies), token


def test_stateful_resources_are_protected_in_prod_only(stack):
    name, plan = stack
    protect = derive_topology(settings_for_stack(name)).protect_stateful.value
    for token in (CLUSTER, *HOST_STATEFUL_TYPES[host_of(plan)]):
        assert one(plan, token).protect is protect, token
    (space,) = [n for n in plan.by_type(NAMESPACE) if n.inputs["metadata"]["name"] == settings_for_stack(name).name]
    assert space.protect is protect


def test_every_kubernetes_resource_uses_the_stacks_provider(stack):
    name, plan = stack
    (provider,) = plan.by_type("pulumi:providers:kubernetes")
    assert provider.inputs["context"] == settings_for_stack(name).kubernetes.context
    for record in plan.resources:
        if record.custom and record.type.startswith("kubernetes:"):
            assert record.provider and record.provider.startswith(provider.urn), record.urn
