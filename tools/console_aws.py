"""A deployed AWS stack as a target of the operator console (`pgp --stack NAME`): the member commands of
dataplane/console.py run as root on the instances through Systems Manager, found by the stack's `inventory`
output. The stack file gives what the program rendered (paths, ports, scope), so nothing is guessed."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from components.aws.duties import DUTY_SESSION_SECONDS
from dataplane import configure
from dataplane.console import ConsoleError, Inventory, Ran, alerts_command, journal_command
from dataplane.journal import S3Journal
from dataplane.member_tools import member_tool_files
from dataplane.model import ClusterSpec, Member
from dataplane.operations import PATRONICTL_COMMAND
from stacks.ports import PORTS

ROOT = Path(__file__).resolve().parents[1]
# The SSM helpers are the scripts pulumi-command runs (scripts/ is not a package).
if str(ROOT / "scripts") not in sys.path:
    sys.path.insert(0, str(ROOT / "scripts"))


def stack_outputs(stack: str, outputs_file: Path | None) -> dict[str, Any]:
    """`pulumi stack output --json --show-secrets` is not needed: the inventory holds no secret."""
    if outputs_file is not None:
        try:
            return dict(json.loads(outputs_file.read_text()))
        except (OSError, ValueError) as error:
            raise ConsoleError(f"--outputs {outputs_file}: {error}") from None
    try:
        done = subprocess.run(
            ["pulumi", "stack", "output", "--json", "--stack", stack], capture_output=True, text=True, timeout=120
        )
    except FileNotFoundError:
        raise ConsoleError(
            "the Pulumi CLI is not installed: install it, or pass --outputs FILE from `pulumi stack output --json`"
        ) from None
    if done.returncode != 0:
        raise ConsoleError(f"pulumi stack output --stack {stack}: {done.stderr.strip()[-500:]}")
    return dict(json.loads(done.stdout))


# STS's own limits: a session chained from another role's session lasts at most an hour, and a session name is
# 2 to 64 characters of [\w+=,.@-].
CHAINED_SESSION_SECONDS = 3600
SESSION_NAME_PREFIX = "pgp-"
SESSION_NAME_LONGEST = 64
_SESSION_NAME_REFUSED = re.compile(r"[^\w+=,.@-]")
MFA_CODE = re.compile(r"^\d{6}$")


def session_name(caller_arn: str) -> str:
    """`pgp-<who>`: the caller's own name (an IAM user's name, an assumed role's session name, `root`), so the
    duty session's ARN, which the journal and CloudTrail record, says who took the duty."""
    resource = caller_arn.split(":", 5)[-1]
    who = "root" if resource == "root" else resource.rsplit("/", 1)[-1]
    cleaned = _SESSION_NAME_REFUSED.sub("-", who) or "unknown"
    return (SESSION_NAME_PREFIX + cleaned)[:SESSION_NAME_LONGEST]


def assume_role_request(role_arn: str, caller_arn: str, mfa: tuple[str, str] | None = None) -> dict[str, Any]:
    """sts:AssumeRole's parameters for a duty: named after the caller, as long as the role allows unless the
    caller is itself a role's session (STS caps a chained session at an hour), with the MFA device and code
    when the caller's own credentials carry no MFA."""
    chained = ":assumed-role/" in caller_arn
    request: dict[str, Any] = {
        "RoleArn": role_arn,
        "RoleSessionName": session_name(caller_arn),
        "DurationSeconds": CHAINED_SESSION_SECONDS if chained else DUTY_SESSION_SECONDS,
    }
    if mfa is not None:
        serial, code = mfa
        if not MFA_CODE.match(code):
            raise ConsoleError(f"--mfa-code {code!r}: the six digits the MFA device shows")
        request |= {"SerialNumber": serial, "TokenCode": code}
    return request


def duty_role_arn(outputs: dict[str, Any], duty: str) -> str:
    found = (outputs.get("duty_role_arns") or {}).get(duty)
    if not found:
        raise ConsoleError(f"--as {duty}: the stack outputs name no {duty} role (duty_role_arns): run `pulumi up`")
    return str(found)


def aws_spec(stack: str, bucket: str) -> ClusterSpec:
    from components.aws.spec import s3_repository_for_bucket
    from components.spec import cluster_spec
    from stacks.offline import settings_for_stack
    from stacks.topology import derive_topology

    settings = settings_for_stack(stack)
    return cluster_spec(settings, derive_topology(settings), s3_repository_for_bucket(settings, bucket))


