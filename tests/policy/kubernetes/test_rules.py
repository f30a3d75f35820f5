"""Kubernetes' own rule families (PGP-KUBERNETES-*) through the analyzer protocol: the k8s-prod plan is the
passing fixture (zero mandatory violations) and each row edits it into a failing one, which must fail with the
rule's id, prod's mandatory level, and a message naming what is wrong. k8s-dev passes its relaxed stage config
without advisories, and every Kubernetes type the platform creates is judged by some rule."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tools.records import Plan, ResourceRecord

Edit = Callable[[Plan], object]
CLUSTER = "kubernetes:postgresql.cnpg.io/v1:Cluster"
POOLER = "kubernetes:postgresql.cnpg.io/v1:Pooler"
NAMESPACE = "kubernetes:core/v1:Namespace"
SECRET = "kubernetes:core/v1:Secret"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
PDB = "kubernetes:policy/v1:PodDisruptionBudget"
OBJECT_STORE = "kubernetes:barmancloud.cnpg.io/v1:ObjectStore"
RELEASE = "kubernetes:helm.sh/v3:Release"


def named(plan: Plan, token: str, suffix: str) -> ResourceRecord:
    (record,) = [r for r in plan.by_type(token) if r.name.endswith(suffix)]
    return record


def spec(plan: Plan, token: str, suffix: str = "") -> dict[str, Any]:
    return named(plan, token, suffix).inputs["spec"]


def rw_pooler_pod(plan: Plan) -> dict[str, Any]:
    return spec(plan, POOLER, "pooler-rw")["template"]["spec"]


def rw_pooler_container(plan: Plan) -> dict[str, Any]:
    return rw_pooler_pod(plan)["containers"][0]["securityContext"]


def drop_where(token: str, suffix: str) -> Edit:
    def edit(plan: Plan) -> None:
        plan.resources = [r for r in plan.resources if not (r.type == token and r.name.endswith(suffix))]

    return edit


def ingress(plan: Plan, suffix: str) -> list[dict[str, Any]]:
    return spec(plan, NETWORK_POLICY, suffix)["ingress"]


def secret(plan: Plan, suffix: str) -> dict[str, Any]:
    return named(plan, SECRET, suffix).inputs


def as_store(plan: Plan, block: str, credentials: dict[str, Any], destination: str) -> None:
    """The store rewritten into another host's form: its credentials block and destination replace S3's."""
    configuration = spec(plan, OBJECT_STORE)["configuration"]
    configuration.pop("s3Credentials")
    configuration.update({block: credentials, "destinationPath": destination})


# rule -> case -> (edit, the type the edit breaks, words the message must hold)
CASES: dict[str, dict[str, tuple[Edit, str, str]]] = {
    "PGP-KUBERNETES-NS-001": {
        "namespace not restricted": (
            lambda p: (
                named(p, NAMESPACE, "namespace-namespace")
                .inputs["metadata"]["labels"]
                .update({"pod-security.kubernetes.io/enforce": "baseline"})
            ),
            NAMESPACE,
            "enforce is baseline",
        ),
        "cluster in default": (
            lambda p: named(p, CLUSTER, "").inputs["metadata"].pop("namespace"),
            CLUSTER,
            "namespace default is not a restricted Namespace",
        ),
    },
    "PGP-KUBERNETES-POD-001": {
        "instances may escalate": (
            lambda p: spec(p, CLUSTER)["securityContext"].update(allowPrivilegeEscalation=True),
            CLUSTER,
            "instances: allowPrivilegeEscalation is not false",
        ),
        "instances without seccomp": (
            lambda p: [spec(p, CLUSTER)[c].pop("seccompProfile") for c in ("podSecurityContext", "securityContext")],
            CLUSTER,
            "seccompProfile is unset",
        ),
        "instances writable root": (
            lambda p: spec(p, CLUSTER)["securityContext"].pop("readOnlyRootFilesystem"),
            CLUSTER,
            "readOnlyRootFilesystem is not true",
        ),
        "pooler as root": (
            lambda p: rw_pooler_container(p).update(runAsNonRoot=False, runAsUser=0),
            POOLER,
            "container pgbouncer: runAsNonRoot is not true",
        ),
        "pooler adds a capability": (
            lambda p: rw_pooler_container(p).update(capabilities={"drop": ["ALL"], "add": ["NET_ADMIN"]}),
            POOLER,
            "capabilities add NET_ADMIN",
        ),
        "pooler privileged": (
            lambda p: rw_pooler_container(p).update(privileged=True),
            POOLER,
            "privileged is true",
        ),
        "pooler on the host network": (
            lambda p: rw_pooler_pod(p).update(hostNetwork=True),
            POOLER,
            "hostNetwork is true",
        ),
        "pooler mounts the host": (
            lambda p: rw_pooler_pod(p).update(volumes=[{"name": "root", "hostPath": {"path": "/"}}]),
            POOLER,
            "volume root is a hostPath",
        ),
    },
    "PGP-KUBERNETES-NET-001": {
        "no default deny": (drop_where(NETWORK_POLICY, "default-deny"), CLUSTER, "no default-deny ingress policy"),
        "default deny admits": (
            lambda p: spec(p, NETWORK_POLICY, "default-deny").update(
                ingress=[{"from": [{"podSelector": {}}], "ports": [{"port": 5432}]}]
            ),
            CLUSTER,
            "no default-deny ingress policy",
        ),
    },
    "PGP-KUBERNETES-NET-002": {
        "world cidr": (
            lambda p: ingress(p, "clients-to-poolers")[0]["from"].append({"ipBlock": {"cidr": "0.0.0.0/0"}}),
            NETWORK_POLICY,
            "ipBlock 0.0.0.0/0 is every address",
        ),
        "public cidr": (
            lambda p: ingress(p, "clients-to-poolers")[0]["from"].append({"ipBlock": {"cidr": "52.28.0.0/16"}}),
            NETWORK_POLICY,
            "ipBlock 52.28.0.0/16 is a public network",
        ),
        "private but not allowlisted": (
            lambda p: ingress(p, "clients-to-poolers")[0]["from"].append({"ipBlock": {"cidr": "10.0.0.0/8"}}),
            NETWORK_POLICY,
            "ipBlock 10.0.0.0/8 is outside the stack's allowlist (10.50.0.0/16)",
        ),
        "every namespace": (
            lambda p: ingress(p, "to-postgres")[0]["from"].append({"namespaceSelector": {}}),
            NETWORK_POLICY,
            "admits every namespace",
        ),
        "no sources": (
            lambda p: ingress(p, "clients-to-poolers")[0].pop("from"),
            NETWORK_POLICY,
            "names no source",
        ),
        "no ports": (
            lambda p: ingress(p, "scrape")[0].pop("ports"),
            NETWORK_POLICY,
            "names no port",
        ),
    },
    "PGP-KUBERNETES-ROLE-001": {
        "superuser access": (
            lambda p: spec(p, CLUSTER).update(enableSuperuserAccess=True),
            CLUSTER,
            "enableSuperuserAccess is true",
        ),
        "app role creates roles": (
            lambda p: spec(p, CLUSTER)["managed"]["roles"][0].update(createrole=True, bypassrls=True),
            CLUSTER,
            "has createrole, bypassrls",
        ),
    },
    "PGP-KUBERNETES-ROLE-002": {
        "opaque role secret": (
            lambda p: secret(p, "app-rw-secret").update(type="Opaque"),
            SECRET,
            "type is Opaque, not kubernetes.io/basic-auth",
        ),
        "secret names another role": (
            lambda p: secret(p, "app-ro-secret")["stringData"].update(username="postgres"),
            SECRET,
            "username is postgres",
        ),
        "secret missing": (drop_where(SECRET, "app-rw-secret"), CLUSTER, "is not in the stack"),
        "role without a secret": (
            lambda p: spec(p, CLUSTER)["managed"]["roles"][0].pop("passwordSecret"),
            CLUSTER,
            "names no passwordSecret",
        ),
    },
    "PGP-KUBERNETES-POOL-001": {
        "no rw pooler": (drop_where(POOLER, "pooler-rw"), CLUSTER, "no Pooler of type rw"),
        "one pooler instance": (
            lambda p: spec(p, POOLER, "pooler-rw").update(instances=1),
            POOLER,
            "1 instance(s), minimum 2",
        ),
        "plain clients": (
            lambda p: spec(p, POOLER, "pooler-ro")["pgbouncer"]["parameters"].update(client_tls_sslmode="allow"),
            POOLER,
            "client_tls_sslmode is allow",
        ),
        "server unverified": (
            lambda p: spec(p, POOLER, "pooler-rw")["pgbouncer"]["parameters"].pop("server_tls_sslmode"),
            POOLER,
            "server_tls_sslmode is prefer",
        ),
        "no pooler budget": (drop_where(PDB, "pooler-rw-pdb"), POOLER, "no PodDisruptionBudget"),
    },
    "PGP-KUBERNETES-OBJ-001": {
        "static keys": (
            lambda p: spec(p, OBJECT_STORE)["configuration"].update(
                s3Credentials={
                    "accessKeyId": {"name": "aws", "key": "id"},
                    "secretAccessKey": {"name": "aws", "key": "secret"},
                }
            ),
            OBJECT_STORE,
            "names static credentials (accessKeyId, secretAccessKey)",
        ),
        "no credentials": (
            lambda p: spec(p, OBJECT_STORE)["configuration"].pop("s3Credentials"),
            OBJECT_STORE,
            "no credentials block",
        ),
        # The AKS and GKE forms of the store, with the static credentials each replaces.
        "azure storage key": (
            lambda p: as_store(
                p,
                "azureCredentials",
                {"inheritFromAzureAD": True, "storageKey": {"name": "blob", "key": "key"}},
                "https://pgpk8sprodbackup.blob.core.windows.net/pgbackrest/pgp-k8sprod",
            ),
            OBJECT_STORE,
            "azureCredentials names static credentials (storageKey)",
        ),
        "azure without workload identity": (
            lambda p: as_store(
                p,
                "azureCredentials",
                {"connectionString": {"name": "blob", "key": "cs"}},
                "https://pgpk8sprodbackup.blob.core.windows.net/pgbackrest/pgp-k8sprod",
            ),
            OBJECT_STORE,
            "azureCredentials.inheritFromAzureAD is not true",
        ),
        "google key file": (
            lambda p: as_store(
                p,
                "googleCredentials",
                {"gkeEnvironment": True, "applicationCredentials": {"name": "gcs", "key": "key.json"}},
                "gs://pgp-k8sprod-backups/pgp-k8sprod",
            ),
            OBJECT_STORE,
            "googleCredentials names static credentials (applicationCredentials)",
        ),
        "google without workload identity": (
            lambda p: as_store(p, "googleCredentials", {"gkeEnvironment": False}, "gs://pgp-k8sprod-backups/x"),
            OBJECT_STORE,
            "googleCredentials.gkeEnvironment is not true",
        ),
        "plain azure destination": (
            lambda p: as_store(
                p,
                "azureCredentials",
                {"inheritFromAzureAD": True},
                "http://pgpk8sprodbackup.blob.core.windows.net/pgbackrest/pgp-k8sprod",
            ),
            OBJECT_STORE,
            "is not s3://, gs:// or https://",
        ),
        "plain endpoint": (
            lambda p: spec(p, OBJECT_STORE)["configuration"].update(endpointURL="http://minio.local:9000"),
            OBJECT_STORE,
            "endpointURL http://minio.local:9000 is not https://",
        ),
    },
    "PGP-KUBERNETES-HELM-001": {
        "unpinned operator": (
            lambda p: named(p, RELEASE, "operator-cnpg").inputs.pop("version"),
            RELEASE,
            "version is unset (the latest)",
        ),
        "version range": (
            lambda p: named(p, RELEASE, "monitoring-stack").inputs.update(version="^80.0.0"),
            RELEASE,
            "version is ^80.0.0",
        ),
        "plain repository": (
            lambda p: named(p, RELEASE, "barman-cloud").inputs["repositoryOpts"].update(repo="http://charts.local"),
            RELEASE,
            "not over https:// or oci://",
        ),
    },
}
ROWS = [(rule, case) for rule, cases in CASES.items() for case in cases]


@pytest.mark.parametrize(("rule", "case"), ROWS, ids=[f"{r}:{c}" for r, c in ROWS])
def test_each_violation_fails_its_rule(analyze, rule, case):
    edit, token, expected = CASES[rule][case]
    analysis = analyze(edit)
    hits = [d for d in analysis.diagnostics if d.policy == rule]
    assert any(expected in d.detail for d in hits), (case, [(d.policy, d.detail) for d in analysis.diagnostics])
    assert {d.level for d in hits} == {"mandatory"}
    assert any(f"::{token.split(':')[-1]}" in d.detail or token in (d.urn or "") for d in hits), hits
    assert analysis.policies[rule].remediation


def test_the_prod_plan_passes_every_rule(analyze):
    analysis = analyze()
    assert analysis.mandatory == [], [(d.policy, d.detail) for d in analysis.mandatory]
    kubernetes_rules = {name for name in analysis.policies if name.startswith("PGP-KUBERNETES-")}
    assert kubernetes_rules == set(CASES), "every Kubernetes rule has failing cases here"


def test_the_dev_plan_passes_without_advisories_from_kubernetes_rules(analyze_dev):
    analysis = analyze_dev()
    assert analysis.mandatory == []
    assert not [d for d in analysis.diagnostics if d.policy.startswith("PGP-KUBERNETES-")], analysis.diagnostics


def test_every_kubernetes_type_the_stack_creates_is_judged(analyze):
    """A type is judged when some rule's failing case above breaks an object of it, or the shared tag and
    protect rules read it (every labelled type)."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "policy"))
    try:
        from pgp_policy.kubernetes.types import LABELLED
    finally:
        sys.path.pop(0)
    created = {r.type for r in analyze.base.resources if r.type.startswith("kubernetes:")}
    broken = {token for cases in CASES.values() for _, token, _ in cases.values()}
    unjudged = created - broken - set(LABELLED)
    assert not unjudged, unjudged


