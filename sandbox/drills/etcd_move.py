"""etcd_move: every member's etcd data moved to another directory by the configure step, as a deployed stage
moves it from the root volume onto the data volume (Paths.etcd_data_dir), while a client writes through the
router. The roll-out restarts one member's etcd at a time, each only while the others are healthy, and the
start script moves the data before etcd starts, so every member keeps its etcd identity. The drill measures the
write outage, checks that the membership (member IDs) is unchanged and that the data lives where it was
rendered, then moves it back the same way and leaves the running configuration equal to the original one."""

from __future__ import annotations

import dataclasses
import json
import shutil
import ssl
import urllib.request
from pathlib import Path

from dataplane import etcd as etcd_render
from dataplane.etcd_member import has_data
from dataplane.model import ClusterSpec
from sandbox import configure
from sandbox.client import Sandbox
from sandbox.harness.outage import TIMED, run_change_with_writer, write_drill_result
from sandbox.harness.result import RECOVER_SECONDS, Drill, DrillOptions, DrillResult
from sandbox.tls_client import tls_context

NAME = "etcd_move"
MOVED_SUFFIX = "-volume"


def moved(spec: ClusterSpec, data_dir: str) -> ClusterSpec:
    """`spec` with etcd's data in `data_dir` (a member path template) and the current directory as the former."""
    paths = dataclasses.replace(spec.paths, etcd_data_dir=data_dir, former_etcd_data_dir=spec.paths.etcd_data_dir)
    return dataclasses.replace(spec, paths=paths)


def member_ids(spec: ClusterSpec, context: ssl.SSLContext) -> dict[str, str]:
    """name -> member ID as the first member's etcd reports them (the v3 gRPC gateway's member list)."""
    request = urllib.request.Request(
        f"{etcd_render.client_url(spec.members[0])}/v3/cluster/member/list", data=b"{}", method="POST"
    )
    with urllib.request.urlopen(request, timeout=5, context=context) as response:
        members = json.loads(response.read())["members"]
    return {m.get("name", ""): str(m["ID"]) for m in members}


def misplaced(spec: ClusterSpec) -> list[str]:
    return [m.name for m in spec.members if not has_data(spec.paths_for(m).etcd_data_dir)]


def remove_kept_former_dirs(spec: ClusterSpec) -> None:
    """The start script keeps a moved-from directory, renamed, for an operator: the drill is that operator."""
    for member in spec.members:
        former = Path(spec.paths_for(member).former_etcd_data_dir)
        for kept in former.parent.glob(f"{former.name}.moved-*"):
            shutil.rmtree(kept)


def etcd_move_drill(sandbox: Sandbox, options: DrillOptions) -> DrillResult:
    notes: list[str] = []
    sandbox.wait_healthy(RECOVER_SECONDS)
    original = sandbox.layout.spec
    there = moved(original, original.paths.etcd_data_dir + MOVED_SUFFIX)
    back = moved(there, original.paths.etcd_data_dir)
    context = tls_context(sandbox.layout, client_cert=True)
    before = member_ids(original, context)
    leader = sandbox.leader_member().name
    reports: list[configure.MemberReport] = []
    outage = run_change_with_writer(
        sandbox, NAME, lambda: reports.extend(configure.apply(there, say=notes.append)), notes
    )
    result = write_drill_result(NAME, sandbox, outage, leader, notes)
    after = member_ids(there, context)
    not_moved = misplaced(there)
    configure.apply(back, say=notes.append)
    restored = member_ids(original, context)
    not_back = misplaced(original)
    # The original rendering differs from `back` only in the former directory, which no restart needs.
    configure.apply(original, say=notes.append)
    remove_kept_former_dirs(there)
    remove_kept_former_dirs(back)
    unequal = [d for d in configure.diff(original) if d["files_differ"] or d["dcs_patch"]]
    result.measurements.update(
        etcd_restarts=sum(1 for r in reports if "etcd" in r.restart_needed),
        member_ids_kept=after == before == restored,
        data_where_rendered=not not_moved and not not_back,
        running_equals_rendered=not unequal,
    )
    if after != before or restored != before:
        notes.append(f"etcd membership changed: {before} -> {after} -> {restored}")
    notes += [f"{name}: etcd data not in the rendered directory" for name in not_moved + not_back]
    notes += [f"{d['member']} differs from its rendering: {d['files_differ']} {d['dcs_patch']}" for d in unequal]
    if after != before or restored != before or not_moved or not_back or unequal:
        result.passed = False
    return result


DRILL = Drill(NAME, etcd_move_drill, timed=TIMED)
