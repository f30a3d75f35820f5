"""The fake cloud shapes every type a stack creates as its cloud would: an unshaped type gets a bare id and no
computed outputs, which would let a component read an output no provider returns under that name."""

from __future__ import annotations

import pytest

from stacks.files import stack_names
from tools.fakecloud import FakeCloud
from tools.fakecloud.core import mangled
from tools.runner import run_stack


@pytest.mark.parametrize("stack", stack_names())
def test_every_created_type_has_a_shape(stack):
    plan = run_stack(stack)
    unshaped = {r.type for r in plan.resources if r.custom and not hasattr(FakeCloud, "_" + mangled(r.type))}
    assert not unshaped, f"add shapes for {sorted(unshaped)} to tools/fakecloud/<cloud>.py"


def test_tokens_mangle_to_method_names():
    assert mangled("azure-native:network:VirtualNetwork") == "azure_native_network_VirtualNetwork"
    assert mangled("aws:ec2/instance:Instance") == "aws_ec2_instance_Instance"
