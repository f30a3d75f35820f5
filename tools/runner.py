"""The offline runner: runs the real `__main__.py` for a stack under the Pulumi SDK's mock runtime and
records every resource registration exactly as the engine would receive it.

The recording monitor sees what plain `Mocks.new_resource` does not: parent, dependencies, property
dependencies, provider, `protect`, and which inputs arrived as secrets. Tests, `tools run`, `tools plan`
and `tools diff` all use this one runner.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import runpy
import sys
from pathlib import Path
from typing import Any, Callable

from google.protobuf import json_format

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.config import set_all_config
from pulumi.runtime.sync_await import _sync_await

from stacks.files import ROOT, stack_config
from tools.records import Plan, ResourceRecord

# Wire-format signatures of the engine's property encoding (pulumi/runtime/rpc.py).
SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
RESOURCE_SIG = "5cf8f73096256a8f31e491e813e4eb8e"
OUTPUT_SIG = "d0e6a833031e9bbcd3f4e8bde6ca49a4"
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"

FAKE_ACCOUNT = "111122223333"


def _plain(value: Any, path: str, secrets: list[str]) -> Any:
    """Unwrap the engine's encoding into plain JSON, noting where secrets were."""
    if isinstance(value, dict):
        sig = value.get(SIG_KEY)
        if sig == SECRET_SIG:
            secrets.append(path)
            return _plain(value.get("value"), path, secrets)
        if sig == RESOURCE_SIG:
            return value.get("urn")
        if sig == OUTPUT_SIG:
            if value.get("secret"):
                secrets.append(path)
            return _plain(value.get("value", UNKNOWN), path, secrets)
        return {k: _plain(v, f"{path}.{k}" if path else k, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v, f"{path}[{i}]", secrets) for i, v in enumerate(value)]
    return value


def _digest(text: str) -> str:
    # hashlib, not hash(): saved plans must be identical between processes for `tools diff`.
    return hashlib.sha256(text.encode()).hexdigest()[:8]


class _FakeCloud(pulumi_mocks.Mocks):
    """Outputs a provider would compute (ids, ARNs, addresses), deterministic so plans diff cleanly."""

    def __init__(self, region: str):
        self.region = region

    def new_resource(self, args: pulumi_mocks.MockResourceArgs):
        state = dict(args.inputs)
        service = args.typ.split(":")[1].split("/")[0] if args.typ.count(":") >= 2 else "x"
        state.setdefault("arn", f"arn:aws:{service}:{self.region}:{FAKE_ACCOUNT}:{args.name}")
        computed = {
            "aws:ec2/instance:Instance": {"privateIp": state.get("privateIp", "10.0.0.10"),
                                           "primaryNetworkInterfaceId": f"eni-{_digest(args.name)}"},
            "aws:lb/loadBalancer:LoadBalancer": {"dnsName": f"{args.name}.elb.{self.region}.amazonaws.com",
                                                 "zoneId": "Z0000000000000"},
            "aws:s3/bucket:Bucket": {"bucket": state.get("bucket") or args.name,
                                     "bucketRegionalDomainName": f"{args.name}.s3.{self.region}.amazonaws.com"},
            "aws:kms/key:Key": {"keyId": f"key-{args.name}"},
            "aws:iam/role:Role": {"name": state.get("name") or args.name},
            "aws:iam/instanceProfile:InstanceProfile": {"name": state.get("name") or args.name},
            "aws:ec2/vpc:Vpc": {"defaultSecurityGroupId": f"sg-default-{args.name}",
                                "mainRouteTableId": f"rtb-main-{args.name}"},
            "aws:secretsmanager/secret:Secret": {"name": state.get("name") or args.name},
            "random:index/randomPassword:RandomPassword": {"result": f"mock-{args.name}-0123456789abcdef"},
            "tls:index/privateKey:PrivateKey": {"privateKeyPem": f"-----BEGIN PRIVATE KEY-----\nmock-{args.name}\n-----END PRIVATE KEY-----\n",
                                                 "publicKeyPem": "mock"},
            "tls:index/selfSignedCert:SelfSignedCert": {"certPem": f"-----BEGIN CERTIFICATE-----\nmock-{args.name}\n-----END CERTIFICATE-----\n"},
            "tls:index/certRequest:CertRequest": {"certRequestPem": "mock-csr"},
            "tls:index/locallySignedCert:LocallySignedCert": {"certPem": f"-----BEGIN CERTIFICATE-----\nmock-{args.name}\n-----END CERTIFICATE-----\n"},
            "aws:sns/topic:Topic": {"name": state.get("name") or args.name},
            "aws:cloudwatch/logGroup:LogGroup": {"name": state.get("name") or args.name},
        }.get(args.typ, {})
        state.update({k: v for k, v in computed.items() if state.get(k) is None})
        return f"{args.name}-id", state

    def call(self, args: pulumi_mocks.MockCallArgs):
        if args.token == "aws:ec2/getAmi:getAmi":
            return {"id": "ami-0mockdebian12", "architecture": "x86_64", "name": "debian-12-amd64-mock"}
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {"accountId": FAKE_ACCOUNT, "arn": f"arn:aws:iam::{FAKE_ACCOUNT}:user/ci", "userId": "ci"}
        if args.token == "aws:index/getPartition:getPartition":
            return {"partition": "aws", "dnsSuffix": "amazonaws.com"}
        if args.token == "aws:index/getRegion:getRegion":
            return {"name": self.region, "region": self.region}
        return {}


