"""Bring the sandbox up, report on it, take it down.

Each member's files come from the dataplane renderers, written under that member's own paths
(ClusterSpec.paths_for); the services are started from them in the order a node boots: TLS material,
the DCS, the object store, Patroni (which initdb's or clones PostgreSQL), the backup stanza, roles, then
the pooler, the router and monitoring.
"""
from __future__ import annotations

import json
import os
import shutil
import ssl
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from dataplane import etcd as etcd_render
from dataplane import patroni as patroni_render
from dataplane import pgbackrest as pgbackrest_render
from dataplane import tls as tls_render
from dataplane.model import SECRET_ENV, Member
from sandbox import s3
from sandbox import secrets as sandbox_secrets
from sandbox.layout import LOOPBACK, LOOPBACK_DNS, SandboxLayout
from sandbox.pki import LocalCA
from sandbox.supervisor import (SERVICE_USER, Service, ServiceError, Supervisor, chown_service_user,
                                listening_ports, port_open, processes_mentioning, stop_postmaster, wait_until)

REQUIRED_BINARIES = ("etcd", "etcdctl", "pgbackrest", "/usr/sbin/haproxy", "/usr/sbin/pgbouncer", "prometheus",
                     "prometheus-alertmanager", "prometheus-postgres-exporter", "prometheus-node-exporter",
                     "setpriv")
BOOTSTRAP_SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "bootstrap.sh"
ETCD_READY_SECONDS = 30
PATRONI_HEALTHY_SECONDS = 120
COMMAND_TIMEOUT_SECONDS = 300
PGBACKREST_LOCK_ERROR = 50
STANZA_LOCK_RETRIES = 15


def supervisor(layout: SandboxLayout) -> Supervisor:
    return Supervisor(layout.state_dir, layout.log_dir)


def etcd_name(member: Member) -> str:
    return f"etcd-{member.name}"


def patroni_name(member: Member) -> str:
    return f"patroni-{member.name}"


# --- files ---------------------------------------------------------------------------------------------
def write_file(path: str | Path, content: str | bytes, mode: int = 0o640, service_owned: bool = True) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = content.encode() if isinstance(content, str) else content
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.chmod(tmp, mode)
    if service_owned:
        chown_service_user(tmp)
    tmp.replace(path)


def service_dir(path: str | Path, mode: int = 0o750) -> Path:
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, mode)
    chown_service_user(path)
    return path


def prepare_directories(layout: SandboxLayout) -> None:
    service_dir(layout.root, 0o755)
    for d in (layout.state_dir, layout.log_dir, layout.shared_config_dir, layout.posix_repo_dir,
              layout.monitoring_dir):
        service_dir(d)
    service_dir(layout.root / "members", 0o755)
    for member in layout.spec.members:
        paths = layout.member_paths(member.name)
        service_dir(layout.member_root(member.name), 0o755)
        for d in (paths.config_dir, paths.log_dir, paths.run_dir, paths.etcd_data_dir,
                  paths.pgbackrest_spool_dir, paths.pgbackrest_lock_dir):
            service_dir(d)
        for sub in ("patroni", "pgbackrest", "postgresql"):
            service_dir(Path(paths.log_dir) / sub)
        service_dir(Path(tls_render.tls_files(layout.spec, member).key).parent, 0o700)
        # initdb and pgBackRest insist on 0700 for the data directory.
        service_dir(paths.data_dir, 0o700)


def issue_tls(layout: SandboxLayout) -> LocalCA:
    """The cluster's certificates from dataplane.tls's requests, signed by a CA kept in the sandbox root."""
    spec = layout.spec
    requests = tls_render.certificate_requests(spec)
    ca_request = next(r for r in requests if r.is_ca)
    ca = LocalCA(layout.tls_dir, common_name=ca_request.common_name, validity_days=ca_request.validity_days).ensure()
    issued: dict[str, tls_render.IssuedPair] = {
        ca_request.name: tls_render.IssuedPair(ca.cert_path.read_bytes(), ca.key_path.read_bytes())}
    for req in requests:
        if req.is_ca:
            continue
        pair = ca.issue(req.name, req.common_name, req.dns_names, req.ip_addresses, server=req.server,
                        client=req.client, validity_days=req.validity_days)
        issued[req.name] = tls_render.IssuedPair(pair.cert.read_bytes(), pair.key.read_bytes())
    for member in spec.members:
        for path, pem in tls_render.member_tls_contents(spec, member, issued).items():
            is_key = path.endswith(".key")
            write_file(path, pem, 0o600 if is_key else 0o644)
    # pgBackRest's S3 client checks the DNS name it dialled, and the emulator is reached as `localhost`.
    ca.issue("s3-endpoint", LOOPBACK_DNS, dns_names=(LOOPBACK_DNS,), ip_addresses=(LOOPBACK,), client=False)
    return ca


