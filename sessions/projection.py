"""Projections: the fold of a session's events written to queryable tables.

They are derived data. The runner's writer keeps them current in small batches, off the hot path of
a step's commit; any reader can rebuild them from the events (`rebuild`). `projected_seq` says how far
they go. The rows are built here, once, from the fold; each store only persists them.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from baton.core import events as ev
from baton.core.secrets import Redactor
from baton.core.view import CallView, CheckpointView, SessionView, StepView
from baton.sessions.interface import SessionStore
from baton.sessions.records import CallRow, CheckpointRow, ProjectionUpdate, SessionSummary, StepRow

_WHOLE_SESSION = frozenset({"SessionResumed", "SessionPaused", "SessionCompleted", "SessionFailed", "Forked"})
IGNORED_KINDS = frozenset(
    {
        "SessionStarted",
        "StepScheduled",
        "StepStarted",
        "StepOutput",
        "StepCompleted",
        "StepFailed",
        "StepSkipped",
        "StepCancelled",
        "Rerouted",
        "TokenDelta",
        "ToolsListed",
        "ToolCallRequested",
        "ToolGrantChanged",
        "ToolCallIntent",
        "ToolCallFinished",
        "RetryScheduled",
        "FallbackUsed",
        "BreakerChanged",
        "BudgetWarning",
        "ControlChanged",
    }
)
"""Kinds that mark nothing beyond what every event marks (the session's row, and the row of the step it
names); streamed text never reaches the projection, and tools (the offered list, calls, intents, results,
grants) and controls have no table: readers fold them (`SessionView.tools`)."""


@dataclass
class Dirty:
    """What changed since the last projection write."""

    steps: set[str] = field(default_factory=set)
    calls: set[str] = field(default_factory=set)
    checkpoints: set[str] = field(default_factory=set)
    state: bool = False
    finished_calls: set[str] = field(default_factory=set)
    any: bool = False

    def note(self, env: ev.Envelope, view: SessionView | None = None) -> None:
        """Record what an event touches. Session-level events (resumed, paused, forked, ...) change
        steps they do not name, so with the `view` they mark every step."""
        self.any = True
        e = env.event
        if e.step:
            self.steps.add(e.step)
        elif view is not None and e.kind in _WHOLE_SESSION:
            self.steps.update(view.steps)
            if isinstance(e, ev.Forked):
                self.calls.update(view.calls)
        if isinstance(e, ev.StateUpdated):
            self.state = True
        elif isinstance(e, ev.LLMCallStarted):
            self.calls.add(e.call_id)
        elif isinstance(e, ev.LLMCallFinished):
            self.calls.add(e.call_id)
            self.finished_calls.add(e.call_id)
        elif isinstance(e, ev.CheckpointOpened | ev.DecisionMade):
            self.checkpoints.add(e.checkpoint_id)

    def everything(self, view: SessionView) -> Dirty:
        """Mark the whole view dirty (for a rebuild)."""
        self.steps, self.calls = set(view.steps), set(view.calls)
        self.checkpoints, self.state, self.any = set(view.checkpoints), True, True
        self.finished_calls = {c for c, call in view.calls.items() if call.status != "running"}
        return self


_ENCODER = json.JSONEncoder(ensure_ascii=False, default=str)
"""`json.dumps(value, ensure_ascii=False, default=str)` without building an encoder per value."""


def _json(value: Any) -> str:
    return _ENCODER.encode(value)


def update(view: SessionView, dirty: Dirty, redact: Redactor, now: float | None = None) -> ProjectionUpdate:
    """The rows that change when `dirty` parts of `view` are written (text redacted); pure, so every store
    writes the same rows."""
    sid = view.session_id
    now = time.time() if now is None else now
    done = sum(1 for s in view.steps.values() if s.status in ("completed", "degraded", "skipped"))
    cps = [view.checkpoints[c] for c in dirty.checkpoints if c in view.checkpoints]
    for cp in view.checkpoints.values():
        if cp.decision is not None and cp.decision.decision == "superseded":
            cps.append(cp)
    summary = SessionSummary(
        status=view.status,
        reason=view.reason,
        error=redact(view.error),
        updated_at=now,
        ended_at=view.ended_at,
        active_s=view.elapsed(now),
        cost_usd=round(view.cost_usd, 10),
        cost_unknown=view.cost_unknown_calls,
        tokens_in=view.tokens_in,
        tokens_out=view.tokens_out,
        steps_total=len(view.steps),
        steps_done=done,
        inbox=len(view.open_checkpoints),
        degraded=int(view.degraded),
        last_seq=view.last_seq,
        projected_seq=view.last_seq,
    )
    return ProjectionUpdate(
        session_id=sid,
        summary=summary,
        steps=[_step_row(sid, view.steps[p], redact) for p in dirty.steps if p in view.steps],
        state={k: redact(_json(v)) for k, v in view.state.items()} if dirty.state else None,
        calls=[_call_row(sid, view.calls[c], redact) for c in dirty.calls if c in view.calls],
        checkpoints=[_checkpoint_row(sid, cp) for cp in cps],
        finished_calls=sorted(dirty.finished_calls),
    )


def _step_row(sid: str, s: StepView, redact: Redactor) -> StepRow:
    return StepRow(
        session_id=sid,
        path=s.path,
        kind=s.kind,
        status=s.status,
        model=s.model,
        attempts=s.attempts,
        retries=s.retries,
        tokens_in=s.tokens_in,
        tokens_out=s.tokens_out,
        cost_usd=s.cost_usd,
        cost_unknown=int(s.cost_unknown),
        orchestration=int(s.orchestration),
        started_at=s.started_at,
        ended_at=s.ended_at,
        note=s.note,
        error=redact(s.error),
        output=redact(_json(s.output)),
        writes=redact(_json(s.writes)),
    )


def _call_row(sid: str, c: CallView, redact: Redactor) -> CallRow:
    return CallRow(
        session_id=sid,
        call_id=c.call_id,
        step=c.step,
        model=c.model,
        alias=c.alias,
        attempt=c.attempt,
        status=c.status,
        request_hash=c.request_hash,
        request=redact(_json(c.request)),
        response=redact(c.text),
        tokens_in=c.tokens_in,
        tokens_out=c.tokens_out,
        cost_usd=c.cost_usd,
        started_at=c.started_at,
        ended_at=c.ended_at,
        latency_s=c.latency_s,
        ttft_s=c.ttft_s,
        error=redact(c.error),
        error_type=c.error_type,
        replayed=int(c.replayed),
    )


def _checkpoint_row(sid: str, c: CheckpointView) -> CheckpointRow:
    return CheckpointRow(
        session_id=sid,
        checkpoint_id=c.checkpoint_id,
        step=c.step,
        reason=c.reason,
        status="open" if c.is_open else "decided",
        opened_seq=c.opened_seq,
        opened_at=c.opened_at,
        decision=c.decision.decision if c.decision else "",
        decided_by=c.decision.by if c.decision else "",
        decided_at=c.decision.at if c.decision else None,
    )


async def write(store: SessionStore, view: SessionView, dirty: Dirty) -> None:
    """Write the dirty parts of `view` in one transaction."""
    if dirty.any:
        await store.write_projection(update(view, dirty, store.redact, store.clock()))


async def rebuild(store: SessionStore, session_id: str) -> SessionView:
    """Fold every event again and rewrite all projections (after a crash, or to repair)."""
    view = await store.view(session_id)
    await write(store, view, Dirty().everything(view))
    return view
