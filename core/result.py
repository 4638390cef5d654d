"""A session's result: the state values a workflow declares as its outputs.

A workflow names its result with a top-level `outputs: [key, …]`. Without it, the result is what the last
completed top-level step wrote, which is the answer in most pipelines (a gate or a tool that writes nothing
does not count: the result is what the step before it wrote). Values come from the final state, so a key
accumulated by a reducer is whole.

The same two functions serve `baton result`, `baton run -o`, the end of a line-mode run and the TUI's
completed view, so every place shows the same result.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from baton.core.spec.model import WorkflowSpec
from baton.core.spec.yaml_source import SourceError, parse_yaml
from baton.core.view import SessionView, StepView

RESULT_STATUSES = ("completed", "degraded")
"""Session statuses in which the result is final."""
_DONE = ("completed", "degraded")
"""Step statuses whose writes count."""


def stored_spec(view: SessionView) -> WorkflowSpec | None:
    """The spec of the workflow text the session recorded (None when it no longer parses). Load-time checks
    are not run: they may depend on a config file that has changed since."""
    try:
        data, _ = parse_yaml(view.workflow_text)
        return WorkflowSpec.model_validate(data)
    except (SourceError, ValidationError):
        return None


def session_result(view: SessionView, spec: WorkflowSpec | None) -> dict[str, Any]:
    """The result as `{key: value}` in the order the workflow declares (empty when nothing was produced).

    It is computed from whatever the session has produced so far; `result_missing` says whether it is final.
    `spec` None (a workflow that no longer loads) means the default rule.
    """
    keys = list(spec.outputs) if spec is not None and spec.outputs is not None else _last_written(view)
    out: dict[str, Any] = {}
    for key in keys:
        value = view.state.get(key)
        if value is None:
            value = _written_value(view, key)
        if value is not None:
            out[key] = value
    return out


def result_missing(view: SessionView, result: Mapping[str, Any]) -> str | None:
    """Why a session has no final result yet (None when it has one), in words that name what to do."""
    sid = view.session_id
    if view.status in RESULT_STATUSES:
        return None if result else f"session {sid} {view.status} without writing any of its outputs"
    if view.status == "failed":
        return f"session {sid} failed, so it has no result" + (f": {view.error}" if view.error else "")
    waiting = view.open_checkpoints
    if view.status in ("paused", "cancelled"):
        at = f" at {waiting[0].step}" if waiting else ""
        return f"session {sid} is {view.status}{at} and has no result yet: `baton resume {sid}` continues it"
    if waiting:
        return (
            f"session {sid} is waiting for a decision at {waiting[0].step} and has no result yet: "
            f"`baton attach {sid}` answers it"
        )
    return f"session {sid} is still running and has no result yet: `baton attach {sid}` follows it"


def value_text(value: Any) -> str:
    """A value as a person reads it: text as it is, anything else as indented JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, indent=2, default=str)


def result_text(result: Mapping[str, Any]) -> str:
    """The result as text: one value alone, several each under a `# key` heading. Ends with a newline."""
    if len(result) == 1:
        return _ended(value_text(next(iter(result.values()))))
    parts = [f"# {key}\n\n{_ended(value_text(value))}" for key, value in result.items()]
    return "\n".join(parts)


def _ended(text: str) -> str:
    return text if text.endswith("\n") else text + "\n"


def _top_level(path: str) -> bool:
    return bool(path) and not any(mark in path for mark in "/[#")


def _last_written(view: SessionView) -> list[str]:
    """The keys the last completed top-level step (that wrote anything) wrote."""
    done = [
        (step.ended_at or 0.0, i, step)
        for i, step in enumerate(view.steps.values())
        if _top_level(step.path) and step.status in _DONE and step.writes
    ]
    if not done:
        return []
    last: StepView = max(done, key=lambda entry: (entry[0], entry[1]))[2]
    return list(last.writes)


def _written_value(view: SessionView, key: str) -> Any:
    """A key's value as a step wrote it, for a key the state no longer holds."""
    for step in reversed(view.steps.values()):
        if step.status in _DONE and key in step.writes:
            return step.writes[key]
    return None
