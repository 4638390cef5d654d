"""What a model is told about a Python tool, and how its arguments are checked.

A function's JSON schema comes from what its author already wrote: the signature (names, defaults), the
type hints (pydantic turns them into JSON schema) and the docstring (the tool's description, and each
parameter's from a Google `Args:`, Sphinx `:param x:` or NumPy `Parameters` section). A function pydantic
cannot describe is refused here, with the parameter named, rather than failing when the model calls it.

Arguments arrive as text from a model (or as an object a person edited); `parse_arguments` and `check_args`
turn them into an object the schema accepts, or a short reason the model can act on. Schemas of MCP tools
come from servers baton does not control, so checking never trusts a schema to be small or well made.
"""

from __future__ import annotations

import functools
import inspect
import json
import typing
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import jsonschema
import regex
from jsonschema import validators
from jsonschema.exceptions import ValidationError, best_match
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, create_model

from baton.core.spec.tool_docstring import parse_docstring

RUNNER_PARAMETERS = frozenset({"idempotency_key"})
"""Parameters the runner fills in itself: never shown to the model."""

MAX_SCHEMA_DEPTH = 64
MAX_SCHEMA_NODES = 50_000
"""A schema deeper or larger than this is refused before any argument is checked against it."""

_SUBSCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
_SUBSCHEMAS = ("items", "additionalProperties", "additionalItems", "contains", "not", "if", "then", "else")
_SUBSCHEMA_LISTS = ("anyOf", "allOf", "oneOf", "prefixItems")


class ToolSchemaError(ValueError):
    """A callable a model cannot be offered as a tool; the message says which parameter and why."""


@dataclass(frozen=True)
class FunctionSchema:
    """A tool as a model sees it: its name, what it does, and the JSON schema of its arguments."""

    name: str
    description: str
    parameters: dict[str, Any]

    def tool(self) -> dict[str, Any]:
        """The OpenAI function-tool shape that `LLMRequest.tools` holds."""
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.parameters},
        }


def function_schema(fn: Callable[..., Any], name: str, description: str | None = None) -> FunctionSchema:
    """The schema of a function, coroutine function or callable object; `description` overrides the
    docstring's. Raises `ToolSchemaError` for a callable whose arguments cannot be described."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError) as exc:
        raise ToolSchemaError(f"its signature cannot be read: {exc}") from None
    summary, documented = parse_docstring(_docstring(fn))
    params = [p for p in signature.parameters.values() if p.name not in RUNNER_PARAMETERS]
    for param in params:
        _check_kind(param)
    hints = _type_hints(_hinted(fn), [p.name for p in params])
    fields: dict[str, Any] = {}
    for i, param in enumerate(params):
        extra: dict[str, Any] = {"alias": param.name}
        if param.name in documented:
            extra["description"] = documented[param.name]
        default = ... if param.default is inspect.Parameter.empty else param.default
        fields[f"p{i}"] = (hints.get(param.name, Any), Field(default, **extra))
    parameters = _arguments_schema(fields, params, hints)
    text = description if description is not None else summary
    return FunctionSchema(name, text, parameters)


def _check_kind(param: inspect.Parameter) -> None:
    if param.kind is inspect.Parameter.VAR_POSITIONAL:
        raise ToolSchemaError(
            f"parameter '*{param.name}': a model passes arguments by name, so *args cannot be described in a schema"
        )
    if param.kind is inspect.Parameter.VAR_KEYWORD:
        raise ToolSchemaError(
            f"parameter '**{param.name}': a schema lists every argument by name, so **kwargs cannot be described"
        )
    if param.kind is inspect.Parameter.POSITIONAL_ONLY:
        raise ToolSchemaError(f"parameter '{param.name}' is positional-only: a model passes arguments by name")


def _hinted(fn: Callable[..., Any]) -> Any:
    """Where the type hints of `fn`'s parameters are written."""
    if isinstance(fn, functools.partial):
        return _hinted(fn.func)
    if inspect.isclass(fn):
        return fn.__init__
    if inspect.isroutine(fn):
        return fn
    return type(fn).__call__