def secret_values(layout: SandboxLayout) -> dict[str, str]:
    """secret name -> value: SECRET_ENV's generated passwords plus the emulator's shared S3 keys."""
    env_values = sandbox_secrets.load_or_create(layout.secrets_file)
    by_name = {name: env_values[env] for name, env in SECRET_ENV.items()}
    for i, repo in enumerate(layout.spec.repositories, start=1):
        if repo.kind == "s3" and repo.key_type == "shared":
            by_name[f"repo{i}-s3-key"] = s3.EMULATOR_ACCESS_KEY
            by_name[f"repo{i}-s3-key-secret"] = s3.EMULATOR_SECRET_KEY
    return by_name


def node_environment(layout: SandboxLayout) -> dict[str, str]:
    """What a node's boot step writes into Paths.secrets_env from its secrets store: every SECRET_ENV
    variable and the repositories' variables. Units (and the backup cron) load exactly this."""
    values = secret_values(layout)
    wanted = {var: name for name, var in SECRET_ENV.items()} | pgbackrest_render.repo_environment(layout.spec)
    return {var: values[name] for var, name in wanted.items()}


def environment_file(path: str | Path) -> dict[str, str]:
    """KEY=value lines as systemd's EnvironmentFile= reads them (one level of quotes removed)."""
    env = {}
    for line in Path(path).read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            env[key.strip()] = value
    return env


def write_member_files(layout: SandboxLayout, member: Member) -> None:
    """The member's files exactly as cloud-init writes them (node_files), its secrets environment as the
    boot step writes it, then the templates filled by the same commands the node's secrets unit runs."""
    from dataplane import node_files as node_files_render
    spec = layout.spec
    for path, content in node_files_render.node_files(spec, member).items():
        write_file(path, content, node_files_render.node_file_mode(spec, member, path))
    env = node_environment(layout)
    write_file(layout.member_paths(member.name).secrets_env,
               "".join(f"{var}='{value}'\n" for var, value in sorted(env.items())), 0o600)
    for command in node_files_render.render_secret_files_commands(spec, member):
        run_as_service_user(command, env=env, timeout=30)


# --- TLS clients for the services' HTTPS endpoints -----------------------------------------------------
def tls_context(layout: SandboxLayout, client_cert: bool = False) -> ssl.SSLContext:
    member = layout.spec.members[0]
    files = tls_render.tls_files(layout.spec, member)
    ctx = ssl.create_default_context(cafile=files.ca)
    if client_cert:
        ctx.load_cert_chain(files.client_cert, files.client_key)
    return ctx


def https_ok(url: str, ctx: ssl.SSLContext, timeout: float = 1.0) -> bool:
    with urllib.request.urlopen(url, context=ctx, timeout=timeout) as response:
        return response.status == 200


# --- services ------------------------------------------------------------------------------------------
def etcd_service(layout: SandboxLayout, member: Member) -> Service:
    from dataplane.node_files import etcd_config_path
    return Service(name=etcd_name(member), argv=["etcd", "--config-file", etcd_config_path(layout.spec, member)])


def patroni_service(layout: SandboxLayout, member: Member) -> Service:
    paths = layout.member_paths(member.name)
    ctx = tls_context(layout)
    url = f"{patroni_render.rest_url(member)}/liveness"
    return Service(name=patroni_name(member), argv=[paths.patroni_bin, patroni_render.config_path(layout.spec, member)],
                   env=environment_file(paths.secrets_env), ready=lambda: https_ok(url, ctx), ready_timeout=30)


