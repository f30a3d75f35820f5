"""Read a `Pulumi.<stack>.yaml` into the flat key -> value map the engine hands a program.

Stricter than `yaml.safe_load`, as a stack file deserves: a key given twice, a YAML tag other than plain
scalars, lists and mappings, a number longer than any setting, a recursive alias, a file that is missing, not
UTF-8, not YAML or not a mapping are errors naming the file, the line and the config key, never a traceback.

Secure values (`{secure: v1:...}`, Pulumi's encrypted config) cannot be decrypted offline: there is no key.
Where a secret belongs (`stacks.settings.SECRET_LEAVES`) the leaf gets a deterministic placeholder of the
shape the setting checks, and its top-level key is reported as a secret config key, as the engine reports a key
holding a secure value; a secure value anywhere else is an error naming the key.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import json
import os
import re
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple, cast

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from stacks.errors import Problem, SettingsError, StackFileError, UnknownStackError
from stacks.settings import (
    DEFAULT_CLOUD,
    NAMESPACE,
    PLAIN_PROVIDER_KEYS,
    PROVIDER_NAMESPACES,
    SECRET_LEAVES,
    config_key_problems,
)

ROOT = Path(__file__).resolve().parent.parent

STACK_FILE_NAME = re.compile(r"Pulumi\.(?P<stack>[A-Za-z0-9_.-]+)\.yaml")
STACK_NAME = re.compile(r"[A-Za-z0-9_.-]+")
# The top-level keys of a stack settings file (Pulumi's workspace.ProjectStack).
STACK_FILE_KEYS = ("config", "secretsprovider", "encryptedkey", "encryptionsalt", "environment")
# Bounds that no real stack file comes near, so a malformed one fails fast instead of exhausting the machine.
MAX_VALUES = 100_000  # after alias expansion ("billion laughs")
MAX_DEPTH = 48
MAX_NUMBER_CHARS = 100

_TAG = "tag:yaml.org,2002:"
_SCALAR_TAGS = {f"{_TAG}{t}" for t in ("str", "int", "float", "bool", "null")}


# --- which file a stack is -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StackSource:
    """A stack and the file its config comes from."""

    name: str
    path: Path


# Stack files given by path (`--stack /elsewhere/Pulumi.review.yaml`) for the stack names they define.
# The default is read-only: a ContextVar's default is shared by every context.
_FILES: ContextVar[Mapping[str, Path]] = ContextVar("pg_platform_stack_files", default=MappingProxyType({}))


def stack_file(stack: str, root: Path = ROOT) -> Path:
    files = _FILES.get()
    if root == ROOT and stack in files:
        return files[stack]
    return root / f"Pulumi.{stack}.yaml"


def stack_names(root: Path = ROOT) -> list[str]:
    return sorted(m["stack"] for p in root.glob("Pulumi.*.yaml") if (m := STACK_FILE_NAME.fullmatch(p.name)))


def _found(root: Path) -> str:
    names = stack_names(root)
    return f"stacks found in {root}: {', '.join(names) if names else 'none'}"


def resolve_stack(arg: str | os.PathLike, root: Path = ROOT) -> StackSource:
    """A `--stack` argument: a stack name (Pulumi.<name>.yaml in the repository) or the path of a
    Pulumi.<name>.yaml anywhere, whose file name gives the stack name."""
    text = os.fspath(arg)
    if isinstance(arg, os.PathLike) or "/" in text or os.sep in text or text.endswith((".yaml", ".yml")):
        path = Path(text).expanduser()
        match = STACK_FILE_NAME.fullmatch(path.name)
        if not match:
            raise UnknownStackError(
                f"{text}: not a stack file name; a stack file is named Pulumi.<stack>.yaml and "
                f"the stack is named after it ({_found(root)})"
            )
        if not path.is_file():
            raise UnknownStackError(f"no stack file {text} ({_found(root)})")
        return StackSource(match["stack"], path.resolve())
    if not STACK_NAME.fullmatch(text):
        raise UnknownStackError(f"{text!r} is not a stack name (letters, digits, '-', '_', '.'); {_found(root)}")
    path = stack_file(text, root)
    if not path.is_file():
        raise UnknownStackError(
            f"no stack {text!r}: {path} does not exist; {_found(root)} (or pass the path of a Pulumi.<stack>.yaml)"
        )
    return StackSource(text, path)


@contextlib.contextmanager
def using_stack_file(source: StackSource) -> Iterator[StackSource]:
    """Within the block, stack `source.name` reads its config from `source.path`."""
    token = _FILES.set({**_FILES.get(), source.name: source.path})
    try:
        yield source
    finally:
        _FILES.reset(token)


# --- the engine's view of config -------------------------------------------------------------------------------


class EngineConfig(NamedTuple):
    values: dict[str, str]  # namespaced key -> value, structured values JSON-encoded
    secret_keys: list[str]  # keys holding a secure value


def namespace_values(config: Mapping[str, Any], namespace: str = NAMESPACE) -> dict[str, Any]:
    """`pg-platform:x` keys of an engine config map, prefix stripped and structured values decoded."""
    prefix = f"{namespace}:"
    # Keys written as `pg-platform:config:x` by older CLIs are normalised by the engine; accept both.
    return {
        k[len(prefix) :].removeprefix("config:"): _decode(v)
        for k, v in config.items()
        if isinstance(k, str) and k.startswith(prefix)
    }


def _decode(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def stack_config(stack: str, root: Path = ROOT, overrides: Mapping[str, Any] | None = None) -> EngineConfig:
    """Config as the engine passes it: namespaced keys, structured values JSON-encoded, and the keys that hold
    secure values (replaced by placeholders, see the module doc). `overrides` replaces whole keys."""
    config = dict(read_config(stack_file(stack, root), root))
    config.update(overrides or {})
    problems: list[Problem] = []
    values: dict[str, str] = {}
    secret_keys: list[str] = []
    for key, value in config.items():
        secrets: list[str] = []
        plain = _unseal(str(key), value, [], secrets, problems)
        if secrets:
            secret_keys.append(str(key))
        values[str(key)] = plain if isinstance(plain, str) else json.dumps(plain)
    if problems:
        raise SettingsError(problems)
    return EngineConfig(values, sorted(secret_keys))


def engine_config(stack: str, root: Path = ROOT, overrides: Mapping[str, Any] | None = None) -> dict[str, str]:
    """Config as the engine passes it: namespaced keys, structured values JSON-encoded."""
    return stack_config(stack, root, overrides).values


# --- secure values ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Secure:
    """A `{secure: <ciphertext>}` leaf of a stack file."""

    ciphertext: str


def _is_secure(value: Any) -> bool:
    return isinstance(value, Secure) or (
        isinstance(value, dict) and len(value) == 1 and isinstance(value.get("secure"), str)
    )


def dotted(key: str, path: list[str | int]) -> str:
    return key + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)


def _unseal(key: str, value: Any, path: list[str | int], secrets: list[str], problems: list[Problem]) -> Any:
    if _is_secure(value):
        ciphertext = value.ciphertext if isinstance(value, Secure) else value["secure"]
        digest = hashlib.sha256(ciphertext.encode()).hexdigest()[:16]
        namespace, _, name = key.partition(":")
        if namespace == NAMESPACE:
            leaf = re.sub(r"\[\d+\]", "[]", dotted(name.removeprefix("config:"), path))
            placeholder = SECRET_LEAVES.get(leaf)
            if placeholder is None:
                problems.append(
                    Problem(
                        dotted(key, path),
                        {"secure": ciphertext},
                        "is a secure (encrypted) value, but this setting is not a secret",
                        f"write it in plain text; only {', '.join(SECRET_LEAVES)} may be secure",
                    )
                )
                return None
            secrets.append(dotted(key, path))
            return placeholder(digest)
        if key in PLAIN_PROVIDER_KEYS and not path:
            problems.append(
                Problem(
                    key,
                    {"secure": ciphertext},
                    "is a secure (encrypted) value, but the program needs it in plain text offline",
                    "write it in plain text",
                )
            )
            return None
        # A provider's own secret (credentials): the mock providers never use it.
        secrets.append(dotted(key, path))
        return f"secure-value-{digest}"
    if isinstance(value, dict):
        return {k: _unseal(key, v, [*path, k], secrets, problems) for k, v in value.items()}
    if isinstance(value, list):
        return [_unseal(key, v, [*path, i], secrets, problems) for i, v in enumerate(value)]
    return value


# --- reading the file ------------------------------------------------------------------------------------------


class _PyLoader(yaml.SafeLoader):
    """SafeLoader without implicit timestamps: Pulumi hands `2025-01-01` to the program as the string."""


# libyaml when PyYAML has it (ten times faster); its syntax errors say less, so a file it refuses is read again
# with the pure-Python loader for the message.
# Typed as SafeLoader, whose interface libyaml's loader has too (the stubs declare it apart).
_Loader = cast("type[yaml.SafeLoader]", type("_Loader", (getattr(yaml, "CSafeLoader", _PyLoader),), {}))
for _cls in (_PyLoader, _Loader):
    _cls.yaml_implicit_resolvers = {
        first: [(tag, rx) for tag, rx in resolvers if tag != f"{_TAG}timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

# The key token of a top-level config entry (`pg-platform:network`), to name the key near a syntax error.
_CONFIG_KEY = re.compile(r"[\"']?([A-Za-z0-9_-]+:[A-Za-z0-9_.:-]*[A-Za-z0-9_-])")


def _config_keys(text: str) -> list[tuple[int, str]]:
    """(line index, key) of each top-level config entry: the lines under `config:` at the indentation most
    entries have (or less, for a line a typo pushed out of place)."""
    rows, inside = [], False
    for i, row in enumerate(text.splitlines()):
        body = row.lstrip(" ")
        if not body.strip() or body.startswith("#"):
            continue
        depth = len(row) - len(body)
        top = re.match(r"[\"']?([A-Za-z_][A-Za-z0-9_-]*)[\"']?\s*:(\s|$)", body) if depth == 0 else None
        if top and top.group(1) in STACK_FILE_KEYS:
            inside = top.group(1) == "config"
        elif inside:
            rows.append((i, depth, body))
    depths = [d for _, d, body in rows if _CONFIG_KEY.match(body)]
    indent = max(set(depths), key=depths.count) if depths else 2
    return [(i, m.group(1)) for i, depth, body in rows if depth <= indent and (m := _CONFIG_KEY.search(body))]


def _near_key(text: str, line: int) -> str | None:
    """Where a line is, for a message: `in <key>` of the config entry it belongs to."""
    keys = _config_keys(text)
    before = [k for i, k in keys if i <= line]
    if not before:
        return f"before {keys[0][1]}" if keys else None
    key = before[-1]
    namespace, _, name = key.partition(":")
    known = (NAMESPACE, *PROVIDER_NAMESPACES)
    close = difflib.get_close_matches(namespace.lower(), known, n=1, cutoff=0.6) if namespace not in known else []
    return f"in {key}, perhaps meant as {close[0]}:{name}" if close else f"in {key}"


def _label(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def _read_text(path: Path, root: Path) -> str:
    label = _label(path, root)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UnknownStackError(f"no stack file {path}; {_found(root)}") from None
    except OSError as exc:
        raise StackFileError(f"{label}: cannot be read ({exc.strerror or exc})") from None
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        text = data[: exc.start].decode("utf-8", "replace")
        key = _near_key(text, line - 1)
        raise StackFileError(
            f"{label}: line {line}: byte 0x{data[exc.start]:02x} is not UTF-8"
            + (f" ({key})" if key else "")
            + ". Fix: save the file as UTF-8 (Pulumi reads stack files as UTF-8)"
        ) from None


def _yaml_error(exc: yaml.YAMLError, text: str, label: str) -> StackFileError:
    if isinstance(exc, yaml.reader.ReaderError):
        line = text[: exc.position].count("\n")
        what = f"character {exc.character!r} is not allowed in YAML"
        mark_line, context = line, ""
    elif isinstance(exc, yaml.MarkedYAMLError) and (mark := exc.problem_mark or exc.context_mark) is not None:
        line = mark.line
        what = f"column {mark.column + 1}: {exc.problem or exc.context}"
        context = ""
        if exc.context and exc.context_mark and exc.problem:
            context = f" ({exc.context} at line {exc.context_mark.line + 1})"
        mark_line = exc.context_mark.line if exc.context_mark else line
    else:
        line, mark_line, what, context = 0, 0, str(exc), ""
    key = _near_key(text, mark_line)
    where = f" ({key})" if key else ""
    return StackFileError(
        f"{label}: line {line + 1}, {what}{context}{where}. Fix: correct the YAML near line {line + 1}{where}"
    )


class _Builder:
    """Builds Python values from the composed YAML nodes, collecting a problem for everything a stack file must
    not contain, each named by its config key."""

    def __init__(self, loader: yaml.SafeLoader, label: str, text: str):
        self.loader = loader
        self.label = label
        self.text = text
        self.problems: list[Problem] = []
        self.count = 0
        self.active: set[int] = set()
        self.checked: set[int] = set()

    @staticmethod
    def name(path: list[str | int]) -> str:
        if len(path) >= 2 and path[0] == "config":
            return dotted(str(path[1]), path[2:])
        return dotted(str(path[0]), path[1:]) if path else "(document)"

    def fail(self, path: list[str | int], node: Node, value: object, message: str, fix: str) -> None:
        where = f"{self.label} line {node.start_mark.line + 1}"
        if len(path) < 2 or path[0] != "config":
            near = _near_key(self.text, node.start_mark.line)
            where += f", {near}" if near else ""
        self.problems.append(Problem(self.name(path), value, f"{message} ({where})", fix))

    def build(self, node: Node, path: list[str | int]) -> Any:
        self.count += 1
        if self.count > MAX_VALUES:
            raise StackFileError(
                f"{self.label}: expands to more than {MAX_VALUES} values (near {self.name(path)}, "
                f"line {node.start_mark.line + 1}); YAML aliases multiply. Fix: write the values out"
            )
        if len(path) > MAX_DEPTH:
            self.fail(path, node, "...", f"nests deeper than {MAX_DEPTH} levels", "flatten the value")
            return None
        if isinstance(node, ScalarNode):
            return self.scalar(node, path)
        if id(node) in self.active:
            self.fail(path, node, "*alias", "refers to itself through a YAML alias", "write the value out")
            return None
        self.active.add(id(node))
        try:
            if isinstance(node, SequenceNode):
                if node.tag != f"{_TAG}seq":
                    return self.unsupported(node, path)
                return [self.build(child, [*path, i]) for i, child in enumerate(node.value)]
            assert isinstance(node, MappingNode)
            return self.mapping(node, path)
        finally:
            self.active.discard(id(node))

    def unsupported(self, node: Node, path: list[str | int]) -> None:
        tag = node.tag.replace(_TAG, "!!")
        self.fail(
            path,
            node,
            node.value if isinstance(node, ScalarNode) else tag,
            f"YAML tag {tag} is not supported in a stack file",
            "write a plain value without a tag",
        )
        return None

    def scalar(self, node: ScalarNode, path: list[str | int]) -> Any:
        if node.tag not in _SCALAR_TAGS:
            return self.unsupported(node, path)
        if node.tag in (f"{_TAG}int", f"{_TAG}float") and len(node.value) > MAX_NUMBER_CHARS:
            self.fail(
                path,
                node,
                node.value,
                f"is a number of {len(node.value)} characters, more than any setting takes",
                "write a value within the setting's range",
            )
            return None
        try:
            return self.loader.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, KeyError, ArithmeticError, TypeError) as exc:
            kind = node.tag.replace(_TAG, "")
            self.fail(
                path,
                node,
                node.value,
                f"cannot be read as {kind} ({str(exc).splitlines()[0]})",
                f"write a plain {kind} or quote the text",
            )
            return None

    def mapping(self, node: MappingNode, path: list[str | int]) -> Any:
        if node.tag != f"{_TAG}map":
            return self.unsupported(node, path)
        if id(node) not in self.checked:
            self.checked.add(id(node))
            seen: dict[str, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == f"{_TAG}merge":
                    continue
                if not isinstance(key_node, ScalarNode):
                    self.fail(
                        path, key_node, "?", "has a mapping key that is not plain text", "write each key as plain text"
                    )
                    continue
                line = key_node.start_mark.line + 1
                if key_node.value in seen:
                    self.fail(
                        [*path, key_node.value],
                        key_node,
                        None,
                        f"is given twice (lines {seen[key_node.value]} and {line}); YAML would silently keep "
                        f"only the last",
                        "keep one of them",
                    )
                else:
                    seen[key_node.value] = line
            try:
                self.loader.flatten_mapping(node)
            except yaml.YAMLError as exc:
                self.fail(
                    path,
                    node,
                    "<<",
                    f"has a merge key that cannot be merged ({getattr(exc, 'problem', exc)})",
                    "merge only mappings, or write the keys out",
                )
                return None
        pairs = [(k, v) for k, v in node.value if isinstance(k, ScalarNode)]
        if (
            len(pairs) == 1
            and pairs[0][0].value == "secure"
            and isinstance(pairs[0][1], ScalarNode)
            and pairs[0][1].tag == f"{_TAG}str"
        ):
            return Secure(pairs[0][1].value)
        return {k.value: self.build(v, [*path, k.value]) for k, v in pairs}


def read_document(path: Path, root: Path = ROOT) -> Any:
    """The stack file as Python values (secure leaves as `Secure`); raises a UserError naming the problem."""
    text = _read_text(path, root)
    label = _label(path, root)
    try:
        loader = _Loader(text)
        node = loader.get_single_node()
    except yaml.YAMLError as exc:
        raise _yaml_error(_python_loader_error(text) or exc, text, label) from None
    except RecursionError:
        raise StackFileError(f"{label}: nests too deeply to read. Fix: flatten the values") from None
    try:
        if node is None:
            return None
        builder = _Builder(loader, label, text)
        doc = builder.build(node, [])
        if builder.problems:
            # With the keys the program would never read: a value error under `pg-platfrom:x` is mostly that.
            config = doc.get("config") if isinstance(doc, dict) else None
            extra = config_key_problems(config) if isinstance(config, dict) else []
            raise SettingsError([*builder.problems, *extra])
        return doc
    finally:
        loader.dispose()


def _python_loader_error(text: str) -> yaml.YAMLError | None:
    """The pure-Python loader's error for a text libyaml refused: its messages name the character."""
    try:
        loader = _PyLoader(text)
    except yaml.YAMLError as exc:
        return exc
    try:
        loader.get_single_node()
    except yaml.YAMLError as exc:
        return exc
    except RecursionError:
        return None
    finally:
        loader.dispose()
    return None


