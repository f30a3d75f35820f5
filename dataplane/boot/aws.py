"""The boot on AWS: Secrets Manager through boto3 with the instance role, the SSM and CloudWatch agents from AWS's
regional buckets, Debian's CDN on AWS, and the vault's KMS key for pgBackRest's uploads."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

from dataplane.boot.cloud import BootFile, NodeKind
from dataplane.model import Repository, S3Repository
from stacks.clouds.model import Architecture

DEBIAN_MIRROR = "https://cdn-aws.deb.debian.org/debian"
DEBIAN_SECURITY_MIRROR = "https://cdn-aws.deb.debian.org/debian-security"

CLOUDWATCH_AGENT_CONFIG = "/opt/aws/amazon-cloudwatch-agent/etc/pg-platform.json"
CLOUDWATCH_NAMESPACE = "CWAgent"
CLOUDWATCH_DISK_METRIC = "disk_used_percent"


# The SSM agent (post-provision steps, operator sessions) and the CloudWatch agent (the free-disk alarm, which
# still pages when the monitoring node is down) are not in Debian; AWS ships both as .debs in regional S3
# buckets, which the nodes reach through the S3 gateway endpoint.
# AWS names the packages by Debian's architecture names.
DEBIAN_ARCHITECTURE: dict[Architecture, str] = {"x86_64": "amd64", "arm64": "arm64"}


def aws_agent_debs(region: str, architecture: Architecture = "x86_64") -> dict[str, str]:
    arch = DEBIAN_ARCHITECTURE[architecture]
    return {
        "amazon-ssm-agent": f"https://s3.{region}.amazonaws.com/amazon-ssm-{region}/latest/debian_{arch}/"
        "amazon-ssm-agent.deb",
        "amazon-cloudwatch-agent": f"https://amazoncloudwatch-agent-{region}.s3.{region}.amazonaws.com/debian/{arch}/"
        "latest/amazon-cloudwatch-agent.deb",
    }


def render_cloudwatch_agent_config(data_mount: str) -> str:
    """disk used_percent of the data volume, aggregated to exactly the dimensions the alarm names
    (InstanceId, path), once a minute."""
    return json.dumps(
        {
            "agent": {"metrics_collection_interval": 60, "run_as_user": "cwagent"},
            "metrics": {
                "namespace": CLOUDWATCH_NAMESPACE,
                "append_dimensions": {"InstanceId": "${aws:InstanceId}"},
                "aggregation_dimensions": [["InstanceId", "path"]],
                "metrics_collected": {
                    "disk": {"measurement": ["used_percent"], "resources": [data_mount], "drop_device": True}
                },
            },
        },
        indent=1,
        sort_keys=True,
    )


def aws_agent_commands(region: str, cloudwatch: bool = True, architecture: Architecture = "x86_64") -> list[list[str]]:
    """Install the SSM agent (every node: post-provision, shell access, the `dashboards` port forward) and, on
    the database nodes, the CloudWatch agent, from AWS's regional buckets through the S3 gateway endpoint."""
    debs = aws_agent_debs(region, architecture)
    names = ["amazon-ssm-agent"] + (["amazon-cloudwatch-agent"] if cloudwatch else [])
    commands = []
    for name in names:
        deb = f"/var/cache/{name}.deb"
        commands += [
            ["curl", "-fsSL", "--proto", "=https", "--retry", "5", "-o", deb, debs[name]],
            ["apt-get", "install", "-y", deb],
        ]
    commands.append(["systemctl", "enable", "--now", "amazon-ssm-agent"])
    if cloudwatch:
        commands.append(
            [
                "/opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl",
                "-a",
                "fetch-config",
                "-m",
                "ec2",
                "-s",
                "-c",
                f"file:{CLOUDWATCH_AGENT_CONFIG}",
            ]
        )
    return commands


@dataclass(frozen=True)
class AwsBoot:
    """The AWS part of a node's boot (a BootCloud)."""

    region: str
    bucket: str | None = None  # checked against the spec's S3 repository
    kms_key_id: str | None = None  # SSE-KMS key for pgBackRest uploads (repo-s3-kms-key-id)
    architecture: Architecture = "x86_64"  # the instance type's: which agent packages the node installs

    @property
    def secrets_store(self) -> str:
        return "Secrets Manager"

    @property
    def configure_writes_roles(self) -> bool:
        # EC2 takes 16 KB of user data, and every declared database and role lengthens the roles SQL; the
        # post-provision configure step (components/aws/post_provision.py) writes it before the roles step.
        return True

    @property
    def secret_ref_noun(self) -> str:
        return "ARN"

    def debian_mirrors(self) -> tuple[str, str]:
        return DEBIAN_MIRROR, DEBIAN_SECURITY_MIRROR

    def packages(self) -> list[str]:
        return ["python3-boto3"]

    def config(self) -> dict[str, str]:
        return {"region": self.region}

    def secret_client(self, config: str) -> str:
        return f'    import boto3\n    client = boto3.client("secretsmanager", region_name={config}["region"])\n'

    def secret_value(self, ref: str) -> str:
        return f'client.get_secret_value(SecretId={ref})["SecretString"]'

    def agent_commands(self, node: NodeKind) -> list[list[str]]:
        # The CloudWatch agent feeds the members' free-disk alarm; the monitoring node has none.
        return aws_agent_commands(self.region, cloudwatch=node == "member", architecture=self.architecture)

    def agent_files(self, node: NodeKind, data_mount: str) -> list[BootFile]:
        if node != "member":
            return []
        return [BootFile(CLOUDWATCH_AGENT_CONFIG, render_cloudwatch_agent_config(data_mount), 0o644)]

    def repositories(self, repositories: tuple[Repository, ...]) -> tuple[Repository, ...]:
        """The KMS key exists only once the vault is created, so it arrives with the boot data, not the spec."""
        completed: list[Repository] = []
        for repo in repositories:
            if isinstance(repo, S3Repository):
                if self.bucket and repo.bucket != self.bucket:
                    raise ValueError(f"boot bucket {self.bucket!r} is not the repository's bucket {repo.bucket!r}")
                if self.kms_key_id and not repo.kms_key_id:
                    repo = replace(repo, kms_key_id=self.kms_key_id)
            completed.append(repo)
        return tuple(completed)
