"""Low-level SQLite helpers for the store: one connection owned by one thread, one-hop work on that
thread, private files.

The standard library's `sqlite3` only: the store hands a whole transaction to the connection's thread as
one call, which a wrapper library would have to expose through its private members.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


class Connection:
    """One sqlite3 connection and the one thread that runs the work queued for it, in order.

    A whole transaction handed over as one call costs one thread hop instead of one per statement (plus
    BEGIN and COMMIT), and nothing else on the connection can interleave with it. The connection may
    also be used from the event loop's thread, but only while its own thread is idle (see `Store`).
    An idle thread never keeps the process alive at exit, even if `close` was never awaited.
    """

    def __init__(self, conn: sqlite3.Connection, executor: ThreadPoolExecutor) -> None:
        self._conn = conn
        self._executor = executor
        self._closed = False

    @classmethod
    async def open(cls, path: str, timeout_s: float) -> Connection:
        """Connect on the connection's own thread (autocommit: transactions are explicit)."""
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="baton-store")

        def connect() -> sqlite3.Connection:
            return sqlite3.connect(path, timeout=timeout_s, isolation_level=None, check_same_thread=False)

        try:
            conn = await asyncio.get_running_loop().run_in_executor(executor, connect)
        except BaseException:
            executor.shutdown(wait=False)
            raise
        return cls(conn, executor)

    @property
    def raw(self) -> sqlite3.Connection:
        """The sqlite3 connection; use it only while the connection's thread is idle."""
        return self._conn

    @property
    def in_transaction(self) -> bool:
        """Is a transaction open on the connection?"""
        return self._conn.in_transaction

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """`fn(sqlite3 connection)` on the connection's thread, after everything queued before it."""
        if self._closed:
            raise sqlite3.ProgrammingError("the session store is closed")
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, self._conn)

    async def close(self) -> None:
        """Close the connection once the work already queued has run, then let its thread end."""
        if self._closed:
            return
        try:
            await self.run(lambda conn: conn.close())
        finally:
            self._closed = True
            self._executor.shutdown(wait=False)


def run_transaction(conn: sqlite3.Connection, work: Callable[[sqlite3.Connection], T], durable: bool = False) -> T:
    """`BEGIN IMMEDIATE` (take the write lock first, waiting up to busy_timeout), `work`, `COMMIT`;
    roll back if anything fails. Runs on the connection's thread.

    Commits are safe against a killed process either way (WAL). `durable` ones also survive an OS
    crash or power loss: the WAL is synced before COMMIT returns (`synchronous=FULL` for this one
    transaction) — for records that promise something about the outside world, such as the intent of
    a side-effecting tool that is about to run."""
    if durable:
        conn.execute("PRAGMA synchronous=FULL")
    try:
        conn.execute("BEGIN IMMEDIATE")
        return _commit(conn, work)
    finally:
        if durable:
            conn.execute("PRAGMA synchronous=NORMAL")


def _commit(conn: sqlite3.Connection, work: Callable[[sqlite3.Connection], T]) -> T:
    """Inside a begun transaction: `work`, then COMMIT; roll back if anything fails."""
    try:
        result = work(conn)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return result


def try_transaction_now(conn: sqlite3.Connection, work: Callable[[sqlite3.Connection], T]) -> tuple[bool, T | None]:
    """Run `work` as a transaction right now if the write lock is free at once; (False, None) when another
    connection holds it (nothing was done). Only for a connection whose own thread is idle, which leaves
    its busy timeout at 0 (see `waiting`): taking the lock never waits here."""
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        if _busy(exc):
            return False, None
        raise
    return True, _commit(conn, work)


def try_read_now(conn: sqlite3.Connection, sql: str, params: Sequence[Any]) -> tuple[bool, list[Any]]:
    """Run a query right now if it needs no wait for a lock; (False, []) when it would have to wait. Only
    for a connection whose own thread is idle (busy timeout 0, see `waiting`). Under WAL a reader waits
    only in rare cases, such as another connection recovering the log."""
    try:
        return True, conn.execute(sql, params).fetchall()
    except sqlite3.OperationalError as exc:
        if _busy(exc):
            return False, []
        raise


def waiting(fn: Callable[[sqlite3.Connection], T], busy_ms: int) -> Callable[[sqlite3.Connection], T]:
    """`fn` run with a busy timeout of `busy_ms`, back to 0 afterwards. The connection's thread waits for
    locks (up to `busy_ms`); the event loop's thread, which uses the connection only while that thread is
    idle, never does — so the timeout is set once per job on the thread rather than twice per statement
    run on the event loop."""

    def job(conn: sqlite3.Connection) -> T:
        conn.execute(f"PRAGMA busy_timeout={busy_ms}")
        try:
            return fn(conn)
        finally:
            conn.execute("PRAGMA busy_timeout=0")

    return job


def _busy(exc: sqlite3.OperationalError) -> bool:
    return getattr(exc, "sqlite_errorcode", sqlite3.SQLITE_BUSY) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def private_sidecars(db: Path) -> None:
    """SQLite creates `-wal`/`-shm` with the database's mode; make sure they are 0600 even so."""
    for suffix in ("-wal", "-shm", "-journal"):
        sidecar = Path(str(db) + suffix)
        if sidecar.exists():
            os.chmod(sidecar, 0o600)


def integrity_ok(path: str | os.PathLike[str]) -> bool:
    """`PRAGMA integrity_check` on a file (a plain, separate connection)."""
    conn = sqlite3.connect(str(path))
    try:
        return bool(conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok")
    finally:
        conn.close()


class StorePart:
    """What a part of `sessions.store.Store` kept in a module of its own (the queue, the lessons) uses of
    the store: its transactions and reads. The store provides them."""

    async def transaction(
        self, work: Callable[[sqlite3.Connection], T], *, small: bool = False, durable: bool = False
    ) -> T:
        raise NotImplementedError

    async def _all(self, sql: str, params: Sequence[Any] = (), *, small: bool = False) -> list[Any]:
        raise NotImplementedError
