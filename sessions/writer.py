"""The runner's side of the store: group commit, live text, projections.

`commit` returns once the events are durable; commits that arrive together (a fan-out finishing at
once) share one transaction. `post` holds informational events (a step started, a call started, a
retry is scheduled) for the next transaction: the next commit, or the live-text tick (~20×/s) when no
commit comes sooner — so a step costs one transaction, not one for its start and one for its end. Live
text is written in the same transactions, before the events, so it always precedes the call's finish (a
call that finishes in the transaction that would carry its text needs none: the finish carries it all).
Subscribers see an event only after it is persisted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from baton.core import events as ev
from baton.core.aio import stop_tasks
from baton.core.view import SessionView
from baton.sessions import projection
from baton.sessions.interface import SessionStore
from baton.sessions.tasks import settle

log = logging.getLogger("baton.store")

Publish = Callable[[Sequence[ev.Envelope]], None]
OnDelta = Callable[[str, str, str], None]


PROJECT_AT_ONCE = frozenset({"CheckpointOpened", "DecisionMade"})
"""Events whose projections are written right after their commit, not at the next tick: a person starts
or stops waiting, and the inbox across sessions finds waiting checkpoints in the projection."""


@dataclass(slots=True)
class _Item:
    events: Sequence[ev.Event]
    command_id: int
    future: asyncio.Future[None] | None


class SessionWriter:
    """Implements the runner's `Sink` over a session store for one session."""

    def __init__(
        self,
        store: SessionStore,
        session_id: str,
        view: SessionView,
        *,
        publish: Publish | None = None,
        on_delta: OnDelta | None = None,
        delta_interval: float = 0.05,
        projection_interval: float = 0.25,
    ) -> None:
        self.store = store
        self.session_id = session_id
        self.view = view
        self._next_seq = view.last_seq + 1
        self._publish = publish
        self._on_delta = on_delta
        self._pending: list[_Item] = []
        self._closing = False
        self._stopped = False
        self._wake = asyncio.Event()
        self._deltas: dict[tuple[str, str], list[str]] = {}
        self._dirty = projection.Dirty()
        self._delta_interval = delta_interval
        self._projection_interval = projection_interval
        self._tasks: list[asyncio.Task[None]] = []
        self._error: BaseException | None = None
        self.committed = 0

    def unprojected(self, envelopes: Sequence[ev.Envelope]) -> None:
        """Mark what recorded events change as dirty: events a crashed runner committed after its last
        projection write would otherwise stay unprojected (a replayed step emits no new event)."""
        for env in envelopes:
            self._dirty.note(env, self.view)

    async def start(self) -> SessionWriter:
        """Start the writer and its timers."""
        self._tasks = [
            asyncio.ensure_future(self._write_loop()),
            asyncio.ensure_future(self._tick(self._delta_interval, self._flush_soon)),
            asyncio.ensure_future(self._tick(self._projection_interval, self.project)),
        ]
        return self

    # --- Sink ------------------------------------------------------------------------------------

    async def commit(self, events: Sequence[ev.Event], *, command_id: int = 0) -> None:
        """Persist `events` (and mark `command_id` done) in one transaction; return when durable."""
        if self._error is not None:
            raise RuntimeError(f"the session store failed: {self._error}")
        if self._stopped:
            raise RuntimeError("the session writer has stopped")
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append(_Item(events, command_id, future))
        self._wake.set()
        await future  # a cancelled waiter cancels only its own future: the events are still written

    def post(self, events: Sequence[ev.Event]) -> None:
        """Hold informational events for the next transaction (at the latest the next tick)."""
        if events:
            self._pending.append(_Item(events, 0, None))

    def delta(self, step: str, call_id: str, text: str) -> None:
        """Live text: buffered for viewers in other processes, handed at once to in-process ones."""
        parts = self._deltas.get((step, call_id))
        if parts is None:
            self._deltas[(step, call_id)] = [text]
        else:
            parts.append(text)
        if self._on_delta is not None:
            self._on_delta(step, call_id, text)

    async def reject_command(self, command_id: int, reason: str) -> None:
        """Tell a command's sender why it was refused."""
        await self.store.reject_command(command_id, reason)

    # --- loops -----------------------------------------------------------------------------------

    def _flush_soon(self) -> None:
        if self._pending or self._deltas:
            self._wake.set()

    async def _write_loop(self) -> None:
        try:
            while True:
                if not self._closing:
                    await self._wake.wait()
                self._wake.clear()
                batch, self._pending = self._pending, []
                deltas = self._take_deltas(batch)
                if batch or deltas:
                    await self._write(batch, deltas)
                elif self._closing:
                    return
        finally:
            # Whatever ended the loop (closing, or a cancellation such as the event loop shutting down
            # with every task at once), nobody will write what is still held: fail its waiters now
            # instead of leaving them to wait forever.
            self._stopped = True
            held, self._pending = self._pending, []
            for item in held:
                if item.future is not None and not item.future.done():
                    item.future.set_exception(RuntimeError("the session writer has stopped"))

    async def _write(self, batch: list[_Item], deltas: list[tuple[str, str, str]]) -> None:
        events = [e for item in batch for e in item.events]
        commands = [item.command_id for item in batch if item.command_id]
        try:
            envelopes = await self.store.append(self.session_id, self._next_seq, events, commands, deltas)
        except BaseException as exc:
            self._error = exc
            log.exception("writing %d events of session %s failed", len(events), self.session_id)
            for item in batch:
                if item.future is not None and not item.future.done():
                    item.future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        self._next_seq += len(events)
        self.committed += len(events)
        view, note = self.view, self._dirty.note
        for env in envelopes:
            view.apply(env)
            note(env, view)
        for item in batch:
            if item.future is not None and not item.future.done():
                item.future.set_result(None)
        if self._publish is not None and envelopes:
            self._publish(envelopes)
        if any(env.event.kind in PROJECT_AT_ONCE for env in envelopes):
            await self._project_now()

    def _take_deltas(self, batch: Sequence[_Item] = ()) -> list[tuple[str, str, str]]:
        """Live text held since the last transaction, one row per call. A call that finishes in this
        very transaction needs none: its full text is persisted with it, and a viewer reading the
        transaction sees that instead."""
        if not self._deltas:
            return []
        pending, self._deltas = self._deltas, {}
        finished = {e.call_id for item in batch for e in item.events if isinstance(e, ev.LLMCallFinished)}
        return [
            (step, call_id, "".join(parts)) for (step, call_id), parts in pending.items() if call_id not in finished
        ]

    async def project(self) -> None:
        """Write dirty projections now."""
        if not self._dirty.any:
            return
        dirty, self._dirty = self._dirty, projection.Dirty()
        await projection.write(self.store, self.view, dirty)

    async def _project_now(self) -> None:
        try:
            await self.project()
        except Exception:
            log.exception("writing the projections of session %s failed", self.session_id)

    async def _tick(self, interval: float, work: Callable[[], object]) -> None:
        while not self._closing:
            await asyncio.sleep(interval)
            try:
                result = work()
                if asyncio.iscoroutine(result):
                    await result
            except Exception:
                log.exception("background store work failed for session %s", self.session_id)

    async def close(self) -> None:
        """Write everything held, stop the timers, write the last projections. Runs to its end even
        when cancelled (the cancellation is raised afterwards)."""
        await settle(self._close())

    async def _close(self) -> None:
        self._closing = True
        self._wake.set()
        writer = self._tasks[0] if self._tasks else None
        try:
            if writer is not None:
                with contextlib.suppress(Exception):
                    await writer
        finally:
            await stop_tasks(self._tasks[1:])
        if self._deltas:  # the writer loop was cancelled: keep the live text it held
            with contextlib.suppress(Exception):
                await self._write([], self._take_deltas())
        await self.project()
