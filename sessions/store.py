"""The session store over one SQLite file: one long-lived connection per process.

WAL lets viewers read while the runner writes; `busy_timeout` absorbs short lock waits; every write is
one `BEGIN IMMEDIATE` transaction run whole on the connection's thread, so nothing can await (let
alone touch the network) inside it, and a cancelled caller never leaves one open. It implements
`sessions.interface.SessionStore`.
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any, TypeVar, cast

from baton.core import events as ev
from baton.core import paths
from baton.core.commands import Command
from baton.core.secrets import Redactor, default_redactor
from baton.core.view import WAITING, SessionView
from baton.sessions import sqlite_projection as sql_projection
from baton.sessions import store_file
from baton.sessions.changes import poll_for_change
from baton.sessions.errors import SequenceConflict, SessionInUse, StoreError
from baton.sessions.leases import LEASE_TTL_S, LeaseOwner, drop, hold, holder_alive, new_token
from baton.sessions.records import CallRow, CheckpointRow, Delta, Lease, ProjectionUpdate, SessionRow, StepRow
from baton.sessions.schema import LATEST, MIGRATIONS
from baton.sessions.sqlite import (
    Connection,
    integrity_ok,
    private_sidecars,
    run_transaction,
    try_read_now,
    try_transaction_now,
    waiting,
)
from baton.sessions.sqlite_lessons import SqliteLessons
from baton.sessions.sqlite_work import SqliteWork, take_lease
from baton.sessions.tasks import settle
from baton.sessions.text import is_text, shown

__all__ = [
    "LEASE_TTL_S",
    "Delta",
    "SessionInUse",
    "SessionRow",
    "Store",
    "StoreError",
    "integrity_ok",
    "settle",
    "shown_status",
]

T = TypeVar("T")
BUSY_TIMEOUT_MS = 5000
SMALL_BATCH = 1024
"""Appends of at most this many rows may commit on the event loop's thread (see `Store`): a thousand rows
insert in about a millisecond, far less than a hop to a thread that must win the GIL back from busy
model streams (tens of milliseconds on a loaded machine)."""
SMALL_PROJECTION = 256
"""A projection write touching at most this many rows may run on the event loop's thread."""


def shown_status(status: str, alive: bool | None, waiting: bool = False) -> str:
    """A session's status as shown to a person: `interrupted` when it claims to run but no runner holds
    it (`alive` False; None when not checked), `waiting` (for you) when its runner can do nothing until a
    person decides (`waiting`: `SessionView.blocked_on_person`). `status_text` words it for a person."""
    if status in ("new", "running"):
        if alive is False:
            return "interrupted"
        if waiting:
            return WAITING
    return status


_SESSION_COLUMNS = ", ".join(f.name for f in fields(SessionRow))
_SESSION_TABLES = ("events", "steps", "state", "llm_calls", "checkpoints", "commands", "deltas", "leases", "work")


