"""What a session store is: the one interface the runner, the viewers and the application layer use.

Implementations: `sessions.store.Store` (a SQLite file, the default), `sessions.memory.MemoryStore`
(tests and embedding). `tests/sessions/conformance.py` holds the behaviour every implementation must
show; a store for a team (a database server) implements the same interface and passes the same suite.

The contract, beyond the signatures:
- `append` is one transaction: every event of the batch is stored with consecutive sequence numbers from
  `first_seq`, the commands it names are marked done, and its live text is added, or nothing is (a
  sequence number already taken raises `SequenceConflict`). Events read back in sequence order.
- Secrets are redacted before anything is stored (payloads, inputs, options, outputs, errors, reasons).
- `data_version` changes whenever another handle commits, so a viewer can skip a poll that would read
  nothing new; `wait_for_change` waits for such a commit (told by the server where it can announce one,
  else by looking at `data_version`), so a viewer sleeps until there is something to read.
- Leases follow `sessions.leases.holder_alive`; `acquire_lease` raises `SessionInUse` while a live
  holder has the session.
- Unknown sessions raise `StoreError` naming them; a store that cannot be used at all raises
  `StoreUnusable` when it is opened.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

from baton.core import events as ev
from baton.core.commands import Command
from baton.core.learn.lessons import LessonEdit
from baton.core.secrets import Redactor
from baton.core.view import SessionView
from baton.sessions.leases import LEASE_TTL_S, LeaseOwner
from baton.sessions.records import (
    CallRow,
    CheckpointRow,
    Claim,
    Delta,
    HostRow,
    Lease,
    ProjectionUpdate,
    SessionRow,
    StepRow,
    WorkRow,
)

__all__ = ["LEASE_TTL_S", "SessionStore"]


class SessionStore(Protocol):
    """Sessions, their events, projections, commands, live text and leases."""

    redact: Redactor
    """Applied to every text a store keeps; projections use it to build their rows."""
    clock: Callable[[], float]
    """The store's time (seconds since the epoch) for every timestamp it writes."""

    @property
    def location(self) -> str:
        """Where the sessions live, as a person may be shown it (a path; never a password)."""
        ...

    async def close(self) -> None:
        """Release the store (work already queued finishes first)."""
        ...

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
        """A new session row with status `new`; returns its id (8 hex digits)."""
        ...

    async def session(self, session_id: str) -> SessionRow:
        """One session's row."""
        ...

    async def sessions(self, limit: int = 500) -> list[SessionRow]:
        """Sessions, newest first."""
        ...

    async def resolve(self, prefix: str) -> str:
        """A full session id from a unique prefix (an exact id always wins)."""
        ...

    async def delete_session(self, session_id: str) -> None:
        """Remove a session and everything recorded for it."""
        ...

    # --- events ----------------------------------------------------------------------------------

    async def append(
        self,
        session_id: str,
        first_seq: int,
        events: Sequence[ev.Event],
        command_ids: Iterable[int] = (),
        deltas: Sequence[tuple[str, str, str]] = (),
    ) -> list[ev.Envelope]:
        """Store a batch in one transaction (see the module's contract); returns the committed envelopes."""
        ...

    async def last_seq(self, session_id: str) -> int:
        """Highest sequence number of a session (0 when it has none)."""
        ...

    async def events(
        self, session_id: str, after: int = 0, limit: int = -1, *, small: bool = False
    ) -> list[ev.Envelope]:
        """Events after sequence number `after`, in order; at most `limit` (-1: all). `small` is a hint
        that few are expected."""
        ...

    async def view(self, session_id: str) -> SessionView:
        """The session folded from its events."""
        ...

    async def data_version(self) -> int:
        """A number that changes whenever another handle on the same store commits (a handle's own commits
        may change it too)."""
        ...

    async def wait_for_change(self, session_id: str | None, within: float, since: int | None = None) -> int:
        """Wait until something is committed for `session_id` (None: any session) after change mark `since`
        (None: from now), or `within` seconds pass; returns the mark to pass next time, so a commit made
        between two waits is not missed (`within` 0: the mark now). It may return early (a store that
        cannot tell sessions apart wakes on any commit): callers read again and compare."""
        ...

    # --- projections -----------------------------------------------------------------------------

    async def write_projection(self, update: ProjectionUpdate) -> None:
        """Apply one projection write in one transaction."""
        ...

    async def steps(self, session_id: str) -> list[StepRow]:
        """The session's projected steps."""
        ...

    async def state(self, session_id: str) -> dict[str, str]:
        """The session's projected state: key → JSON text."""
        ...

    async def calls(self, session_id: str) -> list[CallRow]:
        """The session's recorded model calls."""
        ...

    async def checkpoints(self, session_id: str | None = None, *, open_only: bool = False) -> list[CheckpointRow]:
        """Checkpoints of one session (or of every session), oldest first."""
        ...

    # --- commands --------------------------------------------------------------------------------

    async def send(self, session_id: str, command: Command) -> int:
        """Queue a command for the session's runner; returns its id (ids only grow)."""
        ...

    async def pending_commands(self, session_id: str, after_id: int = 0) -> list[Command]:
        """Commands not yet acted on with an id above `after_id`, oldest first; an unreadable one is
        rejected instead of returned."""
        ...

    async def reject_command(self, command_id: int, reason: str) -> None:
        """Mark a command refused, with the reason its sender will see."""
        ...

    async def command_status(self, command_id: int) -> tuple[str, str]:
        """(new | done | rejected | missing, reason)."""
        ...

    # --- live text -------------------------------------------------------------------------------

    async def deltas(self, session_id: str, after_id: int = 0) -> list[Delta]:
        """Live text rows after `after_id`, in order."""
        ...

    async def last_delta_id(self, session_id: str) -> int:
        """Highest live-text row id of a session (0 when none)."""
        ...

    # --- the runner hosts' queue and registry ----------------------------------------------------

    async def enqueue(
        self, session_id: str, options: str | None = None, models: str | None = None, env: str = ""
    ) -> bool:
        """Ask a runner host to run the session (`options`/`models`: JSON overrides of what it was started
        with; `env`: the fingerprint of the environment to run it in, see `sessions.host_env`); a parked
        one, or one whose host died, is queued again. False when it is already queued, or running on a live
        host."""
        ...

    async def claim(
        self,
        host_id: str,
        limit: int,
        ttl: float = LEASE_TTL_S,
        *,
        owner: LeaseOwner | None = None,
        env: str = "",
    ) -> list[Claim]:
        """Take up to `limit` sessions for host `host_id` (whose environment's fingerprint is `env`), each
        with its lease held: queued ones first — one queued from another environment only when no live host
        has that one and it has waited `host_env.PIN_S` — then running ones whose runner died."""
        ...

    async def settle_work(self, session_id: str, token: str, state: str | None) -> bool:
        """A host gives up the session it holds with `token`: its lease is released and its queue row set
        to `state` (`parked`, `queued`) or dropped (None). Parking a session with a command waiting queues
        it again. False when the lease was no longer the host's."""
        ...

    async def renew_leases(self, held: dict[str, str], ttl: float = LEASE_TTL_S) -> set[str]:
        """Extend a host's leases (session → token) at once; returns the sessions whose lease is still
        its own."""
        ...

    async def unpark(self, session_id: str) -> bool:
        """Queue a parked session again; False when it was not parked."""
        ...

    async def has_queued(self) -> bool:
        """Is any session waiting in the queue for a host?"""
        ...

    async def work(self, session_id: str | None = None) -> list[WorkRow]:
        """The queue's rows (one session's, or all), oldest request first."""
        ...

    async def beat_host(self, host: HostRow) -> None:
        """Record or renew a live host's row."""
        ...

    async def drop_host(self, host_id: str) -> None:
        """A host is gone."""
        ...

    async def hosts(self) -> list[HostRow]:
        """The live hosts, oldest first."""
        ...

    # --- lessons ---------------------------------------------------------------------------------

    async def lesson_edits(self, workflow: str | None = None) -> list[LessonEdit]:
        """What people changed in the lessons derived from their feedback (edits, removals, their own
        lessons), for every session of the store: of one workflow, or all; oldest first."""
        ...

    async def save_lesson_edit(self, edit: LessonEdit) -> None:
        """Record a person's change to a lesson, replacing an earlier one with the same id (its workflow,
        step, source and creation time stay as first recorded)."""
        ...

    # --- leases ----------------------------------------------------------------------------------

    async def acquire_lease(self, session_id: str, ttl: float = LEASE_TTL_S, *, owner: LeaseOwner | None = None) -> str:
        """Become the session's only runner (as `owner`, default this process); returns the lease's token."""
        ...

    async def renew_lease(self, session_id: str, token: str, ttl: float = LEASE_TTL_S) -> bool:
        """Extend our lease; False when it is no longer ours."""
        ...

    async def release_lease(self, session_id: str, token: str) -> None:
        """Give the session up (a lease that is no longer ours is left alone)."""
        ...

    async def lease(self, session_id: str) -> Lease | None:
        """The current lease, live or not."""
        ...

    async def runner_alive(self, session_id: str) -> bool:
        """Does a live runner hold this session?"""
        ...
