"""Azure: the limits of the ARM request each pulumi-azure-native resource becomes, read from the azure-mgmt
management SDKs, and how pulumi-azure-native names resources before any API call.

Three sources, in this order, each rule naming its own:

* The SDK's request builder for the resource's PUT (`build_*_request` in the package's operations module): its
  URL template is the resource's ARM path, and each path parameter's `_SERIALIZER.url(..., max_length=,
  min_length=, pattern=)` is what the SDK refuses before sending (storage account names 3-24 of [a-z0-9],
  Key Vault names ^[a-zA-Z0-9-]{3,24}$, ...). A parameter typed Literal["default"] (blob services, immutability
  policies) admits only that value. Read with `ast` from the installed source, so an SDK upgrade that drops a
  check changes the result instead of being ignored: tests/unit/test_constraints_azure.py pins the important
  ones.
* The request body model's `_validation` map (minimum, maximum, lengths, patterns, item counts), walked through
  its `_attribute_map` into nested models; `properties.x` keys are flattened the way pulumi-azure-native
  flattens x-ms-client-flatten, so the paths are the Pulumi inputs. Limits the models state only in their member
  docstrings (the probe interval's minimum, a security rule's priority range) are extracted with an explicit
  phrase, and loading fails if the phrase is gone, as tools/constraints/aws.py does with botocore.
* Microsoft Learn's naming rules page where the SDK has no pattern for a name (most Network and Compute names),
  and the tags page for tags.

The SDK releases are pinned in requirements/azure.txt: the last AutoRest-generated ones, which still carry the
`_validation` maps and path checks.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import re
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from stacks.clouds import azure as azure_facts
from tools.constraints.core import Binding, Constraint, Count, Length, OneOf, Pattern, Predicate, Range, TypeConstraints
from tools.constraints.naming import HEX, AutoName

NAMING_PAGE = (
    "Microsoft Learn, Naming rules and restrictions for Azure resources "
    "(https://learn.microsoft.com/azure/azure-resource-manager/management/resource-name-rules)"
)
TAGS_PAGE = (
    "Microsoft Learn, Use tags to organize your Azure resources, Limitations "
    "(https://learn.microsoft.com/azure/azure-resource-manager/management/tag-resources)"
)
PSRULE_VM_NAME = "PSRule for Azure, Azure.VM.Name (https://azure.github.io/PSRule.Rules.Azure/en/rules/Azure.VM.Name/)"


# --- the SDK's request builders --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Builder:
    """One `build_*_request` function of an azure-mgmt operations module."""

    package: str  # azure.mgmt.storage
    module: str  # operations._storage_accounts_operations
    function: str  # build_create_request

    @property
    def label(self) -> str:
        return f"{self.package} {_version(self.package)} {self.module.rsplit('.', 1)[-1]}.{self.function}"


@dataclass(frozen=True)
class PathParameter:
    rest_name: str  # accountName, as in the URL template
    checks: Mapping[str, Any]  # max_length, min_length, pattern
    literal: tuple[str, ...] = ()  # a Literal["default"] parameter's only values


@dataclass(frozen=True)
class Request:
    method: str
    url: str
    parameters: Mapping[str, PathParameter]


@cache
def _version(package: str) -> str:
    module = importlib.import_module(f"{package}._version")
    return str(module.VERSION)


def _source(package: str, module: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"{package} is not installed (requirements/azure.txt)")
    return Path(next(iter(spec.submodule_search_locations))) / (module.replace(".", "/") + ".py")


@cache
def _module_ast(package: str, module: str) -> ast.Module:
    """The parsed source. Debian 12's CPython 3.11.2 failed ast.parse once here, inside the offline run, with
    "AST constructor recursion depth mismatch" (a check of the AST converter's own depth counter, which later 3.11
    releases fixed); the parse is deterministic, so a failed one is repeated, and any other error is raised."""
    text = _source(package, module).read_text()
    for attempt in range(5):
        try:
            return ast.parse(text)
        except SystemError as error:
            if "recursion depth mismatch" not in str(error) or attempt == 4:
                raise
    raise AssertionError("unreachable")


@cache
def request(builder: Builder) -> Request:
    """The method, URL template and path parameter checks of one request builder, read from its source."""
    tree = _module_ast(builder.package, builder.module)
    fn = next(
        (n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == builder.function),
        None,
    )
    if fn is None:
        raise LookupError(f"{builder.label}: no such request builder")
    url = method = None
    literals: dict[str, tuple[str, ...]] = {}
    parameters: dict[str, PathParameter] = {}
    for node in ast.walk(fn):
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            annotation = node.annotation
            if (
                isinstance(annotation, ast.Subscript)
                and isinstance(annotation.value, ast.Name)
                and annotation.value.id == "Literal"
            ):
                values = ast.literal_eval(annotation.slice)
                literals[node.target.id] = tuple(values) if isinstance(values, tuple) else (values,)
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "pop"
            and len(node.args) == 2
            and isinstance(node.args[0], ast.Constant)
            and node.args[0].value == "template_url"
        ):
            url = ast.literal_eval(node.args[1])
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "HttpRequest":
            method = next((ast.literal_eval(k.value) for k in node.keywords if k.arg == "method"), None)
    for node in ast.walk(fn):
        if not isinstance(node, ast.Dict):
            continue
        for key, value in zip(node.keys, node.values, strict=True):
            if (
                isinstance(key, ast.Constant)
                and isinstance(value, ast.Call)
                and isinstance(value.func, ast.Attribute)
                and value.func.attr == "url"
            ):
                python_name = ast.literal_eval(value.args[0])
                checks = {
                    k.arg: ast.literal_eval(k.value)
                    for k in value.keywords
                    if k.arg in ("max_length", "min_length", "pattern")
                }
                rest_name = str(key.value)
                parameters[rest_name] = PathParameter(rest_name, checks, literals.get(python_name, ()))
    if not url or not method:
        raise LookupError(f"{builder.label}: no URL template or method found")
    return Request(method, url, parameters)


def lower_camel(rest_name: str) -> str:
    """pulumi-azure-native's ToLowerCamel for a parameter name: BlobServicesName -> blobServicesName."""
    return rest_name[:1].lower() + rest_name[1:]