def run_as_service_user(argv: list[str], env: dict[str, str] | None = None, timeout: float = COMMAND_TIMEOUT_SECONDS,
                        check: bool = True, input_text: str | None = None) -> subprocess.CompletedProcess:
    full = ["setpriv", f"--reuid={SERVICE_USER}", f"--regid={SERVICE_USER}", "--init-groups", "--"] + argv \
        if os.geteuid() == 0 else argv
    base_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "HOME": "/var/lib/postgresql"}
    result = subprocess.run(full, env={**base_env, **(env or {})}, capture_output=True, text=True, timeout=timeout,
                            input=input_text, cwd="/")
    if check and result.returncode != 0:
        raise ServiceError(f"{' '.join(argv[:4])} ... failed ({result.returncode}):\n{result.stderr or result.stdout}")
    return result


def pgbackrest(layout: SandboxLayout, member: Member, *args: str, timeout: float = COMMAND_TIMEOUT_SECONDS,
               check: bool = True) -> subprocess.CompletedProcess:
    paths = layout.member_paths(member.name)
    argv = [paths.pgbackrest_bin, f"--config={pgbackrest_render.config_path(layout.spec, member)}",
            f"--stanza={layout.spec.stanza}", *args]
    return run_as_service_user(argv, env=node_environment(layout), timeout=timeout, check=check)


def psql(layout: SandboxLayout, member: Member, sql: str, dbname: str = "postgres",
         timeout: float = 60, env: dict[str, str] | None = None) -> str:
    """SQL as the superuser over the member's socket (peer): the superuser has no network login."""
    paths = layout.member_paths(member.name)
    argv = [f"{paths.postgres_bin_dir}/psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
            "-h", paths.run_dir, "-p", str(member.ports.postgres), "-d", dbname, "-f", "-"]
    return run_as_service_user(argv, env=env, timeout=timeout, input_text=sql).stdout.strip()


def apply_roles(layout: SandboxLayout) -> None:
    """The member's rendered roles.sql on the leader, as the post-provision step runs it: passwords come
    from the secrets environment (the script reads them with printenv), never from a command line."""
    from dataplane.node_files import roles_sql_path
    from sandbox.client import Sandbox
    leader = Sandbox(layout).leader_member()
    psql(layout, leader, Path(roles_sql_path(layout.spec, leader)).read_text(), env=node_environment(layout))


def pgbouncer_name(member: Member) -> str:
    return f"pgbouncer-{member.name}"


def pgbouncer_service(layout: SandboxLayout, member: Member) -> Service:
    from dataplane import pgbouncer as pgbouncer_render
    port = member.ports.pgbouncer
    return Service(name=pgbouncer_name(member),
                   argv=["/usr/sbin/pgbouncer", pgbouncer_render.config_path(layout.spec, member)],
                   ready=lambda: port_open(port), ready_timeout=15)


def start_poolers(layout: SandboxLayout, sup: Supervisor) -> None:
    for member in layout.spec.members:
        sup.start(pgbouncer_service(layout, member))


def router_config_path(layout: SandboxLayout) -> Path:
    return layout.shared_config_dir / "haproxy.cfg"


def router_service(layout: SandboxLayout) -> Service:
    from dataplane import haproxy as haproxy_render
    config = router_config_path(layout)
    write_file(config, haproxy_render.render_haproxy_config(layout.spec, str(layout.tls_dir / "ca.crt")))
    return Service(name="router-haproxy", argv=["/usr/sbin/haproxy", "-db", "-f", str(config)],
                   ready=lambda: port_open(layout.spec.router.stats_port), ready_timeout=15)


def router_servers_up(layout: SandboxLayout, backend: str) -> list[str]:
    """Servers HAProxy currently sends `backend` traffic to, from its stats CSV."""
    url = f"http://{LOOPBACK}:{layout.spec.router.stats_port}/stats;csv"
    with urllib.request.urlopen(url, timeout=2) as response:
        rows = response.read().decode().splitlines()
    header = rows[0].lstrip("# ").split(",")
    up = []
    for row in rows[1:]:
        cols = dict(zip(header, row.split(",")))
        if cols.get("pxname") == backend and cols.get("svname") not in ("FRONTEND", "BACKEND") \
                and cols.get("status") == "UP":
            up.append(cols["svname"])
    return up


