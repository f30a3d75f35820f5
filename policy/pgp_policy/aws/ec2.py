"""EC2 nodes: encrypted storage and IMDSv2."""

from __future__ import annotations

from pulumi_policy import Severity

from ..core import Rule, as_list, dig, resource_policy, settings, truthy
from .types import CLOUD, INSTANCE, LAUNCH_TEMPLATE, VOLUME

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


POLICIES = [
    (EC2_001, resource_policy(EC2_001, _encrypted)),
    (EC2_002, resource_policy(EC2_002, _imdsv2)),
]