# --- pulumi-azure-native's auto-naming ------------------------------------------------------------------------
# provider/pkg/resources AutoNamer.AutoName, applied to the resource's API path: the path's last parameter is
# auto-named; format uuid (and roleAssignmentName, roleDefinitionId) gets a UUID; a path whose part after the
# last "microsoft." has one parameter (a top-level resource of its provider) or that has no "microsoft." at all
# (a resource group) gets `<logical name><8 random hex digits>` (getDefaultName: NewUniqueName(randomSeed, name,
# 8, 0, nil): no separator, no maximum); any other (a child resource) gets its logical name copied unchanged.
AUTONAMER_SOURCE = "pulumi-azure-native provider/pkg/resources AutoNamer.AutoName and provider getDefaultName"
RANDOM_CHARS = 8


def autoname_strategy(path: str) -> tuple[str, str]:
    """(the auto-named REST parameter, "random" | "copy" | "uuid") for an ARM path, as the provider decides it."""
    last = re.search(r"\{([^}]+)\}$", path)
    if not last:
        raise ValueError(f"{path} does not end in a parameter: nothing is auto-named")
    name = last.group(1)
    if name in ("roleAssignmentName", "roleDefinitionId"):
        return name, "uuid"
    if name in ("endpointName", "customDomainName"):
        return name, "random"
    parts = path.lower().split("microsoft.")
    if len(parts) == 1 or parts[-1].count("{") == 1:
        return name, "random"
    return name, "copy"


def _as_uuid(value: str, _inputs: Mapping[str, Any]) -> str:
    return str(uuid.UUID(hex=value))


def autoname_rule(path: str) -> AutoName:
    rest_name, strategy = autoname_strategy(path)
    prop = lower_camel(rest_name)
    if strategy == "random":
        return AutoName(
            prop, None, f"{AUTONAMER_SOURCE}: random, {RANDOM_CHARS} hex digits", separator="", randlen=RANDOM_CHARS
        )
    if strategy == "copy":
        return AutoName(prop, None, f"{AUTONAMER_SOURCE}: copy (a child resource)", separator="", randlen=0)
    return AutoName(
        prop,
        None,
        f"{AUTONAMER_SOURCE}: uuid",
        separator="",
        randlen=32,
        charset=HEX,
        transform=lambda _logical: "",
        post_transform=_as_uuid,
    )


# --- the body models ------------------------------------------------------------------------------------------

# How deep into nested models the walk goes: the platform sets nothing deeper (probes[].intervalInSeconds,
# osProfile.linuxConfiguration.ssh.publicKeys[]), and deeper models are references (a subnet's NSG's rules).
MODEL_DEPTH = 3
_VALIDATION_RULES = ("max_length", "min_length", "pattern", "maximum", "minimum", "max_items", "min_items")


@dataclass(frozen=True)
class Model:
    package: str  # the models module, e.g. azure.mgmt.storage.models
    name: str  # StorageAccountCreateParameters

    @property
    def label(self) -> str:
        root = ".".join(self.package.split(".")[:3])
        return f"{root} {_version(root)} {self.name}"


@cache
def _models(package: str) -> Any:
    return importlib.import_module(package)


