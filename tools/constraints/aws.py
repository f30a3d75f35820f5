"""AWS: the limits of the API members each pulumi-aws resource property becomes, read from the service models
botocore ships (`botocore.loaders.Loader().load_service_model(service, "service-2")`), and how pulumi-aws names
resources before any API call.

Where a limit is in the model's shape (min/max length, pattern, enum, numeric min/max) it is read from there.
Several members carry their limit only in the model's member documentation (elbv2 target group and load balancer
names, EC2 tag keys, security group descriptions, SNS topic names, CloudWatch Logs retention days, ...): those are
extracted from that text with an explicit phrase, and loading fails if the phrase is gone, so a botocore upgrade
that rewords a limit is noticed instead of silently dropping the check. S3 bucket names have no limit in the
model at all; their rules come from the Amazon S3 User Guide, and say so.

Patterns are matched against the whole value. Values unknown offline (the engine's unknown marker, ids and ARNs
the fake cloud computes) are only as checkable as their offline stand-ins: see tools/fakecloud/aws.py.
"""

from __future__ import annotations

import base64
import binascii
import html
import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from stacks.clouds.aws import EC2_USER_DATA_LIMIT
from tools.constraints.core import (
    Binding,
    BuiltPlugin,
    Constraint,
    Count,
    Length,
    OneOf,
    Pattern,
    Predicate,
    Range,
    Rule,
    TypeConstraints,
    When,
)
from tools.constraints.naming import AutoName

# --- botocore models -------------------------------------------------------------------------------------------


@cache
def _loader():
    from botocore.loaders import Loader

    return Loader()


@cache
def model(service: str) -> dict[str, Any]:
    return _loader().load_service_model(service, "service-2")


def botocore_version() -> str:
    import botocore

    return botocore.__version__


@dataclass(frozen=True)
class Member:
    service: str
    input_shape: str  # e.g. CreateTargetGroupInput
    path: str  # e.g. HealthCheckIntervalSeconds, Tags[].Key
    shape_name: str
    shape: dict
    documentation: str  # the member's documentation, HTML stripped

    @property
    def label(self) -> str:
        return f"botocore {self.service} {self.input_shape}" + (f".{self.path}" if self.path else "")


@cache
def member(ref: str) -> Member:
    """`service:Operation.Member[.Nested|[]...]` -> the model's member. Lists step into their element with `[]`;
    a bare `Shape.Member` after `service:` with no operation of that name names a shape directly."""
    service, rest = ref.split(":", 1)
    m = model(service)
    head, _, path = rest.partition(".")
    if head in m["operations"]:
        shape_name = m["operations"][head]["input"]["shape"]
    elif head in m["shapes"]:
        shape_name = head
    else:
        raise KeyError(f"{service} has no operation or shape {head!r}")
    input_shape, shape, doc = shape_name, m["shapes"][shape_name], ""
    for part in [p for p in path.split(".") if p]:
        is_list = part.endswith("[]")
        name = part[:-2] if is_list else part
        spec = shape["members"][name]
        doc = spec.get("documentation", "")
        shape_name = spec["shape"]
        shape = m["shapes"][shape_name]
        if is_list:
            shape_name = shape["member"]["shape"]
            shape = m["shapes"][shape_name]
    text = html.unescape(re.sub(r"<[^>]+>", " ", doc or shape.get("documentation", "")))
    return Member(service, input_shape, path, shape_name, shape, re.sub(r"\s+", " ", text).strip())


def model_rules(ref: str) -> tuple[Constraint, ...]:
    """What the model's shape itself says: length or count, numeric range, pattern, enum."""
    mm = member(ref)
    s = mm.shape
    out: list[Rule] = []
    kind = s["type"]
    if kind == "string":
        if s.get("min", 0) > 0 or "max" in s:  # a min of 0 says nothing
            out.append(Length(s.get("min") or None, s.get("max")))
        if "pattern" in s:
            out.append(Pattern(s["pattern"]))
        if "enum" in s:
            out.append(OneOf(tuple(s["enum"])))
    elif kind in ("integer", "long", "double", "float"):
        if "min" in s or "max" in s:
            out.append(Range(s.get("min"), s.get("max")))
    elif kind in ("list", "map") and (s.get("max") is not None or s.get("min")):
        out.append(Count(s.get("min") or None, s.get("max")))
    if not out:
        raise ValueError(
            f"{mm.label} ({mm.shape_name}) has no constraint in the model; bind its documentation or leave it unbound"
        )
    return tuple(Constraint(r, f"{mm.label}") for r in out)


# Extracting a limit from a member's documentation: each phrase must be present.

DocRule = Callable[[re.Match], Any]


def doc(ref: str, *phrases: tuple[str, DocRule]) -> tuple[Constraint, ...]:
    mm = member(ref)
    out = []
    for regex, make in phrases:
        match = re.search(regex, mm.documentation)
        if not match:
            raise ValueError(f"{mm.label}: documentation no longer says /{regex}/: {mm.documentation[:300]!r}")
        quoted = match.group(0).strip()
        quoted = quoted if len(quoted) <= 100 else quoted[:97] + "..."
        out.append(Constraint(make(match), f'{mm.label} (documentation: "{quoted}")'))
    return tuple(out)


def _int(text: str) -> int:
    return int(text.replace(",", ""))


def max_chars(regex: str) -> tuple[str, DocRule]:
    return regex, lambda m: Length(None, _int(m.group(1)))


def between_chars(regex: str) -> tuple[str, DocRule]:
    return regex, lambda m: Length(_int(m.group(1)), _int(m.group(2)))


def int_range(regex: str) -> tuple[str, DocRule]:
    return regex, lambda m: Range(_int(m.group(1)), _int(m.group(2)))


