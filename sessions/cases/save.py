"""Turning a recorded session into a case: its answers, tool results and decisions, and what it did.

Everything written passes through the redactor first (known secret values from the environment and
credential-shaped text), so a case can be committed next to the workflow it tests.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from baton.core import events as ev
from baton.core.secrets import Redactor, default_redactor
from baton.core.view import SessionView
from baton.sessions.cases.casefile import Answer, Case, Decision, ToolResult
from baton.sessions.cases.trajectory import relative_key, trajectory

FINISHED = ("completed", "degraded", "failed")


class NotSaveable(Exception):
    """The session cannot be a case yet (it has not finished)."""


def case_from_session(
    view: SessionView,
    envelopes: Sequence[ev.Envelope],
    name: str,
    target: Path,
    redactor: Redactor | None = None,
) -> Case:
    """The case of a finished session, to be written at `target` (its workflow path is kept relative to it)."""
    if view.status not in FINISHED:
        raise NotSaveable(f"session {view.session_id} is {view.status}: save a session that has finished")
    redact = redactor or default_redactor()
    case = Case(
        name=name,
        workflow=_workflow_path(view.workflow_path, target),
        workflow_hash=view.workflow_hash,
        inputs=dict(view.inputs),
        models=dict(view.models),
        session=view.session_id,
        lessons=view.options.get("lessons") if isinstance(view.options.get("lessons"), dict) else None,
        expect=trajectory(view, envelopes),
    )
    args: dict[str, dict[str, Any]] = {}
    for env in envelopes:
        e = env.event
        if isinstance(e, ev.LLMCallFinished) and e.status == "ok" and e.request_hash:
            case.answers.setdefault(e.request_hash, _answer(e))
        elif isinstance(e, ev.ToolCallRequested | ev.ToolCallIntent):
            args[e.idempotency_key] = dict(e.args)
        elif isinstance(e, ev.ToolCallFinished) and e.outcome not in ("rejected", "invalid"):
            call = relative_key(e.idempotency_key, view.session_id)
            case.tools[call] = ToolResult(
                call, e.step, e.tool, args.get(e.idempotency_key, {}), e.ok, e.result if e.ok else None, e.error
            )
        elif isinstance(e, ev.DecisionMade) and e.decision != "pause":
            case.decisions[e.checkpoint_id] = Decision(
                e.checkpoint_id, e.step, e.decision, e.feedback, e.edited, e.target, e.model, dict(e.supplied)
            )
    return redacted(case, redact)


def _answer(e: ev.LLMCallFinished) -> Answer:
    return Answer(
        hash=e.request_hash,
        step=e.step,
        turn=e.turn,
        model=e.model,
        request=dict(e.request),
        text=e.text,
        tool_calls=[dict(c) for c in e.tool_calls],
        tokens_in=e.tokens_in,
        tokens_out=e.tokens_out,
        cost_usd=e.cost_usd,
    )


def _workflow_path(stored: str, target: Path) -> str:
    """The workflow as the case names it: relative to the case's folder when both are under the current
    folder (the case moves with its project), else the absolute path."""
    if not stored or stored.startswith("<"):
        return stored or "<unknown>"
    here = Path.cwd().resolve()
    absolute = Path(stored).resolve()
    folder = target.parent.resolve() if target.parent.is_absolute() else (here / target.parent).resolve()
    if absolute.is_relative_to(here) and folder.is_relative_to(here):
        return os.path.relpath(absolute, folder)
    return str(absolute)


def redacted(case: Case, redact: Redactor) -> Case:
    """The case with every text run through the redactor (keys, hashes and ids stay as they are)."""
    for answer in case.answers.values():
        answer.text = redact(answer.text)
        answer.request = _scrub(answer.request, redact)
        answer.tool_calls = _scrub(answer.tool_calls, redact)
    for tool in case.tools.values():
        tool.args, tool.result, tool.error = _scrub(tool.args, redact), _scrub(tool.result, redact), redact(tool.error)
    for decision in case.decisions.values():
        decision.feedback, decision.edited = redact(decision.feedback), _scrub(decision.edited, redact)
        decision.supplied = _scrub(decision.supplied, redact)
    case.inputs = _scrub(case.inputs, redact)
    expect = case.expect
    expect.state, expect.tools = _scrub(expect.state, redact), _scrub(expect.tools, redact)
    return case


def _scrub(value: Any, redact: Redactor) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _scrub(v, redact) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v, redact) for v in value]
    return value