def model_class(model: Model) -> Any:
    cls = getattr(_models(model.package), model.name, None)
    if not inspect.isclass(cls):
        raise LookupError(f"{model.package} has no model {model.name}")
    return cls


def _input_path(key: str) -> str | None:
    """An attribute map key as the Pulumi input path: properties.x flattened; escaped dots are not addressable."""
    if "\\." in key:
        return None
    return key[len("properties.") :] if key.startswith("properties.") else key


def _validation_rules(checks: Mapping[str, Any]) -> list[Any]:
    rules: list[Any] = []
    if "min_length" in checks or "max_length" in checks:
        rules.append(Length(checks.get("min_length") or None, checks.get("max_length")))
    if "pattern" in checks:
        rules.append(Pattern(checks["pattern"].removeprefix("^").removesuffix("$")))
    if "minimum" in checks or "maximum" in checks:
        rules.append(Range(checks.get("minimum"), checks.get("maximum")))
    if "min_items" in checks or "max_items" in checks:
        rules.append(Count(checks.get("min_items") or None, checks.get("max_items")))
    return rules


def walk_model(model: Model, prefix: str = "", depth: int = 0, seen: tuple[str, ...] = ()) -> Iterator[Binding]:
    """Bindings for every member of the model (and of its nested models) whose `_validation` entry limits it, or
    for which DOC_RULES extracts a documented limit."""
    cls = model_class(model)
    validation: Mapping[str, Mapping[str, Any]] = getattr(cls, "_validation", {}) or {}
    attributes: Mapping[str, Mapping[str, str]] = getattr(cls, "_attribute_map", {}) or {}
    for attr, spec in attributes.items():
        relative = _input_path(spec["key"])
        if relative is None or (validation.get(attr) or {}).get("readonly"):
            continue  # a read-only member is no input
        path = f"{prefix}{relative}"
        kind = spec["type"]
        checks = {k: v for k, v in (validation.get(attr) or {}).items() if k in _VALIDATION_RULES}
        constraints = [Constraint(rule, f"{model.label}._validation[{attr!r}]") for rule in _validation_rules(checks)]
        constraints += doc_constraints(model, attr)
        is_list = kind.startswith("[")
        if constraints:
            target = path
            if is_list and not any(k in checks for k in ("max_items", "min_items")):
                target = f"{path}[]"
            yield Binding(target, tuple(constraints), member=f"{model.name}.{attr}")
        inner = kind.strip("[]{}")
        if depth < MODEL_DEPTH and inner not in seen and inspect.isclass(getattr(_models(model.package), inner, None)):
            nested = Model(model.package, inner)
            step = f"{path}[]." if is_list else f"{path}{{value}}." if kind.startswith("{") else f"{path}."
            yield from walk_model(nested, step, depth + 1, (*seen, model.name))


def member_doc(model: Model, attr: str) -> str:
    """The model's docstring text for one member (`:ivar attr: ...`), whitespace folded."""
    doc = inspect.getdoc(model_class(model)) or ""
    match = re.search(rf":ivar {re.escape(attr)}:(.*?)(?=\n\s*:(?:ivar|vartype) |\Z)", doc, re.S)
    if not match:
        raise LookupError(f"{model.label}: no documentation for member {attr}")
    return re.sub(r"\s+", " ", match.group(1)).strip()


@dataclass(frozen=True)
class DocRule:
    """A limit a member's docstring states: `phrase` must match it (loading fails otherwise)."""

    phrase: str
    make: Any  # (re.Match) -> rule

    def constraint(self, model: Model, attr: str) -> Constraint:
        text = member_doc(model, attr)
        match = re.search(self.phrase, text)
        if not match:
            raise ValueError(f"{model.label}.{attr}: documentation no longer says /{self.phrase}/: {text[:300]!r}")
        quoted = match.group(0)
        return Constraint(self.make(match), f'{model.label}.{attr} (documentation: "{quoted}")')


def _int(text: str) -> int:
    return int(text.replace(",", ""))


def known_values(phrase: str = r"Known values are: ((?:\"[^\"]+\",? )+and \"[^\"]+\")") -> DocRule:
    """'Known values are: "Tcp", "Udp", and "*".' -> one of them, compared case-insensitively as ARM does."""

    def make(match: re.Match) -> Predicate:
        values = tuple(re.findall(r'"([^"]+)"', match.group(1)))
        folded = {v.lower() for v in values}
        return Predicate(lambda v: v.lower() in folded, f"one of {', '.join(values)} (case-insensitive)")

    return DocRule(phrase, make)


