"""Low-level SQLite helpers for the store: one-hop work on the connection's thread, cancellation-proof
awaiting, private files, process liveness.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar, cast

import aiosqlite

T = TypeVar("T")


def raw(conn: aiosqlite.Connection) -> sqlite3.Connection:
    """The sqlite3 connection inside an aiosqlite one; use it only on that connection's own thread."""
    return cast(sqlite3.Connection, cast(Any, conn)._conn)


async def on_thread(conn: aiosqlite.Connection, fn: Callable[[sqlite3.Connection], T]) -> T:
    """Run `fn(sqlite3 connection)` on the aiosqlite connection's thread as one queued call.

    aiosqlite runs every call on one thread, in order; a whole transaction handed over as one call
    costs one thread hop instead of one per statement (plus BEGIN and COMMIT), and nothing else on
    the connection can interleave with it.
    """
    sqlite_conn = raw(conn)
    return cast(T, await cast(Any, conn)._execute(fn, sqlite_conn))


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


async def settle(work: Awaitable[T]) -> T:
    """Await `work` to its end even if the caller is cancelled meanwhile (once or many times); the
    cancellation is raised afterwards. For transactions and clean-up that must not stop halfway."""
    task = asyncio.ensure_future(work)
    cancelled: asyncio.CancelledError | None = None
    while True:
        try:
            result = await asyncio.shield(task)
        except asyncio.CancelledError as exc:
            if task.done():
                raise
            cancelled = exc
            continue
        if cancelled is not None:
            raise cancelled
        return result


def private_sidecars(db: Path) -> None:
    """SQLite creates `-wal`/`-shm` with the database's mode; make sure they are 0600 even so."""
    for suffix in ("-wal", "-shm", "-journal"):
        sidecar = Path(str(db) + suffix)
        if sidecar.exists():
            os.chmod(sidecar, 0o600)


def pid_alive(pid: int) -> bool:
    """Is process `pid` running (a zombie is not)?"""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(") ", 1)[1][:1] != "Z"
    except (OSError, IndexError):
        return True


def integrity_ok(path: str | os.PathLike[str]) -> bool:
    """`PRAGMA integrity_check` on a file (a plain, separate connection)."""
    conn = sqlite3.connect(str(path))
    try:
        return bool(conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok")
    finally:
        conn.close()
