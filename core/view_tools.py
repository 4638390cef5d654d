"""The fold of agents' tool loops: per step, its turns and each tool call with what became of it; for
the session, the always-for-this-session grants in force.

`SessionView` keeps one `ToolsView` and hands it the events that concern tools: the offered tools, each
model turn (its text and the calls it asked for), each call requested, approved, edited, rejected,
denied or finished, and each grant or revocation. Like the rest of the fold it is pure and needs no
workflow file. A call's status is what a person is shown:

- `requested` — the model asked for it; the policy has not said yet;
- `waiting` — a `tool_call` checkpoint is open for it (waiting for approval);
- `running` — it runs (no approval needed, a grant covers it, or a person approved it);
- `done`, `supplied` (a person gave the result), `failed`, `rejected` (a person's message went back to
  the model), `denied` (a person stopped the step), `invalid` (unknown tool or arguments that do not fit);
- `interrupted` — its step stopped before it finished.
"""

from __future__ import annotations

import json
from collections.abc import Container
from dataclasses import dataclass, field
from typing import Any

from baton.core import events as ev

ENDED = frozenset({"done", "supplied", "failed", "rejected", "denied", "invalid", "interrupted"})
"""Statuses after which a call changes no more (until a resumed runner takes it up again)."""
UNFINISHED = frozenset({"requested", "waiting", "running"})
OUTCOMES = {
    "done": "done",
    "failed": "failed",
    "rejected": "rejected",
    "denied": "denied",
    "supplied": "supplied",
    "invalid": "invalid",
}
"""`ToolCallFinished.outcome` → the call's status."""
DECIDED = {"approve": "running", "edit": "running", "always": "running", "reject": "rejected", "deny": "denied"}
"""A decision at a `tool_call` checkpoint → the call's status."""


@dataclass
class ToolCallView:
    """One tool call an agent's model asked for, from the request to its result."""

    call_id: str
    step: str
    tool: str
    turn: int = 0
    round: int = 1
    source: str = ""
    """python | mcp | agent (empty until the runner says)."""
    origin: str = ""
    """The callable, the MCP server's name or the sub-agent's id."""
    args: dict[str, Any] = field(default_factory=dict)
    """The arguments it runs with (a person's edit replaces the model's)."""
    asked_args: dict[str, Any] | None = None
    """The model's arguments, when a person edited them."""
    arguments_text: str = ""
    """The arguments as the model wrote them, when they were not a JSON object."""
    args_digest: str = ""
    idempotency_key: str = ""
    policy: str = ""
    reason: str = ""
    status: str = "requested"
    result: Any = None
    """The whole result, as recorded."""
    error: str = ""
    latency_s: float | None = None
    requested_at: float | None = None
    ended_at: float | None = None
    checkpoint_id: str = ""
    decision: str = ""
    decided_by: str = ""
    decided_where: str = ""
    feedback: str = ""

    @property
    def ended(self) -> bool:
        """Finished one way or another."""
        return self.status in ENDED


@dataclass
class TurnView:
    """One model turn of a tool loop: its calls (attempts), its text and the tool calls it asked for."""

    number: int
    model_calls: list[str] = field(default_factory=list)
    text: str = ""
    status: str = "running"
    tool_calls: list[str] = field(default_factory=list)
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    cost_unknown: bool = False
    latency_s: float = 0.0
    replayed: bool = False


@dataclass
class ToolLoop:
    """A tool-calling agent's transcript: its turns in order and its tool calls by call id."""

    step: str
    turns: dict[int, TurnView] = field(default_factory=dict)
    calls: dict[str, ToolCallView] = field(default_factory=dict)
    tools: list[dict[str, Any]] = field(default_factory=list)
    """What it is offered, as `ToolsListed` recorded it."""

    @property
    def turn(self) -> int:
        """The latest turn (0 before the first)."""
        return max(self.turns, default=0)

    def ordered_turns(self) -> list[TurnView]:
        """Turns by number."""
        return [self.turns[n] for n in sorted(self.turns)]

    def calls_of(self, turn: int) -> list[ToolCallView]:
        """The tool calls a turn asked for, in the order it asked."""
        found = [self.calls[c] for c in self.turns[turn].tool_calls if c in self.calls] if turn in self.turns else []
        extra = [c for c in self.calls.values() if c.turn == turn and c not in found]
        return found + extra

    def ordered_calls(self) -> list[ToolCallView]:
        """Every tool call, turn by turn."""
        out: list[ToolCallView] = []
        for turn in sorted({*self.turns, *(c.turn for c in self.calls.values())}):
            out += self.calls_of(turn)
        return out

    def count(self, status: str) -> int:
        """How many calls have `status`."""
        return sum(1 for c in self.calls.values() if c.status == status)

    def _turn(self, number: int) -> TurnView:
        turn = self.turns.get(number)
        if turn is None:
            turn = self.turns[number] = TurnView(number)
        return turn


