"""The runner hosts' queue and registry in a PostgreSQL store: the SQLite store's `work` and `hosts` rules
(`sessions.sqlite_work`), for many hosts on many machines at once.

A claim locks the queue rows it takes with `FOR UPDATE SKIP LOCKED` (as many queued ones as it has room for,
then running ones whose host may be dead), so hosts claiming at the same moment each get different sessions
and never wait for one another; each session's lease is then taken under the
same per-session advisory lock every lease change uses (one a concurrent taker holds is skipped, not waited
for). Every change notifies `baton_changes`, which wakes the hosts listening.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from psycopg import AsyncConnection

from baton.sessions import sqlite_work
from baton.sessions.host_env import PIN_S
from baton.sessions.leases import LEASE_TTL_S, LeaseOwner, drop, hold, holder_alive, new_token, process_alive
from baton.sessions.records import Claim, HostRow, Lease, WorkRow
from baton.sessions.sqlite_work import CLAIM_SCAN, HOST_COLUMNS, WORK_COLUMNS, host_row, requeueable, work_row

T = TypeVar("T")
Conn = AsyncConnection[tuple[Any, ...]]


def _pg(sql: str) -> str:
    """SQLite's statement in PostgreSQL's placeholders (the two share the rest of the text)."""
    return sql.replace("?", "%s")


ENQUEUE = _pg(sqlite_work.ENQUEUE)
QUEUED = (
    "SELECT session_id, state, options, models FROM work WHERE state = 'queued'"
    " AND (env IN ('', %s) OR (requested_at < %s AND NOT EXISTS"
    " (SELECT 1 FROM hosts h WHERE h.env = work.env AND h.expires_at > %s)))"
    " ORDER BY requested_at, session_id LIMIT %s FOR UPDATE SKIP LOCKED"
)
ORPHANED = (
    "SELECT w.session_id, w.state, w.options, w.models FROM work w LEFT JOIN leases l ON l.session_id = w.session_id"
    " WHERE w.state = 'running' AND (l.session_id IS NULL OR l.expires_at < %s OR l.host = %s)"
    " ORDER BY w.requested_at, w.session_id LIMIT %s FOR UPDATE OF w SKIP LOCKED"
)
"""Running sessions whose host may be dead: no lease, a lapsed one, or one on this machine (its pid is checked)."""
UPSERT_LEASE = _pg(sqlite_work.UPSERT_LEASE)
LEASE = "SELECT pid, host, expires_at, token FROM leases WHERE session_id = %s"
UPSERT_HOST = _pg(sqlite_work.UPSERT_HOST)


class PgWork:
    """The queue's and registry's methods of `sessions.pg_store.PgStore` (which provides what is declared here)."""

    clock: Callable[[], float]

    async def transaction(self, work: Callable[[Conn], Awaitable[T]], session_id: str = "") -> T:
        raise NotImplementedError

    async def _all(self, query: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    async def enqueue(
        self, session_id: str, options: str | None = None, models: str | None = None, env: str = ""
    ) -> bool:
        """See `sessions.sqlite_work.SqliteWork.enqueue`."""
        now = self.clock()

        async def put(conn: Conn) -> bool:
            await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", ("lease:" + session_id,))
            row = await (
                await conn.execute(
                    "SELECT w.state, l.pid, l.host, l.expires_at, l.token FROM work w LEFT JOIN leases l"
                    " ON l.session_id = w.session_id WHERE w.session_id = %s",
                    (session_id,),
                )
            ).fetchone()
            if row is not None and not requeueable(row, self.clock()):
                return False
            await conn.execute(ENQUEUE, (session_id, options, models, now, now, env))
            return True

        return await self.transaction(put, session_id)

    async def claim(
        self,
        host_id: str,
        limit: int,
        ttl: float = LEASE_TTL_S,
        *,
        owner: LeaseOwner | None = None,
        env: str = "",
    ) -> list[Claim]:
        """Take up to `limit` queued sessions, and running ones whose runner died, for host `host_id`: each
        comes with its lease held."""
        me = owner or LeaseOwner.this_process()
        mine = me == LeaseOwner.this_process()
        taken: list[Claim] = []

        async def take(conn: Conn) -> None:
            now = self.clock()
            rows = await (await conn.execute(QUEUED, (env, now - PIN_S, now, limit))).fetchall()
            if len(rows) < limit:
                rows += await (await conn.execute(ORPHANED, (now, me.host, CLAIM_SCAN))).fetchall()
            for sid, state, options, models in rows:
                if len(taken) >= limit:
                    break
                locked = await (
                    await conn.execute("SELECT pg_try_advisory_xact_lock(hashtextextended(%s, 0))", ("lease:" + sid,))
                ).fetchone()
                if not (locked and locked[0]):
                    continue
                held = await (await conn.execute(LEASE, (sid,))).fetchone()
                if held is not None and holder_alive(Lease(int(held[0]), str(held[1]), float(held[2])), held[3], now):
                    continue
                token = new_token()
                if mine:
                    hold(token)
                await conn.execute(UPSERT_LEASE, (sid, me.pid, me.host, token, now, now + ttl))
                await conn.execute(
                    "UPDATE work SET state = 'running', host_id = %s, updated_at = %s WHERE session_id = %s",
                    (host_id, now, sid),
                )
                taken.append(Claim(sid, token, options, models, taken_over=state == "running"))

        try:
            await self.transaction(take)
        except BaseException:
            for claim in taken:
                drop(claim.token)
            raise
        return taken

    async def settle_work(self, session_id: str, token: str, state: str | None) -> bool:
        """See `sessions.sqlite_work.SqliteWork.settle_work`."""
        now = self.clock()

        async def settle_row(conn: Conn) -> bool:
            # the lease's own lock first, as every lease change takes it: a host claiming at this moment
            # skips the session instead of waiting on its rows in the opposite order
            await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", ("lease:" + session_id,))
            held = await conn.execute(
                "DELETE FROM leases WHERE session_id = %s AND token = %s RETURNING 1", (session_id, token)
            )
            if await held.fetchone() is None:  # results, not rowcount: transactions run in pipeline mode
                return False
            target = state
            if target == "parked":
                waiting = await (
                    await conn.execute(
                        "SELECT 1 FROM commands WHERE session_id = %s AND status = 'new' LIMIT 1", (session_id,)
                    )
                ).fetchone()
                if waiting:
                    target = "queued"
            if target is None:
                await conn.execute("DELETE FROM work WHERE session_id = %s", (session_id,))
            else:
                await conn.execute(
                    "UPDATE work SET state = %s, host_id = '', updated_at = %s WHERE session_id = %s",
                    (target, now, session_id),
                )
            return True

        try:
            return await self.transaction(settle_row, session_id)
        finally:
            drop(token)

    async def renew_leases(self, held: dict[str, str], ttl: float = LEASE_TTL_S) -> set[str]:
        """Extend a host's leases (session → token) in one statement; the sessions still its own."""
        if not held:
            return set()
        until = self.clock() + ttl
        sids, tokens = list(held), [held[s] for s in held]

        async def renew(conn: Conn) -> set[str]:
            cursor = await conn.execute(
                "UPDATE leases SET expires_at = %s FROM unnest(%s::text[], %s::text[]) AS mine(sid, token)"
                " WHERE leases.session_id = mine.sid AND leases.token = mine.token RETURNING leases.session_id",
                (until, sids, tokens),
            )
            return {str(row[0]) for row in await cursor.fetchall()}

        return await self.transaction(renew)

    async def unpark(self, session_id: str) -> bool:
        """Queue a parked session again (its decision arrived); False when it was not parked."""
        now = self.clock()

        async def wake(conn: Conn) -> bool:
            cursor = await conn.execute(
                "UPDATE work SET state = 'queued', updated_at = %s WHERE session_id = %s AND state = 'parked'"
                " RETURNING 1",
                (now, session_id),
            )
            return await cursor.fetchone() is not None

        return await self.transaction(wake, session_id)

    async def has_queued(self) -> bool:
        """Is any session waiting in the queue for a host? (One index probe, not the whole queue.)"""
        return bool(await self._all("SELECT 1 FROM work WHERE state = 'queued' LIMIT 1"))

    async def work(self, session_id: str | None = None) -> list[WorkRow]:
        """The queue (one session's row, or all), oldest request first."""
        if session_id is None:
            rows = await self._all(f"SELECT {WORK_COLUMNS} FROM work ORDER BY requested_at")
        else:
            rows = await self._all(f"SELECT {WORK_COLUMNS} FROM work WHERE session_id = %s", (session_id,))
        return [work_row(r) for r in rows]

    async def beat_host(self, host: HostRow) -> None:
        """Record (or renew) a live host's row."""

        async def put(conn: Conn) -> None:
            await conn.execute(UPSERT_HOST, host.values())

        await self.transaction(put)

    async def drop_host(self, host_id: str) -> None:
        """A host is gone."""

        async def delete(conn: Conn) -> None:
            await conn.execute("DELETE FROM hosts WHERE id = %s", (host_id,))

        await self.transaction(delete)

    async def hosts(self) -> list[HostRow]:
        """Hosts whose rows were renewed in time (or, on this machine, whose process runs), oldest first."""
        rows = await self._all(f"SELECT {HOST_COLUMNS} FROM hosts ORDER BY started_at")
        now = self.clock()
        return [h for h in map(host_row, rows) if process_alive(h.pid, h.machine, h.expires_at, now)]