# --- the AKS and GKE stacks: their own plans through the real pack, at dev's (advisory) level ---------------

CRON_JOB = "kubernetes:batch/v1:CronJob"
ZONE_LINK = "azure-native:privatedns:VirtualNetworkLink"


def test_the_aks_and_gke_plans_pass_every_rule(analyze_aks, analyze_gke):
    for analyze_host in (analyze_aks, analyze_gke):
        analysis = analyze_host()
        assert analysis.diagnostics == [], [(d.policy, d.detail) for d in analysis.diagnostics]


def _hits(analysis, rule: str) -> list:
    return [d for d in analysis.diagnostics if d.policy == rule]


def test_an_aks_store_with_an_account_key_fails(analyze_aks):
    def edit(plan: Plan) -> None:
        spec(plan, OBJECT_STORE)["configuration"]["azureCredentials"] = {"storageKey": {"name": "k", "key": "k"}}

    hits = _hits(analyze_aks(edit), "PGP-KUBERNETES-OBJ-001")
    details = " ".join(d.detail for d in hits)
    assert "inheritFromAzureAD is not true" in details and "names static credentials (storageKey)" in details
    assert {d.level for d in hits} == {"advisory"}  # dev's level


def test_a_gke_store_with_a_key_file_fails(analyze_gke):
    def edit(plan: Plan) -> None:
        spec(plan, OBJECT_STORE)["configuration"]["googleCredentials"] = {
            "applicationCredentials": {"name": "gcs", "key": "key.json"}
        }

    hits = _hits(analyze_gke(edit), "PGP-KUBERNETES-OBJ-001")
    details = " ".join(d.detail for d in hits)
    assert "gkeEnvironment is not true" in details and "names static credentials (applicationCredentials)" in details


