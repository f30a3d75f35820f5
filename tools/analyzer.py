"""Run the policy pack the way the Pulumi engine does and talk to it over the analyzer gRPC protocol.

What the engine does (sdk/go/common/resource/plugin/analyzer_plugin.go, legacy path used for python packs):
  * starts `pulumi-analyzer-policy-python <engine-address> .` in the pack directory, which runs
    `<venv>/bin/python -u -m pulumi.policy <engine-address> .` (runpy of the pack's __main__.py); env carries
    PULUMI_CONFIG (the stack's config as JSON), PULUMI_PROJECT, PULUMI_STACK, PULUMI_DRY_RUN, PULUMI_ORGANIZATION;
  * reads the port the pack prints as the first line of stdout and dials 127.0.0.1:<port>;
  * Handshake and ConfigureStack (both optional: UNIMPLEMENTED is fine), GetAnalyzerInfo, GetPluginInfo;
  * reconciles the policy config (schema defaults, the pack's initial config, then the --policy-pack-config
    file with its "all" key), validates it against each policy's JSON schema and sends Configure;
  * Analyze once per resource with its inputs (secrets as secret sentinels, unknowns as unknown sentinels,
    internal `__` keys skipped), options and provider; AnalyzeStack once with every resource's outputs (final
    state), options, parents, dependencies and property dependencies.
Here the engine address is never dialled by the Python policy runtime, so none is served.
"""

from __future__ import annotations

import json
import os
import queue
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

from tools.protocol import SECRET_SIG, SIG_KEY
from tools.records import Plan, ResourceRecord

ROOT = Path(__file__).resolve().parent.parent
PACK_DIR = ROOT / "policy"
LEVELS = {
    analyzer_pb2.ADVISORY: "advisory",
    analyzer_pb2.MANDATORY: "mandatory",
    analyzer_pb2.DISABLED: "disabled",
    analyzer_pb2.REMEDIATE: "remediate",
}
LEVEL_CODES = {v: k for k, v in LEVELS.items()}
SEVERITIES = {
    analyzer_pb2.POLICY_SEVERITY_UNSPECIFIED: "",
    analyzer_pb2.POLICY_SEVERITY_LOW: "low",
    analyzer_pb2.POLICY_SEVERITY_MEDIUM: "medium",
    analyzer_pb2.POLICY_SEVERITY_HIGH: "high",
    analyzer_pb2.POLICY_SEVERITY_CRITICAL: "critical",
}
STARTUP_TIMEOUT_SECONDS = 60
MAX_MESSAGE = 400 * 1024 * 1024  # the SDK's own limit
OFFLINE_ENGINE_ADDRESS = "127.0.0.1:0"


class AnalyzerError(RuntimeError):
    pass


@dataclass
class PolicyMeta:
    name: str
    title: str
    description: str
    enforcement_level: str  # the pack's default, before configuration
    severity: str
    remediation: str
    framework: str
    reference: str
    tags: list[str]
    scope: str  # resource | stack
    config_schema: dict[str, Any]
    required: list[str]


@dataclass
class Diagnostic:
    policy: str
    level: str
    severity: str
    message: str
    description: str
    urn: str
    phase: str  # analyze | analyze-stack
    pack: str = ""
    pack_version: str = ""

    @property
    def detail(self) -> str:
        """The violation without the repeated description the SDK prefixes."""
        if self.message.startswith(self.description):
            return self.message[len(self.description) :].strip() or self.description
        return self.message

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "detail": self.detail}


