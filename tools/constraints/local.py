"""Resource types no cloud API ever sees: the providers compute them locally (or run a local command), so there
is no cloud-side limit to check. They are mapped explicitly, with the reason, so the coverage test can tell
"nothing to check" from "forgotten"."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tools.constraints.core import TypeConstraints

_NO_API = "no cloud API is called"
_RANDOM = f"pulumi-random generates the value inside the provider process; {_NO_API}"
NO_CLOUD_API: dict[str, str] = {
    "random:index/randomPassword:RandomPassword": _RANDOM,
    "random:index/randomString:RandomString": _RANDOM,
    "random:index/randomId:RandomId": _RANDOM,
    "tls:index/privateKey:PrivateKey": f"pulumi-tls generates the key locally (Go crypto); {_NO_API}",
    "tls:index/selfSignedCert:SelfSignedCert": f"pulumi-tls signs the certificate locally; {_NO_API}",
    "tls:index/certRequest:CertRequest": f"pulumi-tls builds the CSR locally; {_NO_API}",
    "tls:index/locallySignedCert:LocallySignedCert": f"pulumi-tls signs the certificate locally with the given CA key; "
    f"{_NO_API}",
    "command:local:Command": "pulumi-command runs a process on the machine running Pulumi; what it calls "
    "(here SSM through scripts/ssm_run.py) is not a resource property the engine sees",
}


@dataclass
class LocalPlugin:
    name: str = "local"
    packages: tuple[str, ...] = ("random", "tls", "command")
    _cache: dict[str, TypeConstraints] = field(default_factory=dict, repr=False)

    def constraints(self, type_token: str) -> TypeConstraints | None:
        reason = NO_CLOUD_API.get(type_token)
        if reason is None:
            return None
        if type_token not in self._cache:
            self._cache[type_token] = TypeConstraints(type_token, "none", [], no_cloud_api=reason)
        return self._cache[type_token]

    def known_types(self) -> Iterable[str]:
        return NO_CLOUD_API.keys()

    def values(self, record) -> Mapping[str, Any]:
        return record.inputs


PLUGIN = LocalPlugin()
