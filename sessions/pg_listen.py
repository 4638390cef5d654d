"""Waking on commits instead of polling: one connection `LISTEN`ing on `baton_changes` for a PostgreSQL store.

Every write transaction of `PgStore` notifies the channel with the session it touched, and PostgreSQL
delivers the notification when (and only if) the transaction commits. One `Listener` per store holds a
dedicated connection (not one of the pool's: a pooled connection is handed to other work between
statements) and fans each notification out to whoever waits: waiters on that session, and waiters on
any session.

A waiter must not miss a commit that lands between its read and its wait, so changes are counted: each
notification advances a change count (`mark`) and records the count at which each session last changed.
A waiter passes the mark it read at, and returns at once when its session (or any, for an "any session"
waiter) changed after it. When the connection is lost (the server restarted, an administrator ended it)
the listener reconnects with a growing pause; notifications sent while it was away are lost, so on each
reconnect it counts every session as changed and wakes every waiter, who then read again.

Nothing here shows the DSN: the log lines name the store by its redacted location and the error with the
password scrubbed (`sessions.pg_dsn`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import psycopg

from baton.core.aio import stop_tasks
from baton.sessions.pg_dsn import scrub, shown_dsn
from baton.sessions.pg_schema import CHANNEL

__all__ = ["Listener"]

log = logging.getLogger("baton.store")
CONNECT_TIMEOUT_S = 10
RETRY_FIRST_S = 0.05
RETRY_MAX_S = 2.0
READY_WAIT_S = 10.0
"""How long a first waiter waits for the listening connection before it settles for waiting out its time alone."""


class Listener:
    """Notifications of `baton_changes` on one connection, fanned out to waiters by session id."""

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self.mark = 0
        """How many changes were seen (every notification, and every reconnect, adds one)."""
        self.connects = 0
        """How many times the listening connection was (re)established."""
        self._changed_at: dict[str, int] = {}
        self._reset_at = 0
        self._waiters: dict[str | None, set[asyncio.Future[None]]] = {}
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._backend_pid = 0

    @property
    def running(self) -> bool:
        """Has the listener been started (and not stopped)?"""
        return self._task is not None

    @property
    def backend_pid(self) -> int:
        """The server process of the listening connection (0 while not connected)."""
        return self._backend_pid

    async def start(self) -> None:
        """Start listening (once); returns when the first `LISTEN` is in place, or after `READY_WAIT_S`
        if the server cannot be reached (waiters then wait out their time until it can)."""
        if self._task is None:
            self._task = asyncio.create_task(self._listen(), name="baton-pg-listen")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ready.wait(), READY_WAIT_S)

    async def stop(self) -> None:
        """Stop listening and close the connection; waiters return."""
        task, self._task = self._task, None
        if task is not None:
            await stop_tasks([task])
        self._wake_all()

    def changed_since(self, session_id: str | None, since: int) -> bool:
        """Was anything committed for `session_id` (None: any session) after change count `since`?"""
        if session_id is None:
            return self.mark > since
        return max(self._changed_at.get(session_id, 0), self._reset_at) > since

    async def wait(self, session_id: str | None, within: float, since: int | None = None) -> int:
        """Wait until `session_id` (None: any session) changes after `since` (None: from now), or
        `within` seconds pass; returns the change count to pass next time."""
        await self.start()
        if since is None:
            since = self.mark
        if self.changed_since(session_id, since) or within <= 0:
            return self.mark
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiters = self._waiters.setdefault(session_id, set())
        waiters.add(future)
        try:
            await asyncio.wait((future,), timeout=within)
        finally:
            waiters.discard(future)
            if not waiters:
                self._waiters.pop(session_id, None)
        return self.mark

    # --- the connection --------------------------------------------------------------------------

    async def _listen(self) -> None:
        pause = RETRY_FIRST_S
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(
                    self._dsn, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S
                )
            except psycopg.Error as exc:
                self._lost(exc, pause)
            else:
                try:
                    async with conn:
                        await conn.execute(f"LISTEN {CHANNEL}")
                        self._connected(conn.info.backend_pid)
                        pause = RETRY_FIRST_S
                        async for note in conn.notifies():
                            self._deliver(note.payload)
                except psycopg.Error as exc:
                    self._lost(exc, pause)
                finally:
                    self._backend_pid = 0
            await asyncio.sleep(pause)
            pause = min(pause * 2, RETRY_MAX_S)

    def _connected(self, backend_pid: int) -> None:
        self.connects += 1
        self._backend_pid = backend_pid
        if self.connects > 1:
            log.info("%s: listening for changes again", shown_dsn(self._dsn))
        # whatever was committed while nobody listened is unknown: every session counts as changed
        self.mark += 1
        self._reset_at = self.mark
        self._ready.set()
        self._wake_all()

    def _lost(self, exc: psycopg.Error, pause: float) -> None:
        reason = scrub(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__, self._dsn)
        log.warning("%s: change notifications interrupted (%s); retrying in %.2fs", shown_dsn(self._dsn), reason, pause)

    def _deliver(self, session_id: str) -> None:
        self.mark += 1
        if session_id:
            self._changed_at[session_id] = self.mark
        for key in (session_id, None):
            for future in self._waiters.get(key, ()):
                if not future.done():
                    future.set_result(None)

    def _wake_all(self) -> None:
        for waiters in self._waiters.values():
            for future in waiters:
                if not future.done():
                    future.set_result(None)
