"""How a person's edit is checked before it is accepted, and the diff recorded with it.

An edit is held to the same rules as what it replaces: an edited structured output to its schema and
the state keys it writes, edited values to their declared types and limits, edited tool arguments to
the tool's parameters. An invalid edit is refused with the reason and the checkpoint stays open.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Mapping
from typing import Any

from baton.core.runner.checkpoints import Edit
from baton.core.runner.context import StepFailure
from baton.core.runner.runtime import Runtime
from baton.core.runner.writes import check_writes, tool_writes
from baton.core.spec.model import StepBase, ToolStep
from baton.core.spec.tool_schema import check_args
from baton.core.state import type_ok
from baton.core.structured import OutputInvalid, parse_reply, validate


def text_diff(before: Any, after: Any, label: str = "output") -> str:
    """A unified diff of two values' text forms (recorded with every edit)."""
    a = before if isinstance(before, str) else json.dumps(before, indent=1, ensure_ascii=False, default=str)
    b = after if isinstance(after, str) else json.dumps(after, indent=1, ensure_ascii=False, default=str)
    lines = difflib.unified_diff(
        (a or "").splitlines(), (b or "").splitlines(), f"{label} (before)", f"{label} (after)", lineterm=""
    )
    return "".join(line + "\n" for line in lines)


def prompt(before: str) -> Edit:
    """An edited prompt: any non-empty text."""

    def edit(value: Any) -> tuple[Any, str]:
        if not isinstance(value, str) or not value.strip():
            raise ValueError("the edited prompt must be non-empty text")
        return value, text_diff(before, value, "prompt")

    return edit


def output(
    rt: Runtime, fields: Mapping[str, str] | None, to_writes: Callable[[Any], dict[str, Any]], before: Any
) -> Edit:
    """An edited output, validated as strictly as a model's: its schema, then the state keys it writes."""

    def edit(value: Any) -> tuple[Any, str]:
        edited: Any
        if fields:
            try:
                edited = parse_reply(value, fields) if isinstance(value, str) else validate(value, fields)
            except OutputInvalid as exc:
                raise ValueError(f"edited output is invalid: {exc}") from None
        elif not isinstance(value, str) or not value.strip():
            raise ValueError("edited output must be non-empty text")
        else:
            edited = value
        try:
            check_writes(rt.spec.state, to_writes(edited))
        except StepFailure as failure:
            raise ValueError(f"edited output is invalid: {failure.message}") from None
        return edited, text_diff(before, edited)

    return edit


def values(step: StepBase, rt: Runtime, before: Mapping[str, Any]) -> Edit:
    """Values a person supplies for state keys the step reads or writes: typed and within limits; the
    diff is against the values they replace."""
    allowed = set(step.read_keys) | set(step.writes)

    def edit(value: Any) -> tuple[Any, str]:
        value = parsed_json(value, 'give the values as a JSON object: {"key": value}')
        if not isinstance(value, dict) or not value:
            raise ValueError('give the values as a JSON object: {"key": value}')
        for key, item in value.items():
            if key not in allowed:
                raise ValueError(f"'{key}' is not read or written by this step")
            decl = rt.spec.state.get(key)
            if decl is not None and not type_ok(item, decl.type):
                raise ValueError(f"'{key}' must be {decl.type}")
        try:
            check_writes(rt.spec.state, value)
        except StepFailure as failure:
            raise ValueError(failure.message) from None
        return value, text_diff({k: before.get(k) for k in value}, value, "values")

    return edit


def arguments(args: dict[str, Any]) -> Edit:
    """Edited tool arguments: a JSON object with no argument the call does not have."""

    def edit(value: Any) -> tuple[Any, str]:
        value = parsed_json(value, "edited arguments must be a JSON object")
        if not isinstance(value, dict):
            raise ValueError("edited arguments must be a JSON object")
        unknown = sorted(set(value) - set(args))
        if unknown:
            raise ValueError(f"unknown argument{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}")
        return value, text_diff(args, value, "arguments")

    return edit


def parsed_json(value: Any, refusal: str) -> Any:
    """Text a person typed, parsed as JSON (`ValueError(refusal)` when it is not); a value as it is."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        raise ValueError(refusal) from None


def tool_arguments(schema: dict[str, Any], args: dict[str, Any], given: set[str] | None = None) -> Edit:
    """Edited arguments of an agent's tool call: a JSON object valid for the tool's schema (the
    arguments the workflow `given` are edited as they are)."""

    def edit(value: Any) -> tuple[Any, str]:
        value = parsed_json(value, "edited arguments must be a JSON object")
        fixed = {k: v for k, v in value.items() if k in (given or ())} if isinstance(value, dict) else {}
        rest = {k: v for k, v in value.items() if k not in fixed} if isinstance(value, dict) else value
        try:
            checked = {**check_args(schema, rest), **fixed}
        except ValueError as exc:
            raise ValueError(f"edited arguments do not fit the tool: {exc}") from None
        return checked, text_diff(args, checked, "arguments")

    return edit


def any_value(value: Any) -> tuple[Any, str]:
    """A result a person supplies in place of a tool's: JSON when it parses, else the text."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            pass
    return value, text_diff("", value, "result")


def tool_result(rt: Runtime, step: ToolStep) -> Edit:
    """A result a person supplies in place of a tool's: JSON when it parses, else the text; it must fit
    what the step writes."""

    def edit(value: Any) -> tuple[Any, str]:
        value, diff = any_value(value)
        try:
            tool_writes(rt.spec.state, list(step.writes), value)
        except StepFailure as failure:
            raise ValueError(f"the result cannot be written: {failure.message}") from None
        return value, diff

    return edit
