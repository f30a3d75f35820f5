"""EC2 nodes: encrypted storage, IMDSv2, and recovery from a failed host without an operator."""

from __future__ import annotations

import re

from pulumi_policy import Severity

from ..core import Rule, as_list, dig, resource_policy, settings, short, stack_config, stack_policy, truthy
from ..graph import of_type, points_at
from .types import ALARM, CLOUD, INSTANCE, LAUNCH_TEMPLATE, VOLUME

AREA = "compute"

# --- PGP-AWS-EC2-001 ----------------------------------------------------------------------------------------
EC2_001 = Rule(
    id="PGP-AWS-EC2-001",
    title="Volumes encrypted",
    why="Data, WAL and temp files on disk must be unreadable from a stolen snapshot or volume.",
    description="Root and data volumes of instances, launch templates and standalone EBS volumes are encrypted.",
    severity=Severity.HIGH,
    control="CKV_AWS_8, CKV_AWS_189",
    area=AREA,
    scope="resource",
    clouds=(CLOUD,),
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


# --- PGP-AWS-EC2-002 ----------------------------------------------------------------------------------------
EC2_002 = Rule(
    id="PGP-AWS-EC2-002",
    title="IMDSv2 only, hop limit 1",
    why="IMDSv1 and higher hop limits let SSRF or containers on the node steal the instance role's credentials.",
    description="Instances require IMDSv2 session tokens and limit the metadata response hop count, so "
    "containers and forwarded requests cannot read the node role's credentials.",
    severity=Severity.HIGH,
    control="CKV_AWS_79, CKV_AWS_341",
    area=AREA,
    scope="resource",
    clouds=(CLOUD,),
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
        report(
            f"{args.name}: metadataOptions.httpTokens is {opts.get('httpTokens') or 'unset (optional)'}, not required"
        )
    hops = opts.get("httpPutResponseHopLimit")
    if hops is None or int(hops) > limit:
        report(
            f"{args.name}: metadataOptions.httpPutResponseHopLimit is "
            f"{int(hops) if hops is not None else 'unset'}, above {limit}"
        )


# --- PGP-AWS-EC2-003 ----------------------------------------------------------------------------------------
EC2_003 = Rule(
    id="PGP-AWS-EC2-003",
    title="Nodes recover from a failed host by themselves",
    why="A member whose host fails must come back and rejoin without an operator (the old failed primary becomes "
    "a standby again): EC2's recovery keeps the instance id, private address and EBS volumes, but only for a "
    "type it can move, with recovery left on, and when an alarm on the system check asks for it.",
    description="Every EC2 instance leaves automatic recovery on (maintenanceOptions.autoRecovery not disabled), "
    "has a type EC2 can recover (EBS only: no instance store), and is the subject of a CloudWatch alarm on "
    "AWS/EC2 StatusCheckFailed_System whose alarm actions include the stack region's "
    "arn:aws:automate:<region>:ec2:recover.",
    severity=Severity.HIGH,
    control="seed: the old failed primary is replaced by another standby, without an operator",
    area=AREA,
    scope="stack",
    clouds=(CLOUD,),
    remediation="Set maintenance_options={'auto_recovery': 'default'}, use a type without instance store (the d "
    "option letter), and add a MetricAlarm on AWS/EC2 StatusCheckFailed_System with dimensions={'InstanceId': "
    "instance.id} and alarm_actions=[topic, 'arn:aws:automate:<region>:ec2:recover'].",
    config={
        "unrecoverable_types": {
            "type": "array",
            "items": {"type": "string"},
            "description": "regexes (matched from the start) of instance types EC2 cannot recover",
            # The d option letter means instance store volumes (EC2 instance type naming conventions); EC2
            # recovers only instances whose volumes are all EBS (EC2 User Guide, "Automatic instance recovery").
            "default": [r"[a-z]+\d+[a-z]*d[a-z]*(-[a-z0-9]+)?\."],
        }
    },
)
RECOVER_ACTION = re.compile(r"arn:aws[a-z-]*:automate:(?P<region>[a-z0-9-]+):ec2:recover")
SYSTEM_CHECK = "StatusCheckFailed_System"


def _recover_regions(alarm) -> set[str]:
    """The regions of the recover actions of an alarm on the system check (empty when it has none)."""
    p = alarm.props
    if p.get("namespace") != "AWS/EC2" or p.get("metricName") != SYSTEM_CHECK:
        return set()
    if p.get("actionsEnabled") is not None and not truthy(p.get("actionsEnabled")):
        return set()
    return {m["region"] for a in as_list(p.get("alarmActions")) if (m := RECOVER_ACTION.fullmatch(str(a)))}


def _recovers(args, report) -> None:
    unrecoverable = [re.compile(x) for x in settings(args, EC2_003)["unrecoverable_types"]]
    region = stack_config("aws:region")
    alarms = of_type(args.resources, ALARM)
    for instance in of_type(args.resources, INSTANCE):
        label = short(instance.urn)
        if dig(instance.props, "maintenanceOptions", "autoRecovery") == "disabled":
            report(f"{label}: maintenanceOptions.autoRecovery is disabled", instance.urn)
        itype = str(instance.props.get("instanceType") or "")
        if any(rx.match(itype) for rx in unrecoverable):
            report(f"{label}: instance type {itype} has instance store volumes, which EC2 cannot recover", instance.urn)
        regions = set().union(*(_recover_regions(a) for a in alarms if points_at(a, "dimensions", instance)))
        if not regions:
            report(
                f"{label}: no CloudWatch alarm on {SYSTEM_CHECK} recovers it (arn:aws:automate:…:ec2:recover)",
                instance.urn,
            )
        elif isinstance(region, str) and region not in regions:
            report(f"{label}: its recover alarm acts in {', '.join(sorted(regions))}, not in {region}", instance.urn)


POLICIES = [
    (EC2_001, resource_policy(EC2_001, _encrypted)),
    (EC2_002, resource_policy(EC2_002, _imdsv2)),
    (EC2_003, stack_policy(EC2_003, _recovers)),
]
