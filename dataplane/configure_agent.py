"""The configure agent: what a running member does with a configure bundle (dataplane/configure.py).

It is sent with every configure step rather than installed at boot, so a member always runs the agent of the
program that rendered the bundle. It runs as root with the standard library only (the node has no pg-platform
package), and everything it does goes through interfaces that a VM and the sandbox share: files, Patroni's REST
API, PgBouncer's pid file. Each action is idempotent: a bundle that matches the member changes nothing.

Applied here (no restart):
- rendered files whose content differs, written atomically with the bundle's mode and owner;
- templates filled again from the member's secrets environment when a template changed;
- Patroni's local configuration (pg_hba, local parameters) through POST /reload when patroni.yml changed;
- the cluster-wide dynamic configuration (synchronous mode, timings, parameters) through PATCH /config, with
  parameters the bundle no longer sets removed;
- PgBouncer's configuration through SIGHUP when its files changed.
What only a restart applies is reported (Patroni's pending_restart, an etcd configuration change); the caller
rolls restarts one member at a time (`restart`, `restart-in-place`, `restart-etcd`).
"""

from __future__ import annotations

import base64
import grp
import gzip
import hashlib
import json
import os
import pwd
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from typing import Any

REST_TIMEOUT_SECONDS = 10


def decode(text: str) -> dict[str, Any]:
    return json.loads(gzip.decompress(base64.b64decode(text)))


def encode(bundle: dict[str, Any]) -> str:
    # mtime=0: the same bundle always encodes to the same text, so a digest of it only moves with the content.
    return base64.b64encode(gzip.compress(json.dumps(bundle, sort_keys=True).encode(), mtime=0)).decode()


def dcs_patch(current: dict[str, Any], desired: dict[str, Any]) -> dict[str, Any]:
    """What PATCH /config must send to turn `current` into `desired`: changed keys with their new value, and,
    under postgresql.parameters, a null for every parameter the bundle no longer sets (Patroni removes a key
    patched to null). Keys the bundle does not own (another tool's, Patroni's own) are left alone."""
    patch: dict[str, Any] = {}
    for key, want in desired.items():
        have = current.get(key)
        if isinstance(want, dict) and isinstance(have, dict):
            sub = dcs_patch(have, want)
            if key == "parameters":
                sub.update({name: None for name in have if name not in want})
            if sub:
                patch[key] = sub
        elif have != want:
            patch[key] = want
    return patch


def _owner_ids(owner: str) -> tuple[int, int]:
    user, _, group = owner.partition(":")
    return pwd.getpwnam(user).pw_uid, grp.getgrnam(group or user).gr_gid


def differs(f: dict[str, Any]) -> bool:
    """Whether the file on the member is not the bundle's: content, mode or owner."""
    uid, gid = _owner_ids(f["owner"])
    try:
        st = os.stat(f["path"])
        with open(f["path"], encoding="utf-8") as current:
            same = current.read() == f["content"]
    except FileNotFoundError:
        return True
    return not same or (st.st_mode & 0o7777, st.st_uid, st.st_gid) != (int(f["mode"]), uid, gid)


def write_changed(files: list[dict[str, Any]]) -> list[str]:
    """Write each file that differs; return the paths written."""
    written = []
    for f in files:
        if not differs(f):
            continue
        path, mode = f["path"], int(f["mode"])
        uid, gid = _owner_ids(f["owner"])
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".pgp-configure-")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(f["content"])
            os.chmod(tmp, mode)
            os.chown(tmp, uid, gid)
            os.replace(tmp, path)  # readers see the old file or the new one, never half of it
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        written.append(path)
    return written


def read_env(path: str) -> dict[str, str]:
    """The member's secrets environment (VAR='value' lines, as the boot writes it)."""
    env = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            name, sep, value = line.rstrip("\n").partition("=")
            if sep:
                env[name] = value[1:-1] if value[:1] == value[-1:] == "'" else value
    return env