def start_router(layout: SandboxLayout, sup: Supervisor) -> None:
    sup.start(router_service(layout))
    wait_until(lambda: len(router_servers_up(layout, "primary")) == 1, 30,
               "router sending the write port to exactly one primary", interval=0.2)


# --- monitoring ----------------------------------------------------------------------------------------
# The sandbox's alert receiver replaces the stack's (e-mail and external webhooks are never called from here).
SANDBOX_RECEIVER_NAME = "sandbox-webhook"
# Prometheus otherwise re-sends firing alerts only every minute and may drop the first one sent before
# Alertmanager answers; a short delay lets the alert drill see delivery within the rule's window.
ALERT_RESEND_DELAY = "5s"


def exporter_name(member: Member) -> str:
    return f"postgres-exporter-{member.name}"


def postgres_exporter_service(layout: SandboxLayout, member: Member) -> Service:
    from dataplane import exporters as exporters_render
    spec = layout.spec
    port = member.ports.postgres_exporter
    return Service(name=exporter_name(member),
                   argv=["prometheus-postgres-exporter", *exporters_render.postgres_exporter_args(spec, member)],
                   env=environment_file(exporters_render.env_file_path(spec, member)),
                   ready=lambda: port_open(port), ready_timeout=15)


NODE_EXPORTER_BINARY = "prometheus-node-exporter"


def node_exporter_name(member: Member) -> str:
    return f"node-exporter-{member.name}"


def node_exporter_service(layout: SandboxLayout, member: Member) -> Service:
    """Host metrics plus the textfile the node metrics script writes (last backups, certificate expiry);
    the script runs once here, where a node's timer would run it every few minutes."""
    from dataplane import exporters as exporters_render
    spec = layout.spec
    service_dir(exporters_render.textfile_dir(spec, member))
    run_as_service_user(exporters_render.node_metrics_command(spec, member), env=node_environment(layout))
    port = member.ports.node_exporter
    return Service(name=node_exporter_name(member),
                   argv=[NODE_EXPORTER_BINARY, *exporters_render.node_exporter_args(spec, member)],
                   ready=lambda: port_open(port), ready_timeout=15)


def sandbox_receivers(layout: SandboxLayout) -> list:
    from stacks.settings import Receiver
    url = f"http://{LOOPBACK}:{layout.service_port('alert_webhook')}/alerts"
    return [Receiver(name=SANDBOX_RECEIVER_NAME, email=None, webhook_url=url)]


def alert_deliveries_file(layout: SandboxLayout) -> Path:
    return layout.monitoring_dir / "webhook-deliveries.jsonl"


def rules_file(layout: SandboxLayout) -> Path:
    return layout.monitoring_dir / "alert-rules.yml"


def monitoring_services(layout: SandboxLayout) -> list[Service]:
    from dataplane import alertmanager as alertmanager_render
    from dataplane import prometheus as prometheus_render
    spec = layout.spec
    mon = layout.monitoring_dir
    webhook_port = layout.service_port("alert_webhook")
    deliveries = alert_deliveries_file(layout)
    if not deliveries.exists():
        write_file(deliveries, "", 0o640)
    webhook = Service(name="alert-webhook", argv=[sys.executable, str(Path(__file__).with_name("webhook.py")),
                                                  "--port", str(webhook_port), "--out", str(deliveries)],
                      ready=lambda: port_open(webhook_port), ready_timeout=15)

    am_config = mon / "alertmanager.yml"
    write_file(am_config, alertmanager_render.render_alertmanager_config(spec, sandbox_receivers(layout)))
    am_port = layout.alertmanager_port
    alertmanager = Service(name="alertmanager", argv=[
        "prometheus-alertmanager", f"--config.file={am_config}", f"--storage.path={service_dir(mon / 'alertmanager')}",
        f"--web.listen-address={LOOPBACK}:{am_port}",
        # An empty address turns gossip off: a single instance must not listen on all interfaces.
        "--cluster.listen-address="],
        ready=lambda: http_ok(f"http://{LOOPBACK}:{am_port}/-/ready"), ready_timeout=30)

    write_file(rules_file(layout), prometheus_render.render_alert_rules(spec))
    prom_config = mon / "prometheus.yml"
    targets = prometheus_render.ScrapeTargets(prometheus=f"{LOOPBACK}:{layout.prometheus_port}",
                                              alertmanagers=(f"{LOOPBACK}:{am_port}",),
                                              router_metrics=f"{LOOPBACK}:{spec.router.stats_port}")
    write_file(prom_config, prometheus_render.render_prometheus_config(
        spec, targets, (str(rules_file(layout)),), str(layout.tls_dir / "ca.crt")))
    prom_port = layout.prometheus_port
    prometheus = Service(name="prometheus", argv=[
        "prometheus", f"--config.file={prom_config}", f"--storage.tsdb.path={service_dir(mon / 'prometheus')}",
        f"--web.listen-address={LOOPBACK}:{prom_port}", "--storage.tsdb.retention.time=2d",
        f"--rules.alert.resend-delay={ALERT_RESEND_DELAY}"],
        ready=lambda: http_ok(f"http://{LOOPBACK}:{prom_port}/-/ready"), ready_timeout=30)
    return [webhook, alertmanager, prometheus]


