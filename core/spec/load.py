"""Turn a workflow file (or a spec built in Python) into a checked `Workflow`, or every problem in it."""

from __future__ import annotations

import hashlib
import os
import re
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from baton.core.spec import checks
from baton.core.spec.agent_tools import FunctionTool, McpTools
from baton.core.spec.findings import describe, suggest
from baton.core.spec.model import STEP_KINDS, DelegateTool, WorkflowSpec
from baton.core.spec.problems import Problem, WorkflowInvalid
from baton.core.spec.salvage import salvage, value_at
from baton.core.spec.yaml_source import Positions, SourceError, decode, parse_yaml, read_capped


@dataclass(frozen=True)
class Workflow:
    """A checked workflow with where it came from. `hash` identifies its exact text."""

    spec: WorkflowSpec
    path: str
    text: str
    hash: str
    warnings: list[Problem] = field(default_factory=list)
    positions: Positions = field(default_factory=Positions)

    @property
    def name(self) -> str:
        """The workflow's declared name."""
        return self.spec.name

    @property
    def folder(self) -> str | None:
        """The folder of the workflow's file, where its tools and servers live (None for text)."""
        return None if self.path.startswith("<") else os.path.dirname(os.path.abspath(self.path))


def text_hash(text: str) -> str:
    """Short content hash of a workflow's text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def load_workflow(path: str | os.PathLike[str], known_aliases: Iterable[str] = ()) -> Workflow:
    """Read, parse, validate and check a workflow file. Raises `WorkflowInvalid` with every problem."""
    name = os.fspath(path)
    try:
        data = read_capped(name)
        text = decode(data)
    except SourceError as exc:
        raise WorkflowInvalid([Problem(exc.line, exc.col, exc.message, name)]) from None
    except IsADirectoryError:
        raise WorkflowInvalid([Problem(1, 1, "is a directory, not a workflow file", name)]) from None
    except FileNotFoundError:
        raise WorkflowInvalid([Problem(1, 1, "no such file", name)]) from None
    except OSError as exc:
        raise WorkflowInvalid([Problem(1, 1, f"cannot read file: {exc.strerror or exc}", name)]) from None
    return load_text(text, name, known_aliases)


def load_text(text: str, path: str = "<workflow>", known_aliases: Iterable[str] = ()) -> Workflow:
    """Parse and check workflow text (what `load_workflow` does after reading)."""
    try:
        data, positions = parse_yaml(text)
    except SourceError as exc:
        raise WorkflowInvalid([Problem(exc.line, exc.col, exc.message, path)]) from None
    if not isinstance(data, dict):
        line, col = positions.value(())
        message = f"the top level must be a mapping of workflow fields (name, state, steps, ...), not {describe(data)}"
        raise WorkflowInvalid([Problem(line, col, message, path)])
    try:
        spec = WorkflowSpec.model_validate(data)
    except ValidationError as exc:
        problems = _pydantic_problems(exc, data, positions, path)
        raise WorkflowInvalid(problems + _beyond(data, positions, path, known_aliases)) from None
    return _checked(spec, path, text, positions, known_aliases)


def _beyond(data: Any, positions: Positions, file: str, known_aliases: Iterable[str]) -> list[Problem]:
    """The problems the rest of the file has once its type errors are set aside (so fixing one error does
    not reveal the next): every check that does not depend on what was set aside."""
    salvaged = salvage(data, _error_paths)
    if salvaged is None:
        return []
    return [
        _at(f.path, f.message, positions, file, f.severity, f.at_key)
        for f in checks.check(salvaged.spec, known_aliases, partial=True)
        if f.severity == "error" and not salvaged.covers(f.path)
    ]


def _error_paths(exc: ValidationError, data: Any) -> list[tuple[tuple[str | int, ...], str]]:
    return [(_data_loc(err["loc"], data)[0], err["type"]) for err in exc.errors(include_url=False)]


def from_spec(spec: WorkflowSpec, known_aliases: Iterable[str] = ()) -> Workflow:
    """Check a spec built in Python. Its text is the spec as canonical YAML, which `load_text` reads back
    to the same spec (a session stores that text), and problems point at lines of that text."""
    text = spec_text(spec)
    try:
        _, positions = parse_yaml(text)
    except SourceError:
        positions = Positions()
    return _checked(spec, f"<{spec.name}>", text, positions, known_aliases)


def spec_text(spec: WorkflowSpec) -> str:
    """The canonical YAML of a spec: only fields that differ from their defaults, in declaration order."""
    data = spec.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100, default_flow_style=None)


def _checked(spec: WorkflowSpec, path: str, text: str, positions: Positions, known_aliases: Iterable[str]) -> Workflow:
    findings = checks.check(spec, known_aliases)
    problems = [_at(f.path, f.message, positions, path, f.severity, f.at_key) for f in findings]
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise WorkflowInvalid(errors)
    warnings = sorted(p for p in problems if p.severity != "error")
    return Workflow(spec, path, text, text_hash(text), warnings, positions)


def tool_problems(workflow: Workflow) -> list[Problem]:
    """Tools that cannot be imported, each at its `call:` field (imported in a child process, with the
    workflow's folder first on the import path as the runner has it)."""
    from baton.core.spec.tool_check import tool_findings

    folder = workflow.folder
    found = tool_findings(workflow.spec, folder)
    return sorted(_at(path, message, workflow.positions, workflow.path) for path, message in found)


def _at(
    data_path: tuple[str | int, ...],
    message: str,
    positions: Positions,
    file: str,
    severity: str = "error",
    at_key: bool = False,
) -> Problem:
    line, col = positions.key(data_path) if at_key else positions.value(data_path)
    return Problem(line, col, message, file, severity)


def _pydantic_problems(exc: ValidationError, data: Any, positions: Positions, file: str) -> list[Problem]:
    problems: dict[tuple[int, int, str], Problem] = {}
    for err in exc.errors(include_url=False):
        loc, model = _data_loc(err["loc"], data)
        kind = err["type"]
        where = _dotted(loc)
        if kind == "missing":
            name = str(err["loc"][-1])
            message = f"{where.rsplit('.', 1)[0] if '.' in where else 'workflow'}: missing required field '{name}'"
            line, col = positions.value(loc[:-1])
        elif kind == "extra_forbidden":
            name = str(loc[-1])
            fields = _field_names(model)
            hint = suggest(name, fields)
            message = f"{where}: unknown field '{name}'{hint}"
            line, col = positions.key(loc)
        elif kind == "union_tag_invalid":
            tag = err.get("ctx", {}).get("tag", "?")
            hint = suggest(str(tag), STEP_KINDS)
            message = f"{where}: unknown step kind '{tag}'{hint}; one of {', '.join(STEP_KINDS)}"
            line, col = positions.value((*loc, "kind"))
        elif kind == "union_tag_not_found":
            message = f"{where}: a step needs 'kind' (one of {', '.join(STEP_KINDS)})"
            line, col = positions.value(loc)
        elif loc[-2:] == ("review", "mode") and isinstance(value_at(data, loc[:-1]), str):
            message = (
                f"{_dotted(loc[:-1])}: must be never, always, on_failure, before_tools, or a mapping "
                f"(mode, when, cost_over, sample), not {describe(err.get('input'))}"
            )
            line, col = positions.value(loc[:-1])
        else:
            message = f"{where}: {_reworded(err)}" if where else _reworded(err)
            line, col = positions.value(loc)
        problems.setdefault((line, col, message), Problem(line, col, message, file))
    return list(problems.values())


_EXPECTED = {
    "string_type": "text",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "a list",
    "dict_type": "a mapping (key: value lines)",
    "model_type": "a mapping (key: value lines)",
    "model_attributes_type": "a mapping (key: value lines)",
}
_BOUNDS = {
    "greater_than": ("gt", "greater than"),
    "greater_than_equal": ("ge", "at least"),
    "less_than": ("lt", "less than"),
    "less_than_equal": ("le", "at most"),
}


def _reworded(err: Any) -> str:
    """Pydantic's message in the words of someone writing YAML, with a hint for the usual slips."""
    kind = err["type"]
    value = err.get("input")
    ctx = err.get("ctx") or {}
    if kind in _EXPECTED:
        message = f"expected {_EXPECTED[kind]}, got {describe(value)}"
        if kind == "string_type" and isinstance(value, bool):
            message += " (YAML reads yes/no/on/off/true/false as booleans: quote it to keep it as text)"
        elif kind == "string_type" and isinstance(value, int | float):
            message += " (quote it to keep it as text)"
        elif kind == "list_type" and isinstance(value, str):
            message += f" (write [{value}])"
        return message
    if kind == "literal_error":
        options = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        hint = suggest(str(value), options) if isinstance(value, str) else ""
        return f"must be one of {', '.join(options)}; got {describe(value)}{hint}"
    if kind in _BOUNDS:
        name, words = _BOUNDS[kind]
        return f"must be {words} {ctx.get(name)}, got {describe(value)}"
    if kind == "too_short":
        least = ctx.get("min_length", 1)
        return f"needs at least {least} item{'s' if least != 1 else ''}, has {ctx.get('actual_length', 0)}"
    msg = str(err["msg"])
    return msg[len("Value error, ") :] if msg.startswith("Value error, ") else msg


def _data_loc(loc: tuple[int | str, ...], data: Any) -> tuple[tuple[str | int, ...], Any]:
    """Drop pydantic's union tags from `loc` so it is a path into the YAML data; also the model that holds
    the last element (for suggesting field names)."""
    out: list[str | int] = []
    node = data
    model: Any = WorkflowSpec
    holder: Any = None
    tag_at = -1
    for part in loc:
        if tag_at != len(out) and _tool_tag(out, node, part):
            tag_at = len(out)  # a tool entry's union tag (`call`, `mcp`, `step`): its field comes next
            holder = model = TOOL_ENTRY_MODELS[str(part)]
            continue
        if not (isinstance(node, dict) and node.get("kind") == part and part not in node):
            holder = model
        if isinstance(node, dict) and part in node:
            out.append(part)
            node = node[part]
            model = _child_model(model, str(part), node)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            out.append(part)
            node = node[part]
            model = _item_model(model, node)
        elif isinstance(node, dict) and node.get("kind") == part:
            continue
        else:
            out.append(part)
            node = None
    return tuple(out), holder


TOOL_ENTRY_MODELS: dict[str, type[BaseModel]] = {"call": FunctionTool, "mcp": McpTools, "step": DelegateTool}


def _tool_tag(out: list[str | int], node: Any, part: str | int) -> bool:
    """Is `part` the tag pydantic puts before the fields of the tool entry `node` (`tools[i]`)?"""
    return (
        len(out) >= 2
        and out[-2] == "tools"
        and isinstance(out[-1], int)
        and isinstance(node, dict)
        and part in TOOL_ENTRY_MODELS
        and part in node
    )


def _unwrap(annotation: Any) -> list[Any]:
    origin = get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return [m for arg in get_args(annotation) for m in _unwrap(arg)]
    return [annotation]


def _child_model(model: Any, name: str, value: Any) -> Any:
    if isinstance(model, type) and issubclass(model, BaseModel):
        fld = model.model_fields.get(name) or next((f for f in model.model_fields.values() if f.alias == name), None)
        if fld is None:
            return None
        return _pick(_unwrap(fld.annotation), value, container=True)
    if isinstance(model, tuple) and model[0] == "dict":
        return _pick(model[1], value, container=False)
    if isinstance(model, tuple) and model[0] == "list":
        return _pick(model[1], value, container=False)
    return None


def _item_model(model: Any, value: Any) -> Any:
    if isinstance(model, tuple):
        return _pick(model[1], value, container=False)
    return None


def _pick(candidates: list[Any], value: Any, container: bool) -> Any:
    for cand in candidates:
        origin = get_origin(cand)
        if container and origin is list:
            return ("list", _unwrap(get_args(cand)[0]))
        if container and origin is dict:
            return ("dict", _unwrap(get_args(cand)[1]))
    models = [c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)]
    if isinstance(value, dict) and "kind" in value:
        for m in models:
            kind_field = m.model_fields.get("kind")
            if kind_field is not None and kind_field.default == value["kind"]:
                return m
    return models[0] if models else None


def _field_names(model: Any) -> list[str]:
    if isinstance(model, type) and issubclass(model, BaseModel):
        return [f.alias or n for n, f in model.model_fields.items()]
    return []


def _dotted(loc: tuple[str | int, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def format_problems(problems: Iterable[Problem]) -> str:
    """One line per problem."""
    return "\n".join(str(p) for p in problems)


def known_alias_names(aliases: Mapping[str, Any]) -> list[str]:
    """Names a workflow may use as models besides its own `models:` section."""
    return sorted(aliases)