def read_config(path: Path, root: Path = ROOT) -> dict[str, Any]:
    """The `config:` mapping of a stack file, checked as far as a file can be without knowing the settings."""
    doc = read_document(path, root)
    label = _label(path, root)
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise StackFileError(
            f"{label}: is a YAML {type(doc).__name__}, not a mapping. Fix: write a mapping with a "
            f"`config:` mapping of `{NAMESPACE}:` and provider keys, e.g. `config: {{{DEFAULT_CLOUD.region_key}: "
            f"{DEFAULT_CLOUD.region_example}, {NAMESPACE}:stage: dev}}`"
        )
    unknown = [k for k in doc if k not in STACK_FILE_KEYS]
    if unknown:
        text = _read_text(path, root)
        where = []
        for key in unknown:
            line = next((i for i, row in enumerate(text.splitlines()) if key in row), None)
            if line is None:
                where.append(f"{key!r}")
                continue
            near = _near_key(text, line)
            after = f", after the entry {near[3:]}" if near and near.startswith("in ") else ""
            where.append(f"{key!r} (line {line + 1}{after})")
        raise StackFileError(
            f"{label}: unknown top-level key(s) {', '.join(where)}. Fix: a stack file holds "
            f"{', '.join(STACK_FILE_KEYS)}; settings go under `config:`, indented, as "
            f"`{NAMESPACE}:<setting>`"
        )
    config = doc.get("config")
    if config is None:
        return {}
    if not isinstance(config, dict):
        raise StackFileError(
            f"{label}: `config` is a YAML {type(config).__name__}, not a mapping. Fix: write "
            f"`config:` as a mapping of namespaced keys, e.g. `{NAMESPACE}:stage: dev`"
        )
    return config
