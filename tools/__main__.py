"""`python -m tools <command>`: each command lives in its own module, imported only when it runs, so the
sandbox and drills start without loading the Pulumi SDK and providers."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

# command -> (module, one-line help). Each module defines `add_arguments(parser)` and `main(args) -> int`.
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("tools.run", "run the program for stacks under the mock runtime and print the resource tree"),
    "topology": ("tools.topology_cmd", "print the derived topology of a stack with the reason for each choice"),
    "plan": ("tools.plan", "offline preview plus the policy pack over the analyzer protocol"),
    "diff": ("tools.diff", "compare two plans resource by resource (pull-request preview)"),
    "graph": ("tools.graph", "record a stack's resource graph, or check that a change keeps every resource"),
    "sandbox": ("tools.sandbox", "the local stage on loopback: up | status | down"),
    "drill": ("tools.drill", "measure the sandbox against the stage objectives"),
    "deployer-policy": ("tools.deployer_policy", "least-privilege IAM policy for the identity that deploys a stage"),
    "cost": ("tools.cost", "monthly cost estimate per stage at on-demand list prices"),
    "manifests": ("tools.manifests", "write a Kubernetes stack's objects as YAML files and validate them"),
    "revert": ("tools.revert", "undo a stage's failed first deployment, keeping its protected stateful resources"),
    "console": ("tools.console", "the operator console (installed as `pgp`): status, switchover, backups, ..."),
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="tools", description=__doc__)
    parser.add_argument(
        "command", choices=sorted(COMMANDS), help="; ".join(f"{k}: {v[1]}" for k, v in COMMANDS.items())
    )
    if not argv or argv[0] not in COMMANDS:
        parser.parse_args(argv[:1])  # prints usage and exits
    module = importlib.import_module(COMMANDS[argv[0]][0])
    sub = argparse.ArgumentParser(prog=f"tools {argv[0]}", description=COMMANDS[argv[0]][1])
    module.add_arguments(sub)
    args = sub.parse_args(argv[1:])
    from stacks.errors import UserError

    try:
        return int(module.main(args) or 0)
    except UserError as error:
        # Every command reports a user's mistake itself; this is the net for one raised outside those places.
        print(f"tools {argv[0]}: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader went away (`tools topology | head`): stop quietly, as a Unix filter does. Point stdout at
        # /dev/null so the interpreter's final flush does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