def _docstring(fn: Callable[..., Any]) -> str:
    if isinstance(fn, functools.partial):
        return _docstring(fn.func)
    if inspect.isroutine(fn):
        return inspect.getdoc(fn) or ""
    if inspect.isclass(fn):  # its own docstring: a base class's (BaseModel's, say) says nothing of this tool
        own = fn.__dict__.get("__doc__")
    else:
        own = type(fn).__call__.__doc__ or type(fn).__doc__
    return inspect.cleandoc(own) if isinstance(own, str) else ""


def _type_hints(target: Any, names: list[str]) -> dict[str, Any]:
    """The resolved hints; one that cannot be resolved is reported with its parameter."""
    try:
        return typing.get_type_hints(target, include_extras=True)
    except Exception as exc:  # a forward reference to nothing, a hint that is not a type: the author's code
        whole = _first_line(exc)
    raw = getattr(inspect.unwrap(target), "__annotations__", {}) or {}
    namespace = getattr(inspect.unwrap(target), "__globals__", {})
    for name in names:
        if name not in raw:
            continue
        holder = _Annotated({name: raw[name]})
        try:
            typing.get_type_hints(holder, globalns=namespace, include_extras=True)
        except Exception as exc:
            reason = f"its type hint {raw[name]!r} cannot be resolved ({exc})"
            raise ToolSchemaError(f"parameter '{name}': {reason}") from None
    raise ToolSchemaError(f"its type hints cannot be resolved ({whole})")


class _Annotated:
    """Something `typing.get_type_hints` reads one annotation from."""

    def __init__(self, annotations: dict[str, Any]) -> None:
        self.__annotations__ = annotations


def _arguments_schema(fields: dict[str, Any], params: list[inspect.Parameter], hints: dict[str, Any]) -> dict[str, Any]:
    """One pydantic model of all the arguments (fields named by position, aliased to the parameters, so no
    parameter name clashes with pydantic's own attributes), as JSON schema."""
    config = ConfigDict(extra="forbid", arbitrary_types_allowed=False)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a default JSON cannot hold is left out of the schema
            model: type[BaseModel] = create_model("Arguments", __config__=config, **fields)
            schema = model.model_json_schema(by_alias=True)
    except Exception as exc:  # pydantic's errors for types it cannot describe
        found = _culprit(params, hints) or ToolSchemaError(f"its arguments cannot be described: {_first_line(exc)}")
        raise found from None
    cleaned: dict[str, Any] = _without_titles(schema)
    cleaned.setdefault("properties", {})
    return cleaned


def _culprit(params: list[inspect.Parameter], hints: dict[str, Any]) -> ToolSchemaError | None:
    """The first parameter whose type pydantic cannot make a schema for, as the error to raise."""
    for param in params:
        hint = hints.get(param.name, Any)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                TypeAdapter(hint).json_schema()
        except Exception:
            return ToolSchemaError(
                f"parameter '{param.name}': pydantic cannot make a JSON schema for {_type_name(hint)} "
                "(use str, int, float, bool, a list, a Literal, an Enum, a dataclass or a pydantic model)"
            )
    return None


def _type_name(hint: Any) -> str:
    if isinstance(hint, type):
        return hint.__qualname__ if hint.__module__ == "builtins" else f"{hint.__module__}.{hint.__qualname__}"
    return repr(hint)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