def int_values(regex: str) -> tuple[str, DocRule]:
    return regex, lambda m: OneOf(tuple(_int(x) for x in re.findall(r"\d[\d,]*", m.group(1))))


def word_values(regex: str) -> tuple[str, DocRule]:
    return regex, lambda m: OneOf(tuple(w for w in re.split(r"[\s|,]+", m.group(1)) if w and w != "and"))


def allowed_chars(regex: str, base: str = "a-zA-Z0-9 ") -> tuple[str, DocRule]:
    """'Valid characters: a-z, A-Z, 0-9, spaces, and ._-:/()#,@[]+=&;{}!$*' -> a whole-value character class."""

    def make(m: re.Match) -> Pattern:
        extra = m.group(1)
        return Pattern("[" + base + re.escape(extra) + "]*")

    return regex, make


def phrase(regex: str, test: Callable[[str], bool], text: str) -> tuple[str, DocRule]:
    return regex, lambda m: Predicate(test, text)


def per_volume_type(regex_type_ranges: str, volume_type_key: str, local: bool) -> tuple[str, DocRule]:
    """'gp3 : 3,000 - 80,000 IOPS  io1 : 100 - 64,000 IOPS ...' -> one range per volume type."""

    def make(m: re.Match):
        rules = []
        for kinds, lo, hi in re.findall(
            r"((?:gp2|gp3|io1|io2|st1|sc1|standard)(?:\s+and\s+(?:st1|sc1))?)\s*:\s*"
            r"([\d,]+)\s*(?:\(\s*default\s*\))?\s*-\s*([\d,]+)",
            m.group(0),
        ):
            types = tuple(t for t in re.split(r"\s+and\s+", kinds))
            rules.append(When(volume_type_key, types, Range(_int(lo), _int(hi)), local=local))
        if not rules:
            raise ValueError(f"no per-type ranges in {m.group(0)!r}")
        return _All(tuple(rules))

    return regex_type_ranges, make


@dataclass(frozen=True)
class _All:
    rules: tuple

    def check(self, value, context):
        for rule in self.rules:
            broken = rule.check(value, context)
            if broken:
                return broken
        return None

    def describe(self) -> str:
        return "; ".join(r.describe() for r in self.rules)


def no_hyphen_ends(value: str) -> bool:
    return not (value.startswith("-") or value.endswith("-"))


# --- documented outside the model -----------------------------------------------------------------------------

S3_NAMING = (
    "Amazon S3 User Guide, General purpose bucket naming rules "
    "(https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html); botocore's s3 "
    "CreateBucketRequest.Bucket has no length or pattern"
)


def _ip_shaped(value: str) -> bool:
    try:
        ipaddress.IPv4Address(value)
        return True
    except ValueError:
        return False


S3_BUCKET_NAME = tuple(
    Constraint(rule, S3_NAMING)
    for rule in (
        Length(3, 63),
        Predicate(
            lambda v: re.fullmatch(r"[a-z0-9.-]*", v) is not None,
            "only lowercase letters, numbers, periods and hyphens",
        ),
        Predicate(lambda v: bool(v) and v[0].isalnum() and v[-1].isalnum(), "begins and ends with a letter or number"),
        Predicate(lambda v: ".." not in v, "no two adjacent periods"),
        Predicate(lambda v: not _ip_shaped(v), "not formatted as an IP address"),
        Predicate(
            lambda v: not v.startswith(("xn--", "sthree-", "amzn-s3-demo-")),
            "does not start with xn--, sthree- or amzn-s3-demo-",
        ),
        Predicate(
            lambda v: not v.endswith(("-s3alias", "--ol-s3", ".mrap", "--x-s3")),
            "does not end with -s3alias, --ol-s3, .mrap or --x-s3",
        ),
    )
)

USER_DATA_SOURCE = (
    "Amazon EC2 User Guide, Work with instance user data "
    "(https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/instancedata-add-user-data.html): "
    '"User data is limited to 16 KB, in raw form, before it is base64-encoded"'
)


def _raw_user_data_fits(value: str) -> bool:
    try:
        return len(base64.b64decode(value, validate=True)) <= EC2_USER_DATA_LIMIT
    except (binascii.Error, ValueError):
        return False


USER_DATA = (
    Constraint(
        Predicate(_raw_user_data_fits, f"at most {EC2_USER_DATA_LIMIT} bytes after base64 decoding"), USER_DATA_SOURCE
    ),
)


# --- tags --------------------------------------------------------------------------------------------------------


def tag_bindings(tags_ref: str) -> list[Binding]:
    """`tags` (a map in Pulumi) against the service's tag shapes. `tags_ref` names the Tags member of an operation:
    a list of Key/Value (or TagKey/TagValue) structures, or a map."""
    tags = member(tags_ref)
    shapes = model(tags.service)["shapes"]
    if tags.shape["type"] == "map":
        key_rules = _shape_rules(shapes, tags.shape["key"]["shape"], f"{tags.label} key")
        value_rules = _shape_rules(shapes, tags.shape["value"]["shape"], f"{tags.label} value")
    else:
        members = shapes[tags.shape["member"]["shape"]]["members"]
        key_name = next(k for k in ("Key", "TagKey") if k in members)
        value_name = next(k for k in ("Value", "TagValue") if k in members)
        key_rules = model_rules(f"{tags_ref}[].{key_name}")
        value_rules = model_rules(f"{tags_ref}[].{value_name}")
    out = [
        Binding("tags.{key}", key_rules, member=f"{tags.label} keys"),
        Binding("tags.{value}", value_rules, member=f"{tags.label} values"),
    ]
    if tags.shape.get("max") is not None:
        out.append(Binding("tags", (Constraint(Count(None, tags.shape["max"]), tags.label),), member=tags.label))
    return out


