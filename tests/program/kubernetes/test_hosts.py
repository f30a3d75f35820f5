"""The host clouds' parts of a Kubernetes stack, on the recorded graphs: each host's identity trusts exactly the
Cluster's service account of the stage's namespace and grants only the backup writer's role on the one bucket or
container; the service account carries the host's annotation, the instance pods the host's label (Azure only),
and the ObjectStore the host's destination and workload-identity credentials."""

from __future__ import annotations

import ast
import json

import pytest

from components.azure import kubernetes as aks
from components.azure.identity import BACKUP_WRITER_ROLE as AZURE_WRITER
from components.azure.spec import STORAGE_BLOB_DATA_READER, role_definition_id
from components.gcp import kubernetes as gke
from components.gcp.identity import BACKUP_READER_ROLE, BACKUP_WRITER_ROLE, LOCK_PERMISSIONS
from dataplane.boot.gcs_lock import GCS_MODES
from dataplane.cnpg_lock import LOCK_SCRIPT_KEY
from stacks.offline import settings_for_stack
from stacks.topology import derive_topology
from tools.fakecloud.azure import FAKE_SUBSCRIPTION
from tools.records import Plan, ResourceRecord
from tools.runner import run_stack

CLUSTER = "kubernetes:postgresql.cnpg.io/v1:Cluster"
OBJECT_STORE = "kubernetes:barmancloud.cnpg.io/v1:ObjectStore"
CRON_JOB = "kubernetes:batch/v1:CronJob"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
FEDERATION = "azure-native:managedidentity:FederatedIdentityCredential"
IDENTITY = "azure-native:managedidentity:UserAssignedIdentity"
ROLE_ASSIGNMENT = "azure-native:authorization:RoleAssignment"
ACCOUNT = "azure-native:storage:StorageAccount"
CONTAINER = "azure-native:storage:BlobContainer"
ENDPOINT = "azure-native:network:PrivateEndpoint"
ZONE_LINK = "azure-native:privatedns:VirtualNetworkLink"
GSA = "gcp:serviceaccount/account:Account"
SA_MEMBER = "gcp:serviceaccount/iAMMember:IAMMember"
BUCKET_MEMBER = "gcp:storage/bucketIAMMember:BucketIAMMember"
BUCKET = "gcp:storage/bucket:Bucket"
CUSTOM_ROLE = "gcp:projects/iAMCustomRole:IAMCustomRole"


@pytest.fixture(scope="module")
def azure() -> Plan:
    return run_stack("k8s-azure-dev")


@pytest.fixture(scope="module")
def gcp() -> Plan:
    return run_stack("k8s-gcp-dev")


def one(plan: Plan, token: str) -> ResourceRecord:
    (record,) = plan.by_type(token)
    return record


def cluster_spec(plan: Plan) -> dict:
    return one(plan, CLUSTER).inputs["spec"]


def store_configuration(plan: Plan) -> dict:
    return one(plan, OBJECT_STORE).inputs["spec"]["configuration"]


def by_urn(plan: Plan, urn: str) -> ResourceRecord:
    (record,) = [r for r in plan.resources if r.urn == urn]
    return record


# --- AKS -------------------------------------------------------------------------------------------------------


def test_the_federated_credential_trusts_only_the_clusters_service_account(azure):
    settings = settings_for_stack("k8s-azure-dev")
    (federation,) = azure.by_type(FEDERATION)  # one: no other subject can exchange a token for the identity
    assert federation.inputs["issuer"] == settings.kubernetes.oidc_issuer
    assert federation.inputs["subject"] == f"system:serviceaccount:{settings.name}:{settings.name}"
    assert federation.inputs["audiences"] == [aks.TOKEN_AUDIENCE]
    # It is the backup identity's, the one whose client id the service account is annotated with.
    backup = [i for i in azure.by_type(IDENTITY) if i.inputs["resourceName"] == federation.inputs["resourceName"]]
    (identity,) = backup
    annotations = cluster_spec(azure)["serviceAccountTemplate"]["metadata"]["annotations"]
    assert annotations == {aks.CLIENT_ID_ANNOTATION: identity.outputs["clientId"]}


def test_the_identity_writes_the_container_only_and_the_restore_identity_reads_it(azure):
    container = one(azure, CONTAINER)
    grants = {
        (a.inputs["principalId"], a.inputs["roleDefinitionId"], a.inputs["scope"])
        for a in azure.by_type(ROLE_ASSIGNMENT)
    }
    identities = {i.urn.rsplit("-", 1)[-1]: i for i in azure.by_type(IDENTITY)}
    backup, restore = identities["backup"], identities["restore"]
    held_by = {
        kind: {(r, s) for p, r, s in grants if p == i.outputs["principalId"]}
        for kind, i in (("backup", backup), ("restore", restore))
    }
    writer = role_definition_id(FAKE_SUBSCRIPTION, AZURE_WRITER)
    reader = role_definition_id(FAKE_SUBSCRIPTION, STORAGE_BLOB_DATA_READER)
    assert held_by["backup"] == {(writer, container.outputs["id"])}
    assert held_by["restore"] == {(reader, container.outputs["id"])}


def test_the_instance_pods_carry_the_workload_identity_label(azure):
    assert cluster_spec(azure)["inheritedMetadata"] == {"labels": {aks.USE_LABEL: "true"}}


