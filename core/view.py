"""The fold: a session's whole picture, rebuilt from its events alone (no workflow re-run).

One `SessionView` serves every reader: line mode, the TUI, `baton show`, the store's projections and
the runner when it resumes. `apply` is pure and cheap; it never needs the workflow file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from baton.core import events as ev
from baton.core.llm.types import short_error
from baton.core.state import apply_ops
from baton.core.timeline import Timeline

OPEN_STATUSES = ("pending", "running", "awaiting")
DONE_STATUSES = ("completed", "degraded", "skipped")
SESSION_ENDED = ("completed", "degraded", "failed", "paused", "cancelled")
"""Session statuses in which no runner is working on it (a paused one may be resumed)."""
WAITING = "waiting"
"""The status shown for a running session that can do nothing until a person decides."""
STATUS_TEXT = {WAITING: "waiting for you"}
LABEL_WIDTH = 40
"""At most this many characters of a map item's label in a step's title."""
_ITEM = re.compile(r"\[(\d+)\]")
_LAST_ITEM = re.compile(r"\[\d+\]\Z")
_NESTING = ("/", "[", "#")
"""What follows a step's path in the paths of the steps inside it (`a/b`, `m[3]`, `loop#2/x`)."""


def status_text(status: str) -> str:
    """A status as a person reads it (`waiting` is `waiting for you`)."""
    return STATUS_TEXT.get(status, status)


def encloses(outer: str, inner: str) -> bool:
    """Whether step path `inner` is `outer` or a step inside it."""
    return inner == outer or (inner.startswith(outer) and inner[len(outer) : len(outer) + 1] in _NESTING)


@dataclass
class CallView:
    """One model call attempt."""

    call_id: str
    step: str
    model: str
    alias: str
    attempt: int
    status: str = "running"
    text: str = ""
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float | None = 0.0
    started_at: float = 0.0
    ended_at: float | None = None
    latency_s: float = 0.0
    ttft_s: float | None = None
    error: str = ""
    error_type: str = ""
    request_hash: str = ""
    request: dict[str, Any] = field(default_factory=dict)
    replayed: bool = False
    forecast_usd: list[float] | None = None
    inherited: bool = False


@dataclass
class DecisionView:
    """A recorded decision."""

    decision: str
    by: str
    at: float
    feedback: str = ""
    target: str = ""
    model: str = ""
    edited: Any = None
    diff: str = ""
    supplied: dict[str, Any] = field(default_factory=dict)


@dataclass
class CheckpointView:
    """A checkpoint: open until a resolving decision (anything but pause) is recorded."""

    checkpoint_id: str
    step: str
    reason: str
    message: str
    output: Any
    reasoning: str
    context: dict[str, Any]
    options: list[str]
    targets: list[str]
    forecasts: dict[str, Any]
    round: int
    opened_seq: int
    opened_at: float
    decision: DecisionView | None = None

    @property
    def is_open(self) -> bool:
        """Still waiting for a person."""
        return self.decision is None


@dataclass
class StepView(Timeline):
    """A step instance (a path: `write`, `research/papers`, `each[3]`, `refine#2/draft`)."""

    path: str
    kind: str = ""
    label: str = ""
    status: str = "pending"
    model: str = ""
    attempts: int = 0
    retries: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    cost_unknown: bool = False
    started_at: float | None = None
    ended_at: float | None = None
    output: Any = None
    reasoning: str = ""
    prompt: str = ""
    writes: dict[str, Any] = field(default_factory=dict)
    reads: list[str] = field(default_factory=list)
    input_chars: int = 0
    error: str = ""
    note: str = ""
    degraded: bool = False
    orchestration: bool = False
    round: int = 0
    calls: list[str] = field(default_factory=list)
    timeline: list[str] = field(default_factory=list)
    pending_entry: bool = False
    item_labels: dict[str, int] = field(default_factory=dict)
    """For a map: how many of its items carry each label (a label two items share names its index too)."""
    concurrency: int | None = None
    """For a fan-out: how many children run at once (None: not said)."""
    concurrency_capped_by: str = ""
    """For a fan-out: the session-wide setting that lowered what it asked for, if one did."""

    @property
    def latency_s(self) -> float | None:
        """Wall time from first start to the end, when both are known."""
        if self.started_at is None or self.ended_at is None:
            return None
        return self.ended_at - self.started_at


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
        item = _LAST_ITEM.search(e.step)
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


def _step_skipped(v: SessionView, e: ev.StepSkipped, ts: float, seq: int) -> None:
    _close_checkpoints(v, e.step, ts)
    s = v.step(e.step)
    s.status, s.note, s.ended_at = "skipped", e.reason, ts
    if e.supplied:
        s.writes = dict(e.supplied)


def _step_cancelled(v: SessionView, e: ev.StepCancelled, ts: float, seq: int) -> None:
    s = v.step(e.step)
    s.status, s.note = "cancelled", e.reason


def _rerouted(v: SessionView, e: ev.Rerouted, ts: float, seq: int) -> None:
    if e.by == "router":
        v.routed[e.target] = e.step
    s = v.step(e.step)
    s.timeline.append(f"→ {e.target}" + (f" ({e.route})" if e.route else "") + (f" by {e.by}" if e.by else ""))