def _shape_rules(shapes: dict, shape_name: str, label: str) -> tuple[Constraint, ...]:
    s = shapes[shape_name]
    rules: list[Any] = []
    if s.get("min", 0) > 0 or "max" in s:
        rules.append(Length(s.get("min") or None, s.get("max")))
    if "pattern" in s:
        rules.append(Pattern(s["pattern"]))
    return tuple(Constraint(r, f"{label} ({shape_name})") for r in rules)


def ec2_tag_bindings(prop: str = "tags") -> list[Binding]:
    """EC2's model gives tag keys and values no length; its Tag documentation does (127 and 256)."""
    key = doc(
        "ec2:Tag.Key",
        max_chars(r"accept a maximum of (\d+) Unicode characters"),
        phrase(r"May not begin with\s+aws:", lambda v: not v.lower().startswith("aws:"), "may not begin with aws:"),
    )
    value = doc("ec2:Tag.Value", max_chars(r"accept a maximum of (\d+) Unicode characters"))
    return [
        Binding(f"{prop}.{{key}}", key, member="botocore ec2 Tag.Key"),
        Binding(f"{prop}.{{value}}", value, member="botocore ec2 Tag.Value"),
    ]


# --- the type map ------------------------------------------------------------------------------------------------


def B(path: str, *groups: Iterable[Constraint], when=None, api: str = "") -> Binding:
    constraints = tuple(c for g in groups for c in g)
    return Binding(path, constraints, when=when, member=api)


def M(path: str, ref: str, when=None) -> Binding:
    """A property bound to one API member's model constraints."""
    return B(path, model_rules(ref), when=when, api=ref)


SG_RULE_CHARS = r"Allowed characters are a-z, A-Z, 0-9, spaces, and (\S+)"


def _sg_rule_description(direction: str) -> list[Binding]:
    op = f"ec2:AuthorizeSecurityGroup{direction}.IpPermissions[]"

    def has(key: str):
        return lambda inputs: inputs.get(key) not in (None, "")

    out = []
    for source_key, member_path in (
        ("cidrIpv4", "IpRanges[].Description"),
        ("cidrIpv6", "Ipv6Ranges[].Description"),
        ("prefixListId", "PrefixListIds[].Description"),
        ("referencedSecurityGroupId", "UserIdGroupPairs[].Description"),
    ):
        ref = f"{op}.{member_path}"
        out.append(
            B(
                "description",
                doc(ref, max_chars(r"Up to (\d+) characters in length"), allowed_chars(SG_RULE_CHARS)),
                when=has(source_key),
                api=ref,
            )
        )
    return out


def _inline_sg_rules(prop: str) -> list[Binding]:
    ref = f"ec2:AuthorizeSecurityGroup{prop.capitalize()}.IpPermissions[].IpRanges[].Description"
    return [
        B(
            f"{prop}[].description",
            doc(ref, max_chars(r"Up to (\d+) characters in length"), allowed_chars(SG_RULE_CHARS)),
            api=ref,
        )
    ]


def _sg_group_name_and_description() -> list[Binding]:
    chars = r"Valid characters: a-z, A-Z, 0-9, spaces, and (\S+)"
    name = doc(
        "ec2:CreateSecurityGroup.GroupName",
        max_chars(r"Up to (\d+) characters in length"),
        phrase(r"Can't start with\s+sg-", lambda v: not v.startswith("sg-"), "cannot start with sg-"),
        allowed_chars(chars),
    )
    description = doc(
        "ec2:CreateSecurityGroup.Description", max_chars(r"Up to (\d+) characters in length"), allowed_chars(chars)
    )
    return [
        B("name", name, api="ec2:CreateSecurityGroup.GroupName"),
        B("description", description, api="ec2:CreateSecurityGroup.Description"),
    ]


def _elbv2_name(ref: str, internal_rule: bool) -> tuple[Constraint, ...]:
    phrases = [
        max_chars(r"can have a maximum of (\d+) characters"),
        phrase(
            r"must contain only alphanumeric characters or hyphens",
            lambda v: re.fullmatch(r"[A-Za-z0-9-]*", v) is not None,
            "only alphanumeric characters or hyphens",
        ),
        phrase(r"must not begin or end with a hyphen", no_hyphen_ends, "must not begin or end with a hyphen"),
    ]
    if internal_rule:
        phrases.append(
            phrase(
                r"must not begin with \"internal-\"",
                lambda v: not v.startswith("internal-"),
                "must not begin with internal-",
            )
        )
    return doc(ref, *phrases)


def _ebs(
    prefix: str, type_key: str, local: bool, size_ref: str, iops_ref: str, throughput_ref: str, type_ref: str
) -> list[Binding]:
    return [
        M(f"{prefix}{type_key}", type_ref),
        B(
            f"{prefix}{'size' if not local else 'volumeSize'}",
            doc(size_ref, per_volume_type(r"(?:Valid sizes|supported sizes for each volume type):.*", type_key, local)),
            api=size_ref,
        ),
        B(
            f"{prefix}iops",
            doc(
                iops_ref, per_volume_type(r"(?:Valid ranges|supported values for each volume type):.*", type_key, local)
            ),
            api=iops_ref,
        ),
        B(
            f"{prefix}throughput",
            doc(
                throughput_ref,
                int_range(
                    r"Valid Range:?\s*(?:Minimum value of\s*)?([\d,]+)"
                    r"(?:\.\s*Maximum value of\s*|\s*-\s*)([\d,]+)"
                ),
            ),
            api=throughput_ref,
        ),
    ]


