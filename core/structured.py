"""Structured outputs: a step's `output:` fields → JSON Schema for the model, and validation of replies.

Field types are the state types plus `enum[a,b,c]`; a trailing `?` makes a field optional. The same
validation runs on a model's reply and on a person's edit, so an invalid edit is refused with the reason.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from baton.core.state import type_ok

_FENCE_RE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)


class OutputInvalid(ValueError):
    """A structured output that does not match its schema; the message says exactly what is wrong."""


def enum_values(type_name: str) -> list[str] | None:
    """`enum[a, b]` → ["a", "b"]; anything else → None."""
    base = type_name.removesuffix("?")
    if base.startswith("enum[") and base.endswith("]"):
        return [v.strip() for v in base[5:-1].split(",") if v.strip()]
    return None


def json_schema(fields: Mapping[str, str], name: str = "output") -> dict[str, Any]:
    """The OpenAI-style `response_format` for `fields`."""
    props: dict[str, Any] = {}
    required: list[str] = []
    for field, typ in fields.items():
        props[field] = _field_schema(typ.removesuffix("?"))
        if not typ.endswith("?"):
            required.append(field)
    schema = {"type": "object", "properties": props, "required": required, "additionalProperties": False}
    return {"type": "json_schema", "json_schema": {"name": re.sub(r"\W", "_", name)[:64], "schema": schema}}


def _field_schema(typ: str) -> dict[str, Any]:
    values = enum_values(typ)
    if values is not None:
        return {"type": "string", "enum": values}
    simple = {"str": "string", "int": "integer", "float": "number", "bool": "boolean", "dict": "object"}
    if typ in simple:
        return {"type": simple[typ]}
    if typ.startswith("list[") and typ.endswith("]"):
        return {"type": "array", "items": _field_schema(typ[5:-1])}
    if typ == "list":
        return {"type": "array"}
    return {}


def parse_reply(text: str, fields: Mapping[str, str]) -> dict[str, Any]:
    """Parse a model's text as a JSON object (a ```json fence is tolerated) and validate it."""
    body = text.strip()
    fence = _FENCE_RE.match(body)
    if fence:
        body = fence.group(1)
    if not body.startswith("{"):
        start, end = body.find("{"), body.rfind("}")
        if start >= 0 and end > start:
            body = body[start : end + 1]
    try:
        value = json.loads(body)
    except json.JSONDecodeError as exc:
        raise OutputInvalid(f"reply is not JSON: {exc.msg} at char {exc.pos}") from None
    return validate(value, fields)


def validate(value: Any, fields: Mapping[str, str]) -> dict[str, Any]:
    """Check an object against `fields`; integers are accepted for floats. Extra keys are refused."""
    if not isinstance(value, dict):
        raise OutputInvalid(f"expected a JSON object, got {type(value).__name__}")
    problems: list[str] = []
    out: dict[str, Any] = {}
    for field, typ in fields.items():
        optional = typ.endswith("?")
        base = typ.removesuffix("?")
        if field not in value or value[field] is None:
            if not optional:
                problems.append(f"missing field '{field}'")
            continue
        item = value[field]
        values = enum_values(base)
        listed = enum_values(base[5:-1]) if base.startswith("list[enum[") and base.endswith("]]") else None
        if values is not None:
            if item not in values:
                problems.append(f"'{field}' must be one of {', '.join(values)}, got {item!r}")
                continue
        elif listed is not None:
            if not isinstance(item, list) or any(v not in listed for v in item):
                problems.append(f"'{field}' must be a list of {', '.join(listed)}, got {item!r}")
                continue
        elif not type_ok(item, base):
            problems.append(f"'{field}' must be {base}, got {type(item).__name__}")
            continue
        if not _finite(item):
            problems.append(f"'{field}' must be a finite number, got {item!r}")
            continue
        out[field] = float(item) if base == "float" else item
    extra = sorted(set(value) - set(fields))
    if extra:
        problems.append(f"unexpected field{'s' if len(extra) > 1 else ''} {', '.join(map(repr, extra))}")
    if problems:
        raise OutputInvalid("; ".join(problems))
    return out


def _finite(value: Any) -> bool:
    """NaN and infinity are not answers: `confidence: NaN` would slip past every `confidence < x` rule."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(_finite(v) for v in value)
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    return True


JUDGE_FIELDS = {"pass": "bool", "feedback": "str"}


def router_fields(labels: list[str]) -> dict[str, str]:
    """A router's reply: one of its route labels, and why."""
    return {"route": f"enum[{', '.join(labels)}]", "reason": "str"}


def manager_fields(workers: list[str]) -> dict[str, str]:
    """A supervisor manager's reply: which of its workers to run, and why."""
    return {"workers": f"list[enum[{', '.join(workers)}]]", "reason": "str"}
