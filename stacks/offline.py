"""Settings straight from a stack file, for tools that run without the Pulumi engine (sandbox, topology).

`python -m stacks.offline profile <stack>` prints the profile the stack's stage inherits (what picks the policy
pack's config in CI), or the settings' problems and exit status 2.
"""

from __future__ import annotations

import sys
from pathlib import Path

from stacks.errors import UserError
from stacks.files import ROOT, stack_config
from stacks.settings import Settings, parse_config


def settings_for_stack(stack: str, root: Path = ROOT) -> Settings:
    config = stack_config(stack, root)
    return parse_config(config.values, stack=stack, secret_keys=config.secret_keys)


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] != "profile":
        print("usage: python -m stacks.offline profile <stack>", file=sys.stderr)
        return 2
    try:
        print(settings_for_stack(argv[1]).profile.name)
    except UserError as error:
        print(f"stack {argv[1]}: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