@dataclass(frozen=True)
class Grant:
    """An always-for-this-session grant: calls of `tool` (whose arguments match `pattern`) run unasked."""

    tool: str
    pattern: dict[str, str]
    by: str
    step: str
    at: float

    def covers(self, tool: str, pattern: dict[str, str]) -> bool:
        """The same grant (a revocation names the tool and the pattern it was given with)."""
        return self.tool == tool and self.pattern == pattern


@dataclass
class ToolsView:
    """Every agent's tool loop in a session, and the grants in force."""

    loops: dict[str, ToolLoop] = field(default_factory=dict)
    grants: list[Grant] = field(default_factory=list)

    def loop(self, step: str) -> ToolLoop:
        """A step's loop, created on first mention."""
        loop = self.loops.get(step)
        if loop is None:
            loop = self.loops[step] = ToolLoop(step)
        return loop

    def call(self, call_id: str) -> ToolCallView | None:
        """A tool call by its id, in whichever step made it."""
        for loop in self.loops.values():
            found = loop.calls.get(call_id)
            if found is not None:
                return found
        return None

    # --- the fold ----------------------------------------------------------------------------------

    def listed(self, e: ev.ToolsListed) -> None:
        """The tools an agent is offered."""
        self.loop(e.step).tools = [dict(t) for t in e.tools]

    def turn_started(self, e: ev.LLMCallStarted) -> None:
        """A model call of a turn (a retry is one more call of the same turn)."""
        if e.turn <= 0:
            return
        turn = self.loop(e.step)._turn(e.turn)
        if e.call_id not in turn.model_calls:
            turn.model_calls.append(e.call_id)
        turn.status = "running"

    def turn_finished(self, e: ev.LLMCallFinished) -> None:
        """A turn's call ended: its text, its figures and the tool calls it asked for."""
        if e.turn <= 0:
            return
        loop = self.loop(e.step)
        turn = loop._turn(e.turn)
        if e.call_id not in turn.model_calls:
            turn.model_calls.append(e.call_id)
        turn.tokens_in += e.tokens_in
        turn.tokens_out += e.tokens_out
        if e.cost_usd is None:
            turn.cost_unknown = True
        else:
            turn.cost_usd += e.cost_usd
        turn.latency_s += e.latency_s
        if e.status != "ok":
            turn.status = "error" if e.status == "error" else "running"
            return
        turn.status, turn.text, turn.replayed = "ok", e.text, e.replayed
        for asked in e.tool_calls:
            call_id = str(asked.get("id", ""))
            if not call_id:
                continue
            if call_id not in turn.tool_calls:
                turn.tool_calls.append(call_id)
            if call_id not in loop.calls:
                call = loop.calls[call_id] = ToolCallView(call_id, e.step, str(asked.get("name", "")), turn=e.turn)
                call.args, call.arguments_text = _arguments(asked.get("arguments"))

    def requested(self, e: ev.ToolCallRequested, ts: float) -> None:
        """The runner took a call up: its arguments, where the tool comes from and what the policy said."""
        loop = self.loop(e.step)
        call = loop.calls.get(e.call_id)
        if call is None:
            call = loop.calls[e.call_id] = ToolCallView(e.call_id, e.step, e.tool)
        call.tool, call.turn, call.round = e.tool, e.turn, e.round
        call.source, call.origin = e.source, e.origin
        call.args, call.args_digest, call.idempotency_key = dict(e.args), e.args_digest, e.idempotency_key
        call.policy, call.reason, call.requested_at = e.policy, e.reason, ts
        call.arguments_text = ""
        if call.status in UNFINISHED or call.status == "interrupted":
            call.status = {"run": "running", "granted": "running", "ask": "waiting", "invalid": "invalid"}.get(
                e.policy, "requested"
            )
        turn = loop._turn(e.turn)
        if e.call_id not in turn.tool_calls:
            turn.tool_calls.append(e.call_id)

    def finished(self, e: ev.ToolCallFinished, ts: float) -> None:
        """A call's result or error (a `tool` step's call, with no call id, is not a loop's)."""
        if not e.call_id:
            return
        loop = self.loop(e.step)
        call = loop.calls.get(e.call_id)
        if call is None:
            call = loop.calls[e.call_id] = ToolCallView(e.call_id, e.step, e.tool)
        call.status = OUTCOMES.get(e.outcome, "done" if e.ok else "failed")
        call.result, call.error, call.latency_s, call.ended_at = e.result, e.error, e.latency_s, ts
        call.idempotency_key = call.idempotency_key or e.idempotency_key

    def checkpoint_opened(self, e: ev.CheckpointOpened) -> None:
        """A `tool_call` checkpoint: the call waits for a person."""
        if e.reason != "tool_call":
            return
        ctx = e.context if isinstance(e.context, dict) else {}
        call_id = str(ctx.get("call_id") or e.checkpoint_id.rsplit(":", 1)[-1])
        loop = self.loop(e.step)
        call = loop.calls.get(call_id)
        if call is None:
            call = loop.calls[call_id] = ToolCallView(call_id, e.step, str(ctx.get("tool", "")))
            call.source, call.origin = str(ctx.get("source", "")), str(ctx.get("origin", ""))
            call.args = dict(ctx["args"]) if isinstance(ctx.get("args"), dict) else {}
            call.turn, call.round = int(ctx.get("turn") or 0), int(ctx.get("round") or e.round)
        call.checkpoint_id, call.status, call.policy = e.checkpoint_id, "waiting", call.policy or "ask"
        call.reason = call.reason or str(ctx.get("why", ""))

    def decided(self, step: str, context: dict[str, Any], e: ev.DecisionMade) -> None:
        """A person's decision on a `tool_call` checkpoint (`context` is the checkpoint's)."""
        call = self.loops.get(step, ToolLoop(step)).calls.get(str(context.get("call_id", "")))
        if call is None or e.decision not in DECIDED:
            return
        call.decision, call.decided_by, call.feedback = e.decision, e.by, e.feedback
        call.decided_where = e.where
        if call.status in UNFINISHED:
            call.status = DECIDED[e.decision]
        if e.decision == "edit" and isinstance(e.edited, dict):
            call.asked_args = call.asked_args if call.asked_args is not None else call.args
            call.args = dict(e.edited)

    def grant_changed(self, e: ev.ToolGrantChanged, ts: float) -> None:
        """A grant given or revoked."""
        pattern = {str(k): str(v) for k, v in e.pattern.items()}
        self.grants = [g for g in self.grants if not g.covers(e.tool, pattern)]
        if e.granted:
            self.grants.append(Grant(e.tool, pattern, e.by, e.step, ts))

    def interrupt(self, step: str, still_open: Container[str], also_waiting: bool = True) -> None:
        """The step stopped: its calls that had not finished will not finish in this run (a call whose
        checkpoint is still open keeps waiting; a paused run leaves waiting calls waiting)."""
        loop = self.loops.get(step)
        if loop is None:
            return
        for call in loop.calls.values():
            if call.status not in UNFINISHED or (call.checkpoint_id and call.checkpoint_id in still_open):
                continue
            if call.status == "waiting" and not also_waiting:
                continue
            call.status = "interrupted"


