"""Model calls in the fold: each call's record, what it cost its step and the session, and the step's
story of its attempts (retries, fallbacks, an open breaker, a call a budget blocked)."""

from __future__ import annotations

from typing import Protocol

from baton.core import events as ev
from baton.core.llm.types import short_error
from baton.core.view_records import CallView, StepView
from baton.core.view_tools import ToolsView


class SessionView(Protocol):
    """What these handlers fold into (`core.view.SessionView`)."""

    calls: dict[str, CallView]
    tools: ToolsView
    breakers: dict[str, str]
    tokens_in: int
    tokens_out: int
    cost_usd: float
    cost_unknown_calls: int
    budget_blocks: int

    def step(self, path: str) -> StepView:
        """The view of a step path, created on first mention."""
        ...


def call_started(v: SessionView, e: ev.LLMCallStarted, ts: float, seq: int) -> None:
    """A model call is sent: its record, and its step runs."""
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
    v.tools.turn_started(e)


def call_finished(v: SessionView, e: ev.LLMCallFinished, ts: float, seq: int) -> None:
    """A model call ended: its text and figures, added to its step's and the session's."""
    call = v.calls.get(e.call_id)
    if call is None:
        call = v.calls[e.call_id] = CallView(e.call_id, e.step, e.model, e.alias, e.attempt, started_at=ts)
        s0 = v.step(e.step)
        s0.calls.append(e.call_id)
        s0.attempts += 1
    call.status, call.text, call.tokens_in, call.tokens_out = e.status, e.text, e.tokens_in, e.tokens_out
    call.cost_usd, call.ended_at, call.latency_s, call.ttft_s = e.cost_usd, ts, e.latency_s, e.ttft_s
    call.error, call.error_type, call.request_hash = e.error, e.error_type, e.request_hash
    call.request, call.replayed, call.tool_calls = dict(e.request), e.replayed, list(e.tool_calls)
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
    v.tools.turn_finished(e)


def retried(v: SessionView, e: ev.RetryScheduled, ts: float, seq: int) -> None:
    """A retry is scheduled: an open entry of the step's story, completed by the next call."""
    s = v.step(e.step)
    s.retries += 1
    tag = "Retry-After" if e.retry_after else ("breaker open" if e.error_type == "breaker_open" else "")
    s.retry_entry(e.attempt, e.wait_s, tag)


def fell_back(v: SessionView, e: ev.FallbackUsed, ts: float, seq: int) -> None:
    """The step moved down its fallback chain."""
    s = v.step(e.step)
    if e.static:
        s.timeline.append("fallback static result ✓")
        s.pending_entry = False
    else:
        s.open_entry(f"fallback {e.to_model}")


def breaker_changed(v: SessionView, e: ev.BreakerChanged, ts: float, seq: int) -> None:
    """A model's circuit breaker changed state (an open one enters the story of the step that met it)."""
    v.breakers[e.model] = e.state
    if e.step and e.state == "open":
        s = v.step(e.step)
        s.before_open(f"breaker {e.model} open")


def budget_warned(v: SessionView, e: ev.BudgetWarning, ts: float, seq: int) -> None:
    """A call a budget blocked is one more line of its step's story."""
    if e.blocked:
        v.budget_blocks += 1
        v.step(e.step).timeline.append(
            f"budget {e.scope}: ${e.spent_usd:.4f} spent + ${e.forecast_usd:.4f} forecast > ${e.limit_usd:.4f}"
        )
