"""Nothing secret in what a node is told at boot: its user data is readable by anything on the node through the
cloud's metadata service, stored in Pulumi state and shown in the console. Shared by every cloud; each adapter
adds its own key formats and the way its secret store is referenced."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import yaml
from pulumi_policy import Severity

from .clouds import CLOUDS, NAMES, cloud_for
from .core import Rule, resource_policy, settings
from .nodes import file_content, user_data_text

AREA = "compute"

# --- PGP-NODE-001 ----------------------------------------------------------------------------------------
NODE_001 = Rule(
    id="PGP-NODE-001",
    title="No secrets in user data",
    why="User data is readable by every process on the node through the metadata service, stored in Pulumi state "
    "and shown in the console.",
    description="User data (readable by anything on the node via the metadata service, and stored in state and "
    "the console) carries no passwords, private keys, cloud keys or credentials in URLs; nodes fetch "
    "those from the cloud's secret store (Secrets Manager on AWS) at boot.",
    severity=Severity.CRITICAL,
    control="CKV_AWS_46",
    area=AREA,
    scope="resource",
    clouds=NAMES,
    remediation="Reference secrets by environment variable or file filled at boot from the secret store; never "
    "render their values into cloud-init.",
    config={
        "secret_key_pattern": {
            "type": "string",
            "default": r"(^|_)(password|passwd|pass|secret|secret_key|token|cipher_pass|api_key|"
            r"private_key|access_key)$",
            "description": "regex for setting names whose values are secret (names are "
            "lower-cased, '-' and '.' become '_')",
        },
        "ignore_keys": {
            "type": "array",
            "items": {"type": "string"},
            "default": ["initial_cluster_token", "etcd_initial_cluster_token"],
            "description": "names matching the pattern that are not secret",
        },
    },
)

_PEM = re.compile(r"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----")
_URL_CREDS = re.compile(r"\b[a-z][a-z0-9+.-]*://[^/\s:@]+:([^@\s/]+)@")
# A value that names where a secret comes from rather than being one: a variable, a command, a file, a
# template placeholder, or a reference into one of the clouds' secret stores.
_REFERENCE = re.compile(
    r"^(\$\{?[A-Za-z_][A-Za-z0-9_]*\}?|\$\(.*\)|(env|file|ssm|secret)s?:.*|/.*|\{\{.*\}\}|"
    + "".join(f"{ref}|" for cloud in CLOUDS for ref in cloud.secret_references)
    + r"<[^>]+>|\*+)$"
)
_CLOUD_KEYS = tuple(pattern for cloud in CLOUDS for pattern in cloud.credential_patterns)
_USERLIST = re.compile(r'^\s*"([^"]+)"\s+"([^"]*)"')
_PY_STRING = re.compile(r"""[rRbBuU]?(['"]).*\1""")
_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z0-9_.\-]+)\s*[=:]\s*(.*?)\s*$")


def _norm(key: str) -> str:
    return re.sub(r"[-.]", "_", key.strip().lower())


def _walk(doc: Any, path: str = "") -> Iterator[tuple[str, str, Any]]:
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _walk(v, f"{path}.{k}" if path else str(k))
            yield path, str(k), v
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from _walk(v, f"{path}[{i}]")


def _is_literal_secret(value: Any) -> bool:
    if value is None or isinstance(value, (bool, int, float, dict, list)):
        return False
    text = str(value).strip().strip("'\"")
    return bool(text) and not _REFERENCE.match(text)


def find_secrets(text: str, key_pattern: str, ignore: set[str]) -> list[str]:
    found: list[str] = []
    key_re = re.compile(key_pattern)
    if _PEM.search(text):
        found.append("a PEM private key")
    for pattern, label in _CLOUD_KEYS:
        if pattern.search(text):
            found.append(label)
    for m in _URL_CREDS.finditer(text):
        if _is_literal_secret(m.group(1)):
            found.append("a URL with an embedded password")
            break

    def secret_key(k: str) -> bool:
        n = _norm(k)
        return n not in ignore and bool(key_re.search(n))

    docs: list[tuple[str, Any]] = []
    try:
        top = yaml.safe_load(text)
    except yaml.YAMLError:
        top = None
    if isinstance(top, dict):
        files = top.get("write_files") or []
        docs.append(("cloud-config", {k: v for k, v in top.items() if k != "write_files"}))
    else:
        files = []
    for entry in files:
        if not isinstance(entry, dict):
            continue
        path, content = str(entry.get("path")), file_content(entry)
        if _PEM.search(content) and "a PEM private key" not in found:
            found.append(f"a PEM private key in {path}")
        parsed = None
        if path.endswith((".yml", ".yaml", ".json")):
            try:
                parsed = yaml.safe_load(content)
            except yaml.YAMLError:
                parsed = None
        if isinstance(parsed, (dict, list)):
            docs.append((path, parsed))
            continue
        # In a Python script an assignment's value is code (`self.token = fetch(...)`): only a string literal
        # is a literal there.
        python = content.startswith("#!") and "python" in content.split("\n", 1)[0]
        for line in content.splitlines():
            if line.lstrip().startswith(("#", ";")):
                continue
            # PgBouncer auth files: "user" "password or SCRAM verifier"; both are credentials.
            u = _USERLIST.match(line) if "userlist" in path else None
            if u and _is_literal_secret(u.group(2)):
                found.append(f"{path}: a literal credential for {u.group(1)}")
                continue
            setting = _LINE.match(line)
            if setting and secret_key(setting.group(1)) and _is_literal_secret(setting.group(2)):
                if python and not _PY_STRING.fullmatch(setting.group(2)):
                    continue
                found.append(f"{path}: {setting.group(1)} has a literal value")
    for where, doc in docs:
        for path, key, value in _walk(doc):
            if secret_key(key) and _is_literal_secret(value):
                found.append(f"{where}: {path + '.' if path else ''}{key} has a literal value")
    return found


def _no_secrets(args, report) -> None:
    cloud = cloud_for(args.resource_type)
    if cloud is None or args.resource_type not in cloud.boot_types:
        return
    text = user_data_text(args.props, cloud.user_data_keys)
    if not text:
        return
    cfg = settings(args, NODE_001)
    for finding in find_secrets(text, cfg["secret_key_pattern"], {_norm(k) for k in cfg["ignore_keys"]}):
        report(f"{args.name}: user data contains {finding}")


POLICIES = [
    (NODE_001, resource_policy(NODE_001, _no_secrets)),
]
