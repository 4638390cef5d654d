"""The session store on a PostgreSQL server: the same tables, rows and rules as the SQLite store, shared
by every process and machine that can reach the server (`BATON_DB=postgresql://…`).

psycopg 3 in its asyncio form, over a small connection pool: each write is one transaction in pipeline
mode (BEGIN, its statements, the commit counter and the notification sent without waiting for each
answer), so an append costs about one round trip to the server plus the commit. A batch that
collides with stored sequence numbers fails on the primary key (`SequenceConflict`), exactly as in
SQLite, whatever machine the other writer is on. Leases are read and written under a per-session
advisory lock, so two takers cannot both see a session free. Every write transaction advances the
`baton_commits` sequence (`data_version`) and notifies `baton_changes` with its session id, so a
listener can wake instead of polling.

The DSN's password is used to connect and nowhere else: `location` and every error show the DSN
redacted (`sessions.pg_dsn`).
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import fields
from typing import Any, TypeVar

import psycopg
from psycopg import AsyncConnection, errors
from psycopg_pool import AsyncConnectionPool

from baton.core import events as ev
from baton.core.commands import Command
from baton.core.secrets import Redactor, default_redactor
from baton.core.view import SessionView
from baton.sessions import pg_projection, pg_schema
from baton.sessions import sqlite_projection as sql
from baton.sessions.errors import SequenceConflict, SessionInUse, StoreError, StoreUnusable
from baton.sessions.leases import LEASE_TTL_S, LeaseOwner, drop, hold, holder_alive
from baton.sessions.pg_dsn import guard, scrub, shown_dsn
from baton.sessions.pg_lessons import PgLessons
from baton.sessions.pg_listen import Listener
from baton.sessions.pg_work import PgWork
from baton.sessions.records import CallRow, CheckpointRow, Delta, Lease, ProjectionUpdate, SessionRow, StepRow
from baton.sessions.text import is_text, shown

__all__ = ["PgStore"]

T = TypeVar("T")
Conn = AsyncConnection[tuple[Any, ...]]
CONNECT_TIMEOUT_S = 10
POOL_SIZE = 4
_SESSION_COLUMNS = ", ".join(f.name for f in fields(SessionRow))
_SESSION_TABLES = ("events", "steps", "state", "llm_calls", "checkpoints", "commands", "deltas", "leases", "work")
_LEASE = "SELECT pid, host, expires_at, token FROM leases WHERE session_id = %s"


class PgStore(PgWork, PgLessons):
    """A `SessionStore` on PostgreSQL. Use `async with await PgStore.open(dsn) as store:` or
    `await store.close()`."""

    def __init__(
        self, pool: AsyncConnectionPool[Conn], dsn: str, redactor: Redactor, clock: Callable[[], float] = time.time
    ) -> None:
        self.pool = pool
        self._dsn = dsn
        self.redact = redactor
        self.clock = clock

    # --- opening ---------------------------------------------------------------------------------

    @classmethod
    async def open(
        cls,
        dsn: str,
        redactor: Redactor | None = None,
        *,
        clock: Callable[[], float] = time.time,
        connections: int | None = None,
    ) -> PgStore:
        """Connect to the server at `dsn` and migrate its schema forward; `StoreUnusable` (with the DSN
        redacted) when the server cannot be reached or the database was written by a newer baton."""
        try:
            conn = await psycopg.AsyncConnection.connect(dsn, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S)
        except psycopg.Error as exc:
            raise StoreUnusable(f"{shown_dsn(dsn)}: cannot connect ({scrub(_first_line(exc), dsn)})") from None
        try:
            await _migrate(conn, dsn)
        except psycopg.Error as exc:
            reason = scrub(_first_line(exc), dsn)
            raise StoreUnusable(f"{shown_dsn(dsn)}: cannot set up the schema ({reason})") from None
        finally:
            await conn.close()
        pool: AsyncConnectionPool[Conn] = AsyncConnectionPool(
            dsn,
            min_size=1,
            max_size=connections or POOL_SIZE,
            kwargs={"autocommit": True, "connect_timeout": CONNECT_TIMEOUT_S},
            open=False,
            name="baton",
        )
        await pool.open(wait=True, timeout=CONNECT_TIMEOUT_S)
        return cls(pool, dsn, guard(redactor or default_redactor(), dsn), clock)

    @property
    def location(self) -> str:
        """The server's DSN with its password hidden."""
        return shown_dsn(self._dsn)

    async def close(self) -> None:
        """Close the pool (transactions in flight finish first)."""
        await self._stop_listening()
        await self.pool.close()

    async def __aenter__(self) -> PgStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- transactions and reads ------------------------------------------------------------------

    async def transaction(self, work: Callable[[Conn], Awaitable[T]], session_id: str = "") -> T:
        """Run `work(connection)` as one transaction that also advances `data_version` and notifies
        listeners of `session_id`; database errors come back as `StoreError` with the DSN redacted
        (a unique violation passes through for the caller to name)."""
        try:
            async with self.pool.connection() as conn, conn.pipeline(), conn.transaction():
                result = await work(conn)
                await conn.execute(
                    "SELECT nextval('baton_commits'), pg_notify(%s, %s)", (pg_schema.CHANNEL, session_id)
                )
                return result
        except (errors.UniqueViolation, StoreError):
            raise
        except psycopg.Error as exc:
            raise StoreError(f"{self.location}: {scrub(_first_line(exc), self._dsn)}") from None

    async def _all(self, query: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            async with self.pool.connection() as conn:
                cursor = await conn.execute(query, params)
                return await cursor.fetchall()
        except psycopg.Error as exc:
            raise StoreError(f"{self.location}: {scrub(_first_line(exc), self._dsn)}") from None

    async def _one(self, query: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        rows = await self._all(query, params)
        return rows[0] if rows else None

    async def data_version(self) -> int:
        """The count of write transactions committed by every handle (a sequence the writes advance)."""
        row = await self._one("SELECT last_value + CASE WHEN is_called THEN 1 ELSE 0 END FROM baton_commits")
        return int(row[0]) if row else 0

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

        async def insert(conn: Conn) -> None:
            await conn.execute(
                "INSERT INTO sessions (id, workflow, workflow_path, workflow_hash, workflow_text, inputs, options,"
                " parent, fork_step, status, created_at, updated_at)"
                " VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,'new',%s,%s)",
                row,
            )

        await self.transaction(insert, session_id)
        return session_id

    async def session(self, session_id: str) -> SessionRow:
        """One session's row."""
        row = await self._one(f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE id = %s", (session_id,))
        if row is None:
            raise StoreError(f"no session '{session_id}'")
        return SessionRow(*row)

    async def sessions(self, limit: int = 500) -> list[SessionRow]:
        """Sessions, newest first."""
        query = f"SELECT {_SESSION_COLUMNS} FROM sessions ORDER BY created_at DESC, id LIMIT %s"
        return [SessionRow(*row) for row in await self._all(query, (limit,))]

    async def resolve(self, prefix: str) -> str:
        """A full session id from a unique prefix."""
        if not is_text(prefix) or "\x00" in prefix:
            raise StoreError(f"no session {shown(prefix)} in {self.location}")
        rows = await self._all("SELECT id FROM sessions WHERE starts_with(id, %s) ORDER BY id LIMIT 5", (prefix,))
        if not rows:
            raise StoreError(f"no session '{prefix}' in {self.location}")
        if len(rows) > 1 and rows[0][0] != prefix:
            ids = ", ".join(r[0] for r in rows)
            raise StoreError(f"'{prefix}' is ambiguous: {ids}")
        return str(rows[0][0])

    async def delete_session(self, session_id: str) -> None:
        """Remove a session and everything recorded for it."""

        async def delete(conn: Conn) -> None:
            async with conn.cursor() as cur:
                for table in _SESSION_TABLES:
                    await cur.execute(f"DELETE FROM {table} WHERE session_id = %s", (session_id,))
                await cur.execute("DELETE FROM sessions WHERE id = %s", (session_id,))

        await self.transaction(delete, session_id)

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
        commands they answer as done, and add pending live text first. Returns the committed envelopes."""
        now = self.clock()
        rows = [(session_id, first_seq + i, now, e.kind, e.step, self.encode(e)) for i, e in enumerate(events)]
        done = [(now, cid) for cid in command_ids if cid]
        text = [(session_id, s, c, self.redact(t)) for s, c, t in deltas]

        async def insert(conn: Conn) -> None:
            async with conn.cursor() as cur:
                if text:
                    await cur.executemany(
                        "INSERT INTO deltas (session_id, step, call_id, text) VALUES (%s,%s,%s,%s)", text
                    )
                if rows:
                    await cur.executemany(
                        "INSERT INTO events (session_id, seq, ts, kind, step, payload) VALUES (%s,%s,%s,%s,%s,%s)",
                        rows,
                    )
                if done:
                    await cur.executemany("UPDATE commands SET status = 'done', done_at = %s WHERE id = %s", done)

        try:
            await self.transaction(insert, session_id)
        except errors.UniqueViolation:
            raise SequenceConflict(
                f"session {session_id}: events from sequence number {first_seq} are already stored (another"
                " runner wrote them); nothing of this batch was kept"
            ) from None
        return [ev.Envelope(session_id, first_seq + i, now, e) for i, e in enumerate(events)]

    async def last_seq(self, session_id: str) -> int:
        """Highest sequence number of a session (0 when it has none)."""
        row = await self._one("SELECT COALESCE(MAX(seq), 0) FROM events WHERE session_id = %s", (session_id,))
        return int(row[0]) if row else 0

    async def events(
        self, session_id: str, after: int = 0, limit: int = -1, *, small: bool = False
    ) -> list[ev.Envelope]:
        """Persisted events after `after`, in order."""
        rows = await self._all(
            "SELECT seq, ts, kind, step, payload FROM events WHERE session_id = %s AND seq > %s ORDER BY seq LIMIT %s",
            (session_id, after, None if limit < 0 else limit),
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
        await self.transaction(lambda conn: pg_projection.write(conn, update), update.session_id)

    async def steps(self, session_id: str) -> list[StepRow]:
        """The session's projected steps, by path."""
        return [StepRow(*r) for r in await self._all(pg_projection.query(sql.STEPS_SQL), (session_id,))]

    async def state(self, session_id: str) -> dict[str, str]:
        """The session's projected state: key → JSON text."""
        return {str(k): str(v) for k, v in await self._all(pg_projection.query(sql.STATE_SQL), (session_id,))}

    async def calls(self, session_id: str) -> list[CallRow]:
        """The session's recorded model calls, by call id."""
        return [CallRow(*r) for r in await self._all(pg_projection.query(sql.CALLS_SQL), (session_id,))]

    async def checkpoints(self, session_id: str | None = None, *, open_only: bool = False) -> list[CheckpointRow]:
        """Checkpoints of one session (or of every session), oldest first."""
        query = pg_projection.query(sql.checkpoints_sql(session_id is not None, open_only))
        rows = await self._all(query, (session_id,) if session_id is not None else ())
        return [CheckpointRow(*r) for r in rows]

    # --- commands --------------------------------------------------------------------------------

    async def send(self, session_id: str, command: Command) -> int:
        """Queue a command for the session's runner; returns its id."""
        body = self.redact(json.dumps(command.to_json(), ensure_ascii=False, default=str))
        row = (session_id, self.clock(), body)

        async def insert(conn: Conn) -> int:
            query = "INSERT INTO commands (session_id, ts, body) VALUES (%s,%s,%s) RETURNING id"
            cursor = await conn.execute(query, row)
            found = await cursor.fetchone()
            return int(found[0]) if found else 0

        return await self.transaction(insert, session_id)

    async def pending_commands(self, session_id: str, after_id: int = 0) -> list[Command]:
        """Commands not yet acted on, oldest first."""
        rows = await self._all(
            "SELECT id, body FROM commands WHERE session_id = %s AND status = 'new' AND id > %s ORDER BY id",
            (session_id, after_id),
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

        async def update(conn: Conn) -> None:
            await conn.execute("UPDATE commands SET status = 'rejected', reason = %s, done_at = %s WHERE id = %s", row)

        await self.transaction(update)

    async def command_status(self, command_id: int) -> tuple[str, str]:
        """(new | done | rejected | missing, reason)."""
        row = await self._one("SELECT status, reason FROM commands WHERE id = %s", (command_id,))
        return (str(row[0]), str(row[1])) if row else ("missing", "")

    # --- live text -------------------------------------------------------------------------------

    async def deltas(self, session_id: str, after_id: int = 0) -> list[Delta]:
        """Live text rows after `after_id`."""
        rows = await self._all(
            "SELECT id, step, call_id, text FROM deltas WHERE session_id = %s AND id > %s ORDER BY id",
            (session_id, after_id),
        )
        return [Delta(int(i), s, c, t) for i, s, c, t in rows]

    async def last_delta_id(self, session_id: str) -> int:
        """Highest live-text row id of a session."""
        row = await self._one("SELECT COALESCE(MAX(id), 0) FROM deltas WHERE session_id = %s", (session_id,))
        return int(row[0]) if row else 0

    # --- leases ----------------------------------------------------------------------------------

    async def acquire_lease(self, session_id: str, ttl: float = LEASE_TTL_S, *, owner: LeaseOwner | None = None) -> str:
        """Become the session's only runner, or raise `SessionInUse`. A lease whose runner died (same
        host, pid gone) or expired (another host) is taken over."""
        me = owner or LeaseOwner.this_process()
        token = secrets.token_hex(8)

        async def take(conn: Conn) -> None:
            await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", ("lease:" + session_id,))
            now = self.clock()
            row = await (await conn.execute(_LEASE, (session_id,))).fetchone()
            if row is not None:
                held = Lease(int(row[0]), str(row[1]), float(row[2]))
                if holder_alive(held, str(row[3]), now):
                    raise SessionInUse(session_id, held.pid, held.host)
            await conn.execute(
                "INSERT INTO leases (session_id, pid, host, token, acquired_at, expires_at)"
                " VALUES (%s,%s,%s,%s,%s,%s) ON CONFLICT (session_id) DO UPDATE SET pid=EXCLUDED.pid,"
                " host=EXCLUDED.host, token=EXCLUDED.token, acquired_at=EXCLUDED.acquired_at,"
                " expires_at=EXCLUDED.expires_at",
                (session_id, me.pid, me.host, token, now, now + ttl),
            )

        if me == LeaseOwner.this_process():
            hold(token)  # before the commit, so no one here sees our lease as left behind
        try:
            await self.transaction(take, session_id)
        except BaseException:
            drop(token)
            raise
        return token

    async def renew_lease(self, session_id: str, token: str, ttl: float = LEASE_TTL_S) -> bool:
        """Extend our lease; False if it is no longer ours."""
        until = self.clock() + ttl

        async def renew(conn: Conn) -> bool:
            cursor = await conn.execute(
                "UPDATE leases SET expires_at = %s WHERE session_id = %s AND token = %s RETURNING 1",
                (until, session_id, token),
            )
            return await cursor.fetchone() is not None  # a result read: pipeline mode has no rowcount before

        return await self.transaction(renew, session_id)

    async def release_lease(self, session_id: str, token: str) -> None:
        """Give the session up."""

        async def release(conn: Conn) -> None:
            await conn.execute("DELETE FROM leases WHERE session_id = %s AND token = %s", (session_id, token))

        drop(token)
        await self.transaction(release, session_id)

    async def lease(self, session_id: str) -> Lease | None:
        """(pid, host, expires_at) of the current lease, if any."""
        row = await self._one("SELECT pid, host, expires_at FROM leases WHERE session_id = %s", (session_id,))
        return Lease(int(row[0]), str(row[1]), float(row[2])) if row else None

    async def runner_alive(self, session_id: str) -> bool:
        """Is a live runner holding this session?"""
        row = await self._one(_LEASE, (session_id,))
        if row is None:
            return False
        return holder_alive(Lease(int(row[0]), str(row[1]), float(row[2])), str(row[3]), self.clock())

    # --- waking on changes -----------------------------------------------------------------------

    _listener: Listener | None = None

    async def wait_for_change(self, session_id: str | None, within: float, since: int | None = None) -> int:
        """Wait for a commit touching `session_id` (None: any session) after change mark `since` (None:
        from now), or `within` seconds; returns the mark to pass next time. Told by `LISTEN`, started on
        first use (`sessions.pg_listen`)."""
        if self._listener is None:
            self._listener = Listener(self._dsn)
        return await self._listener.wait(session_id, within, since)

    async def _stop_listening(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            await listener.stop()

    @property
    def dsn(self) -> str:
        """The DSN this store connects with, password included: for starting processes on the same
        server (runners, viewers' launchers), never for showing (`location` is for that)."""
        return self._dsn


async def _migrate(conn: Conn, dsn: str) -> None:
    """Create the version table and apply each missing migration in one transaction, under an advisory
    lock so processes opening one new database at once apply each migration once."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (pg_schema.MIGRATION_LOCK,))
        await conn.execute(pg_schema.VERSION_TABLE)
        row = await (await conn.execute("SELECT max(version) FROM baton_schema")).fetchone()
        version = int(row[0]) if row and row[0] is not None else 0
        if version > pg_schema.LATEST:
            raise StoreUnusable(
                f"{shown_dsn(dsn)}: written by a newer baton (schema {version}; this one knows {pg_schema.LATEST})"
            )
        for number, statements in pg_schema.MIGRATIONS:
            if number <= version:
                continue
            for statement in statements:
                await conn.execute(statement.encode())
            await conn.execute("DELETE FROM baton_schema")
            await conn.execute("INSERT INTO baton_schema (version) VALUES (%s)", (number,))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