def _build() -> dict[str, TypeConstraints]:
    T: dict[str, TypeConstraints] = {}

    def add(type_token: str, api: str, *bindings: Binding | list[Binding]) -> None:
        flat: list[Binding] = []
        for b in bindings:
            flat.extend(b if isinstance(b, list) else [b])
        T[type_token] = TypeConstraints(type_token, api, flat)

    # CloudWatch Logs and alarms
    add(
        "aws:cloudwatch/logGroup:LogGroup",
        "logs CreateLogGroup, PutRetentionPolicy",
        M("name", "logs:CreateLogGroup.logGroupName"),
        M("kmsKeyId", "logs:CreateLogGroup.kmsKeyId"),
        M("logGroupClass", "logs:CreateLogGroup.logGroupClass"),
        B(
            "retentionInDays",
            doc("logs:Days", int_values(r"Possible values are:\s*([\d,\s]+(?:and\s+\d+))")),
            api="logs:PutRetentionPolicy.retentionInDays",
        ),
        tag_bindings("logs:CreateLogGroup.tags"),
    )
    alarm = "cloudwatch:PutMetricAlarm"
    add(
        "aws:cloudwatch/metricAlarm:MetricAlarm",
        "cloudwatch PutMetricAlarm",
        M("name", f"{alarm}.AlarmName"),
        M("alarmDescription", f"{alarm}.AlarmDescription"),
        M("metricName", f"{alarm}.MetricName"),
        M("namespace", f"{alarm}.Namespace"),
        M("statistic", f"{alarm}.Statistic"),
        M("comparisonOperator", f"{alarm}.ComparisonOperator"),
        M("unit", f"{alarm}.Unit"),
        B(
            "period",
            model_rules(f"{alarm}.Period"),
            doc(
                f"{alarm}.Period",
                (
                    r"Valid values are 10, 20, 30, and any multiple of 60",
                    lambda m: Predicate(
                        lambda v: v in (10, 20, 30) or (v > 0 and v % 60 == 0),
                        "10, 20, 30 or a multiple of 60",
                        applies=lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
                    ),
                ),
            ),
            api=f"{alarm}.Period",
        ),
        M("evaluationPeriods", f"{alarm}.EvaluationPeriods"),
        M("datapointsToAlarm", f"{alarm}.DatapointsToAlarm"),
        B(
            "treatMissingData",
            model_rules(f"{alarm}.TreatMissingData"),
            doc(f"{alarm}.TreatMissingData", word_values(r"Valid Values:\s*((?:\w+\s*\|\s*)+\w+)")),
            api=f"{alarm}.TreatMissingData",
        ),
        M("alarmActions", f"{alarm}.AlarmActions"),
        M("alarmActions[]", f"{alarm}.AlarmActions[]"),
        M("okActions", f"{alarm}.OKActions"),
        M("okActions[]", f"{alarm}.OKActions[]"),
        M("insufficientDataActions", f"{alarm}.InsufficientDataActions"),
        M("insufficientDataActions[]", f"{alarm}.InsufficientDataActions[]"),
        M("dimensions", f"{alarm}.Dimensions"),
        M("dimensions.{key}", f"{alarm}.Dimensions[].Name"),
        M("dimensions.{value}", f"{alarm}.Dimensions[].Value"),
        tag_bindings(f"{alarm}.Tags"),
    )

    # EC2 and EBS
    add(
        "aws:ebs/volume:Volume",
        "ec2 CreateVolume",
        _ebs(
            "",
            "type",
            False,
            "ec2:CreateVolume.Size",
            "ec2:CreateVolume.Iops",
            "ec2:CreateVolume.Throughput",
            "ec2:CreateVolume.VolumeType",
        ),
        ec2_tag_bindings(),
    )
    add(
        "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup",
        "ec2 RevokeSecurityGroupIngress/Egress and AuthorizeSecurityGroupIngress/Egress on the VPC's default group, "
        "CreateTags",
        _inline_sg_rules("ingress"),
        _inline_sg_rules("egress"),
        ec2_tag_bindings(),
    )
    add("aws:ec2/eip:Eip", "ec2 AllocateAddress", M("domain", "ec2:AllocateAddress.Domain"), ec2_tag_bindings())
    add(
        "aws:ec2/flowLog:FlowLog",
        "ec2 CreateFlowLogs",
        M("trafficType", "ec2:CreateFlowLogs.TrafficType"),
        M("logDestinationType", "ec2:CreateFlowLogs.LogDestinationType"),
        B(
            "maxAggregationInterval",
            doc(
                "ec2:CreateFlowLogs.MaxAggregationInterval",
                (
                    r"possible values are (\d+) seconds \(1 minute\) or (\d+) seconds",
                    lambda m: OneOf((int(m.group(1)), int(m.group(2)))),
                ),
            ),
            api="ec2:CreateFlowLogs.MaxAggregationInterval",
        ),
        ec2_tag_bindings(),
    )
    run = "ec2:RunInstances"
    add(
        "aws:ec2/instance:Instance",
        "ec2 RunInstances",
        M("instanceType", f"{run}.InstanceType"),
        M("metadataOptions.httpTokens", f"{run}.MetadataOptions.HttpTokens"),
        M("metadataOptions.httpEndpoint", f"{run}.MetadataOptions.HttpEndpoint"),
        M("metadataOptions.httpProtocolIpv6", f"{run}.MetadataOptions.HttpProtocolIpv6"),
        M("metadataOptions.instanceMetadataTags", f"{run}.MetadataOptions.InstanceMetadataTags"),
        B(
            "metadataOptions.httpPutResponseHopLimit",
            doc(f"{run}.MetadataOptions.HttpPutResponseHopLimit", int_range(r"Integers from (\d+) to (\d+)")),
            api=f"{run}.MetadataOptions.HttpPutResponseHopLimit",
        ),
        _ebs(
            "rootBlockDevice.",
            "volumeType",
            True,
            f"{run}.BlockDeviceMappings[].Ebs.VolumeSize",
            f"{run}.BlockDeviceMappings[].Ebs.Iops",
            f"{run}.BlockDeviceMappings[].Ebs.Throughput",
            f"{run}.BlockDeviceMappings[].Ebs.VolumeType",
        ),
        _ebs(
            "ebsBlockDevices[].",
            "volumeType",
            True,
            f"{run}.BlockDeviceMappings[].Ebs.VolumeSize",
            f"{run}.BlockDeviceMappings[].Ebs.Iops",
            f"{run}.BlockDeviceMappings[].Ebs.Throughput",
            f"{run}.BlockDeviceMappings[].Ebs.VolumeType",
        ),
        B("userDataBase64", USER_DATA, api=f"{run}.UserData"),
        ec2_tag_bindings(),
        ec2_tag_bindings("volumeTags"),
        ec2_tag_bindings("rootBlockDevice.tags"),
    )
    add(
        "aws:ec2/internetGateway:InternetGateway",
        "ec2 CreateInternetGateway, AttachInternetGateway",
        ec2_tag_bindings(),
    )
    add(
        "aws:ec2/natGateway:NatGateway",
        "ec2 CreateNatGateway",
        M("connectivityType", "ec2:CreateNatGateway.ConnectivityType"),
        ec2_tag_bindings(),
    )
    add("aws:ec2/route:Route", "ec2 CreateRoute (its members carry no length, pattern or enum in the model)")
    add("aws:ec2/routeTable:RouteTable", "ec2 CreateRouteTable, CreateRoute", ec2_tag_bindings())
    add(
        "aws:ec2/routeTableAssociation:RouteTableAssociation",
        "ec2 AssociateRouteTable (its members carry no length, pattern or enum in the model)",
    )
    add(
        "aws:ec2/securityGroup:SecurityGroup",
        "ec2 CreateSecurityGroup",
        _sg_group_name_and_description(),
        _inline_sg_rules("ingress"),
        _inline_sg_rules("egress"),
        ec2_tag_bindings(),
    )
    add("aws:ec2/subnet:Subnet", "ec2 CreateSubnet", ec2_tag_bindings())
    add(
        "aws:ec2/subnetCidrReservation:SubnetCidrReservation",
        "ec2 CreateSubnetCidrReservation",
        M("reservationType", "ec2:CreateSubnetCidrReservation.ReservationType"),
    )
    add(
        "aws:ec2/volumeAttachment:VolumeAttachment",
        "ec2 AttachVolume (its members carry no length, pattern or enum in the model)",
    )
    add("aws:ec2/vpc:Vpc", "ec2 CreateVpc", M("instanceTenancy", "ec2:CreateVpc.InstanceTenancy"), ec2_tag_bindings())
    add(
        "aws:ec2/vpcEndpoint:VpcEndpoint",
        "ec2 CreateVpcEndpoint",
        M("vpcEndpointType", "ec2:CreateVpcEndpoint.VpcEndpointType"),
        M("ipAddressType", "ec2:CreateVpcEndpoint.IpAddressType"),
        M("dnsOptions.dnsRecordIpType", "ec2:CreateVpcEndpoint.DnsOptions.DnsRecordIpType"),
        ec2_tag_bindings(),
    )
    add("aws:ec2/vpcPeeringConnection:VpcPeeringConnection", "ec2 CreateVpcPeeringConnection", ec2_tag_bindings())
    for direction, token in (
        ("Ingress", "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"),
        ("Egress", "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"),
    ):
        add(
            token,
            f"ec2 AuthorizeSecurityGroup{direction} (TagSpecifications for its tags)",
            _sg_rule_description(direction),
            ec2_tag_bindings(),
        )

    # IAM
    add(
        "aws:iam/instanceProfile:InstanceProfile",
        "iam CreateInstanceProfile, AddRoleToInstanceProfile",
        M("name", "iam:CreateInstanceProfile.InstanceProfileName"),
        M("path", "iam:CreateInstanceProfile.Path"),
        M("role", "iam:AddRoleToInstanceProfile.RoleName"),
        tag_bindings("iam:CreateInstanceProfile.Tags"),
    )
    add(
        "aws:iam/role:Role",
        "iam CreateRole",
        M("name", "iam:CreateRole.RoleName"),
        M("path", "iam:CreateRole.Path"),
        M("description", "iam:CreateRole.Description"),
        M("maxSessionDuration", "iam:CreateRole.MaxSessionDuration"),
        M("assumeRolePolicy", "iam:CreateRole.AssumeRolePolicyDocument"),
        M("permissionsBoundary", "iam:CreateRole.PermissionsBoundary"),
        tag_bindings("iam:CreateRole.Tags"),
    )
    add(
        "aws:iam/rolePolicy:RolePolicy",
        "iam PutRolePolicy",
        M("name", "iam:PutRolePolicy.PolicyName"),
        M("role", "iam:PutRolePolicy.RoleName"),
        M("policy", "iam:PutRolePolicy.PolicyDocument"),
    )
    add(
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
        "iam AttachRolePolicy",
        M("role", "iam:AttachRolePolicy.RoleName"),
        M("policyArn", "iam:AttachRolePolicy.PolicyArn"),
    )

    # KMS
    add(
        "aws:kms/alias:Alias",
        "kms CreateAlias",
        B(
            "name",
            model_rules("kms:CreateAlias.AliasName"),
            doc(
                "kms:CreateAlias.AliasName",
                phrase(r"must begin with\s+alias/", lambda v: v.startswith("alias/"), "must begin with alias/"),
                phrase(
                    r"cannot begin with\s+alias/aws/",
                    lambda v: not v.startswith("alias/aws/"),
                    "cannot begin with alias/aws/",
                ),
            ),
            api="kms:CreateAlias.AliasName",
        ),
        M("targetKeyId", "kms:CreateAlias.TargetKeyId"),
    )
    add(
        "aws:kms/key:Key",
        "kms CreateKey, EnableKeyRotation, ScheduleKeyDeletion (on destroy)",
        M("description", "kms:CreateKey.Description"),
        M("policy", "kms:CreateKey.Policy"),
        M("keyUsage", "kms:CreateKey.KeyUsage"),
        M("customerMasterKeySpec", "kms:CreateKey.KeySpec"),
        M("customKeyStoreId", "kms:CreateKey.CustomKeyStoreId"),
        M("rotationPeriodInDays", "kms:EnableKeyRotation.RotationPeriodInDays"),
        B(
            "deletionWindowInDays",
            model_rules("kms:ScheduleKeyDeletion.PendingWindowInDays"),
            doc("kms:ScheduleKeyDeletion.PendingWindowInDays", int_range(r"between (\d+) and (\d+), inclusive")),
            api="kms:ScheduleKeyDeletion.PendingWindowInDays",
        ),
        tag_bindings("kms:CreateKey.Tags"),
    )

    # Elastic Load Balancing v2
    add(
        "aws:lb/listener:Listener",
        "elbv2 CreateListener",
        M("port", "elbv2:CreateListener.Port"),
        M("protocol", "elbv2:CreateListener.Protocol"),
        M("defaultActions[].type", "elbv2:CreateListener.DefaultActions[].Type"),
        M("defaultActions[].order", "elbv2:CreateListener.DefaultActions[].Order"),
        tag_bindings("elbv2:CreateListener.Tags"),
    )
    add(
        "aws:lb/loadBalancer:LoadBalancer",
        "elbv2 CreateLoadBalancer",
        B("name", _elbv2_name("elbv2:CreateLoadBalancer.Name", True), api="elbv2:CreateLoadBalancer.Name"),
        M("loadBalancerType", "elbv2:CreateLoadBalancer.Type"),
        M("ipAddressType", "elbv2:CreateLoadBalancer.IpAddressType"),
        tag_bindings("elbv2:CreateLoadBalancer.Tags"),
    )
    tg = "elbv2:CreateTargetGroup"
    add(
        "aws:lb/targetGroup:TargetGroup",
        "elbv2 CreateTargetGroup, ModifyTargetGroupAttributes",
        B("name", _elbv2_name(f"{tg}.Name", False), api=f"{tg}.Name"),
        M("port", f"{tg}.Port"),
        M("protocol", f"{tg}.Protocol"),
        M("targetType", f"{tg}.TargetType"),
        M("ipAddressType", f"{tg}.IpAddressType"),
        M("healthCheck.protocol", f"{tg}.HealthCheckProtocol"),
        M("healthCheck.path", f"{tg}.HealthCheckPath"),
        M("healthCheck.interval", f"{tg}.HealthCheckIntervalSeconds"),
        M("healthCheck.timeout", f"{tg}.HealthCheckTimeoutSeconds"),
        M("healthCheck.healthyThreshold", f"{tg}.HealthyThresholdCount"),
        M("healthCheck.unhealthyThreshold", f"{tg}.UnhealthyThresholdCount"),
        B(
            "deregistrationDelay",
            doc(
                "elbv2:TargetGroupAttribute.Key",
                int_range(
                    r"deregistration_delay\.timeout_seconds\s*-.*?The range is (\d+)-(\d+) "
                    r"seconds"
                ),
            ),
            api="elbv2:ModifyTargetGroupAttributes deregistration_delay.timeout_seconds",
        ),
        tag_bindings(f"{tg}.Tags"),
    )
    add(
        "aws:lb/targetGroupAttachment:TargetGroupAttachment",
        "elbv2 RegisterTargets",
        M("port", "elbv2:RegisterTargets.Targets[].Port"),
    )

    # Route 53
    rrset = "route53:ChangeResourceRecordSets.ChangeBatch.Changes[].ResourceRecordSet"
    add(
        "aws:route53/record:Record",
        "route53 ChangeResourceRecordSets",
        M("zoneId", "route53:ChangeResourceRecordSets.HostedZoneId"),
        M("name", f"{rrset}.Name"),
        M("type", f"{rrset}.Type"),
        M("ttl", f"{rrset}.TTL"),
        M("setIdentifier", f"{rrset}.SetIdentifier"),
        M("aliases[].name", f"{rrset}.AliasTarget.DNSName"),
        M("aliases[].zoneId", f"{rrset}.AliasTarget.HostedZoneId"),
        M("records[]", f"{rrset}.ResourceRecords[].Value"),
    )
    add(
        "aws:route53/vpcAssociationAuthorization:VpcAssociationAuthorization",
        "route53 CreateVPCAssociationAuthorization",
        M("zoneId", "route53:CreateVPCAssociationAuthorization.HostedZoneId"),
        M("vpcId", "route53:CreateVPCAssociationAuthorization.VPC.VPCId"),
        M("vpcRegion", "route53:CreateVPCAssociationAuthorization.VPC.VPCRegion"),
    )
    add(
        "aws:route53/zone:Zone",
        "route53 CreateHostedZone, ChangeTagsForResource",
        M("name", "route53:CreateHostedZone.Name"),
        M("comment", "route53:CreateHostedZone.HostedZoneConfig.Comment"),
        M("delegationSetId", "route53:CreateHostedZone.DelegationSetId"),
        M("vpcs[].vpcId", "route53:CreateHostedZone.VPC.VPCId"),
        M("vpcs[].vpcRegion", "route53:CreateHostedZone.VPC.VPCRegion"),
        B(
            "tags.{key}",
            model_rules("route53:ChangeTagsForResource.AddTags[].Key"),
            api="route53:ChangeTagsForResource.AddTags[].Key",
        ),
        B(
            "tags.{value}",
            model_rules("route53:ChangeTagsForResource.AddTags[].Value"),
            api="route53:ChangeTagsForResource.AddTags[].Value",
        ),
        M("tags", "route53:ChangeTagsForResource.AddTags"),
    )

    # S3
    add(
        "aws:s3/bucket:Bucket",
        "s3 CreateBucket, PutBucketTagging",
        B("bucket", S3_BUCKET_NAME, api="s3:CreateBucket.Bucket"),
        M("tags.{key}", "s3:PutBucketTagging.Tagging.TagSet[].Key"),
    )
    life = "s3:PutBucketLifecycleConfiguration.LifecycleConfiguration.Rules[]"
    add(
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
        "s3 PutBucketLifecycleConfiguration",
        M("rules[].status", f"{life}.Status"),
        B("rules[].id", doc(f"{life}.ID", max_chars(r"cannot be longer than (\d+) characters")), api=f"{life}.ID"),
        M("rules[].transitions[].storageClass", f"{life}.Transitions[].StorageClass"),
        M("rules[].noncurrentVersionTransitions[].storageClass", f"{life}.NoncurrentVersionTransitions[].StorageClass"),
        M(
            "transitionDefaultMinimumObjectSize",
            "s3:PutBucketLifecycleConfiguration.TransitionDefaultMinimumObjectSize",
        ),
    )
    lock = "s3:PutObjectLockConfiguration.ObjectLockConfiguration"
    add(
        "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration",
        "s3 PutObjectLockConfiguration",
        M("objectLockEnabled", f"{lock}.ObjectLockEnabled"),
        M("rule.defaultRetention.mode", f"{lock}.Rule.DefaultRetention.Mode"),
    )
    add(
        "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
        "s3 PutBucketOwnershipControls",
        M("rule.objectOwnership", "s3:PutBucketOwnershipControls.OwnershipControls.Rules[].ObjectOwnership"),
    )
    add("aws:s3/bucketPolicy:BucketPolicy", "s3 PutBucketPolicy (Policy carries no length or pattern in the model)")
    add(
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
        "s3 PutPublicAccessBlock (four booleans: nothing to exceed)",
    )
    sse = "s3:PutBucketEncryption.ServerSideEncryptionConfiguration.Rules[]"
    add(
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "s3 PutBucketEncryption",
        M(
            "rules[].applyServerSideEncryptionByDefault.sseAlgorithm",
            f"{sse}.ApplyServerSideEncryptionByDefault.SSEAlgorithm",
        ),
    )
    add(
        "aws:s3/bucketVersioning:BucketVersioning",
        "s3 PutBucketVersioning",
        M("versioningConfiguration.status", "s3:PutBucketVersioning.VersioningConfiguration.Status"),
        M("versioningConfiguration.mfaDelete", "s3:PutBucketVersioning.VersioningConfiguration.MFADelete"),
    )

    # Secrets Manager
    add(
        "aws:secretsmanager/secret:Secret",
        "secretsmanager CreateSecret, DeleteSecret (on destroy)",
        B(
            "name",
            model_rules("secretsmanager:CreateSecret.Name"),
            doc(
                "secretsmanager:CreateSecret.Name",
                allowed_chars(
                    r"can contain ASCII letters, numbers, and the following characters:\s*(\S+)", base="A-Za-z0-9"
                ),
            ),
            api="secretsmanager:CreateSecret.Name",
        ),
        M("description", "secretsmanager:CreateSecret.Description"),
        M("kmsKeyId", "secretsmanager:CreateSecret.KmsKeyId"),
        # 0 is not sent as a window: the provider turns it into ForceDeleteWithoutRecovery.
        B(
            "recoveryWindowInDays",
            tuple(
                Constraint(_unless_zero(c.rule), c.source)
                for c in doc(
                    "secretsmanager:DeleteSecret.RecoveryWindowInDays", int_range(r"number of days from (\d+) to (\d+)")
                )
            ),
            api="secretsmanager:DeleteSecret.RecoveryWindowInDays (0: ForceDeleteWithoutRecovery)",
        ),
        tag_bindings("secretsmanager:CreateSecret.Tags"),
    )
    add(
        "aws:secretsmanager/secretVersion:SecretVersion",
        "secretsmanager PutSecretValue",
        M("secretString", "secretsmanager:PutSecretValue.SecretString"),
        M("versionStages", "secretsmanager:PutSecretValue.VersionStages"),
        M("versionStages[]", "secretsmanager:PutSecretValue.VersionStages[]"),
    )

    # SNS
    add(
        "aws:sns/topic:Topic",
        "sns CreateTopic",
        B(
            "name",
            doc(
                "sns:CreateTopic.Name",
                between_chars(r"must be between (\d+) and (\d+) characters long"),
                phrase(
                    r"made up of only uppercase and lowercase ASCII letters, numbers, underscores, and "
                    r"hyphens",
                    lambda v: re.fullmatch(r"[A-Za-z0-9_-]+(\.fifo)?", v) is not None,
                    "only ASCII letters, numbers, underscores and hyphens (and a .fifo suffix)",
                ),
            ),
            api="sns:CreateTopic.Name",
        ),
        tag_bindings("sns:CreateTopic.Tags"),
    )
    add(
        "aws:sns/topicPolicy:TopicPolicy",
        "sns SetTopicAttributes (Policy; its members carry no length, pattern or enum in the model)",
    )
    add(
        "aws:sns/topicSubscription:TopicSubscription",
        "sns Subscribe",
        B(
            "protocol",
            doc(
                "sns:Subscribe.Protocol",
                (
                    # The documentation separates "protocol" from its description with an en dash (U+2013).
                    r"Supported protocols include:(.*)",
                    lambda m: OneOf(tuple(re.findall(r"([a-z][a-z-]*)\s+\u2013", m.group(1)))),
                ),
            ),
            api="sns:Subscribe.Protocol",
        ),
    )
    return T


