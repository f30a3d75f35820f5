"""Mutations of the compliant fixture stack: each breaks one thing and returns the name of the resource the
violation should be reported on (None when the report is stack-wide)."""

from __future__ import annotations

import json
from collections.abc import Callable

from tests.policy.fixtures import ALERTS, Stack, monitoring_user_data, node_user_data, rec, tagged

SG_IN = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
SG_OUT = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
LOCK = "pg-vault-object-lock"


def set_input(name: str, path: str, value) -> Callable[[Stack], str]:
    def mutate(s: Stack) -> str:
        target = s.find(name).inputs
        *parents, last = path.split(".")
        for p in parents:
            target = target[p]
        target[last] = value
        return name

    return mutate


def add_rule(type_token: str, name: str, inputs: dict) -> Callable[[Stack], str]:
    def mutate(s: Stack) -> str:
        s.records.append(rec(type_token, name, {"securityGroupId": "sg-1", "tags": tagged(), **inputs}))
        return name

    return mutate


def remove(name: str, anchor: str | None = None) -> Callable[[Stack], str | None]:
    def mutate(s: Stack) -> str | None:
        s.remove(name)
        return anchor

    return mutate


def patroni_edit(change, anchor: str = "pg-cluster-pg-1") -> Callable[[Stack], str]:
    def mutate(s: Stack) -> str:
        s.edit_patroni(change)
        return anchor

    return mutate


def pg_param(key: str, value) -> Callable[[Stack], str]:
    def change(doc):
        if value is None:
            doc["postgresql"]["parameters"].pop(key, None)
        else:
            doc["postgresql"]["parameters"][key] = value

    return patroni_edit(change)


def hba_lines(lines) -> Callable[[Stack], str]:
    return patroni_edit(lambda doc: doc["postgresql"].update(pg_hba=lines))


def node_files(extra: dict[str, str], nodes: int = 1) -> Callable[[Stack], str]:
    def mutate(s: Stack) -> str:
        for node in s.nodes[:nodes]:
            node.inputs["userDataBase64"] = node_user_data(node.inputs["privateIp"], extra=extra)
        return s.nodes[0].name

    return mutate


def alerts_without(alert: str) -> Callable[[Stack], None]:
    def mutate(s: Stack) -> None:
        doc = {"groups": [{"name": "pg", "rules": [r for r in ALERTS["groups"][0]["rules"] if r["alert"] != alert]}]}
        s.monitor.inputs["userDataBase64"] = monitoring_user_data(doc)

    return mutate


def keep_nodes(keep: int) -> Callable[[Stack], None]:
    def mutate(s: Stack) -> None:
        for n in s.nodes[keep:]:
            s.remove(n.name)
        s.nodes = s.nodes[:keep]

    return mutate


def same_zone(s: Stack) -> None:
    for n in s.nodes:
        n.property_dependencies["subnetId"] = [s.subnets[0].urn]


def bucket_policy(statement: dict) -> Callable[[Stack], None]:
    return set_input("pg-vault-tls-only", "policy", json.dumps({"Version": "2012-10-17", "Statement": [statement]}))


def lifecycle(rules: list[dict]) -> Callable[[Stack], None]:
    return set_input("pg-vault-lifecycle", "rules", rules)


def unprotect(name: str) -> Callable[[Stack], str]:
    def mutate(s: Stack) -> str:
        s.find(name).protect = False
        return name

    return mutate


def retention(kind: str, days: str) -> Callable[[Stack], str]:
    conf = (
        "[global]\nrepo1-type=s3\nrepo1-s3-bucket=pg-backups\n"
        f"repo1-retention-full-type={kind}\nrepo1-retention-full={days}\n"
    )
    return node_files({"/etc/pgbackrest/pgbackrest.conf": conf})


def secret_in_patroni(doc):
    doc["postgresql"]["authentication"]["superuser"]["password"] = "hunter2-literal"
