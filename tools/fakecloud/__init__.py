"""The fake cloud of the offline runner: outputs a provider would compute (ids, ARNs, resource ids, addresses),
shaped as each cloud returns them and deterministic from the URN. One module of shapes per cloud; a new cloud
adds its module here."""

from __future__ import annotations

from tools.fakecloud.aws import FAKE_ACCOUNT, AwsShapes
from tools.fakecloud.azure import AzureShapes
from tools.fakecloud.core import FakeCloudBase
from tools.fakecloud.gcp import GcpShapes
from tools.fakecloud.kubernetes import KubernetesShapes
from tools.fakecloud.local import LocalShapes


class FakeCloud(AwsShapes, AzureShapes, GcpShapes, KubernetesShapes, LocalShapes, FakeCloudBase):
    pass


__all__ = ["FAKE_ACCOUNT", "FakeCloud"]