class AwsTarget:
    """`duty`: act as the stage's role for that duty (`pgp --as`), assumed once, for every call the console makes;
    None: with the caller's own credentials. `mfa`: the MFA device's ARN and its current code."""

    def __init__(
        self,
        stack: str,
        outputs: dict[str, Any],
        ssm: Any = None,
        duty: str | None = None,
        mfa: tuple[str, str] | None = None,
    ):
        self.inventory_output = Inventory.from_outputs(outputs)
        self.outputs = outputs
        if self.inventory_output.cloud != "aws":
            raise ConsoleError(
                f"stack {stack} runs on {self.inventory_output.cloud}: the console reaches members through AWS "
                "Systems Manager only so far; use the cloud's own run-command service with the runbooks' commands"
            )
        self.bucket = str(outputs.get("backup_bucket", ""))
        self.spec = aws_spec(stack, self.bucket)
        self.where = f"stack {stack} (aws {self.inventory_output.region})"
        unknown = {m.name for m in self.spec.members} ^ set(self.inventory_output.members)
        if unknown:
            raise ConsoleError(
                f"the stack file and the deployed inventory name different members ({', '.join(sorted(unknown))}): "
                "run `pulumi up` so that the deployment matches the file"
            )
        self._ssm = ssm
        self.duty = duty
        self._duty_role = duty_role_arn(outputs, duty) if duty else None
        self._mfa = mfa
        self._session: Any = None

    def client(self, service: str) -> Any:
        """A client with the duty's session, or the caller's own credentials without a duty."""
        import boto3

        if self._duty_role is None:
            return boto3.client(service, region_name=self.inventory_output.region)
        if self._session is None:
            self._session = self._assume(boto3)
        return self._session.client(service, region_name=self.inventory_output.region)

    def _assume(self, boto3: Any) -> Any:
        assert self._duty_role is not None
        sts = boto3.client("sts", region_name=self.inventory_output.region)
        try:
            caller = str(sts.get_caller_identity()["Arn"])
            request = assume_role_request(self._duty_role, caller, self._mfa)
            credentials = sts.assume_role(**request)["Credentials"]
        except ConsoleError:
            raise
        except Exception as error:  # no session is the caller's to fix: say what the role asks for
            raise ConsoleError(
                f"--as {self.duty}: assuming {self._duty_role}: {type(error).__name__}: {error}. The role needs "
                "your identity to hold sts:AssumeRole on it, and MFA: use credentials from an MFA session, or pass "
                "--mfa-serial ARN --mfa-code CODE"
            ) from None
        return boto3.session.Session(
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
            region_name=self.inventory_output.region,
        )

    def ssm(self) -> Any:
        if self._ssm is None:
            self._ssm = self.client("ssm")
        return self._ssm

    def journal(self) -> S3Journal:
        """In the stack's locked backup bucket, as the duty (or with the operator's own credentials)."""
        return S3Journal(self.client("s3"), self.bucket, self.spec.scope)

    def who(self) -> str:
        """The AWS principal acting (the duty's session, named after its caller): what CloudTrail records for
        the same calls."""
        try:
            return str(self.client("sts").get_caller_identity()["Arn"])
        except ConsoleError:
            raise
        except Exception as error:  # no identity is an unattributed entry, not a lost one
            return f"unknown ({type(error).__name__})"

    def instance(self, member: Member) -> str:
        return str(self.inventory_output.members[member.name]["id"])

    def patronictl(self, member: Member) -> str:
        return PATRONICTL_COMMAND

    def run(self, member: Member, shell: str, timeout: float) -> Ran:
        return self._run_on(self.instance(member), member.name, shell, timeout)

    def _run_on(self, instance: str, name: str, shell: str, timeout: float) -> Ran:
        from ssm_run import run

        try:
            result = run(self.ssm(), [instance], shell, int(timeout))[instance]
        except TimeoutError as error:
            return Ran(124, "", f"{name} ({instance}): {error}")
        status = 0 if result["Status"] == "Success" else int(result.get("ResponseCode", 1) or 1)
        return Ran(status, result.get("StandardOutputContent", ""), result.get("StandardErrorContent", ""))

    def alertmanager_alerts(self) -> Ran:
        """Asked on the monitoring node through SSM: Alertmanager listens there and nowhere else."""
        node = self.inventory_output.monitoring_id
        if node is None:
            return Ran(1, "", "the stack's inventory names no monitoring node: run pulumi up once to export it")
        return self._run_on(node, "monitoring node", alerts_command("localhost", PORTS.alertmanager), 60)

    def client_endpoints(self) -> dict[str, dict[str, Any]]:
        found = self.outputs.get("endpoints")
        if not isinstance(found, dict) or not found:
            raise ConsoleError("the stack outputs have no `endpoints`: run `pulumi up` to export them")
        return found

    @contextmanager
    def client_login(self, role: str) -> Iterator[tuple[str, str]]:
        """The role's password from Secrets Manager (as the DBA duty, or the caller's own credentials), and the
        CA the stack exports, in a file only this user can read while psql runs."""
        secret = (self.outputs.get("app_role_secret_ids") or {}).get(role)
        ca = self.outputs.get("ca_certificate")
        if not secret or not isinstance(ca, str):
            raise ConsoleError("the stack outputs lack app_role_secret_ids or ca_certificate: run `pulumi up`")
        client = self.client("secretsmanager")
        try:
            password = client.get_secret_value(SecretId=secret)["SecretString"]
        except Exception as error:  # no access is the operator's to fix: say which secret
            raise ConsoleError(f"reading {secret}: {type(error).__name__}: {error}") from None
        with tempfile.NamedTemporaryFile("w", prefix="pgp-ca-", suffix=".crt") as ca_file:
            ca_file.write(ca)
            ca_file.flush()
            yield str(password), ca_file.name

    def tool_command(self, member: Member, path: str, argv: list[str]) -> str:
        # The configure step installed it (dataplane/member_tools.py): the timer's own file runs.
        return shlex.join([path, *argv])

    def service_log_command(self, member: Member, service: str, lines: int, since: str | None) -> str:
        return journal_command(service, lines, since)

    def inventory(self) -> dict[str, Any]:
        found = self.inventory_output
        return {"cloud": found.cloud, "region": found.region, "scope": found.scope, "members": found.members}

    def config_diff(self) -> list[dict[str, Any]]:
        """The configure agent's diff mode on each member, with the bundle the program renders now, through the
        configure step's own SSM runner."""
        from ssm_configure import MemberFailed, ssm_runner

        members = {
            m.name: (self.instance(m), configure.encoded(self.spec, m, member_tool_files(self.spec, m)))
            for m in self.spec.members
        }
        run_on = ssm_runner(self.ssm(), members)
        try:
            return [run_on(name, "diff") for name in members]
        except MemberFailed as failed:
            raise ConsoleError(f"config diff: {failed}") from None