class Patroni:
    def __init__(self, rest: dict[str, str], env: dict[str, str]):
        self.url = rest["url"]
        self.user = rest["user"]
        self.password = env[rest["password_env"]]
        self.context = ssl.create_default_context(cafile=rest["ca"])
        # Unsafe endpoints need the cluster CA's client certificate as well as the password.
        self.context.load_cert_chain(rest["cert"], rest["key"])

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        token = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
        try:
            with urllib.request.urlopen(request, timeout=REST_TIMEOUT_SECONDS, context=self.context) as response:
                raw = response.read()
                status = response.status
        except urllib.error.HTTPError as exc:
            raw, status = exc.read(), exc.code
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, raw.decode(errors="replace")

    def checked(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        status, answer = self.call(method, path, body)
        if status >= 300:
            raise RuntimeError(f"Patroni {method} {path}: HTTP {status}: {answer}")
        return answer


def fill_templates(commands: list[list[str]], user: str, env: dict[str, str]) -> None:
    for argv in commands:
        subprocess.run(
            ["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups", "--", *argv],
            env={**os.environ, **env},
            check=True,
            timeout=60,
        )


def signal_pidfile(path: str, sig: int = signal.SIGHUP) -> bool:
    try:
        with open(path, encoding="utf-8") as f:
            pid = int(f.read().split()[0])
        os.kill(pid, sig)
        return True
    except (FileNotFoundError, ValueError, IndexError, ProcessLookupError):
        return False


def wait_settled(patroni: Patroni, since: float) -> dict[str, Any]:
    """Patroni's view of this member once it has acted on our reload or patch. Patroni applies either on its
    next HA loop and learns on the loop after whether PostgreSQL now waits for a restart, so a change that
    needs one shows within two loops; one that does not costs those two loops."""
    loop_wait = float(patroni.checked("GET", "/config").get("loop_wait", 10))
    deadline = since + 2 * loop_wait + 2
    state = patroni.checked("GET", "/patroni")
    while not state.get("pending_restart") and time.monotonic() < deadline:
        time.sleep(0.5)
        state = patroni.checked("GET", "/patroni")
    return state


def missing_packages(packages: list[str]) -> list[str]:
    def installed(package: str) -> bool:
        found = subprocess.run(
            ["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True, check=False
        )
        return found.returncode == 0 and found.stdout.endswith("ok installed")

    return [p for p in packages if not installed(p)]


def install_packages(packages: list[str]) -> list[str]:
    """The packages not installed yet, installed from the repositories the member booted with (PGDG)."""
    missing = missing_packages(packages)
    if missing:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for argv in (
            ["apt-get", "update", "-q"],
            ["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing],
        ):
            done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
            if done.returncode != 0:
                raise RuntimeError(f"{' '.join(argv)} failed: {done.stderr[-500:]}")
    return missing


def change_digest(bundle: dict[str, Any]) -> str:
    """What identifies a change: the files and the dynamic configuration a bundle asks for."""
    wanted = json.dumps({"files": bundle["files"], "dcs": bundle["dcs"]}, sort_keys=True)
    return hashlib.sha256(wanted.encode()).hexdigest()


def _current_dcs(current: dict[str, Any], desired: dict[str, Any]) -> dict[str, Any]:
    """The running values of the keys `desired` sets: under parameters every running one (so restoring it
    removes what the change added), and a key that did not exist as null (Patroni removes a key patched to null)."""
    found: dict[str, Any] = {}
    for key, want in desired.items():
        have = current.get(key)
        if key == "parameters" or not (isinstance(want, dict) and isinstance(have, dict)):
            found[key] = have
        else:
            found[key] = _current_dcs(have, want)
    return found


def save_snapshot(bundle: dict[str, Any], patroni: Patroni) -> None:
    """Before anything changes: the member's files the bundle would write and the running dynamic configuration,
    so `rollback` can put back the last good configuration if this change fails anywhere in the roll-out. Kept
    0600 in the run directory, with the change it precedes. The bundle's files hold no secret (the secrets go
    only into the filled copies of its templates, which are not among them), so neither does the snapshot."""
    files = []
    for f in bundle["files"]:
        try:
            st = os.stat(f["path"])
            with open(f["path"], encoding="utf-8") as current:
                content = current.read()
        except FileNotFoundError:
            continue  # a file the change adds: nothing read it before, so it may stay
        owner = f"{pwd.getpwuid(st.st_uid).pw_name}:{grp.getgrgid(st.st_gid).gr_name}"
        files.append({"path": f["path"], "content": content, "mode": st.st_mode & 0o7777, "owner": owner})
    snapshot = {
        "change": change_digest(bundle),
        "files": files,
        "dcs": _current_dcs(patroni.checked("GET", "/config"), bundle["dcs"]),
    }
    fd = os.open(bundle["rollback_path"] + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(snapshot, out)
    os.replace(bundle["rollback_path"] + ".tmp", bundle["rollback_path"])


def apply(bundle: dict[str, Any], snapshot: bool = True) -> dict[str, Any]:
    env = read_env(bundle["secrets_env"])
    patroni = Patroni(bundle["patroni"], env)
    if snapshot:
        save_snapshot(bundle, patroni)
    installed = install_packages(bundle.get("packages", []))
    written = write_changed(bundle["files"])
    report: dict[str, Any] = {"member": bundle["member"], "written": written, "actions": []}
    if installed:
        report["actions"].append(f"installed {', '.join(installed)}")
    if set(written) & set(bundle["templates"]):
        fill_templates(bundle["fill_commands"], bundle["service_user"], env)
        report["actions"].append("templates filled")
    started = time.monotonic()
    if bundle["patroni_config"] in written:
        patroni.checked("POST", "/reload")
        report["actions"].append("patroni reloaded")
    patch = dcs_patch(patroni.checked("GET", "/config"), bundle["dcs"])
    if patch:
        patroni.checked("PATCH", "/config", patch)
        report["actions"].append("dynamic configuration patched")
    report["dcs_patch"] = patch
    if set(written) & set(bundle["pgbouncer_files"]) and signal_pidfile(bundle["pgbouncer_pidfile"]):
        report["actions"].append("pgbouncer reloaded")
    services = [service for path, service in bundle["restart_files"].items() if path in written]
    state = wait_settled(patroni, started) if report["actions"] else patroni.checked("GET", "/patroni")
    if state.get("pending_restart"):
        services.append("postgresql")
    report["restart_needed"] = sorted(set(services))
    report["pending_reason"] = dict(state.get("pending_restart_reason") or {})
    report["role"] = state.get("role")
    return report


def rollback(bundle: dict[str, Any]) -> dict[str, Any]:
    """Put back what this member ran before `bundle`'s change (the snapshot its apply took), reloading and
    reporting a pending restart as apply does. A member the change never reached has no snapshot of it and
    is left alone."""
    try:
        with open(bundle["rollback_path"], encoding="utf-8") as f:
            saved = json.load(f)
    except FileNotFoundError:
        saved = None
    if not saved or saved.get("change") != change_digest(bundle):
        return {"member": bundle["member"], "written": [], "actions": ["not reached by this change"], "dcs_patch": {}}
    report = apply({**bundle, "files": saved["files"], "dcs": saved["dcs"], "packages": []}, snapshot=False)
    report["actions"].insert(0, "rolled back")
    return report


def _wait(check, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} after {seconds:.0f} s")
        time.sleep(1)


def _cluster(patroni: Patroni) -> list[dict[str, Any]]:
    status, answer = patroni.call("GET", "/cluster")
    return list(answer.get("members", [])) if status == 200 and isinstance(answer, dict) else []


def _is_leader(state: dict[str, Any]) -> bool:
    return state.get("role") in ("primary", "master")


def _handover(patroni: Patroni, me: str) -> str:
    members = _cluster(patroni)
    standbys = [m for m in members if m.get("name") != me and m.get("state") in ("streaming", "running")]
    preferred = [m for m in standbys if m.get("role") == "sync_standby"] or standbys
    if not preferred:
        raise RuntimeError(f"{me} leads alone: no standby to hand over to before its restart")
    candidate = str(preferred[0]["name"])
    patroni.checked("POST", "/switchover", {"leader": me, "candidate": candidate})

    def demoted() -> bool:
        state = patroni.checked("GET", "/patroni")
        return not _is_leader(state) and state.get("state") in ("running", "streaming")

    _wait(demoted, 120, "handover finished (this member a running replica)")
    return candidate


def _streaming_caught_up(patroni: Patroni) -> bool:
    """A replica streaming from the current primary with everything it received replayed: it has then also
    replayed the primary's record of its new hot-standby settings, which Patroni reads from pg_controldata when
    it starts the replica."""
    state = patroni.checked("GET", "/patroni")
    xlog = state.get("xlog") or {}
    return (
        state.get("state") == "running"
        and state.get("replication_state") == "streaming"
        and xlog.get("received_location") is not None
        and xlog.get("replayed_location") == xlog.get("received_location")
    )


def restart(bundle: dict[str, Any], in_place: bool = False) -> dict[str, Any]:
    """Restart this member's PostgreSQL (the caller asks only for members whose apply reported a pending
    restart). A leader first hands over to a healthy synchronous (else streaming) standby, so clients see a
    switchover rather than a stopped primary, unless `in_place`: a lowered hot-standby parameter must reach the
    primary first (see dataplane/configure.py). A replica restarts once it has caught up, and the call returns
    once it streams again, so the next member's restart never leaves the primary without a standby."""
    env = read_env(bundle["secrets_env"])
    patroni = Patroni(bundle["patroni"], env)
    me = bundle["member"]
    state = patroni.checked("GET", "/patroni")
    report: dict[str, Any] = {"member": me, "actions": [], "role": state.get("role")}
    if _is_leader(state) and not in_place:
        report["actions"].append(f"switched over to {_handover(patroni, me)}")
    replica = not _is_leader(patroni.checked("GET", "/patroni"))
    if replica:
        _wait(lambda: _streaming_caught_up(patroni), 120, "replica streaming and caught up before its restart")
    # Patroni refuses a restart while it is still finishing a role change (HTTP 503): ask again briefly. No
    # restart_pending filter: Patroni recomputes a replica's flag when it rewrites postgresql.conf, and may
    # clear it while the running value still differs.
    deadline = time.monotonic() + 60
    while True:
        status, answer = patroni.call("POST", "/restart", {})
        if status < 300:
            break
        if status != 503 or time.monotonic() > deadline:
            raise RuntimeError(f"Patroni POST /restart: HTTP {status}: {answer}")
        time.sleep(1)
    _wait(lambda: patroni.checked("GET", "/patroni").get("state") == "running", 300, "PostgreSQL running again")
    if replica:
        _wait(lambda: _streaming_caught_up(patroni), 120, "replica streaming again after its restart")
    state = patroni.checked("GET", "/patroni")
    report["actions"].append("postgresql restarted" + (" in place" if in_place and _is_leader(state) else ""))
    report["role"] = state.get("role")
    report["still_pending"] = dict(state.get("pending_restart_reason") or {})
    return report


def restart_in_place(bundle: dict[str, Any]) -> dict[str, Any]:
    return restart(bundle, in_place=True)


def _etcd_context(settings: dict[str, Any]) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=settings["ca"])
    context.load_cert_chain(settings["cert"], settings["key"])
    return context


def etcd_healthy(url: str, context: ssl.SSLContext) -> bool:
    """Whether the etcd node at `url` serves, as a member of a cluster with a quorum (its /health)."""
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=3, context=context) as response:
            return json.loads(response.read()).get("health") == "true"
    except (OSError, ValueError):
        return False


def restart_etcd(bundle: dict[str, Any]) -> dict[str, Any]:
    """Restart this member's etcd (the caller asks only where its configuration, settings or unit changed), so
    its start script moves its data or joins as needed. Refused unless every other member's etcd is healthy:
    a restart must never be the second voter down. Returns once this member serves again."""
    settings = bundle["etcd"]["settings"]
    me = settings["name"]
    context = _etcd_context(settings)
    others = {name: p["client"] for name, p in settings["peers"].items() if name != me}
    sick = sorted(name for name, url in others.items() if not etcd_healthy(url, context))
    if sick:
        raise RuntimeError(f"etcd on {', '.join(sick)} is not healthy: restarting {me}'s now could cost the quorum")
    for argv in bundle["etcd"]["restart"]:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed: {(done.stderr or done.stdout).strip()[-500:]}")
    own = settings["peers"][me]["client"]
    _wait(lambda: etcd_healthy(own, context), 120, f"etcd on {me} healthy again after its restart")
    return {"member": me, "actions": ["etcd restarted"]}


def handover(bundle: dict[str, Any]) -> dict[str, Any]:
    """Before this member's instance goes (replaced by a roll, or removed): a leader switches over to a standby
    and waits until it follows, so clients see a switchover instead of a failover after the ttl. A replica, a
    member alone, or one whose Patroni is down already (nothing to hand over) just goes."""
    me = bundle["member"]
    report: dict[str, Any] = {"member": me, "actions": []}
    try:
        patroni = Patroni(bundle["patroni"], read_env(bundle["secrets_env"]))
        state = patroni.checked("GET", "/patroni")
    except (OSError, RuntimeError) as exc:
        report["actions"].append(f"Patroni not answering ({exc}): no handover")
        return report
    report["role"] = state.get("role")
    if _is_leader(state) and any(m.get("name") != me for m in _cluster(patroni)):
        report["actions"].append(f"switched over to {_handover(patroni, me)}")
    return report


def leave(bundle: dict[str, Any]) -> dict[str, Any]:
    """Before this member is removed for good (HA switched off, a member dropped): a leader hands over first,
    then the member's etcd node leaves the membership through the others, so the members that stay keep a
    quorum of the members that exist. A member alone in its cluster (a stage being destroyed) just goes."""
    me = bundle["member"]
    report = handover(bundle)
    user = bundle["service_user"]
    done = subprocess.run(
        ["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups", "--", *bundle["etcd"]["leave"]],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    try:
        answer = json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        answer = {"error": (done.stderr or done.stdout).strip()[-500:] or f"exit {done.returncode}"}
    if done.returncode != 0 or "error" in answer:
        raise RuntimeError(f"etcd leave on {me}: {answer.get('error')}")
    report["actions"] += answer.get("actions", [])
    return report


def diff(bundle: dict[str, Any]) -> dict[str, Any]:
    """What `apply` would change on this member, changing nothing: the files that differ, the DCS patch, and
    whether PostgreSQL already waits for a restart (the operator's `config diff`)."""
    patroni = Patroni(bundle["patroni"], read_env(bundle["secrets_env"]))
    state = patroni.checked("GET", "/patroni")
    return {
        "member": bundle["member"],
        "role": state.get("role"),
        "files_differ": [f["path"] for f in bundle["files"] if differs(f)],
        "dcs_patch": dcs_patch(patroni.checked("GET", "/config"), bundle["dcs"]),
        "pending_reason": dict(state.get("pending_restart_reason") or {}),
    }


MODES = {
    "apply": apply,
    "restart": restart,
    "restart-in-place": restart_in_place,
    "restart-etcd": restart_etcd,
    "handover": handover,
    "leave": leave,
    "diff": diff,
    "rollback": rollback,
}


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in MODES:
        print(f"usage: configure_agent {{{','.join(MODES)}}} <base64 gzip JSON bundle>", file=sys.stderr)
        return 2
    try:
        report = MODES[argv[0]](decode(argv[1]))
    except Exception as exc:  # one line for the step's log, not a traceback
        print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}))
        return 1
    print(json.dumps(report, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
