"""`tools deployer-policy`: the least-privilege IAM policy for the identity that runs `pulumi preview`, `up`,
`refresh` and `destroy` for one stage, generated from the recorded graph of that stage.

Every resource type the program registers (and every provider function it invokes) maps to the API calls the
Terraform AWS provider behind pulumi-aws makes to create, read, update, delete and tag it (`TYPE_GRANTS`,
`INVOKE_GRANTS`). A type that is not in the map is an error, never a silent gap: `deployer_policy` raises
`UnmappedTypes` and the coverage test fails, so a new resource type cannot ship without its permissions.

Scoping, per service (what IAM supports):
- by name: the program names everything `pgp-<stage>-…` (IAM roles and instance profiles, the bucket,
  secrets, log groups, topics, alarms, load balancers, target groups, KMS aliases);
- by the `stage` tag where names are not in the ARN (EC2 ids, KMS key ids): creation must carry
  `aws:RequestTag/stage`, every later call needs `aws:ResourceTag/stage`, and nobody may retag or untag `stage`;
- by exact value from the graph: the peer VPCs a peering may target, the managed policies a role may attach, the
  record names a hosted zone may change, the services a role may be passed to, the AMI owner;
- `*` only where the action has no resource-level permissions (EC2/ELB/SSM Describe and Get calls, KMS
  ListAliases, Route 53 CreateHostedZone, STS GetCallerIdentity); each such statement says why in SCOPES, and is
  pinned to the stack's region with `aws:RequestedRegion` where the service is regional.

The account is the placeholder ACCOUNT_ID unless `--account-id` is given (docs/aws-deployer-policy.md).
IAM limits a managed policy to 6,144 characters without whitespace, so the statements are packed into as many
policies as needed (`split_policy`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from components.aws.duties import SSM_DOCUMENT
from dataplane.journal import JOURNAL_PREFIX
from stacks.tags import STAGE_TAG
from tools.records import Plan

ACCOUNT_PLACEHOLDER = "ACCOUNT_ID"
RECORDED_ACCOUNT = "111122223333"  # the fake account of the offline runner (tools.fakecloud.FAKE_ACCOUNT)
MANAGED_POLICY_LIMIT = 6144  # characters, whitespace excluded (IAM quota for a managed policy)
DOCS = Path(__file__).resolve().parent.parent / "docs"
OUTPUT_STEM = "aws-deployer-policy"


# ----------------------------------------------------------------------------------------------- the mapping


@dataclass(frozen=True)
class Grant:
    """Actions allowed under one scope (a statement template in SCOPES). `on_delete` actions are only needed
    to delete the resource: a resource the program retains on delete does not contribute them."""

    scope: str
    actions: tuple[str, ...]
    on_delete: bool = False


def G(scope: str, *actions: str, on_delete: bool = False) -> Grant:
    return Grant(scope, tuple(actions), on_delete)


# Repeated groups. Read calls that take no resource ARN go to the "*:read" scopes.
_EC2_TAGS = (
    G("ec2:tag-on-create", "ec2:CreateTags"),
    G("ec2:own", "ec2:CreateTags"),
    G("ec2:untag-own", "ec2:DeleteTags"),
    G("ec2:read", "ec2:DescribeTags"),
)
_ELB_TAGS = (
    G("elb:own", "elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags"),
    G("elb:read", "elasticloadbalancing:DescribeTags"),
)
_EBS_KMS = G(
    "kms:via-service",
    "kms:CreateGrant",
    "kms:Decrypt",
    "kms:DescribeKey",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
)

# Pulumi type token -> grants. Checked against the Terraform AWS provider's CRUD functions (internal/service/…):
# create, the read that follows every create/update/refresh, update of the arguments this program sets, delete,
# and the tagging calls of its transparent tagging.
TYPE_GRANTS: dict[str, tuple[Grant, ...]] = {
    # ---- EC2 / VPC
    "aws:ec2/vpc:Vpc": (
        G("ec2:new/vpc", "ec2:CreateVpc"),
        G("ec2:own", "ec2:ModifyVpcAttribute"),
        G("ec2:own", "ec2:DeleteVpc", on_delete=True),
        G(
            "ec2:read",
            "ec2:DescribeVpcs",
            "ec2:DescribeVpcAttribute",
            "ec2:DescribeNetworkAcls",
            "ec2:DescribeRouteTables",
            "ec2:DescribeSecurityGroups",
        ),
        *_EC2_TAGS,
    ),
    "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": (
        # The VPC's default group exists untagged; the provider tags it before it revokes its rules.
        G("ec2:tag-untagged/security-group", "ec2:CreateTags"),
        G("ec2:own", "ec2:RevokeSecurityGroupIngress", "ec2:RevokeSecurityGroupEgress"),
        G("ec2:read", "ec2:DescribeSecurityGroups", "ec2:DescribeSecurityGroupRules"),
        *_EC2_TAGS,
    ),
    "aws:ec2/subnet:Subnet": (
        G("ec2:new/subnet", "ec2:CreateSubnet"),
        G("ec2:own", "ec2:CreateSubnet", "ec2:ModifySubnetAttribute"),
        G("ec2:own", "ec2:DeleteSubnet", on_delete=True),
        G("ec2:read", "ec2:DescribeSubnets", "ec2:DescribeNetworkInterfaces"),
        *_EC2_TAGS,
    ),
    "aws:ec2/subnetCidrReservation:SubnetCidrReservation": (
        G("ec2:own", "ec2:CreateSubnetCidrReservation"),
        # The program does not tag reservations, so their deletion is scoped to the account and region only.
        G("ec2:account", "ec2:DeleteSubnetCidrReservation", on_delete=True),
        G("ec2:read", "ec2:GetSubnetCidrReservations"),
    ),
    "aws:ec2/routeTable:RouteTable": (
        G("ec2:new/route-table", "ec2:CreateRouteTable"),
        G("ec2:own", "ec2:CreateRouteTable", "ec2:CreateRoute", "ec2:ReplaceRoute", "ec2:DeleteRoute"),
        G("ec2:own", "ec2:DeleteRouteTable", "ec2:DisassociateRouteTable", on_delete=True),
        G("ec2:read", "ec2:DescribeRouteTables"),
        *_EC2_TAGS,
    ),
    "aws:ec2/routeTableAssociation:RouteTableAssociation": (
        G("ec2:own", "ec2:AssociateRouteTable", "ec2:ReplaceRouteTableAssociation"),
        G("ec2:own", "ec2:DisassociateRouteTable", on_delete=True),
        G("ec2:read", "ec2:DescribeRouteTables"),
    ),
    "aws:ec2/route:Route": (
        G("ec2:own", "ec2:CreateRoute", "ec2:ReplaceRoute"),
        G("ec2:own", "ec2:DeleteRoute", on_delete=True),
        G("ec2:read", "ec2:DescribeRouteTables"),
    ),
    "aws:ec2/internetGateway:InternetGateway": (
        G("ec2:new/internet-gateway", "ec2:CreateInternetGateway"),
        G("ec2:own", "ec2:AttachInternetGateway"),
        G("ec2:own", "ec2:DetachInternetGateway", "ec2:DeleteInternetGateway", on_delete=True),
        G("ec2:read", "ec2:DescribeInternetGateways"),
        *_EC2_TAGS,
    ),
    "aws:ec2/eip:Eip": (
        G("ec2:new/elastic-ip", "ec2:AllocateAddress"),
        G("ec2:own", "ec2:DisassociateAddress", "ec2:ReleaseAddress", on_delete=True),
        G("ec2:read", "ec2:DescribeAddresses", "ec2:DescribeAddressesAttribute"),
        *_EC2_TAGS,
    ),
    "aws:ec2/natGateway:NatGateway": (
        G("ec2:new/natgateway", "ec2:CreateNatGateway"),
        G("ec2:own", "ec2:CreateNatGateway"),
        G("ec2:own", "ec2:DeleteNatGateway", on_delete=True),
        G("ec2:read", "ec2:DescribeNatGateways"),
        *_EC2_TAGS,
    ),
    "aws:ec2/vpcEndpoint:VpcEndpoint": (
        G("ec2:new/vpc-endpoint", "ec2:CreateVpcEndpoint"),
        G("ec2:own", "ec2:CreateVpcEndpoint", "ec2:ModifyVpcEndpoint"),
        G("ec2:endpoint-services", "ec2:CreateVpcEndpoint"),
        G("ec2:own", "ec2:DeleteVpcEndpoints", on_delete=True),
        G("ec2:read", "ec2:DescribeVpcEndpoints", "ec2:DescribePrefixLists", "ec2:DescribeVpcEndpointServices"),
        # Private DNS: EC2 associates the service's AWS-owned private zone with the VPC in the caller's name.
        G("route53:zones", "route53:AssociateVPCWithHostedZone"),
        *_EC2_TAGS,
    ),
    "aws:ec2/flowLog:FlowLog": (
        G("ec2:new/vpc-flow-log", "ec2:CreateFlowLogs"),
        G("ec2:own", "ec2:CreateFlowLogs"),
        G("ec2:own", "ec2:DeleteFlowLogs", on_delete=True),
        G("ec2:read", "ec2:DescribeFlowLogs"),
        G("iam:pass-to-service", "iam:PassRole"),
        *_EC2_TAGS,
    ),
    "aws:ec2/vpcPeeringConnection:VpcPeeringConnection": (
        G("ec2:new/vpc-peering-connection", "ec2:CreateVpcPeeringConnection"),
        G("ec2:own", "ec2:CreateVpcPeeringConnection", "ec2:ModifyVpcPeeringConnectionOptions"),
        G("ec2:peer-vpcs", "ec2:CreateVpcPeeringConnection"),
        G("ec2:own", "ec2:DeleteVpcPeeringConnection", on_delete=True),
        G("ec2:read", "ec2:DescribeVpcPeeringConnections"),
        *_EC2_TAGS,
    ),
    "aws:ec2/securityGroup:SecurityGroup": (
        G("ec2:new/security-group", "ec2:CreateSecurityGroup"),
        # A new group's default allow-all egress rule is revoked right after creation.
        G("ec2:own", "ec2:CreateSecurityGroup", "ec2:RevokeSecurityGroupEgress"),
        G("ec2:own", "ec2:DeleteSecurityGroup", on_delete=True),
        G("ec2:read", "ec2:DescribeSecurityGroups", "ec2:DescribeSecurityGroupRules", "ec2:DescribeNetworkInterfaces"),
        *_EC2_TAGS,
    ),
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": (
        G("ec2:new/security-group-rule", "ec2:AuthorizeSecurityGroupIngress"),
        G("ec2:own", "ec2:AuthorizeSecurityGroupIngress", "ec2:ModifySecurityGroupRules"),
        G("ec2:own", "ec2:RevokeSecurityGroupIngress", on_delete=True),
        G("ec2:read", "ec2:DescribeSecurityGroupRules"),
        *_EC2_TAGS,
    ),
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": (
        G("ec2:new/security-group-rule", "ec2:AuthorizeSecurityGroupEgress"),
        G("ec2:own", "ec2:AuthorizeSecurityGroupEgress", "ec2:ModifySecurityGroupRules"),
        G("ec2:own", "ec2:RevokeSecurityGroupEgress", on_delete=True),
        G("ec2:read", "ec2:DescribeSecurityGroupRules"),
        *_EC2_TAGS,
    ),
    "aws:ec2/instance:Instance": (
        # The root volume and the network interface are created by RunInstances, and only in an own subnet;
        # root_block_device tags may be applied after launch, so neither can be required to carry the tag.
        G("ec2:new/instance", "ec2:RunInstances"),
        G("ec2:run-launched", "ec2:RunInstances"),
        G("ec2:run-image", "ec2:RunInstances"),
        G("ec2:tag-untagged/volume", "ec2:CreateTags"),
        G(
            "ec2:own",
            "ec2:RunInstances",
            "ec2:ModifyInstanceAttribute",
            "ec2:ModifyInstanceMetadataOptions",
            "ec2:ModifyInstanceMaintenanceOptions",
            "ec2:MonitorInstances",
            "ec2:UnmonitorInstances",
            "ec2:StopInstances",
            "ec2:StartInstances",
            "ec2:ModifyVolume",
            "ec2:AssociateIamInstanceProfile",
            "ec2:ReplaceIamInstanceProfileAssociation",
            "ec2:DisassociateIamInstanceProfile",
        ),
        G("ec2:own", "ec2:TerminateInstances", on_delete=True),
        G(
            "ec2:read",
            "ec2:DescribeInstances",
            "ec2:DescribeInstanceAttribute",
            "ec2:DescribeInstanceTypes",
            "ec2:DescribeInstanceCreditSpecifications",
            "ec2:DescribeImages",
            "ec2:DescribeVolumes",
            "ec2:DescribeIamInstanceProfileAssociations",
            "ec2:DescribeNetworkInterfaces",
        ),
        G("iam:pass-to-service", "iam:PassRole"),
        _EBS_KMS,
        *_EC2_TAGS,
    ),
    "aws:ebs/volume:Volume": (
        G("ec2:new/volume", "ec2:CreateVolume"),
        G("ec2:own", "ec2:ModifyVolume"),
        G("ec2:own", "ec2:DeleteVolume", on_delete=True),
        G("ec2:read", "ec2:DescribeVolumes", "ec2:DescribeVolumesModifications"),
        _EBS_KMS,
        *_EC2_TAGS,
    ),
    "aws:ec2/volumeAttachment:VolumeAttachment": (
        G("ec2:own", "ec2:AttachVolume"),
        # stop_instance_before_detaching: the instance is stopped before its data volume is detached.
        G("ec2:own", "ec2:DetachVolume", "ec2:StopInstances", on_delete=True),
        G("ec2:read", "ec2:DescribeVolumes", "ec2:DescribeInstances"),
    ),
    # ---- Elastic Load Balancing v2
    "aws:lb/loadBalancer:LoadBalancer": (
        G(
            "elb:own",
            "elasticloadbalancing:CreateLoadBalancer",
            "elasticloadbalancing:ModifyLoadBalancerAttributes",
            "elasticloadbalancing:SetSecurityGroups",
            "elasticloadbalancing:SetSubnets",
            "elasticloadbalancing:SetIpAddressType",
        ),
        G("elb:own", "elasticloadbalancing:DeleteLoadBalancer", on_delete=True),
        G(
            "elb:read",
            "elasticloadbalancing:DescribeLoadBalancers",
            "elasticloadbalancing:DescribeLoadBalancerAttributes",
            "elasticloadbalancing:DescribeCapacityReservation",
        ),
        # CreateLoadBalancer validates the subnets and groups; delete waits for the NLB's interfaces to go.
        G(
            "ec2:read",
            "ec2:DescribeAccountAttributes",
            "ec2:DescribeSubnets",
            "ec2:DescribeSecurityGroups",
            "ec2:DescribeVpcs",
            "ec2:DescribeInternetGateways",
            "ec2:DescribeNetworkInterfaces",
        ),
        G("iam:elb-service-linked-role", "iam:CreateServiceLinkedRole"),
        *_ELB_TAGS,
    ),
    "aws:lb/targetGroup:TargetGroup": (
        G(
            "elb:own",
            "elasticloadbalancing:CreateTargetGroup",
            "elasticloadbalancing:ModifyTargetGroup",
            "elasticloadbalancing:ModifyTargetGroupAttributes",
        ),
        G("elb:own", "elasticloadbalancing:DeleteTargetGroup", on_delete=True),
        G(
            "elb:read",
            "elasticloadbalancing:DescribeTargetGroups",
            "elasticloadbalancing:DescribeTargetGroupAttributes",
        ),
        *_ELB_TAGS,
    ),
    "aws:lb/targetGroupAttachment:TargetGroupAttachment": (
        G("elb:own", "elasticloadbalancing:RegisterTargets"),
        G("elb:own", "elasticloadbalancing:DeregisterTargets", on_delete=True),
        G("elb:read", "elasticloadbalancing:DescribeTargetHealth"),
    ),
    "aws:lb/listener:Listener": (
        G(
            "elb:own",
            "elasticloadbalancing:CreateListener",
            "elasticloadbalancing:ModifyListener",
            "elasticloadbalancing:ModifyListenerAttributes",
        ),
        G("elb:own", "elasticloadbalancing:DeleteListener", on_delete=True),
        G("elb:read", "elasticloadbalancing:DescribeListeners", "elasticloadbalancing:DescribeListenerAttributes"),
        *_ELB_TAGS,
    ),
    # ---- Route 53
    "aws:route53/zone:Zone": (
        G("route53:create", "route53:CreateHostedZone"),
        G(
            "route53:zones",
            "route53:GetHostedZone",
            "route53:UpdateHostedZoneComment",
            "route53:ListTagsForResource",
            "route53:ChangeTagsForResource",
            "route53:AssociateVPCWithHostedZone",
            "route53:DisassociateVPCFromHostedZone",
        ),
        G("route53:zones", "route53:DeleteHostedZone", on_delete=True),
        G("route53:changes", "route53:GetChange"),
        G("ec2:read", "ec2:DescribeVpcs"),
    ),
    "aws:route53/record:Record": (
        G("route53:records", "route53:ChangeResourceRecordSets"),
        G("route53:zones", "route53:GetHostedZone", "route53:ListResourceRecordSets"),
        G("route53:changes", "route53:GetChange"),
    ),
    "aws:route53/vpcAssociationAuthorization:VpcAssociationAuthorization": (
        G("route53:zones", "route53:CreateVPCAssociationAuthorization", "route53:ListVPCAssociationAuthorizations"),
        G("route53:zones", "route53:DeleteVPCAssociationAuthorization", on_delete=True),
    ),
    # ---- IAM
    "aws:iam/role:Role": (
        G(
            "iam:roles",
            "iam:CreateRole",
            "iam:GetRole",
            "iam:UpdateRole",
            "iam:UpdateRoleDescription",
            "iam:UpdateAssumeRolePolicy",
            "iam:TagRole",
            "iam:UntagRole",
            "iam:ListRoleTags",
            "iam:ListRolePolicies",
            "iam:GetRolePolicy",
            "iam:ListAttachedRolePolicies",
            "iam:ListInstanceProfilesForRole",
        ),
        G("iam:roles", "iam:DeleteRole", on_delete=True),
    ),
    "aws:iam/rolePolicy:RolePolicy": (
        G("iam:roles", "iam:PutRolePolicy", "iam:GetRolePolicy"),
        G("iam:roles", "iam:DeleteRolePolicy", on_delete=True),
    ),
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": (
        G("iam:attach-policies", "iam:AttachRolePolicy"),
        G("iam:attach-policies", "iam:DetachRolePolicy", on_delete=True),
        G("iam:roles", "iam:ListAttachedRolePolicies"),
    ),
    "aws:iam/instanceProfile:InstanceProfile": (
        G(
            "iam:instance-profiles",
            "iam:CreateInstanceProfile",
            "iam:GetInstanceProfile",
            "iam:AddRoleToInstanceProfile",
            "iam:RemoveRoleFromInstanceProfile",
            "iam:TagInstanceProfile",
            "iam:UntagInstanceProfile",
            "iam:ListInstanceProfileTags",
        ),
        G("iam:instance-profiles", "iam:DeleteInstanceProfile", on_delete=True),
        # AddRoleToInstanceProfile checks iam:PassRole on the role, naming no service.
        G("iam:pass-to-instance-profile", "iam:PassRole"),
    ),
    # ---- KMS
    "aws:kms/key:Key": (
        # CreateKey with Tags needs kms:TagResource too.
        G("kms:create", "kms:CreateKey", "kms:TagResource"),
        G(
            "kms:own",
            "kms:DescribeKey",
            "kms:GetKeyPolicy",
            "kms:GetKeyRotationStatus",
            "kms:ListResourceTags",
            "kms:PutKeyPolicy",
            "kms:EnableKeyRotation",
            "kms:DisableKeyRotation",
            "kms:UpdateKeyDescription",
            "kms:EnableKey",
            "kms:DisableKey",
            "kms:TagResource",
        ),
        G("kms:untag-own", "kms:UntagResource"),
        G("kms:own", "kms:ScheduleKeyDeletion", on_delete=True),
    ),
    "aws:kms/alias:Alias": (
        G("kms:aliases", "kms:CreateAlias", "kms:UpdateAlias"),
        G("kms:own", "kms:CreateAlias", "kms:UpdateAlias"),
        G("kms:aliases", "kms:DeleteAlias", on_delete=True),
        G("kms:own", "kms:DeleteAlias", on_delete=True),
        G("kms:read", "kms:ListAliases"),
    ),
    # ---- S3 (the backup bucket and its one configuration of each kind)
    "aws:s3/bucket:Bucket": (
        # CreateBucket with a canned ACL needs PutBucketAcl; with Object Lock, PutBucketObjectLockConfiguration
        # and PutBucketVersioning. HeadBucket is authorised as ListBucket. Tags: since provider 6.23 the S3
        # Control tagging calls, with the bucket tagging calls where those are not available.
        G(
            "s3:buckets",
            "s3:CreateBucket",
            "s3:PutBucketAcl",
            "s3:PutBucketObjectLockConfiguration",
            "s3:PutBucketVersioning",
            "s3:ListBucket",
            "s3:GetBucketPolicy",
            "s3:GetBucketAcl",
            "s3:GetBucketCORS",
            "s3:GetBucketWebsite",
            "s3:GetBucketVersioning",
            "s3:GetAccelerateConfiguration",
            "s3:GetBucketRequestPayment",
            "s3:GetBucketLogging",
            "s3:GetLifecycleConfiguration",
            "s3:GetReplicationConfiguration",
            "s3:GetEncryptionConfiguration",
            "s3:GetBucketObjectLockConfiguration",
            "s3:GetBucketTagging",
            "s3:PutBucketTagging",
            "s3:ListTagsForResource",
            "s3:TagResource",
            "s3:UntagResource",
        ),
        G("s3:buckets", "s3:DeleteBucket", on_delete=True),
    ),
    "aws:s3/bucketVersioning:BucketVersioning": (G("s3:buckets", "s3:PutBucketVersioning", "s3:GetBucketVersioning"),),
    "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration": (
        G("s3:buckets", "s3:PutBucketObjectLockConfiguration", "s3:GetBucketObjectLockConfiguration"),
    ),
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": (
        G("s3:buckets", "s3:PutBucketPublicAccessBlock", "s3:GetBucketPublicAccessBlock"),
        G("s3:buckets", "s3:DeleteBucketPublicAccessBlock", on_delete=True),
    ),
    # DeleteBucketEncryption / DeleteBucketOwnershipControls / DeleteBucketLifecycle are authorised as the Put.
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": (
        G("s3:buckets", "s3:PutEncryptionConfiguration", "s3:GetEncryptionConfiguration"),
    ),
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": (
        G("s3:buckets", "s3:PutBucketOwnershipControls", "s3:GetBucketOwnershipControls"),
    ),
    "aws:s3/bucketPolicy:BucketPolicy": (
        G("s3:buckets", "s3:PutBucketPolicy", "s3:GetBucketPolicy"),
        G("s3:buckets", "s3:DeleteBucketPolicy", on_delete=True),
    ),
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": (
        G("s3:buckets", "s3:PutLifecycleConfiguration", "s3:GetLifecycleConfiguration"),
    ),
    # ---- Secrets Manager
    "aws:secretsmanager/secret:Secret": (
        G(
            "secrets:own",
            "secretsmanager:CreateSecret",
            "secretsmanager:DescribeSecret",
            "secretsmanager:GetResourcePolicy",
            "secretsmanager:UpdateSecret",
            "secretsmanager:TagResource",
            "secretsmanager:UntagResource",
        ),
        G("secrets:own", "secretsmanager:DeleteSecret", on_delete=True),
    ),
    "aws:secretsmanager/secretVersion:SecretVersion": (
        G(
            "secrets:own",
            "secretsmanager:PutSecretValue",
            "secretsmanager:GetSecretValue",
            "secretsmanager:DescribeSecret",
            "secretsmanager:ListSecretVersionIds",
        ),
        G("secrets:own", "secretsmanager:UpdateSecretVersionStage", on_delete=True),
        # Values are encrypted under the stage's secrets key, in the caller's name.
        G("kms:via-service", "kms:GenerateDataKey", "kms:Decrypt", "kms:DescribeKey"),
    ),
    # ---- SNS
    "aws:sns/topic:Topic": (
        G(
            "sns:own",
            "sns:CreateTopic",
            "sns:GetTopicAttributes",
            "sns:SetTopicAttributes",
            "sns:ListTagsForResource",
            "sns:TagResource",
            "sns:UntagResource",
        ),
        G("sns:own", "sns:DeleteTopic", on_delete=True),
    ),
    "aws:sns/topicPolicy:TopicPolicy": (G("sns:own", "sns:SetTopicAttributes", "sns:GetTopicAttributes"),),
    "aws:sns/topicSubscription:TopicSubscription": (
        G(
            "sns:own",
            "sns:Subscribe",
            "sns:GetSubscriptionAttributes",
            "sns:SetSubscriptionAttributes",
            "sns:ListSubscriptionsByTopic",
        ),
        G("sns:own", "sns:Unsubscribe", on_delete=True),
    ),
    # ---- CloudWatch
    "aws:cloudwatch/logGroup:LogGroup": (
        G(
            "logs:own",
            "logs:CreateLogGroup",
            "logs:PutRetentionPolicy",
            "logs:DeleteRetentionPolicy",
            "logs:AssociateKmsKey",
            "logs:DisassociateKmsKey",
            "logs:ListTagsForResource",
            "logs:ListTagsLogGroup",
            "logs:TagResource",
            "logs:UntagResource",
        ),
        G("logs:own", "logs:DeleteLogGroup", on_delete=True),
        G("logs:describe", "logs:DescribeLogGroups"),
    ),
    "aws:cloudwatch/metricAlarm:MetricAlarm": (
        G(
            "cloudwatch:alarms",
            "cloudwatch:PutMetricAlarm",
            "cloudwatch:DescribeAlarms",
            "cloudwatch:ListTagsForResource",
            "cloudwatch:TagResource",
            "cloudwatch:UntagResource",
        ),
        G("cloudwatch:alarms", "cloudwatch:DeleteAlarms", on_delete=True),
        # The status-check alarms recover or reboot their instance (components/aws/monitoring.py): PutMetricAlarm
        # checks that the caller may read the instance and recover it, and CloudWatch creates its service-linked
        # role for EC2 actions on the first such alarm of the account (CloudWatch API Reference, PutMetricAlarm).
        G("ec2:read", "ec2:DescribeInstanceStatus", "ec2:DescribeInstances", "ec2:DescribeInstanceRecoveryAttribute"),
        G("ec2:own", "ec2:RecoverInstances"),
        G("iam:cloudwatch-events-service-linked-role", "iam:CreateServiceLinkedRole"),
    ),
    # ---- not AWS: values computed by the engine's own providers ...
    "random:index/randomPassword:RandomPassword": (),
    "tls:index/privateKey:PrivateKey": (),
    "tls:index/selfSignedCert:SelfSignedCert": (),
    "tls:index/certRequest:CertRequest": (),
    "tls:index/locallySignedCert:LocallySignedCert": (),
    # ... except the post-provision steps: pulumi-command runs scripts/ssm_run.py with the deployer's credentials.
    "command:local:Command": (
        # The configure step records each deploy in the stack journal (scripts/ssm_configure.py): one new,
        # locked object under journal/, encrypted with the vault's key.
        G("s3:journal", "s3:PutObject"),
        G("kms:via-service", "kms:GenerateDataKey"),
        G("ssm:document", "ssm:SendCommand"),
        G("ssm:instances", "ssm:SendCommand"),
        G("ssm:read", "ssm:GetCommandInvocation", "ssm:DescribeInstanceInformation"),
    ),
}

# Provider functions (invokes) -> grants.
INVOKE_GRANTS: dict[str, tuple[Grant, ...]] = {
    "aws:ec2/getAmi:getAmi": (G("ec2:read", "ec2:DescribeImages"),),
    # STS answers GetCallerIdentity to every principal; it is listed so the policy shows every call made.
    "aws:index/getCallerIdentity:getCallerIdentity": (G("sts:identity", "sts:GetCallerIdentity"),),
    "aws:index/getPartition:getPartition": (),  # answered from the provider's configuration
    "aws:index/getRegion:getRegion": (G("ec2:read", "ec2:DescribeRegions"),),
    "aws:index/getAvailabilityZones:getAvailabilityZones": (G("ec2:read", "ec2:DescribeAvailabilityZones"),),
}


# ---------------------------------------------------------------------------------------- what the graph says


@dataclass(frozen=True)
class Invoke:
    token: str
    args: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class Context:
    """Values from the graph that statements are scoped by."""

    stage: str
    region: str
    account: str
    prefix: str
    passed_services: set[str] = field(default_factory=set)
    managed_policy_arns: set[str] = field(default_factory=set)
    record_names: set[str] = field(default_factory=set)
    record_types: set[str] = field(default_factory=set)
    peer_vpc_arns: set[str] = field(default_factory=set)
    ami_owners: set[str] = field(default_factory=set)
    kms_via: set[str] = field(default_factory=set)
    endpoint_services: set[str] = field(default_factory=set)
    ec2_create_actions: set[str] = field(default_factory=set)


class UnmappedTypes(Exception):
    def __init__(self, types: Sequence[str]):
        self.types = sorted(types)
        super().__init__(
            "no deployer permissions mapped for: "
            + ", ".join(self.types)
            + " (add them to TYPE_GRANTS / INVOKE_GRANTS in tools/deployer_policy.py)"
        )


def stage_of(plan: Plan) -> str:
    for record in plan.resources:
        stage = (
            (record.inputs.get("tags") or {}).get(STAGE_TAG) if isinstance(record.inputs.get("tags"), dict) else None
        )
        if stage:
            return stage
    return plan.stack


def unmapped(plan: Plan, invokes: Iterable[Invoke] = ()) -> list[str]:
    """Resource types and invoke tokens of the graph with no entry in the mapping (components excluded)."""
    types = {r.type for r in plan.resources if r.custom and not r.type.startswith("pulumi:providers:")}
    missing = {t for t in types if t not in TYPE_GRANTS}
    missing |= {i.token for i in invokes if i.token not in INVOKE_GRANTS}
    return sorted(missing)


def _account(value: str, account: str) -> str:
    return value.replace(RECORDED_ACCOUNT, account)


def _context(plan: Plan, region: str, account: str, invokes: Sequence[Invoke]) -> Context:
    stage = stage_of(plan)
    ctx = Context(stage=stage, region=region, account=account, prefix=f"pgp-{stage}")
    roles_in_profiles: set[str | None] = set()  # only its emptiness is read: a profile without a role counts
    for record in plan.resources:
        inputs = record.inputs
        if record.type == "aws:iam/role:Role":
            for statement in _json(inputs.get("assumeRolePolicy")).get("Statement", []):
                service = (
                    (statement.get("Principal") or {}).get("Service")
                    if isinstance(statement.get("Principal"), dict)
                    else None
                )
                for s in [service] if isinstance(service, str) else service or []:
                    ctx.passed_services.add(s)
        elif record.type == "aws:iam/rolePolicyAttachment:RolePolicyAttachment":
            ctx.managed_policy_arns.add(inputs["policyArn"])
        elif record.type == "aws:route53/record:Record":
            ctx.record_names.add(inputs["name"].rstrip(".").lower())
            ctx.record_types.add(inputs["type"])
        elif record.type == "aws:ec2/vpcPeeringConnection:VpcPeeringConnection":
            owner = _account(inputs.get("peerOwnerId") or RECORDED_ACCOUNT, account)
            ctx.peer_vpc_arns.add(f"arn:aws:ec2:{inputs.get('peerRegion') or region}:{owner}:vpc/{inputs['peerVpcId']}")
        elif record.type in ("aws:ec2/instance:Instance", "aws:ebs/volume:Volume"):
            ctx.kms_via.add(f"ec2.{region}.amazonaws.com")
        elif record.type == "aws:secretsmanager/secretVersion:SecretVersion":
            ctx.kms_via.add(f"secretsmanager.{region}.amazonaws.com")
        elif record.type == "command:local:Command":
            ctx.kms_via.add(f"s3.{region}.amazonaws.com")  # the journal entry's SSE-KMS
        elif record.type == "aws:ec2/vpcEndpoint:VpcEndpoint":
            ctx.endpoint_services.add(inputs["serviceName"])
        elif record.type == "aws:iam/instanceProfile:InstanceProfile":
            roles_in_profiles.add(inputs.get("role"))
    for invoke in invokes:
        if invoke.token == "aws:ec2/getAmi:getAmi":
            ctx.ami_owners.update(invoke.args.get("owners") or [])
    # Only services the program actually passes roles to: EC2 through instance profiles, the others by role ARN
    # in the resource that uses it (flow logs). A role trusted by a service it is never passed to is not listed.
    used = {"aws:ec2/flowLog:FlowLog": "vpc-flow-logs.amazonaws.com"}
    passed = {s for t, s in used.items() if plan.by_type(t)}
    if roles_in_profiles:
        passed.add("ec2.amazonaws.com")
    ctx.passed_services &= passed
    return ctx


def _json(value: Any) -> dict:
    if isinstance(value, dict):
        return value
    try:
        return json.loads(value or "{}")
    except (TypeError, ValueError):
        return {}


# -------------------------------------------------------------------------------------- statement templates


@dataclass(frozen=True)
class Scope:
    sid: str
    resources: Callable[[Context], list[str] | str]
    condition: Callable[[Context], dict | None] = lambda ctx: None
    # Why this statement's Resource is "*" (required when it is).
    star: str = ""


def _region(ctx: Context) -> dict:
    return {"StringEquals": {"aws:RequestedRegion": ctx.region}}


def _ec2(ctx: Context, resource: str, account: bool = True) -> str:
    return f"arn:aws:ec2:{ctx.region}:{ctx.account if account else ''}:{resource}"


def _own(ctx: Context) -> dict:
    # Resources of this stage only, and nothing may be tagged into another stage on the way.
    return {
        "StringEquals": {f"aws:ResourceTag/{STAGE_TAG}": ctx.stage},
        "StringEqualsIfExists": {f"aws:RequestTag/{STAGE_TAG}": ctx.stage},
    }


def _new(ctx: Context) -> dict:
    return {"StringEquals": {f"aws:RequestTag/{STAGE_TAG}": ctx.stage}}


def _untag(ctx: Context) -> dict:
    return {
        "StringEquals": {f"aws:ResourceTag/{STAGE_TAG}": ctx.stage},
        "ForAllValues:StringNotEquals": {"aws:TagKeys": [STAGE_TAG]},
    }


EC2_NEW_TYPES = (
    "vpc",
    "subnet",
    "route-table",
    "internet-gateway",
    "elastic-ip",
    "natgateway",
    "vpc-endpoint",
    "vpc-flow-log",
    "vpc-peering-connection",
    "security-group",
    "security-group-rule",
    "instance",
    "volume",
)


def _ec2_of_type(resource_type: str) -> Callable[[Context], list[str]]:
    """The stage's EC2 ARNs of one resource type (a function per type, for the scopes built in a loop)."""
    return lambda ctx: [_ec2(ctx, f"{resource_type}/*")]


