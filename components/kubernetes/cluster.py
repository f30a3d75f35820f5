"""PostgresCluster on Kubernetes: the roles' and the CA's Secrets,
the CloudNativePG Cluster, its Poolers and their disruption budgets, and the NetworkPolicies.

Every object is rendered by dataplane.cnpg; this module only turns them into resources, in the order the API
server needs them (secrets, then the custom resources once the operator's CRDs and the object store exist)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.base import PlatformComponent
from components.kubernetes.objects import custom_resource
from dataplane import cnpg
from dataplane.model import ClusterSpec


@dataclass(frozen=True)
class PostgresClusterArgs:
    spec: ClusterSpec
    target: cnpg.Target
    role_passwords: Mapping[str, pulumi.Output[str]]  # application role -> its generated password
    ca_certificate: pulumi.Output[str]
    ca_private_key: pulumi.Output[str]
    namespace: pulumi.Resource
    operator: pulumi.Resource  # the custom resources wait for its CRDs and webhooks
    object_store: pulumi.Resource  # the Cluster archives its first WAL segment into it at once
    protect: bool
    tags: Mapping[str, str]


class PostgresCluster(PlatformComponent):
    def __init__(self, name: str, args: PostgresClusterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("kubernetes", "PostgresCluster", name, args.tags, opts)
        target = args.target
        in_namespace = [args.namespace]
        # The SDK types metadata as its own TypedDict; the renderers give plain dicts of the same shape.
        role_metadata: dict[str, Any] = {role: cnpg.role_secret_metadata(target, role) for role in target.role_secrets}
        ca_metadata: Any = cnpg.metadata(target, target.ca_secret)
        secrets = [
            k8s.core.v1.Secret(
                self.child_name(f"{role.replace('_', '-')}-secret"),
                metadata=role_metadata[role],
                type="kubernetes.io/basic-auth",
                string_data={"username": role, "password": args.role_passwords[role]},
                opts=self.child_opts(depends_on=in_namespace),
            )
            for role in target.role_secrets
        ]
        ca = k8s.core.v1.Secret(
            self.child_name("ca-secret"),
            metadata=ca_metadata,
            type="Opaque",
            string_data={"ca.crt": args.ca_certificate, "ca.key": args.ca_private_key},
            opts=self.child_opts(depends_on=in_namespace, protect=args.protect),
        )
        after_operator = [*in_namespace, args.operator]
        self.policies = [
            k8s.networking.v1.NetworkPolicy(
                self.child_name(policy["metadata"]["name"].removeprefix(f"{target.name}-")),
                metadata=policy["metadata"],
                spec=policy["spec"],
                opts=self.child_opts(depends_on=in_namespace),
            )
            for policy in cnpg.network_policies(target)
        ]
        rendered = cnpg.cluster(args.spec, target)
        # The data lives on the Cluster's volumes: deleting it deletes them.
        self.cluster = custom_resource(
            self,
            "cluster",
            rendered,
            self.child_opts(
                protect=args.protect, depends_on=[*after_operator, args.object_store, ca, *secrets, *self.policies]
            ),
        )
        self.poolers = [
            custom_resource(
                self, f"pooler-{pooler['spec']['type']}", pooler, self.child_opts(depends_on=[self.cluster])
            )
            for pooler in cnpg.poolers(args.spec, target)
        ]
        for budget in cnpg.pooler_disruption_budgets(target):
            k8s.policy.v1.PodDisruptionBudget(
                self.child_name(str(budget["metadata"]["name"]).removeprefix(f"{target.name}-") + "-pdb"),
                metadata=budget["metadata"],
                spec=budget["spec"],
                opts=self.child_opts(depends_on=in_namespace),
            )
        self.client_access = cnpg.client_access(target)
        self.endpoint = pulumi.Output.from_input(self.client_access["endpoints"]["pooled"]["host"])
        self.member_ids = [pulumi.Output.from_input(f"{target.name}-{i + 1}") for i in range(len(args.spec.members))]
        self.register_outputs({"endpoint": self.endpoint, "cluster": target.name})