@dataclass
class Analysis:
    pack: str
    version: str
    policies: dict[str, PolicyMeta]
    config: dict[str, dict[str, Any]]  # reconciled: {"enforcementLevel": ..., **properties}
    diagnostics: list[Diagnostic] = field(default_factory=list)
    not_applicable: list[dict[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    def by_level(self, level: str) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.level == level]

    @property
    def mandatory(self) -> list[Diagnostic]:
        return self.by_level("mandatory")

    def to_json(self) -> dict[str, Any]:
        return {
            "pack": self.pack,
            "version": self.version,
            "seconds": round(self.seconds, 3),
            "policies": {k: asdict(v) for k, v in self.policies.items()},
            "config": self.config,
            "diagnostics": [d.to_json() for d in self.diagnostics],
            "not_applicable": self.not_applicable,
        }


# --- property encoding ------------------------------------------------------------------------------------

_PATH_TOKEN = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _path(path: str) -> list[str | int]:
    return [int(i) if i else k for k, i in _PATH_TOKEN.findall(path)]


def wrap_secrets(inputs: dict[str, Any], secret_paths: Iterable[str]) -> dict[str, Any]:
    """The engine marks secret values with the secret signature; the runner recorded where they were."""
    out = json.loads(json.dumps(inputs))
    for path in sorted(secret_paths, key=lambda p: -len(_path(p))):
        keys = _path(path)
        if not keys:
            continue
        parent: Any = out
        try:
            for k in keys[:-1]:
                parent = parent[k]
            last = keys[-1]
            value = parent[last]
        except (KeyError, IndexError, TypeError):
            continue
        if isinstance(value, dict) and value.get(SIG_KEY) == SECRET_SIG:
            continue
        parent[last] = {SIG_KEY: SECRET_SIG, "value": value}
    return out


def to_struct(inputs: dict[str, Any], secret_paths: Iterable[str] = ()) -> struct_pb2.Struct:
    props = {k: v for k, v in wrap_secrets(inputs, secret_paths).items() if not k.startswith("__")}
    s = struct_pb2.Struct()
    s.update(props)
    return s


def resource_options(record: ResourceRecord) -> analyzer_pb2.AnalyzerResourceOptions:
    return analyzer_pb2.AnalyzerResourceOptions(
        protect=record.protect,
        parent=record.parent or "",
        customTimeouts=analyzer_pb2.AnalyzerResourceOptions.CustomTimeouts(),
    )


# --- policy config (the engine's ReconcilePolicyPackConfig) -----------------------------------------------


def load_pack_config(path: Path | str | None) -> dict[str, Any]:
    if path is None:
        return {}
    text = Path(path).read_text()
    return json.loads(text) if text.strip() else {}


def _split(value: Any) -> tuple[str | None, dict[str, Any]]:
    if isinstance(value, str):
        return value, {}
    if isinstance(value, dict):
        props = dict(value)
        return props.pop("enforcementLevel", None), props
    raise AnalyzerError(f"policy config value {value!r} must be a string or an object")


def reconcile(
    policies: dict[str, PolicyMeta], initial: dict[str, Any], given: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    result: dict[str, tuple[str, dict[str, Any]]] = {}
    for name, meta in policies.items():
        defaults = {k: v["default"] for k, v in meta.config_schema.items() if isinstance(v, dict) and "default" in v}
        result[name] = (meta.enforcement_level, defaults)
    for layer in (initial, given):
        if not layer:
            continue
        all_level, _ = _split(layer["all"]) if "all" in layer else (None, {})
        if all_level:
            if all_level not in LEVEL_CODES:
                raise AnalyzerError(f"'all': {all_level!r} is not an enforcement level")
            result = {k: (all_level, v) for k, (_, v) in result.items()}
        for name, value in layer.items():
            if name == "all":
                continue
            if name not in result:
                raise AnalyzerError(f"policy config names {name!r}, which the pack does not have")
            level, props = _split(value)
            if level is not None and level not in LEVEL_CODES:
                raise AnalyzerError(f"{name}: {level!r} is not an enforcement level")
            old_level, old_props = result[name]
            result[name] = (level or old_level, {**old_props, **props})
    errors = []
    try:
        import jsonschema
    except ImportError:  # the engine always validates; without jsonschema we at least keep the types honest
        jsonschema = None
    for name, (_level, props) in result.items():
        meta = policies[name]
        if jsonschema is None or not meta.config_schema:
            continue
        schema = {"type": "object", "properties": meta.config_schema}
        if meta.required:
            schema["required"] = meta.required
        for err in jsonschema.Draft7Validator(schema).iter_errors(props):
            errors.append(f"{name}: {'/'.join(map(str, err.path)) or '(root)'}: {err.message}")
    if errors:
        raise AnalyzerError("policy pack configuration is invalid:\n  " + "\n  ".join(errors))
    return {name: {"enforcementLevel": level, **props} for name, (level, props) in result.items()}


# --- the client --------------------------------------------------------------------------------------------


class PolicyAnalyzer:
    """One running policy pack. Use as a context manager; the subprocess is stopped on exit."""

    def __init__(
        self,
        pack_dir: Path = PACK_DIR,
        *,
        project: str = "pg-platform",
        stack: str = "dev",
        stack_config: dict[str, str] | None = None,
        python: str | None = None,
        dry_run: bool = True,
        organization: str = "organization",
    ):
        self.pack_dir = Path(pack_dir)
        self.project, self.stack, self.dry_run, self.organization = project, stack, dry_run, organization
        self.stack_config = dict(stack_config or {})
        self.python = python or _pack_python(self.pack_dir)
        self.proc: subprocess.Popen | None = None
        self.channel: grpc.Channel | None = None
        self.stub: analyzer_pb2_grpc.AnalyzerStub | None = None
        self.info: analyzer_pb2.AnalyzerInfo | None = None
        self.policies: dict[str, PolicyMeta] = {}
        self.config: dict[str, dict[str, Any]] = {}
        self.plugin_version = ""
        self.version = ""
        self._stderr: list[str] = []

    # lifecycle ------------------------------------------------------------------------------------------
    def __enter__(self) -> PolicyAnalyzer:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def start(self) -> None:
        env = dict(os.environ)
        for k in ("PULUMI_CONFIG", "PULUMI_CONFIG_SECRET_KEYS"):
            env.pop(k, None)
        if self.stack_config:
            env["PULUMI_CONFIG"] = json.dumps(self.stack_config)
        env.update(
            {
                "PULUMI_PROJECT": self.project,
                "PULUMI_STACK": self.stack,
                "PULUMI_DRY_RUN": "true" if self.dry_run else "false",
                "PULUMI_ORGANIZATION": self.organization,
            }
        )
        # The pack must import nothing from the project: the program's directory is not on its path.
        env.pop("PYTHONPATH", None)
        self.proc = subprocess.Popen(
            [self.python, "-u", "-m", "pulumi.policy", OFFLINE_ENGINE_ADDRESS, "."],
            cwd=self.pack_dir,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        port = self._read_port()
        self.channel = grpc.insecure_channel(
            f"127.0.0.1:{port}",
            options=[("grpc.max_receive_message_length", MAX_MESSAGE), ("grpc.max_send_message_length", MAX_MESSAGE)],
        )
        grpc.channel_ready_future(self.channel).result(timeout=STARTUP_TIMEOUT_SECONDS)
        self.stub = analyzer_pb2_grpc.AnalyzerStub(self.channel)
        d = str(self.pack_dir)
        self._optional(
            self.stub.Handshake,
            analyzer_pb2.AnalyzerHandshakeRequest(
                engine_address=OFFLINE_ENGINE_ADDRESS, root_directory=d, program_directory=d
            ),
        )
        self._optional(
            self.stub.ConfigureStack,
            analyzer_pb2.AnalyzerStackConfigureRequest(
                stack=self.stack,
                project=self.project,
                organization=self.organization,
                dry_run=self.dry_run,
                config=self.stack_config,
            ),
        )
        self.info = self.stub.GetAnalyzerInfo(empty_pb2.Empty())
        # As the engine does, PulumiPolicy.yaml's version wins over what the SDK reports (always 0.0.1).
        self.version = _pack_version(self.pack_dir) or self.info.version
        self.policies = {p.name: _meta(p) for p in self.info.policies}
        self.plugin_version = self.stub.GetPluginInfo(empty_pb2.Empty()).version

    def _read_port(self) -> int:
        assert self.proc and self.proc.stdout and self.proc.stderr
        lines: queue.Queue[str] = queue.Queue()
        # Both pipes are drained for the pack's whole life, so a chatty pack never blocks on a full pipe.
        stdout, stderr = self.proc.stdout, self.proc.stderr

        def pump_stdout() -> None:
            for line in iter(stdout.readline, ""):
                lines.put(line)

        def pump_stderr() -> None:
            for line in iter(stderr.readline, ""):
                self._stderr.append(line)

        threading.Thread(target=pump_stdout, daemon=True).start()
        threading.Thread(target=pump_stderr, daemon=True).start()
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=0.1).strip()
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            if line.isdigit():
                return int(line)
        self.close()
        raise AnalyzerError("policy pack did not announce a port:\n" + "".join(self._stderr[-40:]))

    @staticmethod
    def _optional(call, request) -> None:
        try:
            call(request)
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.UNIMPLEMENTED:
                raise

    def close(self) -> None:
        if self.channel is not None:
            self.channel.close()
            self.channel = None
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            self.proc = None

    @property
    def stderr(self) -> str:
        return "".join(self._stderr)

    # protocol ---------------------------------------------------------------------------------------------
    def configure(self, pack_config: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
        assert self.stub and self.info
        initial = {
            k: {"enforcementLevel": LEVELS[v.enforcementLevel], **json_format.MessageToDict(v.properties)}
            for k, v in self.info.initialConfig.items()
        }
        self.config = reconcile(self.policies, initial, pack_config or {})
        request = analyzer_pb2.ConfigureAnalyzerRequest()
        for name, cfg in self.config.items():
            props = struct_pb2.Struct()
            props.update({k: v for k, v in cfg.items() if k != "enforcementLevel"})
            request.policyConfig[name].CopyFrom(
                analyzer_pb2.PolicyConfig(enforcementLevel=LEVEL_CODES[cfg["enforcementLevel"]], properties=props)
            )
        self.stub.Configure(request)
        return self.config

    def analyze(
        self,
        record: ResourceRecord,
        provider: analyzer_pb2.AnalyzerProviderResource | None = None,
    ) -> tuple[list[Diagnostic], list[dict[str, str]]]:
        assert self.stub
        request = analyzer_pb2.AnalyzeRequest(
            type=record.type,
            properties=to_struct(record.inputs, record.secret_paths),
            urn=record.urn,
            name=record.name,
            options=resource_options(record),
            provider=provider,
        )
        response = self.stub.Analyze(request)
        return self._diagnostics(response, "analyze", record.urn), _not_applicable(response)

    def analyze_stack(
        self,
        records: list[ResourceRecord],
        providers: dict[str, analyzer_pb2.AnalyzerProviderResource | None] | None = None,
    ) -> tuple[list[Diagnostic], list[dict[str, str]]]:
        assert self.stub
        providers = providers or {}
        resources = []
        for r in records:
            # Unlike Analyze, the engine gives AnalyzeStack each resource's outputs (its final state).
            state = r.outputs or r.inputs
            resources.append(
                analyzer_pb2.AnalyzerResource(
                    type=r.type,
                    properties=to_struct(state, r.secret_paths),
                    urn=r.urn,
                    name=r.name,
                    options=resource_options(r),
                    provider=providers.get(r.urn),
                    parent=r.parent or "",
                    dependencies=r.dependencies,
                    propertyDependencies={
                        k: analyzer_pb2.AnalyzerPropertyDependencies(urns=v)
                        for k, v in r.property_dependencies.items()
                        if v
                    },
                )
            )
        response = self.stub.AnalyzeStack(analyzer_pb2.AnalyzeStackRequest(resources=resources))
        return self._diagnostics(response, "analyze-stack", ""), _not_applicable(response)

    def analyze_plan(self, plan: Plan, pack_config: dict[str, Any] | None = None) -> Analysis:
        """Configure, Analyze every resource in registration order, then AnalyzeStack, as a preview does."""
        started = time.perf_counter()
        self.configure(pack_config)
        assert self.info is not None  # configure() needs the pack started, as this does
        providers = {r.urn: provider_for(r, plan, self.stack_config) for r in plan.resources}
        analysis = Analysis(self.info.name, self.version, self.policies, self.config)
        for r in plan.resources:
            if r.type.startswith("pulumi:providers:"):
                continue
            diags, na = self.analyze(r, providers[r.urn])
            analysis.diagnostics += diags
            analysis.not_applicable += na
        diags, na = self.analyze_stack(plan.resources, providers)
        analysis.diagnostics += diags
        analysis.not_applicable += na
        analysis.seconds = time.perf_counter() - started
        return analysis

    def _diagnostics(self, response: analyzer_pb2.AnalyzeResponse, phase: str, urn: str) -> list[Diagnostic]:
        return [
            Diagnostic(
                policy=d.policyName,
                level=LEVELS[d.enforcementLevel],
                severity=SEVERITIES[d.severity],
                message=d.message,
                description=d.description,
                urn=d.urn or urn,
                phase=phase,
                pack=d.policyPackName,
                pack_version=self.version or d.policyPackVersion,
            )
            for d in response.diagnostics
        ]


def _not_applicable(response: analyzer_pb2.AnalyzeResponse) -> list[dict[str, str]]:
    return [{"policy": n.policy_name, "reason": n.reason} for n in response.not_applicable]


def _meta(p: analyzer_pb2.PolicyInfo) -> PolicyMeta:
    return PolicyMeta(
        name=p.name,
        title=p.displayName or p.name,
        description=p.description,
        enforcement_level=LEVELS[p.enforcementLevel],
        severity=SEVERITIES[p.severity],
        remediation=p.remediation_steps,
        framework=p.framework.name,
        reference=p.framework.reference,
        tags=list(p.tags),
        scope={analyzer_pb2.POLICY_TYPE_RESOURCE: "resource", analyzer_pb2.POLICY_TYPE_STACK: "stack"}.get(
            p.policy_type, "?"
        ),
        config_schema=json_format.MessageToDict(p.configSchema.properties),
        required=list(p.configSchema.required),
    )


def _pack_version(pack_dir: Path) -> str:
    import yaml

    path = pack_dir / "PulumiPolicy.yaml"
    doc = yaml.safe_load(path.read_text()) if path.exists() else None
    return str(doc.get("version") or "") if isinstance(doc, dict) else ""


def _pack_python(pack_dir: Path) -> str:
    """The interpreter the engine would use: the pack's own venv if it has one, else the project's."""
    for candidate in (pack_dir / "venv" / "bin" / "python", ROOT / ".venv" / "bin" / "python"):
        if candidate.exists():
            return str(candidate)
    return sys.executable


def provider_for(
    record: ResourceRecord, plan: Plan, stack_config: dict[str, str]
) -> analyzer_pb2.AnalyzerProviderResource | None:
    """The provider the engine would report: the explicit provider resource, or the default provider whose
    inputs are the stack's `<package>:` config keys."""
    if record.type.startswith("pulumi:") or not record.custom:
        return None
    if record.provider:
        urn = record.provider.rsplit("::", 1)[0] if record.provider.count("::") > 3 else record.provider
        for r in plan.resources:
            if r.urn == urn:
                return analyzer_pb2.AnalyzerProviderResource(
                    type=r.type, urn=r.urn, name=r.name, properties=to_struct(r.inputs, r.secret_paths)
                )
    package = record.type.split(":", 1)[0]
    props = {k.split(":", 1)[1]: v for k, v in stack_config.items() if k.startswith(f"{package}:")}
    return analyzer_pb2.AnalyzerProviderResource(
        type=f"pulumi:providers:{package}",
        name="default",
        urn=f"urn:pulumi:{plan.stack}::{plan.project}::pulumi:providers:{package}::default",
        properties=to_struct(props),
    )


__all__ = [
    "Analysis",
    "AnalyzerError",
    "Diagnostic",
    "PolicyAnalyzer",
    "PolicyMeta",
    "load_pack_config",
    "provider_for",
    "reconcile",
    "to_struct",
]
