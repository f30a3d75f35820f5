"""alertmanager.yml: severity routing, grouping, inhibition and repeat intervals for the stage's receivers.

Receivers come from the stack settings (name plus e-mail or webhook). Critical alerts go to every receiver;
warnings go to the e-mail receivers (or, on a stage with none, to all of them), so paging webhooks only fire
for what needs a person now.

Webhook URLs carry their service's token, so the cloud renders a *template* without them
(`render_alertmanager_template`) and the monitoring node fills in each receiver's URL at boot from its cloud's
secrets store (`fill_webhook_urls`, run by boot/monitoring.py's alertmanager-config unit). Debian bookworm's
Alertmanager is 0.25.0; `webhook_configs[].url_file` arrived in 0.26.0, so the URL has to be in the file
Alertmanager reads. The sandbox renders the same template and fills it through the same function with its local
receiver's URL (`render_alertmanager_config`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import yaml

from dataplane.model import ClusterSpec


class ReceiverLike(Protocol):
    # Read-only, so that frozen dataclasses (stacks.settings.Receiver) satisfy it.
    @property
    def name(self) -> str: ...

    @property
    def email(self) -> str | None: ...

    @property
    def webhook_url(self) -> str | None: ...


GROUP_WAIT = "30s"
GROUP_INTERVAL = "5m"
CRITICAL_REPEAT = "1h"
WARNING_REPEAT = "12h"


def _receiver(r: ReceiverLike) -> dict:
    out: dict = {"name": r.name}
    if r.email:
        out["email_configs"] = [{"to": r.email, "send_resolved": True}]
    if r.webhook_url:
        # The URL itself is filled in by fill_webhook_urls: never part of the template.
        out["webhook_configs"] = [{"send_resolved": True, "max_alerts": 20}]
    if len(out) == 1:
        raise ValueError(f"receiver {r.name!r} has neither an e-mail address nor a webhook URL")
    return out


def alertmanager_template(
    spec: ClusterSpec,
    receivers: Sequence[ReceiverLike],
    smtp_smarthost: str | None = None,
    smtp_from: str | None = None,
) -> dict:
    """The whole configuration except the webhook URLs (each webhook receiver's `webhook_configs` lack `url`)."""
    if not receivers:
        raise ValueError("at least one alert receiver is required")
    names = [r.name for r in receivers]
    if len(set(names)) != len(names):
        raise ValueError(f"receiver names must be unique: {names}")
    if any(r.email for r in receivers) and not (smtp_smarthost and smtp_from):
        raise ValueError(
            "e-mail receivers need an SMTP relay: pass smtp_smarthost and smtp_from (in the cloud, "
            "boot.monitoring.MonitoringBoot(smtp_smarthost=..., smtp_from=...) from settings.monitoring)"
        )
    warn_to = [r.name for r in receivers if r.email] or names
    glob: dict = {"resolve_timeout": "5m"}
    if smtp_smarthost:
        glob.update(smtp_smarthost=smtp_smarthost, smtp_from=smtp_from, smtp_require_tls=True)

    def route(receiver: str, severity: str, repeat: str) -> dict:
        return {
            "receiver": receiver,
            "matchers": [f'severity="{severity}"'],
            "repeat_interval": repeat,
            "continue": True,
        }

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
            {
                "source_matchers": ['severity="critical"'],
                "target_matchers": ['severity="warning"'],
                "equal": ["cluster", "member"],
            },
            # A member that is down explains its lag, connection and disk alerts.
            {
                "source_matchers": ['alertname=~"PostgresTargetDown|PostgresDown"'],
                "target_matchers": [
                    'alertname=~"PostgresReplicationLag|PostgresConnectionSaturation|WalArchivingFailing"'
                ],
                "equal": ["cluster", "member"],
            },
            # Without a primary, the missing sync standby and stale backups are consequences, not causes.
            {
                "source_matchers": ['alertname="PatroniNoPrimary"'],
                "target_matchers": ['alertname=~"SynchronousStandbyMissing|BackupTooOld"'],
                "equal": ["cluster"],
            },
        ],
        "receivers": [_receiver(r) for r in receivers],
    }


def webhook_urls(receivers: Sequence[ReceiverLike]) -> dict[str, str]:
    """Receiver name -> webhook URL, for the receivers that have one."""
    return {r.name: r.webhook_url for r in receivers if r.webhook_url}


def webhook_receivers(receivers: Sequence[ReceiverLike]) -> list[str]:
    return list(webhook_urls(receivers))


# Shipped as source (inspect.getsource) into the monitoring node's user data by boot/monitoring.py: the formatter
# must not touch it, or the user data of every deployed stack changes.
# fmt: off
def fill_webhook_urls(template: dict, urls: Mapping[str, str]) -> dict:
    """The template with each webhook receiver's URL in place; refuses a missing, unknown or odd URL.

    Runs on the monitoring node as well (its source is part of the node's config unit), so it uses nothing but
    the standard library."""
    import copy

    config = copy.deepcopy(template)
    hooks = {r["name"]: r["webhook_configs"] for r in config["receivers"] if r.get("webhook_configs")}
    if set(urls) != set(hooks):
        raise ValueError(f"webhook URLs for {sorted(urls)}, but the webhook receivers are {sorted(hooks)}")
    for name, url in urls.items():
        # https, or plain http only to the sandbox's receiver on loopback.
        if not url.startswith(("https://", "http://127.0.0.1:")) or any(c.isspace() or c in "\"'\\" for c in url):
            # The value is never echoed: it is a credential.
            raise ValueError(f"the webhook URL of receiver {name} is not a single https:// URL")
        for hook in hooks[name]:
            hook["url"] = url
    return config
# fmt: on


HEADER = "# rendered by pg-platform dataplane for {scope}; do not edit\n"


def _dump(spec: ClusterSpec, config: dict[str, Any]) -> str:
    return HEADER.format(scope=spec.scope) + yaml.safe_dump(config, sort_keys=False, width=1000)


def render_alertmanager_template(
    spec: ClusterSpec,
    receivers: Sequence[ReceiverLike],
    smtp_smarthost: str | None = None,
    smtp_from: str | None = None,
) -> str:
    """What the cloud ships in user data: no webhook URL (the node fills them in at boot)."""
    return _dump(spec, alertmanager_template(spec, receivers, smtp_smarthost, smtp_from))


def alertmanager_config(
    spec: ClusterSpec,
    receivers: Sequence[ReceiverLike],
    smtp_smarthost: str | None = None,
    smtp_from: str | None = None,
) -> dict:
    """The complete configuration with the receivers' own URLs, through the same fill the node runs (for the
    sandbox, whose receiver is a local, tokenless URL, and the tests)."""
    template = alertmanager_template(spec, receivers, smtp_smarthost, smtp_from)
    return fill_webhook_urls(template, webhook_urls(receivers))


def render_alertmanager_config(
    spec: ClusterSpec,
    receivers: Sequence[ReceiverLike],
    smtp_smarthost: str | None = None,
    smtp_from: str | None = None,
) -> str:
    return _dump(spec, alertmanager_config(spec, receivers, smtp_smarthost, smtp_from))
