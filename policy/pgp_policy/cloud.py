"""What a rule every cloud shares needs to know about one cloud: the contract each cloud's adapter fills in
(`aws/adapter.py` today). A shared rule asks the adapter of a resource's provider package which resources are
nodes, where their user data is, which resource is the backup store, what an alarm watches; it never names a
cloud's type token itself."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .nodes import NodeFiles, read_node


@dataclass(frozen=True)
class RoutingCheck:
    """How a load balancer decides a target may receive traffic for one listener port."""

    traffic_port: int | None  # the port the target serves; None when the resource does not say
    protocol: str  # upper case: TCP, HTTP, HTTPS
    port: str  # the checked port, or "traffic-port"
    path: str  # without the query string
    enabled: Any  # as given: None when unset


@dataclass(frozen=True)
class Cloud:
    name: str  # rule ids and tags spell it: PGP-<NAME>-<FAMILY>-<NNN>
    packages: tuple[str, ...]  # provider packages whose type tokens are this cloud's ("aws" of "aws:s3/...")
    machine_types: frozenset[str]  # what runs a node: the members and the monitoring node
    boot_types: frozenset[str]  # what carries user data: machines and their templates
    user_data_keys: tuple[str, ...]  # inputs holding it (dotted when nested), plain or base64 (gzip allowed)
    zone: Callable[[Any], str | None]  # a machine's zone, from its inputs or its subnet
    vault_types: frozenset[str]  # the backup store (the bucket pgBackRest writes to)
    vault_name: Callable[[Any], str | None]  # the store's physical name, as pgBackRest names it
    repo_kind: str  # pgBackRest's repository type, for messages ("S3")
    repo_store_option: str  # the repoN-<option> naming the store ("s3-bucket")
    alarm_types: frozenset[str]  # the cloud's own alarms, which still page when the monitoring node is gone
    alarm_label: str  # for messages ("CloudWatch alarm")
    watches: Callable[[Any, Any], bool]  # whether an alarm's subject is this machine
    alarm_text: Callable[[Any], tuple[str, str]]  # (label, searchable text) of an alarm
    routing_checks: Callable[[str, Mapping[str, Any]], list[RoutingCheck]]
    credential_patterns: tuple[tuple[re.Pattern[str], str], ...]  # this cloud's keys, and what to call one
    secret_references: tuple[str, ...]  # regexes of values that name a secret in the cloud's store
    taggable: frozenset[str]  # types that take tags (or labels)
    tags: Callable[[Any, Any], dict[str, Any]]  # a resource's effective tags, given its provider
    stateful_types: tuple[str, ...]  # what holds data, keys or secrets: `protect` in prod
    holds_data: Callable[[Any], bool]  # a machine with data volumes attached

    def node(self, props: Mapping[str, Any]) -> NodeFiles:
        return read_node(props, self.user_data_keys)