def _without_titles(node: Any) -> Any:
    """The schema without pydantic's generated `title`s (noise to a model); property names stay."""
    if isinstance(node, list):
        return [_without_titles(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "title":
            continue
        if key in _SUBSCHEMA_MAPS and isinstance(value, dict):
            out[key] = {name: _without_titles(sub) for name, sub in value.items()}
        elif key in (*_SUBSCHEMAS, *_SUBSCHEMA_LISTS):
            out[key] = _without_titles(value)
        else:
            out[key] = value
    return out


def parse_arguments(text: str) -> dict[str, Any]:
    """A model's argument text as an object; empty text is no arguments. `ValueError` says why not."""
    if not text.strip():
        return {}
    try:
        value = json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise ValueError(f"arguments are not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    except RecursionError:
        raise ValueError("arguments are not JSON this can read: nested too deeply") from None
    if not isinstance(value, dict):
        raise ValueError(f"arguments must be a JSON object, not {_json_kind(value)}")
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"arguments are not JSON: {name} is not a JSON value")


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "a list"
    return f"a {type(value).__name__}"


def check_args(schema: dict[str, Any], args: Any) -> dict[str, Any]:
    """`args` when they satisfy `schema`; otherwise `ValueError` with the first problem, where it is and
    what was expected (`'q' is required`, `'limit': 'x' is not of type 'integer'`)."""
    if not isinstance(args, dict):
        raise ValueError(f"arguments must be a JSON object, not {_json_kind(args)}")
    validator = _validator(_schema_key(schema))
    try:
        error = best_match(validator.iter_errors(args))
    except RecursionError:
        raise ValueError("arguments are nested too deeply to check against the tool's schema") from None
    except jsonschema.exceptions.SchemaError as exc:
        raise ValueError(f"the tool's schema is not valid JSON schema: {exc.message[:200]}") from None
    except Exception as exc:  # an unresolvable $ref and the like: the schema's fault, said as such
        raise ValueError(f"the tool's schema cannot be used to check arguments: {_first_line(exc)}") from None
    if error is not None:
        raise ValueError(_reason(error))
    return args


def _schema_key(schema: Any) -> str:
    """The schema as text (the cache key; its order kept, as messages list properties in it), once it is known
    to be of a checkable size."""
    depth, nodes = _measure(schema)
    if depth > MAX_SCHEMA_DEPTH:
        raise ValueError(f"the tool's schema is nested more than {MAX_SCHEMA_DEPTH} levels deep: it is not checked")
    if nodes > MAX_SCHEMA_NODES:
        raise ValueError(f"the tool's schema has more than {MAX_SCHEMA_NODES} parts: it is not checked")
    try:
        return json.dumps(schema, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"the tool's schema is not JSON: {exc}") from None


def _measure(schema: Any) -> tuple[int, int]:
    """Depth and number of parts, without recursion (a hostile schema cannot overflow the stack)."""
    deepest, count = 0, 0
    stack: list[tuple[Any, int]] = [(schema, 1)]
    while stack:
        node, depth = stack.pop()
        count += 1
        deepest = max(deepest, depth)
        if deepest > MAX_SCHEMA_DEPTH or count > MAX_SCHEMA_NODES:
            break
        if isinstance(node, dict):
            stack.extend((child, depth + 1) for child in node.values())
        elif isinstance(node, list):
            stack.extend((child, depth + 1) for child in node)
    return deepest, count


def _expanded_parts(schema: Any) -> int:
    """How many parts a check may walk with every local `$ref` followed where it is used: a schema small on
    the page can stand for billions (`a: [b, b]`, `b: [c, c]`, ...). A reference back into itself counts once
    (checking it is bounded by the arguments' own depth)."""
    memo: dict[int, int] = {}
    active: set[int] = set()

    def size(node: Any) -> int:
        key = id(node)
        if key in memo:
            return memo[key]
        if key in active or not isinstance(node, dict | list):
            return 1
        active.add(key)
        total = 1
        for child in node.values() if isinstance(node, dict) else node:
            total += size(child)
            if total > MAX_SCHEMA_NODES:
                break
        if isinstance(node, dict) and isinstance(node.get("$ref"), str):
            total += size(_pointer(schema, node["$ref"]))
        active.discard(key)
        memo[key] = min(total, MAX_SCHEMA_NODES + 1)
        return memo[key]

    try:
        return size(schema)
    except RecursionError:
        return MAX_SCHEMA_NODES + 1


def _pointer(root: Any, ref: str) -> Any:
    """What a local `$ref` (`#/$defs/x`) points at; None for any other reference."""
    if not ref.startswith("#"):
        return None
    node = root
    for raw in [p for p in ref[1:].split("/") if p]:
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


@functools.lru_cache(maxsize=256)
def _validator(key: str) -> Any:
    """A checked validator per distinct schema: a tool's schema is checked once, not on every call."""
    schema = json.loads(key)
    if not isinstance(schema, dict | bool):
        raise ValueError("the tool's schema is not a JSON object")
    if _expanded_parts(schema) > MAX_SCHEMA_NODES:
        raise ValueError(
            f"the tool's schema stands for more than {MAX_SCHEMA_NODES} parts once its $refs are followed: "
            "it is not checked"
        )
    cls = _guarded(validators.validator_for(schema, default=jsonschema.Draft202012Validator))
    try:
        cls.check_schema(schema)
    except jsonschema.exceptions.SchemaError as exc:
        where = "/".join(str(p) for p in exc.absolute_path)
        raise ValueError(
            f"the tool's schema is not valid JSON schema{f' at {where}' if where else ''}: {exc.message[:200]}"
        ) from None
    except RecursionError:
        raise ValueError("the tool's schema is nested too deeply to check") from None
    return cls(schema)


@functools.cache
def _guarded(cls: Any) -> Any:
    """`cls` with its regular-expression keywords matched under a time limit: a pattern such as `(a|aa)*$`
    can backtrack for ages on one string, and a check must not stall the runner. What cannot be decided in
    time is let through (the tool checks its own input); `unevaluatedProperties`, which would match the
    same patterns without a limit, is left to the tool too."""
    return validators.extend(
        cls,
        {
            "pattern": _pattern,
            "patternProperties": _pattern_properties,
            "additionalProperties": _additional_properties,
            "unevaluatedProperties": _not_checked,
        },
    )


REGEX_TIMEOUT_S = 0.02


def _not_checked(validator: Any, value: Any, instance: Any, schema: Any) -> Iterator[ValidationError]:
    yield from ()


def _search(pattern: str, text: str) -> bool | None:
    """Does `pattern` match in `text`? None when that cannot be told in time, or the pattern is not valid."""
    try:
        return regex.search(pattern, text, timeout=REGEX_TIMEOUT_S) is not None
    except (TimeoutError, regex.error, TypeError, ValueError):
        return None


def _pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and _search(pattern, instance) is False:
        yield ValidationError(f"{_short(instance)} does not match {pattern!r}")


def _pattern_properties(validator: Any, patterns: Any, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        for key, value in instance.items():
            if _search(pattern, key):
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


def _extras(instance: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    """Keys neither a property nor matched by a pattern property (one that cannot be told counts as matched)."""
    properties = schema.get("properties", {})
    patterns = list(schema.get("patternProperties", {}))
    return [k for k in instance if k not in properties and not any(_search(p, k) is not False for p in patterns)]


def _additional_properties(validator: Any, allowed: Any, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    extras = _extras(instance, schema)
    if validator.is_type(allowed, "object"):
        for extra in extras:
            yield from validator.descend(instance[extra], allowed, path=extra)
    elif not allowed and extras:
        yield ValidationError(f"unexpected argument {extras[0]!r}")


def _reason(error: ValidationError) -> str:
    path = [*error.absolute_path]
    if error.validator == "required" and isinstance(error.instance, dict):
        missing = [p for p in error.validator_value if p not in error.instance]
        if missing:
            return f"'{_dotted([*path, missing[0]])}' is required"
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = [str(k) for k in error.schema.get("properties", {})]
        extra = _extras(error.instance, error.schema)
        if extra:
            allowed = f" (the arguments are {', '.join(known)})" if known and len(known) <= 12 else ""
            return f"unexpected argument '{_dotted([*path, extra[0]])}'{allowed}"
    if error.validator == "type":
        message = f"{_short(error.instance)} is not of type {_types(error.validator_value)}"
    elif error.validator == "enum" and isinstance(error.validator_value, list):
        values = ", ".join(_short(v) for v in error.validator_value[:12])
        message = f"{_short(error.instance)} is not one of {values}{', ...' if len(error.validator_value) > 12 else ''}"
    else:
        message = error.message if len(error.message) <= 200 else error.message[:197] + "..."
    return f"'{_dotted(path)}': {message}" if path else message


def _types(expected: Any) -> str:
    if isinstance(expected, list):
        return ", ".join(repr(t) for t in expected)
    return repr(expected)


def _dotted(path: list[Any]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _short(value: Any) -> str:
    shown = repr(value)
    return shown if len(shown) <= 60 else shown[:57] + "..."