@dataclass(frozen=True)
class _unless_zero:
    rule: Any

    def check(self, value, context):
        if isinstance(value, (int, float)) and value == 0:
            return None
        broken = self.rule.check(value, context)
        return f"{broken} (or 0)" if broken else None

    def describe(self) -> str:
        return f"{self.rule.describe()} (or 0)"


# --- auto-naming: pulumi-aws 7.x ---------------------------------------------------------------------------------
# provider/autonaming.go: every resource whose Terraform schema has an input `name` gets AutoName("name", 255, "-")
# unless provider/resource_overrides.go or provider/aliases.go configure the field. The conflicting name_prefix
# (Terraform ConflictsWith) suppresses the bridge's default; the Terraform provider then names it at Create with
# create.Name -> id.PrefixedUniqueId.

_DEFAULT = 'pulumi-aws provider/autonaming.go setAutonaming: AutoName("name", 255, "-")'
_TF_PREFIX = "terraform-provider-aws create.Name -> id.PrefixedUniqueId"


def _alias_prefix(name: str, _inputs: Mapping[str, Any]) -> str:
    return name if name.startswith("alias/") else f"alias/{name}"


def _fifo(flag: str):
    def post(name: str, inputs: Mapping[str, Any]) -> str:
        return name + ".fifo" if inputs.get(flag) is True else name

    return post