def _camel(text: str) -> str:
    return "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]+", text) if part)


SCOPES: dict[str, Scope] = {
    "ec2:read": Scope(
        "Ec2Read", lambda c: "*", _region, star="EC2 Describe*/Get* calls support no resource-level permissions"
    ),
    **{
        f"ec2:new/{t}": Scope(f"Ec2Create{_camel(t)}Tagged", _ec2_of_type(t), _new)
        for t in EC2_NEW_TYPES
        if t != "vpc-endpoint"
    },
    # Endpoints only to the AWS services the graph names.
    "ec2:new/vpc-endpoint": Scope(
        "Ec2CreateVpcEndpointTagged",
        lambda c: [_ec2(c, "vpc-endpoint/*")],
        lambda c: {
            "StringEquals": {f"aws:RequestTag/{STAGE_TAG}": c.stage, "ec2:VpceServiceName": sorted(c.endpoint_services)}
        },
    ),
    "ec2:endpoint-services": Scope(
        "Ec2EndpointServices",
        lambda c: [f"arn:aws:ec2:{c.region}:*:vpc-endpoint-service/*"],
        lambda c: {"StringEquals": {"ec2:VpceServiceName": sorted(c.endpoint_services)}},
    ),
    "ec2:own": Scope("Ec2ManageStageResources", lambda c: [_ec2(c, "*")], _own),
    "ec2:tag-on-create": Scope(
        "Ec2TagOnCreate",
        lambda c: [_ec2(c, "*/*")],
        lambda c: {
            "StringEquals": {"ec2:CreateAction": sorted(c.ec2_create_actions), f"aws:RequestTag/{STAGE_TAG}": c.stage}
        },
    ),
    "ec2:untag-own": Scope("Ec2UntagKeepsStage", lambda c: [_ec2(c, "*/*")], _untag),
    # Resources that exist before the program tags them: the VPC's default security group, and root volumes
    # when their tags are applied after launch. Tagging into the stage is allowed, out of another stage is not.
    **{
        f"ec2:tag-untagged/{t}": Scope(
            f"Ec2Tag{_camel(t)}IntoStage",
            _ec2_of_type(t),
            lambda c: {
                "StringEquals": {f"aws:RequestTag/{STAGE_TAG}": c.stage},
                "StringEqualsIfExists": {f"aws:ResourceTag/{STAGE_TAG}": c.stage},
            },
        )
        for t in ("security-group", "volume")
    },
    "ec2:account": Scope("Ec2UntaggedInAccount", lambda c: [_ec2(c, "*")]),
    "ec2:run-launched": Scope(
        "Ec2RunInstancesRootVolumesAndInterfaces", lambda c: [_ec2(c, "volume/*"), _ec2(c, "network-interface/*")]
    ),
    "ec2:run-image": Scope(
        "Ec2RunInstancesImage",
        lambda c: [_ec2(c, "image/*", account=False)],
        lambda c: {"StringEquals": {"ec2:Owner": sorted(c.ami_owners)}} if c.ami_owners else None,
    ),
    "ec2:peer-vpcs": Scope("Ec2PeerWithDeclaredVpcs", lambda c: sorted(c.peer_vpc_arns)),
    "elb:read": Scope(
        "ElbRead",
        lambda c: "*",
        _region,
        star="Elastic Load Balancing Describe* calls support no resource-level permissions",
    ),
    "elb:own": Scope(
        "ElbManageStage",
        lambda c: [
            f"arn:aws:elasticloadbalancing:{c.region}:{c.account}:loadbalancer/net/{c.prefix}-*",
            f"arn:aws:elasticloadbalancing:{c.region}:{c.account}:targetgroup/{c.prefix}-*",
            f"arn:aws:elasticloadbalancing:{c.region}:{c.account}:listener/net/{c.prefix}-*",
        ],
    ),
    "route53:create": Scope(
        "Route53CreateZone", lambda c: "*", star="CreateHostedZone has no resource: the zone's id does not exist yet"
    ),
    # Zone ids are assigned by AWS and Route 53 has no tag conditions: any zone of the account (and the
    # AWS-owned zones interface endpoints associate). Record changes are limited to the stage's names below.
    "route53:zones": Scope("Route53Zones", lambda c: ["arn:aws:route53:::hostedzone/*"]),
    "route53:records": Scope(
        "Route53StageRecordsOnly",
        lambda c: ["arn:aws:route53:::hostedzone/*"],
        lambda c: {
            "ForAllValues:StringEquals": {
                "route53:ChangeResourceRecordSetsNormalizedRecordNames": sorted(c.record_names),
                "route53:ChangeResourceRecordSetsRecordTypes": sorted(c.record_types),
            }
        },
    ),
    "route53:changes": Scope("Route53Changes", lambda c: ["arn:aws:route53:::change/*"]),
    "iam:roles": Scope("IamStageRoles", lambda c: [f"arn:aws:iam::{c.account}:role/{c.prefix}-*"]),
    "iam:instance-profiles": Scope(
        "IamStageInstanceProfiles", lambda c: [f"arn:aws:iam::{c.account}:instance-profile/{c.prefix}-*"]
    ),
    "iam:attach-policies": Scope(
        "IamAttachListedPolicies",
        lambda c: [f"arn:aws:iam::{c.account}:role/{c.prefix}-*"],
        lambda c: {"ArnEquals": {"iam:PolicyARN": sorted(c.managed_policy_arns)}},
    ),
    "iam:pass-to-service": Scope(
        "IamPassStageRolesToServices",
        lambda c: [f"arn:aws:iam::{c.account}:role/{c.prefix}-*"],
        lambda c: {"StringEquals": {"iam:PassedToService": sorted(c.passed_services)}},
    ),
    "iam:pass-to-instance-profile": Scope(
        "IamPassStageRolesIntoProfiles",
        lambda c: [f"arn:aws:iam::{c.account}:role/{c.prefix}-*"],
        # The check made by AddRoleToInstanceProfile carries no iam:PassedToService; every service's does.
        lambda c: {"Null": {"iam:PassedToService": "true"}},
    ),
    "iam:elb-service-linked-role": Scope(
        "IamElbServiceLinkedRole",
        lambda c: [
            f"arn:aws:iam::{c.account}:role/aws-service-role/elasticloadbalancing.amazonaws.com/"
            "AWSServiceRoleForElasticLoadBalancing"
        ],
        lambda c: {"StringEquals": {"iam:AWSServiceName": "elasticloadbalancing.amazonaws.com"}},
    ),
    "iam:cloudwatch-events-service-linked-role": Scope(
        "IamCloudWatchEventsServiceLinkedRole",
        lambda c: [
            f"arn:aws:iam::{c.account}:role/aws-service-role/events.amazonaws.com/AWSServiceRoleForCloudWatchEvents"
        ],
        lambda c: {"StringEquals": {"iam:AWSServiceName": "events.amazonaws.com"}},
    ),
    "kms:create": Scope(
        "KmsCreateTaggedKeys",
        lambda c: "*",
        lambda c: {
            "StringEquals": {f"aws:RequestTag/{STAGE_TAG}": c.stage, "aws:RequestedRegion": c.region},
            "StringEqualsIfExists": {f"aws:ResourceTag/{STAGE_TAG}": c.stage},
        },
        star="CreateKey has no resource: the key's id does not exist yet; the stage tag is required instead",
    ),
    "kms:own": Scope(
        "KmsStageKeys",
        lambda c: [f"arn:aws:kms:{c.region}:{c.account}:key/*"],
        lambda c: {
            "StringEquals": {f"aws:ResourceTag/{STAGE_TAG}": c.stage},
            "StringEqualsIfExists": {f"aws:RequestTag/{STAGE_TAG}": c.stage},
        },
    ),
    "kms:untag-own": Scope("KmsUntagKeepsStage", lambda c: [f"arn:aws:kms:{c.region}:{c.account}:key/*"], _untag),
    "kms:via-service": Scope(
        "KmsStageKeysThroughServices",
        lambda c: [f"arn:aws:kms:{c.region}:{c.account}:key/*"],
        lambda c: {"StringEquals": {f"aws:ResourceTag/{STAGE_TAG}": c.stage, "kms:ViaService": sorted(c.kms_via)}},
    ),
    "kms:aliases": Scope("KmsStageAliases", lambda c: [f"arn:aws:kms:{c.region}:{c.account}:alias/{c.prefix}-*"]),
    "kms:read": Scope(
        "KmsListAliases", lambda c: "*", _region, star="ListAliases supports no resource-level permissions"
    ),
    "s3:buckets": Scope("S3StageBuckets", lambda c: [f"arn:aws:s3:::{c.prefix}-*"]),
    "s3:journal": Scope("S3StageJournal", lambda c: [f"arn:aws:s3:::{c.prefix}-*/{JOURNAL_PREFIX}/*"]),
    "secrets:own": Scope(
        "SecretsStageSecrets", lambda c: [f"arn:aws:secretsmanager:{c.region}:{c.account}:secret:{c.prefix}-*"]
    ),
    "sns:own": Scope("SnsStageTopics", lambda c: [f"arn:aws:sns:{c.region}:{c.account}:{c.prefix}-*"]),
    "logs:own": Scope("LogsStageLogGroups", lambda c: [f"arn:aws:logs:{c.region}:{c.account}:log-group:{c.prefix}-*"]),
    "logs:describe": Scope("LogsDescribeGroups", lambda c: [f"arn:aws:logs:{c.region}:{c.account}:log-group:*"]),
    "cloudwatch:alarms": Scope(
        "CloudWatchStageAlarms", lambda c: [f"arn:aws:cloudwatch:{c.region}:{c.account}:alarm:{c.prefix}-*"]
    ),
    "ssm:document": Scope("SsmRunShellScript", lambda c: [f"arn:aws:ssm:{c.region}::document/{SSM_DOCUMENT}"]),
    "ssm:instances": Scope(
        "SsmStageInstances",
        lambda c: [_ec2(c, "instance/*")],
        lambda c: {"StringEquals": {f"ssm:resourceTag/{STAGE_TAG}": c.stage}},
    ),
    "ssm:read": Scope(
        "SsmCommandResults",
        lambda c: "*",
        _region,
        star="GetCommandInvocation and DescribeInstanceInformation support no resource-level permissions",
    ),
    "sts:identity": Scope(
        "StsCallerIdentity", lambda c: "*", star="GetCallerIdentity has no resource and needs no permission"
    ),
}


