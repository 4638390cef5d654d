"""Two sessions side by side: their steps aligned, what differs at each, and where they first diverge.

A fork and its parent, or two runs of one workflow, are compared from their folded views alone (no
workflow is loaded, nothing is re-run), so `baton diff` and the TUI's Diff screen show the same thing.
Steps are aligned by path in the order they ran; a step that ran in one session only is shown as such.
The first divergence is the first aligned step whose model request, route, decisions or output differ
(or that ran in one session only): everything before it happened the same way in both.

Pure: no store, no UI; the caller folds the two sessions and renders the result.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from baton.core.result import stored_spec
from baton.core.step_path import StepPath
from baton.core.view import CallView, SessionView, StepView

DIVERGING = ("only_a", "only_b", "request", "route", "decisions", "output")
"""Differences that make a step the point where two sessions diverge (in the order `why` names them)."""
WHY = {
    "only_a": "ran only in A",
    "only_b": "ran only in B",
    "request": "the model request differs",
    "route": "the route differs",
    "decisions": "the decisions differ",
    "output": "the output differs",
}
"""Each diverging difference in words."""
COMPARED = (*DIVERGING, "status", "model", "writes")
"""Everything compared at a step, in the order it is reported (figures — tokens, cost, time — are shown,
never compared: two runs of the same requests take different times)."""


@dataclass(frozen=True)
class DecisionSide:
    """A decision made at a step: who made it, what it was, and the feedback given."""

    reason: str
    decision: str
    who: str
    tool: str = ""
    feedback: str = ""
    target: str = ""
    model: str = ""
    edited: Any = None

    def same_as(self, other: DecisionSide) -> bool:
        """The same decision, whoever made it (who is shown, not compared)."""
        return self.key() == other.key()

    def key(self) -> tuple[str, ...]:
        """What is compared: the question, the answer, the feedback and what the answer changed."""
        edited = json.dumps(self.edited, sort_keys=True, default=str) if self.edited is not None else ""
        return (self.reason, self.tool, self.decision, self.feedback, self.target, self.model, edited)

    def text(self) -> str:
        """`approve save_report by alice (feedback: …)` on one line."""
        what = f"{self.decision} {self.tool}".rstrip()
        if self.target:
            what += f" → {self.target}"
        if self.model:
            what += f" on {self.model}"
        out = f"{what} by {self.who}"
        return out + (f" (feedback: {self.feedback})" if self.feedback else "")

    def to_json(self) -> dict[str, Any]:
        """The decision as a JSON object."""
        return {
            "reason": self.reason,
            "tool": self.tool,
            "decision": self.decision,
            "by": self.who,
            "feedback": self.feedback,
            "target": self.target,
            "model": self.model,
            "edited": self.edited,
        }


@dataclass(frozen=True)
class StepSide:
    """One session's run of a step: its status, route, model, figures, requests, output and decisions."""

    status: str
    kind: str
    model: str
    route: tuple[str, ...]
    tokens_in: int
    tokens_out: int
    cost_usd: float | None
    time_s: float | None
    inherited: bool
    requests: tuple[str, ...]
    output: Any
    writes: dict[str, Any]
    decisions: tuple[DecisionSide, ...]
    messages: tuple[Any, ...] = ()
    """The messages of the step's last model request (shown when requests differ)."""

    def to_json(self) -> dict[str, Any]:
        """The side as a JSON object (the output itself is in the step's `output_diff`)."""
        return {
            "status": self.status,
            "kind": self.kind,
            "model": self.model,
            "route": list(self.route),
            "tokens_in": self.tokens_in,
            "tokens_out": self.tokens_out,
            "cost_usd": self.cost_usd,
            "time_s": self.time_s,
            "inherited": self.inherited,
            "requests": list(self.requests),
            "decisions": [d.to_json() for d in self.decisions],
        }


@dataclass(frozen=True)
class KeyDiff:
    """Keys added (in B only), removed (in A only) and changed between two mappings."""

    added: dict[str, Any] = field(default_factory=dict)
    removed: dict[str, Any] = field(default_factory=dict)
    changed: dict[str, tuple[Any, Any]] = field(default_factory=dict)

    @property
    def same(self) -> bool:
        """Nothing added, removed or changed."""
        return not (self.added or self.removed or self.changed)

    def to_json(self) -> dict[str, Any]:
        """`{"added": {k: v}, "removed": {k: v}, "changed": {k: {"a": v, "b": v}}}`."""
        return {
            "added": dict(self.added),
            "removed": dict(self.removed),
            "changed": {k: {"a": a, "b": b} for k, (a, b) in self.changed.items()},
        }


def key_diff(a: Mapping[str, Any], b: Mapping[str, Any]) -> KeyDiff:
    """What changed from `a` to `b`, key by key (in `a`'s order, then `b`'s new keys)."""
    return KeyDiff(
        added={k: v for k, v in b.items() if k not in a},
        removed={k: v for k, v in a.items() if k not in b},
        changed={k: (v, b[k]) for k, v in a.items() if k in b and not _equal(v, b[k])},
    )