def http_ok(url: str, timeout: float = 1.0) -> bool:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.status == 200


def start_monitoring(layout: SandboxLayout, sup: Supervisor) -> None:
    for member in layout.spec.members:
        sup.start(postgres_exporter_service(layout, member))
    for member in layout.spec.members:
        sup.start(node_exporter_service(layout, member))
    for service in monitoring_services(layout):
        sup.start(service)


# --- bring-up ------------------------------------------------------------------------------------------
@dataclass
class StepTimer:
    say: Callable[[str], None]
    started: float = field(default_factory=time.monotonic)
    steps: list[tuple[str, float]] = field(default_factory=list)

    def step(self, what: str, action: Callable[[], object]) -> object:
        t0 = time.monotonic()
        result = action()
        took = time.monotonic() - t0
        self.steps.append((what, took))
        self.say(f"  {what:<48} {took:6.1f} s")
        return result

    @property
    def total(self) -> float:
        return time.monotonic() - self.started


def missing_binaries() -> list[str]:
    return [b for b in REQUIRED_BINARIES if shutil.which(b) is None]


def ensure_installed(say: Callable[[str], None]) -> None:
    missing = missing_binaries()
    patroni_missing = not Path("/opt/pg-platform/patroni/bin/patroni").exists()
    if missing or patroni_missing:
        say(f"missing {', '.join(missing) or 'patroni'}: running {BOOTSTRAP_SCRIPT}")
        subprocess.run(["bash", str(BOOTSTRAP_SCRIPT)], check=True)


def start_etcd(layout: SandboxLayout, sup: Supervisor) -> None:
    for member in layout.spec.members:
        sup.start(etcd_service(layout, member))
    ctx = tls_context(layout, client_cert=True)

    def all_healthy() -> bool:
        return all(https_ok(f"{etcd_render.client_url(m)}/health", ctx) for m in layout.spec.members)
    try:
        wait_until(all_healthy, ETCD_READY_SECONDS, "etcd cluster healthy", interval=0.2)
    except ServiceError as exc:
        raise ServiceError(f"{exc}\n" + "\n".join(sup.log_tail(etcd_name(m), 5) for m in layout.spec.members))


def start_object_store(layout: SandboxLayout, sup: Supervisor) -> dict:
    sup.start(s3.emulator_service(layout))
    config = layout.shared_config_dir / "s3-tls-proxy.cfg"
    bundle = layout.tls_dir / "s3-endpoint.pem"
    write_file(config, s3.tls_proxy_config(layout, bundle))
    sup.start(s3.tls_proxy_service(layout, config))
    return s3.ensure_locked_bucket(layout)


def start_patroni(layout: SandboxLayout, sup: Supervisor) -> None:
    from sandbox.client import Sandbox
    for member in layout.spec.members:
        sup.start(patroni_service(layout, member))
    try:
        Sandbox(layout).wait_healthy(PATRONI_HEALTHY_SECONDS)
    except ServiceError as exc:
        raise ServiceError(f"{exc}\n" + "\n".join(
            f"--- {m.name} ---\n" + tail(Path(layout.member_paths(m.name).log_dir) / "patroni" / "patroni.log")
            for m in layout.spec.members))


def tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return f"(no {path})"


def ensure_stanza_and_backup(layout: SandboxLayout) -> str:
    """stanza-create (idempotent; also recreates repo2 after the in-memory emulator restarted), then a
    full backup into every repository that has none. Run from the leader's configuration, where the
    standbys are pg2..pgN, so backup-standby copies files from a standby."""
    from sandbox.client import Sandbox
    leader = Sandbox(layout).leader_member()
    info = backup_info(layout)
    if info.get("status", {}).get("code") != 0:
        # archive-push (async) holds the stanza's archive lock for a moment after every segment.
        for attempt in range(STANZA_LOCK_RETRIES):
            result = pgbackrest(layout, leader, "stanza-create", check=False)
            if result.returncode == 0:
                break
            if result.returncode != PGBACKREST_LOCK_ERROR or attempt == STANZA_LOCK_RETRIES - 1:
                raise ServiceError(f"pgbackrest stanza-create failed ({result.returncode}): {result.stderr}")
            time.sleep(1)
        info = backup_info(layout)
    done = []
    for index, _ in enumerate(layout.spec.repositories, start=1):
        if not any(b.get("database", {}).get("repo-key") == index for b in info.get("backup", [])):
            pgbackrest(layout, leader, f"--repo={index}", "--type=full", "backup")
            done.append(f"repo{index}")
    return f"full backup into {', '.join(done)}" if done else "backups present"


def backup_info(layout: SandboxLayout) -> dict:
    member = layout.spec.members[0]
    out = pgbackrest(layout, member, "--output=json", "info", check=False)
    try:
        stanzas = json.loads(out.stdout or "[]")
    except ValueError:
        return {}
    return next((s for s in stanzas if s.get("name") == layout.spec.stanza), {})


def up(layout: SandboxLayout, say: Callable[[str], None] = print) -> float:
    ensure_installed(say)
    timer = StepTimer(say)
    sup = supervisor(layout)
    say(f"sandbox {layout.profile} in {layout.root}")
    timer.step("directories, secrets, TLS", lambda: (prepare_directories(layout), secret_values(layout),
                                                      issue_tls(layout)))
    timer.step("rendered member files", lambda: [write_member_files(layout, m) for m in layout.spec.members])
    timer.step(f"etcd x{len(layout.spec.members)}", lambda: start_etcd(layout, sup))
    timer.step("S3 emulator, TLS proxy, locked bucket", lambda: start_object_store(layout, sup))
    timer.step(f"Patroni x{len(layout.spec.members)}: leader, replicas, sync", lambda: start_patroni(layout, sup))
    timer.step("pgBackRest stanza and first full backup", lambda: ensure_stanza_and_backup(layout))
    timer.step("roles and application database", lambda: apply_roles(layout))
    timer.step(f"PgBouncer x{len(layout.spec.members)}", lambda: start_poolers(layout, sup))
    timer.step("router (HAProxy following Patroni)", lambda: start_router(layout, sup))
    timer.step("exporters, Prometheus, Alertmanager, webhook", lambda: start_monitoring(layout, sup))
    say(f"up in {timer.total:.1f} s")
    # Kept across runs so a slow bring-up can be traced to its step afterwards.
    with open(layout.log_dir / "up-timings.log", "a") as history:
        history.write(f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} total {timer.total:.1f} s; "
                      + "; ".join(f"{what} {took:.1f} s" for what, took in timer.steps) + "\n")
    return timer.total


