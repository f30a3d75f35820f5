"""The object-locked bucket the clouds give pgBackRest, emulated by moto behind a TLS-terminating HAProxy.

pgBackRest's S3 client always speaks TLS and verifies DNS names only, and moto's own TLS mode did not
work with it, so moto listens on plain HTTP on loopback and HAProxy presents a certificate for
`localhost` signed by the sandbox CA.
"""

from __future__ import annotations

import sys

import boto3
from botocore.config import Config

from sandbox.layout import LOOPBACK, LOOPBACK_DNS, SandboxLayout
from sandbox.services import tls_proxy
from sandbox.supervisor import Service, Supervisor, port_open

# moto accepts any credentials; these exist only so boto3 and pgBackRest sign requests.
EMULATOR_ACCESS_KEY = "sandbox-access-key"
EMULATOR_SECRET_KEY = "sandbox-secret-key"
# Both processes of the object store: taken down last, after PostgreSQL has archived its last WAL.
NAME_PREFIX = "s3-"


def emulator_service(layout: SandboxLayout) -> Service:
    port = layout.service_port("s3_emulator")
    return Service(
        name=f"{NAME_PREFIX}emulator",
        argv=[sys.executable, "-m", "moto.server", "-H", LOOPBACK, "-p", str(port)],
        ready=lambda: port_open(port),
        ready_timeout=30,
    )


def tls_proxy_config(layout: SandboxLayout) -> str:
    return tls_proxy.render(
        ["TLS in front of the S3 emulator: pgBackRest talks only HTTPS with verified DNS names."],
        "s3",
        layout.service_port("s3_https"),
        layout.service_port("s3_emulator"),
        tls_proxy.certificate_bundle(layout),
        mode="tcp",
    )


def client(layout: SandboxLayout, via_tls: bool = True):
    """boto3 client: through the TLS proxy (as pgBackRest sees it) or straight to the emulator."""
    if via_tls:
        url = f"https://{LOOPBACK_DNS}:{layout.service_port('s3_https')}"
        verify: str | bool = str(layout.tls_dir / "ca.crt")
    else:
        url = f"http://{LOOPBACK}:{layout.service_port('s3_emulator')}"
        verify = False
    repo = layout.s3_repository
    return boto3.client(
        "s3",
        endpoint_url=url,
        region_name=repo.region,
        verify=verify,
        aws_access_key_id=EMULATOR_ACCESS_KEY,
        aws_secret_access_key=EMULATOR_SECRET_KEY,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}),
    )


def ensure_locked_bucket(layout: SandboxLayout) -> dict:
    """The bucket as the cloud component builds it: versioned, Object Lock with the topology's mode and days."""
    repo = layout.s3_repository
    topology = layout.spec.topology
    s3 = client(layout)
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    if repo.bucket in existing:
        # A default retention is set once, on the empty bucket (as the cloud component does at creation).
        return s3.get_object_lock_configuration(Bucket=repo.bucket)["ObjectLockConfiguration"]
    kwargs = {"Bucket": repo.bucket, "ObjectLockEnabledForBucket": True}
    if repo.region and repo.region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": repo.region}
    s3.create_bucket(**kwargs)
    # Object Lock implies versioning; setting it explicitly mirrors the cloud resources one to one.
    s3.put_bucket_versioning(Bucket=repo.bucket, VersioningConfiguration={"Status": "Enabled"})
    if topology.lock_days.value:
        s3.put_object_lock_configuration(
            Bucket=repo.bucket,
            ObjectLockConfiguration={
                "ObjectLockEnabled": "Enabled",
                "Rule": {"DefaultRetention": {"Mode": topology.lock_mode.value, "Days": topology.lock_days.value}},
            },
        )
    return s3.get_object_lock_configuration(Bucket=repo.bucket)["ObjectLockConfiguration"]


def start(layout: SandboxLayout, sup: Supervisor) -> dict:
    """The emulator, its TLS proxy (with the certificate sandbox.certificates issued), then the locked bucket."""
    sup.start(emulator_service(layout))
    tls_proxy.start(layout, sup, f"{NAME_PREFIX}tls-proxy", layout.service_port("s3_https"), tls_proxy_config(layout))
    return ensure_locked_bucket(layout)
