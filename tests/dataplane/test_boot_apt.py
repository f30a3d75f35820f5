"""Package sources (boot/apt.py): https only, PGDG's key pinned and checked for real with gpg against a loopback
HTTPS server, and pgBackRest pinned before any package is installed (read back by apt itself)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from dataplane_support import boot_for, cloud_spec, gpg_key

from dataplane.boot import apt as boot_apt
from dataplane.boot import member as boot_member

pytestmark = pytest.mark.dataplane


def test_every_package_source_is_https_and_the_pgdg_key_is_pinned(tmp_path):
    """Nodes may leave the VPC on 443 only: no http mirror, no hkp keyserver. PGDG's key is fetched over HTTPS
    before apt is configured and both PGDG sources trust only that keyring; the pin is PGDG's own key."""
    spec = cloud_spec("prod")
    text = boot_member.render_node_user_data(spec, spec.members[0], boot_for(spec))
    doc = yaml.safe_load(text)
    apt = doc["apt"]
    sources = [s["source"] for s in apt["sources"].values()]
    uris = [apt["primary"][0]["uri"], apt["security"][0]["uri"], *sources]
    uris += [c[-1] for c in doc["runcmd"] if c[0] == "curl"]
    (fetch,) = doc["bootcmd"]
    uris.append(fetch[-3])
    assert all("https://" in u and "http://" not in u for u in uris), uris
    assert not any({"key", "keyid", "keyserver"} & set(s) for s in apt["sources"].values())
    assert all(f"[signed-by={boot_apt.PGDG_KEYRING}]" in s for s in sources)
    assert fetch[-3:] == [boot_apt.PGDG_KEY_URL, boot_apt.PGDG_KEY_FINGERPRINT, boot_apt.PGDG_KEYRING]
    key_material = [line for line in boot_apt.PGDG_KEY_FILE.read_text().splitlines() if len(line) == 64]
    assert key_material and not any(line in text for line in key_material)
    shown = subprocess.run(
        ["gpg", "--show-keys", "--with-colons", str(boot_apt.PGDG_KEY_FILE)], capture_output=True, text=True, check=True
    ).stdout
    assert f"fpr:::::::::{boot_apt.PGDG_KEY_FINGERPRINT}:" in shown


@pytest.fixture
def https_files(tmp_path):
    """A loopback HTTPS server for files put in its directory; its CA is the only one the client trusts."""
    import http.server
    import ssl
    import threading
    from functools import partial

    root = tmp_path / "www"
    root.mkdir()
    cert, key = tmp_path / "server.crt", tmp_path / "server.key"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"https://127.0.0.1:{server.server_address[1]}", cert
    finally:
        server.shutdown()
        server.server_close()


def test_pgdg_key_is_trusted_only_if_it_is_exactly_the_pinned_key(https_files, tmp_path, gnupg_homes):
    """The bootcmd fetch, run for real against a loopback HTTPS server: the pinned key lands in the keyring;
    another key, the pinned key with another one appended, or a non-https URL leave no keyring behind."""
    import os
    import sys

    root, base, ca = https_files
    pinned = boot_apt.PGDG_KEY_FILE.read_text()
    other = gpg_key(gnupg_homes("mallory"), "mallory")
    (root / "pinned.asc").write_text(pinned)
    (root / "other.asc").write_text(other)
    both_home = gnupg_homes("both")
    gpg = ["gpg", "--homedir", str(both_home), "--batch"]
    subprocess.run([*gpg, "--import"], input=(pinned + other).encode(), check=True, capture_output=True)
    (root / "both.asc").write_text(
        subprocess.run([*gpg, "--armor", "--export"], check=True, capture_output=True, text=True).stdout
    )
    command = boot_apt.pgdg_key_command()
    assert command[:3] == ["cloud-init-per", "instance", "pgdg-key"]
    script = command[command.index("-c") + 1]
    env = {**os.environ, "SSL_CERT_FILE": str(ca)}

    def fetch(url: str, dest: Path) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-c", script, url, boot_apt.PGDG_KEY_FINGERPRINT, str(dest)],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )

    good = tmp_path / "keyrings" / "pgdg.asc"
    result = fetch(f"{base}/pinned.asc", good)
    assert result.returncode == 0, result.stderr
    assert good.read_text() == pinned and oct(good.stat().st_mode & 0o777) == "0o644"
    shown = subprocess.run(
        ["gpg", "--show-keys", "--with-colons", str(good)], capture_output=True, text=True, check=True
    ).stdout
    assert (
        next(line.split(":")[9] for line in shown.splitlines() if line.startswith("fpr:"))
        == boot_apt.PGDG_KEY_FINGERPRINT
    )
    for name in ("other.asc", "both.asc"):
        dest = tmp_path / f"rejected-{name}"
        result = fetch(f"{base}/{name}", dest)
        assert result.returncode != 0 and "rejected" in result.stderr, (name, result.stderr)
        assert not dest.exists() and not Path(f"{dest}.tmp").exists()
    plain = fetch("http://127.0.0.1:1/pinned.asc", tmp_path / "plain.asc")
    assert plain.returncode != 0 and "not https" in plain.stderr
    assert not (tmp_path / "plain.asc").exists()


def _apt_policy(pin_text: str, tmp_path: Path, package: str) -> str:
    parts = tmp_path / "preferences.d"
    parts.mkdir(exist_ok=True)
    (parts / "pg-platform.pref").write_text(pin_text)
    return subprocess.run(
        [
            "apt-cache",
            "-o",
            f"Dir::Etc::PreferencesParts={parts}",
            "-o",
            "Dir::Etc::Preferences=/dev/null",
            "policy",
            package,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def _candidate(policy: str) -> str:
    return next(line.split(":", 1)[1].strip() for line in policy.splitlines() if line.strip().startswith("Candidate:"))


def test_pgbackrest_is_pinned_before_any_package_is_installed(tmp_path):
    """One pgBackRest version on every member, never one that breaks uploads to the locked bucket. apt itself
    reads the rendered preferences: against this machine's package lists (Debian's pgBackRest) the pin admits
    exactly the pinned version and refuses every other one."""
    spec = cloud_spec("prod")
    doc = yaml.safe_load(boot_member.render_node_user_data(spec, spec.members[0], boot_for(spec)))
    written = {f["path"]: f for f in doc["write_files"]}
    pin = written[boot_apt.APT_PIN_FILE]
    assert not pin.get("defer")  # before cloud-init installs the packages
    assert pin["content"] == boot_apt.render_apt_pin("pgbackrest", boot_apt.PGBACKREST_VERSION)
    assert boot_apt.PGBACKREST_VERSION not in boot_apt.PGBACKREST_BROKEN_VERSIONS
    assert "pgbackrest" in doc["packages"]

    unpinned = subprocess.run(["apt-cache", "policy", "pgbackrest"], capture_output=True, text=True).stdout
    if "Candidate: (none)" in unpinned or "Candidate:" not in unpinned:
        pytest.skip("no pgbackrest in this machine's apt lists (run apt-get update)")
    available = _candidate(unpinned)  # Debian's, e.g. 2.45-1
    upstream = available.split("-")[0].split(":")[-1]
    assert upstream != boot_apt.PGBACKREST_VERSION
    assert _candidate(_apt_policy(pin["content"], tmp_path, "pgbackrest")) == "(none)"
    admitted = _apt_policy(boot_apt.render_apt_pin("pgbackrest", upstream), tmp_path, "pgbackrest")
    assert _candidate(admitted) == available and f"{available} 1001" in admitted
