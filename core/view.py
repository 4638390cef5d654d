"""The fold: a session's whole picture, rebuilt from its events alone (no workflow re-run).

One `SessionView` serves every reader: line mode, the TUI, `baton show`, the store's projections and
the runner when it resumes. `apply` is pure and cheap; it never needs the workflow file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from baton.core import events as ev
from baton.core.state import apply_ops
from baton.core.view_calls import breaker_changed, budget_warned, call_finished, call_started, fell_back, retried
from baton.core.view_records import (
    DONE_STATUSES,
    OPEN_STATUSES,
    REASON_TEXT,
    SESSION_ENDED,
    STATUS_TEXT,
    WAITING,
    CallView,
    CheckpointView,
    DecisionView,
    StepView,
    encloses,
    status_text,
    who_decided,
)
from baton.core.view_tools import ToolsView, record_finish, record_intent

__all__ = [
    "DONE_STATUSES",
    "REASON_TEXT",
    "OPEN_STATUSES",
    "SESSION_ENDED",
    "STATUS_TEXT",
    "WAITING",
    "CallView",
    "CheckpointView",
    "DecisionView",
    "SessionView",
    "StepView",
    "ToolsView",
    "encloses",
    "status_text",
    "who_decided",
]

NOT_OUTPUT = ("step_mode", "breakpoint", "before_tool", "cost", "budget", "tool_call", "tool_denied")
"""Checkpoints whose `output` is not the step's output (a prompt, a tool call's arguments)."""
LABEL_WIDTH = 40
"""At most this many characters of a map item's label in a step's title."""
_ITEM = re.compile(r"\[(\d+)\]")
_LAST_ITEM = re.compile(r"\[\d+\]\Z")


@dataclass
class SessionView:
    """Everything known about a session, folded from its events."""

    session_id: str
    workflow: str = ""
    workflow_path: str = ""
    workflow_hash: str = ""
    workflow_text: str = ""
    inputs: dict[str, Any] = field(default_factory=dict)
    models: dict[str, str] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    prices: dict[str, Any] = field(default_factory=dict)
    parent: str = ""
    fork_step: str = ""
    status: str = "new"
    reason: str = ""
    error: str = ""
    started_at: float | None = None
    ended_at: float | None = None
    run_started_at: float | None = None
    active_s: float = 0.0
    last_seq: int = 0
    state: dict[str, Any] = field(default_factory=dict)
    steps: dict[str, StepView] = field(default_factory=dict)
    calls: dict[str, CallView] = field(default_factory=dict)
    checkpoints: dict[str, CheckpointView] = field(default_factory=dict)
    tool_intents: dict[str, dict[str, Any]] = field(default_factory=dict)
    tools: ToolsView = field(default_factory=ToolsView)
    """Agents' tool loops (turns, tool calls) and the always-for-this-session grants."""
    breakers: dict[str, str] = field(default_factory=dict)
    routed: dict[str, str] = field(default_factory=dict)
    step_mode: bool = False
    breakpoints: set[str] = field(default_factory=set)
    cost_usd: float = 0.0
    inherited_usd: float = 0.0
    cost_unknown_calls: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    degraded: bool = False
    budget_blocks: int = 0
    events: int = 0

    # --- derived ---------------------------------------------------------------------------------

    @property
    def open_checkpoints(self) -> list[CheckpointView]:
        """The inbox: checkpoints waiting for a person, oldest first."""
        return sorted((c for c in self.checkpoints.values() if c.is_open), key=lambda c: c.opened_seq)

    @property
    def finished(self) -> bool:
        """Completed, degraded or failed (a paused session is not finished)."""
        return self.status in ("completed", "degraded", "failed")

    @property
    def answered_unattended(self) -> bool:
        """The runner answers every checkpoint itself (`--auto`, or a decisions file, which pauses the
        session on a step it does not cover): nobody is asked, so nobody need be told how to answer."""
        return bool(self.options.get("auto")) or self.options.get("decisions") is not None

    @property
    def blocked_on_person(self) -> bool:
        """Checkpoints are open and nothing else runs: only a person's decision moves the session on.

        A composite step (parallel, map, loop, supervisor) is `running` while a step inside it waits, so
        a running step counts as work only when no open checkpoint is inside it.
        """
        waiting = [c.step for c in self.checkpoints.values() if c.is_open]
        if not waiting:
            return False
        return not any(
            s.status == "running" and not any(encloses(s.path, w) for w in waiting) for s in self.steps.values()
        )

    @property
    def shown_status(self) -> str:
        """The status a person is shown: `waiting` (for you) while a running session is blocked on its
        open checkpoints, else the folded status."""
        if self.status == "running" and self.blocked_on_person:
            return WAITING
        return self.status

    def title(self, path: str) -> str:
        """A step path as a person reads it: each map item by its label (`files[app.py]/lint`) instead of
        its index, the index kept when the label is empty or shared with another item of the map."""
        if "[" not in path:
            return path

        def named(match: re.Match[str]) -> str:
            item = self.steps.get(path[: match.end()])
            parent = self.steps.get(path[: match.start()])
            label = item.label if item is not None else ""
            if not label:
                return match.group(0)
            if len(label) > LABEL_WIDTH:
                label = label[: LABEL_WIDTH - 1] + "…"
            if parent is not None and parent.item_labels.get(item.label if item else "", 0) > 1:
                return f"[{match.group(1)}: {label}]"
            return f"[{label}]"

        return _ITEM.sub(named, path)

    def step(self, path: str) -> StepView:
        """The view of a step path, created on first mention."""
        view = self.steps.get(path)
        if view is None:
            view = self.steps[path] = StepView(path)
        return view

    def elapsed(self, now: float) -> float:
        """Seconds the session has been running, over all runs."""
        if self.run_started_at is not None and self.status in ("running", "new"):
            return self.active_s + max(0.0, now - self.run_started_at)
        return self.active_s

    # --- the fold --------------------------------------------------------------------------------

    def apply(self, env: ev.Envelope) -> None:
        """Fold one persisted event."""
        if env.seq <= self.last_seq:
            return
        self.last_seq = env.seq
        self.events += 1
        event = env.event
        handler = _HANDLERS.get(type(event))
        if handler is not None:
            handler(self, event, env.ts, env.seq)

    def apply_all(self, envelopes: list[ev.Envelope]) -> SessionView:
        """Fold many; returns self for chaining."""
        for env in envelopes:
            self.apply(env)
        return self


