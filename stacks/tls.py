"""The stack's TLS setting (pg-platform:tls): the lowest protocol PostgreSQL and PgBouncer accept, and optionally
the TLS 1.2 cipher list, defined once for the settings that check them and the renderers that write them.

TLS 1.3's cipher suites are not configurable in PostgreSQL (ssl_ciphers governs TLS 1.2 and below), so a cipher
list only means something while TLS 1.2 is still accepted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# PostgreSQL's spelling (ssl_min_protocol_version), lowest first. Nothing below 1.2: CIS PostgreSQL 6.8 and
# the pack's PGP-PG-003 refuse it, so the setting cannot even name it.
PROTOCOLS = ("TLSv1.2", "TLSv1.3")
DEFAULT_MIN_PROTOCOL = "TLSv1.2"
# What a cipher list may be made of: OpenSSL's cipher-string alphabet, nothing that could end a quoted value in
# postgresql.conf or a pgbouncer.ini line.
CIPHER_LIST = re.compile(r"[A-Za-z0-9!+\-:@=._]+")
# Cipher-string words that admit a suite without confidentiality, integrity or forward-looking strength. Named
# only behind '!' (OpenSSL's "never add it back") may they appear: '!aNULL' is what a good list says.
REFUSED_CIPHER_WORDS = {
    "NULL": "no encryption (eNULL) or no authentication (aNULL)",
    "EXP": "export-grade keys of 40-56 bits",
    "RC4": "RC4, broken (RFC 7465 forbids it in TLS)",
    "MD5": "MD5 message authentication",
    "DES": "DES and 3DES (64-bit blocks: Sweet32)",
    "LOW": "OpenSSL's low-strength group",
    "ALL": "every suite OpenSSL has, the insecure ones included",
}


@dataclass(frozen=True)
class TlsSettings:
    min_protocol_version: str = DEFAULT_MIN_PROTOCOL
    # OpenSSL cipher string for TLS 1.2; None keeps each server's own default.
    ciphers: str | None = None


def accepted_protocols(minimum: str) -> tuple[str, ...]:
    """The protocols a server accepts given the lowest one (PgBouncer lists them; PostgreSQL takes the minimum)."""
    return PROTOCOLS[PROTOCOLS.index(minimum) :]


def pgbouncer_protocols(minimum: str) -> str:
    """client_tls_protocols / server_tls_protocols: PgBouncer's lower-case list."""
    return ",".join(p.lower() for p in accepted_protocols(minimum))


def cipher_problem(ciphers: str) -> str | None:
    """Why a cipher list is refused, or None. Conservative: a word naming a weak family anywhere in an element that
    adds suites is refused, whatever else the element says."""
    if not CIPHER_LIST.fullmatch(ciphers):
        return "is not an OpenSSL cipher list (letters, digits and ! + - : @ = . _ only)"
    for element in re.split(r"[:,]", ciphers):
        if not element or element.startswith("!"):
            continue
        words = [w for w in element.lstrip("-+").upper().split("+") if w]
        for word in words:
            for weak, why in REFUSED_CIPHER_WORDS.items():
                if (word == weak) if weak == "ALL" else (weak in word):
                    return f"admits {why} through {element!r}"
    return None
