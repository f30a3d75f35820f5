"""AWS facts the stack settings are checked against, each defined once.

The region list is generated from the endpoint data botocore ships (`python -m stacks.clouds.aws` prints it)
and vendored here, because the Pulumi program must import `stacks/` from a deploy-only virtualenv that may not
have botocore; `tests/unit/test_clouds_aws.py` keeps it equal to the installed botocore's.
"""
from __future__ import annotations

import re
import unicodedata

# --- regions -------------------------------------------------------------------------------------------------
# partition -> regions offering EC2, as botocore.session.get_session().get_available_regions("ec2", partition).
# generated: start
REGIONS_BY_PARTITION: dict[str, tuple[str, ...]] = {
    "aws": (
        "af-south-1", "ap-east-1", "ap-east-2", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3",
        "ap-south-1", "ap-south-2", "ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "ap-southeast-4",
        "ap-southeast-5", "ap-southeast-6", "ap-southeast-7", "ca-central-1", "ca-west-1", "eu-central-1",
        "eu-central-2", "eu-north-1", "eu-south-1", "eu-south-2", "eu-west-1", "eu-west-2", "eu-west-3",
        "il-central-1", "me-central-1", "me-south-1", "mx-central-1", "sa-east-1", "us-east-1", "us-east-2",
        "us-west-1", "us-west-2",
    ),
    "aws-cn": ("cn-north-1", "cn-northwest-1"),
    "aws-us-gov": ("us-gov-east-1", "us-gov-west-1"),
    "aws-iso": ("us-iso-east-1", "us-iso-west-1"),
    "aws-iso-b": ("us-isob-east-1", "us-isob-west-1"),
    "aws-iso-e": ("eu-isoe-west-1",),
    "aws-iso-f": ("us-isof-east-1", "us-isof-south-1"),
    "aws-eusc": ("eusc-de-east-1",),
}
# generated: end

PARTITION_OF: dict[str, str] = {region: partition for partition, regions in REGIONS_BY_PARTITION.items()
                                for region in regions}
REGIONS: tuple[str, ...] = tuple(sorted(PARTITION_OF))


def is_region(name: object) -> bool:
    return isinstance(name, str) and name in PARTITION_OF


def partition_of(region: str) -> str | None:
    return PARTITION_OF.get(region)


# --- zones ---------------------------------------------------------------------------------------------------
# An availability zone is named after its region plus one letter (eu-central-1a). Local Zones
# (us-west-2-lax-1a) and Wavelength Zones (us-east-1-wl1-bos-wlz-1) hang off a region too, but offer neither
# the NLB nor the interface endpoints the platform needs, and zone IDs (euc1-az2) differ per account.
_AZ_SUFFIX = re.compile(r"[a-z]")
_LOCAL_ZONE_SUFFIX = re.compile(r"-[a-z]{3,}-\d+[a-z]")
_WAVELENGTH_SUFFIX = re.compile(r"-wl\d+-[a-z]{3,}-wlz-\d+")
_ZONE_ID = re.compile(r"[a-z]{2,5}\d+-(?:[a-z]{3,}\d+-)?az\d+")


def zone_region(zone: str) -> str | None:
    """The region a zone name belongs to (whatever kind of zone it is), or None."""
    for region in sorted(PARTITION_OF, key=len, reverse=True):
        if zone.startswith(region) and len(zone) > len(region):
            return region
    return None


