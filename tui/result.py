"""A session's result as the Run screen shows it once the run is over: every output in full, Markdown
rendered, text made inert first.

The result is what the workflow declares (`outputs:`), computed by the session view when it can;
otherwise the state keys the last completed top-level step wrote.
"""

from __future__ import annotations

from typing import Any

from baton.core.view import SessionView
from baton.tui.sanitize import inert
from baton.tui.values import yaml_text

RESULT_STATUSES = ("completed", "degraded")


def session_result(view: SessionView) -> dict[str, Any]:
    """Output key → value (empty while the session has no result)."""
    if view.status not in RESULT_STATUSES:
        return {}
    declared = getattr(view, "result", None)
    if callable(declared):
        value = declared()
        if isinstance(value, dict):
            return value
    wrote = [
        step
        for path, step in view.steps.items()
        if not any(mark in path for mark in "/[#") and step.status in RESULT_STATUSES and step.writes
    ]
    if not wrote:
        return {}
    last = max(wrote, key=lambda step: step.ended_at or 0.0)
    return {key: view.state.get(key, value) for key, value in last.writes.items()}


def result_markdown(result: dict[str, Any]) -> str:
    """The result as Markdown: one section per output (a single output needs no heading); texts as they
    are, a list of texts one after another, anything else as a YAML block."""
    parts = []
    for key, value in result.items():
        if len(result) > 1:
            parts.append(f"## {inert(key)}\n")
        if isinstance(value, str):
            parts.append(inert(value))
        elif isinstance(value, list) and value and all(isinstance(item, str) for item in value):
            parts.append("\n\n---\n\n".join(inert(item).strip() for item in value))
        else:
            parts.append("```yaml\n" + inert(yaml_text(value)) + "\n```")
        parts.append("\n")
    return "\n".join(parts).strip() + "\n"