def _call_started(v: SessionView, e: ev.LLMCallStarted, ts: float, seq: int) -> None:
    v.calls[e.call_id] = CallView(
        e.call_id,
        e.step,
        e.model,
        e.alias,
        e.attempt,
        started_at=ts,
        request_hash=e.request_hash,
        forecast_usd=e.forecast_usd,
    )
    s = v.step(e.step)
    if e.call_id not in s.calls:
        s.calls.append(e.call_id)
    s.model = e.alias or e.model
    s.attempts += 1
    if s.status in ("pending", "awaiting"):
        s.status = "running"


def _call_finished(v: SessionView, e: ev.LLMCallFinished, ts: float, seq: int) -> None:
    call = v.calls.get(e.call_id)
    if call is None:
        call = v.calls[e.call_id] = CallView(e.call_id, e.step, e.model, e.alias, e.attempt, started_at=ts)
        s0 = v.step(e.step)
        s0.calls.append(e.call_id)
        s0.attempts += 1
    call.status, call.text, call.tokens_in, call.tokens_out = e.status, e.text, e.tokens_in, e.tokens_out
    call.cost_usd, call.ended_at, call.latency_s, call.ttft_s = e.cost_usd, ts, e.latency_s, e.ttft_s
    call.error, call.error_type, call.request_hash = e.error, e.error_type, e.request_hash
    call.request, call.replayed = dict(e.request), e.replayed
    s = v.step(e.step)
    s.tokens_in += e.tokens_in
    s.tokens_out += e.tokens_out
    v.tokens_in += e.tokens_in
    v.tokens_out += e.tokens_out
    if e.cost_usd is None:
        s.cost_unknown = True
        v.cost_unknown_calls += 1
    else:
        s.cost_usd += e.cost_usd
        v.cost_usd += e.cost_usd
    if e.status == "ok":
        s.note_outcome("✓ (replayed)" if e.replayed else "✓")
    else:
        s.note_failure(short_error(e.error_type, e.error), e.status == "discarded")


def _tool_intent(v: SessionView, e: ev.ToolCallIntent, ts: float, seq: int) -> None:
    v.tool_intents[e.idempotency_key] = {
        "step": e.step,
        "tool": e.tool,
        "args": e.args,
        "args_hash": e.args_hash,
        "finished": False,
        "side_effects": e.side_effects,
        "at": ts,
    }


def _tool_finished(v: SessionView, e: ev.ToolCallFinished, ts: float, seq: int) -> None:
    intent = v.tool_intents.setdefault(e.idempotency_key, {"step": e.step, "tool": e.tool})
    intent.update(finished=True, ok=e.ok, result=e.result, error=e.error)


def _retry(v: SessionView, e: ev.RetryScheduled, ts: float, seq: int) -> None:
    s = v.step(e.step)
    s.retries += 1
    tag = "Retry-After" if e.retry_after else ("breaker open" if e.error_type == "breaker_open" else "")
    s.retry_entry(e.attempt, e.wait_s, tag)


def _fallback(v: SessionView, e: ev.FallbackUsed, ts: float, seq: int) -> None:
    s = v.step(e.step)
    if e.static:
        s.timeline.append("fallback static result ✓")
        s.pending_entry = False
    else:
        s.open_entry(f"fallback {e.to_model}")


def _breaker(v: SessionView, e: ev.BreakerChanged, ts: float, seq: int) -> None:
    v.breakers[e.model] = e.state
    if e.step and e.state == "open":
        s = v.step(e.step)
        s.before_open(f"breaker {e.model} open")


def _budget(v: SessionView, e: ev.BudgetWarning, ts: float, seq: int) -> None:
    if e.blocked:
        v.budget_blocks += 1
        v.step(e.step).timeline.append(
            f"budget {e.scope}: ${e.spent_usd:.4f} spent + ${e.forecast_usd:.4f} forecast > ${e.limit_usd:.4f}"
        )


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
        if e.output is not None and e.reason not in ("step_mode", "breakpoint", "before_tool", "cost", "budget"):
            s.output = e.output


def _decision(v: SessionView, e: ev.DecisionMade, ts: float, seq: int) -> None:
    cp = v.checkpoints.get(e.checkpoint_id)
    if cp is None or e.decision == "pause":
        return
    cp.decision = DecisionView(e.decision, e.by, ts, e.feedback, e.target, e.model, e.edited, e.diff, dict(e.supplied))
    s = v.step(cp.step)
    if s.status == "awaiting":
        s.status = "running"
    s.timeline.append(f"{e.decision} by {e.by}")


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
    ev.LLMCallStarted: _call_started,
    ev.LLMCallFinished: _call_finished,
    ev.ToolCallIntent: _tool_intent,
    ev.ToolCallFinished: _tool_finished,
    ev.RetryScheduled: _retry,
    ev.FallbackUsed: _fallback,
    ev.BreakerChanged: _breaker,
    ev.BudgetWarning: _budget,
    ev.CheckpointOpened: _checkpoint_opened,
    ev.DecisionMade: _decision,
    ev.ControlChanged: _control,
}
