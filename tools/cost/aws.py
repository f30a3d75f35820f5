"""AWS's part of `tools cost` (the seam is tools/cost/model.py's CloudCosts).

Quantities come from the graph (instances by type, EBS gp3 GB and the IOPS/throughput above the free baseline,
load balancer and NAT gateway hours, interface endpoints per zone, keys, secrets, alarms, public IPv4 addresses,
hosted zones); prices come from one table per region below, each with where and when it was read. A price
that was not found is `None` and its line is left out of the total, which says so: nothing is guessed. Usage
(data transfer and processing, requests, log ingestion, notifications) is not modelled, and S3 storage is a
stated assumption. Every resource type must be classified here (BILLED or NOT_BILLED), so a new billable type
fails the test instead of vanishing from the estimate.
"""

from __future__ import annotations

from dataclasses import dataclass

from stacks.clouds.aws import REGION_KEY
from tools.cost.model import HOURS_PER_MONTH, LOCAL_TYPES, CloudCosts, Line, Price, not_found
from tools.cost.model import count as _count
from tools.records import Plan

PRICES_READ_ON = "2026-12-01"  # when the sources below were read
GP3_FREE_IOPS = 3000
GP3_FREE_THROUGHPUT_MIBS = 125
# Assumed, not measured: the backup bucket holds about one member's data volume (compressed fulls, diffs and
# WAL over the retention window). Override with --s3-gb.
S3_GB_PER_DATA_GB = 1.0
MINIMAL_NLCU = 1  # NLCU-hours per hour for an idle internal NLB


_NOT_FOUND = not_found(PRICES_READ_ON)

PRICES: dict[str, dict[str, Price]] = {
    "eu-central-1": {
        "ec2:r7i.xlarge": Price(
            None,
            "instance-hour",
            _NOT_FOUND,
            "AWS's pricing pages render regional rates dynamically; no copy had eu-central-1's",
        ),
        "ec2:m7i.large": Price(None, "instance-hour", _NOT_FOUND),
        "ec2:t3.large": Price(
            0.096,
            "instance-hour",
            "matthiaskraaz.blogspot.com/2021/08/aws-ec2-price-of-maxed-out-burstable.html (2021-08-30)",
            "Linux; the page does not name its region",
        ),
        "ec2:t3.medium": Price(
            0.048,
            "instance-hour",
            "matthiaskraaz.blogspot.com/2021/08/aws-ec2-price-of-maxed-out-burstable.html (2021-08-30)",
            "Linux; the page does not name its region",
        ),
        "ebs:gp3:gb": Price(
            0.0952, "GB-month", "hendric-jabs.de/2023/11/02/gp3-in-2-minuten/ (2023-11-02, eu-central-1)"
        ),
        "ebs:gp3:iops": Price(
            0.006, "IOPS-month above 3,000", "hendric-jabs.de/2023/11/02/gp3-in-2-minuten/ (2023-11-02, eu-central-1)"
        ),
        "ebs:gp3:throughput": Price(
            0.048, "MiB/s-month above 125", "hendric-jabs.de/2023/11/02/gp3-in-2-minuten/ (2023-11-02, eu-central-1)"
        ),
        "elb:nlb:hour": Price(None, "load-balancer-hour", _NOT_FOUND, "only us-east-1's $0.0225 was found"),
        "elb:nlb:nlcu": Price(None, "NLCU-hour", _NOT_FOUND, "only us-east-1's $0.006 was found"),
        "vpc:nat:hour": Price(
            None, "NAT-gateway-hour", _NOT_FOUND, "only a range ($0.048-0.052 for Ireland, Frankfurt, London) was found"
        ),
        "vpc:endpoint:hour": Price(None, "endpoint-AZ-hour", _NOT_FOUND, "only us-east-1's $0.01 was found"),
        "vpc:ipv4:hour": Price(
            0.005,
            "public-IPv4-hour",
            "aws.amazon.com/blogs/networking-and-content-delivery/identify-and-optimize-public-ipv4-"
            "address-usage-on-aws/; haufe-akademie.de (all regions, since 2024-02-01)",
        ),
        "kms:key": Price(
            1.0,
            "key-month",
            "aws.amazon.com/kms/pricing/",
            "same in every region; each automatic rotation adds $1/month (from the second year)",
        ),
        "secretsmanager:secret": Price(
            0.40,
            "secret-month",
            "hivebook.wiki/wiki/aws-secrets-manager-rotated-secrets-dynamic-db-credentials-kms",
            "the page names no region",
        ),
        "cloudwatch:alarm": Price(
            0.10,
            "standard-resolution-alarm-month",
            "c3x.dev/resources/aws/aws_cloudwatch_metric_alarm",
            "the page names no region; the free tier's 10 alarms are not deducted",
        ),
        "route53:zone": Price(
            0.50, "hosted-zone-month", "ns1.com/resources/aws-dns", "Route 53 is global; first 25 zones"
        ),
        "s3:standard:gb": Price(None, "GB-month", _NOT_FOUND),
    },
}

