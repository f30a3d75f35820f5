"""Reading a VM cloud's configure and leave steps out of a plan (components/configure_step.py builds both)."""

from __future__ import annotations

import shlex

from dataplane import configure_agent
from tools.records import Plan, ResourceRecord

COMMAND = "command:local:Command"


def configure_step(plan: Plan) -> ResourceRecord:
    (step,) = [r for r in plan.by_type(COMMAND) if r.name.endswith("-post-provision-configure")]
    return step


def members_of(argv: list[str]) -> dict[str, tuple[str, dict]]:
    """Member name -> (where it is reached, its decoded bundle), from `--member NAME WHERE BUNDLE` arguments."""
    return {
        argv[i + 1]: (argv[i + 2], configure_agent.decode(argv[i + 3]))
        for i, word in enumerate(argv)
        if word == "--member"
    }


def bundles(step: ResourceRecord) -> dict[str, dict]:
    return {name: bundle for name, (_, bundle) in members_of(shlex.split(step.inputs["create"])).items()}


def leave_steps(plan: Plan) -> dict[str, ResourceRecord]:
    return {r.name.rsplit("-leave-", 1)[1]: r for r in plan.by_type(COMMAND) if "-post-provision-leave-" in r.name}


def patroni_file(bundle: dict) -> str:
    return next(f["content"] for f in bundle["files"] if f["path"] == bundle["patroni_config"])


def handover_steps(plan: Plan) -> dict[str, ResourceRecord]:
    return {
        r.name.rsplit("-handover-", 1)[1]: r for r in plan.by_type(COMMAND) if "-post-provision-handover-" in r.name
    }