# ----------------------------------------------------------------------------------------------- the policy


def grants_for(plan: Plan, invokes: Iterable[Invoke] = ()) -> dict[str, set[str]]:
    """scope -> actions the graph needs; raises UnmappedTypes for anything not in the mapping."""
    invokes = list(invokes)
    missing = unmapped(plan, invokes)
    if missing:
        raise UnmappedTypes(missing)
    needed: dict[str, set[str]] = {}
    for record in plan.resources:
        if not record.custom or record.type.startswith("pulumi:providers:"):
            continue
        for grant in TYPE_GRANTS[record.type]:
            if grant.on_delete and getattr(record, "retain_on_delete", False):
                continue
            needed.setdefault(grant.scope, set()).update(grant.actions)
    for invoke in invokes:
        for grant in INVOKE_GRANTS[invoke.token]:
            needed.setdefault(grant.scope, set()).update(grant.actions)
    return needed


def deployer_statements(
    plan: Plan, region: str, invokes: Iterable[Invoke] = (), account: str = ACCOUNT_PLACEHOLDER
) -> list[dict]:
    """The statements for one stage's deployer, in SCOPES order."""
    invokes = list(invokes)
    needed = grants_for(plan, invokes)
    ctx = _context(plan, region, account, invokes)
    ctx.ec2_create_actions = {a for s, acts in needed.items() if s.startswith("ec2:new/") for a in acts}
    statements = []
    for key, scope in SCOPES.items():
        actions = needed.pop(key, None)
        if not actions:
            continue
        resources = scope.resources(ctx)
        if resources == "*" and not scope.star:
            raise ValueError(f"scope {key} uses Resource * without saying why")
        statement: dict[str, Any] = {
            "Sid": scope.sid,
            "Effect": "Allow",
            "Action": sorted(actions),
            "Resource": resources,
        }
        condition = scope.condition(ctx)
        if condition:
            statement["Condition"] = condition
        statements.append(statement)
    if needed:
        raise ValueError(f"grants name unknown scopes: {sorted(needed)}")
    return statements


