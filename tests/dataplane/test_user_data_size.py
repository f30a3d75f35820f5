"""User data stays well inside EC2's 16 KiB with identifiers as long as AWS really makes them.

The offline plan's mock ARNs are shorter than real ones, and compressed sizes depend on how random the names
are, so this renders every node's user data for each stack file with real-length, random-looking identifiers:
Secrets Manager ARNs of name_prefix'ed secrets (26 unique characters after the prefix, then AWS's `-` and 6
random characters), KMS key ARNs with UUIDs, a real CA certificate."""

from __future__ import annotations

import base64
import hashlib
import uuid

import pytest
from dataplane_support import cloud_spec, settings_for

from components.aws.userdata import compress_user_data
from dataplane.boot.aws import AwsBoot
from dataplane.boot.cloud_config import USER_DATA_BUDGET
from dataplane.boot.member import NodeBoot, render_node_user_data
from dataplane.boot.monitoring import MonitoringBoot, render_monitoring_user_data
from dataplane.model import SECRET_ENV
from stacks.clouds.aws import EC2_USER_DATA_LIMIT

pytestmark = pytest.mark.dataplane

ACCOUNT = "123456789012"
BUDGET_BYTES = int(EC2_USER_DATA_LIMIT * USER_DATA_BUDGET)
_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def _random(seed: str, n: int, alphabet: str = _ALPHABET) -> str:
    digest = hashlib.sha256(seed.encode()).digest()
    return "".join(alphabet[b % len(alphabet)] for b in digest[:n])


def secret_arn(region: str, component: str, label: str, serial: int) -> str:
    """`name_prefix=f"{component}/{label}-"`: the provider appends a 26-character unique id (a timestamp and a
    counter), Secrets Manager a `-` and 6 random characters."""
    unique = f"2026120112000{_random(label, 5, '0123456789')}{serial:08d}"
    assert len(unique) == 26
    return f"arn:aws:secretsmanager:{region}:{ACCOUNT}:secret:{component}/{label}-{unique}-{_random(label, 6)}"


def kms_arn(region: str, seed: str) -> str:
    return f"arn:aws:kms:{region}:{ACCOUNT}:key/{uuid.UUID(bytes=hashlib.sha256(seed.encode()).digest()[:16])}"


def node_boot(stack: str, spec) -> NodeBoot:
    region = settings_for(stack).region
    component = f"pgp-{stack}-secrets"
    labels = [*SECRET_ENV, *(f"tls-{m.name}" for m in spec.members), "programs"]
    arns = {label: secret_arn(region, component, label, i) for i, label in enumerate(labels)}
    cloud = AwsBoot(region=region, bucket=spec.repositories[0].bucket, kms_key_id=kms_arn(region, f"{stack}-vault"))
    return NodeBoot(
        cloud=cloud,
        secret_refs={n: arns[n] for n in SECRET_ENV},
        tls_secret_refs={m.name: arns[f"tls-{m.name}"] for m in spec.members},
        program_files_ref=arns["programs"],
    )


def _ca_pem(spec) -> str:
    from dataplane.tls import issue

    return issue(spec)["ca"].cert_pem.decode()


def monitoring_boot(stack: str, spec) -> MonitoringBoot:
    settings = settings_for(stack)
    mon = settings.monitoring
    hooks = {
        r.name: secret_arn(settings.region, f"pgp-{stack}-secrets", f"webhook-{r.name}", 50 + i)
        for i, r in enumerate(mon.receivers)
        if r.webhook_url
    }
    return MonitoringBoot(
        cloud=AwsBoot(region=settings.region),
        smtp_smarthost=mon.smtp_smarthost,
        smtp_from=mon.smtp_from,
        ca_cert_pem=_ca_pem(spec),
        webhook_secret_refs=hooks,
    )


def ec2_bytes(text: str) -> int:
    """What EC2 counts: the user data before base64, here the gzip the components send."""
    return len(base64.b64decode(compress_user_data(text)))


@pytest.mark.parametrize("stack", ["prod", "dev"])
def test_every_members_user_data_leaves_room_to_grow(stack):
    spec = cloud_spec(stack)
    boot = node_boot(stack, spec)
    sizes = {m.name: ec2_bytes(render_node_user_data(spec, m, boot)) for m in spec.members}
    print(f"{stack} members: {sizes} bytes of {EC2_USER_DATA_LIMIT} (budget {BUDGET_BYTES})")
    assert all(n <= BUDGET_BYTES for n in sizes.values()), sizes


@pytest.mark.parametrize("stack", ["prod", "dev"])
def test_monitoring_user_data_leaves_room_to_grow(stack):
    spec = cloud_spec(stack)
    text = render_monitoring_user_data(spec, settings_for(stack).monitoring.receivers, monitoring_boot(stack, spec))
    size = ec2_bytes(text)
    print(f"{stack} monitoring: {size} bytes of {EC2_USER_DATA_LIMIT} (budget {BUDGET_BYTES})")
    assert size <= BUDGET_BYTES


def test_the_identifiers_are_as_long_as_real_ones():
    arn = secret_arn("eu-central-1", "pgp-prod-secrets", "replication", 1)
    name = arn.split(":secret:", 1)[1]
    prefix, unique, suffix = name[: len("pgp-prod-secrets/replication-")], name[-33:-7], name[-6:]
    assert prefix == "pgp-prod-secrets/replication-" and len(unique) == 26 and unique.isdigit() and len(suffix) == 6
    assert len(kms_arn("eu-central-1", "x").rsplit("/", 1)[1]) == 36