AUTONAMING: dict[str, AutoName] = {
    "aws:cloudwatch/logGroup:LogGroup": AutoName(
        "name", 255, _DEFAULT, prefix_property="namePrefix", prefix_source=_TF_PREFIX
    ),
    "aws:cloudwatch/metricAlarm:MetricAlarm": AutoName(
        "name",
        255,
        "pulumi-aws provider/resource_overrides.go aws_cloudwatch_metric_alarm: "
        '"alarm_name": AutoName("name", 255, "-")',
    ),
    "aws:ec2/securityGroup:SecurityGroup": AutoName(
        "name", 255, _DEFAULT, prefix_property="namePrefix", prefix_source=_TF_PREFIX
    ),
    "aws:iam/instanceProfile:InstanceProfile": AutoName(
        "name", 255, _DEFAULT, prefix_property="namePrefix", prefix_source=_TF_PREFIX
    ),
    "aws:iam/role:Role": AutoName(
        "name",
        64,
        'pulumi-aws provider/resource_overrides.go aws_iam_role: AutoName("name", 64, "-")',
        prefix_property="namePrefix",
        prefix_source=_TF_PREFIX,
    ),
    "aws:iam/rolePolicy:RolePolicy": AutoName(
        "name", 255, _DEFAULT, prefix_property="namePrefix", prefix_source=_TF_PREFIX
    ),
    "aws:kms/alias:Alias": AutoName(
        "name",
        238,
        "pulumi-aws provider/resource_overrides.go aws_kms_alias: AutoNameWithCustomOptions("
        'Separator "-", Maxlen 238, Randlen 7, PostTransform prefixes "alias/")',
        post_transform=_alias_prefix,
        prefix_property="namePrefix",
        prefix_source=_TF_PREFIX,
    ),
    "aws:lb/loadBalancer:LoadBalancer": AutoName(
        "name",
        255,
        _DEFAULT + " (provider/aliases.go adds no field for aws_lb)",
        prefix_property="namePrefix",
        prefix_source=_TF_PREFIX,
    ),
    "aws:lb/targetGroup:TargetGroup": AutoName(
        "name",
        32,
        'pulumi-aws provider/aliases.go aws_lb_target_group: AutoName("name", 32, "-")',
        prefix_property="namePrefix",
        prefix_source=_TF_PREFIX,
    ),
    "aws:route53/zone:Zone": AutoName("name", 255, _DEFAULT + " (Terraform's required name becomes optional)"),
    "aws:s3/bucket:Bucket": AutoName(
        "bucket",
        63,
        'pulumi-aws provider/resource_overrides.go aws_s3_bucket: AutoNameTransform("bucket", 63, strings.ToLower)',
        transform=str.lower,
        prefix_property="bucketPrefix",
        prefix_source=_TF_PREFIX,
    ),
    "aws:secretsmanager/secret:Secret": AutoName(
        "name", 255, _DEFAULT, prefix_property="namePrefix", prefix_source=_TF_PREFIX
    ),
    "aws:sns/topic:Topic": AutoName(
        "name",
        80,
        "pulumi-aws provider/resource_overrides.go aws_sns_topic: AutoNameWithCustomOptions("
        'Separator "-", Maxlen 80, Randlen 7, PostTransform appends ".fifo" for fifoTopic)',
        post_transform=_fifo("fifoTopic"),
        prefix_property="namePrefix",
        prefix_source=_TF_PREFIX,
    ),
}

# Types whose `name` input pulumi-aws deliberately does not auto-name.
NOT_AUTONAMED = {
    "aws:route53/record:Record": 'provider/resource_overrides.go: "name": {Name: "name"} (the record\'s DNS name)',
}


# --- the plugin --------------------------------------------------------------------------------------------------


class AwsPlugin(BuiltPlugin):
    def values(self, record) -> Mapping[str, Any]:
        """Inputs as the API receives them: a name chosen at create from a prefix is checked too."""
        rule = AUTONAMING.get(record.type)
        values = record.inputs
        if (
            rule
            and rule.prefix_property
            and values.get(rule.property) in (None, "")
            and values.get(rule.prefix_property)
            and record.outputs.get(rule.property)
        ):
            values = {**values, rule.property: record.outputs[rule.property]}
        return values


PLUGIN = AwsPlugin("aws", ("aws",), _build, AUTONAMING)
