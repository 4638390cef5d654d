"""The runner hosts' queue and registry in a SQLite store: `work` rows (a session to run, running on a host,
or parked) and `hosts` rows (live hosts renewing theirs).

Every change is one `BEGIN IMMEDIATE` transaction, which serialises the hosts of one file: a claim reads the
queue, takes each session's lease and marks it running before any other host can look.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from baton.sessions.errors import SessionInUse
from baton.sessions.host_env import PIN_S
from baton.sessions.leases import LEASE_TTL_S, LeaseOwner, drop, hold, holder_alive, new_token, process_alive
from baton.sessions.records import Claim, HostRow, Lease, WorkRow
from baton.sessions.sqlite import StorePart

T = TypeVar("T")

WORK_COLUMNS = "session_id, state, host_id, options, models, requested_at, updated_at, env"
HOST_COLUMNS = (
    "id, pid, machine, started_at, seen_at, expires_at, sessions, parked, rss_bytes, cpu_s, load, calls, limits,"
    " draining, env"
)
ENQUEUE = (
    "INSERT INTO work (session_id, state, host_id, options, models, requested_at, updated_at, env)"
    " VALUES (?, 'queued', '', ?, ?, ?, ?, ?) ON CONFLICT(session_id) DO UPDATE SET state = 'queued',"
    " host_id = '', options = excluded.options, models = excluded.models, requested_at = excluded.requested_at,"
    " updated_at = excluded.updated_at, env = excluded.env"
)
CANDIDATES = (
    "SELECT w.session_id, w.state, w.options, w.models, l.pid, l.host, l.expires_at, l.token FROM work w"
    " LEFT JOIN leases l ON l.session_id = w.session_id WHERE w.state = 'running' OR (w.state = 'queued'"
    " AND (w.env IN ('', ?) OR (w.requested_at < ? AND NOT EXISTS"
    " (SELECT 1 FROM hosts h WHERE h.env = w.env AND h.expires_at > ?))))"
    " ORDER BY w.state <> 'queued', w.requested_at, w.session_id LIMIT ?"
)
UPSERT_LEASE = (
    "INSERT INTO leases (session_id, pid, host, token, acquired_at, expires_at) VALUES (?,?,?,?,?,?)"
    " ON CONFLICT(session_id) DO UPDATE SET pid=excluded.pid, host=excluded.host, token=excluded.token,"
    " acquired_at=excluded.acquired_at, expires_at=excluded.expires_at"
)
UPSERT_HOST = (
    f"INSERT INTO hosts ({HOST_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET"
    " seen_at=excluded.seen_at, expires_at=excluded.expires_at, sessions=excluded.sessions,"
    " parked=excluded.parked, rss_bytes=excluded.rss_bytes, cpu_s=excluded.cpu_s, load=excluded.load,"
    " calls=excluded.calls, limits=excluded.limits, draining=excluded.draining, env=excluded.env"
)
CLAIM_SCAN = 1000
"""A claim looks at up to this many rows, queued ones first (running ones are taken only from a dead host)."""


def take_lease(conn: sqlite3.Connection, session_id: str, me: LeaseOwner, token: str, now: float, ttl: float) -> None:
    """Write `me`'s lease on the session, or raise `SessionInUse` naming the live holder."""
    row = conn.execute("SELECT pid, host, expires_at, token FROM leases WHERE session_id = ?", (session_id,)).fetchone()
    if row is not None:
        held = Lease(int(row[0]), str(row[1]), float(row[2]))
        if holder_alive(held, str(row[3]), now):
            raise SessionInUse(session_id, held.pid, held.host)
    conn.execute(UPSERT_LEASE, (session_id, me.pid, me.host, token, now, now + ttl))


def requeueable(row: Sequence[Any], now: float) -> bool:
    """May a session whose queue row is (state, lease pid, host, expires_at, token) be queued again? Not
    while it waits for a host, nor while a live one runs it."""
    state = row[0]
    if state == "queued":
        return False
    if state == "running" and row[1] is not None:
        return not holder_alive(Lease(int(row[1]), str(row[2]), float(row[3])), row[4], now)
    return True


def work_row(row: Sequence[Any]) -> WorkRow:
    """A `work` row read back."""
    return WorkRow(str(row[0]), str(row[1]), str(row[2]), row[3], row[4], float(row[5]), float(row[6]), str(row[7]))


def host_row(row: Sequence[Any]) -> HostRow:
    """A `hosts` row read back."""
    return HostRow(
        str(row[0]),
        int(row[1]),
        str(row[2]),
        float(row[3]),
        float(row[4]),
        float(row[5]),
        int(row[6]),
        int(row[7]),
        int(row[8]),
        float(row[9]),
        float(row[10]),
        int(row[11]),
        str(row[12]),
        int(row[13]),
        str(row[14]),
    )