def compact_size(document: dict) -> int:
    return len(json.dumps(document, separators=(",", ":")))


def split_policy(statements: Sequence[dict], limit: int = MANAGED_POLICY_LIMIT) -> list[dict]:
    """Pack statements into few policy documents under `limit` (first fit, keeping their order within each
    document); a statement too large for one document is cut into several by its actions."""

    def document(body: list[dict]) -> dict:
        return {"Version": "2012-10-17", "Statement": body}

    pieces: list[dict] = []
    for statement in statements:
        if compact_size(document([statement])) <= limit:
            pieces.append(statement)
            continue
        actions, part = statement["Action"], 1
        chunk: list[str] = []
        for action in actions:
            trial = {**statement, "Sid": f"{statement['Sid']}{part}", "Action": [*chunk, action]}
            if chunk and compact_size(document([trial])) > limit:
                pieces.append({**statement, "Sid": f"{statement['Sid']}{part}", "Action": chunk})
                part, chunk = part + 1, [action]
            else:
                chunk.append(action)
        pieces.append({**statement, "Sid": f"{statement['Sid']}{part}", "Action": chunk})
    # First fit, in statement order: each piece goes into the first document it still fits in.
    documents: list[list[dict]] = []
    for piece in pieces:
        target = next((body for body in documents if compact_size(document([*body, piece])) <= limit), None)
        if target is None:
            documents.append(target := [])
        target.append(piece)
    return [document(body) for body in documents]


