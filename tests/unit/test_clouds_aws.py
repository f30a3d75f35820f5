"""The AWS facts in stacks/clouds/aws.py: the vendored region list stays botocore's; zone and tag rules."""

import dataclasses
import re
from pathlib import Path

import pytest

from stacks.clouds import CLOUDS, SUPPORTED_CLOUDS, aws
from stacks.settings import REQUIRED_TAGS
from stacks.sizes import NodeSize


def test_vendored_regions_equal_botocores():
    pytest.importorskip("botocore")
    generated = aws.generated_regions()
    source = Path(aws.__file__).read_text()
    block = re.search(r"# generated: start\n(.*?)\n# generated: end", source, re.S).group(1)
    assert generated == aws.REGIONS_BY_PARTITION and block == aws.render_regions(generated), (
        "botocore knows other regions: replace the generated block of stacks/clouds/aws.py with the output of "
        "`.venv/bin/python -m stacks.clouds.aws`"
    )


def test_the_program_imports_stacks_without_botocore():
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['botocore'] = None; sys.modules['boto3'] = None\n"
        "import stacks.offline, stacks.clouds.aws as a; print(a.is_region('eu-central-1'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=Path(aws.__file__).parents[2], check=True
    )
    assert out.stdout.strip() == "True"


@pytest.mark.parametrize(
    "zone,region,problem",
    [
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
    ],
)
def test_zone_names(zone, region, problem):
    found = aws.zone_problem(zone, region)
    assert (found is None) if problem is None else (problem in found)


def test_partitions():
    assert aws.partition_of("eu-central-1") == "aws" and aws.partition_of("cn-north-1") == "aws-cn"
    assert aws.partition_of("mars-1") is None and not aws.is_region(None)


@pytest.mark.parametrize(
    "key,problem",
    [
        ("owner", None),
        ("cost-center", None),
        ("a" * 128, None),
        ("Ünïcode key_1 .:/=+-@", None),
        ("", "1 to 128"),
        ("a" * 129, "1 to 128"),
        ("aws:owner", "reserved"),
        ("AWS:owner", "reserved"),
        ("owner#1", "only letters"),
    ],
)
def test_tag_keys(key, problem):
    found = aws.tag_key_problem(key)
    assert (found is None) if problem is None else (problem in found)


@pytest.mark.parametrize(
    "value,problem",
    [
        ("", None),
        ("x" * 256, None),
        ("aws:fine in a value", None),
        ("x" * 257, "at most 256"),
        ("a;b", "only letters"),
    ],
)
def test_tag_values(value, problem):
    found = aws.tag_value_problem(value)
    assert (found is None) if problem is None else (problem in found)


def test_the_platforms_own_tag_keys_follow_the_rules():
    assert not [k for k in (*REQUIRED_TAGS, "stage") if aws.tag_key_problem(k)]


def test_identifier_patterns():
    assert aws.SECURITY_GROUP_ID.fullmatch("sg-0a1b2c3d4e5f60718") and aws.SECURITY_GROUP_ID.fullmatch("sg-0a1b2c3d")
    assert not aws.SECURITY_GROUP_ID.fullmatch("sg-0a1b2c3d4e") and not aws.VPC_ID.fullmatch("vpc-XYZ12345")
    assert aws.ACCOUNT_ID.fullmatch("012345678901") and not aws.ACCOUNT_ID.fullmatch("12345678901")


def test_vendored_instance_types_equal_botocores():
    pytest.importorskip("botocore")
    generated = aws.generated_instance_types()
    assert aws.INSTANCE_TYPES_FILE.read_text() == aws.render_instance_types(generated), (
        "botocore knows other instance types: run `.venv/bin/python -m stacks.clouds.aws instance-types`"
    )
    assert {"r7g.xlarge", "m7g.large", "r7i.xlarge", "t3.medium"} <= aws.instance_types()


@pytest.mark.parametrize(
    "itype,arch",
    [
        ("r7g.xlarge", "arm64"),
        ("m7g.large", "arm64"),
        ("t4g.medium", "arm64"),
        ("c7gn.large", "arm64"),
        ("x2gd.xlarge", "arm64"),
        ("im4gn.large", "arm64"),
        ("a1.large", "arm64"),
        ("m8gd.large", "arm64"),
        ("r7i.xlarge", "x86_64"),
        ("m7i-flex.large", "x86_64"),
        ("t3.medium", "x86_64"),
        ("g5.xlarge", "x86_64"),
        ("m7a.large", "x86_64"),
        ("r7iz.large", "x86_64"),
    ],
)
def test_architecture_of_an_instance_type(itype, arch):
    assert itype in aws.instance_types()
    assert aws.architecture(itype) == arch


