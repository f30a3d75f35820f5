"""What a node is told to run, read back from its user data.

The hardening, HA, backup and monitoring rules judge the files a node actually receives (a #cloud-config with
write_files), not the program's intent: patroni.yml (PostgreSQL parameters, pg_hba, synchronous mode),
postgresql conf fragments, pgbackrest.conf, Prometheus rule files.
"""

from __future__ import annotations

import base64
import binascii
import configparser
import email
import functools
import gzip
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from .core import as_list, dig


@dataclass
class NodeFiles:
    files: dict[str, str] = field(default_factory=dict)  # path -> decoded content
    cloud_config: dict[str, Any] | None = None
    patroni: dict[str, Any] | None = None
    patroni_path: str | None = None

    @property
    def is_postgres_node(self) -> bool:
        return self.patroni is not None

    def postgres_parameters(self) -> dict[str, Any]:
        """Effective parameters: conf fragments, then Patroni's DCS parameters, then the node's local ones
        (the order Patroni writes them into postgresql.conf)."""
        params: dict[str, Any] = {}
        for path, content in sorted(self.files.items()):
            name = path.rsplit("/", 1)[-1]
            if name.endswith(".conf") and "postgresql" in name:
                params.update(parse_pg_conf(content))
        if self.patroni:
            params.update(dig(self.patroni, "bootstrap", "dcs", "postgresql", "parameters", default={}) or {})
            params.update(dig(self.patroni, "postgresql", "parameters", default={}) or {})
        return {str(k): v for k, v in params.items()}

    def pg_hba(self) -> list[str] | None:
        if self.patroni:
            for keys in (("postgresql", "pg_hba"), ("bootstrap", "dcs", "postgresql", "pg_hba")):
                lines = dig(self.patroni, *keys)
                if lines:
                    return [str(line) for line in as_list(lines)]
        for path, content in self.files.items():
            if path.endswith("pg_hba.conf"):
                return content.splitlines()
        return None

    def dcs(self) -> dict[str, Any]:
        return dict(dig(self.patroni or {}, "bootstrap", "dcs", default={}) or {})

    @functools.cached_property
    def _pgbackrest(self) -> dict[str, dict[str, str]]:
        sections: dict[str, dict[str, str]] = {}
        for path, content in self.files.items():
            if path.endswith("pgbackrest.conf"):
                parser = configparser.ConfigParser(strict=False, interpolation=None)
                parser.optionxform = str  # type: ignore[assignment]
                parser.read_string(content)
                for name in parser.sections():
                    sections.setdefault(name, {}).update(parser[name])
        return sections

    def pgbackrest(self) -> dict[str, dict[str, str]]:
        return {k: dict(v) for k, v in self._pgbackrest.items()}

    def prometheus(self) -> dict[str, Any] | None:
        """The Prometheus server configuration shipped to this node, if it is a monitoring node."""
        for path, content in self.files.items():
            if path.endswith((".yml", ".yaml")):
                try:
                    doc = yaml.safe_load(content)
                except yaml.YAMLError:
                    continue
                if isinstance(doc, dict) and "scrape_configs" in doc:
                    return doc
        return None

    def alerts(self) -> list[dict[str, Any]]:
        """Prometheus alerting rules shipped to this node (rule files are YAML with groups[].rules[])."""
        found: list[dict[str, Any]] = []
        for path, content in self.files.items():
            if not path.endswith((".yml", ".yaml", ".rules")):
                continue
            try:
                doc = yaml.safe_load(content)
            except yaml.YAMLError:
                continue
            if not isinstance(doc, dict) or not isinstance(doc.get("groups"), list):
                continue
            for group in doc["groups"]:
                for r in (group or {}).get("rules") or []:
                    if isinstance(r, dict) and r.get("alert"):
                        found.append(r)
        return found


def parse_pg_conf(content: str) -> dict[str, str]:
    params: dict[str, str] = {}
    for line in content.splitlines():
        line = line.split("#", 1)[0].strip()
        m = re.match(r"^([A-Za-z_][\w.]*)\s*=?\s*(.*)$", line)
        if m and m.group(2):
            params[m.group(1)] = m.group(2).strip().strip("'")
    return params


def _maybe_decode(data: str) -> str:
    text = data.strip()
    if text.startswith(("#cloud-config", "Content-Type", "MIME-Version", "#!")):
        return data
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return data
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    try:
        return raw.decode()
    except UnicodeDecodeError:
        return data


def user_data_text(props: Mapping[str, Any], keys: tuple[str, ...]) -> str | None:
    """The first of the cloud's user-data inputs that is set, decoded; a dotted key names a nested input
    (Azure's osProfile.customData)."""
    for key in keys:
        value = dig(props, *key.split("."))
        if value:
            return _maybe_decode(str(value))
    return None


def _cloud_config_parts(text: str) -> list[str]:
    if text.lstrip().startswith(("Content-Type", "MIME-Version")):
        msg = email.message_from_string(text)
        parts = []
        for part in msg.walk():
            if part.is_multipart() or part.get_content_type() != "text/cloud-config":
                continue
            payload = part.get_payload(decode=True)  # a leaf part decodes to bytes
            if isinstance(payload, bytes):
                parts.append(payload.decode())
        return parts
    return [text] if text.lstrip().startswith("#cloud-config") else []


def file_content(entry: Mapping[str, Any]) -> str:
    content = entry.get("content") or ""
    encoding = str(entry.get("encoding") or "").lower()
    if encoding in ("b64", "base64"):
        return base64.b64decode(content).decode()
    if encoding in ("gz+base64", "gzip+base64", "gz+b64", "gzip+b64"):
        return gzip.decompress(base64.b64decode(content)).decode()
    return str(content)


def _looks_like_patroni(doc: Any) -> bool:
    return (
        isinstance(doc, dict)
        and isinstance(doc.get("postgresql"), dict)
        and ("scope" in doc or "bootstrap" in doc or "restapi" in doc)
    )


def read_node(props: Mapping[str, Any], keys: tuple[str, ...]) -> NodeFiles:
    text = user_data_text(props, keys)
    return parse_user_data(text) if text else NodeFiles()


@functools.lru_cache(maxsize=256)
def parse_user_data(text: str) -> NodeFiles:
    """Parsed once per distinct user data: a dozen rules read every node, and the analyzer calls each
    policy with freshly deserialized properties. Callers must not modify the result."""
    node = NodeFiles()
    for part in _cloud_config_parts(text):
        try:
            doc = yaml.safe_load(part)
        except yaml.YAMLError:
            continue
        if not isinstance(doc, dict):
            continue
        node.cloud_config = doc
        for entry in doc.get("write_files") or []:
            if isinstance(entry, dict) and entry.get("path"):
                node.files[str(entry["path"])] = file_content(entry)
    for path, content in node.files.items():
        if path.endswith((".yml", ".yaml")):
            try:
                doc = yaml.safe_load(content)
            except yaml.YAMLError:
                continue
            if _looks_like_patroni(doc):
                node.patroni, node.patroni_path = doc, path
                break
    return node