def deployer_policy(
    plan: Plan, region: str, invokes: Iterable[Invoke] = (), account: str = ACCOUNT_PLACEHOLDER
) -> list[dict]:
    """The deployer's managed policies for the plan's stage (one or more documents, each under IAM's limit)."""
    return split_policy(deployer_statements(plan, region, invokes, account))


# ------------------------------------------------------------------------------------------- running stacks


@contextlib.contextmanager
def recording_invokes() -> Iterator[list[Invoke]]:
    """Record the provider functions the program calls while a stack runs under the mock runtime (the plan
    records resources only)."""
    from pulumi.runtime import mocks as pulumi_mocks
    from pulumi.runtime import rpc

    calls: list[Invoke] = []
    original = pulumi_mocks.MockMonitor.Invoke

    def invoke(self, request):
        response = original(self, request)  # sets up the event loop deserialising needs
        try:
            args = dict(rpc.deserialize_properties(request.args) or {})
        except Exception:  # the token alone is what the mapping needs
            args = {}
        calls.append(Invoke(request.tok, args))
        return response

    # Patching the class for the duration of one run is the point; mypy refuses any assignment to a method.
    pulumi_mocks.MockMonitor.Invoke = invoke  # type: ignore[method-assign]
    try:
        yield calls
    finally:
        pulumi_mocks.MockMonitor.Invoke = original  # type: ignore[method-assign]


