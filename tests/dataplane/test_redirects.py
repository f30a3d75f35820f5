"""The members' port redirect, loaded by the real nft into a network namespace: a client in another namespace
connects to the read route's port and reaches the listener on PostgreSQL's port, from its own address."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import pytest

from dataplane.boot.redirects import RULESET_PATH, UNIT_PATH, nft_ruleset, port_redirects, redirect_files
from stacks.ports import PORTS

# Root, `ip` and `nft` come with scripts/bootstrap.sh (iproute2, nftables), as the other data-plane tests' binaries.
SERVER_IP, CLIENT_IP = "10.231.0.1", "10.231.0.2"


def sh(*argv: str, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(argv, check=check, capture_output=True, text=True, timeout=30, **kwargs)


@pytest.fixture
def namespaces():
    tag = uuid.uuid4().hex[:6]
    server, client = f"pgp-srv-{tag}", f"pgp-cli-{tag}"
    sh("ip", "netns", "add", server)
    sh("ip", "netns", "add", client)
    try:
        sh("ip", "link", "add", f"vs{tag}", "type", "veth", "peer", "name", f"vc{tag}")
        sh("ip", "link", "set", f"vs{tag}", "netns", server)
        sh("ip", "link", "set", f"vc{tag}", "netns", client)
        for ns, dev, ip in ((server, f"vs{tag}", SERVER_IP), (client, f"vc{tag}", CLIENT_IP)):
            sh("ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", dev)
            sh("ip", "-n", ns, "link", "set", dev, "up")
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        yield server, client
    finally:
        sh("ip", "netns", "del", server, check=False)
        sh("ip", "netns", "del", client, check=False)


def test_only_routes_whose_ports_differ_are_redirected():
    routes = {"write": (PORTS.write, PORTS.postgres), "read": (PORTS.read, PORTS.postgres)}
    assert port_redirects(routes) == {PORTS.read: PORTS.postgres}
    assert redirect_files({}) == []
    ruleset, unit = redirect_files({PORTS.read: PORTS.postgres})
    assert (ruleset.path, unit.path) == (RULESET_PATH, UNIT_PATH)
    assert f"ExecStart=/usr/sbin/nft -f {RULESET_PATH}" in unit.content and "Before=patroni.service" in unit.content


def test_the_read_port_reaches_postgres_port_from_the_clients_address(namespaces, tmp_path: Path):
    server, client = namespaces
    rules = tmp_path / "redirects.nft"
    rules.write_text(nft_ruleset({PORTS.read: PORTS.postgres}))
    # Loaded twice: the table is replaced whole, so a reboot's reload never stacks rules.
    for _ in range(2):
        sh("ip", "netns", "exec", server, "nft", "-f", str(rules))
    listed = sh("ip", "netns", "exec", server, "nft", "list", "table", "ip", "pg_platform").stdout
    assert listed.count("redirect to :5432") == 1

    seen: list[str] = []
    listener = subprocess.Popen(
        [
            "ip", "netns", "exec", server, "python3", "-c",
            "import socket,sys\n"
            "s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
            f"s.bind(('{SERVER_IP}', {PORTS.postgres})); s.listen(1); print('ready', flush=True)\n"
            "c,a=s.accept(); c.sendall(('hello '+a[0]).encode()); c.close()\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert listener.stdout is not None and listener.stdout.readline().strip() == "ready"
        reply = sh(
            "ip", "netns", "exec", client, "python3", "-c",
            f"import socket; s=socket.create_connection(('{SERVER_IP}', {PORTS.read}), timeout=5); "
            "print(s.recv(100).decode())",
        ).stdout.strip()  # fmt: skip
        seen.append(reply)
    finally:
        listener.kill()
        listener.wait(timeout=10)
    assert seen == [f"hello {CLIENT_IP}"]
