"""A session's result as the Run screen shows it once the run is over: every output in full, Markdown
rendered, text made inert first.

The result is what the workflow declares (`outputs:`, else what the last completed top-level step wrote),
by the one rule every reader uses (`core.result`).
"""

from __future__ import annotations

from typing import Any

from baton.core import result as core_result
from baton.core.view import SessionView
from baton.tui.sanitize import inert
from baton.tui.values import yaml_text


def session_result(view: SessionView) -> dict[str, Any]:
    """Output key → value once the session has its result (empty before, and when it has none)."""
    result = core_result.session_result(view, core_result.stored_spec(view))
    return result if core_result.result_missing(view, result) is None else {}


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
