"""The runner's side of the store: group commit, live text, projections.

`commit` returns once the events are durable; concurrent commits (a fan-out finishing together) share
one transaction. `post` queues informational events for the next batch. Live text is batched (~20×/s)
and written in the same transaction as the next batch of events, so it always precedes the call's
finish. Subscribers see an event only after it is persisted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from core import events as ev
from core.view import SessionView
from sessions import projection
from sessions.store import Store

log = logging.getLogger("baton.store")

Publish = Callable[[Sequence[ev.Envelope]], None]
OnDelta = Callable[[str, str, str], None]


@dataclass
class _Item:
    events: Sequence[ev.Event]
    command_id: int
    future: asyncio.Future[None] | None


class SessionWriter:
    """Implements the runner's `Sink` over a `Store` for one session."""

    def __init__(
        self,
        store: Store,
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
        self._queue: asyncio.Queue[_Item | None] = asyncio.Queue()
        self._deltas: list[tuple[str, str, str]] = []
        self._dirty = projection.Dirty()
        self._delta_interval = delta_interval
        self._projection_interval = projection_interval
        self._tasks: list[asyncio.Task[None]] = []
        self._error: BaseException | None = None
        self.committed = 0

    async def start(self) -> SessionWriter:
        """Start the writer and its timers."""
        self._tasks = [
            asyncio.ensure_future(self._write_loop()),
            asyncio.ensure_future(self._tick(self._delta_interval, self._flush_deltas)),
            asyncio.ensure_future(self._tick(self._projection_interval, self.project)),
        ]
        return self

    # --- Sink ------------------------------------------------------------------------------------

    async def commit(self, events: Sequence[ev.Event], *, command_id: int = 0) -> None:
        """Persist `events` (and mark `command_id` done) in one transaction; return when durable."""
        if self._error is not None:
            raise RuntimeError(f"the session store failed: {self._error}")
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Item(events, command_id, future))
        await asyncio.shield(future)

    def post(self, events: Sequence[ev.Event]) -> None:
        """Queue informational events for the next batch."""
        if events:
            self._queue.put_nowait(_Item(events, 0, None))

    def delta(self, step: str, call_id: str, text: str) -> None:
        """Live text: buffered for viewers in other processes, handed at once to in-process ones."""
        self._deltas.append((step, call_id, text))
        if self._on_delta is not None:
            self._on_delta(step, call_id, text)

    async def reject_command(self, command_id: int, reason: str) -> None:
        """Tell a command's sender why it was refused."""
        await self.store.reject_command(command_id, reason)

    # --- loops -----------------------------------------------------------------------------------

    async def _write_loop(self) -> None:
        while True:
            first = await self._queue.get()
            if first is None:
                return
            batch = [first]
            stop = False
            while not self._queue.empty():
                item = self._queue.get_nowait()
                if item is None:
                    stop = True
                    break
                batch.append(item)
            await self._write(batch)
            if stop:
                return

    async def _write(self, batch: list[_Item]) -> None:
        events = [e for item in batch for e in item.events]
        commands = [item.command_id for item in batch if item.command_id]
        deltas = self._take_deltas()
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
        for env in envelopes:
            self.view.apply(env)
            self._dirty.note(env)
        for item in batch:
            if item.future is not None and not item.future.done():
                item.future.set_result(None)
        if self._publish is not None and envelopes:
            self._publish(envelopes)

    def _take_deltas(self) -> list[tuple[str, str, str]]:
        if not self._deltas:
            return []
        pending, self._deltas = self._deltas, []
        merged: dict[tuple[str, str], list[str]] = {}
        for step, call_id, text in pending:
            merged.setdefault((step, call_id), []).append(text)
        return [(step, call_id, "".join(parts)) for (step, call_id), parts in merged.items()]

    async def _flush_deltas(self) -> None:
        rows = self._take_deltas()
        if rows:
            await self.store.add_deltas(self.session_id, rows)

    async def project(self) -> None:
        """Write dirty projections now."""
        if not self._dirty.any:
            return
        dirty, self._dirty = self._dirty, projection.Dirty()
        await projection.write(self.store, self.view, dirty)

    async def _tick(self, interval: float, work: Callable[[], object]) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                result = work()
                if asyncio.iscoroutine(result):
                    await result
            except Exception:
                log.exception("background store work failed for session %s", self.session_id)

    async def close(self) -> None:
        """Drain everything queued, write the last projections, stop the timers."""
        self._queue.put_nowait(None)
        writer = self._tasks[0] if self._tasks else None
        if writer is not None:
            with contextlib.suppress(Exception):
                await writer
        for task in self._tasks[1:]:
            task.cancel()
        await asyncio.gather(*self._tasks[1:], return_exceptions=True)
        with contextlib.suppress(Exception):
            await self._flush_deltas()
        await self.project()
