"""The runner hosts' queue and registry in a memory store: the SQL stores' `work` and `hosts` rules
(`sessions.sqlite_work`) over plain dictionaries, for tests and embedding."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from baton.sessions.host_env import PIN_S
from baton.sessions.leases import LEASE_TTL_S, LeaseOwner, drop, hold, holder_alive, new_token, process_alive
from baton.sessions.records import Claim, HostRow, Lease, WorkRow
from baton.sessions.sqlite_work import requeueable


@dataclass
class WorkTables:
    """The queue and the hosts of one memory store."""

    work: dict[str, WorkRow] = field(default_factory=dict)
    hosts: dict[str, HostRow] = field(default_factory=dict)


class MemoryWork:
    """The queue's and registry's methods of `sessions.memory.MemoryStore`."""

    clock: Callable[[], float]
    data: Any
    """The store's `MemoryData`: `leases` (session → lease row), `commands`, `work_tables`, `committed()`."""

    def _lease_row(self, lease: Lease, token: str, acquired_at: float) -> Any:
        raise NotImplementedError

    @property
    def _tables(self) -> WorkTables:
        tables: WorkTables = self.data.work_tables
        return tables

    async def enqueue(
        self, session_id: str, options: str | None = None, models: str | None = None, env: str = ""
    ) -> bool:
        """Ask a runner host to run the session; False when it is already queued, or running on a live host."""
        now = self.clock()
        row = self._tables.work.get(session_id)
        if row is not None:
            held = self.data.leases.get(session_id)
            lease = (held.lease.pid, held.lease.host, held.lease.expires_at, held.token) if held else (None,) * 4
            if not requeueable((row.state, *lease), now):
                return False
        self._tables.work[session_id] = WorkRow(session_id, "queued", "", options, models, now, now, env)
        self.data.committed()
        return True

    async def claim(
        self,
        host_id: str,
        limit: int,
        ttl: float = LEASE_TTL_S,
        *,
        owner: LeaseOwner | None = None,
        env: str = "",
    ) -> list[Claim]:
        """Take up to `limit` queued sessions, and running ones whose runner died."""
        me = owner or LeaseOwner.this_process()
        now = self.clock()
        rows = sorted(
            (
                w
                for w in self._tables.work.values()
                if w.state == "running" or (w.state == "queued" and self._for_host(w, env, now))
            ),
            key=lambda w: (w.state != "queued", w.requested_at, w.session_id),
        )
        taken: list[Claim] = []
        for row in rows:
            if len(taken) >= limit:
                break
            held = self.data.leases.get(row.session_id)
            if held is not None and holder_alive(held.lease, held.token, now):
                continue
            token = new_token()
            if me == LeaseOwner.this_process():
                hold(token)
            self.data.leases[row.session_id] = self._lease_row(Lease(me.pid, me.host, now + ttl), token, now)
            running = dataclasses.replace(row, state="running", host_id=host_id, updated_at=now)
            self._tables.work[row.session_id] = running
            taken.append(Claim(row.session_id, token, row.options, row.models, taken_over=row.state == "running"))
        if taken:
            self.data.committed()
        return taken

    def _for_host(self, row: WorkRow, env: str, now: float) -> bool:
        if row.env in ("", env):
            return True
        served = any(h.env == row.env and h.expires_at > now for h in self._tables.hosts.values())
        return row.requested_at < now - PIN_S and not served

    async def settle_work(self, session_id: str, token: str, state: str | None) -> bool:
        """See `sessions.sqlite_work.SqliteWork.settle_work`."""
        drop(token)
        held = self.data.leases.get(session_id)
        if held is None or held.token != token:
            return False
        del self.data.leases[session_id]
        target = state
        if target == "parked" and any(
            c.session_id == session_id and c.status == "new" for c in self.data.commands.values()
        ):
            target = "queued"
        row = self._tables.work.get(session_id)
        if target is None or row is None:
            self._tables.work.pop(session_id, None)
        else:
            self._tables.work[session_id] = dataclasses.replace(row, state=target, host_id="", updated_at=self.clock())
        self.data.committed()
        return True

    async def renew_leases(self, held: dict[str, str], ttl: float = LEASE_TTL_S) -> set[str]:
        """Extend a host's leases (session → token); the sessions still its own."""
        until = self.clock() + ttl
        ours = set()
        for sid, token in held.items():
            row = self.data.leases.get(sid)
            if row is not None and row.token == token:
                row.lease = row.lease._replace(expires_at=until)
                ours.add(sid)
        if ours:
            self.data.committed()
        return ours

    async def unpark(self, session_id: str) -> bool:
        """Queue a parked session again; False when it was not parked."""
        row = self._tables.work.get(session_id)
        if row is None or row.state != "parked":
            return False
        self._tables.work[session_id] = dataclasses.replace(row, state="queued", updated_at=self.clock())
        self.data.committed()
        return True

    async def has_queued(self) -> bool:
        """Is any session waiting in the queue for a host?"""
        return any(w.state == "queued" for w in self._tables.work.values())

    async def work(self, session_id: str | None = None) -> list[WorkRow]:
        """The queue (one session's row, or all), oldest request first."""
        rows = sorted(self._tables.work.values(), key=lambda w: w.requested_at)
        return [w for w in rows if session_id is None or w.session_id == session_id]

    async def beat_host(self, host: HostRow) -> None:
        """Record (or renew) a live host's row."""
        self._tables.hosts[host.id] = host
        self.data.committed()

    async def drop_host(self, host_id: str) -> None:
        """A host is gone."""
        self._tables.hosts.pop(host_id, None)
        self.data.committed()

    async def hosts(self) -> list[HostRow]:
        """Live hosts, oldest first."""
        now = self.clock()
        rows = sorted(self._tables.hosts.values(), key=lambda h: h.started_at)
        return [h for h in rows if process_alive(h.pid, h.machine, h.expires_at, now)]
