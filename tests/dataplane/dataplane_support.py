"""Helpers for the data-plane tests: specs from the real stack files, real binaries run as postgres."""

from __future__ import annotations

import dataclasses
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from components.aws.spec import aws_cluster_spec as cloud_cluster_spec
from dataplane.boot.aws import AwsBoot
from dataplane.boot.member import NodeBoot
from dataplane.boot.monitoring import MonitoringBoot
from dataplane.model import SECRET_ENV, ClusterSpec, Member, MemberPorts, Paths, PosixRepository, Router
from dataplane.tls import member_tls_contents, tls_files
from stacks.offline import settings_for_stack
from stacks.sizes import SANDBOX_SIZE
from stacks.topology import Topology, derive_topology

PG_MAJOR = 15
PG_BIN = Path(f"/usr/lib/postgresql/{PG_MAJOR}/bin")
PATRONI = Path("/opt/pg-platform/patroni/bin/patroni")
TEST_ACCOUNT = "123456789012"


# The stack file as the program reads it (one decoder for program, tools and tests).
settings_for = settings_for_stack


def topology_for(stack: str) -> Topology:
    return derive_topology(settings_for(stack))


def sandbox_topology(stack: str) -> Topology:
    return dataclasses.replace(topology_for(stack), node_size=SANDBOX_SIZE, postgres_major=PG_MAJOR)


