"""alerts: a standby is stopped, and its alert must reach the receiver within the rules' own window."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

import yaml

from dataplane import alertmanager as alertmanager_render
from dataplane import prometheus as prometheus_render
from sandbox.client import Sandbox
from sandbox.harness.faults import recover_member
from sandbox.harness.result import RECOVER_SECONDS, Drill, DrillOptions, DrillResult
from sandbox.layout import LOOPBACK, SandboxLayout
from sandbox.processes import supervisor
from sandbox.services import patroni, prometheus, webhook
from sandbox.supervisor import ServiceError, stop_postmaster, wait_until

NAME = "alerts"
# What losing a standby raises in the rendered rules: its PostgreSQL stops answering the exporter, and its
# Patroni stops answering scrapes. Either reaching the receiver proves the path rules -> Alertmanager -> hook.
REPLICA_LOSS_ALERTS = ("PostgresDown", "PostgresTargetDown")
ALERT_SLACK_SECONDS = 30


def _duration_seconds(text: str) -> int:
    units = {"s": 1, "m": 60, "h": 3600}
    return int(text[:-1]) * units[text[-1]]


def alert_window_seconds(layout: SandboxLayout, alert: str) -> int:
    """The rule's `for` plus one scrape and one evaluation (the sample showing the outage may arrive one
    interval late) plus Alertmanager's group_wait: the latest a correct pipeline can deliver."""
    rules = yaml.safe_load(prometheus.rules_file(layout).read_text())
    rule = next(r for g in rules["groups"] for r in g["rules"] if r["alert"] == alert)
    return (
        _duration_seconds(rule["for"])
        + 2 * prometheus_render.SCRAPE_INTERVAL_SECONDS
        + _duration_seconds(alertmanager_render.GROUP_WAIT)
    )


def _last_delivery_per_member(layout: SandboxLayout) -> dict[str, float]:
    last: dict[str, float] = {}
    for delivery in webhook.deliveries(layout):
        for alert in delivery["payload"].get("alerts", []):
            member = alert.get("labels", {}).get("member")
            if member:
                last[member] = max(last.get(member, 0.0), delivery["received_at"])
    return last


def alerts(sandbox: Sandbox, options: DrillOptions) -> DrillResult:
    """Stop a standby (Patroni and its PostgreSQL, cleanly) and wait for its alert at the webhook receiver."""
    layout = sandbox.layout
    notes: list[str] = []
    sandbox.wait_healthy(RECOVER_SECONDS)
    state = sandbox.state()
    if not state.streaming_replicas:
        return DrillResult(
            NAME,
            False,
            {"replicas": 0},
            "a standby to stop",
            ["this profile has no standby: run the alerts drill on the prod profile"],
        )
    # Alertmanager keeps a member's alert group until a group_interval after it resolved, and an alert
    # firing again in that group waits for the interval instead of group_wait: stop the standby alerted
    # longest ago, the asynchronous one on a tie so commits keep flowing.
    last_alerted = _last_delivery_per_member(layout)
    replica = layout.spec.member(
        min(state.streaming_replicas, key=lambda name: (last_alerted.get(name, 0.0), name in state.sync_standbys))
    )
    window = max(alert_window_seconds(layout, a) for a in REPLICA_LOSS_ALERTS)
    group_interval = _duration_seconds(alertmanager_render.GROUP_INTERVAL)
    if time.time() - last_alerted.get(replica.name, 0.0) < group_interval + window:
        notes.append(
            f"{replica.name} was alerted less than group_interval ({group_interval} s) ago: delivery "
            f"may wait for that interval"
        )
    seen_before = len(webhook.deliveries(layout))
    stopped_at = time.time()
    supervisor(layout).stop(patroni.name(replica), timeout=30)
    stop_postmaster(Path(layout.member_paths(replica.name).data_dir))

    def delivered() -> dict | None:
        for delivery in webhook.deliveries(layout)[seen_before:]:
            for alert in delivery["payload"].get("alerts", []):
                labels = alert.get("labels", {})
                if (
                    alert.get("status") == "firing"
                    and labels.get("alertname") in REPLICA_LOSS_ALERTS
                    and labels.get("member") == replica.name
                ):
                    return {"at": delivery["received_at"], "alert": labels["alertname"], "job": labels.get("job", "-")}
        return None

    found = None
    try:
        wait_until(
            lambda: delivered() is not None,
            window + ALERT_SLACK_SECONDS,
            f"an alert for {replica.name} at the webhook",
            interval=1.0,
        )
        found = delivered()
    except ServiceError as exc:
        notes.append(str(exc))
    in_alertmanager = []
    try:
        with urllib.request.urlopen(f"http://{LOOPBACK}:{layout.alertmanager_port}/api/v2/alerts", timeout=3) as r:
            in_alertmanager = sorted(
                {a["labels"]["alertname"] for a in json.loads(r.read()) if a["labels"].get("member") == replica.name}
            )
    except OSError as exc:
        notes.append(f"Alertmanager API: {exc}")
    notes.append(f"stopped {replica.name}; Alertmanager holds for it: {', '.join(in_alertmanager) or 'nothing'}")
    rejoined = recover_member(sandbox, replica, notes)
    if found is None:
        return DrillResult(
            NAME,
            False,
            {"alert_delivered_s": "never", "window_s": window},
            f"alert at the receiver within {window} s",
            notes,
        )
    seconds = found["at"] - stopped_at
    notes.append(f"first delivery: {found['alert']} (job {found['job']})")
    return DrillResult(
        NAME,
        seconds <= window,
        {"alert_delivered_s": seconds, "window_s": window, "alert": found["alert"], "rejoined_s": rejoined},
        f"alert at the receiver within rule `for` + scrape + evaluation + group_wait = {window} s",
        notes,
    )


DRILL = Drill(NAME, alerts, timed=("alert_delivered_s",))