def test_the_azure_store_is_the_locked_container_over_its_private_endpoint(azure):
    settings = settings_for_stack("k8s-azure-dev")
    account = one(azure, ACCOUNT).inputs
    configuration = store_configuration(azure)
    assert configuration["destinationPath"] == (
        f"https://{account['accountName']}.blob.core.windows.net/{one(azure, CONTAINER).inputs['containerName']}"
        f"/{settings.name}"
    )
    assert configuration["azureCredentials"] == {"inheritFromAzureAD": True}
    assert "s3Credentials" not in configuration and "googleCredentials" not in configuration
    assert account["publicNetworkAccess"] == "Disabled" and account["allowSharedKeyAccess"] is False
    # The endpoint takes its address in the AKS network's subnet, and the AKS network resolves the account to it.
    assert one(azure, ENDPOINT).inputs["subnet"] == {"id": settings.kubernetes.endpoint_subnet_id}
    vnet = settings.kubernetes.endpoint_subnet_id.rsplit("/subnets/", 1)[0]
    assert one(azure, ZONE_LINK).inputs["virtualNetwork"] == {"id": vnet}


def test_the_store_waits_for_the_identitys_trust_and_grant(azure):
    dependencies = set(one(azure, OBJECT_STORE).dependencies)
    assert one(azure, FEDERATION).urn in dependencies
    writer = [a for a in azure.by_type(ROLE_ASSIGNMENT) if a.urn.endswith("-backup-identity-backups")]
    assert writer and writer[0].urn in dependencies


# --- GKE -------------------------------------------------------------------------------------------------------


def test_only_the_clusters_service_account_may_act_as_the_backup_account(gcp):
    settings = settings_for_stack("k8s-gcp-dev")
    project = "acme-pgp-dev"
    (binding,) = gcp.by_type(SA_MEMBER)  # one: no other principal may impersonate it
    assert binding.inputs["role"] == gke.WORKLOAD_IDENTITY_USER
    assert binding.inputs["member"] == f"serviceAccount:{project}.svc.id.goog[{settings.name}/{settings.name}]"
    (account,) = [a for a in gcp.by_type(GSA) if a.outputs["name"] == binding.inputs["serviceAccountId"]]
    annotations = cluster_spec(gcp)["serviceAccountTemplate"]["metadata"]["annotations"]
    assert annotations == {gke.SERVICE_ACCOUNT_ANNOTATION: account.outputs["email"]}
    assert account.inputs["accountId"].startswith(f"{settings.name}-{gke.BACKUP_ACCOUNT}-")


def test_the_backup_account_holds_the_writer_and_lock_roles_on_the_bucket_only(gcp):
    bucket = one(gcp, BUCKET).inputs["name"]
    accounts = {a.inputs["accountId"].rsplit("-", 1)[0].split("-", 2)[-1]: a for a in gcp.by_type(GSA)}
    backup, restore = accounts["k8s-backup"], accounts["restore"]
    members = [(m.inputs["member"], m.inputs["role"], m.inputs["bucket"]) for m in gcp.by_type(BUCKET_MEMBER)]
    lock_role = one(gcp, CUSTOM_ROLE)
    assert lock_role.inputs["permissions"] == list(LOCK_PERMISSIONS)
    assert sorted(m for m in members if m[0] == f"serviceAccount:{backup.outputs['email']}") == sorted(
        [
            (f"serviceAccount:{backup.outputs['email']}", BACKUP_WRITER_ROLE, bucket),
            (f"serviceAccount:{backup.outputs['email']}", lock_role.outputs["name"], bucket),
        ]
    )
    assert [m for m in members if m[0] == f"serviceAccount:{restore.outputs['email']}"] == [
        (f"serviceAccount:{restore.outputs['email']}", BACKUP_READER_ROLE, bucket)
    ]


def test_the_gcs_store_and_no_pod_label(gcp):
    settings = settings_for_stack("k8s-gcp-dev")
    configuration = store_configuration(gcp)
    assert configuration["destinationPath"] == f"gs://{one(gcp, BUCKET).inputs['name']}/{settings.name}"
    assert configuration["googleCredentials"] == {"gkeEnvironment": True}
    assert "inheritedMetadata" not in cluster_spec(gcp)  # GKE binds by the service account alone


def test_the_lock_job_runs_the_vm_lock_script_as_the_clusters_service_account(gcp):
    settings = settings_for_stack("k8s-gcp-dev")
    topology = derive_topology(settings)
    job = one(gcp, CRON_JOB).inputs["spec"]
    assert job["schedule"] == "* * * * *" and job["concurrencyPolicy"] == "Forbid"
    pod = job["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == settings.name
    (container,) = pod["containers"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True and pod["securityContext"]["runAsNonRoot"]
    (volume,) = pod["volumes"]
    (script,) = [c for c in gcp.by_type(CONFIG_MAP) if c.inputs["metadata"]["name"] == volume["configMap"]["name"]]
    text = script.inputs["data"][LOCK_SCRIPT_KEY]
    (line,) = [x for x in text.splitlines() if x.startswith("CONFIG = json.loads(")]
    config = json.loads(ast.literal_eval(line.removeprefix("CONFIG = json.loads(").removesuffix(")")))
    assert config["bucket"] == one(gcp, BUCKET).inputs["name"]
    assert (config["mode"], config["lock_days"]) == (GCS_MODES[topology.lock_mode.value], topology.lock_days.value)
    # The grant that lets it set a retention comes first.
    lock_grant = [m for m in gcp.by_type(BUCKET_MEMBER) if m.urn.endswith("-backup-lock")]
    assert lock_grant and lock_grant[0].urn in one(gcp, CRON_JOB).dependencies


# --- EKS: unchanged by the generic pod labels ------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["k8s-dev", "k8s-prod"])
def test_eks_pods_carry_no_host_label_and_no_lock_job(stack):
    plan = run_stack(stack)
    assert "inheritedMetadata" not in cluster_spec(plan)
    assert not plan.by_type(CRON_JOB)  # S3 Object Lock's default retention locks every new object itself
