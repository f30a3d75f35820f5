"""Backups on Kubernetes: the Barman Cloud plugin's ObjectStore in the host cloud's locked bucket, and the
ScheduledBackup of full base backups (WAL is archived continuously by the Cluster's plugin)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pulumi
import pulumi_kubernetes as k8s

from components.base import PlatformComponent
from components.kubernetes.objects import custom_resource
from dataplane import cnpg, cnpg_lock


class Backups(PlatformComponent):
    def __init__(
        self,
        name: str,
        *,
        target: cnpg.Target,
        namespace: pulumi.Resource,
        operator: pulumi.Resource,
        vault: pulumi.Resource,
        tags: Mapping[str, str],
        opts: pulumi.ResourceOptions | None = None,
        after: Sequence[pulumi.Resource] = (),
        lock_script: str | None = None,
    ):
        super().__init__("kubernetes", "Backups", name, tags, opts)
        store = cnpg.object_store(target)
        # The bucket, its lock and the identity's policy come first: the first WAL segment is archived as soon
        # as the primary starts.
        self.object_store = custom_resource(
            self, "object-store", store, self.child_opts(depends_on=[namespace, operator, vault, *after])
        )
        schedule = cnpg.scheduled_backup(target)
        # The controller waits for the Cluster it names; the store must exist for the first backup.
        self.schedule = custom_resource(self, "schedule", schedule, self.child_opts(depends_on=[self.object_store]))
        if lock_script is not None:
            config, job = cnpg_lock.lock_objects(target, lock_script)
            script = k8s.core.v1.ConfigMap(
                self.child_name("lock-script"),
                metadata=config["metadata"],
                data=config["data"],
                opts=self.child_opts(depends_on=[namespace]),
            )
            # The identity's lock grant first: a run before it would fail on every object.
            k8s.batch.v1.CronJob(
                self.child_name("lock"),
                metadata=job["metadata"],
                spec=job["spec"],
                opts=self.child_opts(depends_on=[namespace, script, vault, *after]),
            )
        self.register_outputs({"object_store": store["metadata"], "schedule": schedule["spec"]})
