"""The offline runner: runs the real `__main__.py` for a stack under the Pulumi SDK's mock runtime and
records every resource registration exactly as the engine would receive it.

The recording monitor sees what plain `Mocks.new_resource` does not: parent, dependencies, property
dependencies, provider, `protect`, and which inputs arrived as secrets. Tests, `tools run`, `tools plan`
and `tools diff` all use this one runner.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import runpy
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi
from google.protobuf import json_format
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.config import set_all_config
from pulumi.runtime.sync_await import _sync_await

from stacks.errors import UserError
from stacks.files import ROOT, stack_config
from tools.constraints import autoname_rule, naming, registry
from tools.constraints.core import Violation, format_violations
from tools.protocol import OUTPUT_SIG, RESOURCE_SIG, SECRET_SIG, SIG_KEY, UNKNOWN
from tools.records import Plan, ResourceRecord

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


_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_SECRET_SUFFIX = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


class _FakeCloud(pulumi_mocks.Mocks):
    """Outputs a provider would compute (ids, ARNs, addresses) in the shapes and lengths AWS returns them,
    deterministic from the URN so plans diff cleanly: EC2 ids are `<prefix>-` + 17 hex digits, the account has 12
    digits, KMS keys are UUIDs, Secrets Manager ARNs end in `-` + 6 characters, load balancer and target group
    ARNs in `/<name>/<16 hex>` with the matching arnSuffix."""

    def __init__(self, region: str):
        self.region = region
        self._current = threading.local()

    @contextlib.contextmanager
    def registering(self, urn: str | None, named: naming.Named | None):
        """The monitor's RegisterResource calls new_resource on the same thread: hand it the URN and the name
        the provider chose, which MockResourceArgs does not carry."""
        self._current.urn, self._current.named = urn, named
        try:
            yield
        finally:
            self._current.urn = self._current.named = None

    # -- shapes ---------------------------------------------------------------------------------------------

    def _chars(self, seed: str, n: int, charset: str = naming.HEX, salt: str = "") -> str:
        return naming.deterministic_chars(seed, n, charset, salt)

    def _ec2_id(self, prefix: str, seed: str, salt: str = "") -> str:
        return f"{prefix}-{self._chars(seed, 17, salt=salt or prefix)}"

    def _uuid(self, seed: str, salt: str = "uuid") -> str:
        h = self._chars(seed, 32, salt=salt)
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) % 4]}{h[17:20]}-{h[20:32]}"

    def _arn(self, service: str, resource: str, region: bool = True) -> str:
        return f"arn:aws:{service}:{self.region if region else ''}:{FAKE_ACCOUNT}:{resource}"

    def new_resource(self, args: pulumi_mocks.MockResourceArgs):
        state = dict(args.inputs)
        urn = getattr(self._current, "urn", None) or f"{args.typ}::{args.name}"
        named = getattr(self._current, "named", None)
        if named is not None and not named.in_inputs:
            state[named.property] = named.value  # chosen by Terraform at create, from the prefix
        shaper = getattr(self, "_" + args.typ.replace(":", "_").replace("/", "_"), None)
        if shaper is not None:
            resource_id, computed = shaper(urn, state)
        else:
            service = args.typ.split(":")[1].split("/")[0] if args.typ.count(":") >= 2 else "x"
            resource_id, computed = (
                f"{args.name}-{self._chars(urn, 8)}",
                {"arn": self._arn(service, f"{args.name}-{self._chars(urn, 8)}")},
            )
        state.update({k: v for k, v in computed.items() if state.get(k) is None})
        return resource_id, state

    # EC2 / VPC
    def _aws_ec2_vpc_Vpc(self, urn, s):
        vpc = self._ec2_id("vpc", urn)
        return vpc, {
            "arn": self._arn("ec2", f"vpc/{vpc}"),
            "ownerId": FAKE_ACCOUNT,
            "defaultSecurityGroupId": self._ec2_id("sg", vpc, "default-sg"),
            "mainRouteTableId": self._ec2_id("rtb", vpc, "main-rtb"),
            "defaultRouteTableId": self._ec2_id("rtb", vpc, "main-rtb"),
            "defaultNetworkAclId": self._ec2_id("acl", vpc, "default-acl"),
        }

    def _aws_ec2_defaultSecurityGroup_DefaultSecurityGroup(self, urn, s):
        sg = self._ec2_id("sg", s["vpcId"], "default-sg") if s.get("vpcId") else self._ec2_id("sg", urn)
        return sg, {"arn": self._arn("ec2", f"security-group/{sg}"), "name": "default", "ownerId": FAKE_ACCOUNT}

    def _aws_ec2_securityGroup_SecurityGroup(self, urn, s):
        sg = self._ec2_id("sg", urn)
        return sg, {"arn": self._arn("ec2", f"security-group/{sg}"), "ownerId": FAKE_ACCOUNT}

    def _aws_ec2_subnet_Subnet(self, urn, s):
        subnet = self._ec2_id("subnet", urn)
        return subnet, {"arn": self._arn("ec2", f"subnet/{subnet}"), "ownerId": FAKE_ACCOUNT}

    def _aws_ec2_subnetCidrReservation_SubnetCidrReservation(self, urn, s):
        return self._ec2_id("scr", urn), {"ownerId": FAKE_ACCOUNT}

    def _aws_ec2_routeTable_RouteTable(self, urn, s):
        rtb = self._ec2_id("rtb", urn)
        return rtb, {"arn": self._arn("ec2", f"route-table/{rtb}"), "ownerId": FAKE_ACCOUNT}

    def _aws_ec2_routeTableAssociation_RouteTableAssociation(self, urn, s):
        return self._ec2_id("rtbassoc", urn), {}

    def _aws_ec2_route_Route(self, urn, s):
        # terraform-provider-aws: "r-" + route table id + a hash code of the destination
        digits = self._chars(urn, 10, "0123456789", "route")
        return f"r-{s.get('routeTableId', self._ec2_id('rtb', urn))}{digits.lstrip('0') or '1'}", {}

    def _aws_ec2_internetGateway_InternetGateway(self, urn, s):
        igw = self._ec2_id("igw", urn)
        return igw, {"arn": self._arn("ec2", f"internet-gateway/{igw}"), "ownerId": FAKE_ACCOUNT}

    def _aws_ec2_eip_Eip(self, urn, s):
        alloc = self._ec2_id("eipalloc", urn)
        octets = [int(self._chars(urn, 2, salt=f"ip{i}"), 16) for i in range(2)]
        return alloc, {
            "allocationId": alloc,
            "arn": self._arn("ec2", f"elastic-ip/{alloc}"),
            "publicIp": f"198.51.{octets[0]}.{octets[1]}",
            "domain": s.get("domain") or "vpc",
        }

    def _aws_ec2_natGateway_NatGateway(self, urn, s):
        return self._ec2_id("nat", urn), {
            "networkInterfaceId": self._ec2_id("eni", urn, "nat-eni"),
            "connectivityType": s.get("connectivityType") or "public",
        }

    def _aws_ec2_vpcEndpoint_VpcEndpoint(self, urn, s):
        vpce = self._ec2_id("vpce", urn)
        computed: dict[str, Any] = {
            "arn": self._arn("ec2", f"vpc-endpoint/{vpce}"),
            "ownerId": FAKE_ACCOUNT,
            "state": "available",
        }
        if s.get("vpcEndpointType") == "Gateway":
            computed["prefixListId"] = f"pl-{self._chars(urn, 8, salt='pl')}"
        else:
            computed["networkInterfaceIds"] = [
                self._ec2_id("eni", urn, f"eni{i}") for i in range(len(s.get("subnetIds") or []))
            ]
        return vpce, computed

    def _aws_ec2_vpcPeeringConnection_VpcPeeringConnection(self, urn, s):
        pcx = self._ec2_id("pcx", urn)
        return pcx, {"arn": self._arn("ec2", f"vpc-peering-connection/{pcx}"), "acceptStatus": "pending-acceptance"}

    def _aws_ec2_flowLog_FlowLog(self, urn, s):
        fl = self._ec2_id("fl", urn)
        return fl, {"arn": self._arn("ec2", f"vpc-flow-log/{fl}")}

    def _aws_ec2_instance_Instance(self, urn, s):
        instance = self._ec2_id("i", urn)
        ip = s.get("privateIp") or "10.0.0.10"
        return instance, {
            "arn": self._arn("ec2", f"instance/{instance}"),
            "primaryNetworkInterfaceId": self._ec2_id("eni", urn, "primary-eni"),
            "privateIp": ip,
            "privateDns": f"ip-{ip.replace('.', '-')}.{self.region}.compute.internal",
            "instanceState": "running",
        }

    def _aws_ebs_volume_Volume(self, urn, s):
        vol = self._ec2_id("vol", urn)
        return vol, {"arn": self._arn("ec2", f"volume/{vol}")}

    def _aws_ec2_volumeAttachment_VolumeAttachment(self, urn, s):
        return f"vai-{self._chars(urn, 10, '0123456789', 'vai').lstrip('0') or '1'}", {}

    def _security_group_rule(self, urn, s):
        rule = self._ec2_id("sgr", urn)
        return rule, {"arn": self._arn("ec2", f"security-group-rule/{rule}"), "securityGroupRuleId": rule}

    _aws_vpc_securityGroupIngressRule_SecurityGroupIngressRule = _security_group_rule
    _aws_vpc_securityGroupEgressRule_SecurityGroupEgressRule = _security_group_rule

    # IAM: a role's and a profile's id is their name
    def _aws_iam_role_Role(self, urn, s):
        name = s.get("name")
        return name, {
            "arn": f"arn:aws:iam::{FAKE_ACCOUNT}:role{s.get('path') or '/'}{name}",
            "uniqueId": "AROA" + self._chars(urn, 17, _ALNUM, "uid"),
            "name": name,
        }

    def _aws_iam_instanceProfile_InstanceProfile(self, urn, s):
        name = s.get("name")
        return name, {
            "arn": f"arn:aws:iam::{FAKE_ACCOUNT}:instance-profile{s.get('path') or '/'}{name}",
            "uniqueId": "AIPA" + self._chars(urn, 17, _ALNUM, "uid"),
            "name": name,
        }

    def _aws_iam_rolePolicy_RolePolicy(self, urn, s):
        return f"{s.get('role')}:{s.get('name')}", {}

    def _aws_iam_rolePolicyAttachment_RolePolicyAttachment(self, urn, s):
        return naming.prefixed_unique_id(f"{s.get('role')}-", urn), {}

    # KMS
    def _aws_kms_key_Key(self, urn, s):
        key = self._uuid(urn)
        return key, {"keyId": key, "arn": self._arn("kms", f"key/{key}")}

    def _aws_kms_alias_Alias(self, urn, s):
        name, target = s.get("name"), s.get("targetKeyId") or ""
        target_arn = target if target.startswith("arn:") else self._arn("kms", f"key/{target}")
        return name, {"arn": self._arn("kms", name), "targetKeyArn": target_arn}

    # Elastic Load Balancing v2
    def _aws_lb_loadBalancer_LoadBalancer(self, urn, s):
        name, tail = s.get("name"), self._chars(urn, 16, salt="lb")
        kind = {"network": "net", "gateway": "gwy"}.get(s.get("loadBalancerType") or "application", "app")
        suffix = f"{kind}/{name}/{tail}"
        internal = "internal-" if s.get("internal") and kind == "app" else ""
        return self._arn("elasticloadbalancing", f"loadbalancer/{suffix}"), {
            "arn": self._arn("elasticloadbalancing", f"loadbalancer/{suffix}"),
            "arnSuffix": suffix,
            "dnsName": f"{internal}{name}-{tail}.elb.{self.region}.amazonaws.com",
            "zoneId": "Z" + self._chars(f"{self.region}:{kind}", 13, _ALNUM, "lb-zone"),
        }

    def _aws_lb_targetGroup_TargetGroup(self, urn, s):
        suffix = f"targetgroup/{s.get('name')}/{self._chars(urn, 16, salt='tg')}"
        arn = self._arn("elasticloadbalancing", suffix)
        return arn, {"arn": arn, "arnSuffix": suffix}

    def _aws_lb_listener_Listener(self, urn, s):
        lb = s.get("loadBalancerArn") or ""
        parent = lb.split(":loadbalancer/", 1)[-1] if ":loadbalancer/" in lb else f"net/unknown/{self._chars(lb, 16)}"
        arn = self._arn("elasticloadbalancing", f"listener/{parent}/{self._chars(urn, 16, salt='listener')}")
        return arn, {"arn": arn}

    def _aws_lb_targetGroupAttachment_TargetGroupAttachment(self, urn, s):
        return naming.prefixed_unique_id(f"{s.get('targetGroupArn')}-", urn), {}

    # Route 53
    def _aws_route53_zone_Zone(self, urn, s):
        zone = "Z0" + self._chars(urn, 19, _ALNUM, "zone")
        return zone, {
            "zoneId": zone,
            "arn": f"arn:aws:route53:::hostedzone/{zone}",
            "nameServers": [
                f"ns-{int(self._chars(urn, 3, salt=f'ns{i}'), 16) % 2048}.awsdns-"
                f"{int(self._chars(urn, 2, salt=f'nd{i}'), 16) % 64:02d}.{tld}"
                for i, tld in enumerate(("com", "net", "org", "co.uk"))
            ],
        }

    def _aws_route53_record_Record(self, urn, s):
        return f"{s.get('zoneId')}_{s.get('name')}_{s.get('type')}", {"fqdn": s.get("name")}

    def _aws_route53_vpcAssociationAuthorization_VpcAssociationAuthorization(self, urn, s):
        return f"{s.get('zoneId')}:{s.get('vpcId')}", {}

    # S3: a bucket's id is its name; its settings are identified by the bucket
    def _aws_s3_bucket_Bucket(self, urn, s):
        bucket = s.get("bucket")
        return bucket, {
            "arn": f"arn:aws:s3:::{bucket}",
            "bucketDomainName": f"{bucket}.s3.amazonaws.com",
            "bucketRegionalDomainName": f"{bucket}.s3.{self.region}.amazonaws.com",
            "region": self.region,
            "hostedZoneId": "Z" + self._chars(self.region, 13, _ALNUM, "s3"),
        }

    def _bucket_setting(self, urn, s):
        return s.get("bucket"), {}

    _aws_s3_bucketVersioning_BucketVersioning = _bucket_setting
    _aws_s3_bucketObjectLockConfiguration_BucketObjectLockConfiguration = _bucket_setting
    _aws_s3_bucketPublicAccessBlock_BucketPublicAccessBlock = _bucket_setting
    _aws_s3_bucketServerSideEncryptionConfiguration_BucketServerSideEncryptionConfiguration = _bucket_setting
    _aws_s3_bucketOwnershipControls_BucketOwnershipControls = _bucket_setting
    _aws_s3_bucketPolicy_BucketPolicy = _bucket_setting
    _aws_s3_bucketLifecycleConfiguration_BucketLifecycleConfiguration = _bucket_setting

    # Secrets Manager: the ARN is the id and ends in "-" + 6 random characters
    def _aws_secretsmanager_secret_Secret(self, urn, s):
        arn = self._arn("secretsmanager", f"secret:{s.get('name')}-{self._chars(urn, 6, _SECRET_SUFFIX, 'sm')}")
        return arn, {"arn": arn}

    def _aws_secretsmanager_secretVersion_SecretVersion(self, urn, s):
        version = self._uuid(urn, "version")
        return f"{s.get('secretId')}|{version}", {
            "versionId": version,
            "arn": s.get("secretId"),
            "versionStages": ["AWSCURRENT"],
        }

    # SNS, CloudWatch
    def _aws_sns_topic_Topic(self, urn, s):
        arn = self._arn("sns", s.get("name"))
        return arn, {"arn": arn, "owner": FAKE_ACCOUNT}

    def _aws_sns_topicPolicy_TopicPolicy(self, urn, s):
        return s.get("arn"), {"owner": FAKE_ACCOUNT}

    def _aws_sns_topicSubscription_TopicSubscription(self, urn, s):
        arn = f"{s.get('topic')}:{self._uuid(urn, 'subscription')}"
        return arn, {
            "arn": arn,
            "ownerId": FAKE_ACCOUNT,
            "pendingConfirmation": s.get("protocol") in ("email", "email-json", "http", "https"),
        }

    def _aws_cloudwatch_logGroup_LogGroup(self, urn, s):
        name = s.get("name")
        return name, {"arn": self._arn("logs", f"log-group:{name}")}

    def _aws_cloudwatch_metricAlarm_MetricAlarm(self, urn, s):
        name = s.get("name")
        return name, {"arn": self._arn("cloudwatch", f"alarm:{name}")}

    # Local providers
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
        }

    def _certificate(self, urn, s):
        body = base64.b64encode(hashlib.sha256(("cert" + urn).encode()).digest() * 3).decode()
        serial = str(int(self._chars(urn, 32, salt="serial"), 16))
        return serial, {"certPem": f"-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n"}

    _tls_index_selfSignedCert_SelfSignedCert = _certificate
    _tls_index_locallySignedCert_LocallySignedCert = _certificate

    def _tls_index_certRequest_CertRequest(self, urn, s):
        body = base64.b64encode(hashlib.sha256(("csr" + urn).encode()).digest() * 2).decode()
        return self._chars(urn, 40, salt="csr"), {
            "certRequestPem": f"-----BEGIN CERTIFICATE REQUEST-----\n{body}\n-----END CERTIFICATE REQUEST-----\n"
        }

    def _command_local_Command(self, urn, s):
        return self._chars(urn, 8, _ALNUM.lower(), "cmd"), {"stdout": "", "stderr": ""}

    def _debian_image(self, query: dict[str, Any]) -> dict[str, Any]:
        """EC2's answer to an image lookup: an image of the architecture the filters ask for (x86_64 when they do
        not say), named as Debian names its images of that architecture."""
        filters = {f.get("name"): f.get("values", []) for f in query.get("filters") or []}
        architecture = (filters.get("architecture") or ["x86_64"])[0]
        debian_arch = {"x86_64": "amd64", "arm64": "arm64"}.get(architecture, architecture)
        # x86_64 keeps the seed it always had, so recorded graphs keep their image ids.
        seed = self.region + ":debian-12" + ("" if architecture == "x86_64" else f":{architecture}")
        ami = f"ami-{self._chars(seed, 17, salt='ami')}"
        return {
            "id": ami,
            "imageId": ami,
            "architecture": architecture,
            "name": f"debian-12-{debian_arch}-20261101-1000",
            "ownerId": "136693071363",
        }

    def call(self, args: pulumi_mocks.MockCallArgs):
        if args.token == "aws:ec2/getAmi:getAmi":
            return self._debian_image(args.args)
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {
                "accountId": FAKE_ACCOUNT,
                "arn": f"arn:aws:iam::{FAKE_ACCOUNT}:user/ci",
                "userId": "AIDA" + self._chars("ci", 17, _ALNUM, "user"),
                "id": FAKE_ACCOUNT,
            }
        if args.token == "aws:index/getPartition:getPartition":
            return {"partition": "aws", "dnsSuffix": "amazonaws.com"}
        if args.token == "aws:index/getRegion:getRegion":
            return {"name": self.region, "region": self.region}
        return {}


class RecordingMonitor(pulumi_mocks.MockMonitor):
    def __init__(self, mocks: _FakeCloud, mutate: Callable[[ResourceRecord], None] | None = None):
        super().__init__(mocks)
        self.mocks: _FakeCloud = mocks
        self.records: dict[str, ResourceRecord] = {}
        self.mutate = mutate

    def RegisterResource(self, request):
        urn, named = None, None
        if request.custom and request.type != "pulumi:pulumi:Stack":
            urn = self.make_urn(request.parent, request.type, request.name)
            named = self._autoname(request, urn)
        with self.mocks.registering(urn, named):
            response = super().RegisterResource(request)
        if request.type == "pulumi:pulumi:Stack":
            return response
        secrets: list[str] = []
        raw = json_format.MessageToDict(request.object, preserving_proto_field_name=True)
        inputs = _plain(raw, "", secrets)
        record = ResourceRecord(
            urn=response.urn,
            type=request.type,
            name=request.name,
            custom=bool(request.custom),
            parent=request.parent or None,
            inputs=inputs,
            secret_paths=sorted(set(secrets)),
            dependencies=list(request.dependencies),
            property_dependencies={k: list(v.urns) for k, v in request.propertyDependencies.items()},
            provider=request.provider or None,
            protect=bool(request.protect),
            id=response.id or None,
            outputs=_plain(json_format.MessageToDict(response.object), "", []) if request.custom else {},
            retain_on_delete=bool(request.retainOnDelete),
            ignore_changes=list(request.ignoreChanges),
            # As the engine receives them: URNs, or specs ({"spec": {"name"/"type"/"parentUrn": ...}}).
            aliases=[*request.aliasURNs, *(json_format.MessageToDict(a) for a in request.aliases)],
        )
        if self.mutate:
            self.mutate(record)
        self.records[response.urn] = record
        return response

    @staticmethod
    def _autoname(request, urn: str) -> naming.Named | None:
        """What the provider's Check adds before any API call: an auto-named property goes into the inputs the
        engine records (and so into the mock's outputs); a name Terraform picks at create from a prefix only into
        the outputs. A name the bridge refuses to make is recorded anyway, so check_constraints can report it."""
        rule = autoname_rule(request.type)
        if rule is None:
            return None
        named = naming.compute(rule, urn, _plain(json_format.MessageToDict(request.object), "", []))
        if named is not None and named.in_inputs:
            request.object.fields[named.property].string_value = named.value
        return named

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


class ConstraintError(UserError):
    """Values the cloud's API (or the provider, before any API call) would refuse: a real preview or update
    fails on them, so the offline run does too."""

    def __init__(self, stack: str, violations: list[Violation]):
        self.stack = stack
        self.violations = list(violations)
        # Each violation names its source (the cloud's API model or the provider's auto-naming), whatever the cloud.
        super().__init__(
            "the plan has values the cloud's API or its Pulumi provider would refuse (checked offline against "
            "their own models and auto-naming)\n" + format_violations(self.violations)
        )


def check_constraints(plan: Plan) -> list[Violation]:
    """Every value in the recorded plan the provider or the cloud's API would refuse: first the auto-names the
    bridge cannot make (its Check fails before any API call), then each mapped property against the limits of
    the API member it becomes (tools/constraints)."""
    found: list[Violation] = []
    for record in plan.resources:
        rule = autoname_rule(record.type) if record.custom else None
        value = record.inputs.get(rule.property) if rule else None
        if rule and rule.maxlen and isinstance(value, str):
            named = naming.compute(rule, record.urn, {k: v for k, v in record.inputs.items() if k != rule.property})
            if named is not None and named.failure and named.value == value:
                found.append(
                    Violation(
                        record.urn,
                        record.type,
                        record.name,
                        rule.property,
                        value,
                        f"max length {rule.maxlen}",
                        f"{rule.source}; the bridge's Check fails before any API call with "
                        f"\"could not make instance of '{record.type}': {named.failure}\"",
                    )
                )
    violations, _unmapped = registry().check(plan.resources)
    return found + violations


def run_stack(
    stack: str,
    overrides: dict[str, Any] | None = None,
    mutate: Callable[[ResourceRecord], None] | None = None,
    root: Path = ROOT,
    *,
    check: bool = True,
) -> Plan:
    """Run `__main__.py` with `Pulumi.<stack>.yaml` as config; `overrides` replaces config keys
    (namespaced, e.g. "pg-platform:cluster"), `mutate` may edit each record as it is registered.

    Afterwards every recorded resource is checked against what the provider and the cloud's API accept
    (check_constraints); a value they would refuse raises ConstraintError, as a real preview fails on it.
    `check=False` is for tests that plant such values on purpose and inspect the plan anyway."""
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
        root_resource = pulumi_settings.get_root_resource()
        assert root_resource is not None, "the mock runtime registers the stack before the program runs"
        exported.update(getattr(root_resource, "outputs", {}))

    from pulumi.runtime.stack import run_pulumi_func

    _sync_await(run_pulumi_func(program))
    outputs = {k: _resolve(v) for k, v in exported.items()}
    plan = Plan(project="pg-platform", stack=stack, resources=list(monitor.records.values()), outputs=outputs)
    if check:
        violations = check_constraints(plan)
        if violations:
            raise ConstraintError(stack, violations)
    return plan


def resource_tree(plan: Plan) -> str:
    """The preview tree a person reads: children indented under their component."""
    children: dict[str | None, list[ResourceRecord]] = {}
    for record in plan.resources:
        children.setdefault(record.parent if record.parent in {r.urn for r in plan.resources} else None, []).append(
            record
        )
    lines = [f"pulumi:pulumi:Stack  {plan.project}-{plan.stack}  ({len(plan.resources)} resources)"]

    def walk(parent: str | None, depth: int) -> None:
        for record in children.get(parent, []):
            flags = " [protect]" if record.protect else ""
            flags += (
                " [secret: " + ", ".join(sorted({p.split(".")[0] for p in record.secret_paths})) + "]"
                if record.secret_paths
                else ""
            )
            lines.append(f"{'  ' * depth}+ {record.type}  {record.name}{flags}")
            walk(record.urn, depth + 1)

    walk(None, 1)
    return "\n".join(lines)
