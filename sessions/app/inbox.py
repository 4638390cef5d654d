"""One inbox across sessions: every checkpoint waiting in the store, oldest first, and answering them.

The store's `checkpoints` projection already lists open checkpoints of every session; this module adds
what a person needs beside each one to decide without attaching: the session's workflow and cost so far,
what is asked (a tool call names its tool), how long it has waited, and whether a runner holds the session
(the decision is applied now) or not (it is queued and applied when the session resumes, as `baton decide`
does). Decisions go through `Sessions.decide`, so both front ends (`baton inbox` and the TUI's Inbox view)
behave exactly like `baton decide`. `watch` reads the list again as soon as anything is committed in any
session (the store's `wait_for_change`), and at least every `REFRESH_S` for the waiting times and runners.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from baton.core.commands import decide
from baton.core.view import REASON_TEXT, CheckpointView
from baton.sessions.app.service import Decided, Sessions
from baton.sessions.errors import AppError
from baton.sessions.interface import SessionStore
from baton.sessions.leases import runner_or_parked

REFRESH_S = 1.0
"""The longest a watched inbox goes without reading again (waiting times grow, runners come and go)."""
READ_SHARE = 0.25
"""The most of its time a watched inbox spends reading, however busy the store is: after a read that took
t, the next starts no sooner than 4t after it began."""


@dataclass(frozen=True)
class InboxItem:
    """One waiting checkpoint with what a person reads before deciding on it from a list."""

    session_id: str
    workflow: str
    checkpoint: CheckpointView
    cost_usd: float
    cost_unknown: bool
    waited_s: float
    runner: bool
    """A runner holds the session: a decision is applied now (else it is queued for the next runner)."""

    @property
    def checkpoint_id(self) -> str:
        """The checkpoint's id (unique within its session)."""
        return self.checkpoint.checkpoint_id

    @property
    def key(self) -> str:
        """Unique across the store: `session_id/checkpoint_id`."""
        return f"{self.session_id}/{self.checkpoint.checkpoint_id}"

    @property
    def step(self) -> str:
        """The step path it waits at."""
        return self.checkpoint.step

    @property
    def reason(self) -> str:
        """Why it opened (`review`, `tool_call`, `gate`, …)."""
        return self.checkpoint.reason

    @property
    def asked(self) -> str:
        """What is asked, in words: `tool call: write_file`, `review`, `gate`, …"""
        words = REASON_TEXT.get(self.reason, self.reason)
        if self.reason in ("tool_call", "tool_denied", "before_tool"):
            tool = self.checkpoint.context.get("tool")
            if tool:
                return f"{words}: {tool}"
        return words

    @property
    def similar(self) -> tuple[str, str, str]:
        """Checkpoints with the same workflow, step and question can be answered together."""
        return (self.workflow, self.step, self.asked)

    @property
    def opened_at(self) -> float:
        """When it opened (seconds since the epoch)."""
        return self.checkpoint.opened_at

    def record(self) -> dict[str, Any]:
        """The JSON form `baton inbox --json` prints (one object per checkpoint)."""
        return {
            "session_id": self.session_id,
            "workflow": self.workflow,
            "checkpoint_id": self.checkpoint_id,
            "step": self.step,
            "reason": self.reason,
            "asked": self.asked,
            "options": list(self.checkpoint.options),
            "cost_usd": self.cost_usd,
            "cost_unknown": self.cost_unknown,
            "opened_at": self.opened_at,
            "waited_s": round(self.waited_s, 3),
            "runner": self.runner,
            "decision": "applied" if self.runner else "queued",
        }


async def waiting(store: SessionStore, clock: Callable[[], float] | None = None) -> list[InboxItem]:
    """Every checkpoint waiting in the store, oldest first."""
    now = (clock or store.clock)()
    rows = await store.checkpoints(None, open_only=True)
    out: list[InboxItem] = []
    for session_id in dict.fromkeys(row.session_id for row in rows):
        try:
            session = await store.session(session_id)
            view = await store.view(session_id)
        except AppError:
            continue  # deleted between the two reads
        alive = await runner_or_parked(store, session_id)
        for cp in view.open_checkpoints:
            out.append(
                InboxItem(
                    session_id=session_id,
                    workflow=session.workflow,
                    checkpoint=cp,
                    cost_usd=session.cost_usd,
                    cost_unknown=session.cost_unknown > 0,
                    waited_s=max(0.0, now - cp.opened_at),
                    runner=alive,
                )
            )
    out.sort(key=lambda item: (item.opened_at, item.session_id, item.checkpoint.opened_seq))
    return out


async def watch(
    store: SessionStore, clock: Callable[[], float] | None = None, *, refresh: float = REFRESH_S
) -> AsyncIterator[list[InboxItem]]:
    """The waiting checkpoints now, then again after every commit in any session (or `refresh` seconds
    without one), spending at most `READ_SHARE` of the time reading."""
    loop = asyncio.get_running_loop()
    mark = await store.wait_for_change(None, 0)
    while True:
        began = loop.time()
        listed = await waiting(store, clock)
        took = loop.time() - began
        yield listed
        mark = await store.wait_for_change(None, refresh, mark)
        rest = began + took / READ_SHARE - loop.time()
        if rest > 0:
            await asyncio.sleep(rest)


def same_as(items: Iterable[InboxItem], chosen: InboxItem) -> list[InboxItem]:
    """The items of a batch `chosen` belongs to: same workflow, step and question."""
    return [item for item in items if item.similar == chosen.similar]


async def approve(app: Sessions, items: Iterable[InboxItem], by: str, where: str = "") -> list[Decided | AppError]:
    """Approve each item (the ones that do not offer `approve` are refused) as `by`, from `where`; all at
    once, each with the runner's verdict or queued. A refusal is returned in place, not raised, so one
    does not stop the rest."""

    async def one(item: InboxItem) -> Decided | AppError:
        if "approve" not in item.checkpoint.options:
            return AppError(f"{item.key}: approve is not offered here ({', '.join(item.checkpoint.options)})")
        try:
            return await app.decide(item.session_id, decide(item.checkpoint_id, "approve", by=by, where=where))
        except AppError as exc:
            return exc

    return list(await asyncio.gather(*(one(item) for item in items)))
