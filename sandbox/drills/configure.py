"""configure: a day-two change carried to the running members by the configure step (the path `pulumi up`
takes), with writes through the router: a wider allowlist (pg_hba), a PostgreSQL parameter (archive_timeout,
local to each member) and a Patroni timing (primary_start_timeout, in the DCS). All of them reload; the drill
measures the write outage, checks that every member runs what was rendered, that applying the same bundle
again changes nothing, and puts the original configuration back the same way."""

from __future__ import annotations

import dataclasses

from dataplane.model import ClusterSpec
from sandbox import configure, processes
from sandbox.client import Sandbox
from sandbox.harness.outage import TIMED, run_change_with_writer, write_drill_result
from sandbox.harness.result import RECOVER_SECONDS, Drill, DrillOptions, DrillResult
from sandbox.layout import LOOPBACK
from stacks.topology import Choice

NAME = "configure"
# A second loopback address: a client network the stage did not allow before the change.
ADDED_CLIENT = "127.0.0.2/32"


def changed(spec: ClusterSpec) -> ClusterSpec:
    topo = spec.topology
    return dataclasses.replace(
        spec,
        client_cidrs=(*spec.client_cidrs, ADDED_CLIENT),
        topology=dataclasses.replace(
            topo,
            archive_timeout=Choice(topo.archive_timeout.value + 1, "configure drill"),
            primary_start_timeout=Choice(topo.primary_start_timeout.value + 1, "configure drill"),
        ),
    )


def running_differences(sandbox: Sandbox, spec: ClusterSpec) -> list[str]:
    """Where a member runs something other than `spec` renders (each line names member and setting)."""
    problems = []
    wanted_archive = str(spec.topology.archive_timeout.value)
    wanted_client = ADDED_CLIENT.split("/")[0] in {c.split("/")[0] for c in spec.client_cidrs}
    for member in spec.members:
        archive = processes.psql(sandbox.layout, member, "select setting from pg_settings where name='archive_timeout'")
        if archive != wanted_archive:
            problems.append(f"{member.name}: archive_timeout {archive}, rendered {wanted_archive}")
        rules = processes.psql(
            sandbox.layout, member, f"select count(*) from pg_hba_file_rules where address = '{LOOPBACK}'"
        )
        added = processes.psql(
            sandbox.layout,
            member,
            f"select count(*) from pg_hba_file_rules where address = '{ADDED_CLIENT.split('/')[0]}'",
        )
        if (added != "0") != wanted_client or rules == "0":
            problems.append(f"{member.name}: pg_hba has {added} line(s) for {ADDED_CLIENT}, rendered {wanted_client}")
    status, config = sandbox.rest(spec.members[0], "/config")
    wanted_start = spec.topology.primary_start_timeout.value
    if status != 200 or not isinstance(config, dict) or config.get("primary_start_timeout") != wanted_start:
        problems.append(f"DCS primary_start_timeout is {config}, rendered {wanted_start}")
    return problems


def configure_drill(sandbox: Sandbox, options: DrillOptions) -> DrillResult:
    notes: list[str] = []
    sandbox.wait_healthy(RECOVER_SECONDS)
    original = sandbox.layout.spec
    target = changed(original)
    leader = sandbox.leader_member().name
    reports: list[configure.MemberReport] = []
    outage = run_change_with_writer(
        sandbox, NAME, lambda: reports.extend(configure.apply(target, say=notes.append)), notes
    )
    result = write_drill_result(NAME, sandbox, outage, leader, notes)
    differences = running_differences(sandbox, target)
    again = configure.apply(target, say=lambda _: None)
    idempotent = all(not r.written and not r.dcs_patch for r in again)
    configure.apply(original, say=notes.append)
    restored = running_differences(sandbox, original)
    result.measurements.update(
        members_changed=sum(1 for r in reports if r.written or r.dcs_patch),
        restart_needed=sorted({s for r in reports for s in r.restart_needed}) or "none",
        running_equals_rendered=not differences,
        second_apply_changed_nothing=idempotent,
        restored=not restored,
    )
    notes += differences + restored
    if differences or restored or not idempotent or any(r.restart_needed for r in reports):
        result.passed = False
    return result


DRILL = Drill(NAME, configure_drill, timed=TIMED)
