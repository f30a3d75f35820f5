"""The monthly cost estimate: quantities as the graph has them, a total that is the sum of its priced lines."""

from __future__ import annotations

import copy
import json

import pytest

from stacks.files import engine_config
from tools import cost
from tools.records import ResourceRecord
from tools.runner import run_stack

STACKS = ("dev", "prod")
H = cost.HOURS_PER_MONTH


@pytest.fixture(scope="module")
def plans():
    return {stack: run_stack(stack) for stack in STACKS}


@pytest.fixture(scope="module")
def estimates(plans):
    return {stack: cost.estimate(plan, engine_config(stack)["aws:region"]) for stack, plan in plans.items()}


def _line(est, prefix):
    found = [line for line in est.lines if line.item.startswith(prefix)]
    assert len(found) == 1, (prefix, [line.item for line in est.lines])
    return found[0]


def test_prod_counts_match_the_graph(estimates, plans):
    est, plan = estimates["prod"], plans["prod"]
    assert _line(est, "EC2 r7i.xlarge").quantity == 3 * H  # the members
    assert _line(est, "EC2 m7i.large").quantity == 1 * H  # the monitoring node
    assert sum(line.quantity for line in est.lines if line.item.startswith("EC2 ")) == 4 * H
    assert _line(est, "EBS gp3 postgres-data volumes x3").quantity == 3 * 500
    roots = [r.inputs["rootBlockDevice"]["volumeSize"] for r in plan.by_type("aws:ec2/instance:Instance")]
    assert _line(est, "EBS gp3 root volumes x4").quantity == sum(roots)
    others = [
        r.inputs["size"] for r in plan.by_type("aws:ebs/volume:Volume") if r.inputs["tags"]["role"] != "postgres-data"
    ]
    assert sum(
        line.quantity for line in est.lines if line.item.startswith("EBS gp3 ") and line.unit == "GB-month"
    ) == 3 * 500 + sum(roots) + sum(others)
    assert _line(est, "EBS gp3 IOPS").quantity == 3 * (6000 - 3000)
    assert _line(est, "EBS gp3 throughput").quantity == 3 * (250 - 125)
    assert _line(est, "NAT gateway x1").quantity == H
    endpoints = _line(est, "Interface endpoints x7 (21 endpoint-zones)")
    assert endpoints.quantity == 7 * 3 * H
    assert _line(est, "Network Load Balancer x1").quantity == H
    assert _line(est, "Public IPv4 addresses x1").quantity == H  # the NAT gateway's address; nodes have none
    assert _line(est, "KMS customer keys").quantity == len(plan.by_type("aws:kms/key:Key"))
    assert _line(est, "Secrets Manager secrets").quantity == len(plan.by_type("aws:secretsmanager/secret:Secret"))
    assert _line(est, "CloudWatch alarms").quantity == len(plan.by_type("aws:cloudwatch/metricAlarm:MetricAlarm"))
    assert _line(est, "Route 53 hosted zones x1").quantity == 1


def test_dev_counts_match_the_graph(estimates):
    est = estimates["dev"]
    assert _line(est, "EC2 t3.large x1").quantity == H
    assert _line(est, "EC2 t3.medium x1").quantity == H
    assert _line(est, "EBS gp3 postgres-data volumes x1").quantity == 50
    assert _line(est, "EBS gp3 IOPS").quantity == 0  # 3,000 IOPS is the free baseline
    assert _line(est, "Interface endpoints x7 (14 endpoint-zones)").quantity == 7 * 2 * H


@pytest.mark.parametrize("stack", STACKS)
def test_total_is_the_sum_of_its_priced_lines(estimates, stack):
    est = estimates[stack]
    priced = [line for line in est.lines if line.unit_price is not None]
    assert priced
    for line in priced:
        assert line.monthly == round(line.quantity * line.unit_price, 2)
    assert est.total == round(sum(line.monthly for line in priced), 2)
    assert set(est.excluded) == {line.item for line in est.lines if line.unit_price is None and line.quantity}
    data = est.to_json()
    assert (
        data["total"] == est.total and data["label"] == f"estimate, on-demand list prices as of {cost.PRICES_READ_ON}"
    )
    assert json.loads(json.dumps(data)) == data


@pytest.mark.parametrize("stack", STACKS)
def test_text_is_labelled_and_names_what_it_leaves_out(estimates, stack):
    text = cost.render_text(estimates[stack])
    assert f"estimate, on-demand list prices as of {cost.PRICES_READ_ON}" in text
    assert f"${estimates[stack].total:,.2f}" in text
    for item in estimates[stack].excluded:
        assert item in text
    assert "NOT in the total" in text and "assumptions:" in text


def test_every_price_says_where_it_is_from_and_none_is_invented():
    for table in cost.PRICES.values():
        for key, price in table.items():
            assert price.source, key
            if price.usd is None:
                assert price.source.startswith("not found"), key
            else:
                assert price.usd > 0 and "." in price.source, key


@pytest.mark.parametrize("stack", STACKS)
def test_every_resource_type_is_classified(plans, stack):
    assert cost.unclassified(plans[stack]) == []


def test_an_unclassified_type_fails_loudly(plans):
    plan = copy.deepcopy(plans["dev"])
    plan.resources.append(
        ResourceRecord(
            urn="urn:x",
            type="aws:rds/instance:Instance",
            name="pgp-dev-x",
            custom=True,
            parent=None,
            inputs={},
            secret_paths=[],
            dependencies=[],
            property_dependencies={},
            provider=None,
            protect=False,
        )
    )
    with pytest.raises(ValueError, match="aws:rds/instance:Instance"):
        cost.estimate(plan, "eu-central-1")


def test_a_region_without_a_price_table_prices_nothing(plans):
    est = cost.estimate(plans["dev"], "ap-south-2")
    assert est.total == 0 and all(line.monthly is None for line in est.lines)


def test_s3_assumption_is_stated_and_overridable(plans):
    est = cost.estimate(plans["prod"], "eu-central-1", s3_gb=1234)
    assert _line(est, "S3 Standard").quantity == 1234
    assert any("1234 GB" in a for a in est.assumptions)
