"""The Barman Cloud ObjectStore: the instances reach the locked bucket with the pod's workload identity (no key
in a Secret that outlives its owner and that every reader of the namespace can copy), over TLS."""

from __future__ import annotations

from pulumi_policy import Severity

from ..core import Rule, resource_policy
from ..operators import spec_of
from .types import CLOUD, OBJECT_STORE

AREA = "backup"
# Each store's credentials block, the workload-identity switch in it, and the static credentials it replaces.
CREDENTIALS = {
    "s3Credentials": ("inheritFromIAMRole", ("accessKeyId", "secretAccessKey", "sessionToken")),
    "azureCredentials": ("inheritFromAzureAD", ("connectionString", "storageKey", "storageSasToken")),
    "googleCredentials": ("gkeEnvironment", ("applicationCredentials",)),
}
DESTINATION_SCHEMES = ("s3://", "https://", "gs://")

OBJ_001 = Rule(
    id="PGP-KUBERNETES-OBJ-001",
    title="Backups reach the bucket with workload identity, over TLS",
    why="A static access key in a Secret never rotates with the role, is readable by anyone who can read "
    "Secrets in the namespace, and keeps working after the cluster is gone; plain HTTP exposes the WAL stream.",
    description="Every ObjectStore takes its credentials from the pod's identity (inheritFromIAMRole, "
    "inheritFromAzureAD or gkeEnvironment) and names no access key, connection string or key file; its "
    "destinationPath and endpointURL use TLS.",
    severity=Severity.HIGH,
    control="seed: least-privilege IAM; CKV_K8S_35 (by analogy: no credentials in Secrets for cloud access)",
    area=AREA,
    scope="resource",
    clouds=(CLOUD,),
    remediation="Take the credentials from the host's workload identity (components/<host>/kubernetes.py): on EKS "
    "s3Credentials: {inheritFromIAMRole: true} with the IRSA role annotated on the Cluster's service account and "
    "an s3:// destinationPath; on AKS azureCredentials: {inheritFromAzureAD: true} with the federated identity's "
    "client id annotated, the pods labelled azure.workload.identity/use, and an https://<account>.blob.core."
    "windows.net/ destinationPath; on GKE googleCredentials: {gkeEnvironment: true} with the Google service "
    "account annotated (iam.gke.io/gcp-service-account) and a gs:// destinationPath.",
)


def _identity(args, report) -> None:
    if args.resource_type != OBJECT_STORE:
        return
    configuration = spec_of(args).get("configuration") or {}
    blocks = [key for key in CREDENTIALS if key in configuration]
    if not blocks:
        report(f"{args.name}: no credentials block (one of {', '.join(CREDENTIALS)})")
    for key in blocks:
        switch, static = CREDENTIALS[key]
        block = configuration.get(key) or {}
        if block.get(switch) is not True:
            report(f"{args.name}: {key}.{switch} is not true")
        named = [s for s in static if s in block]
        if named:
            report(f"{args.name}: {key} names static credentials ({', '.join(named)})")
    destination = str(configuration.get("destinationPath") or "")
    if not destination.startswith(DESTINATION_SCHEMES):
        report(f"{args.name}: destinationPath {destination or 'unset'} is not s3://, gs:// or https://")
    endpoint = configuration.get("endpointURL")
    if endpoint and not str(endpoint).startswith("https://"):
        report(f"{args.name}: endpointURL {endpoint} is not https://")


POLICIES = [(OBJ_001, resource_policy(OBJ_001, _identity))]