NOT_MODELLED = (
    "data transfer, and NAT gateway / interface endpoint / load balancer data processing",
    "API requests (KMS, Secrets Manager, S3, CloudWatch), SNS notifications, Route 53 queries",
    "CloudWatch Logs ingestion and storage (flow logs), detailed monitoring and the agent's custom metrics",
    "backups' request charges and any storage beyond the stated S3 assumption",
)


# -------------------------------------------------------------------------------------------- counting

# Types with no charge of their own (their traffic or use may be billed: see NOT_MODELLED).
NOT_BILLED: dict[str, str] = {
    **{
        t: "no charge"
        for t in (
            "aws:ec2/vpc:Vpc",
            "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup",
            "aws:ec2/subnet:Subnet",
            "aws:ec2/subnetCidrReservation:SubnetCidrReservation",
            "aws:ec2/routeTable:RouteTable",
            "aws:ec2/routeTableAssociation:RouteTableAssociation",
            "aws:ec2/route:Route",
            "aws:ec2/internetGateway:InternetGateway",
            "aws:ec2/securityGroup:SecurityGroup",
            "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
            "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
            "aws:ec2/volumeAttachment:VolumeAttachment",
            "aws:lb/targetGroup:TargetGroup",
            "aws:lb/targetGroupAttachment:TargetGroupAttachment",
            "aws:lb/listener:Listener",
            "aws:route53/record:Record",
            "aws:route53/vpcAssociationAuthorization:VpcAssociationAuthorization",
            "aws:iam/role:Role",
            "aws:iam/rolePolicy:RolePolicy",
            "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
            "aws:iam/instanceProfile:InstanceProfile",
            "aws:kms/alias:Alias",
            "aws:s3/bucketVersioning:BucketVersioning",
            "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration",
            "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
            "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
            "aws:s3/bucketPolicy:BucketPolicy",
            "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
            "aws:sns/topicPolicy:TopicPolicy",
            "aws:sns/topicSubscription:TopicSubscription",
        )
    },
    "aws:ec2/vpcPeeringConnection:VpcPeeringConnection": "no hourly charge (data transfer only)",
    "aws:ec2/flowLog:FlowLog": "charged as log ingestion (not modelled)",
    "aws:cloudwatch/logGroup:LogGroup": "charged by ingestion and storage (not modelled)",
    "aws:sns/topic:Topic": "charged per notification (not modelled)",
    "aws:secretsmanager/secretVersion:SecretVersion": "included in the secret's monthly price",
    **{t: "not an AWS resource" for t in LOCAL_TYPES},
}

BILLED = (
    "aws:ec2/instance:Instance",
    "aws:ebs/volume:Volume",
    "aws:lb/loadBalancer:LoadBalancer",
    "aws:ec2/natGateway:NatGateway",
    "aws:ec2/vpcEndpoint:VpcEndpoint",
    "aws:ec2/eip:Eip",
    "aws:kms/key:Key",
    "aws:secretsmanager/secret:Secret",
    "aws:cloudwatch/metricAlarm:MetricAlarm",
    "aws:route53/zone:Zone",
    "aws:s3/bucket:Bucket",
)


@dataclass(frozen=True)
class Volume:
    role: str  # "root", else the volume's role tag (postgres-data, monitoring-data), else "data"
    gb: float
    iops: float
    throughput: float


def volumes(plan: Plan) -> list[Volume]:
    """gp3 volumes: instances' roots and standalone data volumes (baseline IOPS/throughput when unset)."""
    found = []
    for record in plan.by_type("aws:ec2/instance:Instance"):
        root = record.inputs.get("rootBlockDevice") or {}
        if (root.get("volumeType") or "gp3") == "gp3":
            found.append(
                Volume(
                    "root",
                    float(root.get("volumeSize") or 8),
                    float(root.get("iops") or GP3_FREE_IOPS),
                    float(root.get("throughput") or GP3_FREE_THROUGHPUT_MIBS),
                )
            )
    for record in plan.by_type("aws:ebs/volume:Volume"):
        if (record.inputs.get("type") or "gp3") == "gp3":
            role = (record.inputs.get("tags") or {}).get("role") or "data"
            found.append(
                Volume(
                    role,
                    float(record.inputs["size"]),
                    float(record.inputs.get("iops") or GP3_FREE_IOPS),
                    float(record.inputs.get("throughput") or GP3_FREE_THROUGHPUT_MIBS),
                )
            )
    return found