def test_sizes_of_the_former_closed_list_are_unchanged():
    former = {
        "t3.medium": (2, 4096),
        "t3.large": (2, 8192),
        "m7i.large": (2, 8192),
        "m7i.xlarge": (4, 16384),
        "m7i.2xlarge": (8, 32768),
        "r7i.large": (2, 16384),
        "r7i.xlarge": (4, 32768),
        "r7i.2xlarge": (8, 65536),
        "r7i.4xlarge": (16, 131072),
    }
    for itype, (vcpus, memory) in former.items():
        assert aws.instance_type_problem(itype) is None
        assert aws.node_size(itype) == NodeSize(vcpus, memory), itype
    assert all(aws.instance_type_problem(t) is None for t in aws.REFERENCE_TYPES)


def test_every_offered_type_is_sized_or_refused_with_a_reason():
    sized = [t for t in aws.instance_types() if aws.instance_type_problem(t) is None]
    assert len(sized) > 300
    for itype in sized:
        size = aws.node_size(itype)
        assert size.vcpus >= 1 and size.memory_mib >= aws.NODE_MEMORY_MIB_MIN, itype
    with pytest.raises(ValueError, match=r"i4i\.large"):
        aws.node_size("i4i.large")


def test_the_registry_names_each_cloud_once():
    assert SUPPORTED_CLOUDS == ("aws", "azure", "gcp") and CLOUDS["aws"] is aws.CLOUD
    assert aws.CLOUD.region_key == "aws:region" and aws.CLOUD.router.check.admission_seconds == 10
    assert aws.CLOUD.disk_iops_ceiling("gp3", 20) == 10_000 and aws.CLOUD.disk_iops_max == 64_000


def test_the_stage_name_limit_is_the_one_the_constraint_check_enforces(monkeypatch):
    """One character more than STAGE_NAME_MAX, let through the settings, is refused by the offline check of the
    provider's auto-names; the limit itself is what the staging example (7 characters) runs with."""
    from stacks.files import resolve_stack, using_stack_file
    from tools.runner import ConstraintError, run_stack

    staging = Path(__file__).parent / "stacks" / "Pulumi.staging.yaml"
    assert len("staging") == aws.STAGE_NAME_MAX
    monkeypatch.setitem(CLOUDS, "aws", dataclasses.replace(aws.CLOUD, stage_name_max=aws.STAGE_NAME_MAX + 1))
    with using_stack_file(resolve_stack(staging)), pytest.raises(ConstraintError, match="stagings-cluster-pool"):
        run_stack("staging", overrides={"pg-platform:stage": "stagings"})


@pytest.mark.parametrize("name", sorted(CLOUDS))
def test_the_zones_a_message_suggests_are_zones_of_the_region(name):
    # A settings error's fix names them: each must pass the cloud's own zone check.
    facts = CLOUDS[name]
    examples = facts.zone_examples(facts.region_example)
    assert len(examples) >= 3
    assert all(facts.zone_problem(zone, facts.region_example) is None for zone in examples)


@pytest.mark.parametrize(
    "with_store,ebs_only",
    [
        ("m5d.large", "m5.large"),
        ("r6id.xlarge", "r6i.xlarge"),
        ("r7gd.xlarge", "r7g.xlarge"),
        ("m5dn.2xlarge", "m5n.2xlarge"),
        ("x2iedn.xlarge", "x2iezn.2xlarge"),
    ],
)
def test_types_with_instance_store_are_refused_since_ec2_cannot_recover_them(with_store, ebs_only):
    """EC2 recovers only EBS-only instances onto new hardware; a node whose host fails must come back by itself."""
    assert {with_store, ebs_only} <= aws.instance_types()
    assert "instance store" in (aws.instance_type_problem(with_store) or "")
    assert aws.instance_type_problem(ebs_only) is None and not aws.has_instance_store(ebs_only)
    sibling = aws.ebs_only_sibling(with_store)
    assert sibling is None or (sibling in (aws.instance_type_problem(with_store) or "") and sibling == ebs_only)


def test_every_accepted_type_is_ebs_only():
    assert not [t for t in aws.instance_types() if aws.instance_type_problem(t) is None and aws.has_instance_store(t)]
