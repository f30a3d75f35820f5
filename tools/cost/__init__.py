"""`tools cost`: a monthly cost estimate per stage, from the recorded graph at on-demand list prices.

Each cloud is one module here (aws.py, azure.py, gcp.py) that fills the seam in model.py: its price tables per
region with each price's source and the date it was read, the resource types it bills and those it does not, and
the quantities it reads from the plan. This module prices those quantities, adds them up and prints them the same
way for every cloud. A price that was not found is `None` and its line is left out of the total, which says so:
nothing is guessed. Every resource type must be classified by its cloud's module, so a new billable type fails the
tests instead of vanishing from the estimate.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping

from tools.cost import aws, azure, gcp, kubernetes
from tools.cost.aws import BILLED, NOT_BILLED, NOT_MODELLED, PRICES, PRICES_READ_ON, volumes
from tools.cost.model import (
    CURRENCY,
    HOURS_PER_MONTH,
    CloudCosts,
    CostError,
    Estimate,
    Line,
    Price,
)
from tools.cost.model import unclassified as _unclassified
from tools.records import Plan

__all__ = [
    "BILLED",
    "CLOUDS",
    "CURRENCY",
    "HOURS_PER_MONTH",
    "NOT_BILLED",
    "NOT_MODELLED",
    "PRICES",
    "PRICES_READ_ON",
    "CloudCosts",
    "CostError",
    "Estimate",
    "Line",
    "Price",
    "estimate",
    "quantities",
    "render_text",
    "unclassified",
    "volumes",
]

# The clouds a stack can select (its pg-platform:cloud, aws when unset), each priced by its own module.
CLOUDS: dict[str, CloudCosts] = {c.name: c for c in (aws.CLOUD, azure.CLOUD, gcp.CLOUD, kubernetes.CLOUD)}


def unclassified(plan: Plan, cloud: CloudCosts = aws.CLOUD) -> list[str]:
    return _unclassified(plan, cloud)


def quantities(plan: Plan, s3_gb: float | None = None, cloud: CloudCosts = aws.CLOUD) -> tuple[list[Line], list[str]]:
    """The billable quantities of a plan, as unpriced lines, and the assumptions made."""
    missing = unclassified(plan, cloud)
    if missing:
        raise CostError("no cost classification for: " + ", ".join(missing) + f" (add them to {cloud.source_file})")
    return cloud.quantities(plan, s3_gb)


def estimate(
    plan: Plan,
    region: str,
    s3_gb: float | None = None,
    prices: Mapping[str, Mapping[str, Price]] | None = None,
    cloud: CloudCosts = aws.CLOUD,
) -> Estimate:
    """Price the plan's quantities with the region's table; lines without a price stay out of the total.
    `s3_gb` is the backup store's size on any cloud (S3, Blob Storage, Cloud Storage)."""
    lines, assumptions = quantities(plan, s3_gb, cloud)
    table = (cloud.prices if prices is None else prices).get(region, {})
    for line in lines:
        price = table.get(line.price_key)
        if price is None:
            line.source = f"no price table entry for {line.price_key} in {region or 'no region'}"
            continue
        line.source, line.note = price.source, price.note
        if price.usd is not None:
            line.unit_price = price.usd
            line.monthly = round(line.quantity * price.usd, 2)
    return Estimate(
        plan.stack, region, lines, assumptions, prices_as_of=cloud.prices_read_on, not_modelled=cloud.not_modelled
    )


# ----------------------------------------------------------------------------------------------- output


def _money(value: float | None) -> str:
    return "excluded" if value is None else f"${value:,.2f}"


def render_text(est: Estimate) -> str:
    rows = [
        (
            line.item,
            f"{line.quantity:,.0f} {line.unit}",
            "not found" if line.unit_price is None else f"${line.unit_price:g}",
            _money(line.monthly),
        )
        for line in est.lines
    ]
    widths = [max(len(r[i]) for r in [*rows, ("item", "quantity", "unit price", "monthly")]) for i in range(4)]

    def fmt(r: tuple[str, ...]) -> str:
        return f"  {r[0]:<{widths[0]}}  {r[1]:>{widths[1]}}  {r[2]:>{widths[2]}}  {r[3]:>{widths[3]}}"

    out = [
        f"stack {est.stack} ({est.region}): monthly cost, {est.currency}",
        f"  estimate, on-demand list prices as of {est.prices_as_of}",
        "",
        fmt(("item", "quantity", "unit price", "monthly")),
    ]
    out += [fmt(r) for r in rows]
    out.append(fmt(("total of priced lines", "", "", _money(est.total))))
    if est.excluded:
        out += ["", "  NOT in the total (no price found): " + "; ".join(est.excluded)]
    out += [
        "",
        "  assumptions: " + "; ".join(est.assumptions),
        "  not modelled: " + "; ".join(est.not_modelled),
        "  price sources:",
    ]
    seen = set()
    for line in est.lines:
        key = (line.price_key, line.source)
        if key not in seen:
            seen.add(key)
            out.append(f"    {line.price_key}: {line.source}" + (f" ({line.note})" if line.note else ""))
    return "\n".join(out)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stack", action="append", help="stack name (repeatable); default: every Pulumi.<stack>.yaml")
    parser.add_argument("--json", action="store_true", help="print the estimates as JSON")
    parser.add_argument(
        "--s3-gb",
        type=float,
        help="backup storage in GB (S3, Blob Storage or Cloud Storage) instead of the stated assumption",
    )


def cloud_of(config: Mapping[str, str]) -> CloudCosts:
    name = config.get("pg-platform:cloud") or "aws"
    if name not in CLOUDS:
        raise CostError(f"pg-platform:cloud = {name!r}: no cost module for it (tools/cost/ has {', '.join(CLOUDS)})")
    if name == kubernetes.CLOUD.name:
        return kubernetes.on(kubernetes.host_of(config))  # the host's prices and region key
    return CLOUDS[name]


def main(args: argparse.Namespace) -> int:
    from stacks.files import engine_config, stack_names
    from tools.runner import run_stack

    estimates = []
    for stack in args.stack or stack_names():
        config = engine_config(stack)
        cloud = cloud_of(config)
        plan = run_stack(stack)
        try:
            estimates.append(estimate(plan, config.get(cloud.region_key) or "", args.s3_gb, cloud=cloud))
        except CostError as error:
            print(f"tools cost: stack {stack}: {error}", file=sys.stderr)
            return 2
    if args.json:
        print(json.dumps([e.to_json() for e in estimates], indent=2))
    else:
        print("\n\n".join(render_text(e) for e in estimates))
    return 0