def _session_started(v: SessionView, e: ev.SessionStarted, ts: float, seq: int) -> None:
    v.workflow, v.workflow_path, v.workflow_hash = e.workflow, e.workflow_path, e.workflow_hash
    v.workflow_text, v.inputs, v.models, v.options = e.workflow_text, dict(e.inputs), dict(e.models), dict(e.options)
    v.parent, v.fork_step = e.parent, e.fork_step
    v.prices = dict(e.prices)
    v.status = "running"
    v.started_at = v.run_started_at = ts
    v.step_mode = bool(e.options.get("step_mode", False))
    v.breakpoints = set(e.options.get("breakpoints") or [])


def _session_resumed(v: SessionView, e: ev.SessionResumed, ts: float, seq: int) -> None:
    _close_run(v, ts)
    v.status, v.reason, v.error, v.ended_at = "running", "", "", None
    v.run_started_at = ts
    for step in v.steps.values():
        if step.status in ("running", "cancelled"):
            step.status = "pending"
    v.prices.update(e.prices)
    if e.options:
        v.options = dict(e.options)
    if "step_mode" in e.options:
        v.step_mode = bool(e.options["step_mode"])
    if e.options.get("breakpoints"):
        v.breakpoints |= set(e.options["breakpoints"])


def _close_run(v: SessionView, ts: float) -> None:
    if v.run_started_at is not None:
        v.active_s += max(0.0, ts - v.run_started_at)
        v.run_started_at = None


def _session_paused(v: SessionView, e: ev.SessionPaused, ts: float, seq: int) -> None:
    _close_run(v, ts)
    v.status = "cancelled" if e.reason.startswith("cancel") else "paused"
    v.reason = e.reason
    v.ended_at = ts
    _cancel_running(v)


def _session_completed(v: SessionView, e: ev.SessionCompleted, ts: float, seq: int) -> None:
    _close_run(v, ts)
    v.status = "degraded" if (e.status == "degraded" or v.degraded) else "completed"
    v.ended_at = ts


def _session_failed(v: SessionView, e: ev.SessionFailed, ts: float, seq: int) -> None:
    _close_run(v, ts)
    v.status, v.error, v.ended_at = "failed", e.error, ts
    _cancel_running(v)


def _cancel_running(v: SessionView) -> None:
    """Steps still running when the run stopped will not finish in it."""
    for step in v.steps.values():
        if step.status == "running":
            step.status = "cancelled"
            _stop_tools(v, step.path, waiting_too=False)


