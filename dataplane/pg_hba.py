"""pg_hba.conf: TLS plus SCRAM for every network login, each role only from where it is used, then reject.

CIS PostgreSQL 5.3/5.4 (no trust/password/md5/ident on host lines), 7.1 (a replication-only role), 7.5
(replication over TLS). Order matters: PostgreSQL takes the first matching line, so the explicit rejects come
last and catch everything the lines above did not admit.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from dataplane.model import (
    MONITORING_USER,
    POOLER_AUTH_USER,
    REPLICATION_USER,
    REWIND_USER,
    SUPERUSER,
    ClusterSpec,
)
from dataplane.pgbouncer import pooled_databases, pooled_users

AUTH = "scram-sha-256"
REJECT_NETWORKS = ("0.0.0.0/0", "::/0")


@dataclass(frozen=True)
class HbaRule:
    kind: str  # local | hostssl | host
    database: str
    user: str
    address: str | None
    method: str
    comment: str = ""

    def line(self) -> str:
        cols = [self.kind, self.database, self.user] + ([self.address] if self.address else []) + [self.method]
        return "  ".join(cols)


def _cidr(host_or_cidr: str) -> str:
    """A member address as a one-host network; CIDRs pass through (normalised, so typos fail here)."""
    return str(ipaddress.ip_network(host_or_cidr, strict=False))


def _member_sources(host: str) -> tuple[str, ...]:
    # A connection to a loopback alias (127.0.0.2) leaves from 127.0.0.1, the route's source address, so a
    # sandbox member on an alias is seen by its peers as 127.0.0.1.
    net = _cidr(host)
    if ipaddress.ip_network(net).network_address.is_loopback and net.startswith("127."):
        return (net, "127.0.0.1/32")
    return (net,)


def hba_rules(spec: ClusterSpec) -> tuple[HbaRule, ...]:
    members = tuple(dict.fromkeys(src for m in spec.members for src in _member_sources(m.host)))
    clients = tuple(dict.fromkeys(_cidr(c) for c in spec.client_cidrs))
    for net in clients:
        if ipaddress.ip_network(net).prefixlen == 0:
            raise ValueError(f"client network {net} admits the whole internet; list the application networks")
    # Each database admits the login roles pooled into it: the application users into the application
    # database, a declared role into its own (pg-platform:postgresql.roles).
    pooled = {db: pooled_users(spec.declared, db) for db in pooled_databases(spec.declared)}
    logins = {db: ",".join(users) for db, users in pooled.items() if users}
    rules: list[HbaRule] = [
        # Patroni, pgBackRest and local maintenance run as the postgres OS user on the node itself.
        HbaRule("local", "all", SUPERUSER, None, "peer", "node-local administration, OS user must be postgres"),
        HbaRule("local", "replication", SUPERUSER, None, "peer", "pg_basebackup/pgBackRest on the node"),
    ]
    for net in members:
        rules += [
            HbaRule("hostssl", "replication", REPLICATION_USER, net, AUTH, "streaming replication between members"),
            HbaRule("hostssl", "postgres", REWIND_USER, net, AUTH, "pg_rewind of a former primary"),
            HbaRule("hostssl", "all", MONITORING_USER, net, AUTH, "postgres_exporter on the member"),
        ]
        for db, users in logins.items():
            rules += [
                HbaRule("hostssl", db, POOLER_AUTH_USER, net, AUTH, "PgBouncer auth_query lookups"),
                HbaRule("hostssl", db, users, net, AUTH, "application sessions pooled by PgBouncer"),
            ]
    for net in clients:
        rules += [
            HbaRule("hostssl", db, users, net, AUTH, "applications on the allowlist") for db, users in logins.items()
        ]
    rules += [HbaRule("host", "all", "all", net, "reject", "everything else") for net in REJECT_NETWORKS]
    return tuple(rules)


def hba_lines(spec: ClusterSpec) -> list[str]:
    """The rules as pg_hba lines (Patroni's `postgresql.pg_hba` takes this list)."""
    return [r.line() for r in hba_rules(spec)]


def render_pg_hba(spec: ClusterSpec) -> str:
    out = [
        f"# rendered by pg-platform dataplane for {spec.scope}; do not edit",
        "# TYPE  DATABASE  USER  ADDRESS  METHOD",
    ]
    for rule in hba_rules(spec):
        out += [f"# {rule.comment}", rule.line()] if rule.comment else [rule.line()]
    return "\n".join(out) + "\n"