def run_with_invokes(stack: str) -> tuple[Plan, list[Invoke], str]:
    """Run a stack offline: its plan, the invokes it made (one per token) and its region."""
    from stacks.files import engine_config
    from tools.runner import run_stack

    with recording_invokes() as calls:
        plan = run_stack(stack)
    recorded = getattr(plan, "invokes", None)
    if recorded:  # the runner may record them itself one day
        calls = [i if isinstance(i, Invoke) else Invoke(i["token"], i.get("args", {})) for i in recorded]
    unique = {i.token: i for i in calls if i.token != "pulumi:pulumi:getResource"}
    region = engine_config(stack).get("aws:region") or ""
    return plan, list(unique.values()), region


def output_paths(base: Path, stack: str, count: int) -> list[Path]:
    return [base.with_name(f"{base.stem}-{stack}-{n}{base.suffix or '.json'}") for n in range(1, count + 1)]


def render(documents: Sequence[dict]) -> list[str]:
    return [json.dumps(d, indent=2) + "\n" for d in documents]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stack", action="append", help="stack name (repeatable); default: every Pulumi.<stack>.yaml")
    parser.add_argument(
        "--output",
        metavar="FILE",
        type=Path,
        help=f"write FILE's stem + -<stack>-<n>.json per policy (e.g. docs/{OUTPUT_STEM}.json) "
        "and remove stale parts; default: print",
    )
    parser.add_argument(
        "--account-id",
        default=ACCOUNT_PLACEHOLDER,
        help=f"the AWS account to put in the ARNs (default: the placeholder {ACCOUNT_PLACEHOLDER})",
    )


