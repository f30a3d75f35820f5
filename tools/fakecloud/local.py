"""The providers no cloud sees (pulumi-random, pulumi-tls, pulumi-command): what they compute, shaped as they do."""

from __future__ import annotations

import base64
import datetime
import hashlib

from tools.fakecloud.core import ALNUM, FakeCloudBase

# The fake cloud's clock for certificates' validity: fixed, so plans stay deterministic.
ISSUED_AT = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)


class LocalShapes(FakeCloudBase):
    def _random_index_randomPassword_RandomPassword(self, urn, s):
        length = int(s.get("length") or 16)
        charset = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
        if s.get("special", True):
            charset += "!@#%&*()-_=+[]{}<>:?"
        return "none", {"result": self._chars(urn, length, charset, "password")}

    def _tls_index_privateKey_PrivateKey(self, urn, s):
        body = base64.b64encode(hashlib.sha256(urn.encode()).digest() * 2).decode()
        return self._chars(urn, 40, salt="sha1"), {
            "privateKeyPem": f"-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----\n",
            "publicKeyPem": f"-----BEGIN PUBLIC KEY-----\n{body[:44]}\n-----END PUBLIC KEY-----\n",
            "publicKeyOpenssh": f"{'ssh-rsa' if s.get('algorithm') == 'RSA' else 'ecdsa-sha2-nistp256'} {body}\n",
        }

    def _certificate(self, urn, s):
        body = base64.b64encode(hashlib.sha256(("cert" + urn).encode()).digest() * 3).decode()
        serial = str(int(self._chars(urn, 32, salt="serial"), 16))
        end = ISSUED_AT + datetime.timedelta(hours=int(s.get("validityPeriodHours") or 0))
        return serial, {
            "certPem": f"-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n",
            # RFC 3339, as the provider reports them.
            "validityStartTime": ISSUED_AT.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "validityEndTime": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }

    _tls_index_selfSignedCert_SelfSignedCert = _certificate
    _tls_index_locallySignedCert_LocallySignedCert = _certificate

    def _tls_index_certRequest_CertRequest(self, urn, s):
        body = base64.b64encode(hashlib.sha256(("csr" + urn).encode()).digest() * 2).decode()
        return self._chars(urn, 40, salt="csr"), {
            "certRequestPem": f"-----BEGIN CERTIFICATE REQUEST-----\n{body}\n-----END CERTIFICATE REQUEST-----\n"
        }

    def _command_local_Command(self, urn, s):
        return self._chars(urn, 8, ALNUM.lower(), "cmd"), {"stdout": "", "stderr": ""}
