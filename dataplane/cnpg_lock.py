"""The write-once lock on a bucket that has no default retention (Cloud Storage), for the CloudNativePG flavour:
the VM flavour's lock script (dataplane/boot/gcs_lock.py, the same rendered source) run every minute by a
CronJob in the Cluster's namespace, as the Cluster's own service account, whose cloud identity writes the backups
and may set (never shorten or remove) an object's retention.

On the VMs every member runs the timer; here one Job at a time (concurrencyPolicy Forbid) runs it, so a backup
object is locked at most a minute or so after the Barman Cloud plugin uploaded it, as on the VMs. Pure: no Pulumi.
"""

from __future__ import annotations

from dataplane.boot.gcs_lock import LOCK_INTERVAL_SECONDS
from dataplane.cnpg import K8sObject, Target, metadata

# The script is standard library only: the slim Python image of the same Debian release as the operand images.
LOCK_IMAGE = "docker.io/library/python:3.13-slim-trixie"
LOCK_SCRIPT_KEY = "lock.py"
LOCK_MOUNT = "/opt/pgp-lock"
NOBODY = 65534  # the image's unprivileged user: the script needs no file of its own
LOCK_MILLICPU = 100
LOCK_MEMORY_MIB = 64
# A run lists and patches the bucket's new objects; one stuck on the network is stopped before the next is due.
LOCK_DEADLINE_SECONDS = 5 * LOCK_INTERVAL_SECONDS


def lock_job_name(target: Target) -> str:
    return f"{target.name}-backup-lock"


def lock_schedule() -> str:
    """Every LOCK_INTERVAL_SECONDS, in cron's minutes (the shortest a CronJob runs)."""
    minutes = max(1, LOCK_INTERVAL_SECONDS // 60)
    return "* * * * *" if minutes == 1 else f"*/{minutes} * * * *"


def lock_objects(target: Target, script: str) -> list[K8sObject]:
    """The script's ConfigMap and the CronJob that runs it as the Cluster's service account."""
    name = lock_job_name(target)
    resources = {"cpu": f"{LOCK_MILLICPU}m", "memory": f"{LOCK_MEMORY_MIB}Mi"}
    pod = {
        "metadata": {"labels": {**target.labels, **target.pod_labels, "app.kubernetes.io/name": name}},
        "spec": {
            # The Cluster's service account: the one the host's workload identity binds to the backup writer.
            "serviceAccountName": target.name,
            "restartPolicy": "Never",
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": NOBODY,
                "runAsGroup": NOBODY,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [
                {
                    "name": "lock",
                    "image": LOCK_IMAGE,
                    "command": ["python3", f"{LOCK_MOUNT}/{LOCK_SCRIPT_KEY}"],
                    "resources": {"requests": dict(resources), "limits": dict(resources)},
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "privileged": False,
                        "readOnlyRootFilesystem": True,
                        "capabilities": {"drop": ["ALL"]},
                    },
                    "volumeMounts": [{"name": "script", "mountPath": LOCK_MOUNT, "readOnly": True}],
                }
            ],
            "volumes": [{"name": "script", "configMap": {"name": name}}],
        },
    }
    return [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": metadata(target, name),
            "data": {LOCK_SCRIPT_KEY: script},
        },
        {
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "metadata": metadata(target, name),
            "spec": {
                "schedule": lock_schedule(),
                "timeZone": "Etc/UTC",
                "concurrencyPolicy": "Forbid",
                "startingDeadlineSeconds": LOCK_INTERVAL_SECONDS,
                "successfulJobsHistoryLimit": 1,
                "failedJobsHistoryLimit": 3,
                "jobTemplate": {
                    "spec": {"backoffLimit": 0, "activeDeadlineSeconds": LOCK_DEADLINE_SECONDS, "template": pod}
                },
            },
        },
    ]
