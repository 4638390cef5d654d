"""Checking what a step would write against the state schema, before it is written.

The second half of layer 1: a value of the wrong type, or over its declared size limit, is a failure
(or truncated, when the key says so) — a later step never runs on bad data. The same check runs on a
model's answer, a person's edit and values supplied for a skipped step.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from baton.core.runner.context import StepFailure
from baton.core.spec.model import StateKey
from baton.core.state import CHARS_PER_TOKEN, estimate_tokens, type_ok


def check_writes(schema: Mapping[str, StateKey], writes: dict[str, Any]) -> dict[str, Any]:
    """Validate writes against the state schema (types, then limits); returns them, truncated where allowed."""
    out: dict[str, Any] = {}
    for key, value in writes.items():
        decl = schema.get(key)
        if decl is None:
            raise StepFailure(f"output writes undeclared key '{key}'", "output_invalid")
        out[key] = _fit(key, value, decl)
    return out


def _fit(key: str, value: Any, decl: StateKey) -> Any:
    item_of_list = decl.reducer == "append" and not isinstance(value, list)
    if item_of_list:
        ok = type_ok([value], decl.type)
    else:
        ok = type_ok(value, decl.type)
    if not ok:
        raise StepFailure(f"'{key}' must be {decl.type}, got {type(value).__name__}", "output_invalid")
    if isinstance(value, str) and value == "" and decl.type == "str":
        raise StepFailure(f"'{key}' would be empty", "output_invalid")
    over = _over_limit(value, decl)
    if over is None:
        return value
    if decl.on_overflow == "truncate":
        return _truncate(value, decl)
    raise StepFailure(f"'{key}' {over}", "output_invalid")


def _over_limit(value: Any, decl: StateKey) -> str | None:
    if decl.max_chars is not None and isinstance(value, str) and len(value) > decl.max_chars:
        return f"has {len(value)} chars, over its limit of {decl.max_chars}"
    if decl.max_items is not None and isinstance(value, list) and len(value) > decl.max_items:
        return f"has {len(value)} items, over its limit of {decl.max_items}"
    if decl.max_tokens is not None and decl.reducer != "append" and estimate_tokens(value) > decl.max_tokens:
        return f"has ~{estimate_tokens(value)} tokens, over its limit of {decl.max_tokens}"
    return None


def _truncate(value: Any, decl: StateKey) -> Any:
    if isinstance(value, str):
        limit = min(decl.max_chars or len(value), (decl.max_tokens or len(value)) * CHARS_PER_TOKEN)
        return value[:limit]
    if isinstance(value, list) and decl.max_items is not None:
        return value[: decl.max_items]
    return value


def tool_writes(schema: Mapping[str, StateKey], writes: list[str], result: Any) -> dict[str, Any]:
    """What a tool's result writes: the value itself for one key, the named entries of a dict for several;
    checked like any other writes."""
    if len(writes) == 1:
        return check_writes(schema, {writes[0]: result})
    if not writes:
        return {}
    if not isinstance(result, dict):
        raise StepFailure(f"it must return a dict with {', '.join(writes)}", "output_invalid")
    return check_writes(schema, {k: result[k] for k in writes if k in result})
