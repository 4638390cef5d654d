"""What a session did, in the terms a case checks, and how two of them differ.

The same function reads the recorded session (when a case is saved) and the replay (when it is
tested), so the two are compared like for like: how the session ended, the routes taken, each step's
final status, the tool calls per step (tool and arguments, in the order the step made them) and the
final state. Order across parallel steps is not compared — branches finish in any order.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from baton.core import events as ev
from baton.core.view import SessionView
from baton.sessions.cases.casefile import Expect

SHOWN = 160
"""Characters of a value shown in a difference (a long text is shown as a diff instead)."""


def relative_key(key: str, session_id: str) -> str:
    """An idempotency key without its session (`research/papers:r1:t1:call_1`): the same call in any session."""
    prefix = f"{session_id}:"
    return key[len(prefix) :] if key.startswith(prefix) else key


def trajectory(view: SessionView, envelopes: Iterable[ev.Envelope]) -> Expect:
    """How the session ended and went, from its fold and its events."""
    routes: list[dict[str, Any]] = []
    tools: dict[str, list[dict[str, Any]]] = {}
    asked: set[str] = set()
    for env in envelopes:
        e = env.event
        if isinstance(e, ev.Rerouted):
            routes.append({"step": e.step, "route": e.route, "to": e.target, "by": e.by})
        elif isinstance(e, ev.ToolCallRequested):
            asked.add(e.idempotency_key)
            tools.setdefault(e.step, []).append({"tool": e.tool, "args": e.args})
        elif isinstance(e, ev.ToolCallFinished) and not e.call_id and e.idempotency_key not in asked:
            asked.add(e.idempotency_key)
            call = relative_key(e.idempotency_key, view.session_id)
            tools.setdefault(e.step, []).append({"tool": e.tool, "call": call})
    steps = {path: step.status for path, step in view.steps.items()}
    return Expect(status=view.status, routes=routes, steps=steps, tools=tools, state=dict(view.state))


def differences(expected: Expect, got: Expect) -> list[str]:
    """Every way `got` differs from `expected`, one finding a line (a text value's finding has a diff)."""
    out: list[str] = []
    if expected.status != got.status:
        out.append(f"session: expected {expected.status}, got {got.status}")
    if expected.routes != got.routes:
        out.append(f"routes: expected {_routes(expected.routes)}, got {_routes(got.routes)}")
    for path in _union(expected.steps, got.steps):
        want, have = expected.steps.get(path), got.steps.get(path)
        if want != have:
            out.append(f"step {path}: expected {want or 'not to run'}, got {have or 'not run'}")
    for path in _union(expected.tools, got.tools):
        want_calls, have_calls = expected.tools.get(path, []), got.tools.get(path, [])
        if want_calls != have_calls:
            out.append(f"tool calls of {path}: expected {_calls(want_calls)}, got {_calls(have_calls)}")
    for key in _union(expected.state, got.state):
        problem = check_value(key, expected.state.get(key), got.state.get(key), expected.rules.get(key))
        if problem:
            out.append(problem)
    return out


def check_value(key: str, want: Any, have: Any, rule: Mapping[str, Any] | None) -> str:
    """The finding for one state key ('' when it holds): equal to what was recorded, or its rule."""
    if rule is None or "equals" in rule:
        target = want if rule is None else rule["equals"]
        if target == have:
            return ""
        return f"state {key}: " + value_diff(target, have)
    if "contains" in rule:
        needle = str(rule["contains"])
        text = have if isinstance(have, str) else json.dumps(have, ensure_ascii=False)
        return "" if needle in text else f"state {key}: does not contain {needle!r}: {_short(have)}"
    if "schema" in rule:
        return _schema(key, rule["schema"], have)
    return ""  # `judge`: a model call, made only by a live replay (see `judge`)


def value_diff(want: Any, have: Any) -> str:
    """Two values side by side, or a unified diff when either is text of several lines."""
    if isinstance(want, str) and isinstance(have, str) and ("\n" in want or "\n" in have or len(want) > SHOWN):
        lines = difflib.unified_diff(
            want.splitlines(), have.splitlines(), "recorded", "replayed", lineterm="", n=1
        )
        return "differs:\n" + "\n".join("    " + line for line in lines)
    return f"expected {_short(want)}, got {_short(have)}"


def _schema(key: str, schema: Any, value: Any) -> str:
    import jsonschema

    try:
        jsonschema.validate(value, schema)
    except jsonschema.ValidationError as exc:
        return f"state {key}: does not match its schema: {exc.message}"
    except jsonschema.SchemaError as exc:
        return f"state {key}: the rule's schema is not valid: {exc.message}"
    return ""


def _union(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[str]:
    return list(dict.fromkeys([*a, *b]))


def _routes(routes: list[dict[str, Any]]) -> str:
    return ", ".join(f"{r.get('step')}→{r.get('to')}" for r in routes) or "none"


def _calls(calls: list[dict[str, Any]]) -> str:
    shown = [f"{c.get('tool')}({_short(c.get('args', c.get('call', '')), 60)})" for c in calls]
    return "; ".join(shown) or "none"


def _short(value: Any, limit: int = SHOWN) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True) if not isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
