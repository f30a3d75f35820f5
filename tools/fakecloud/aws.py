"""AWS's shapes: ids, ARNs and addresses in the shapes and lengths AWS returns them, deterministic from the URN so
plans diff cleanly: EC2 ids are `<prefix>-` + 17 hex digits, the account has 12 digits, KMS keys are UUIDs,
Secrets Manager ARNs end in `-` + 6 characters, load balancer and target group ARNs in `/<name>/<16 hex>` with
the matching arnSuffix."""

from __future__ import annotations

from typing import Any

from tools.constraints import naming
from tools.fakecloud.core import ALNUM, FakeCloudBase

FAKE_ACCOUNT = "111122223333"
_SECRET_SUFFIX = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


class AwsShapes(FakeCloudBase):
    def _ec2_id(self, prefix: str, seed: str, salt: str = "") -> str:
        return f"{prefix}-{self._chars(seed, 17, salt=salt or prefix)}"

    def _arn(self, service: str, resource: str, region: bool = True) -> str:
        return f"arn:aws:{service}:{self.region if region else ''}:{FAKE_ACCOUNT}:{resource}"

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
            "uniqueId": "AROA" + self._chars(urn, 17, ALNUM, "uid"),
            "name": name,
        }

    def _aws_iam_instanceProfile_InstanceProfile(self, urn, s):
        name = s.get("name")
        return name, {
            "arn": f"arn:aws:iam::{FAKE_ACCOUNT}:instance-profile{s.get('path') or '/'}{name}",
            "uniqueId": "AIPA" + self._chars(urn, 17, ALNUM, "uid"),
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
            "zoneId": "Z" + self._chars(f"{self.region}:{kind}", 13, ALNUM, "lb-zone"),
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
        zone = "Z0" + self._chars(urn, 19, ALNUM, "zone")
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
            "hostedZoneId": "Z" + self._chars(self.region, 13, ALNUM, "s3"),
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

    def _call_aws_ec2_getAmi_getAmi(self, query):
        return self._debian_image(query)

    def _call_aws_index_getCallerIdentity_getCallerIdentity(self, query):
        return {
            "accountId": FAKE_ACCOUNT,
            "arn": f"arn:aws:iam::{FAKE_ACCOUNT}:user/ci",
            "userId": "AIDA" + self._chars("ci", 17, ALNUM, "user"),
            "id": FAKE_ACCOUNT,
        }

    def _call_aws_index_getPartition_getPartition(self, query):
        return {"partition": "aws", "dnsSuffix": "amazonaws.com"}

    def _call_aws_index_getRegion_getRegion(self, query):
        return {"name": self.region, "region": self.region}
