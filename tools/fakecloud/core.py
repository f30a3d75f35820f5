"""The fake cloud's frame: what every cloud's shapes share (deterministic characters from the URN, the URN and
provider-chosen name of the registration in flight) and the dispatch to them. A resource type's shape is a
method named after its token, `_` + the token with `:`, `/` and `-` as `_`; an invoke's is `_call_` + the same."""

from __future__ import annotations

import contextlib
import threading
from typing import Any

from pulumi.runtime import mocks as pulumi_mocks

from tools.constraints import naming

ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def mangled(token: str) -> str:
    return token.replace(":", "_").replace("/", "_").replace("-", "_")


class FakeCloudBase(pulumi_mocks.Mocks):
    def __init__(self, config: dict[str, Any], region: str):
        self.config = config
        self.region = region
        self._current = threading.local()

    @contextlib.contextmanager
    def registering(self, urn: str | None, named: naming.Named | None):
        """The monitor's RegisterResource calls new_resource on the same thread: hand it the URN and the name
        the provider chose, which MockResourceArgs does not carry."""
        self._current.urn, self._current.named = urn, named
        try:
            yield
        finally:
            self._current.urn = self._current.named = None

    def _chars(self, seed: str, n: int, charset: str = naming.HEX, salt: str = "") -> str:
        return naming.deterministic_chars(seed, n, charset, salt)

    def _uuid(self, seed: str, salt: str = "uuid") -> str:
        h = self._chars(seed, 32, salt=salt)
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) % 4]}{h[17:20]}-{h[20:32]}"

    def new_resource(self, args: pulumi_mocks.MockResourceArgs):
        state = dict(args.inputs)
        urn = getattr(self._current, "urn", None) or f"{args.typ}::{args.name}"
        named = getattr(self._current, "named", None)
        if named is not None and not named.in_inputs:
            state[named.property] = named.value  # chosen by the provider at create, from the prefix
        shaper = getattr(self, "_" + mangled(args.typ), None)
        if shaper is not None:
            resource_id, computed = shaper(urn, state)
        else:
            # tests/unit/test_fake_cloud.py keeps every type a stack creates shaped; this is for ad-hoc programs.
            resource_id, computed = f"{args.name}-{self._chars(urn, 8)}", {}
        state.update({k: v for k, v in computed.items() if state.get(k) is None})
        return resource_id, state

    def call(self, args: pulumi_mocks.MockCallArgs):
        answer = getattr(self, "_call_" + mangled(args.token), None)
        return answer(args.args) if answer is not None else {}
