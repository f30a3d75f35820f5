"""tls_settings: pg-platform:tls carried by the configure step while a client writes through the router. The
lowest protocol goes from TLS 1.2 to TLS 1.3 (PostgreSQL's ssl_min_protocol_version, a reload; PgBouncer's
client and server protocols, a SIGHUP), and back. After each change every member must run what was rendered:
PostgreSQL's setting, PgBouncer's file, and both servers' handshakes, where a client offering only TLS 1.2 is
refused under TLS 1.3 and accepted again afterwards; the routed and pooled paths keep working throughout.

HAProxy is not part of the change: it passes client TCP through (clients negotiate with PostgreSQL or PgBouncer
themselves), and its only TLS is its own health check of Patroni's REST API."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from dataplane import pgbouncer
from dataplane import tls as tls_render
from dataplane.model import APP_READWRITE_USER, ClusterSpec
from sandbox import configure, processes
from sandbox.client import Sandbox, one_row
from sandbox.harness.outage import TIMED, run_change_with_writer, write_drill_result
from sandbox.harness.result import RECOVER_SECONDS, Drill, DrillOptions, DrillResult, objectives
from sandbox.tls_client import postgres_tls_version
from stacks.tls import PROTOCOLS, accepted_protocols

NAME = "tls_settings"
OLDEST, NEWEST = PROTOCOLS[0], PROTOCOLS[-1]


def strict(spec: ClusterSpec) -> ClusterSpec:
    return dataclasses.replace(spec, tls=dataclasses.replace(spec.tls, min_protocol_version=NEWEST))


def running_differences(sandbox: Sandbox, spec: ClusterSpec) -> list[str]:
    """Where a member runs other TLS than `spec` renders (each line names member, server and what differs)."""
    problems = []
    minimum = spec.tls.min_protocol_version
    accepted = accepted_protocols(minimum)
    for member in spec.members:
        shown = processes.psql(sandbox.layout, member, "show ssl_min_protocol_version")
        if shown != minimum:
            problems.append(f"{member.name}: ssl_min_protocol_version {shown}, rendered {minimum}")
        pending = processes.psql(sandbox.layout, member, "select count(*) from pg_settings where pending_restart")
        if pending != "0":
            problems.append(f"{member.name}: {pending} parameter(s) wait for a restart")
        path = Path(pgbouncer.config_path(spec, member))
        if path.read_text() != pgbouncer.render_pgbouncer_ini(spec, member):
            problems.append(f"{member.name}: {path} is not the rendered pgbouncer.ini")
        ca = tls_render.tls_files(spec, member).ca
        for server, port in (("postgresql", member.ports.postgres), ("pgbouncer", member.ports.pgbouncer)):
            for offered in PROTOCOLS:
                got = postgres_tls_version(member.host, port, ca, offered)
                if (got is not None) != (offered in accepted) or (got is not None and got != offered):
                    wanted = "accepted" if offered in accepted else "refused"
                    problems.append(f"{member.name} {server}: a {offered}-only client got {got}, rendered {wanted}")
    router = spec.router
    for path_name, port in (("routed", router.write_port), ("pooled", router.pooled_port)):
        try:
            with sandbox.connect(port, user=APP_READWRITE_USER, sslmode="verify-full") as conn:
                (version,) = one_row(conn, "select version from pg_stat_ssl where pid = pg_backend_pid()")
            if version not in accepted:
                problems.append(f"{path_name} session negotiated {version}, rendered {', '.join(accepted)}")
        except Exception as exc:  # the path itself failing is the finding
            problems.append(f"{path_name} session failed: {str(exc).strip()[:300]}")
    return problems


def tls_settings(sandbox: Sandbox, options: DrillOptions) -> DrillResult:
    notes: list[str] = []
    sandbox.wait_healthy(RECOVER_SECONDS)
    original = sandbox.layout.spec
    if original.tls.min_protocol_version != OLDEST:
        raise RuntimeError(f"the tls_settings drill starts from the default minimum {OLDEST}")
    target = strict(original)
    leader = sandbox.leader_member().name
    rto = objectives(sandbox).rto_seconds
    before = running_differences(sandbox, original)

    def change(spec: ClusterSpec, reports: list[configure.MemberReport]):
        return run_change_with_writer(
            sandbox, NAME, lambda: reports.extend(configure.apply(spec, say=notes.append)), notes
        )

    applied: list[configure.MemberReport] = []
    outage = change(target, applied)
    result = write_drill_result(NAME, sandbox, outage, leader, notes)
    differences = running_differences(sandbox, target)
    restored_reports: list[configure.MemberReport] = []
    back = change(original, restored_reports)
    restored = running_differences(sandbox, original)
    restarts = sorted({s for r in (*applied, *restored_reports) for s in r.restart_needed})
    result.measurements.update(
        members_changed=sum(1 for r in applied if r.written),
        restart_needed=restarts or "none",
        tls12_accepted_before=not before,
        running_equals_rendered=not differences,
        restored_outage_s=back.write_outage_seconds if back.write_outage_seconds is not None else "never",
        restored_lost=back.lost,
        restored=not restored,
    )
    notes += [f"before: {d}" for d in before] + differences + [f"after restoring: {d}" for d in restored]
    slow_back = back.write_outage_seconds is None or back.write_outage_seconds > rto
    if before or differences or restored or restarts or back.lost or slow_back:
        result.passed = False
    return result


DRILL = Drill(NAME, tls_settings, timed=(*TIMED, "restored_outage_s"))
