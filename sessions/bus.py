"""Bus implementations: tail the store (runner in another process) or subscribe in-process."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from baton.core.bus import RunnerLost, Update
from baton.core.commands import Command
from baton.core.events import TERMINAL_SESSION_EVENTS, Envelope, TokenDelta
from baton.sessions.interface import SessionStore
from baton.sessions.leases import runner_or_parked

STARTUP_GRACE_S = 15.0


class StoreBus:
    """Tails a session in the store: new events and live text as soon as they are committed (the store's
    `wait_for_change`: told by a server that announces commits, else a cheap look at `data_version`),
    and whether a runner still holds the session every `liveness` seconds. Commands are rows the runner
    polls."""

    def __init__(
        self,
        store: SessionStore,
        session_id: str,
        liveness: float = 1.0,
        hand_over: Callable[[], Awaitable[bool]] | None = None,
    ) -> None:
        self.store = store
        self.session_id = session_id
        self.liveness = liveness
        self.hand_over = hand_over
        """Called after a command is written while no live runner holds the session (a runner host parked
        it, or died): makes sure a runner will read it."""
        self.last_seq = 0
        self.last_delta = 0

    async def updates(self) -> AsyncIterator[list[Update]]:
        """History, then whatever is committed next."""
        version = -1
        terminal = False
        lost_reported = False
        watching_since = last_check = time.monotonic()
        mark = await self.store.wait_for_change(self.session_id, 0)
        while True:
            now = time.monotonic()
            suspect = False
            if not terminal and not lost_reported and now - last_check >= self.liveness:
                last_check = now
                suspect = not await runner_or_parked(self.store, self.session_id)
            current = await self.store.data_version()
            batch: list[Update] = []
            if current != version or suspect:
                version = current
                deltas = await self.store.deltas(self.session_id, self.last_delta)
                envelopes = await self.store.events(self.session_id, self.last_seq)
                if deltas:
                    self.last_delta = deltas[-1].id
                    batch += [TokenDelta(d.step, d.call_id, d.text) for d in deltas]
                if envelopes:
                    self.last_seq = envelopes[-1].seq
                    batch += envelopes
                    for env in envelopes:
                        if env.event.kind in TERMINAL_SESSION_EVENTS:
                            terminal = True
                        elif env.event.kind in ("SessionResumed", "SessionStarted"):
                            terminal, lost_reported = False, False
            if suspect and not terminal and (self.last_seq > 0 or now - watching_since > STARTUP_GRACE_S):
                lost_reported = True
                batch.append(RunnerLost("no runner holds this session (it crashed, was killed, or never started)"))
            if batch:
                yield batch
            checking = not terminal and not lost_reported
            until_check = self.liveness - (time.monotonic() - last_check) if checking else self.liveness
            mark = await self.store.wait_for_change(self.session_id, max(until_check, 0.0), mark)

    async def send(self, command: Command) -> int:
        """Write the command for the runner to pick up (handing the session back to a runner host when it
        was parked)."""
        command_id = await self.store.send(self.session_id, command)
        if self.hand_over is not None and not await self.store.runner_alive(self.session_id):
            await self.hand_over()
        return command_id

    async def outcome(self, command_id: int) -> tuple[str, str]:
        """What became of a command."""
        return await self.store.command_status(command_id)


class LocalBus:
    """In-process: the runner's writer publishes straight to subscribers after each commit."""

    def __init__(self, store: SessionStore, session_id: str, submit: Any) -> None:
        self.store = store
        self.session_id = session_id
        self._submit = submit
        self._queues: list[asyncio.Queue[list[Update]]] = []

    def publish(self, envelopes: list[Envelope] | Any) -> None:
        """Called by the writer after a commit."""
        batch = list(envelopes)
        for queue in self._queues:
            queue.put_nowait(batch)

    def live(self, step: str, call_id: str, text: str) -> None:
        """Called by the writer for each piece of streamed text."""
        item: list[Update] = [TokenDelta(step, call_id, text)]
        for queue in self._queues:
            queue.put_nowait(item)

    async def updates(self) -> AsyncIterator[list[Update]]:
        """History, then live updates."""
        queue: asyncio.Queue[list[Update]] = asyncio.Queue()
        self._queues.append(queue)
        try:
            history = await self.store.events(self.session_id)
            seen = history[-1].seq if history else 0
            if history:
                yield list(history)
            while True:
                batch = await queue.get()
                fresh = [u for u in batch if not isinstance(u, Envelope) or u.seq > seen]
                if fresh:
                    yield fresh
        finally:
            self._queues.remove(queue)

    async def send(self, command: Command) -> int:
        """Record the command, then hand it to the runner directly."""
        command_id = await self.store.send(self.session_id, command)
        await self._submit(Command(**{**command.__dict__, "id": command_id}))
        return command_id

    async def outcome(self, command_id: int) -> tuple[str, str]:
        """What became of a command."""
        return await self.store.command_status(command_id)
