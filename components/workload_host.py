"""What the Kubernetes build takes from the cloud its cluster runs in (components/<host>/kubernetes.py): where the
backups go, and how the Cluster's pods are allowed there. One shape for every host, so components/kubernetes
wires EKS, AKS and GKE alike. It sits beside the composition rather than in components/kubernetes, because a
cloud's folder imports no other cloud's (tests/test_boundaries.py)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi

from components.base import PlatformComponent
from dataplane.model import Repository

# Kubernetes names a workload's identity this way in every token it issues (the `sub` claim): what each host's
# trust names, so that only the one service account of the one namespace gets the backup identity.
SUBJECT_PREFIX = "system:serviceaccount"


def service_account_subject(namespace: str, service_account: str) -> str:
    return f"{SUBJECT_PREFIX}:{namespace}:{service_account}"


@dataclass(frozen=True)
class HostBackup:
    vault: PlatformComponent  # the host's BackupVault: the store waits for it
    repository: Repository  # the vault's bucket or container, which the ClusterSpec names
    location: pulumi.Output[str]  # the vault's location, as the stack exports it
    destination_path: str  # the bucket (or container) and prefix, as Barman Cloud names it
    credentials: Mapping[str, object]  # the ObjectStore's credentials stanza: workload identity, never keys
    # Binds the Cluster's service account to the host's identity; a value may be known only once that identity
    # exists (Azure's client id), so the component edge passes it as an Output.
    service_account_annotations: Mapping[str, pulumi.Input[str]]
    restore_identity: pulumi.Output[str]
    # Labels every instance pod carries (Azure's workload identity webhook acts only on labelled pods).
    pod_labels: Mapping[str, str] = field(default_factory=dict)
    # What must exist before the first WAL segment is archived besides the vault: the identity's trust and grant.
    ready: tuple[pulumi.Resource, ...] = ()
    # A store without a default retention for new objects (Cloud Storage): the script that gives each new object
    # its write-once retention, which a CronJob runs as the Cluster's service account (dataplane/cnpg_lock.py).
    lock_script: str | None = None