def test_the_gke_lock_job_must_run_restricted(analyze_gke):
    def edit(plan: Plan) -> None:
        pod = named(plan, CRON_JOB, "backups-lock").inputs["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        pod["containers"][0]["securityContext"]["readOnlyRootFilesystem"] = False
        pod["securityContext"].pop("runAsNonRoot")

    details = " ".join(d.detail for d in _hits(analyze_gke(edit), "PGP-KUBERNETES-POD-001"))
    assert "container lock: readOnlyRootFilesystem is not true" in details
    assert "container lock: runAsNonRoot is not true" in details


def test_the_aks_blob_zone_must_be_linked_to_the_endpoints_network(analyze_aks):
    def edit(plan: Plan) -> None:
        (link,) = plan.by_type(ZONE_LINK)
        other = "/subscriptions/0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9/resourceGroups/rg/providers/Microsoft.Network/"
        link.inputs["virtualNetwork"] = {"id": other + "virtualNetworks/someone-elses"}
        link.outputs = dict(link.inputs)

    details = " ".join(d.detail for d in _hits(analyze_aks(edit), "PGP-AZURE-DNS-001"))
    assert "not linked to a virtual network of the stack" in details


def test_a_gke_bucket_nothing_locks_fails(analyze_gke):
    """Without the lock CronJob's script no new object gets a retention: the bucket is not write-once."""
    drop = drop_where("kubernetes:core/v1:ConfigMap", "backups-lock-script")
    details = " ".join(d.detail for d in _hits(analyze_gke(drop), "PGP-GCP-GCS-001"))
    assert "nothing locks its new objects" in details


def test_a_gke_lock_outside_the_allowed_days_fails(analyze_gke):
    def edit(plan: Plan) -> None:
        data = named(plan, "kubernetes:core/v1:ConfigMap", "backups-lock-script").inputs["data"]
        data["lock.py"] = data["lock.py"].replace('"lock_days": 2', '"lock_days": 400')

    details = " ".join(d.detail for d in _hits(analyze_gke(edit), "PGP-GCP-GCS-001"))
    assert "a lock of 400 day(s) is outside" in details