@dataclass(frozen=True)
class StepDiff:
    """One aligned step: each session's side (None where it did not run) and what differs."""

    path: str
    title: str
    a: StepSide | None
    b: StepSide | None
    differs: tuple[str, ...]
    output_diff: str
    request_diff: str
    writes: KeyDiff

    @property
    def where(self) -> str:
        """`both`, `a` or `b`: which sessions ran the step."""
        return "both" if self.a is not None and self.b is not None else ("a" if self.a is not None else "b")

    @property
    def diverges(self) -> bool:
        """The step's request, route, decisions or output differ, or it ran in one session only."""
        return any(d in DIVERGING for d in self.differs)

    @property
    def why(self) -> str:
        """What makes the step diverge, in words ('' when it does not)."""
        return "; ".join(WHY[d] for d in self.differs if d in DIVERGING)

    def to_json(self) -> dict[str, Any]:
        """The step as a JSON object."""
        return {
            "step": self.path,
            "title": self.title,
            "in": self.where,
            "differs": list(self.differs),
            "a": self.a.to_json() if self.a is not None else None,
            "b": self.b.to_json() if self.b is not None else None,
            "output_diff": self.output_diff,
            "request_diff": self.request_diff,
            "writes": self.writes.to_json(),
        }


@dataclass(frozen=True)
class Divergence:
    """Where two sessions first went different ways, and why."""

    step: str
    title: str
    why: str

    def to_json(self) -> dict[str, Any]:
        """`{"step", "title", "why"}`."""
        return {"step": self.step, "title": self.title, "why": self.why}


@dataclass(frozen=True)
class SessionDiff:
    """Two sessions compared: the aligned steps, the final state's differences and the first divergence."""

    a: SessionView
    b: SessionView
    steps: list[StepDiff]
    state: KeyDiff
    first: Divergence | None

    @property
    def same(self) -> bool:
        """The two sessions did the same: no step differs and the final state is equal."""
        return self.first is None and self.state.same and not any(s.differs for s in self.steps)

    @property
    def differing(self) -> list[StepDiff]:
        """The steps with any difference, in order."""
        return [s for s in self.steps if s.differs]

    def to_json(self) -> dict[str, Any]:
        """`{"a", "b", "same", "first_divergence", "steps", "state"}`."""
        return {
            "a": session_json(self.a),
            "b": session_json(self.b),
            "same": self.same,
            "first_divergence": self.first.to_json() if self.first is not None else None,
            "steps": [s.to_json() for s in self.steps],
            "state": self.state.to_json(),
        }


def session_json(view: SessionView) -> dict[str, Any]:
    """What a diff says about each session."""
    return {
        "session_id": view.session_id,
        "workflow": view.workflow,
        "workflow_hash": view.workflow_hash,
        "status": view.shown_status,
        "parent": view.parent,
        "fork_step": view.fork_step,
        "cost_usd": view.cost_usd,
        "inherited_usd": view.inherited_usd,
        "tokens_in": view.tokens_in,
        "tokens_out": view.tokens_out,
        "time_s": view.active_s,
    }


# --- comparing -------------------------------------------------------------------------------------


def compare(a: SessionView, b: SessionView) -> SessionDiff:
    """Compare session `a` with session `b` step by step."""
    sides_a, sides_b = _Sides(a), _Sides(b)
    steps = []
    first: Divergence | None = None
    for path in aligned(ran(a), ran(b)):
        side_a, side_b = sides_a.side(path), sides_b.side(path)
        step = _step_diff(path, (a if side_a is not None else b).title(path), side_a, side_b)
        steps.append(step)
        if first is None and step.diverges:
            first = Divergence(step.path, step.title, step.why)
    return SessionDiff(a, b, steps, key_diff(a.state, b.state), first)


def ran(view: SessionView) -> list[str]:
    """The session's step paths in the order they were first recorded (the order they ran in)."""
    return [path for path in view.steps if path]


def aligned(a: list[str], b: list[str]) -> list[str]:
    """The paths of both lists merged, keeping each list's order: common paths once, a path of one list
    right after the common path it follows there."""
    out: dict[str, None] = {}
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        out.update(dict.fromkeys(a[i1:i2]))
        if tag != "equal":
            out.update((p, None) for p in b[j1:j2] if p not in out)
    return list(out)


def _step_diff(path: str, title: str, a: StepSide | None, b: StepSide | None) -> StepDiff:
    writes = key_diff(a.writes if a else {}, b.writes if b else {})
    if a is None or b is None:
        only: tuple[str, ...] = ("only_a",) if b is None else ("only_b",)
        out_a = output_text(a.output) if a is not None else ""
        out_b = output_text(b.output) if b is not None else ""
        return StepDiff(path, title, a, b, only, unified(out_a, out_b, path), "", writes)
    found = {
        "request": _requests_differ(a, b),
        "route": a.route != b.route,
        "decisions": len(a.decisions) != len(b.decisions)
        or not all(x.same_as(y) for x, y in zip(a.decisions, b.decisions, strict=False)),
        "output": not _equal(a.output, b.output),
        "status": a.status != b.status,
        "model": a.model != b.model,
        "writes": not writes.same,
    }
    differs = tuple(name for name in COMPARED if found.get(name))
    output = unified(output_text(a.output), output_text(b.output), path) if found["output"] else ""
    request = unified(messages_text(a.messages), messages_text(b.messages), path) if found["request"] else ""
    return StepDiff(path, title, a, b, differs, output, request, writes)


