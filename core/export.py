"""A session as OpenTelemetry-style spans with GenAI semantic-convention names, one JSON object a line.

`invoke_workflow` (the session) → `invoke_agent` (model steps) / `execute_tool` (tool steps) / `step`
(composites and gates) → `chat` (each model call attempt). Prompts and answers are included only when
asked for (`content=True`), both as GenAI messages of one shape (`{"role", "parts": [{"type": "text",
"content"}]}`; an agent's tool calls are `{"type": "tool_call", "id", "name", "arguments"}` parts, their
results `{"type": "tool_call_response", "id", "response"}` parts of a `tool` message); credentials are
never in the record to begin with. A file that holds content is private
to its owner (0600), like the session store it comes from.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from baton.core.step_path import StepPath
from baton.core.view import CallView, SessionView, StepView

_NS = 1_000_000_000


def _id(text: str, size: int) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:size]


def _ns(ts: float | None) -> int | None:
    return int(ts * _NS) if ts is not None else None


def _parent_span(path: str, ids: dict[str, str], root: str) -> str:
    """The span of the nearest enclosing step that has one (a loop iteration `refine#2` has none)."""
    parent = StepPath(path).parent
    while parent:
        if parent in ids:
            return ids[parent]
        parent = parent.parent
    return root


def _provider(model: str) -> str:
    return model.split("/", 1)[0] if "/" in model else "openai"


def write_lines(path: Path, lines: Iterable[str], private: bool) -> None:
    """Write one line per item to `path`; `private` creates it (or tightens it) to 0600 before any line
    is written, so prompts and answers are never readable by others, not even for a moment."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o666)
    if private:
        os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        for line in lines:
            out.write(line + "\n")


def messages(raw: Any) -> list[dict[str, Any]]:
    """Request messages (OpenAI chat shape) as GenAI messages: `{"role", "parts": [...]}`, each text a
    `{"type": "text", "content"}` part, the same shape as the answer's."""
    out: list[dict[str, Any]] = []
    for message in raw if isinstance(raw, list) else []:
        if not isinstance(message, dict):
            continue
        content = message.get("content")
        parts: list[dict[str, Any]] = []
        if isinstance(content, str):
            parts.append(_text_part(content))
        elif isinstance(content, list):
            for piece in content:
                if isinstance(piece, dict) and piece.get("type") == "text":
                    parts.append(_text_part(str(piece.get("text", ""))))
                elif isinstance(piece, dict):
                    parts.append(dict(piece))
        elif content is not None:
            parts.append(_text_part(str(content)))
        parts += [_tool_call_part(call) for call in message.get("tool_calls") or [] if isinstance(call, dict)]
        role = str(message.get("role", "user"))
        if role == "tool":
            parts = [{"type": "tool_call_response", "id": str(message.get("tool_call_id", "")), "response": content}]
        out.append({"role": role, "parts": parts})
    return out


def _tool_call_part(call: dict[str, Any]) -> dict[str, Any]:
    """A tool call the model made, as a GenAI `tool_call` part (arguments parsed when they are JSON)."""
    nested = call.get("function")
    function: dict[str, Any] = nested if isinstance(nested, dict) else call
    arguments: Any = function.get("arguments", "")
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments) if arguments else {}
        except json.JSONDecodeError:
            pass
    name = str(function.get("name", ""))
    return {"type": "tool_call", "id": str(call.get("id", "")), "name": name, "arguments": arguments}


def _text_part(text: str) -> dict[str, Any]:
    return {"type": "text", "content": text}


def _answer(call: CallView) -> list[dict[str, Any]]:
    parts = [_text_part(call.text)] if call.text or not call.tool_calls else []
    parts += [_tool_call_part(c) for c in call.tool_calls]
    return [{"role": "assistant", "parts": parts}]