def _none_of(values: Iterable[str]) -> Predicate:
    folded = {v.lower() for v in values}
    return Predicate(
        lambda v: v.lower() not in folded, f"none of the {len(folded)} disallowed names (case-insensitive)"
    )


# (models module, model, member) -> documented rules. Only members the platform's resources set or would set.
_N = "azure.mgmt.network.models"
_C = "azure.mgmt.compute.models"
_K = "azure.mgmt.keyvault.models"
_S = "azure.mgmt.storage.models"
_M = "azure.mgmt.monitor.models"
DOC_RULES: dict[tuple[str, str, str], tuple[DocRule, ...]] = {
    (_N, "Probe", "interval_in_seconds"): (
        DocRule(r"the minimum value is (\d+)", lambda m: Range(_int(m.group(1)), None)),
    ),
    (_N, "Probe", "port"): (
        DocRule(r"Possible values range from (\d+) to (\d+)", lambda m: Range(_int(m.group(1)), _int(m.group(2)))),
    ),
    (_N, "Probe", "protocol"): (known_values(),),
    (_N, "SecurityRule", "priority"): (
        DocRule(r"The value can be between (\d+) and (\d+)", lambda m: Range(_int(m.group(1)), _int(m.group(2)))),
    ),
    (_N, "SecurityRule", "description"): (
        DocRule(r"Restricted to (\d+) chars", lambda m: Length(None, _int(m.group(1)))),
    ),
    (_N, "SecurityRule", "protocol"): (known_values(),),
    (_N, "SecurityRule", "access"): (known_values(r"Known values are: ((?:\"[^\"]+\",? )*and \"[^\"]+\")"),),
    (_N, "SecurityRule", "direction"): (known_values(r"Known values are: ((?:\"[^\"]+\",? )*and \"[^\"]+\")"),),
    (_N, "LoadBalancerSku", "name"): (known_values(),),
    (_N, "LoadBalancingRule", "protocol"): (known_values(),),
    (_N, "LoadBalancingRule", "frontend_port"): (
        DocRule(r"Acceptable values are between (\d+) and (\d+)", lambda m: Range(_int(m.group(1)), _int(m.group(2)))),
    ),
    (_N, "LoadBalancingRule", "idle_timeout_in_minutes"): (
        DocRule(
            r"The value can be set between (\d+) and (\d+) minutes", lambda m: Range(_int(m.group(1)), _int(m.group(2)))
        ),
    ),
    (_C, "OSProfile", "computer_name"): (
        DocRule(r"Max-length \(Linux\):(?:\*\*)? (\d+) characters", lambda m: Length(1, _int(m.group(1)))),
    ),
    (_C, "OSProfile", "admin_username"): (
        DocRule(r"Max-length \(Linux\):(?:\*\*)? (\d+) characters", lambda m: Length(1, _int(m.group(1)))),
        DocRule(
            r"\*\*Disallowed values:\*\* ((?:\"[^\"]+\",? )+)",
            lambda m: _none_of(re.findall(r'"([^"]+)"', m.group(1))),
        ),
    ),
    (_C, "OSProfile", "custom_data"): (
        DocRule(
            r"The maximum length of the binary array is (\d+) bytes",
            lambda m: _decodes_within(_int(m.group(1))),
        ),
    ),
    (_K, "VaultProperties", "soft_delete_retention_in_days"): (
        DocRule(r"It accepts >=(\d+) and <=(\d+)", lambda m: Range(_int(m.group(1)), _int(m.group(2)))),
    ),
    (_M, "MetricAlertResource", "severity"): (
        DocRule(r"Alert severity \{([\d, ]+)\}", lambda m: OneOf(tuple(_int(x) for x in m.group(1).split(",")))),
    ),
}


def _decodes_within(limit: int) -> Predicate:
    return Predicate(lambda v: _decoded_length(v) <= limit, f"at most {limit} bytes after base64 decoding")


def _decoded_length(value: str) -> int:
    import base64
    import binascii

    try:
        return len(base64.b64decode(value, validate=True))
    except (binascii.Error, ValueError):
        return 1 << 30  # not base64: the API refuses it as well


def doc_constraints(model: Model, attr: str) -> list[Constraint]:
    return [rule.constraint(model, attr) for rule in DOC_RULES.get((model.package, model.name, attr), ())]


# --- names the SDK does not check: the naming rules page --------------------------------------------------------


def _network_name(lo: int, hi: int) -> tuple[Constraint, ...]:
    """Most Microsoft.Network names: alphanumerics, underscores, periods and hyphens; start with an alphanumeric,
    end with an alphanumeric or an underscore."""
    return tuple(
        Constraint(rule, NAMING_PAGE)
        for rule in (
            Length(lo, hi),
            Pattern(r"[A-Za-z0-9](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?"),
        )
    )


