"""Session state: declared key types, reducers, and the ops that `StateUpdated` carries.

State is a fold over ops. An op is `{"key", "op", "value"}` with op one of replace / append / merge, so a
viewer can fold a session's state without the workflow file. Everything here is pure.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

TYPE_NAMES = (
    "str",
    "int",
    "float",
    "bool",
    "dict",
    "list",
    "list[str]",
    "list[int]",
    "list[float]",
    "list[dict]",
    "any",
)
REDUCERS = ("replace", "append", "merge")

CHARS_PER_TOKEN = 4
"""Size limits in tokens are estimated at four characters a token (documented; counting is per model)."""


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


_SCALAR_CHECKS: dict[str, Callable[[Any], bool]] = {
    "any": lambda value: value is not None,
    "str": lambda value: isinstance(value, str),
    "bool": lambda value: isinstance(value, bool),
    "int": _is_int,
    "float": _is_number,
    "dict": lambda value: isinstance(value, dict),
    "list": lambda value: isinstance(value, list),
}


def type_ok(value: Any, type_name: str) -> bool:
    """Does `value` have the declared type? `None` is never of a type (a missing value is not a value)."""
    check = _SCALAR_CHECKS.get(type_name)
    if check is not None:
        return check(value)
    if type_name.startswith("list[") and isinstance(value, list):
        inner = _SCALAR_CHECKS.get(type_name[5:-1])
        return inner is not None and all(map(inner, value))
    return False


def empty_value(type_name: str, reducer: str) -> Any:
    """The implicit starting value of an accumulating key (append lists, merge dicts), else None."""
    if reducer == "append" and (type_name == "list" or type_name.startswith("list[")):
        return []
    if reducer == "merge" and type_name == "dict":
        return {}
    return None


def coerce_input(raw: str, type_name: str) -> Any:
    """Turn a command-line `key=value` string into the declared type (JSON for lists, dicts, numbers)."""
    if type_name in ("str", "any"):
        return raw
    if type_name == "bool":
        low = raw.strip().lower()
        if low in ("true", "yes", "1", "on"):
            return True
        if low in ("false", "no", "0", "off"):
            return False
        raise ValueError(f"expected true or false, got {raw!r}")
    if type_name == "list[str]" and not raw.lstrip().startswith("["):
        return [part.strip() for part in raw.split(",") if part.strip()]
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"expected {type_name} (as JSON), got {raw!r}") from exc
    if type_name == "float" and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not type_ok(value, type_name):
        raise ValueError(f"expected {type_name}, got {raw!r}")
    return value


def make_op(key: str, reducer: str, value: Any) -> dict[str, Any]:
    """The op that applies `value` to `key` through its reducer."""
    return {"key": key, "op": reducer, "value": value}


def apply_op(state: dict[str, Any], op: Mapping[str, Any]) -> None:
    """Fold one op into `state` in place."""
    key = str(op["key"])
    kind = op.get("op", "replace")
    value = op.get("value")
    if kind == "append":
        current = state.get(key)
        items = value if isinstance(value, list) else [value]
        state[key] = (list(current) if isinstance(current, list) else []) + list(items)
    elif kind == "merge":
        current = state.get(key)
        merged = dict(current) if isinstance(current, dict) else {}
        if isinstance(value, dict):
            merged.update(value)
        state[key] = merged
    else:
        state[key] = value


def apply_ops(state: dict[str, Any], ops: Iterable[Mapping[str, Any]]) -> None:
    """Fold ops into `state` in order."""
    for op in ops:
        apply_op(state, op)


def size_chars(value: Any) -> int:
    """Characters a value takes in a prompt (strings as-is, anything else as compact JSON)."""
    if value is None:
        return 0
    if isinstance(value, str):
        return len(value)
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str))


def estimate_tokens(text_or_value: Any) -> int:
    """A model-independent token estimate for limits and forecasts before a model is known."""
    chars = size_chars(text_or_value)
    return (chars + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN


def render_value(value: Any) -> str:
    """How a state value appears inside a prompt: strings raw, lists as bullet lines, the rest JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "\n".join(f"- {v}" for v in value)
    return json.dumps(value, ensure_ascii=False, indent=1, default=str)
