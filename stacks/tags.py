"""The stack's tags: the required ones, and extra ones the cloud's tag rules allow."""

from __future__ import annotations

from collections.abc import Mapping

from stacks.clouds import Cloud
from stacks.reader import Reader

DATA_CLASSIFICATIONS = ("public", "internal", "confidential", "restricted")
REQUIRED_TAGS = ("owner", "cost-center", "data-classification")
# Every resource's stage: what the deployer's permissions and the duty roles' commands are scoped by.
STAGE_TAG = "stage"
# Every resource's own name (components/base.py): `<platform>-<component>-<suffix>`.
NAME_TAG = "Name"
# Tag keys the program writes itself (`stage` on all, from parse_settings; the others on single resources:
# components/base.py `tags`), so an extra tag may not use them: it would be overwritten on some resources only.
PROGRAM_TAGS = (STAGE_TAG, NAME_TAG, "role", "zone", "tier", "purpose")
# The most tags the program adds to one resource (the stage, Name and two of the others above).
PROGRAM_TAGS_PER_RESOURCE = 4


def parse_tags(r: Reader, value: object, facts: Cloud) -> dict[str, str]:
    """The required tags and any extra ones, each checked against the cloud's tag rules."""
    t = r.mapping("tags", value, REQUIRED_TAGS) if not isinstance(value, Mapping) else dict(value)
    if not t:
        return {}
    out = {}
    for key in REQUIRED_TAGS:
        v = r.string(f"tags.{key}", t.get(key))
        if v is not None and _tag_value(r, key, v, facts):
            out[key] = v
    extra = [k for k in t if k not in REQUIRED_TAGS]
    for key in extra:
        if not isinstance(key, str):
            r.fail(f"tags.{key}", t[key], "is not a tag key", "write tag keys as strings")
            continue
        problem = facts.tag_key_problem(key)
        if key in PROGRAM_TAGS:
            r.fail(f"tags.{key}", t[key], "is a tag the program sets itself", "remove it or use another key")
        elif problem:
            r.fail(f"tags.{key}", t[key], f"is not an {facts.label} tag key: {problem}", "rename the tag")
        elif key != key.strip():
            r.fail(f"tags.{key}", t[key], "the key starts or ends with a blank", f"write {key.strip()!r}")
        elif not isinstance(t[key], str):
            r.fail(f"tags.{key}", t[key], "must be a string", f"quote the value, e.g. tags.{key}: {str(t[key])!r}")
        elif _tag_value(r, key, t[key], facts):
            out[key] = t[key]
    limit = facts.tags_per_resource - PROGRAM_TAGS_PER_RESOURCE
    if len(t) > limit:
        r.fail(
            "tags",
            f"{len(t)} tags",
            f"a resource carries at most {facts.tags_per_resource} tags on "
            f"{facts.label}, and the program adds up to {PROGRAM_TAGS_PER_RESOURCE}",
            f"keep at most {limit} tags",
        )
    if out.get("data-classification") and out["data-classification"] not in DATA_CLASSIFICATIONS:
        r.fail(
            "tags.data-classification",
            out["data-classification"],
            "is not a known classification",
            f"use one of: {', '.join(DATA_CLASSIFICATIONS)}",
        )
    return out


def _tag_value(r: Reader, key: str, value: str, facts: Cloud) -> bool:
    if value != value.strip():
        r.fail(
            f"tags.{key}",
            value,
            f"starts or ends with a blank, which {facts.label} keeps and every tag comparison then misses",
            f"write {value.strip()!r}",
        )
        return False
    problem = facts.tag_value_problem(value)
    if problem:
        r.fail(f"tags.{key}", value, problem, "write the tag value with allowed characters only")
        return False
    return True
