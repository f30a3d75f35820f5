"""GCP: the limits of the API fields each pulumi-gcp resource property becomes, read from the discovery documents
google-api-python-client bundles (googleapiclient/discovery_cache/documents/<api>.<version>.json), and how
pulumi-gcp names resources before any API call.

Where a field carries its limit in the document (`pattern`, `enum`) it is read from there. Most fields carry it
only in their description ("The name must be 1-63 characters long", "Must be no larger than 64KiB"): those are
extracted with an explicit phrase, and loading fails if the phrase is gone, so a client upgrade that rewords a
limit is noticed instead of silently dropping the check (as tools/constraints/aws.py does with botocore). Limits
no document states (Cloud Storage bucket names, labels on compute resources, health check bounds, Hyperdisk
IOPS) come from Google's published rules and cite them.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from stacks.clouds import gcp as facts
from tools.constraints.core import (
    Binding,
    BuiltPlugin,
    Constraint,
    Count,
    Length,
    OneOf,
    Pattern,
    Predicate,
    Range,
    TypeConstraints,
    When,
)
from tools.constraints.naming import AutoName

# --- discovery documents -------------------------------------------------------------------------------------

DOCUMENTS = {
    "compute": "compute.v1",
    "storage": "storage.v1",
    "iam": "iam.v1",
    "secretmanager": "secretmanager.v1",
    "cloudkms": "cloudkms.v1",
    "monitoring": "monitoring.v3",
    "dns": "dns.v1",
}


def documents_dir() -> Path:
    """Where the installed google-api-python-client keeps its discovery documents (found without importing it)."""
    spec = find_spec("googleapiclient")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("google-api-python-client is not installed (requirements/gcp.txt)")
    return Path(next(iter(spec.submodule_search_locations))) / "discovery_cache" / "documents"


@cache
def document(api: str) -> dict[str, Any]:
    return json.loads((documents_dir() / f"{DOCUMENTS[api]}.json").read_text())


@dataclass(frozen=True)
class Field:
    api: str
    ref: str  # Schema.field[.field] or resource.path.method?param
    spec: dict[str, Any]

    @property
    def label(self) -> str:
        return f"{DOCUMENTS[self.api]} discovery document {self.ref}"

    @property
    def description(self) -> str:
        return re.sub(r"\s+", " ", self.spec.get("description", "")).strip()


@cache
def field_(api: str, ref: str) -> Field:
    """`Schema.field.sub` (stepping into arrays' items and $refs), or `resources.path.method?parameter`."""
    doc = document(api)
    if "?" in ref:
        path, _, param = ref.partition("?")
        node: dict[str, Any] = doc
        parts = path.split(".")
        for part in parts[:-1]:
            node = node["resources"][part]
        return Field(api, ref, node["methods"][parts[-1]]["parameters"][param])
    schema, *parts = ref.split(".")
    spec: dict[str, Any] = doc["schemas"][schema]
    for part in parts:
        while "$ref" in spec or spec.get("type") == "array":
            spec = doc["schemas"][spec["$ref"]] if "$ref" in spec else spec["items"]
        spec = spec["properties"][part]
    return Field(api, ref, spec)


def model_rules(api: str, ref: str) -> tuple[Constraint, ...]:
    """What the field itself says: a pattern (whole value) or an enum."""
    f = field_(api, ref)
    out: list[Constraint] = []
    if "pattern" in f.spec:
        out.append(Constraint(Pattern(f.spec["pattern"]), f.label))
    if "enum" in f.spec:
        out.append(Constraint(OneOf(tuple(f.spec["enum"])), f.label))
    if not out:
        raise ValueError(f"{f.label} has no pattern or enum; bind its description or leave it unbound")
    return tuple(out)


DocRule = Callable[[re.Match], Any]


def doc(api: str, ref: str, *phrases: tuple[str, DocRule]) -> tuple[Constraint, ...]:
    """Limits stated in the field's description: each phrase must be there."""
    f = field_(api, ref)
    out = []
    for regex, make in phrases:
        match = re.search(regex, f.description)
        if not match:
            raise ValueError(f"{f.label}: description no longer says /{regex}/: {f.description[:300]!r}")
        quoted = match.group(0).strip()
        quoted = quoted if len(quoted) <= 100 else quoted[:97] + "..."
        out.append(Constraint(make(match), f'{f.label} (description: "{quoted}")'))
    return tuple(out)


def _int(text: str) -> int:
    return int(text.replace(",", ""))


def between_chars(regex: str) -> tuple[str, DocRule]:
    return regex, lambda m: Length(_int(m.group(1)), _int(m.group(2)))


def max_chars(regex: str) -> tuple[str, DocRule]:
    return regex, lambda m: Length(None, _int(m.group(1)))


def int_range(regex: str) -> tuple[str, DocRule]:
    return regex, lambda m: Range(_int(m.group(1)), _int(m.group(2)))


def rule(regex: str, made: Any) -> tuple[str, DocRule]:
    return regex, lambda m: made


def _utf8_at_most(limit: int, text: str) -> Predicate:
    return Predicate(lambda v: len(v.encode()) <= limit, text)


# --- names ---------------------------------------------------------------------------------------------------
RFC1035 = "[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?"


def compute_name(schema: str) -> tuple[Constraint, ...]:
    """A compute resource's name: the document's pattern where the field has one, and its description's
    '1-63 characters' (NetworkPeering.name states the RFC 1035 expression in its description only)."""
    f = field_("compute", f"{schema}.name")
    rules = list(doc("compute", f"{schema}.name", between_chars(r"must be (\d+)-(\d+) characters long")))
    if "pattern" in f.spec:
        rules += model_rules("compute", f"{schema}.name")
    else:
        rules += doc(
            "compute",
            f"{schema}.name",
            rule(r"regular expression `\[a-z\]\(\[-a-z0-9\]\*\[a-z0-9\]\)\?`", Pattern(RFC1035)),
        )
    return tuple(rules)


GCS_NAMING = "Cloud Storage, Bucket naming (https://cloud.google.com/storage/docs/buckets#naming)"


def _ip_shaped(value: str) -> bool:
    try:
        ipaddress.IPv4Address(value)
        return True
    except ValueError:
        return False


GCS_BUCKET_NAME = tuple(
    Constraint(r, GCS_NAMING)
    for r in (
        Predicate(
            lambda v: 3 <= len(v) <= (222 if "." in v else 63) and all(len(p) <= 63 for p in v.split(".")),
            "3-63 characters (up to 222 with dots, each dot-separated part at most 63)",
        ),
        Predicate(
            lambda v: re.fullmatch(r"[a-z0-9._-]*", v) is not None,
            "only lowercase letters, digits, dashes, underscores and dots",
        ),
        Predicate(lambda v: bool(v) and v[0].isalnum() and v[-1].isalnum(), "starts and ends with a letter or digit"),
        Predicate(lambda v: not _ip_shaped(v), "not an IP address in dotted-decimal notation"),
        Predicate(lambda v: not v.startswith("goog"), 'does not begin with "goog"'),
        Predicate(lambda v: "google" not in v, 'does not contain "google"'),
    )
)

# --- labels --------------------------------------------------------------------------------------------------
LABEL_SOURCE = (
    "Resource Manager, Requirements for labels (https://cloud.google.com/resource-manager/docs/labels-overview"
    "#requirements), as stacks/clouds/gcp.py applies them"
)


def label_bindings(prop: str = "labels") -> list[Binding]:
    """Labels as every labelled service checks them. Where the document states the rule (secretmanager's
    Secret.labels), that text is required to still say it, so the shared rule stays the documented one."""
    key = Predicate(
        lambda k: facts.tag_key_problem(k) in (None, "is the label pulumi-gcp sets itself"),
        "1-63 lowercase letters, digits, '_' or '-', starting with a lowercase letter",
    )
    value = Predicate(lambda v: facts.tag_value_problem(v) is None, "0-63 lowercase letters, digits, '_' or '-'")
    return [
        Binding(f"{prop}.{{key}}", (Constraint(key, LABEL_SOURCE),), member="label keys"),
        Binding(f"{prop}.{{value}}", (Constraint(value, LABEL_SOURCE),), member="label values"),
        Binding(
            prop,
            (
                Constraint(
                    Count(None, facts.LABELS_PER_RESOURCE - len(facts.PROVIDER_LABELS)),
                    LABEL_SOURCE + f" less pulumi-gcp's {', '.join(facts.PROVIDER_LABELS)}",
                ),
            ),
            member="labels",
        ),
    ]


def documented_label_rules() -> tuple[Constraint, ...]:
    """secretmanager v1 Secret.labels: the text the label rule above is kept equal to."""
    return doc(
        "secretmanager",
        "Secret.labels",
        rule(r"Label keys must be between 1 and 63 characters long", Length(1, 63)),
        rule(r"Label values must be between 0 and 63 characters long", Length(None, 63)),
        rule(r"No more than 64 labels", Count(None, 64)),
    )


# --- members and roles ---------------------------------------------------------------------------------------
_MEMBER_PREFIXES = ("user:", "serviceAccount:", "group:", "domain:", "principal://", "principalSet://", "deleted:")


def iam_member_bindings() -> list[Binding]:
    members = doc(
        "iam",
        "Binding.members",
        rule(
            r"`serviceAccount:\{emailid\}`",
            Predicate(
                lambda v: v in ("allUsers", "allAuthenticatedUsers") or v.startswith(_MEMBER_PREFIXES),
                "allUsers, allAuthenticatedUsers or <kind>:<id> (user:, serviceAccount:, group:, domain:, "
                "principal://, principalSet://)",
            ),
        ),
    )
    role = doc(
        "iam",
        "Binding.role",
        rule(r"`roles/viewer`", Pattern(r"roles/[A-Za-z0-9_.]+|(?:projects|organizations)/[^/]+/roles/[A-Za-z0-9_.]+")),
    )
    return [Binding("member", members, member="iam Binding.members[]"), Binding("role", role, member="Binding.role")]


# --- health checks -------------------------------------------------------------------------------------------
HC_SOURCE = (
    "Google Cloud SDK command_lib/compute/health_checks/health_checks_utils.py bounds (stacks/clouds/gcp.py "
    "CHECK_*_RANGE)"
)


@dataclass(frozen=True)
class _NotAbove:
    other: str

    def check(self, value, context):
        limit = (context.get("inputs") or {}).get(self.other)
        if isinstance(value, int) and isinstance(limit, int) and value > limit:
            return self.describe()
        return None

    def describe(self) -> str:
        return f"not greater than {self.other}"


def health_check_bindings() -> list[Binding]:
    timeout_rule = doc(
        "compute",
        "HealthCheck.timeoutSec",
        rule(r"invalid for timeoutSec to have greater value than checkIntervalSec", _NotAbove("checkIntervalSec")),
    )
    return [
        Binding("name", compute_name("HealthCheck")),
        Binding("checkIntervalSec", (Constraint(Range(*facts.CHECK_INTERVAL_RANGE), HC_SOURCE),)),
        Binding("timeoutSec", (Constraint(Range(*facts.CHECK_TIMEOUT_RANGE), HC_SOURCE), *timeout_rule)),
        Binding("healthyThreshold", (Constraint(Range(*facts.CHECK_THRESHOLD_RANGE), HC_SOURCE),)),
        Binding("unhealthyThreshold", (Constraint(Range(*facts.CHECK_THRESHOLD_RANGE), HC_SOURCE),)),
        Binding(
            "httpHealthCheck.port",
            doc("compute", "HTTPHealthCheck.port", int_range(r"Valid values are (\d+) through ?(\d+)")),
        ),
        Binding("httpHealthCheck.portSpecification", model_rules("compute", "HTTPHealthCheck.portSpecification")),
        Binding("httpHealthCheck.proxyHeader", model_rules("compute", "HTTPHealthCheck.proxyHeader")),
        Binding(
            "httpHealthCheck.requestPath",
            doc(
                "compute",
                "HTTPHealthCheck.requestPath",
                rule(r"Must comply ?with ?RFC3986", Pattern(r"/[A-Za-z0-9\-._~!$&'()*+,;=:@/%?]*")),
            ),
        ),
        Binding(
            "tcpHealthCheck.port",
            doc("compute", "TCPHealthCheck.port", int_range(r"Valid values are (\d+) through ?(\d+)")),
        ),
    ]


# --- disks ---------------------------------------------------------------------------------------------------
HYPERDISK_SOURCE = (
    "Hyperdisk performance limits (https://cloud.google.com/compute/docs/disks/hyperdisk-perf-limits): Hyperdisk "
    "Balanced 3,000-160,000 IOPS, at most 500 per GiB"
)


@dataclass(frozen=True)
class _IopsPerGib:
    per_gib: int
    size_key: str
    local: bool = False

    def check(self, value, context):
        size = (context.get("object" if self.local else "inputs") or {}).get(self.size_key)
        if isinstance(value, int) and isinstance(size, int) and value > max(3_000, size * self.per_gib):
            return self.describe()
        return None

    def describe(self) -> str:
        return f"at most {self.per_gib} IOPS per GiB of {self.size_key} (3,000 at least)"


def disk_bindings(prefix: str = "", size_key: str = "size", type_key: str = "type") -> list[Binding]:
    extreme = doc("compute", "Disk.provisionedIops", int_range(r"Values must be between ([\d,]+) and ([\d,]+)"))
    return [
        Binding(
            f"{prefix}{size_key}",
            doc("compute", "Disk.sizeGb", rule(r"Acceptable values are greater than 0", Range(1, None))),
        ),
        Binding(
            f"{prefix}provisionedIops",
            (
                *(Constraint(When(type_key, ("pd-extreme",), c.rule, local=bool(prefix)), c.source) for c in extreme),
                Constraint(
                    When(type_key, ("hyperdisk-balanced",), Range(*facts.HYPERDISK_BALANCED_IOPS), local=bool(prefix)),
                    HYPERDISK_SOURCE,
                ),
                Constraint(
                    When(
                        type_key, ("hyperdisk-balanced",), _IopsPerGib(500, size_key, bool(prefix)), local=bool(prefix)
                    ),
                    HYPERDISK_SOURCE,
                ),
            ),
        ),
    ]


# --- user data ---------------------------------------------------------------------------------------------------


def metadata_bindings() -> list[Binding]:
    value = doc(
        "compute",
        "Metadata.items.value",
        rule(r"less than or equal to 262144 bytes", _utf8_at_most(262_144, "at most 262144 bytes (256 KiB)")),
    )
    key = doc(
        "compute",
        "Metadata.items.key",
        rule(r"regexp: \[a-zA-Z0-9-_\]\+", Pattern(r"[a-zA-Z0-9_-]+")),
        rule(r"less than 128 bytes", _utf8_at_most(127, "less than 128 bytes")),
    )
    total = doc(
        "compute",
        "Metadata.items",
        rule(
            r"total size of all keys and values must be less than 512 KB",
            Predicate(
                lambda m: sum(len(str(k).encode()) + len(str(v).encode()) for k, v in m.items()) < 512 * 1024,
                "keys and values together less than 512 KB",
                applies=lambda v: isinstance(v, dict),
            ),
        ),
    )
    return [
        Binding("metadata.{key}", key),
        Binding("metadata.{value}", value),
        Binding("metadata", total),
        Binding("metadataStartupScript", value),
    ]


def _decoded_at_most(limit: int) -> Callable[[str], bool]:
    def fits(value: str) -> bool:
        try:
            return len(base64.b64decode(value, validate=True)) <= limit
        except (binascii.Error, ValueError):
            return len(value.encode()) <= limit

    return fits


# --- the type map --------------------------------------------------------------------------------------------


def B(path: str, *groups: Iterable[Constraint], when=None, api: str = "") -> Binding:
    return Binding(path, tuple(c for g in groups for c in g), when=when, member=api)


def M(path: str, api: str, ref: str) -> Binding:
    return B(path, model_rules(api, ref), api=f"{api} {ref}")


def _cidr(max_prefix: int, source: str) -> tuple[Constraint, ...]:
    def ok(v: str) -> bool:
        try:
            net = ipaddress.ip_network(v, strict=True)
        except ValueError:
            return False
        return net.version != 4 or net.prefixlen <= max_prefix

    return (Constraint(Predicate(ok, f"an IPv4 network in CIDR notation, at most /{max_prefix}"), source),)


def _build() -> dict[str, TypeConstraints]:
    T: dict[str, TypeConstraints] = {}

    def add(type_token: str, api: str, *bindings: Binding | list[Binding]) -> None:
        flat: list[Binding] = []
        for b in bindings:
            flat.extend(b if isinstance(b, list) else [b])
        T[type_token] = TypeConstraints(type_token, api, flat)

    c = "compute"
    add(
        "gcp:compute/network:Network",
        "compute networks.insert",
        B("name", compute_name("Network")),
        M("routingMode", c, "Network.routingConfig.routingMode"),
        B(
            "mtu",
            doc(c, "Network.mtu", int_range(r"minimum value for this field is (\d+) and the maximum value is (\d+)")),
        ),
    )
    add(
        "gcp:compute/subnetwork:Subnetwork",
        "compute subnetworks.insert",
        B("name", compute_name("Subnetwork")),
        B(
            "ipCidrRange",
            _cidr(
                facts.SUBNET_PREFIX_MAX,
                "Subnets, IPv4 subnet ranges (https://cloud.google.com/vpc/"
                "docs/subnets#valid-ranges): /29 at the smallest",
            ),
        ),
        M("logConfig.aggregationInterval", c, "Subnetwork.logConfig.aggregationInterval"),
        M("logConfig.metadata", c, "Subnetwork.logConfig.metadata"),
        B(
            "logConfig.flowSampling",
            doc(c, "Subnetwork.logConfig.flowSampling", rule(r"must be in \[0, 1\]", Range(0, 1))),
        ),
        M("stackType", c, "Subnetwork.stackType"),
        M("purpose", c, "Subnetwork.purpose"),
    )
    add(
        "gcp:compute/firewall:Firewall",
        "compute firewalls.insert",
        B("name", compute_name("Firewall")),
        B("priority", doc(c, "Firewall.priority", int_range(r"integer between `(\d+)` and `(\d+)`"))),
        M("direction", c, "Firewall.direction"),
        B("sourceRanges[]", _cidr(32, "compute Firewall.sourceRanges (CIDR format)")),
        B("destinationRanges[]", _cidr(32, "compute Firewall.destinationRanges (CIDR format)")),
        B("sourceTags[]", compute_name("Network")[1:], api="network tags: RFC 1035 like compute names"),
        B("targetTags[]", compute_name("Network")[1:], api="network tags: RFC 1035 like compute names"),
        M("logConfig.metadata", c, "Firewall.logConfig.metadata"),
    )
    add(
        "gcp:compute/networkPeering:NetworkPeering",
        "compute networks.addPeering",
        B("name", compute_name("NetworkPeering")),
        M("stackType", c, "NetworkPeering.stackType"),
    )
    add(
        "gcp:compute/router:Router",
        "compute routers.insert",
        B("name", compute_name("Router")),
        M("bgp.advertiseMode", c, "Router.bgp.advertiseMode"),
    )
    add(
        "gcp:compute/routerNat:RouterNat",
        "compute routers.patch (nats[])",
        M("name", c, "RouterNat.name"),
        M("natIpAllocateOption", c, "RouterNat.natIpAllocateOption"),
        M("sourceSubnetworkIpRangesToNat", c, "RouterNat.sourceSubnetworkIpRangesToNat"),
        M("logConfig.filter", c, "RouterNat.logConfig.filter"),
    )
    add(
        "gcp:compute/address:Address",
        "compute addresses.insert",
        B("name", compute_name("Address")),
        M("addressType", c, "Address.addressType"),
        M("purpose", c, "Address.purpose"),
        M("networkTier", c, "Address.networkTier"),
        label_bindings(),
    )
    add(
        "gcp:compute/disk:Disk",
        "compute disks.insert",
        B("name", compute_name("Disk")),
        disk_bindings(),
        label_bindings(),
    )
    add(
        "gcp:compute/instance:Instance",
        "compute instances.insert",
        B("name", compute_name("Instance")),
        B(
            "machineType",
            (
                Constraint(
                    Predicate(
                        lambda v: re.fullmatch(r"[a-z][a-z0-9]*-[a-z0-9-]+|custom-\d+-\d+", v) is not None,
                        "a machine type name (<series>-<shape>-<vCPUs>)",
                    ),
                    "Compute Engine machine types (https://cloud.google.com/compute/docs/machine-resource)",
                ),
            ),
        ),
        disk_bindings("bootDisk.initializeParams.", "size", "type"),
        label_bindings("bootDisk.initializeParams.labels"),
        M("attachedDisks[].mode", c, "AttachedDisk.mode"),
        M("scheduling.onHostMaintenance", c, "Scheduling.onHostMaintenance"),
        M("scheduling.provisioningModel", c, "Scheduling.provisioningModel"),
        M("networkInterfaces[].stackType", c, "NetworkInterface.stackType"),
        M("networkInterfaces[].nicType", c, "NetworkInterface.nicType"),
        metadata_bindings(),
        label_bindings(),
    )
    add(
        "gcp:compute/instanceGroup:InstanceGroup",
        "compute instanceGroups.insert, setNamedPorts",
        B("name", compute_name("InstanceGroup")),
        B("namedPorts[].port", doc(c, "NamedPort.port", int_range(r"between (\d+) and ([\d,]+)"))),
        B("namedPorts[].name", doc(c, "NamedPort.name", rule(r"RFC1035", Pattern(RFC1035)))),
    )
    add("gcp:compute/healthCheck:HealthCheck", "compute healthChecks.insert", health_check_bindings())
    add("gcp:compute/regionHealthCheck:RegionHealthCheck", "compute regionHealthChecks.insert", health_check_bindings())
    add(
        "gcp:compute/regionBackendService:RegionBackendService",
        "compute regionBackendServices.insert",
        B("name", compute_name("BackendService")),
        M("loadBalancingScheme", c, "BackendService.loadBalancingScheme"),
        M("protocol", c, "BackendService.protocol"),
        M("sessionAffinity", c, "BackendService.sessionAffinity"),
        M("localityLbPolicy", c, "BackendService.localityLbPolicy"),
        M("backends[].balancingMode", c, "Backend.balancingMode"),
        M(
            "connectionTrackingPolicy.connectionPersistenceOnUnhealthyBackends",
            c,
            "BackendServiceConnectionTrackingPolicy.connectionPersistenceOnUnhealthyBackends",
        ),
    )
    add(
        "gcp:compute/forwardingRule:ForwardingRule",
        "compute forwardingRules.insert",
        B("name", compute_name("ForwardingRule")),
        M("loadBalancingScheme", c, "ForwardingRule.loadBalancingScheme"),
        M("ipProtocol", c, "ForwardingRule.IPProtocol"),
        M("networkTier", c, "ForwardingRule.networkTier"),
        M("ipVersion", c, "ForwardingRule.ipVersion"),
        label_bindings(),
    )

    # Cloud Storage
    add(
        "gcp:storage/bucket:Bucket",
        "storage buckets.insert",
        B("name", GCS_BUCKET_NAME, api="storage Bucket.name"),
        B(
            "retentionPolicy.retentionPeriod",
            doc(
                "storage",
                "Bucket.retentionPolicy.retentionPeriod",
                rule(r"must be greater than zero and less than 100 years", Range(1, 100 * 365 * 86_400 - 1)),
                # pulumi-gcp 10 takes the period as a string of seconds (the API's int64 in JSON), which Range skips.
                rule(
                    r"must be greater than zero and less than 100 years",
                    Predicate(
                        lambda v: v.isdigit() and 1 <= int(v) < 100 * 365 * 86_400,
                        "whole seconds, between 1 and 100 years less a second",
                        applies=lambda v: isinstance(v, str),
                    ),
                ),
            ),
        ),
        B(
            "storageClass",
            doc(
                "storage",
                "Bucket.storageClass",
                (
                    r"Values include ((?:[A-Z_]+, )+and [A-Z_]+)",
                    lambda m: OneOf(tuple(re.findall(r"[A-Z_]{3,}", m.group(1)))),
                ),
            ),
        ),
        B(
            "publicAccessPrevention",
            doc(
                "storage",
                "Bucket.iamConfiguration.publicAccessPrevention",
                rule(r"'inherited' and 'enforced' are supported", OneOf(("inherited", "enforced"))),
            ),
        ),
        label_bindings(),
    )
    add("gcp:storage/bucketIAMMember:BucketIAMMember", "storage buckets.setIamPolicy", iam_member_bindings())

    # Cloud KMS
    kr = "projects.locations.keyRings"
    add(
        "gcp:kms/keyRing:KeyRing",
        "cloudkms keyRings.create",
        B(
            "name",
            doc(
                "cloudkms",
                f"{kr}.create?keyRingId",
                rule(r"regular expression `\[a-zA-Z0-9_-\]\{1,63\}`", Pattern(r"[a-zA-Z0-9_-]{1,63}")),
            ),
        ),
    )
    add(
        "gcp:kms/cryptoKey:CryptoKey",
        "cloudkms cryptoKeys.create",
        B(
            "name",
            doc(
                "cloudkms",
                f"{kr}.cryptoKeys.create?cryptoKeyId",
                rule(r"regular expression `\[a-zA-Z0-9_-\]\{1,63\}`", Pattern(r"[a-zA-Z0-9_-]{1,63}")),
            ),
        ),
        M("purpose", "cloudkms", "CryptoKey.purpose"),
        M("versionTemplate.algorithm", "cloudkms", "CryptoKeyVersionTemplate.algorithm"),
        M("versionTemplate.protectionLevel", "cloudkms", "CryptoKeyVersionTemplate.protectionLevel"),
        B(
            "rotationPeriod",
            doc(
                "cloudkms",
                "CryptoKey.rotationPeriod",
                rule(
                    r"at least 24 hours and at most 876,000 hours",
                    Predicate(_duration_between(24 * 3600, 876_000 * 3600), "a duration of 24 h to 876,000 h ('<n>s')"),
                ),
            ),
        ),
        label_bindings(),
    )
    add("gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember", "cloudkms cryptoKeys.setIamPolicy", iam_member_bindings())

    # IAM
    add(
        "gcp:serviceaccount/account:Account",
        "iam projects.serviceAccounts.create",
        B(
            "accountId",
            doc(
                "iam",
                "CreateServiceAccountRequest.accountId",
                between_chars(r"must be (\d+)-(\d+) characters long"),
                rule(
                    r"match the regular expression `\[a-z\]\(\[-a-z0-9\]\*\[a-z0-9\]\)`",
                    Pattern(r"[a-z](?:[-a-z0-9]*[a-z0-9])"),
                ),
            ),
        ),
        B(
            "displayName",
            doc(
                "iam",
                "ServiceAccount.displayName",
                rule(r"maximum length is 100 UTF-8 bytes", _utf8_at_most(100, "at most 100 UTF-8 bytes")),
            ),
        ),
        B(
            "description",
            doc(
                "iam",
                "ServiceAccount.description",
                rule(r"maximum length is 256 UTF-8 bytes", _utf8_at_most(256, "at most 256 UTF-8 bytes")),
            ),
        ),
    )
    # Who may act as a service account: GKE Workload Identity binds one Kubernetes service account this way.
    add(
        "gcp:serviceaccount/iAMMember:IAMMember",
        "iam projects.serviceAccounts.setIamPolicy",
        iam_member_bindings(),
        B("serviceAccountId", model_rules("iam", "projects.serviceAccounts.setIamPolicy?resource")),
        B(
            "member",
            doc(
                "iam",
                "Binding.members",
                rule(
                    r"`serviceAccount:\{projectid\}\.svc\.id\.goog\[\{namespace\}/\{kubernetes-sa\}\]`",
                    Predicate(
                        lambda v: (
                            ".svc.id.goog[" not in v
                            or re.fullmatch(r"serviceAccount:[a-z][-a-z0-9.:]*\.svc\.id\.goog\[[^/\]]+/[^/\]]+\]", v)
                            is not None
                        ),
                        "a Kubernetes service account as serviceAccount:<project>.svc.id.goog[<namespace>/<name>]",
                    ),
                ),
            ),
        ),
    )
    add("gcp:projects/iAMMember:IAMMember", "cloudresourcemanager projects.setIamPolicy", iam_member_bindings())
    add(
        "gcp:projects/iAMCustomRole:IAMCustomRole",
        "iam projects.roles.create",
        B(
            "roleId",
            doc(
                "iam",
                "CreateRoleRequest.roleId",
                rule(
                    r"alphanumeric characters, underscores \(`_`\), and periods \(`\.`\)",
                    Pattern(r"[A-Za-z0-9_.]+"),
                ),
                between_chars(r"minimum of (\d+) characters and a maximum of (\d+) characters"),
            ),
        ),
        B(
            "title",
            doc(
                "iam",
                "Role.title",
                rule(r"limited to 100 UTF-8 bytes", _utf8_at_most(100, "at most 100 UTF-8 bytes")),
            ),
        ),
        M("stage", "iam", "Role.stage"),
    )
    # The service's agent is Google's: nothing of it is the caller's to choose but the service's name.
    add("gcp:projects/serviceIdentity:ServiceIdentity", "serviceusage services.generateServiceIdentity")

    # Secret Manager
    add(
        "gcp:secretmanager/secret:Secret",
        "secretmanager projects.secrets.create",
        B(
            "secretId",
            doc(
                "secretmanager",
                "projects.secrets.create?secretId",
                max_chars(r"maximum length of (\d+) characters"),
                rule(
                    r"uppercase and lowercase letters, numerals, and the hyphen \(`-`\) and underscore \(`_`\)",
                    Pattern(r"[A-Za-z0-9_-]+"),
                ),
            ),
        ),
        label_bindings(),
        B("labels", documented_label_rules()[2:]),
    )
    add(
        "gcp:secretmanager/secretVersion:SecretVersion",
        "secretmanager projects.secrets.addVersion",
        B(
            "secretData",
            doc(
                "secretmanager",
                "SecretPayload.data",
                rule(r"Must be no larger than 64KiB", Predicate(_decoded_at_most(64 * 1024), "at most 65536 bytes")),
            ),
        ),
    )
    add(
        "gcp:secretmanager/secretIamMember:SecretIamMember", "secretmanager secrets.setIamPolicy", iam_member_bindings()
    )

    # Cloud DNS
    add(
        "gcp:dns/managedZone:ManagedZone",
        "dns managedZones.create",
        B(
            "name",
            doc(
                "dns",
                "ManagedZone.name",
                between_chars(r"must be (\d+)-(\d+) characters long"),
                rule(
                    r"begin with a letter, end with a letter or digit, and only contain lowercase letters, digits or "
                    r"dashes",
                    Pattern(RFC1035),
                ),
            ),
        ),
        M("visibility", "dns", "ManagedZone.visibility"),
        B("description", doc("dns", "ManagedZone.description", max_chars(r"at most (\d+) characters"))),
        B(
            "dnsName",
            (
                Constraint(
                    Predicate(lambda v: v.endswith("."), "a fully qualified name, ending in '.'"),
                    "dns v1 discovery document ManagedZone.dnsName (description: 'for instance \"example.com.\"')",
                ),
            ),
        ),
        label_bindings(),
    )
    add(
        "gcp:dns/recordSet:RecordSet",
        "dns resourceRecordSets.create",
        B(
            "name",
            (
                Constraint(
                    Predicate(lambda v: v.endswith("."), "a fully qualified name, ending in '.'"),
                    "dns v1 discovery document ResourceRecordSet.name (description: 'For example, www.example.com.')",
                ),
            ),
        ),
    )

    # Cloud Monitoring
    mo = "monitoring"
    display = doc(mo, "AlertPolicy.displayName", max_chars(r"limited to (\d+) Unicode characters"))
    add(
        "gcp:monitoring/alertPolicy:AlertPolicy",
        "monitoring projects.alertPolicies.create",
        B("displayName", display),
        M("combiner", mo, "AlertPolicy.combiner"),
        M("severity", mo, "AlertPolicy.severity"),
        B("conditions", doc(mo, "AlertPolicy.conditions", rule(r"from one to six conditions", Count(1, 6)))),
        M("conditions[].conditionThreshold.comparison", mo, "MetricThreshold.comparison"),
        M("conditions[].conditionThreshold.aggregations[].perSeriesAligner", mo, "Aggregation.perSeriesAligner"),
        M("conditions[].conditionThreshold.aggregations[].crossSeriesReducer", mo, "Aggregation.crossSeriesReducer"),
        M("conditions[].conditionAbsent.aggregations[].perSeriesAligner", mo, "Aggregation.perSeriesAligner"),
        B("documentation.content", doc(mo, "Documentation.content", max_chars(r"may not exceed ([\d,]+) Unicode"))),
        label_bindings("userLabels"),
    )
    add(
        "gcp:monitoring/notificationChannel:NotificationChannel",
        "monitoring projects.notificationChannels.create",
        B("displayName", doc(mo, "NotificationChannel.displayName", max_chars(r"limited to (\d+) Unicode characters"))),
        label_bindings("userLabels"),
    )
    return T


def _duration_between(lo: int, hi: int) -> Callable[[str], bool]:
    def ok(v: str) -> bool:
        m = re.fullmatch(r"(\d+(?:\.\d{1,9})?)s", v)
        return m is not None and lo <= float(m.group(1)) <= hi

    return ok


# --- auto-naming: pulumi-gcp 10.x ------------------------------------------------------------------------------
# provider/resources.go: `prov.SetAutonaming(255, "-")` gives every resource whose Terraform schema has a string
# input `name` AutoName("name", 255, "-") (pulumi-terraform-bridge pkg/tfbridge/info/autonaming.go), unless the
# resource configures the field itself: lowercaseAutoName() (Maxlen 63, Randlen 7, Transform strings.ToLower) for
# networks, subnetworks, routers, router NATs; AutoName("name", 222, "-") for buckets; AutoName("", 30, "-") for
# service account ids and AutoName("secretId", 255, "-") (provider/secret_manager.go) for secret ids. The default
# 255 is wider than compute's 63: a longer auto-name passes the provider and is refused by the API's name rule.

_DEFAULT = 'pulumi-gcp provider/resources.go prov.SetAutonaming(255, "-")'
_LOWER = "pulumi-gcp provider/resources.go lowercaseAutoName(): Maxlen 63, Randlen 7, Transform strings.ToLower"


def _default(prop: str = "name") -> AutoName:
    return AutoName(prop, 255, _DEFAULT)


def _lower() -> AutoName:
    return AutoName("name", 63, _LOWER, transform=str.lower)


AUTONAMING: dict[str, AutoName] = {
    "gcp:compute/network:Network": _lower(),
    "gcp:compute/subnetwork:Subnetwork": _lower(),
    "gcp:compute/router:Router": _lower(),
    "gcp:compute/routerNat:RouterNat": _lower(),
    "gcp:compute/firewall:Firewall": _default(),
    "gcp:compute/networkPeering:NetworkPeering": _default(),
    "gcp:compute/address:Address": _default(),
    "gcp:compute/disk:Disk": _default(),
    "gcp:compute/instance:Instance": _default(),
    "gcp:compute/instanceGroup:InstanceGroup": _default(),
    "gcp:compute/healthCheck:HealthCheck": _default(),
    "gcp:compute/regionHealthCheck:RegionHealthCheck": _default(),
    "gcp:compute/regionBackendService:RegionBackendService": _default(),
    "gcp:compute/forwardingRule:ForwardingRule": _default(),
    "gcp:dns/managedZone:ManagedZone": _default(),
    "gcp:kms/keyRing:KeyRing": _default(),
    "gcp:kms/cryptoKey:CryptoKey": _default(),
    "gcp:storage/bucket:Bucket": AutoName(
        "name", 222, 'pulumi-gcp provider/resources.go google_storage_bucket: AutoName("name", 222, "-")'
    ),
    "gcp:serviceaccount/account:Account": AutoName(
        "accountId",
        facts.SERVICE_ACCOUNT_ID_MAX,
        'pulumi-gcp provider/resources.go google_service_account: "account_id": AutoName("", 30, "-")',
    ),
    "gcp:secretmanager/secret:Secret": AutoName(
        "secretId", 255, 'pulumi-gcp provider/secret_manager.go: "secret_id": AutoName("secretId", 255, "-")'
    ),
}


# The bridge's Check puts every auto-name into the inputs, so the inputs are what the API receives.
PLUGIN = BuiltPlugin("gcp", ("gcp",), _build, AUTONAMING)
