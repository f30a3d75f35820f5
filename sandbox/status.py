"""`sandbox status`: endpoints, roles, sync state, lag and the last backup of a running sandbox."""

from __future__ import annotations

import time

from dataplane import etcd as etcd_render
from dataplane import haproxy as haproxy_render
from dataplane import patroni as patroni_render
from sandbox.client import Sandbox
from sandbox.layout import LOOPBACK, SandboxLayout
from sandbox.node import patronictl_path
from sandbox.processes import supervisor
from sandbox.services.pgbackrest import backup_info


def status(layout: SandboxLayout) -> tuple[str, bool]:
    """A report of endpoints, roles, sync state, lag and the last backup; and whether the cluster is healthy."""
    spec = layout.spec
    sandbox = Sandbox(layout)
    lines = [f"sandbox {layout.profile} ({spec.scope}) in {layout.root}"]
    objectives = layout.settings.objectives
    lines.append(
        f"  objectives: RPO {objectives.rpo_seconds} s, RTO {objectives.rto_seconds} s; replication "
        f"{spec.topology.replication.value}, ttl {spec.topology.ttl.value} s, "
        f"loop_wait {spec.topology.loop_wait.value} s"
    )
    router = spec.router
    lines.append(
        f"  router: write {LOOPBACK}:{router.write_port}  read {LOOPBACK}:{router.read_port}  "
        f"pooled {LOOPBACK}:{router.pooled_port}  "
        f"stats http://{LOOPBACK}:{router.stats_port}{haproxy_render.STATS_PATH}"
    )
    state = sandbox.cluster() if sandbox.secrets else None
    healthy = False
    if state is None:
        lines.append("  cluster: no Patroni member answers")
    else:
        healthy = sandbox.healthy()
        lines.append(
            f"  leader: {state.leader or '(none)'}   sync standby: {', '.join(state.sync_standbys) or '(none)'}"
            f"   healthy: {'yes' if healthy else 'NO'}"
        )
        for m in state.members:
            lag = m.get("lag", "")
            lines.append(
                f"    {m['name']:<22} {m.get('role', '?'):<13} {m.get('state', '?'):<10} "
                f"tl {m.get('timeline', '?')}  lag {lag if lag != '' else '-'}  "
                f"postgres {m.get('host')}:{m.get('port')}"
            )
    for member in spec.members:
        lines.append(
            f"    {member.name}: patroni {patroni_render.rest_url(member)}  "
            f"etcd {etcd_render.client_url(member)}  pgbouncer {LOOPBACK}:{member.ports.pgbouncer}  "
            f"exporter http://{LOOPBACK}:{member.ports.postgres_exporter}/metrics"
        )
    # Bare patronictl stops at KeyError: 'password'; each member's wrapper brings its config and secrets.
    lines.append(f"  patronictl: {patronictl_path(layout, spec.members[0])} list  (any member's sbin/ has one)")
    info = backup_info(layout) if state is not None else {}
    backups = info.get("backup", [])
    if backups:
        last = backups[-1]
        stop = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(last["timestamp"]["stop"]))
        lines.append(
            f"  last backup: {last['label']} ({last['type']}, repo{last['database']['repo-key']}) "
            f"finished {stop} UTC; {len(backups)} backup(s) in {len(spec.repositories)} repositories"
        )
    else:
        lines.append("  last backup: none")
    lines.append(
        f"  prometheus http://{LOOPBACK}:{layout.prometheus_port}/  "
        f"alertmanager http://{LOOPBACK}:{layout.alertmanager_port}/  "
        f"alert webhook http://{LOOPBACK}:{layout.service_port('alert_webhook')}/"
    )
    lines.append(
        f"  S3 emulator https://{layout.s3_endpoint}/{layout.s3_repository.bucket} "
        f"(CA {layout.tls_dir / 'ca.crt'}); secrets {layout.secrets_file}"
    )
    sup = supervisor(layout)
    down_services = [n for n in sup.names() if sup.running(n) is None]
    lines.append(
        f"  processes: {len(sup.names()) - len(down_services)} running"
        + (f"; not running: {', '.join(down_services)}" if down_services else "")
    )
    return "\n".join(lines), healthy