def _dns_zone_name() -> tuple[Constraint, ...]:
    def labels_ok(value: str) -> bool:
        labels = value.split(".")
        return 2 <= len(labels) <= 34 and all(re.fullmatch(r"[A-Za-z0-9_-]{1,63}", label) for label in labels)

    return (
        Constraint(Length(1, 253), NAMING_PAGE),
        Constraint(
            Predicate(labels_ok, "2 to 34 labels separated by periods, each 1-63 alphanumerics, '_' or '-'"),
            NAMING_PAGE,
        ),
    )


def _no_consecutive_hyphens() -> Predicate:
    return Predicate(lambda v: "--" not in v, "no consecutive hyphens")


NAME_RULES: dict[str, tuple[Constraint, ...]] = {
    "resourceGroupName": (Constraint(Predicate(lambda v: not v.endswith("."), "not ending in a period"), NAMING_PAGE),),
    "virtualNetworkName": _network_name(2, 64),
    "subnetName": _network_name(1, 80),
    "networkSecurityGroupName": _network_name(1, 80),
    "securityRuleName": _network_name(1, 80),
    "networkWatcherName": _network_name(1, 80),
    "flowLogName": _network_name(1, 80),
    "virtualNetworkPeeringName": _network_name(1, 80),
    "privateEndpointName": _network_name(2, 64),
    "privateDnsZoneGroupName": _network_name(1, 80),
    "networkInterfaceName": _network_name(1, 80),
    "loadBalancerName": _network_name(1, 80),
    "natGatewayName": _network_name(1, 80),
    "publicIpAddressName": _network_name(1, 80),
    "virtualNetworkLinkName": _network_name(1, 80),
    # azure.mgmt.storage ManagementPolicyName: an account has one lifecycle policy, and its name is "default".
    "managementPolicyName": (Constraint(OneOf(("default",)), "azure.mgmt.storage.models.ManagementPolicyName"),),
    "privateZoneName": _dns_zone_name(),
    "containerName": tuple(
        Constraint(rule, NAMING_PAGE)
        for rule in (Pattern(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?"), _no_consecutive_hyphens())
    ),
    "vaultName": tuple(
        Constraint(rule, NAMING_PAGE)
        for rule in (Pattern(r"[A-Za-z](?:[A-Za-z0-9-]*[A-Za-z0-9])?"), _no_consecutive_hyphens())
    ),
    "resourceName": tuple(  # Microsoft.ManagedIdentity/userAssignedIdentities
        Constraint(rule, NAMING_PAGE) for rule in (Length(3, 128), Pattern(r"[A-Za-z0-9][A-Za-z0-9_-]*"))
    ),
    "roleAssignmentName": (
        Constraint(
            Pattern(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"),
            NAMING_PAGE + ": a role assignment's name is a GUID",
        ),
    ),
    "vmName": tuple(
        Constraint(rule, PSRULE_VM_NAME + "; " + NAMING_PAGE)
        for rule in (Length(1, 64), Pattern(r"[A-Za-z0-9](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?"))
    ),
    "diskName": _network_name(1, 80),
    "diskEncryptionSetName": tuple(
        Constraint(rule, NAMING_PAGE) for rule in (Length(1, 80), Pattern(r"[A-Za-z0-9_]+"))
    ),
    "ruleName": tuple(  # Microsoft.Insights/metricAlerts
        Constraint(rule, NAMING_PAGE)
        for rule in (
            Length(1, 260),
            Predicate(lambda v: not set(v) & set("*#&+:<>?@%{}\\/"), "none of * # & + : < > ? @ % { } \\ /"),
            Predicate(lambda v: not v.endswith((" ", ".")), "not ending in a space or a period"),
        )
    ),
    "actionGroupName": tuple(
        Constraint(rule, NAMING_PAGE)
        for rule in (
            Length(1, 260),
            Predicate(lambda v: not set(v) & set(":<>+/&%\\?"), "none of : < > + / & % \\ ?"),
            Predicate(lambda v: not v.endswith((" ", ".")), "not ending in a space or a period"),
        )
    ),
}


# --- tags ------------------------------------------------------------------------------------------------------


def tag_bindings(model: Model) -> list[Binding]:
    """The tags page's limits; a storage account's tag names are shorter, as its model's docstring says."""
    key_max = azure_facts.TAG_KEY_MAX_GENERAL
    key_source = TAGS_PAGE
    if model.name == "StorageAccountCreateParameters":
        rule = DocRule(r"key with a length no greater than (\d+) characters", lambda m: _int(m.group(1)))
        constraint = rule.constraint(model, "tags")
        key_max, key_source = constraint.rule, constraint.source
    forbidden = azure_facts.TAG_KEY_FORBIDDEN
    return [
        Binding("tags", (Constraint(Count(None, azure_facts.TAGS_PER_RESOURCE), TAGS_PAGE),), member="tags"),
        Binding(
            "tags.{key}",
            (
                Constraint(Length(1, key_max), key_source),
                Constraint(
                    Predicate(lambda k: not set(k) & set(forbidden), f"none of {' '.join(forbidden)}"), TAGS_PAGE
                ),
            ),
            member="tags (name)",
        ),
        Binding(
            "tags.{value}", (Constraint(Length(None, azure_facts.TAG_VALUE_MAX), TAGS_PAGE),), member="tags (value)"
        ),
    ]


# --- the types ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ArmType:
    token: str
    builder: Builder
    model: Model


def _t(token: str, package: str, module: str, function: str, models: str, model: str) -> ArmType:
    return ArmType(token, Builder(package, module, function), Model(models, model))


_ST, _NW, _KV, _CP, _MO = (
    "azure.mgmt.storage",
    "azure.mgmt.network",
    "azure.mgmt.keyvault",
    "azure.mgmt.compute",
    ("azure.mgmt.monitor"),
)
_NWOPS = "operations._operations"

TYPES: tuple[ArmType, ...] = (
    _t(
        "azure-native:resources:ResourceGroup",
        "azure.mgmt.resource",
        "resources.operations._operations",
        "build_resource_groups_create_or_update_request",
        "azure.mgmt.resource.resources.models",
        "ResourceGroup",
    ),
    _t(
        "azure-native:network:VirtualNetwork",
        _NW,
        _NWOPS,
        "build_virtual_networks_create_or_update_request",
        _N,
        "VirtualNetwork",
    ),
    _t("azure-native:network:Subnet", _NW, _NWOPS, "build_subnets_create_or_update_request", _N, "Subnet"),
    _t(
        "azure-native:network:NetworkSecurityGroup",
        _NW,
        _NWOPS,
        "build_network_security_groups_create_or_update_request",
        _N,
        "NetworkSecurityGroup",
    ),
    _t(
        "azure-native:network:SecurityRule",
        _NW,
        _NWOPS,
        "build_security_rules_create_or_update_request",
        _N,
        "SecurityRule",
    ),
    _t(
        "azure-native:network:NetworkWatcher",
        _NW,
        _NWOPS,
        "build_network_watchers_create_or_update_request",
        _N,
        "NetworkWatcher",
    ),
    _t("azure-native:network:FlowLog", _NW, _NWOPS, "build_flow_logs_create_or_update_request", _N, "FlowLog"),
    _t(
        "azure-native:network:VirtualNetworkPeering",
        _NW,
        _NWOPS,
        "build_virtual_network_peerings_create_or_update_request",
        _N,
        "VirtualNetworkPeering",
    ),
    _t(
        "azure-native:network:PrivateEndpoint",
        _NW,
        _NWOPS,
        "build_private_endpoints_create_or_update_request",
        _N,
        "PrivateEndpoint",
    ),
    _t(
        "azure-native:network:PrivateDnsZoneGroup",
        _NW,
        _NWOPS,
        "build_private_dns_zone_groups_create_or_update_request",
        _N,
        "PrivateDnsZoneGroup",
    ),
    _t(
        "azure-native:network:NetworkInterface",
        _NW,
        _NWOPS,
        "build_network_interfaces_create_or_update_request",
        _N,
        "NetworkInterface",
    ),
    _t(
        "azure-native:network:LoadBalancer",
        _NW,
        _NWOPS,
        "build_load_balancers_create_or_update_request",
        _N,
        "LoadBalancer",
    ),
    _t(
        "azure-native:network:NatGateway",
        _NW,
        _NWOPS,
        "build_nat_gateways_create_or_update_request",
        _N,
        "NatGateway",
    ),
    _t(
        "azure-native:network:PublicIPAddress",
        _NW,
        _NWOPS,
        "build_public_ip_addresses_create_or_update_request",
        _N,
        "PublicIPAddress",
    ),
    _t(
        "azure-native:privatedns:PrivateZone",
        "azure.mgmt.privatedns",
        "operations._private_zones_operations",
        "build_create_or_update_request",
        "azure.mgmt.privatedns.models",
        "PrivateZone",
    ),
    _t(
        "azure-native:privatedns:VirtualNetworkLink",
        "azure.mgmt.privatedns",
        "operations._virtual_network_links_operations",
        "build_create_or_update_request",
        "azure.mgmt.privatedns.models",
        "VirtualNetworkLink",
    ),
    _t(
        "azure-native:privatedns:PrivateRecordSet",
        "azure.mgmt.privatedns",
        "operations._record_sets_operations",
        "build_create_or_update_request",
        "azure.mgmt.privatedns.models",
        "RecordSet",
    ),
    _t(
        "azure-native:storage:StorageAccount",
        _ST,
        "operations._storage_accounts_operations",
        "build_create_request",
        _S,
        "StorageAccountCreateParameters",
    ),
    _t(
        "azure-native:storage:BlobServiceProperties",
        _ST,
        "operations._blob_services_operations",
        "build_set_service_properties_request",
        _S,
        "BlobServiceProperties",
    ),
    _t(
        "azure-native:storage:ManagementPolicy",
        _ST,
        "operations._management_policies_operations",
        "build_create_or_update_request",
        _S,
        "ManagementPolicy",
    ),
    _t(
        "azure-native:storage:BlobContainer",
        _ST,
        "operations._blob_containers_operations",
        "build_create_request",
        _S,
        "BlobContainer",
    ),
    _t(
        "azure-native:storage:BlobContainerImmutabilityPolicy",
        _ST,
        "operations._blob_containers_operations",
        "build_create_or_update_immutability_policy_request",
        _S,
        "ImmutabilityPolicy",
    ),
    _t(
        "azure-native:managedidentity:UserAssignedIdentity",
        "azure.mgmt.msi",
        "v2024_11_30.operations._user_assigned_identities_operations",
        "build_create_or_update_request",
        "azure.mgmt.msi.v2024_11_30.models",
        "Identity",
    ),
    _t(
        "azure-native:managedidentity:FederatedIdentityCredential",
        "azure.mgmt.msi",
        "v2024_11_30.operations._federated_identity_credentials_operations",
        "build_create_or_update_request",
        "azure.mgmt.msi.v2024_11_30.models",
        "FederatedIdentityCredential",
    ),
    _t(
        "azure-native:authorization:RoleAssignment",
        "azure.mgmt.authorization",
        "v2022_04_01.operations._role_assignments_operations",
        "build_create_request",
        "azure.mgmt.authorization.v2022_04_01.models",
        "RoleAssignmentCreateParameters",
    ),
    _t(
        "azure-native:keyvault:Vault",
        _KV,
        "operations._vaults_operations",
        "build_create_or_update_request",
        _K,
        "VaultCreateOrUpdateParameters",
    ),
    _t(
        "azure-native:keyvault:Secret",
        _KV,
        "operations._secrets_operations",
        "build_create_or_update_request",
        _K,
        "SecretCreateOrUpdateParameters",
    ),
    _t(
        "azure-native:keyvault:Key",
        _KV,
        "operations._keys_operations",
        "build_create_if_not_exist_request",
        _K,
        "KeyCreateParameters",
    ),
    _t(
        "azure-native:compute:VirtualMachine",
        _CP,
        "operations._virtual_machines_operations",
        "build_create_or_update_request",
        _C,
        "VirtualMachine",
    ),
    _t("azure-native:compute:Disk", _CP, "operations._disks_operations", "build_create_or_update_request", _C, "Disk"),
    _t(
        "azure-native:compute:DiskEncryptionSet",
        _CP,
        "operations._disk_encryption_sets_operations",
        "build_create_or_update_request",
        _C,
        "DiskEncryptionSet",
    ),
    _t(
        "azure-native:monitor:MetricAlert",
        _MO,
        "operations._metric_alerts_operations",
        "build_create_or_update_request",
        _M,
        "MetricAlertResource",
    ),
    _t(
        "azure-native:monitor:ActionGroup",
        _MO,
        "operations._action_groups_operations",
        "build_create_or_update_request",
        _M,
        "ActionGroupResource",
    ),
)

# The ARM paths pulumi-azure-native uses for them; the path parameters of the scope (subscription, a role
# assignment's scope) are not the resource's inputs to check.
_NOT_INPUTS = ("subscriptionId", "scope", "recordType")


def _path_bindings(tc_request: Request, builder: Builder) -> list[Binding]:
    out: list[Binding] = []
    for rest_name, parameter in tc_request.parameters.items():
        if rest_name in _NOT_INPUTS:
            continue
        prop = lower_camel(rest_name)
        constraints = [
            Constraint(rule, f"{builder.label} path {rest_name}") for rule in _validation_rules(parameter.checks)
        ]
        if parameter.literal:
            constraints.append(
                Constraint(
                    OneOf(parameter.literal), f"{builder.label} path {rest_name}: Literal{list(parameter.literal)}"
                )
            )
        last = tc_request.url.endswith("{" + rest_name + "}")
        if last or rest_name == "resourceGroupName":
            constraints += NAME_RULES.get(rest_name, ())
        if constraints:
            out.append(Binding(prop, tuple(constraints), member=f"path {rest_name}"))
    return out


def _build_type(arm: ArmType) -> TypeConstraints:
    req = request(arm.builder)
    if req.method != "PUT":
        raise ValueError(f"{arm.builder.label} sends {req.method}, not the PUT that creates {arm.token}")
    bindings = _path_bindings(req, arm.builder)
    bindings += list(walk_model(arm.model))
    attributes = getattr(model_class(arm.model), "_attribute_map", {})
    if "tags" in attributes:
        bindings += tag_bindings(arm.model)
    bindings += EXTRA_BINDINGS.get(arm.token, lambda: [])()
    return TypeConstraints(arm.token, f"PUT {req.url} ({arm.builder.label}; body {arm.model.label})", bindings)


BY_TOKEN: dict[str, ArmType] = {arm.token: arm for arm in TYPES}


def _container_retention_days() -> list[Binding]:
    """The container policy's model has no limit for its period; the account-level policy's model carries the one
    Azure Storage documents for both (1 to 146,000 days)."""
    account = Model(_S, "AccountImmutabilityPolicyProperties")
    checks = model_class(account)._validation["immutability_period_since_creation_in_days"]
    source = (
        f"{account.label}._validation['immutability_period_since_creation_in_days'] (the account-level policy; "
        "Microsoft Learn, Time-based retention policies for immutable blob data, gives containers the same range)"
    )
    rules = _validation_rules({k: v for k, v in checks.items() if k in _VALIDATION_RULES})
    return [Binding("immutabilityPeriodSinceCreationInDays", tuple(Constraint(r, source) for r in rules))]


NSG_FLOW_LOGS_RETIRED = (
    "Azure Updates, NSG flow logs retirement (https://azure.microsoft.com/updates?id=Azure-NSG-flow-logs-Retirement): "
    "as of June 30, 2025 new NSG flow logs can no longer be created; Network Watcher takes flow logs of a virtual "
    "network, subnet or network interface instead"
)


def _flow_log_target() -> list[Binding]:
    """A new flow log may target a VNet, a subnet or a NIC, no longer a network security group."""
    rule = Predicate(
        lambda v: "/providers/microsoft.network/networksecuritygroups/" not in v.lower(),
        "not a network security group (create a VNet flow log instead)",
    )
    return [Binding("targetResourceId", (Constraint(rule, NSG_FLOW_LOGS_RETIRED),), member="targetResourceId")]


FEDERATION_PAGE = (
    "Microsoft Learn, Important considerations and restrictions for federated identity credentials "
    "(https://learn.microsoft.com/entra/workload-id/workload-identity-federation-considerations)"
)
FEDERATION_FIELD_MAX = 600


def _federated_credential() -> list[Binding]:
    """The model has no limits (its name's pattern is the request path's); Entra ID's page gives each field's:
    the issuer an https URL and the subject, each at most 600 characters, and exactly one audience of at most 600."""
    length = Constraint(Length(None, FEDERATION_FIELD_MAX), FEDERATION_PAGE)
    https = Constraint(Predicate(lambda v: v.startswith("https://"), "an https:// URL"), FEDERATION_PAGE)
    return [
        Binding("issuer", (length, https)),
        Binding("subject", (length,)),
        Binding("audiences", (Constraint(Count(1, 1), FEDERATION_PAGE),)),
        Binding("audiences[]", (length,)),
    ]


EXTRA_BINDINGS = {
    "azure-native:storage:BlobContainerImmutabilityPolicy": _container_retention_days,
    "azure-native:network:FlowLog": _flow_log_target,
    "azure-native:managedidentity:FederatedIdentityCredential": _federated_credential,
}


@cache
def type_constraints(token: str) -> TypeConstraints | None:
    """Built on first use: the SDK models are large, and an AWS stack never asks."""
    arm = BY_TOKEN.get(token)
    return _build_type(arm) if arm else None


@cache
def autoname(token: str) -> AutoName | None:
    arm = BY_TOKEN.get(token)
    return autoname_rule(request(arm.builder).url) if arm else None


# --- the plugin ------------------------------------------------------------------------------------------------


@dataclass
class AzurePlugin:
    name: str = "azure"
    packages: tuple[str, ...] = ("azure-native",)

    def constraints(self, type_token: str) -> TypeConstraints | None:
        return type_constraints(type_token)

    def known_types(self) -> Iterable[str]:
        return BY_TOKEN.keys()

    def autoname(self, type_token: str) -> AutoName | None:
        return autoname(type_token)

    def values(self, record) -> Mapping[str, Any]:
        """The inputs as the request carries them: pulumi-azure-native adds nothing after Check."""
        return record.inputs


PLUGIN = AzurePlugin()