# --- take-down -----------------------------------------------------------------------------------------
def down(layout: SandboxLayout, purge: bool = False, say: Callable[[str], None] = print) -> list[str]:
    """Stop everything by PID; PostgreSQL before the S3 endpoint (its shutdown archives the last WAL).

    Returns the processes or ports still found afterwards (empty when clean)."""
    sup = supervisor(layout)
    members = layout.spec.members
    front = [n for n in sup.names() if not n.startswith(("patroni-", "etcd-", "s3-"))]
    for name in front:
        sup.stop(name)
    sup.stop_together([patroni_name(m) for m in members], timeout=30)
    for member in members:
        stop_postmaster(Path(layout.member_paths(member.name).data_dir))
    stop_postmaster(layout.scratch_dir / "data")
    sup.stop_together([etcd_name(m) for m in members], timeout=10)
    for name in sup.names():
        sup.stop(name)
    leftovers = [f"pid {pid}: {cmd[:120]}" for pid, cmd in processes_mentioning(str(layout.root))]
    leftovers += [f"port {p} still listening" for p in listening_ports(layout.all_ports())]
    if purge and not leftovers:
        shutil.rmtree(layout.root, ignore_errors=True)
        say(f"purged {layout.root}")
    return leftovers


# --- status --------------------------------------------------------------------------------------------
def status(layout: SandboxLayout) -> tuple[str, bool]:
    """A report of endpoints, roles, sync state, lag and the last backup; and whether the cluster is healthy."""
    from sandbox.client import Sandbox
    spec = layout.spec
    sandbox = Sandbox(layout)
    lines = [f"sandbox {layout.profile} ({spec.scope}) in {layout.root}"]
    objectives = layout.settings.objectives
    lines.append(f"  objectives: RPO {objectives.rpo_seconds} s, RTO {objectives.rto_seconds} s; replication "
                 f"{spec.topology.replication.value}, ttl {spec.topology.ttl.value} s, "
                 f"loop_wait {spec.topology.loop_wait.value} s")
    router = spec.router
    lines.append(f"  router: write {LOOPBACK}:{router.write_port}  read {LOOPBACK}:{router.read_port}  "
                 f"pooled {LOOPBACK}:{router.pooled_port}  stats http://{LOOPBACK}:{router.stats_port}/")
    state = sandbox.cluster() if sandbox.secrets else None
    healthy = False
    if state is None:
        lines.append("  cluster: no Patroni member answers")
    else:
        healthy = sandbox.healthy()
        lines.append(f"  leader: {state.leader or '(none)'}   sync standby: {', '.join(state.sync_standbys) or '(none)'}"
                     f"   healthy: {'yes' if healthy else 'NO'}")
        for m in state.members:
            lag = m.get("lag", "")
            lines.append(f"    {m['name']:<22} {m.get('role', '?'):<13} {m.get('state', '?'):<10} "
                         f"tl {m.get('timeline', '?')}  lag {lag if lag != '' else '-'}  "
                         f"postgres {m.get('host')}:{m.get('port')}")
    for member in spec.members:
        lines.append(f"    {member.name}: patroni {patroni_render.rest_url(member)}  "
                     f"etcd {etcd_render.client_url(member)}  pgbouncer {LOOPBACK}:{member.ports.pgbouncer}  "
                     f"exporter http://{LOOPBACK}:{member.ports.postgres_exporter}/metrics")
    info = backup_info(layout) if state is not None else {}
    backups = info.get("backup", [])
    if backups:
        last = backups[-1]
        stop = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(last["timestamp"]["stop"]))
        lines.append(f"  last backup: {last['label']} ({last['type']}, repo{last['database']['repo-key']}) "
                     f"finished {stop} UTC; {len(backups)} backup(s) in {len(spec.repositories)} repositories")
    else:
        lines.append("  last backup: none")
    lines.append(f"  prometheus http://{LOOPBACK}:{layout.prometheus_port}/  "
                 f"alertmanager http://{LOOPBACK}:{layout.alertmanager_port}/  "
                 f"alert webhook http://{LOOPBACK}:{layout.service_port('alert_webhook')}/")
    lines.append(f"  S3 emulator https://{layout.s3_endpoint}/{layout.s3_repository.bucket} "
                 f"(CA {layout.tls_dir / 'ca.crt'}); secrets {layout.secrets_file}")
    sup = supervisor(layout)
    down_services = [n for n in sup.names() if sup.running(n) is None]
    lines.append(f"  processes: {len(sup.names()) - len(down_services)} running"
                 + (f"; not running: {', '.join(down_services)}" if down_services else ""))
    return "\n".join(lines), healthy