class Store(SqliteWork, SqliteLessons):
    """All SQL lives here (and in `sqlite_projection`). Use `async with await Store.open(path) as store:`
    or `await store.close()`.

    Calls run on the connection's one thread, in order; a write is one queued call (`BEGIN IMMEDIATE` …
    `COMMIT`), so transactions never interleave and cost one thread hop. The hot path — a batch of
    events, the periodic projections, the command poll — skips the hop when that thread is idle and the
    write lock is free at once: it runs right here (tens of microseconds, no fsync under WAL +
    synchronous=NORMAL); when another process holds the lock it goes to the thread and waits there,
    never on the event loop. The hop is worth avoiding: each statement on the thread releases the GIL
    and must win it back from whatever else runs (model streams, litellm's own worker threads), so one
    transaction there can take tens of milliseconds while the event loop is busy.
    """

    def __init__(
        self, conn: Connection, path: Path, redactor: Redactor, clock: Callable[[], float] = time.time
    ) -> None:
        self.conn = conn
        self.path = path
        self.redact = redactor
        self.clock = clock
        self._raw = conn.raw
        self._queued = 0
        self.inline_commits = 0

    # --- opening ---------------------------------------------------------------------------------

    @classmethod
    async def open(
        cls,
        path: str | os.PathLike[str] | None = None,
        redactor: Redactor | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> Store:
        """Open (creating, private to the user, and migrating) the store at `path` (default: the data
        folder's). A file that cannot be a baton store is refused with `StoreUnusable` and left as it is."""
        db = Path(path) if path is not None else paths.default_db()
        if store_file.check_path(db):
            store_file.make_room(db, default=path is None and not os.environ.get("BATON_DB"))
        conn = await Connection.open(str(db), BUSY_TIMEOUT_MS / 1000)
        try:
            version = await conn.run(lambda c: store_file.inspect(c, db, LATEST))
            # A baton store: now it may be made private. chmod, never open(): closing any descriptor of the
            # file would drop this process's SQLite locks on it (POSIX locks are per process).
            os.chmod(db, 0o600)
            await conn.run(_settings)
            store = cls(conn, db, redactor or default_redactor(), clock)
            await store._migrate(version)
            await conn.run(lambda c: c.execute("PRAGMA busy_timeout=0"))  # the idle state (see `waiting`)
        except BaseException:
            await conn.close()
            raise
        private_sidecars(db)
        return store

    @property
    def location(self) -> str:
        """The file's path."""
        return str(self.path)

    async def close(self) -> None:
        """Close the connection; calls already queued, such as a transaction in flight, finish first."""
        self._queued += 1  # from here on nothing runs inline
        await settle(self.conn.close())

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _migrate(self, version: int) -> None:
        """Forward migrations from `version` (one transaction each; a failed one changes nothing; several
        processes opening one new file at once apply each migration once)."""
        for number, sql in MIGRATIONS:
            if number <= version:
                continue

            def migrate(conn: sqlite3.Connection, sql: str = sql, number: int = number) -> None:
                # Read again under the write lock: another process opening the same new file may have
                # applied this migration since `version` was read.
                if conn.execute("PRAGMA user_version").fetchone()[0] >= number:
                    return
                for statement in sql.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version={number}")

            await self.transaction(migrate)

    # --- transactions and reads ------------------------------------------------------------------

    async def transaction(
        self, work: Callable[[sqlite3.Connection], T], *, small: bool = False, durable: bool = False
    ) -> T:
        """Run `work(sqlite3 connection)` as one `BEGIN IMMEDIATE` transaction on the connection's thread
        (so it must not await or do network I/O). A cancelled caller waits for the transaction to
        commit or roll back before the cancellation goes on: when a task ends, none of its
        transactions is still open. `small` work may run on the caller's thread when that is free;
        `durable` work is synced to disk before this returns (see `run_transaction`)."""
        if small and not durable and self._queued == 0:
            done, result = try_transaction_now(self._raw, work)
            if done:
                self.inline_commits += 1
                return cast(T, result)
        return await self._on_thread(lambda conn: run_transaction(conn, work, durable))

    async def _on_thread(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """`fn` on the connection's thread with the busy timeout set, counted as queued meanwhile (so
        nothing runs inline ahead of it) and settled even if the caller is cancelled."""
        self._queued += 1
        try:
            return await settle(self.conn.run(waiting(fn, BUSY_TIMEOUT_MS)))
        finally:
            self._queued -= 1

    async def _one(self, sql: str, params: Sequence[Any] = (), *, small: bool = False) -> Any:
        rows = await self._all(sql, params, small=small)
        return rows[0] if rows else None

    async def _all(self, sql: str, params: Sequence[Any] = (), *, small: bool = False) -> list[Any]:
        """Rows of a query; a `small` one runs right here when the connection's thread is idle and the
        read needs no wait (see `transaction`)."""
        if small and self._queued == 0:
            done, rows = try_read_now(self._raw, sql, params)
            if done:
                return rows
        return await self._on_thread(lambda conn: conn.execute(sql, params).fetchall())

    async def data_version(self) -> int:
        """Changes whenever another connection commits (cheap change detection for tailing)."""
        return int((await self._one("PRAGMA data_version", small=True))[0])

    # --- sessions --------------------------------------------------------------------------------

    async def create_session(
        self,
        workflow: str,
        *,
        workflow_path: str,
        workflow_hash: str,
        workflow_text: str,
        inputs: dict[str, Any],
        options: dict[str, Any],
        parent: str = "",
        fork_step: str = "",
    ) -> str:
        """A new session row (the runner appends its `SessionStarted`)."""
        session_id = secrets.token_hex(4)
        now = self.clock()
        row = (
            session_id,
            workflow,
            workflow_path,
            workflow_hash,
            self.redact(workflow_text),
            self.redact(json.dumps(inputs, ensure_ascii=False)),
            self.redact(json.dumps(options, ensure_ascii=False, default=str)),
            parent,
            fork_step,
            now,
            now,
        )

        def insert(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO sessions (id, workflow, workflow_path, workflow_hash, workflow_text, inputs, options,"
                " parent, fork_step, status, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,'new',?,?)",
                row,
            )

        await self.transaction(insert)
        return session_id

    async def session(self, session_id: str) -> SessionRow:
        """One session's row."""
        row = await self._one(f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE id = ?", (session_id,), small=True)
        if row is None:
            raise StoreError(f"no session '{session_id}'")
        return SessionRow(*row)

    async def sessions(self, limit: int = 500) -> list[SessionRow]:
        """Sessions, newest first."""
        rows = await self._all(f"SELECT {_SESSION_COLUMNS} FROM sessions ORDER BY created_at DESC LIMIT ?", (limit,))
        return [SessionRow(*row) for row in rows]

    async def resolve(self, prefix: str) -> str:
        """A full session id from a unique prefix."""
        if not is_text(prefix):
            raise StoreError(f"no session {shown(prefix)} in {self.path}")
        rows = await self._all(
            "SELECT id FROM sessions WHERE id >= ? AND id < ? ORDER BY id LIMIT 5", (prefix, prefix + "\uffff")
        )
        if not rows:
            raise StoreError(f"no session '{prefix}' in {self.path}")
        if len(rows) > 1 and rows[0][0] != prefix:
            ids = ", ".join(r[0] for r in rows)
            raise StoreError(f"'{prefix}' is ambiguous: {ids}")
        return str(rows[0][0])

    async def delete_session(self, session_id: str) -> None:
        """Remove a session and everything recorded for it."""

        def delete(conn: sqlite3.Connection) -> None:
            for table in _SESSION_TABLES:
                conn.execute(f"DELETE FROM {table} WHERE session_id = ?", (session_id,))
            conn.execute("DELETE FROM sessions WHERE id = ?", (session_id,))

        await self.transaction(delete)

    # --- events ----------------------------------------------------------------------------------

    def encode(self, event: ev.Event) -> str:
        """The stored payload of an event, with secrets redacted."""
        return self.redact(ev.encode_payload(event))

    async def append(
        self,
        session_id: str,
        first_seq: int,
        events: Sequence[ev.Event],
        command_ids: Iterable[int] = (),
        deltas: Sequence[tuple[str, str, str]] = (),
    ) -> list[ev.Envelope]:
        """Insert events with consecutive sequence numbers from `first_seq` in one transaction, mark the
        commands they answer as done, and add pending live text first. Returns the committed envelopes.
        A batch with a side-effecting tool's intent is synced to disk before this returns."""
        now = self.clock()
        rows = [(session_id, first_seq + i, now, e.kind, e.step, self.encode(e)) for i, e in enumerate(events)]
        done = [(now, cid) for cid in command_ids if cid]
        text = [(session_id, s, c, self.redact(t)) for s, c, t in deltas]

        def insert(conn: sqlite3.Connection) -> None:
            if text:
                conn.executemany("INSERT INTO deltas (session_id, step, call_id, text) VALUES (?,?,?,?)", text)
            if rows:
                conn.executemany(
                    "INSERT INTO events (session_id, seq, ts, kind, step, payload) VALUES (?,?,?,?,?,?)", rows
                )
            if done:
                conn.executemany("UPDATE commands SET status = 'done', done_at = ? WHERE id = ?", done)

        promise = any(isinstance(e, ev.ToolCallIntent) for e in events)
        try:
            await self.transaction(insert, small=len(rows) + len(text) <= SMALL_BATCH, durable=promise)
        except sqlite3.IntegrityError:
            raise SequenceConflict(
                f"session {session_id}: events from sequence number {first_seq} are already stored (another"
                " runner wrote them); nothing of this batch was kept"
            ) from None
        return [ev.Envelope(session_id, first_seq + i, now, e) for i, e in enumerate(events)]

    async def last_seq(self, session_id: str) -> int:
        """Highest sequence number of a session (0 when it has none)."""
        row = await self._one("SELECT COALESCE(MAX(seq), 0) FROM events WHERE session_id = ?", (session_id,))
        return int(row[0])

    async def events(
        self, session_id: str, after: int = 0, limit: int = -1, *, small: bool = False
    ) -> list[ev.Envelope]:
        """Persisted events after `after`, in order (`small`: a few, worth reading without a thread hop)."""
        rows = await self._all(
            "SELECT seq, ts, kind, step, payload FROM events WHERE session_id = ? AND seq > ? ORDER BY seq LIMIT ?",
            (session_id, after, limit),
            small=small,
        )
        decode, loads, envelope = ev.event_from_payload, json.loads, ev.Envelope
        return [
            envelope(session_id, seq, ts, decode(kind, step, loads(payload))) for seq, ts, kind, step, payload in rows
        ]

    async def view(self, session_id: str) -> SessionView:
        """The session folded from its events."""
        return SessionView(session_id).apply_all(await self.events(session_id))

    # --- projections -----------------------------------------------------------------------------

    async def write_projection(self, update: ProjectionUpdate) -> None:
        """Apply one projection write in one transaction."""
        await self.transaction(lambda conn: sql_projection.write(conn, update), small=update.size <= SMALL_PROJECTION)

    async def steps(self, session_id: str) -> list[StepRow]:
        """The session's projected steps, by path."""
        return [StepRow(*r) for r in await self._all(sql_projection.STEPS_SQL, (session_id,))]

    async def state(self, session_id: str) -> dict[str, str]:
        """The session's projected state: key → JSON text."""
        return {str(k): str(v) for k, v in await self._all(sql_projection.STATE_SQL, (session_id,))}

    async def calls(self, session_id: str) -> list[CallRow]:
        """The session's recorded model calls, by call id."""
        return [CallRow(*r) for r in await self._all(sql_projection.CALLS_SQL, (session_id,))]

    async def checkpoints(self, session_id: str | None = None, *, open_only: bool = False) -> list[CheckpointRow]:
        """Checkpoints of one session (or of every session), oldest first."""
        query = sql_projection.checkpoints_sql(session_id is not None, open_only)
        rows = await self._all(query, (session_id,) if session_id is not None else ())
        return [CheckpointRow(*r) for r in rows]

    # --- commands --------------------------------------------------------------------------------

    async def send(self, session_id: str, command: Command) -> int:
        """Queue a command for the session's runner; returns its id."""
        body = self.redact(json.dumps(command.to_json(), ensure_ascii=False, default=str))
        row = (session_id, self.clock(), body)

        def insert(conn: sqlite3.Connection) -> int:
            cursor = conn.execute("INSERT INTO commands (session_id, ts, body) VALUES (?,?,?)", row)
            return int(cursor.lastrowid or 0)

        return await self.transaction(insert)

    async def pending_commands(self, session_id: str, after_id: int = 0) -> list[Command]:
        """Commands not yet acted on, oldest first."""
        rows = await self._all(
            "SELECT id, body FROM commands WHERE session_id = ? AND status = 'new' AND id > ? ORDER BY id",
            (session_id, after_id),
            small=True,
        )
        out = []
        for cid, body in rows:
            try:
                out.append(Command.from_json(json.loads(body), int(cid)))
            except (ValueError, TypeError, KeyError) as exc:
                await self.reject_command(int(cid), f"unreadable command: {exc}")
        return out

    async def reject_command(self, command_id: int, reason: str) -> None:
        """Mark a command refused, with the reason its sender will see."""
        if not command_id:
            return
        row = (self.redact(reason), self.clock(), command_id)

        def update(conn: sqlite3.Connection) -> None:
            conn.execute("UPDATE commands SET status = 'rejected', reason = ?, done_at = ? WHERE id = ?", row)

        await self.transaction(update)

    async def command_status(self, command_id: int) -> tuple[str, str]:
        """(new | done | rejected | missing, reason)."""
        row = await self._one("SELECT status, reason FROM commands WHERE id = ?", (command_id,))
        return (str(row[0]), str(row[1])) if row else ("missing", "")

    # --- live text -------------------------------------------------------------------------------

    async def deltas(self, session_id: str, after_id: int = 0) -> list[Delta]:
        """Live text rows after `after_id`."""
        rows = await self._all(
            "SELECT id, step, call_id, text FROM deltas WHERE session_id = ? AND id > ? ORDER BY id",
            (session_id, after_id),
        )
        return [Delta(int(i), s, c, t) for i, s, c, t in rows]

    async def last_delta_id(self, session_id: str) -> int:
        """Highest live-text row id of a session."""
        row = await self._one("SELECT COALESCE(MAX(id), 0) FROM deltas WHERE session_id = ?", (session_id,))
        return int(row[0])

    # --- leases ----------------------------------------------------------------------------------

    async def acquire_lease(self, session_id: str, ttl: float = LEASE_TTL_S, *, owner: LeaseOwner | None = None) -> str:
        """Become the session's only runner, or raise `SessionInUse`. A lease whose runner died (same
        host, pid gone) or expired (another host) is taken over."""
        me = owner or LeaseOwner.this_process()
        token = new_token()

        def take(conn: sqlite3.Connection) -> None:
            take_lease(conn, session_id, me, token, self.clock(), ttl)

        mine = me == LeaseOwner.this_process()
        if mine:
            hold(token)  # before the commit, so no one here sees our lease as left behind
        try:
            await self.transaction(take, small=True)
        except BaseException:
            drop(token)
            raise
        return token

    async def renew_lease(self, session_id: str, token: str, ttl: float = LEASE_TTL_S) -> bool:
        """Extend our lease; False if it is no longer ours."""
        until = self.clock() + ttl

        def renew(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                "UPDATE leases SET expires_at = ? WHERE session_id = ? AND token = ?", (until, session_id, token)
            )
            return cursor.rowcount == 1

        return await self.transaction(renew, small=True)

    async def release_lease(self, session_id: str, token: str) -> None:
        """Give the session up."""

        def release(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM leases WHERE session_id = ? AND token = ?", (session_id, token))

        drop(token)
        await self.transaction(release, small=True)

    async def lease(self, session_id: str) -> Lease | None:
        """(pid, host, expires_at) of the current lease, if any."""
        row = await self._one("SELECT pid, host, expires_at FROM leases WHERE session_id = ?", (session_id,))
        return Lease(int(row[0]), str(row[1]), float(row[2])) if row else None

    async def runner_alive(self, session_id: str) -> bool:
        """Is a live runner holding this session?"""
        query = "SELECT pid, host, expires_at, token FROM leases WHERE session_id = ?"
        row = await self._one(query, (session_id,))
        if row is None:
            return False
        return holder_alive(Lease(int(row[0]), str(row[1]), float(row[2])), str(row[3]), self.clock())

    # --- waking on changes -----------------------------------------------------------------------

    async def wait_for_change(self, session_id: str | None, within: float, since: int | None = None) -> int:
        """Wait until another handle commits after change mark `since` (None: from now), or `within`
        seconds; returns the mark to pass next time. Polls `data_version`, so any session's commit wakes."""
        return await poll_for_change(self.data_version, within, since)


def _settings(conn: sqlite3.Connection) -> None:
    """WAL (readers beside the writer), commits safe against a killed process, waits for short locks."""
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
