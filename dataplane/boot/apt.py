"""Where a node's packages come from: Debian's mirrors (the cloud's), PGDG behind its pinned signing key, and
pgBackRest pinned to one version. Nodes reach the internet on 443 only: every package source is HTTPS, and no hkp
keyserver (port 11371) is used."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dataplane.boot.cloud import BootCloud

DEBIAN_SUITE = "bookworm"
# apt.postgresql.org signing key: Debian's own PostgreSQL is 15 only; PGDG carries 14-17 for bookworm. It is
# fetched over HTTPS at first boot and trusted only if it is exactly the pinned key (the copy in keys/, vendored
# from Debian's postgresql-common, lets the tests check the pin offline); it used to travel in the user data,
# where it took a quarter of EC2's 16 KiB.
PGDG_KEY_FINGERPRINT = "B97B0AFCAA1A47F044F244A07FCC7D46ACCC4CF8"
PGDG_KEY_FILE = Path(__file__).resolve().parent.parent / "keys" / "apt.postgresql.org.asc"
PGDG_KEY_URL = "https://www.postgresql.org/media/keys/ACCC4CF8.asc"
PGDG_KEYRING = "/etc/apt/keyrings/pgdg.asc"
PGDG_REPOSITORY = "https://apt.postgresql.org/pub/repos/apt"
# PGDG's index lists only the newest build of each package; older ones move to the archive (same key). With it a
# node replaced after PGDG moved on still finds the pinned pgBackRest.
PGDG_ARCHIVE = "https://apt-archive.postgresql.org/pub/repos/apt"

# pgBackRest, pinned: every member must run the same version (pgBackRest's protocol greeting refuses a peer of
# another version, so backups from a standby through the TLS server would fail on a member replaced later), and
# uploads must keep working against the Object Lock bucket. 2.55.0 sent Content-MD5 only where it believed S3
# required it, and S3 refuses a PUT under Object Lock without it (pgbackrest#2613); 2.55.1 reverted that
# (pgbackrest#2615). Releases before and after it send Content-MD5 with every upload.
PGBACKREST_VERSION = "2.59.1"
PGBACKREST_BROKEN_VERSIONS = ("2.55.0",)
APT_PIN_FILE = "/etc/apt/preferences.d/pg-platform.pref"


def debian_mirrors(cloud: BootCloud) -> dict[str, Any]:
    primary, security = cloud.debian_mirrors()
    return {
        "primary": [{"arches": ["default"], "uri": primary}],
        "security": [{"arches": ["default"], "uri": security}],
    }


def apt_config(cloud: BootCloud) -> dict[str, Any]:
    signed = f"deb [signed-by={PGDG_KEYRING}]"
    return {
        **debian_mirrors(cloud),
        "sources": {
            "pgdg": {"source": f"{signed} {PGDG_REPOSITORY} {DEBIAN_SUITE}-pgdg main"},
            "pgdg-archive": {"source": f"{signed} {PGDG_ARCHIVE} {DEBIAN_SUITE}-pgdg-archive main"},
        },
    }


def render_apt_pin(package: str, version: str) -> str:
    """apt preferences: exactly `version` (any Debian revision of it) and nothing else, from any source."""
    return (
        f"Explanation: pg-platform: every node runs {package} {version}\n"
        f"Package: {package}\nPin: version {version}-*\nPin-Priority: 1001\n\n"
        f"Explanation: pg-platform: no other {package} version, newer or older\n"
        f"Package: {package}\nPin: version *\nPin-Priority: -1\n"
    )


# Run by bootcmd (before apt is configured) with the key's URL, the pinned fingerprint and the keyring path. The
# file is written only if it holds exactly one primary key, an OpenPGP v4 key whose fingerprint is the pinned
# one (subkeys count only through that key's signatures); anything else stops before apt trusts it.
_KEY_FETCH = r"""
import base64, hashlib, os, sys, time, urllib.request
url, pinned, dest = sys.argv[1:4]
def need(ok, why):
    ok or sys.exit(f"pg-platform: key from {url} rejected: {why}")
need(url.startswith("https://"), "not https")
for attempt in range(6):
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            text = response.read().decode("ascii")
        break
    except OSError as exc:
        need(attempt < 5, exc)
        time.sleep(2 ** attempt)
lines = [line.strip() for line in text.strip().splitlines()]
need(lines[0] == "-----BEGIN PGP PUBLIC KEY BLOCK-----" and lines[-1] == "-----END PGP PUBLIC KEY BLOCK-----"
     and "" in lines, "not one armored public key block")
data = base64.b64decode("".join(l for l in lines[lines.index("") + 1:-1] if not l.startswith("=")), validate=True)
primaries, i = [], 0
while i < len(data):
    head = data[i]
    need(head & 0x80, "not an OpenPGP packet")
    if head & 0x40:
        tag, n = head & 0x3F, data[i + 1]
        need(n < 224 or n == 255, "partial packet length")
        size, i = ((n, i + 2) if n < 192 else (((n - 192) << 8) + data[i + 2] + 192, i + 3) if n < 224
                   else (int.from_bytes(data[i + 2:i + 6], "big"), i + 6))
    else:
        tag, width = head >> 2 & 0x0F, 1 << (head & 3)
        need(width < 8, "indeterminate packet length")
        size, i = int.from_bytes(data[i + 1:i + 1 + width], "big"), i + 1 + width
    body, i = data[i:i + size], i + size
    need(len(body) == size, "truncated")
    if tag == 6:
        need(body[0] == 4, "not an OpenPGP v4 key")
        primaries.append(hashlib.sha1(b"\x99" + size.to_bytes(2, "big") + body).hexdigest().upper())
need(primaries == [pinned.upper()], f"primary keys {primaries}, expected exactly {pinned}")
os.makedirs(os.path.dirname(dest), mode=0o755, exist_ok=True)
with open(dest + ".tmp", "w") as out:
    out.write(text)
os.chmod(dest + ".tmp", 0o644)
os.replace(dest + ".tmp", dest)
"""


def pgdg_key_command() -> list[str]:
    """bootcmd entry: once per instance, before cloud-init configures apt with the PGDG sources."""
    return [
        "cloud-init-per",
        "instance",
        "pgdg-key",
        "/usr/bin/python3",
        "-c",
        _KEY_FETCH,
        PGDG_KEY_URL,
        PGDG_KEY_FINGERPRINT,
        PGDG_KEYRING,
    ]