class SqliteWork(StorePart):
    """The queue's and registry's methods of `sessions.store.Store` (which provides what is declared here)."""

    clock: Callable[[], float]

    async def enqueue(
        self, session_id: str, options: str | None = None, models: str | None = None, env: str = ""
    ) -> bool:
        """Ask a runner host to run the session (`options`/`models`: JSON overrides, as `RunOptions`; `env`:
        the fingerprint of the environment it should run in). False when it is already queued, or running
        on a live host."""

        def put(conn: sqlite3.Connection) -> bool:
            now = self.clock()
            row = conn.execute(
                "SELECT w.state, l.pid, l.host, l.expires_at, l.token FROM work w LEFT JOIN leases l"
                " ON l.session_id = w.session_id WHERE w.session_id = ?",
                (session_id,),
            ).fetchone()
            if row is not None and not requeueable(row, now):
                return False
            conn.execute(ENQUEUE, (session_id, options, models, now, now, env))
            return True

        return await self.transaction(put, small=True)

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
        comes with its lease held. A queued session is for a host with its environment (`env`) while one
        is alive, and for any host once none has been for `PIN_S` seconds."""
        me = owner or LeaseOwner.this_process()
        mine = me == LeaseOwner.this_process()
        taken: list[Claim] = []

        def take(conn: sqlite3.Connection) -> None:
            now = self.clock()
            for row in conn.execute(CANDIDATES, (env, now - PIN_S, now, CLAIM_SCAN)).fetchall():
                if len(taken) >= limit:
                    break
                sid, state = str(row[0]), str(row[1])
                if row[4] is not None and holder_alive(Lease(int(row[4]), str(row[5]), float(row[6])), row[7], now):
                    continue
                token = new_token()
                if mine:
                    hold(token)
                conn.execute(UPSERT_LEASE, (sid, me.pid, me.host, token, now, now + ttl))
                conn.execute(
                    "UPDATE work SET state = 'running', host_id = ?, updated_at = ? WHERE session_id = ?",
                    (host_id, now, sid),
                )
                taken.append(Claim(sid, token, row[2], row[3], taken_over=state == "running"))

        try:
            await self.transaction(take)
        except BaseException:
            for claim in taken:
                drop(claim.token)
            raise
        return taken

    async def settle_work(self, session_id: str, token: str, state: str | None) -> bool:
        """A host is done with the session it holds with `token`: release the lease and set its queue row to
        `state` (`parked`, `queued`), or drop the row (None). With `parked`, a command already waiting for
        the session queues it again instead. Returns False when the lease was no longer the host's (the row
        is then left to its new holder)."""

        def settle_row(conn: sqlite3.Connection) -> bool:
            held = conn.execute("DELETE FROM leases WHERE session_id = ? AND token = ?", (session_id, token))
            if held.rowcount != 1:
                return False
            target = state
            if target == "parked" and conn.execute(
                "SELECT 1 FROM commands WHERE session_id = ? AND status = 'new' LIMIT 1", (session_id,)
            ).fetchone():
                target = "queued"
            if target is None:
                conn.execute("DELETE FROM work WHERE session_id = ?", (session_id,))
            else:
                conn.execute(
                    "UPDATE work SET state = ?, host_id = '', updated_at = ? WHERE session_id = ?",
                    (target, self.clock(), session_id),
                )
            return True

        try:
            return await self.transaction(settle_row, small=True)
        finally:
            drop(token)

    async def renew_leases(self, held: dict[str, str], ttl: float = LEASE_TTL_S) -> set[str]:
        """Extend a host's leases (session → token) in one transaction; the sessions still its own."""
        until = self.clock() + ttl

        def renew(conn: sqlite3.Connection) -> set[str]:
            ours = set()
            for sid, token in held.items():
                cursor = conn.execute(
                    "UPDATE leases SET expires_at = ? WHERE session_id = ? AND token = ?", (until, sid, token)
                )
                if cursor.rowcount == 1:
                    ours.add(sid)
            return ours

        return await self.transaction(renew, small=True) if held else set()

    async def unpark(self, session_id: str) -> bool:
        """Queue a parked session again (its decision arrived); False when it was not parked."""

        def wake(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                "UPDATE work SET state = 'queued', updated_at = ? WHERE session_id = ? AND state = 'parked'",
                (self.clock(), session_id),
            )
            return cursor.rowcount == 1

        return await self.transaction(wake, small=True)

    async def has_queued(self) -> bool:
        """Is any session waiting in the queue for a host? (One index probe, not the whole queue.)"""
        return bool(await self._all("SELECT 1 FROM work WHERE state = 'queued' LIMIT 1", small=True))

    async def work(self, session_id: str | None = None) -> list[WorkRow]:
        """The queue (one session's row, or all), oldest request first."""
        if session_id is None:
            rows = await self._all(f"SELECT {WORK_COLUMNS} FROM work ORDER BY requested_at")
        else:
            rows = await self._all(f"SELECT {WORK_COLUMNS} FROM work WHERE session_id = ?", (session_id,), small=True)
        return [work_row(r) for r in rows]

    async def beat_host(self, host: HostRow) -> None:
        """Record (or renew) a live host's row."""
        await self.transaction(lambda conn: conn.execute(UPSERT_HOST, host.values()), small=True)

    async def drop_host(self, host_id: str) -> None:
        """A host is gone."""
        await self.transaction(lambda conn: conn.execute("DELETE FROM hosts WHERE id = ?", (host_id,)), small=True)

    async def hosts(self) -> list[HostRow]:
        """Hosts whose rows were renewed in time, oldest first."""
        rows = await self._all(f"SELECT {HOST_COLUMNS} FROM hosts ORDER BY started_at")
        now = self.clock()
        return [h for h in map(host_row, rows) if process_alive(h.pid, h.machine, h.expires_at, now)]