def zone_problem(zone: object, region: str | None) -> str | None:
    """Why `zone` is not an availability zone of `region` (None when it is one)."""
    if not isinstance(zone, str) or not zone:
        return "is not a zone name"
    if _ZONE_ID.fullmatch(zone):
        return "is a zone ID, which names a different zone in every account; use the zone name (e.g. eu-central-1a)"
    owner = zone_region(zone)
    if owner is None:
        return "is not an availability zone name (<region><letter>, e.g. eu-central-1a)"
    suffix = zone[len(owner):]
    if _LOCAL_ZONE_SUFFIX.fullmatch(suffix) or _WAVELENGTH_SUFFIX.fullmatch(suffix):
        return ("is a Local or Wavelength Zone, which offers neither the network load balancer nor the interface "
                "endpoints the platform needs; use availability zones of the region")
    if not _AZ_SUFFIX.fullmatch(suffix):
        return "is not an availability zone name (<region><letter>, e.g. eu-central-1a)"
    if region and owner != region:
        return f"is a zone of {owner}, not of the stack's region {region}"
    return None


# --- identifiers ---------------------------------------------------------------------------------------------
VPC_ID = re.compile(r"vpc-(?:[0-9a-f]{8}|[0-9a-f]{17})")
SECURITY_GROUP_ID = re.compile(r"sg-(?:[0-9a-f]{8}|[0-9a-f]{17})")
ACCOUNT_ID = re.compile(r"\d{12}")


# --- instances -----------------------------------------------------------------------------------------------
# EC2 refuses more than 16 KB of user data in raw form, before base64 (EC2 User Guide, "Work with instance user
# data"): the renderers budget against it and the offline constraint check refuses more.
EC2_USER_DATA_LIMIT = 16 * 1024


# --- tags ----------------------------------------------------------------------------------------------------
# The rules every taggable AWS service shares: key 1-128 and value 0-256 Unicode characters of letters,
# numbers, spaces and + - = . _ : / @; keys starting with aws: are reserved for AWS.
TAG_KEY_MAX = 128
TAG_VALUE_MAX = 256
TAG_RESERVED_PREFIX = "aws:"
TAG_PUNCTUATION = "+-=._:/@"


def _tag_chars_ok(text: str) -> bool:
    return all(c in TAG_PUNCTUATION or unicodedata.category(c)[0] in "LNZ" for c in text)


def tag_key_problem(key: str) -> str | None:
    if not 1 <= len(key) <= TAG_KEY_MAX:
        return f"a tag key has 1 to {TAG_KEY_MAX} characters"
    if key.lower().startswith(TAG_RESERVED_PREFIX):
        return f"tag keys starting with {TAG_RESERVED_PREFIX} are reserved for AWS"
    if not _tag_chars_ok(key):
        return f"a tag key holds only letters, numbers, spaces and {TAG_PUNCTUATION}"
    return None


def tag_value_problem(value: str) -> str | None:
    if len(value) > TAG_VALUE_MAX:
        return f"a tag value has at most {TAG_VALUE_MAX} characters ({len(value)} given)"
    if not _tag_chars_ok(value):
        return f"a tag value holds only letters, numbers, spaces and {TAG_PUNCTUATION}"
    return None


def generated_regions() -> dict[str, tuple[str, ...]]:
    """The region table as the installed botocore has it (needs botocore)."""
    import botocore.session

    session = botocore.session.get_session()
    return {p: tuple(session.get_available_regions("ec2", partition_name=p)) for p in session.get_available_partitions()}


def render_regions(table: dict[str, tuple[str, ...]]) -> str:
    """Source text for the block between the `generated` markers above."""
    import textwrap

    lines = ["REGIONS_BY_PARTITION: dict[str, tuple[str, ...]] = {"]
    for partition, regions in table.items():
        items = ", ".join(f'"{r}"' for r in regions) + ("," if len(regions) == 1 else "")
        one = f'    "{partition}": ({items}),'
        if len(one) <= 116:
            lines.append(one)
            continue
        lines.append(f'    "{partition}": (')
        lines += textwrap.wrap(", ".join(f'"{r}"' for r in regions) + ",", 108, initial_indent="        ",
                               subsequent_indent="        ", break_on_hyphens=False)
        lines.append("    ),")
    lines.append("}")
    return "\n".join(lines)


if __name__ == "__main__":
    print(render_regions(generated_regions()))