def _stop_tools(v: SessionView, path: str, waiting_too: bool = True) -> None:
    """A step's tool calls that had not finished will not finish in this run (an open checkpoint still
    waits for its call)."""
    if path in v.tools.loops:
        still_open = {c.checkpoint_id for c in v.checkpoints.values() if c.step == path and c.is_open}
        v.tools.interrupt(path, still_open, waiting_too)


def _forked(v: SessionView, e: ev.Forked, ts: float, seq: int) -> None:
    """What the copied record cost was paid by the parent: it is shown as inherited, not spent again."""
    v.parent, v.fork_step = e.parent, e.at_step
    v.inherited_usd, v.cost_usd = v.inherited_usd + v.cost_usd, 0.0
    v.tokens_in = v.tokens_out = 0
    v.cost_unknown_calls = 0
    for call in v.calls.values():
        call.inherited = True
    for step in v.steps.values():
        step.cost_usd, step.tokens_in, step.tokens_out, step.cost_unknown = 0.0, 0, 0, False


def _step_scheduled(v: SessionView, e: ev.StepScheduled, ts: float, seq: int) -> None:
    s = v.step(e.step)
    s.kind = s.kind or e.step_kind
    if e.label and e.label != s.label:
        item = _LAST_ITEM.search(e.step) if e.step.endswith("]") else None
        if item is not None:
            counts = v.step(e.step[: item.start()]).item_labels
            if s.label:
                counts[s.label] -= 1
            counts[e.label] = counts.get(e.label, 0) + 1
        s.label = e.label


def _step_started(v: SessionView, e: ev.StepStarted, ts: float, seq: int) -> None:
    s = v.step(e.step)
    s.kind, s.status = e.step_kind or s.kind, "running"
    s.model = e.model or s.model
    s.reads, s.input_chars, s.orchestration = list(e.reads), e.input_chars, e.orchestration
    if e.concurrency is not None:
        s.concurrency, s.concurrency_capped_by = e.concurrency, e.concurrency_capped_by
    if s.started_at is None:
        s.started_at = ts
    s.ended_at = None


def _step_output(v: SessionView, e: ev.StepOutput, ts: float, seq: int) -> None:
    s = v.step(e.step)
    s.output, s.reasoning, s.round = e.output, e.reasoning, e.round
    s.degraded = s.degraded or e.degraded
    if e.prompt:
        s.prompt = e.prompt


def _state_updated(v: SessionView, e: ev.StateUpdated, ts: float, seq: int) -> None:
    apply_ops(v.state, e.ops)


def _close_checkpoints(v: SessionView, path: str, ts: float) -> None:
    """A step that ended no longer waits: its open checkpoints are superseded."""
    for cp in v.checkpoints.values():
        if cp.step == path and cp.decision is None:
            cp.decision = DecisionView("superseded", "runner", ts)
    _stop_tools(v, path)


def _step_completed(v: SessionView, e: ev.StepCompleted, ts: float, seq: int) -> None:
    _close_checkpoints(v, e.step, ts)
    s = v.step(e.step)
    s.status = e.status
    s.output, s.writes, s.note = e.output, dict(e.writes), e.note
    s.ended_at = ts
    if not s.calls and (e.tokens_in or e.tokens_out or e.cost_usd):
        s.tokens_in, s.tokens_out = e.tokens_in, e.tokens_out
        if e.cost_usd is None:
            s.cost_unknown = True
        else:
            s.cost_usd = e.cost_usd
    if e.status == "degraded":
        s.degraded = True
        v.degraded = True


def _step_failed(v: SessionView, e: ev.StepFailed, ts: float, seq: int) -> None:
    s = v.step(e.step)
    s.status, s.error, s.ended_at = "failed", e.error, ts
    s.timeline.append(f"✗ failed: {e.error}")
    _stop_tools(v, e.step)


def _step_skipped(v: SessionView, e: ev.StepSkipped, ts: float, seq: int) -> None:
    _close_checkpoints(v, e.step, ts)
    s = v.step(e.step)
    s.status, s.note, s.ended_at = "skipped", e.reason, ts
    if e.supplied:
        s.writes = dict(e.supplied)


def _step_cancelled(v: SessionView, e: ev.StepCancelled, ts: float, seq: int) -> None:
    s = v.step(e.step)
    s.status, s.note = "cancelled", e.reason
    _stop_tools(v, e.step, waiting_too=False)


def _rerouted(v: SessionView, e: ev.Rerouted, ts: float, seq: int) -> None:
    if e.by == "router":
        v.routed[e.target] = e.step
    s = v.step(e.step)
    s.timeline.append(f"→ {e.target}" + (f" ({e.route})" if e.route else "") + (f" by {e.by}" if e.by else ""))