def main(args: argparse.Namespace) -> int:
    from stacks.files import stack_names

    for stack in args.stack or stack_names():
        plan, invokes, region = run_with_invokes(stack)
        if not region:
            print(f"stack {stack}: no aws:region in Pulumi.{stack}.yaml", file=sys.stderr)
            return 2
        try:
            documents = deployer_policy(plan, region, invokes, args.account_id)
        except UnmappedTypes as error:
            print(f"stack {stack}: {error}", file=sys.stderr)
            return 2
        texts = render(documents)
        if not args.output:
            for n, (doc, text) in enumerate(zip(documents, texts, strict=True), 1):
                print(
                    f"# stack {stack} ({region}): policy {n}/{len(documents)}, "
                    f"{compact_size(doc)} of {MANAGED_POLICY_LIMIT} characters"
                )
                print(text)
            continue
        paths = output_paths(args.output, stack, len(texts))
        paths[0].parent.mkdir(parents=True, exist_ok=True)
        for stale in args.output.parent.glob(f"{args.output.stem}-{stack}-*.json"):
            if stale not in paths:
                stale.unlink()
        for path, text, doc in zip(paths, texts, documents, strict=True):
            path.write_text(text)
            print(
                f"{path}: {len(doc['Statement'])} statements, {compact_size(doc)} of {MANAGED_POLICY_LIMIT} characters"
            )
    return 0
