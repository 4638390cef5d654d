"""Projections: the fold of a session's events written to queryable tables.

They are derived data. The runner's writer keeps them current in small batches, off the hot path of
a step's commit; any reader can rebuild them from the events (`rebuild`). `projected_seq` says how far
they go.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass, field
from typing import Any

from baton.core import events as ev
from baton.core.view import SessionView
from baton.sessions.store import Store

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
names); streamed text never reaches the projection, and tool intents and controls have no table."""


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


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


SMALL_WRITE = 256
"""A projection write touching at most this many rows may run on the event loop's thread (see `Store`)."""


async def write(store: Store, view: SessionView, dirty: Dirty) -> None:
    """Write the dirty parts of `view` in one transaction."""
    if not dirty.any:
        return
    sid = view.session_id
    redact = store.redact
    now = time.time()
    done = sum(1 for s in view.steps.values() if s.status in ("completed", "degraded", "skipped"))
    steps = [view.steps[p] for p in dirty.steps if p in view.steps]
    calls = [view.calls[c] for c in dirty.calls if c in view.calls]
    cps = [view.checkpoints[c] for c in dirty.checkpoints if c in view.checkpoints]
    for cp in view.checkpoints.values():
        if cp.decision is not None and cp.decision.decision == "superseded":
            cps.append(cp)

    def work(conn: sqlite3.Connection) -> None:
        conn.execute(
            "UPDATE sessions SET status=?, reason=?, error=?, updated_at=?, ended_at=?, active_s=?, cost_usd=?,"
            " cost_unknown=?, tokens_in=?, tokens_out=?, steps_total=?, steps_done=?, inbox=?, degraded=?,"
            " last_seq=?, projected_seq=? WHERE id=?",
            (
                view.status,
                view.reason,
                redact(view.error),
                now,
                view.ended_at,
                view.elapsed(now),
                round(view.cost_usd, 10),
                view.cost_unknown_calls,
                view.tokens_in,
                view.tokens_out,
                len(view.steps),
                done,
                len(view.open_checkpoints),
                int(view.degraded),
                view.last_seq,
                view.last_seq,
                sid,
            ),
        )
        if steps:
            conn.executemany(
                "INSERT OR REPLACE INTO steps (session_id, path, kind, status, model, attempts, retries, tokens_in,"
                " tokens_out, cost_usd, cost_unknown, orchestration, started_at, ended_at, note, error, output, writes)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                [
                    (
                        sid,
                        s.path,
                        s.kind,
                        s.status,
                        s.model,
                        s.attempts,
                        s.retries,
                        s.tokens_in,
                        s.tokens_out,
                        s.cost_usd,
                        int(s.cost_unknown),
                        int(s.orchestration),
                        s.started_at,
                        s.ended_at,
                        s.note,
                        redact(s.error),
                        redact(_json(s.output)),
                        redact(_json(s.writes)),
                    )
                    for s in steps
                ],
            )
        if dirty.state:
            conn.execute("DELETE FROM state WHERE session_id = ?", (sid,))
            conn.executemany(
                "INSERT INTO state (session_id, key, value) VALUES (?,?,?)",
                [(sid, k, redact(_json(v))) for k, v in view.state.items()],
            )
        if calls:
            conn.executemany(
                "INSERT OR REPLACE INTO llm_calls (session_id, call_id, step, model, alias, attempt, status,"
                " request_hash, request, response, tokens_in, tokens_out, cost_usd, started_at, ended_at, latency_s,"
                " ttft_s, error, error_type, replayed) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                [
                    (
                        sid,
                        c.call_id,
                        c.step,
                        c.model,
                        c.alias,
                        c.attempt,
                        c.status,
                        c.request_hash,
                        redact(_json(c.request)),
                        redact(c.text),
                        c.tokens_in,
                        c.tokens_out,
                        c.cost_usd,
                        c.started_at,
                        c.ended_at,
                        c.latency_s,
                        c.ttft_s,
                        redact(c.error),
                        c.error_type,
                        int(c.replayed),
                    )
                    for c in calls
                ],
            )
        if cps:
            conn.executemany(
                "INSERT OR REPLACE INTO checkpoints (session_id, checkpoint_id, step, reason, status, opened_seq,"
                " opened_at, decision, decided_by, decided_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
                [
                    (
                        sid,
                        c.checkpoint_id,
                        c.step,
                        c.reason,
                        "open" if c.is_open else "decided",
                        c.opened_seq,
                        c.opened_at,
                        c.decision.decision if c.decision else "",
                        c.decision.by if c.decision else "",
                        c.decision.at if c.decision else None,
                    )
                    for c in cps
                ],
            )
        if dirty.finished_calls:
            conn.executemany(
                "DELETE FROM deltas WHERE session_id = ? AND call_id = ?", [(sid, c) for c in dirty.finished_calls]
            )

    rows = len(steps) + len(calls) + len(cps) + len(dirty.finished_calls) + (len(view.state) if dirty.state else 0)
    await store.transaction(work, small=rows <= SMALL_WRITE)


async def rebuild(store: Store, session_id: str) -> SessionView:
    """Fold every event again and rewrite all projections (after a crash, or to repair)."""
    view = await store.view(session_id)
    await write(store, view, Dirty().everything(view))
    return view
