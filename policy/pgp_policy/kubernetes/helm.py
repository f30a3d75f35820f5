"""Helm: the operator, its backup plugin and the monitoring stack come from pinned chart versions over TLS, so a
plan says exactly which operator (and which CRDs) a stage runs, and an upstream release changes nothing until a
commit moves the pin."""

from __future__ import annotations

import re

from pulumi_policy import Severity

from ..core import Rule, dig, resource_policy
from .types import CLOUD, HELM_TYPES

AREA = "kubernetes"
EXACT_VERSION = re.compile(r"\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?")
SECURE_SCHEMES = ("https://", "oci://")

HELM_001 = Rule(
    id="PGP-KUBERNETES-HELM-001",
    title="Helm charts pinned to an exact version, fetched over TLS",
    why="An unpinned chart or a version range installs whatever was released last, operator and CRDs included, "
    "on the next `pulumi up`; a plain-HTTP repository lets anyone on the path substitute the chart.",
    description="Every Helm release names an exact chart version (semantic version, no range) and its "
    "repository is https:// or oci://.",
    severity=Severity.HIGH,
    control="seed: configuration changes are made as code; supply chain (pinned artefacts)",
    area=AREA,
    scope="resource",
    clouds=(CLOUD,),
    remediation="Pin the chart in dataplane/cnpg.py (OPERATOR_CHART, BARMAN_PLUGIN_CHART) or the monitoring "
    "component, e.g. version='0.29.0', repository_opts=RepositoryOptsArgs(repo='https://...').",
)


def _pinned(args, report) -> None:
    if args.resource_type not in HELM_TYPES:
        return
    chart = str(args.props.get("chart") or "")
    version = str(args.props.get("version") or "")
    if not EXACT_VERSION.fullmatch(version):
        report(f"{args.name}: chart {chart} version is {version or 'unset (the latest)'}, not an exact version")
    repo = str(dig(args.props, "repositoryOpts", "repo", default="") or "")
    source = repo or (chart if "://" in chart else "")
    if source and not source.startswith(SECURE_SCHEMES):
        report(f"{args.name}: chart {chart} comes from {source}, not over https:// or oci://")


POLICIES = [(HELM_001, resource_policy(HELM_001, _pinned))]
