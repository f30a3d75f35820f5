"""etcd membership with real etcd nodes on loopback, each started by the node's own start script
(dataplane/etcd_member.py) as its unit runs it: a first bootstrap, HA switched on (members added to a cluster
of one), a member whose data was lost (removed and added again), data moved from its former directory (the
member keeps its identity) and a member leaving. Every process is stopped by its PID."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from dataplane_support import (
    as_postgres,
    chown_postgres,
    etcdctl,
    local_spec,
    prepare_member_dirs,
    stop,
    wait_for,
    write_file,
)

from dataplane import etcd
from dataplane.model import ClusterSpec, Member
from dataplane.node_files import node_file_mode, node_files
from dataplane.tls import issue


class Nodes:
    """etcd nodes of one test, by member name: started from what a node receives, stopped by PID."""

    def __init__(self) -> None:
        self.procs: dict[str, tuple[subprocess.Popen, Path]] = {}

    def start(self, spec: ClusterSpec, member: Member) -> None:
        for path, content in node_files(spec, member).items():
            if "etcd" in Path(path).name:
                write_file(Path(path), content, node_file_mode(spec, member, path))
        data = Path(spec.paths_for(member).etcd_data_dir)
        data.mkdir(parents=True, exist_ok=True)
        data.chmod(0o700)
        chown_postgres(data)
        log = Path(spec.paths_for(member).log_dir) / "etcd.log"
        with open(log, "a") as out:
            proc = subprocess.Popen(
                [*as_postgres(), *etcd.member_command(spec, member, "start")], stdout=out, stderr=subprocess.STDOUT
            )
        self.procs[member.name] = (proc, log)

    def wait_healthy(self, spec: ClusterSpec, member: Member, seconds: float = 40) -> None:
        proc, log = self.procs[member.name]
        wait_for(lambda: etcdctl(spec, member, "endpoint", "health").returncode == 0, seconds, member.name, proc, log)

    def stop(self, name: str) -> None:
        proc, _ = self.procs.pop(name)
        stop(proc)

    def log(self, name: str) -> str:
        return self.procs[name][1].read_text()

    def stop_all(self) -> None:
        for name in list(self.procs):
            self.stop(name)


def members(spec: ClusterSpec, via: Member) -> dict[str, str]:
    """name -> hex member ID, as `via` reports them (started members only have names)."""
    done = etcdctl(spec, via, "member", "list", "-w", "json")
    assert done.returncode == 0, done.stderr
    return {m.get("name", ""): format(int(m["ID"]), "x") for m in json.loads(done.stdout)["members"]}


@pytest.fixture
def spec3(workroot, request):
    root = workroot / f"etcd-{request.node.name[5:40]}"
    root.mkdir()
    root.chmod(0o755)
    spec = local_spec(root, "prod", 3)
    prepare_member_dirs(spec, issue(spec))
    return spec


@pytest.fixture
def nodes():
    started = Nodes()
    yield started
    started.stop_all()


def bootstrap(spec: ClusterSpec, nodes: Nodes) -> None:
    for m in spec.members:
        nodes.start(spec, m)
    for m in spec.members:
        nodes.wait_healthy(spec, m)


def test_three_members_bootstrap_together_and_a_member_with_lost_data_is_replaced(spec3, nodes):
    bootstrap(spec3, nodes)
    first, _, third = spec3.members
    before = members(spec3, first)
    assert sorted(before) == [m.name for m in spec3.members]
    # The third member's data volume is new (a replaced instance whose volume was lost).
    nodes.stop(third.name)
    shutil.rmtree(spec3.paths_for(third).etcd_data_dir)
    nodes.start(spec3, third)
    nodes.wait_healthy(spec3, third)
    after = members(spec3, first)
    assert sorted(after) == sorted(before)
    assert after[third.name] != before[third.name], "the member was added again, under a new ID"
    assert after[first.name] == before[first.name]
    assert "removing it to add it again" in nodes.log(third.name)
    assert "initial-cluster-state: existing" in Path(etcd.member_settings(spec3, third)["effective_config"]).read_text()


def test_ha_switched_on_adds_members_to_a_cluster_of_one(spec3, nodes):
    single = dataclasses.replace(spec3, members=spec3.members[:1])
    nodes.start(single, single.members[0])
    nodes.wait_healthy(single, single.members[0])
    assert list(members(single, single.members[0])) == [single.members[0].name]
    # The new members boot with the three-member rendering; the first keeps what it runs (a reload would not
    # change etcd: its initial cluster only matters at a bootstrap).
    for m in spec3.members[1:]:
        nodes.start(spec3, m)
    for m in spec3.members:
        nodes.wait_healthy(spec3, m, seconds=150)
    assert sorted(members(spec3, spec3.members[0])) == [m.name for m in spec3.members]
    done = etcdctl(spec3, spec3.members[0], "endpoint", "health", "--cluster")
    assert done.returncode == 0 and done.stderr.count("is healthy") == 3, done.stderr


def test_data_in_the_former_directory_moves_and_the_member_keeps_its_identity(spec3, nodes):
    bootstrap(spec3, nodes)
    first, second, _ = spec3.members
    before = members(spec3, first)
    nodes.stop(second.name)
    paths = spec3.paths_for(second)
    # As a member booted before the move left it: the data in the former directory, the new one empty.
    shutil.rmtree(paths.former_etcd_data_dir, ignore_errors=True)
    Path(paths.etcd_data_dir).rename(paths.former_etcd_data_dir)
    nodes.start(spec3, second)
    nodes.wait_healthy(spec3, second)
    assert members(spec3, first) == before
    assert f"moved etcd data from {paths.former_etcd_data_dir}" in nodes.log(second.name)
    assert not Path(paths.former_etcd_data_dir).exists()
    kept = list(Path(paths.former_etcd_data_dir).parent.glob(Path(paths.former_etcd_data_dir).name + ".moved-*"))
    assert kept, "the former directory is kept, renamed, until an operator removes it"


def test_a_leaving_member_is_removed_and_its_etcd_stops(spec3, nodes):
    bootstrap(spec3, nodes)
    first, _, third = spec3.members
    leave = subprocess.run(
        [*as_postgres(), *etcd.member_command(spec3, third, "leave")], capture_output=True, text=True, timeout=60
    )
    assert leave.returncode == 0, leave.stdout + leave.stderr
    assert "removed from the etcd cluster" in json.loads(leave.stdout)["actions"][0]
    assert sorted(members(spec3, first)) == [m.name for m in spec3.members[:2]]
    proc, _ = nodes.procs[third.name]
    proc.wait(30)  # a removed member's etcd exits by itself
    again = subprocess.run(
        [*as_postgres(), *etcd.member_command(spec3, third, "leave")], capture_output=True, text=True, timeout=60
    )
    assert json.loads(again.stdout)["actions"] == ["not a member of the etcd cluster"]