def quantities(plan: Plan, s3_gb: float | None = None) -> tuple[list[Line], list[str]]:
    """The billable quantities of a plan, as unpriced lines, and the assumptions made."""
    h = HOURS_PER_MONTH
    lines: list[Line] = []
    assumptions = [
        f"{h} hours per month, every resource running all month",
        f"load balancers at a minimal {MINIMAL_NLCU} NLCU per hour (idle; traffic adds more)",
    ]
    by_type: dict[str, int] = {}
    for record in plan.by_type("aws:ec2/instance:Instance"):
        by_type[record.inputs["instanceType"]] = by_type.get(record.inputs["instanceType"], 0) + 1
    for instance_type, n in sorted(by_type.items()):
        lines.append(
            Line(f"EC2 {instance_type} x{n} (Linux, on-demand)", n * h, "instance-hour", f"ec2:{instance_type}")
        )
    vols = volumes(plan)
    # Roots first, then by role: the graph's registration order varies between runs, the estimate must not.
    for role in dict.fromkeys(v.role for v in sorted(vols, key=lambda v: (v.role != "root", v.role))):
        chosen = [v for v in vols if v.role == role]
        lines.append(
            Line(f"EBS gp3 {role} volumes x{len(chosen)}", sum(v.gb for v in chosen), "GB-month", "ebs:gp3:gb")
        )
    lines.append(
        Line(
            "EBS gp3 IOPS above 3,000",
            sum(max(0.0, v.iops - GP3_FREE_IOPS) for v in vols),
            "IOPS-month",
            "ebs:gp3:iops",
        )
    )
    lines.append(
        Line(
            "EBS gp3 throughput above 125 MiB/s",
            sum(max(0.0, v.throughput - GP3_FREE_THROUGHPUT_MIBS) for v in vols),
            "MiB/s-month",
            "ebs:gp3:throughput",
        )
    )
    nlbs = _count(plan, "aws:lb/loadBalancer:LoadBalancer", lambda r: r.inputs.get("loadBalancerType") == "network")
    if nlbs:
        lines.append(Line(f"Network Load Balancer x{nlbs}", nlbs * h, "load-balancer-hour", "elb:nlb:hour"))
        lines.append(
            Line(f"NLB capacity units (minimal {MINIMAL_NLCU}/h)", nlbs * MINIMAL_NLCU * h, "NLCU-hour", "elb:nlb:nlcu")
        )
    nats = _count(
        plan, "aws:ec2/natGateway:NatGateway", lambda r: r.inputs.get("connectivityType", "public") == "public"
    )
    if nats:
        lines.append(Line(f"NAT gateway x{nats}", nats * h, "NAT-gateway-hour", "vpc:nat:hour"))
    endpoints = [
        r for r in plan.by_type("aws:ec2/vpcEndpoint:VpcEndpoint") if r.inputs.get("vpcEndpointType") == "Interface"
    ]
    zones = sum(len(r.inputs.get("subnetIds") or []) for r in endpoints)
    if endpoints:
        lines.append(
            Line(
                f"Interface endpoints x{len(endpoints)} ({zones} endpoint-zones)",
                zones * h,
                "endpoint-AZ-hour",
                "vpc:endpoint:hour",
            )
        )
    ips = _count(plan, "aws:ec2/eip:Eip") + _count(
        plan, "aws:ec2/instance:Instance", lambda r: bool(r.inputs.get("associatePublicIpAddress"))
    )
    ips += sum(
        len(r.inputs.get("subnets") or [])
        for r in plan.by_type("aws:lb/loadBalancer:LoadBalancer")
        if not r.inputs.get("internal")
    )
    if ips:
        lines.append(Line(f"Public IPv4 addresses x{ips}", ips * h, "public-IPv4-hour", "vpc:ipv4:hour"))
    for token, item, key in (
        ("aws:kms/key:Key", "KMS customer keys", "kms:key"),
        ("aws:secretsmanager/secret:Secret", "Secrets Manager secrets", "secretsmanager:secret"),
        ("aws:route53/zone:Zone", "Route 53 hosted zones", "route53:zone"),
    ):
        n = _count(plan, token)
        if n:
            lines.append(Line(f"{item} x{n}", n, key.split(":")[-1] + "-month", key))
    alarms = _count(plan, "aws:cloudwatch/metricAlarm:MetricAlarm", lambda r: float(r.inputs.get("period") or 60) >= 60)
    high_res = _count(plan, "aws:cloudwatch/metricAlarm:MetricAlarm") - alarms
    if high_res:
        raise ValueError(f"{high_res} high-resolution alarms: add their price to tools/cost/aws.py")
    if alarms:
        lines.append(
            Line(f"CloudWatch alarms x{alarms} (standard resolution)", alarms, "alarm-month", "cloudwatch:alarm")
        )
    buckets = plan.by_type("aws:s3/bucket:Bucket")
    if buckets:
        data = [v.gb for v in vols if v.role == "postgres-data"] or [v.gb for v in vols if v.role != "root"]
        gb = s3_gb if s3_gb is not None else (max(data) if data else 0.0) * S3_GB_PER_DATA_GB
        assumptions.append(
            f"S3 Standard backup storage of {gb:g} GB (assumed: "
            + (
                "given by --s3-gb"
                if s3_gb is not None
                else f"{S3_GB_PER_DATA_GB:g} x one member's {max(data) if data else 0:g} GB data volume"
            )
            + ")"
        )
        lines.append(Line(f"S3 Standard backup storage (assumed {gb:g} GB)", gb, "GB-month", "s3:standard:gb"))
    return lines, assumptions


CLOUD = CloudCosts(
    name="aws",
    region_key=REGION_KEY,
    source_file="tools/cost/aws.py",
    prices_read_on=PRICES_READ_ON,
    prices=PRICES,
    billed=BILLED,
    not_billed=NOT_BILLED,
    not_modelled=NOT_MODELLED,
    quantities=quantities,
)
