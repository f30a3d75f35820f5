"""The AWS facts in stacks/clouds/aws.py: the vendored region list stays botocore's; zone and tag rules."""
import re
from pathlib import Path

import pytest

from stacks.clouds import aws
from stacks.settings import REQUIRED_TAGS


def test_vendored_regions_equal_botocores():
    pytest.importorskip("botocore")
    generated = aws.generated_regions()
    source = Path(aws.__file__).read_text()
    block = re.search(r"# generated: start\n(.*?)\n# generated: end", source, re.S).group(1)
    assert aws.REGIONS_BY_PARTITION == generated and block == aws.render_regions(generated), (
        "botocore knows other regions: replace the generated block of stacks/clouds/aws.py with the output of "
        "`.venv/bin/python -m stacks.clouds.aws`")


def test_the_program_imports_stacks_without_botocore():
    import subprocess
    import sys

    code = ("import sys; sys.modules['botocore'] = None; sys.modules['boto3'] = None\n"
            "import stacks.offline, stacks.clouds.aws as a; print(a.is_region('eu-central-1'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=Path(aws.__file__).parents[2], check=True)
    assert out.stdout.strip() == "True"


@pytest.mark.parametrize("zone,region,problem", [
    ("eu-central-1a", "eu-central-1", None),
    ("us-gov-west-1b", "us-gov-west-1", None),
    ("cn-north-1a", "cn-north-1", None),
    ("eu-central-1a", "eu-west-1", "is a zone of eu-central-1, not of the stack's region eu-west-1"),
    ("us-west-2-lax-1a", "us-west-2", "Local or Wavelength Zone"),
    ("us-east-1-wl1-bos-wlz-1", "us-east-1", "Local or Wavelength Zone"),
    ("use1-az4", "us-east-1", "zone ID"),
    ("usw2-lax1-az1", "us-west-2", "zone ID"),
    ("eu-central-1A", "eu-central-1", "not an availability zone name"),
    ("", "eu-central-1", "not a zone name"),
    (None, "eu-central-1", "not a zone name"),
])
def test_zone_names(zone, region, problem):
    found = aws.zone_problem(zone, region)
    assert (found is None) if problem is None else (problem in found)


def test_partitions():
    assert aws.partition_of("eu-central-1") == "aws" and aws.partition_of("cn-north-1") == "aws-cn"
    assert aws.partition_of("mars-1") is None and not aws.is_region(None)


@pytest.mark.parametrize("key,problem", [
    ("owner", None), ("cost-center", None), ("a" * 128, None), ("Ünïcode key_1 .:/=+-@", None),
    ("", "1 to 128"), ("a" * 129, "1 to 128"), ("aws:owner", "reserved"), ("AWS:owner", "reserved"),
    ("owner#1", "only letters"),
])
def test_tag_keys(key, problem):
    found = aws.tag_key_problem(key)
    assert (found is None) if problem is None else (problem in found)


@pytest.mark.parametrize("value,problem", [
    ("", None), ("x" * 256, None), ("aws:fine in a value", None), ("x" * 257, "at most 256"), ("a;b", "only letters"),
])
def test_tag_values(value, problem):
    found = aws.tag_value_problem(value)
    assert (found is None) if problem is None else (problem in found)


def test_the_platforms_own_tag_keys_follow_the_rules():
    assert not [k for k in (*REQUIRED_TAGS, "stage") if aws.tag_key_problem(k)]


def test_identifier_patterns():
    assert aws.SECURITY_GROUP_ID.fullmatch("sg-0a1b2c3d4e5f60718") and aws.SECURITY_GROUP_ID.fullmatch("sg-0a1b2c3d")
    assert not aws.SECURITY_GROUP_ID.fullmatch("sg-0a1b2c3d4e") and not aws.VPC_ID.fullmatch("vpc-XYZ12345")
    assert aws.ACCOUNT_ID.fullmatch("012345678901") and not aws.ACCOUNT_ID.fullmatch("12345678901")