def _tool_intent(v: SessionView, e: ev.ToolCallIntent, ts: float, seq: int) -> None:
    record_intent(v.tool_intents, e, ts)


def _tool_finished(v: SessionView, e: ev.ToolCallFinished, ts: float, seq: int) -> None:
    record_finish(v.tool_intents, e)
    v.tools.finished(e, ts)


def _tools_listed(v: SessionView, e: ev.ToolsListed, ts: float, seq: int) -> None:
    v.tools.listed(e)


def _tool_requested(v: SessionView, e: ev.ToolCallRequested, ts: float, seq: int) -> None:
    v.tools.requested(e, ts)


def _grant(v: SessionView, e: ev.ToolGrantChanged, ts: float, seq: int) -> None:
    v.tools.grant_changed(e, ts)


def _checkpoint_opened(v: SessionView, e: ev.CheckpointOpened, ts: float, seq: int) -> None:
    v.checkpoints[e.checkpoint_id] = CheckpointView(
        e.checkpoint_id,
        e.step,
        e.reason,
        e.message,
        e.output,
        e.reasoning,
        dict(e.context),
        list(e.options),
        list(e.targets),
        dict(e.forecasts),
        e.round,
        seq,
        ts,
    )
    if e.step:
        s = v.step(e.step)
        s.status = "awaiting"
        if e.reason == "escalation":
            category = e.context.get("category") if isinstance(e.context, dict) else None
            s.timeline.append("escalated to a person" + (f" ({category})" if category else ""))
        if e.output is not None and e.reason not in NOT_OUTPUT:
            s.output = e.output
    v.tools.checkpoint_opened(e)


def _decision(v: SessionView, e: ev.DecisionMade, ts: float, seq: int) -> None:
    cp = v.checkpoints.get(e.checkpoint_id)
    if cp is None or e.decision == "pause":
        return
    cp.decision = DecisionView(
        e.decision, e.by, ts, e.feedback, e.target, e.model, e.edited, e.diff, dict(e.supplied), e.where
    )
    s = v.step(cp.step)
    if s.status == "awaiting" and not any(c.step == cp.step and c.is_open for c in v.checkpoints.values()):
        s.status = "running"  # the calls of one turn wait together: the step runs once none waits
    what = f" {cp.context.get('tool', '')}" if cp.reason == "tool_call" else ""
    s.timeline.append(f"{e.decision}{what} by {who_decided(e.by, e.where)}")
    if cp.reason == "tool_call":
        v.tools.decided(cp.step, cp.context, e)


def _control(v: SessionView, e: ev.ControlChanged, ts: float, seq: int) -> None:
    if e.step_mode is not None:
        v.step_mode = e.step_mode
    if e.breakpoint:
        if e.enabled:
            v.breakpoints.add(e.breakpoint)
        else:
            v.breakpoints.discard(e.breakpoint)


IGNORED_KINDS = frozenset({"TokenDelta"})
"""Kinds the fold leaves alone: streamed text is never persisted (the finished text comes with its call)."""

_HANDLERS: dict[type[ev.Event], Any] = {
    ev.SessionStarted: _session_started,
    ev.SessionResumed: _session_resumed,
    ev.SessionPaused: _session_paused,
    ev.SessionCompleted: _session_completed,
    ev.SessionFailed: _session_failed,
    ev.Forked: _forked,
    ev.StepScheduled: _step_scheduled,
    ev.StepStarted: _step_started,
    ev.StepOutput: _step_output,
    ev.StateUpdated: _state_updated,
    ev.StepCompleted: _step_completed,
    ev.StepFailed: _step_failed,
    ev.StepSkipped: _step_skipped,
    ev.StepCancelled: _step_cancelled,
    ev.Rerouted: _rerouted,
    ev.LLMCallStarted: call_started,
    ev.LLMCallFinished: call_finished,
    ev.ToolsListed: _tools_listed,
    ev.ToolCallRequested: _tool_requested,
    ev.ToolGrantChanged: _grant,
    ev.ToolCallIntent: _tool_intent,
    ev.ToolCallFinished: _tool_finished,
    ev.RetryScheduled: retried,
    ev.FallbackUsed: fell_back,
    ev.BreakerChanged: breaker_changed,
    ev.BudgetWarning: budget_warned,
    ev.CheckpointOpened: _checkpoint_opened,
    ev.DecisionMade: _decision,
    ev.ControlChanged: _control,
}
