"""Offline schema checks for rendered Kubernetes objects: what the API server would refuse before it stores them.

Custom resources (CNPG, the Barman Cloud plugin, prometheus-operator) are checked against the CRDs kept in the
sister directory `shared/schemas/crds/` (next to this repository); the core API groups against the schemas that
kubernetes-validate bundles, strictly, so an unknown field fails as it does under kubectl's and pulumi-kubernetes'
strict field validation.

What is not checked: the CRDs' CEL rules (`x-kubernetes-validations`) need a CEL interpreter the API server embeds
and Python has no faithful port of, so those rules (e.g. CNPG's "instances must be >= 1 when replica cluster") are
left to the server; and `metadata` of custom resources, whose schema the CRD leaves to the API server
(tools/constraints/kubernetes.py checks names and labels).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate  # type: ignore[import-untyped]  # ships no py.typed
import yaml

# The sister directory holding the CRDs the renderers target (ARCHITECTURE.md): next to the repository's root.
CRD_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "schemas" / "crds"
# The Kubernetes minor the core objects are checked at: the oldest one the target supports (a field newer than
# it would be refused by such a cluster).
KUBERNETES_VERSION = "1.33"
# The API groups served by CRDs rather than by Kubernetes itself.
CUSTOM_GROUPS = frozenset({"postgresql.cnpg.io", "barmancloud.cnpg.io", "monitoring.coreos.com"})


def api_group(api_version: str) -> str:
    """`postgresql.cnpg.io/v1` -> `postgresql.cnpg.io`; the core group (`v1`) is ``""``."""
    return api_version.rpartition("/")[0]


@functools.cache
def _crds() -> dict[tuple[str, str, str], dict[str, Any]]:
    """(group, version, kind) -> the version's openAPIV3Schema, for every CRD file in CRD_DIR."""
    found: dict[tuple[str, str, str], dict[str, Any]] = {}
    for path in sorted(CRD_DIR.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if not doc or doc.get("kind") != "CustomResourceDefinition":
                continue
            spec = doc["spec"]
            for version in spec["versions"]:
                found[(spec["group"], version["name"], spec["names"]["kind"])] = version["schema"]["openAPIV3Schema"]
    return found


def to_json_schema(node: Any) -> Any:
    """An OpenAPI v3 structural schema as a JSON Schema the `jsonschema` package can run.

    - `nullable: true` admits null besides the declared type;
    - `x-kubernetes-int-or-string: true` admits an integer or a string (the schema then declares no type);
    - an object with `properties` and no `additionalProperties` refuses unknown fields (the API server's strict
      field validation), unless `x-kubernetes-preserve-unknown-fields: true` keeps them;
    - `format` is kept: jsonschema's FormatChecker checks the formats it knows and ignores Kubernetes' own
      (int32, int64, byte, quantity)."""
    if isinstance(node, list):
        return [to_json_schema(item) for item in node]
    if not isinstance(node, Mapping):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key.startswith("x-kubernetes-") or key in ("nullable", "description", "example"):
            continue
        if key in ("properties", "patternProperties"):
            out[key] = {name: to_json_schema(sub) for name, sub in value.items()}
        else:
            out[key] = to_json_schema(value)
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not node.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


@functools.cache
def _validator(group: str, version: str, kind: str) -> jsonschema.protocols.Validator | None:
    schema = _crds().get((group, version, kind))
    if schema is None:
        return None
    json_schema = to_json_schema(schema)
    # metadata is the API server's (ObjectMeta), the CRD says only `type: object`: left to the constraints.
    json_schema.setdefault("properties", {})["metadata"] = {"type": "object"}
    cls = jsonschema.validators.validator_for(json_schema, default=jsonschema.Draft7Validator)
    return cls(json_schema, format_checker=cls.FORMAT_CHECKER)


def json_path(parts: Iterable[Any]) -> str:
    """A jsonschema error's path as `$.spec.a[0].b`."""
    out = "$"
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _where(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return f"{obj.get('kind', '?')} {meta.get('name', '<unnamed>')}"


def validate_custom_resource(obj: Mapping[str, Any]) -> list[str]:
    """The schema errors of a custom resource against its CRD (see the module's docstring for what is not run)."""
    api_version, kind = str(obj.get("apiVersion", "")), str(obj.get("kind", ""))
    group, _, version = api_version.rpartition("/")
    validator = _validator(group, version, kind)
    if validator is None:
        return [
            f"{_where(obj)}: no CRD for {api_version} {kind} in {CRD_DIR}: add the CRD's YAML there"
            " or fix apiVersion/kind"
        ]
    errors = sorted(validator.iter_errors(dict(obj)), key=lambda e: (list(map(str, e.absolute_path)), e.message))
    return [f"{_where(obj)}: {json_path(e.absolute_path)}: {e.message}" for e in errors]


def validate_core_object(obj: Mapping[str, Any], kubernetes_version: str = KUBERNETES_VERSION) -> list[str]:
    """The schema errors of a core API object (strict: unknown fields fail) at `kubernetes_version`."""
    try:
        kubernetes_validate.validate(dict(obj), kubernetes_version, strict=True)
    except kubernetes_validate.ValidationError as e:
        return [f"{_where(obj)}: {json_path(e.absolute_path)}: {e.message}"]
    except kubernetes_validate.SchemaNotFoundError as e:
        return [f"{_where(obj)}: {e.message}"]
    return []


def validate(obj: Mapping[str, Any]) -> list[str]:
    """The schema errors of any rendered object: by CRD for the custom groups, else by Kubernetes' own schemas."""
    if api_group(str(obj.get("apiVersion", ""))) in CUSTOM_GROUPS:
        return validate_custom_resource(obj)
    return validate_core_object(obj)
