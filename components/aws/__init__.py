"""AWS: the roles of components.contracts on EC2, S3, Secrets Manager, IAM and CloudWatch."""

from components.aws.platform import build

__all__ = ["build"]
