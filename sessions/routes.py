"""Routing taught by decisions, read from a store: every session's decisions on answers and its model calls
(`core.learn.routes` does the counting)."""

from __future__ import annotations

from baton.core.learn.lessons import template
from baton.core.learn.routes import Observed, StepRoutes, observe, report
from baton.sessions.interface import SessionStore
from baton.sessions.lessons import SESSION_SCAN
from baton.sessions.records import CallRow, SessionRow


async def routes(store: SessionStore, workflow: str | None = None, minimum: int = 3) -> list[StepRoutes]:
    """Per step of one workflow (or every workflow): each model's record and what it suggests."""
    seen = Observed()
    rows = sorted(await store.sessions(SESSION_SCAN), key=lambda row: (row.created_at, row.id))
    for row in rows:
        if workflow is not None and row.workflow != workflow:
            continue
        seen.add(observe(row.workflow, row.id, await store.events(row.id)))
    return report(seen, minimum)


async def recorded_call(store: SessionStore, workflow: str, step: str, alias: str) -> tuple[SessionRow, CallRow] | None:
    """The newest answered call of `step` (a template) on `alias` in the store's sessions of `workflow`, with
    its session (whose workflow names the models)."""
    rows = sorted(await store.sessions(SESSION_SCAN), key=lambda row: (row.created_at, row.id), reverse=True)
    for row in rows:
        if row.workflow != workflow:
            continue
        calls = [c for c in await store.calls(row.id) if c.status == "ok" and c.alias == alias and c.request]
        calls = [c for c in calls if template(c.step) == step]
        if calls:
            return row, max(calls, key=lambda c: c.started_at or 0.0)
    return None