def spans(view: SessionView, content: bool = False) -> Iterator[dict[str, Any]]:
    """Every span of the session, parents before children."""
    trace = _id(view.session_id, 32)
    root = _id(view.session_id + ":root", 16)
    ok = view.status in ("completed", "degraded")
    yield {
        "name": f"invoke_workflow {view.workflow}",
        "trace_id": trace,
        "span_id": root,
        "parent_span_id": None,
        "start_time_unix_nano": _ns(view.started_at),
        "end_time_unix_nano": _ns(view.ended_at),
        "status": {"code": "OK" if ok else ("ERROR" if view.status == "failed" else "UNSET"), "message": view.error},
        "attributes": {
            "gen_ai.operation.name": "invoke_workflow",
            "baton.workflow.name": view.workflow,
            "baton.session.id": view.session_id,
            "baton.session.status": view.status,
            "baton.session.parent": view.parent or None,
            "gen_ai.usage.input_tokens": view.tokens_in,
            "gen_ai.usage.output_tokens": view.tokens_out,
            "baton.cost_usd": round(view.cost_usd, 10),
            "baton.cost_unknown_calls": view.cost_unknown_calls,
        },
    }
    ids = {path: _id(f"{view.session_id}:{path}", 16) for path in view.steps}
    for step in view.steps.values():
        if not step.path:
            continue
        yield _step_span(step, trace, _parent_span(step.path, ids, root), ids[step.path], view)
    for call in view.calls.values():
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": _provider(call.model),
            "gen_ai.request.model": call.model,
            "gen_ai.usage.input_tokens": call.tokens_in,
            "gen_ai.usage.output_tokens": call.tokens_out,
            "baton.model.alias": call.alias,
            "baton.attempt": call.attempt,
            "baton.call.status": call.status,
            "baton.cost_usd": call.cost_usd,
            "baton.replayed": call.replayed,
            "baton.time_to_first_token_s": call.ttft_s,
        }
        if call.request.get("max_tokens") is not None:
            attributes["gen_ai.request.max_tokens"] = call.request["max_tokens"]
        if call.error_type:
            attributes["error.type"] = call.error_type
        if content:
            attributes["gen_ai.input.messages"] = json.dumps(messages(call.request.get("messages")), ensure_ascii=False)
            attributes["gen_ai.output.messages"] = json.dumps(_answer(call), ensure_ascii=False)
        yield {
            "name": f"chat {call.model}",
            "trace_id": trace,
            "span_id": _id(f"{view.session_id}:call:{call.call_id}", 16),
            "parent_span_id": ids.get(call.step, root),
            "start_time_unix_nano": _ns(call.started_at),
            "end_time_unix_nano": _ns(call.ended_at),
            "status": {"code": "OK" if call.status == "ok" else "ERROR", "message": call.error},
            "attributes": attributes,
        }


def _step_span(step: StepView, trace: str, parent: str, span: str, view: SessionView) -> dict[str, Any]:
    if step.calls:
        operation, name = "invoke_agent", f"invoke_agent {step.path}"
    elif step.kind == "tool":
        operation, name = "execute_tool", f"execute_tool {step.path}"
    else:
        operation, name = "step", f"step {step.path}"
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": operation,
        "baton.step.path": step.path,
        "baton.step.kind": step.kind,
        "baton.step.status": step.status,
        "gen_ai.usage.input_tokens": step.tokens_in,
        "gen_ai.usage.output_tokens": step.tokens_out,
        "baton.cost_usd": None if step.cost_unknown else round(step.cost_usd, 10),
        "baton.retries": step.retries,
        "baton.orchestration": step.orchestration,
    }
    if operation == "invoke_agent":
        attributes["gen_ai.agent.name"] = step.path
        attributes["gen_ai.request.model"] = step.model
    if operation == "execute_tool":
        attributes["gen_ai.tool.name"] = step.path
    if step.error:
        attributes["error.type"] = "step_failed"
    if step.label and step.path.endswith("]"):
        attributes["baton.step.label"] = step.label
    start, end = _times(step, view)
    return {
        "name": name,
        "trace_id": trace,
        "span_id": span,
        "parent_span_id": parent,
        "start_time_unix_nano": _ns(start),
        "end_time_unix_nano": _ns(end),
        "status": {"code": "ERROR" if step.status == "failed" else "OK", "message": step.error or step.note},
        "attributes": attributes,
    }


def _times(step: StepView, view: SessionView) -> tuple[float | None, float | None]:
    """A step's span from when it started running to when it ended; a step that never ran (skipped, or
    still pending when the session stopped) is a span of no length when it ended, or when the session
    did."""
    if step.started_at is not None:
        return step.started_at, step.ended_at
    at = step.ended_at if step.ended_at is not None else (view.ended_at or view.started_at)
    return at, at