class RecordingMonitor(pulumi_mocks.MockMonitor):
    def __init__(self, mocks: pulumi_mocks.Mocks, mutate: Callable[[ResourceRecord], None] | None = None):
        super().__init__(mocks)
        self.records: dict[str, ResourceRecord] = {}
        self.mutate = mutate

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        if request.type == "pulumi:pulumi:Stack":
            return response
        secrets: list[str] = []
        raw = json_format.MessageToDict(request.object, preserving_proto_field_name=True)
        inputs = _plain(raw, "", secrets)
        record = ResourceRecord(
            urn=response.urn, type=request.type, name=request.name, custom=bool(request.custom),
            parent=request.parent or None, inputs=inputs, secret_paths=sorted(set(secrets)),
            dependencies=list(request.dependencies),
            property_dependencies={k: list(v.urns) for k, v in request.propertyDependencies.items()},
            provider=request.provider or None, protect=bool(request.protect), id=response.id or None,
            outputs=_plain(json_format.MessageToDict(response.object), "", []) if request.custom else {},
            retain_on_delete=bool(request.retainOnDelete),
            # As the engine receives them: URNs, or specs ({"spec": {"name"/"type"/"parentUrn": ...}}).
            aliases=[*request.aliasURNs, *(json_format.MessageToDict(a) for a in request.aliases)],
        )
        if self.mutate:
            self.mutate(record)
        self.records[response.urn] = record
        return response

    def RegisterResourceOutputs(self, request):
        record = self.records.get(request.urn)
        if record is not None:
            record.outputs = _plain(json_format.MessageToDict(request.outputs), "", [])
        return super().RegisterResourceOutputs(request)


@contextlib.contextmanager
def _program_dir(root: Path):
    cwd = os.getcwd()
    os.chdir(root)
    added = str(root) not in sys.path
    if added:
        sys.path.insert(0, str(root))
    try:
        yield
    finally:
        os.chdir(cwd)
        if added:
            sys.path.remove(str(root))


def _resolve(value: Any) -> Any:
    if isinstance(value, pulumi.Output):
        return _resolve(_sync_await(value.future()))
    if isinstance(value, dict):
        return {k: _resolve(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_resolve(v) for v in value]
    return value


def run_stack(stack: str, overrides: dict[str, Any] | None = None,
              mutate: Callable[[ResourceRecord], None] | None = None, root: Path = ROOT) -> Plan:
    """Run `__main__.py` with `Pulumi.<stack>.yaml` as config; `overrides` replaces config keys
    (namespaced, e.g. "pg-platform:cluster"), `mutate` may edit each record as it is registered."""
    # Offline, secure values get placeholders and their keys are secret, as the engine marks them.
    config, secret_keys = stack_config(stack, root, overrides)
    # The program itself reports a missing region; the fake cloud only needs one to shape its ARNs.
    region = config.get("aws:region") or "region-not-set"
    monitor = RecordingMonitor(_FakeCloud(region), mutate)
    pulumi_settings.ROOT.set(None)  # a fresh Stack per run, so runs in one process are independent
    pulumi_mocks.set_mocks(monitor.mocks, project="pg-platform", stack=stack, preview=False, monitor=monitor)
    set_all_config(config, secret_keys)
    pulumi_settings.SETTINGS.rpc_manager.clear()
    pulumi_settings.SETTINGS.outputs.clear()

    exported: dict[str, Any] = {}

    def program() -> None:
        with _program_dir(root):
            runpy.run_path(str(root / "__main__.py"), run_name="__main__")
        exported.update(pulumi_settings.get_root_resource().outputs)

    from pulumi.runtime.stack import run_pulumi_func

    _sync_await(run_pulumi_func(program))
    outputs = {k: _resolve(v) for k, v in exported.items()}
    return Plan(project="pg-platform", stack=stack, resources=list(monitor.records.values()), outputs=outputs)


def resource_tree(plan: Plan) -> str:
    """The preview tree a person reads: children indented under their component."""
    children: dict[str | None, list[ResourceRecord]] = {}
    for record in plan.resources:
        children.setdefault(record.parent if record.parent in {r.urn for r in plan.resources} else None, []).append(record)
    lines = [f"pulumi:pulumi:Stack  {plan.project}-{plan.stack}  ({len(plan.resources)} resources)"]

    def walk(parent: str | None, depth: int) -> None:
        for record in children.get(parent, []):
            flags = " [protect]" if record.protect else ""
            flags += " [secret: " + ", ".join(sorted({p.split('.')[0] for p in record.secret_paths})) + "]" if record.secret_paths else ""
            lines.append(f"{'  ' * depth}+ {record.type}  {record.name}{flags}")
            walk(record.urn, depth + 1)

    walk(None, 1)
    return "\n".join(lines)
