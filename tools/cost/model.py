"""What every cloud's estimate is made of: prices with their source, lines, the estimate, and the seam a cloud fills.

A cloud is one module beside this one (aws.py, azure.py, gcp.py) that defines a `CloudCosts`: its price tables
per region, which resource types it bills and which it does not, and a `quantities` function that turns a plan
into unpriced lines. Pricing, totals and output are the same for every cloud (tools/cost/__init__.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from stacks.errors import UserError
from tools.records import Plan, ResourceRecord

HOURS_PER_MONTH = 730
CURRENCY = "USD"
# Assumed, not measured: the backup store holds about one member's data volume (compressed fulls, diffs and WAL
# over the retention window, previous versions included). Override with --s3-gb.
BACKUP_GB_PER_DATA_GB = 1.0


class CostError(UserError, ValueError):
    """The plan has something the estimate cannot price honestly (an unclassified type, an unpriced size): the
    message names it and the file to add it to. A ValueError too, as the estimate raised before."""


@dataclass(frozen=True)
class Price:
    usd: float | None  # None: not found, the line is excluded from the total
    unit: str
    source: str  # where the price was read (and the page's own date when it has one)
    note: str = ""


def not_found(read_on: str) -> str:
    return "not found in the sources searched on " + read_on


@dataclass
class Line:
    item: str
    quantity: float
    unit: str
    price_key: str
    unit_price: float | None = None
    monthly: float | None = None
    source: str = ""
    note: str = ""


@dataclass
class Estimate:
    stack: str
    region: str
    lines: list[Line]
    assumptions: list[str] = field(default_factory=list)
    prices_as_of: str = ""
    hours_per_month: int = HOURS_PER_MONTH
    currency: str = CURRENCY
    not_modelled: tuple[str, ...] = ()

    @property
    def total(self) -> float:
        return round(sum(line.monthly for line in self.lines if line.monthly is not None), 2)

    @property
    def excluded(self) -> list[str]:
        return [line.item for line in self.lines if line.monthly is None and line.quantity]

    def to_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "region": self.region,
            "currency": self.currency,
            "label": f"estimate, on-demand list prices as of {self.prices_as_of}",
            "prices_as_of": self.prices_as_of,
            "hours_per_month": self.hours_per_month,
            "lines": [asdict(line) for line in self.lines],
            "total": self.total,
            "excluded_unpriced": self.excluded,
            "assumptions": self.assumptions,
            "not_modelled": list(self.not_modelled),
        }


Quantities = Callable[[Plan, "float | None"], tuple[list[Line], list[str]]]


@dataclass(frozen=True)
class CloudCosts:
    """One cloud's part of the estimate."""

    name: str
    region_key: str  # the provider's config key for the stack's region
    source_file: str  # where a missing price or classification is added
    prices_read_on: str
    prices: Mapping[str, Mapping[str, Price]]  # region -> price key -> price
    billed: tuple[str, ...]
    not_billed: Mapping[str, str]  # type -> why it has no charge of its own
    not_modelled: tuple[str, ...]
    quantities: Quantities


# Types of the random, tls and command providers: they run in the engine and cost nothing on any cloud.
LOCAL_TYPES = (
    "random:index/randomPassword:RandomPassword",
    "tls:index/privateKey:PrivateKey",
    "tls:index/selfSignedCert:SelfSignedCert",
    "tls:index/certRequest:CertRequest",
    "tls:index/locallySignedCert:LocallySignedCert",
    "command:local:Command",
)


def unclassified(plan: Plan, cloud: CloudCosts) -> list[str]:
    types = {r.type for r in plan.resources if r.custom and not r.type.startswith("pulumi:providers:")}
    return sorted(t for t in types if t not in cloud.billed and t not in cloud.not_billed)


def count(plan: Plan, type_token: str, keep: Callable[[ResourceRecord], bool] = lambda r: True) -> int:
    return sum(1 for r in plan.by_type(type_token) if keep(r))


def backup_gb(data_gb: list[float], given: float | None, store: str) -> tuple[float, str]:
    """The assumed size of the backup store and the sentence that says so."""
    largest = max(data_gb) if data_gb else 0.0
    gb = given if given is not None else largest * BACKUP_GB_PER_DATA_GB
    why = (
        "given by --s3-gb"
        if given is not None
        else f"{BACKUP_GB_PER_DATA_GB:g} x one member's {largest:g} GB data volume"
    )
    return gb, f"{store} backup storage of {gb:g} GB (assumed: {why})"