# --- tool records of any step (a `tool` step's intent, an agent's call) ------------------------------


def record_intent(intents: dict[str, dict[str, Any]], e: ev.ToolCallIntent, ts: float) -> None:
    """A side-effecting call is about to run: its intent, by idempotency key."""
    intents[e.idempotency_key] = {
        "step": e.step,
        "tool": e.tool,
        "args": e.args,
        "args_hash": e.args_hash,
        "finished": False,
        "side_effects": e.side_effects,
        "at": ts,
    }


def record_finish(intents: dict[str, dict[str, Any]], e: ev.ToolCallFinished) -> None:
    """A call's result or error, beside its intent."""
    intent = intents.setdefault(e.idempotency_key, {"step": e.step, "tool": e.tool})
    intent.update(finished=True, ok=e.ok, result=e.result, error=e.error)


# --- reading a call --------------------------------------------------------------------------------


def _arguments(raw: Any) -> tuple[dict[str, Any], str]:
    """The arguments a model wrote: (the object, '') when they are a JSON object, else ({}, the text)."""
    if isinstance(raw, dict):
        return dict(raw), ""
    text = "" if raw is None else str(raw)
    try:
        value = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError:
        return {}, text
    return (value, "") if isinstance(value, dict) else ({}, text)


def result_text(value: Any) -> str:
    """A result as text: a string as itself, anything else as indented JSON (not yet made inert)."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    try:
        return json.dumps(value, ensure_ascii=False, indent=2, default=str)
    except (TypeError, ValueError):
        return str(value)


def first_lines(text: str, count: int) -> tuple[list[str], int]:
    """The first `count` lines of `text` (leading and trailing blank lines dropped) and how many more
    there are."""
    lines = text.strip("\n").splitlines()
    return lines[:count], max(0, len(lines) - count)

