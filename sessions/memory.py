"""A session store held in memory: the same interface and behaviour as the SQLite store, for tests and
embedding, with no file and no thread.

Rows are kept as a SQL store keeps them (payloads and values as redacted JSON text) and decoded on
read, so what a reader gets back is exactly what it would get from a file. Two `MemoryStore` handles
over one `MemoryData` behave like two connections to one file (a runner and a viewer). Every method
completes without awaiting anything in between, so each is one transaction.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from baton.core import events as ev
from baton.core.commands import Command
from baton.core.learn.lessons import LessonEdit
from baton.core.secrets import Redactor, default_redactor
from baton.core.view import SessionView
from baton.sessions.changes import poll_for_change
from baton.sessions.errors import SequenceConflict, SessionInUse, StoreError
from baton.sessions.leases import LEASE_TTL_S, LeaseOwner, drop, hold, holder_alive
from baton.sessions.memory_lessons import MemoryLessons
from baton.sessions.memory_work import MemoryWork, WorkTables
from baton.sessions.records import CallRow, CheckpointRow, Delta, Lease, ProjectionUpdate, SessionRow, StepRow
from baton.sessions.text import shown


@dataclass
class _StoredEvent:
    seq: int
    ts: float
    kind: str
    step: str
    payload: str


@dataclass
class _CommandRow:
    session_id: str
    ts: float
    body: str
    status: str = "new"
    reason: str = ""
    done_at: float | None = None


@dataclass
class _LeaseRow:
    lease: Lease
    token: str
    acquired_at: float


@dataclass
class MemoryData:
    """Everything one memory store holds."""

    sessions: dict[str, SessionRow] = field(default_factory=dict)
    events: dict[str, list[_StoredEvent]] = field(default_factory=dict)
    steps: dict[str, dict[str, StepRow]] = field(default_factory=dict)
    state: dict[str, dict[str, str]] = field(default_factory=dict)
    calls: dict[str, dict[str, CallRow]] = field(default_factory=dict)
    checkpoints: dict[str, dict[str, CheckpointRow]] = field(default_factory=dict)
    commands: dict[int, _CommandRow] = field(default_factory=dict)
    deltas: dict[int, Delta] = field(default_factory=dict)
    delta_sessions: dict[int, str] = field(default_factory=dict)
    leases: dict[str, _LeaseRow] = field(default_factory=dict)
    work_tables: WorkTables = field(default_factory=WorkTables)
    lesson_edits: dict[str, LessonEdit] = field(default_factory=dict)
    last_command_id: int = 0
    last_delta_id: int = 0
    version: int = 0

    def committed(self) -> None:
        """Something changed: readers polling `data_version` look again."""
        self.version += 1


class MemoryStore(MemoryWork, MemoryLessons):
    """Implements `sessions.interface.SessionStore` over a `MemoryData`."""

    data: MemoryData

    def __init__(
        self,
        data: MemoryData | None = None,
        redactor: Redactor | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.data = data if data is not None else MemoryData()
        self.redact = redactor or default_redactor()
        self.clock = clock
        self.closed = False

    @property
    def location(self) -> str:
        """Memory has no path."""
        return ":memory:"

    async def close(self) -> None:
        """Nothing to release; the data stays for other handles."""
        self.closed = True

    async def __aenter__(self) -> MemoryStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

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
        """A new session row with status `new`."""
        session_id = secrets.token_hex(4)
        while session_id in self.data.sessions:
            session_id = secrets.token_hex(4)
        now = self.clock()
        self.data.sessions[session_id] = SessionRow(
            id=session_id,
            workflow=workflow,
            workflow_path=workflow_path,
            workflow_hash=workflow_hash,
            workflow_text=self.redact(workflow_text),
            inputs=self.redact(json.dumps(inputs, ensure_ascii=False)),
            options=self.redact(json.dumps(options, ensure_ascii=False, default=str)),
            parent=parent,
            fork_step=fork_step,
            status="new",
            reason="",
            error="",
            created_at=now,
            updated_at=now,
            ended_at=None,
            active_s=0.0,
            cost_usd=0.0,
            cost_unknown=0,
            tokens_in=0,
            tokens_out=0,
            steps_total=0,
            steps_done=0,
            inbox=0,
            degraded=0,
            last_seq=0,
            projected_seq=0,
        )
        self.data.committed()
        return session_id

    async def session(self, session_id: str) -> SessionRow:
        """One session's row (a copy: rows change only through the store)."""
        row = self.data.sessions.get(session_id)
        if row is None:
            raise StoreError(f"no session '{session_id}'")
        return replace(row)

    async def sessions(self, limit: int = 500) -> list[SessionRow]:
        """Sessions, newest first."""
        rows = sorted(self.data.sessions.values(), key=lambda r: r.created_at, reverse=True)
        return [replace(r) for r in rows[: max(limit, 0)]]

    async def resolve(self, prefix: str) -> str:
        """A full session id from a unique prefix."""
        matches = sorted(i for i in self.data.sessions if i.startswith(prefix))[:5]
        if not matches:
            raise StoreError(f"no session {shown(prefix)} in {self.location}")
        if len(matches) > 1 and matches[0] != prefix:
            raise StoreError(f"'{prefix}' is ambiguous: {', '.join(matches)}")
        return matches[0]

    async def delete_session(self, session_id: str) -> None:
        """Remove a session and everything recorded for it."""
        data = self.data
        data.sessions.pop(session_id, None)
        for table in (data.events, data.steps, data.state, data.calls, data.checkpoints, data.leases):
            table.pop(session_id, None)
        data.work_tables.work.pop(session_id, None)
        for cid in [c for c, row in data.commands.items() if row.session_id == session_id]:
            del data.commands[cid]
        for did in [d for d, sid in data.delta_sessions.items() if sid == session_id]:
            del data.deltas[did], data.delta_sessions[did]
        data.committed()

    # --- events ----------------------------------------------------------------------------------

    async def append(
        self,
        session_id: str,
        first_seq: int,
        events: Sequence[ev.Event],
        command_ids: Iterable[int] = (),
        deltas: Sequence[tuple[str, str, str]] = (),
    ) -> list[ev.Envelope]:
        """Store a batch whole, or nothing of it."""
        now = self.clock()
        stored = self.data.events.setdefault(session_id, [])
        taken = {e.seq for e in stored}
        if any(first_seq + i in taken for i in range(len(events))):
            raise SequenceConflict(
                f"session {session_id}: events from sequence number {first_seq} are already stored (another"
                " runner wrote them); nothing of this batch was kept"
            )
        rows = [
            _StoredEvent(first_seq + i, now, e.kind, e.step, self.redact(ev.encode_payload(e)))
            for i, e in enumerate(events)
        ]
        for step, call_id, text in deltas:
            self.data.last_delta_id += 1
            did = self.data.last_delta_id
            self.data.deltas[did] = Delta(did, step, call_id, self.redact(text))
            self.data.delta_sessions[did] = session_id
        before = stored[-1].seq if stored else 0
        stored.extend(rows)
        if rows and before > first_seq:
            stored.sort(key=lambda e: e.seq)
        for cid in command_ids:
            row = self.data.commands.get(cid)
            if row is not None:
                row.status, row.done_at = "done", now
        self.data.committed()
        return [ev.Envelope(session_id, first_seq + i, now, e) for i, e in enumerate(events)]

    async def last_seq(self, session_id: str) -> int:
        """Highest sequence number of a session (0 when it has none)."""
        stored = self.data.events.get(session_id)
        return stored[-1].seq if stored else 0

    async def events(
        self, session_id: str, after: int = 0, limit: int = -1, *, small: bool = False
    ) -> list[ev.Envelope]:
        """Events after `after`, in order."""
        rows = [e for e in self.data.events.get(session_id, ()) if e.seq > after]
        if limit >= 0:
            rows = rows[:limit]
        decode = ev.event_from_payload
        return [ev.Envelope(session_id, e.seq, e.ts, decode(e.kind, e.step, json.loads(e.payload))) for e in rows]

    async def view(self, session_id: str) -> SessionView:
        """The session folded from its events."""
        return SessionView(session_id).apply_all(await self.events(session_id))

    async def data_version(self) -> int:
        """Changes with every commit through any handle."""
        return self.data.version

    # --- projections -----------------------------------------------------------------------------

    async def write_projection(self, update: ProjectionUpdate) -> None:
        """Apply one projection write."""
        data, sid = self.data, update.session_id
        row = data.sessions.get(sid)
        if row is not None:
            for name, value in update.summary._asdict().items():
                setattr(row, name, value)
        data.steps.setdefault(sid, {}).update({s.path: s for s in update.steps})
        if update.state is not None:
            data.state[sid] = dict(update.state)
        data.calls.setdefault(sid, {}).update({c.call_id: c for c in update.calls})
        data.checkpoints.setdefault(sid, {}).update({c.checkpoint_id: c for c in update.checkpoints})
        finished = set(update.finished_calls)
        for did in [d for d, s in data.delta_sessions.items() if s == sid and data.deltas[d].call_id in finished]:
            del data.deltas[did], data.delta_sessions[did]
        data.committed()

    async def steps(self, session_id: str) -> list[StepRow]:
        """The session's projected steps, by path."""
        rows = self.data.steps.get(session_id, {})
        return [rows[p] for p in sorted(rows)]

    async def state(self, session_id: str) -> dict[str, str]:
        """The session's projected state: key → JSON text."""
        return dict(sorted(self.data.state.get(session_id, {}).items()))

    async def calls(self, session_id: str) -> list[CallRow]:
        """The session's recorded model calls, by call id."""
        rows = self.data.calls.get(session_id, {})
        return [rows[c] for c in sorted(rows)]

    async def checkpoints(self, session_id: str | None = None, *, open_only: bool = False) -> list[CheckpointRow]:
        """Checkpoints of one session (or of every session), oldest first."""
        every = self.data.checkpoints
        tables = list(every.values()) if session_id is None else [every.get(session_id, {})]
        rows = [c for table in tables for c in table.values() if not open_only or c.status == "open"]
        return sorted(rows, key=lambda c: (c.opened_at, c.session_id, c.checkpoint_id))

    # --- commands --------------------------------------------------------------------------------

    async def send(self, session_id: str, command: Command) -> int:
        """Queue a command for the session's runner; returns its id."""
        body = self.redact(json.dumps(command.to_json(), ensure_ascii=False, default=str))
        self.data.last_command_id += 1
        self.data.commands[self.data.last_command_id] = _CommandRow(session_id, self.clock(), body)
        self.data.committed()
        return self.data.last_command_id

    async def pending_commands(self, session_id: str, after_id: int = 0) -> list[Command]:
        """Commands not yet acted on, oldest first."""
        waiting = [
            (cid, row.body)
            for cid, row in sorted(self.data.commands.items())
            if row.session_id == session_id and row.status == "new" and cid > after_id
        ]
        out = []
        for cid, body in waiting:
            try:
                out.append(Command.from_json(json.loads(body), cid))
            except (ValueError, TypeError, KeyError) as exc:
                await self.reject_command(cid, f"unreadable command: {exc}")
        return out

    async def reject_command(self, command_id: int, reason: str) -> None:
        """Mark a command refused, with the reason its sender will see."""
        row = self.data.commands.get(command_id)
        if row is None:
            return
        row.status, row.reason, row.done_at = "rejected", self.redact(reason), self.clock()
        self.data.committed()

    async def command_status(self, command_id: int) -> tuple[str, str]:
        """(new | done | rejected | missing, reason)."""
        row = self.data.commands.get(command_id)
        return (row.status, row.reason) if row else ("missing", "")

    # --- live text -------------------------------------------------------------------------------

    async def deltas(self, session_id: str, after_id: int = 0) -> list[Delta]:
        """Live text rows after `after_id`."""
        return [
            d
            for did, d in sorted(self.data.deltas.items())
            if did > after_id and self.data.delta_sessions[did] == session_id
        ]

    async def last_delta_id(self, session_id: str) -> int:
        """Highest live-text row id of a session."""
        return max((d for d, s in self.data.delta_sessions.items() if s == session_id), default=0)

    # --- leases ----------------------------------------------------------------------------------

    async def acquire_lease(self, session_id: str, ttl: float = LEASE_TTL_S, *, owner: LeaseOwner | None = None) -> str:
        """Become the session's only runner, or raise `SessionInUse`."""
        me = owner or LeaseOwner.this_process()
        now = self.clock()
        held = self.data.leases.get(session_id)
        if held is not None and holder_alive(held.lease, held.token, now):
            raise SessionInUse(session_id, held.lease.pid, held.lease.host)
        token = secrets.token_hex(8)
        if me == LeaseOwner.this_process():
            hold(token)
        self.data.leases[session_id] = _LeaseRow(Lease(me.pid, me.host, now + ttl), token, now)
        self.data.committed()
        return token

    def _lease_row(self, lease: Lease, token: str, acquired_at: float) -> _LeaseRow:
        return _LeaseRow(lease, token, acquired_at)

    async def renew_lease(self, session_id: str, token: str, ttl: float = LEASE_TTL_S) -> bool:
        """Extend our lease; False if it is no longer ours."""
        held = self.data.leases.get(session_id)
        if held is None or held.token != token:
            return False
        held.lease = held.lease._replace(expires_at=self.clock() + ttl)
        self.data.committed()
        return True

    async def release_lease(self, session_id: str, token: str) -> None:
        """Give the session up."""
        drop(token)
        held = self.data.leases.get(session_id)
        if held is not None and held.token == token:
            del self.data.leases[session_id]
            self.data.committed()

    async def lease(self, session_id: str) -> Lease | None:
        """The current lease, if any."""
        held = self.data.leases.get(session_id)
        return held.lease if held else None

    async def runner_alive(self, session_id: str) -> bool:
        """Is a live runner holding this session?"""
        held = self.data.leases.get(session_id)
        return held is not None and holder_alive(held.lease, held.token, self.clock())

    # --- waking on changes -----------------------------------------------------------------------

    async def wait_for_change(self, session_id: str | None, within: float, since: int | None = None) -> int:
        """Wait until any handle commits after change mark `since` (None: from now), or `within` seconds;
        returns the mark to pass next time (polls `data_version`: any session's commit wakes)."""
        return await poll_for_change(self.data_version, within, since)
