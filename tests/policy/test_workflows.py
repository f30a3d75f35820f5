"""The CI workflows call what exists: tools subcommands with flags they accept, the pack and its stage configs."""

from __future__ import annotations

import argparse
import importlib
import re
import shlex
from pathlib import Path

import yaml

from stacks.files import stack_names
from stacks.offline import settings_for_stack
from tools.__main__ import COMMANDS

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"


def _run_lines():
    for path in sorted(WORKFLOWS.glob("*.yml")):
        doc = yaml.safe_load(path.read_text())
        for job in doc["jobs"].values():
            for step in job.get("steps", []):
                for line in (step.get("run") or "").replace("\\\n", " ").splitlines():
                    yield path.name, line


def test_tools_invocations_parse():
    calls = 0
    for name, line in _run_lines():
        m = re.search(r"-m tools (.*?)(\|\||$)", line)
        if not m:
            continue
        text = re.sub(r"\$\{\{[^}]*\}\}|\$GITHUB_WORKSPACE|\"\$[a-z]+\"|\$[a-z]+", "X", m.group(1))
        argv = shlex.split(text.split(">", 1)[0])
        assert argv[0] in COMMANDS, (name, line)
        parser = argparse.ArgumentParser()
        importlib.import_module(COMMANDS[argv[0]][0]).add_arguments(parser)
        parser.parse_args(argv[1:])
        calls += 1
    assert calls >= 3


def test_deploy_uses_the_pack_with_each_stage_profiles_config():
    reusable = yaml.safe_load((WORKFLOWS / "pulumi-stack.yml").read_text())
    steps = reusable["jobs"]["pulumi"]["steps"]
    action = next(s for s in steps if str(s.get("uses", "")).startswith("pulumi/actions"))
    assert action["with"]["policyPacks"] == "policy"
    # The config is the stage's profile's (a staging stage inheriting prod is gated as prod).
    assert action["with"]["policyPackConfigs"] == "policy/config/${{ steps.profile.outputs.name }}.json"
    profile = next(s for s in steps if s.get("id") == "profile")
    assert "-m stacks.offline profile" in profile["run"]
    deploy = yaml.safe_load((WORKFLOWS / "deploy.yml").read_text())
    jobs = {job["with"]["stack"]: job for job in deploy["jobs"].values()}
    assert set(jobs) == set(stack_names())
    for stack, job in jobs.items():
        settings = settings_for_stack(stack)
        assert (ROOT / "policy" / "config" / f"{settings.profile.name}.json").exists()
        # The cloud picks the SDKs and the sign-in: it must be the stack file's.
        assert job["with"]["cloud"] == settings.cloud
        if settings.profile.name == "prod":
            # Each cloud's prod deploys only after that cloud's dev stage succeeded.
            dev = settings_for_stack(job["needs"])
            assert (dev.cloud, dev.profile.name) == (settings.cloud, "dev")
    assert deploy["jobs"]["prod"]["needs"] == "dev"


def test_pr_runs_the_readme_test_command():
    assert "bash scripts/test.sh" in (ROOT / "README.md").read_text()
    assert any("bash scripts/test.sh" in line for _, line in _run_lines())


def test_deploy_session_outlasts_the_first_backup():
    from components.aws.post_provision import backup_timeout

    reusable = yaml.safe_load((WORKFLOWS / "pulumi-stack.yml").read_text())
    job = reusable["jobs"]["pulumi"]
    creds = next(s for s in job["steps"] if str(s.get("uses", "")).startswith("aws-actions/configure-aws-credentials"))
    longest = max(backup_timeout(settings_for_stack(s).cluster.disk_size_gb) for s in stack_names())
    assert int(creds["with"]["role-duration-seconds"]) > longest
    assert int(job["timeout-minutes"]) * 60 >= int(creds["with"]["role-duration-seconds"])
    action = next(s for s in job["steps"] if str(s.get("uses", "")).startswith("pulumi/actions"))
    assert action["with"]["upsert"] is True


def test_a_deploy_installs_only_its_clouds_sdks():
    def resolved(path: Path) -> list[str]:
        lines = []
        for line in path.read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            if line.startswith("-r "):
                lines += resolved(path.parent / line[3:].strip())
            elif line:
                lines.append(re.split(r"[<>=\[ ]", line, maxsplit=1)[0])
        return lines

    providers = {"aws": "pulumi-aws", "azure": "pulumi-azure-native", "gcp": "pulumi-gcp"}
    for cloud, provider in providers.items():
        deploy_set = resolved(ROOT / "requirements" / f"{cloud}.txt")
        assert provider in deploy_set
        others = [p for p in deploy_set if re.match(r"pulumi-(aws|azure|gcp|kubernetes)", p) and p != provider]
        assert not others, (cloud, others)
    # What Pulumi's pip toolchain installs (Pulumi.yaml) is the AWS deploy set, not the tools' extras.
    assert resolved(ROOT / "requirements.txt") == resolved(ROOT / "requirements" / "aws.txt")
    reusable = (WORKFLOWS / "pulumi-stack.yml").read_text()
    assert '-r "requirements/$CLOUD.txt"' in reusable and "CLOUD: ${{ inputs.cloud }}" in reusable
