"""EC2 nodes: encrypted storage, IMDSv2, nothing secret in what the instance metadata service hands out."""
from __future__ import annotations

import re
from typing import Any, Iterator

import yaml
from pulumi_policy import Severity

from .core import Rule, as_list, dig, resource_policy, settings, truthy
from .nodes import file_content, user_data_text

AREA = "compute"
INSTANCE = "aws:ec2/instance:Instance"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
VOLUME = "aws:ebs/volume:Volume"

# --- PGP-EC2-001 -----------------------------------------------------------------------------------------
EC2_001 = Rule(
    id="PGP-EC2-001", title="Volumes encrypted",
    why="Data, WAL and temp files on disk must be unreadable from a stolen snapshot or volume.",
    description="Root and data volumes of instances, launch templates and standalone EBS volumes are encrypted.",
    severity=Severity.HIGH, control="CKV_AWS_8, CKV_AWS_189", area=AREA, scope="resource",
    remediation="Set encrypted=True (and kms_key_id to the stack's key) on root_block_device, every "
                "ebs_block_device and every aws.ebs.Volume.",
)


def _encrypted(args, report) -> None:
    props, t = args.props, args.resource_type
    if t == VOLUME:
        if not truthy(props.get("encrypted")):
            report(f"{args.name}: volume is not encrypted")
    elif t == INSTANCE:
        if not truthy(dig(props, "rootBlockDevice", "encrypted")):
            report(f"{args.name}: rootBlockDevice is not encrypted")
        for i, dev in enumerate(as_list(props.get("ebsBlockDevices"))):
            if not truthy(dev.get("encrypted")):
                report(f"{args.name}: ebsBlockDevices[{i}] ({dev.get('deviceName')}) is not encrypted")
    elif t == LAUNCH_TEMPLATE:
        for i, m in enumerate(as_list(props.get("blockDeviceMappings"))):
            if m.get("ebs") is not None and not truthy(dig(m, "ebs", "encrypted")):
                report(f"{args.name}: blockDeviceMappings[{i}] ({m.get('deviceName')}) is not encrypted")


# --- PGP-EC2-002 -----------------------------------------------------------------------------------------
EC2_002 = Rule(
    id="PGP-EC2-002", title="IMDSv2 only, hop limit 1",
    why="IMDSv1 and higher hop limits let SSRF or containers on the node steal the instance role's credentials.",
    description="Instances require IMDSv2 session tokens and limit the metadata response hop count, so "
                "containers and forwarded requests cannot read the node role's credentials.",
    severity=Severity.HIGH, control="CKV_AWS_79, CKV_AWS_341", area=AREA, scope="resource",
    remediation="Set metadata_options={'http_tokens': 'required', 'http_put_response_hop_limit': 1, "
                "'http_endpoint': 'enabled'}.",
    config={"max_hop_limit": {"type": "integer", "minimum": 1, "maximum": 64, "default": 1}},
)


def _imdsv2(args, report) -> None:
    if args.resource_type not in (INSTANCE, LAUNCH_TEMPLATE):
        return
    limit = settings(args, EC2_002)["max_hop_limit"]
    opts = args.props.get("metadataOptions") or {}
    if str(opts.get("httpEndpoint") or "enabled") == "disabled":
        return
    if opts.get("httpTokens") != "required":
        report(f"{args.name}: metadataOptions.httpTokens is {opts.get('httpTokens') or 'unset (optional)'}, "
               f"not required")
    hops = opts.get("httpPutResponseHopLimit")
    if hops is None or int(hops) > limit:
        report(f"{args.name}: metadataOptions.httpPutResponseHopLimit is "
               f"{int(hops) if hops is not None else 'unset'}, above {limit}")


# --- PGP-EC2-003 -----------------------------------------------------------------------------------------
EC2_003 = Rule(
    id="PGP-EC2-003", title="No secrets in user data",
    why="User data is readable by every process on the node through IMDS, stored in Pulumi state and shown in the console.",
    description="User data (readable by anything on the node via IMDS, and stored in state and the console) "
                "carries no passwords, private keys, cloud keys or credentials in URLs; nodes fetch those from "
                "Secrets Manager at boot.",
    severity=Severity.CRITICAL, control="CKV_AWS_46", area=AREA, scope="resource",
    remediation="Reference secrets by environment variable or file filled at boot from Secrets Manager; never "
                "render their values into cloud-init.",
    config={
        "secret_key_pattern": {"type": "string",
                               "default": r"(^|_)(password|passwd|pass|secret|secret_key|token|cipher_pass|api_key|"
                                          r"private_key|access_key)$",
                               "description": "regex for setting names whose values are secret (names are "
                                              "lower-cased, '-' and '.' become '_')"},
        "ignore_keys": {"type": "array", "items": {"type": "string"},
                        "default": ["initial_cluster_token", "etcd_initial_cluster_token"],
                        "description": "names matching the pattern that are not secret"},
    },
)

_PEM = re.compile(r"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----")
_AWS_KEY = re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")
_URL_CREDS = re.compile(r"\b[a-z][a-z0-9+.-]*://[^/\s:@]+:([^@\s/]+)@")
_REFERENCE = re.compile(r"^(\$\{?[A-Za-z_][A-Za-z0-9_]*\}?|\$\(.*\)|(env|file|ssm|secret)s?:.*|/.*|\{\{.*\}\}|"
                        r"arn:aws:secretsmanager:.*|<[^>]+>|\*+)$")
_USERLIST = re.compile(r'^\s*"([^"]+)"\s+"([^"]*)"')
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
    if _AWS_KEY.search(text):
        found.append("an AWS access key id")
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
        for line in content.splitlines():
            if line.lstrip().startswith(("#", ";")):
                continue
            # PgBouncer auth files: "user" "password or SCRAM verifier"; both are credentials.
            u = _USERLIST.match(line) if "userlist" in path else None
            if u and _is_literal_secret(u.group(2)):
                found.append(f"{path}: a literal credential for {u.group(1)}")
                continue
            m = _LINE.match(line)
            if m and secret_key(m.group(1)) and _is_literal_secret(m.group(2)):
                found.append(f"{path}: {m.group(1)} has a literal value")
    for where, doc in docs:
        for path, key, value in _walk(doc):
            if secret_key(key) and _is_literal_secret(value):
                found.append(f"{where}: {path + '.' if path else ''}{key} has a literal value")
    return found


def _no_secrets(args, report) -> None:
    if args.resource_type not in (INSTANCE, LAUNCH_TEMPLATE):
        return
    text = user_data_text(args.props)
    if not text:
        return
    cfg = settings(args, EC2_003)
    for finding in find_secrets(text, cfg["secret_key_pattern"], {_norm(k) for k in cfg["ignore_keys"]}):
        report(f"{args.name}: user data contains {finding}")


POLICIES = [
    (EC2_001, resource_policy(EC2_001, _encrypted)),
    (EC2_002, resource_policy(EC2_002, _imdsv2)),
    (EC2_003, resource_policy(EC2_003, _no_secrets)),
]
