"""alertmanager.yml: severity routing, grouping, inhibition and repeat intervals for the stage's receivers.

Receivers come from the stack settings (name plus e-mail or webhook). Critical alerts go to every receiver;
warnings go to the e-mail receivers (or, on a stage with none, to all of them), so paging webhooks only fire
for what needs a person now.
"""
from __future__ import annotations

from typing import Protocol, Sequence

import yaml

from dataplane.model import ClusterSpec


class ReceiverLike(Protocol):
    name: str
    email: str | None
    webhook_url: str | None


GROUP_WAIT = "30s"
GROUP_INTERVAL = "5m"
CRITICAL_REPEAT = "1h"
WARNING_REPEAT = "12h"


def _receiver(r: ReceiverLike) -> dict:
    out: dict = {"name": r.name}
    if r.email:
        out["email_configs"] = [{"to": r.email, "send_resolved": True}]
    if r.webhook_url:
        out["webhook_configs"] = [{"url": r.webhook_url, "send_resolved": True, "max_alerts": 20}]
    if len(out) == 1:
        raise ValueError(f"receiver {r.name!r} has neither an e-mail address nor a webhook URL")
    return out


def alertmanager_config(spec: ClusterSpec, receivers: Sequence[ReceiverLike], smtp_smarthost: str | None = None,
                        smtp_from: str | None = None) -> dict:
    if not receivers:
        raise ValueError("at least one alert receiver is required")
    names = [r.name for r in receivers]
    if len(set(names)) != len(names):
        raise ValueError(f"receiver names must be unique: {names}")
    if any(r.email for r in receivers) and not (smtp_smarthost and smtp_from):
        raise ValueError("e-mail receivers need an SMTP relay: pass smtp_smarthost and smtp_from (in the cloud, "
                         "cloud_init.MonitoringBoot(smtp_smarthost=..., smtp_from=...) from settings.monitoring)")
    warn_to = [r.name for r in receivers if r.email] or names
    glob: dict = {"resolve_timeout": "5m"}
    if smtp_smarthost:
        glob.update(smtp_smarthost=smtp_smarthost, smtp_from=smtp_from, smtp_require_tls=True)

    def route(receiver: str, severity: str, repeat: str) -> dict:
        return {"receiver": receiver, "matchers": [f'severity="{severity}"'], "repeat_interval": repeat,
                "continue": True}

    routes = [route(n, "critical", CRITICAL_REPEAT) for n in names]
    routes += [route(n, "warning", WARNING_REPEAT) for n in warn_to]
    # The last route ends the chain; `continue: false` keeps the fall-through default from notifying twice.
    routes[-1] = {**routes[-1], "continue": False}
    return {
        "global": glob,
        "route": {
            # Unmatched severities (none expected) still reach someone.
            "receiver": warn_to[0],
            "group_by": ["alertname", "cluster", "member"],
            "group_wait": GROUP_WAIT,
            "group_interval": GROUP_INTERVAL,
            "repeat_interval": WARNING_REPEAT,
            "routes": routes,
        },
        "inhibit_rules": [
            # A critical alert silences the warning of the same name on the same member (disk, certificates).
            {"source_matchers": ['severity="critical"'], "target_matchers": ['severity="warning"'],
             "equal": ["cluster", "member"]},
            # A member that is down explains its lag, connection and disk alerts.
            {"source_matchers": ['alertname=~"PostgresTargetDown|PostgresDown"'],
             "target_matchers": ['alertname=~"PostgresReplicationLag|PostgresConnectionSaturation|WalArchivingFailing"'],
             "equal": ["cluster", "member"]},
            # Without a primary, the missing sync standby and stale backups are consequences, not causes.
            {"source_matchers": ['alertname="PatroniNoPrimary"'],
             "target_matchers": ['alertname=~"SynchronousStandbyMissing|BackupTooOld"'], "equal": ["cluster"]},
        ],
        "receivers": [_receiver(r) for r in receivers],
    }


def render_alertmanager_config(spec: ClusterSpec, receivers: Sequence[ReceiverLike],
                               smtp_smarthost: str | None = None, smtp_from: str | None = None) -> str:
    return f"# rendered by pg-platform dataplane for {spec.scope}; do not edit\n" + yaml.safe_dump(
        alertmanager_config(spec, receivers, smtp_smarthost, smtp_from), sort_keys=False, width=1000)