def cloud_spec(stack: str) -> ClusterSpec:
    """The spec the AWS component builds (components/spec.py), with the vault key the nodes receive at boot."""
    settings = settings_for(stack)
    spec = cloud_cluster_spec(settings, derive_topology(settings), TEST_ACCOUNT)
    key = f"arn:aws:kms:{settings.region}:{TEST_ACCOUNT}:key/0000-1111"
    return dataclasses.replace(
        spec, repositories=AwsBoot(region=settings.region, kms_key_id=key).repositories(spec.repositories)
    )


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    socks, ports = [], []
    for _ in range(count):
        s = socket.socket()
        s.bind((host, 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def local_spec(root: Path, stack: str, members: int, hosts: list[str] | None = None) -> ClusterSpec:
    """A spec for this machine: members on loopback addresses, directories per member under `root`."""
    hosts = hosts or [f"127.0.0.{i + 2}" for i in range(members)]
    topo = sandbox_topology(stack)
    ports = free_ports(members * 8)
    mems = []
    for i in range(members):
        p = ports[i * 8 : (i + 1) * 8]
        mems.append(
            Member(
                name=f"node{i + 1}",
                host=hosts[i],
                zone=f"zone-{i + 1}",
                ports=MemberPorts(
                    postgres=p[0],
                    patroni_rest=p[1],
                    etcd_client=p[2],
                    etcd_peer=p[3],
                    pgbouncer=p[4],
                    postgres_exporter=p[5],
                    node_exporter=p[6],
                    pgbackrest_server=p[7],
                ),
            )
        )
    r = free_ports(4)
    base = str(root / "{member}")
    paths = Paths(
        config_dir=f"{base}/etc",
        data_dir=f"{base}/data",
        log_dir=f"{base}/log",
        run_dir=f"{base}/run",
        etcd_data_dir=f"{base}/etcd",
        former_etcd_data_dir=f"{base}/etcd-former",
        pgbackrest_spool_dir=f"{base}/spool",
        pgbackrest_lock_dir=f"{base}/lock",
    )
    return ClusterSpec(
        scope="pgp-test",
        topology=topo,
        members=tuple(mems),
        repositories=(PosixRepository(path=str(root / "repo")),),
        router=Router(host="127.0.0.1", write_port=r[0], read_port=r[1], pooled_port=r[2], stats_port=r[3]),
        paths=paths,
        client_cidrs=("127.0.0.1/32",),
    )


POSTGRES = pwd.getpwnam("postgres")


def chown_postgres(*paths: Path) -> None:
    for p in paths:
        os.chown(p, POSTGRES.pw_uid, POSTGRES.pw_gid)


def write_file(path: Path, content: str | bytes, mode: int = 0o600, owner_postgres: bool = True) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    path.chmod(mode)
    if owner_postgres:
        chown_postgres(path)
    return path


def prepare_member_dirs(spec: ClusterSpec, issued) -> None:
    """Directories and TLS files a node's boot step creates, owned by postgres."""
    for m in spec.members:
        paths = spec.paths_for(m)
        for d in (
            paths.config_dir,
            paths.log_dir,
            paths.run_dir,
            paths.pgbackrest_spool_dir,
            paths.pgbackrest_lock_dir,
            f"{paths.log_dir}/pgbackrest",
            f"{paths.log_dir}/patroni",
        ):
            Path(d).mkdir(parents=True, exist_ok=True)
            chown_postgres(Path(d))
        for d in (Path(paths.config_dir).parent, Path(paths.config_dir) / "tls"):
            d.mkdir(parents=True, exist_ok=True)
            chown_postgres(d)
        for path, pem in member_tls_contents(spec, m, issued).items():
            write_file(Path(path), pem, 0o600)


def as_postgres() -> list[str]:
    # setpriv execs in place, so the PID we keep is the service's own.
    return ["setpriv", "--reuid", "postgres", "--regid", "postgres", "--init-groups", "--"]


def wait_for(predicate, timeout: float, what: str, proc: subprocess.Popen | None = None, log: Path | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if proc is not None and proc.poll() is not None:
            break
        time.sleep(0.1)
    detail = log.read_text()[-3000:] if log and log.exists() else ""
    raise AssertionError(f"{what} did not come up within {timeout}s (exit {proc.poll() if proc else None})\n{detail}")


def port_open(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 15) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


# Throwaway values for every secret a node's environment carries; tests assert none of them leaks into files.
TEST_SECRETS = {var: f"test-{name}-{i:02d}-S3cr3t" for i, (name, var) in enumerate(SECRET_ENV.items())}


def secret_env(**extra: str) -> dict[str, str]:
    return {**os.environ, **TEST_SECRETS, **extra}


def run_checked(cmd: list[str], env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    assert result.returncode == 0, f"{cmd} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
    return result


def etcdctl(spec: ClusterSpec, member: Member, *args: str, client_cert: bool = True) -> subprocess.CompletedProcess:
    t = tls_files(spec, member)
    auth = [f"--cert={t.client_cert}", f"--key={t.client_key}"] if client_cert else []
    return subprocess.run(
        [
            "etcdctl",
            f"--endpoints=https://{member.host}:{member.ports.etcd_client}",
            f"--cacert={t.ca}",
            "--dial-timeout=2s",
            "--command-timeout=3s",
            *auth,
            *args,
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "ETCDCTL_API": "3"},
    )


# The boot tests (test_boot_*.py): AWS references of the real shapes, cloud-init's validator, throwaway gpg keys.
HOOK_ARN = "arn:aws:secretsmanager:eu-central-1:123456789012:secret:pgp/webhook-AbCdEf"


def boot_for(spec) -> NodeBoot:
    return NodeBoot(
        cloud=AwsBoot(region="eu-central-1"),
        secret_refs={
            n: f"arn:aws:secretsmanager:eu-central-1:123456789012:secret:{spec.scope}/{n}-AbCdEf" for n in SECRET_ENV
        },
        tls_secret_refs={
            m.name: f"arn:aws:secretsmanager:eu-central-1:123456789012:secret:{spec.scope}/tls-{m.name}"
            for m in spec.members
        },
    )


def monitoring_boot(stack: str, **changes) -> MonitoringBoot:
    mon = settings_for(stack).monitoring
    hooks = {r.name: f"{HOOK_ARN}-{r.name}" for r in mon.receivers if r.webhook_url}
    return MonitoringBoot(
        **{
            "cloud": AwsBoot(region="eu-central-1"),
            "smtp_smarthost": mon.smtp_smarthost,
            "smtp_from": mon.smtp_from,
            "ca_cert_pem": "-----BEGIN CERTIFICATE-----\n",
            "webhook_secret_refs": hooks,
            **changes,
        }
    )


def cloud_init_schema(tmp_path: Path, text: str) -> subprocess.CompletedProcess:
    path = tmp_path / "user-data.yml"
    path.write_text(text)
    return subprocess.run(["cloud-init", "schema", "--config-file", str(path)], capture_output=True, text=True)


needs_cloud_init = pytest.mark.skipif(
    shutil.which("cloud-init") is None, reason="cloud-init (Debian package) provides the schema validator"
)


def gpg_key(home: Path, name: str) -> str:
    gpg = ["gpg", "--homedir", str(home), "--batch", "--pinentry-mode", "loopback", "--passphrase", ""]
    subprocess.run(
        [*gpg, "--quick-gen-key", f"{name} <{name}@example.com>", "ed25519", "sign", "never"],
        check=True,
        capture_output=True,
    )
    return subprocess.run([*gpg, "--armor", "--export"], check=True, capture_output=True, text=True).stdout


def psql_on(spec, member, sql: str, db: str = "postgres", env: dict | None = None) -> str:
    """SQL as the superuser over the member's socket, unaligned and without headers."""
    argv = [*as_postgres(), "psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-h", spec.paths_for(member).run_dir]
    return run_checked([*argv, "-p", str(member.ports.postgres), "-d", db, "-c", sql], env=env).stdout


def psql_local(spec, sql: str, db: str = "postgres") -> str:
    return psql_on(spec, spec.members[0], sql, db)


def psql_tcp(
    spec, user: str, sslmode: str, password: str = "x", db: str = "app", extra: str = ""
) -> subprocess.CompletedProcess:
    return psql_sql(
        spec,
        user,
        password,
        "select current_user, ssl from pg_stat_ssl where pid = pg_backend_pid()",
        db=db,
        sslmode=sslmode,
        extra=extra,
    )


def psql_sql(
    spec,
    user: str,
    password: str,
    sql: str,
    db: str = "app",
    port: int | None = None,
    sslmode: str = "require",
    extra: str = "",
) -> subprocess.CompletedProcess:
    """A network session as `user` (TLS per sslmode, SCRAM), as applications and PgBouncer clients connect."""
    m = spec.members[0]
    return subprocess.run(
        [
            "psql",
            "-X",
            "-At",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            sql,
            f"host={m.host} port={port or m.ports.postgres} dbname={db} user={user} "
            f"sslmode={sslmode} connect_timeout=5{extra}",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PGPASSWORD": password},
        timeout=30,
    )


def expand_annotations(rule: dict, labels: dict[str, str], value: str | None = None) -> dict[str, str]:
    """The rule's annotations as Prometheus renders them for one alert: `{{ $labels.x }}` from `labels`, and
    `{{ $value ... }}` as `value`, the caller's rendering of the synthetic value (humanize and its kin)."""
    import re

    def one(text: str) -> str:
        text = re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: labels.get(m.group(1), ""), text)
        return re.sub(r"\{\{ \$value(?: \| \w+)? \}\}", lambda m: value or "", text)

    return {k: one(v) for k, v in rule["annotations"].items()}


def promtool_case(rule: dict, at: str, labels: dict | None, value: str = "") -> dict:
    """A promtool alert test case: at `at`, `rule` fires once with `labels` (and its own), or not at all (None)."""
    alerts = (
        []
        if labels is None
        else [{"exp_labels": {**labels, **rule["labels"]}, "exp_annotations": expand_annotations(rule, labels, value)}]
    )
    return {"eval_time": at, "alertname": rule["alert"], "exp_alerts": alerts}