def _requests_differ(a: StepSide, b: StepSide) -> bool:
    """Model requests differ when their hashes do (a retry of the same request is not a new one)."""
    if a.requests and b.requests:
        return a.requests != b.requests
    return bool(a.requests) != bool(b.requests)


class _Sides:
    """Each step's side of one session, worked out once per session."""

    def __init__(self, view: SessionView) -> None:
        self.view = view
        self.calls_under: dict[str, list[CallView]] = {}
        for call in view.calls.values():
            path = StepPath(call.step)
            while path:
                self.calls_under.setdefault(path, []).append(call)
                path = path.parent
        self.routes: dict[str, list[str]] = {}
        for target, router in view.routed.items():
            self.routes.setdefault(router, []).append(target)
        self.decisions: dict[str, list[DecisionSide]] = {}
        for cp in sorted(view.checkpoints.values(), key=lambda c: c.opened_seq):
            if cp.decision is None or not cp.step:
                continue
            d = cp.decision
            tool = str(cp.context.get("tool", "")) if cp.reason in ("tool_call", "tool_denied") else ""
            side = DecisionSide(cp.reason, d.decision, d.who, tool, d.feedback, d.target, d.model, d.edited)
            self.decisions.setdefault(cp.step, []).append(side)

    def side(self, path: str) -> StepSide | None:
        step = self.view.steps.get(path)
        if step is None:
            return None
        view = self.view
        calls = self.calls_under.get(path, [])
        own = [view.calls[c] for c in step.calls if c in view.calls]
        copied = _inherited(step, view)
        if calls:
            tokens_in, tokens_out = sum(c.tokens_in for c in calls), sum(c.tokens_out for c in calls)
            known = [c.cost_usd for c in calls if c.cost_usd is not None]
            cost: float | None = sum(known) if len(known) == len(calls) else None
        else:
            tokens_in, tokens_out = step.tokens_in, step.tokens_out
            cost = None if step.cost_unknown else step.cost_usd
        return StepSide(
            status=step.status,
            kind=step.kind,
            model="→".join(dict.fromkeys(c.alias or c.model for c in own)) or step.model,
            route=tuple(sorted(self.routes.get(path, []))),
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            cost_usd=cost,
            time_s=None if copied else step.latency_s,
            inherited=copied,
            requests=tuple(dict.fromkeys(c.request_hash for c in own if c.request_hash)),
            output=step.output,
            writes=dict(step.writes),
            decisions=tuple(self.decisions.get(path, [])),
            messages=_messages(own),
        )


def _messages(calls: Iterable[CallView]) -> tuple[Any, ...]:
    last = [c for c in calls if c.request]
    if not last:
        return ()
    messages = last[-1].request.get("messages")
    return tuple(messages) if isinstance(messages, list) else ()


def _inherited(step: StepView, view: SessionView) -> bool:
    """A fork's step copied from its parent's record (it did not run in the fork)."""
    if not view.parent or not view.fork_step:
        return False
    if step.calls:
        return all(c in view.calls and view.calls[c].inherited for c in step.calls)
    order = _top_order(view.workflow_text)
    top = StepPath(step.path).top
    return top in order and view.fork_step in order and order[top] < order[view.fork_step]


@lru_cache(maxsize=8)
def _top_order(workflow_text: str) -> dict[str, int]:
    spec = stored_spec(SessionView("", workflow_text=workflow_text))
    return {s.id: i for i, s in enumerate(spec.steps)} if spec is not None else {}


# --- text ------------------------------------------------------------------------------------------


def output_text(value: Any) -> str:
    """An output as the lines a diff compares: text as it is, anything else as indented JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=1, sort_keys=True, ensure_ascii=False, default=str)


def messages_text(messages: Iterable[Any]) -> str:
    """A request's messages as lines: `[role]` then the content."""
    out = []
    for message in messages:
        if not isinstance(message, dict):
            out.append(str(message))
            continue
        content = message.get("content")
        text = content if isinstance(content, str) else output_text(content)
        calls = message.get("tool_calls")
        out.append(f"[{message.get('role', '')}]\n{text}" + (f"\n{output_text(calls)}" if calls else ""))
    return "\n".join(out)


def unified(a: str, b: str, path: str) -> str:
    """A unified diff of two texts (A's lines `-`, B's `+`), '' when they are equal."""
    if a == b:
        return ""
    lines = difflib.unified_diff(a.splitlines(), b.splitlines(), f"A {path}", f"B {path}", lineterm="")
    return "\n".join(lines)


def _equal(a: Any, b: Any) -> bool:
    if a == b:
        return True
    return output_text(a) == output_text(b) and type(a) is type(b)
