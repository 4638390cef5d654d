"""What every session store must do, run against each implementation of `SessionStore`.

Each test gets `store` (a fresh store of one kind) and, where it needs a second process's view, `other` (a
second handle on the same store: a viewer beside a runner). Time is a `Clock` the test moves, so leases
expire when the test says so. A new store kind joins by adding a `Backend` to `BACKENDS`.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from baton.core import events as ev
from baton.core.commands import Command, decide
from baton.core.secrets import REDACTED, Redactor
from baton.core.view import SessionView
from baton.sessions import projection
from baton.sessions.errors import SequenceConflict, SessionInUse, StoreError
from baton.sessions.interface import SessionStore
from baton.sessions.leases import LeaseOwner, drop
from baton.sessions.memory import MemoryStore
from baton.sessions.pg_store import PgStore
from baton.sessions.store import Store
from tests.sessions.pg_server import shared_server

SECRET = "hunter2-correct-horse"
REDACT = Redactor({"TEAM_API_KEY": SECRET})
T0 = 1_800_000_000.0


class Clock:
    """Time that moves only when a test moves it."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Let `seconds` pass."""
        self.now += seconds


@dataclass(frozen=True)
class Backend:
    """How to open a store of one kind, and a second handle on it."""

    name: str
    open: Callable[[Path, Clock], Awaitable[SessionStore]]
    again: Callable[[SessionStore, Path, Clock], Awaitable[SessionStore]]
    place: Callable[[Path], None] = lambda tmp: None
    """Prepares what `open` needs in the test's folder (a database on a server, say)."""


async def _sqlite(tmp: Path, clock: Clock) -> SessionStore:
    return await Store.open(tmp / "conformance.db", REDACT, clock=clock)


async def _sqlite_again(first: SessionStore, tmp: Path, clock: Clock) -> SessionStore:
    return await Store.open(tmp / "conformance.db", REDACT, clock=clock)


async def _memory(tmp: Path, clock: Clock) -> SessionStore:
    return MemoryStore(redactor=REDACT, clock=clock)


async def _memory_again(first: SessionStore, tmp: Path, clock: Clock) -> SessionStore:
    assert isinstance(first, MemoryStore)
    return MemoryStore(first.data, REDACT, clock=clock)


def _new_pg_database(tmp: Path) -> None:
    (tmp / "postgresql.dsn").write_text(shared_server().create_database())


async def _pg(tmp: Path, clock: Clock) -> SessionStore:
    return await PgStore.open((tmp / "postgresql.dsn").read_text(), REDACT, clock=clock)


async def _pg_again(first: SessionStore, tmp: Path, clock: Clock) -> SessionStore:
    return await _pg(tmp, clock)


BACKENDS = {
    b.name: b
    for b in (
        Backend("sqlite", _sqlite, _sqlite_again),
        Backend("memory", _memory, _memory_again),
        Backend("postgresql", _pg, _pg_again, _new_pg_database),
    )
}


@pytest.fixture
def clock() -> Clock:
    """The stores' clock."""
    return Clock()


@pytest.fixture(params=sorted(BACKENDS))
def backend(request: pytest.FixtureRequest) -> Backend:
    """One kind of store."""
    return BACKENDS[request.param]


@pytest.fixture
async def store(backend: Backend, tmp_path: Path, clock: Clock) -> AsyncIterator[SessionStore]:
    """A fresh, empty store."""
    backend.place(tmp_path)
    opened = await backend.open(tmp_path, clock)
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
async def other(backend: Backend, store: SessionStore, tmp_path: Path, clock: Clock) -> AsyncIterator[SessionStore]:
    """A second handle on `store`, as another process would have."""
    opened = await backend.again(store, tmp_path, clock)
    try:
        yield opened
    finally:
        await opened.close()


async def new_session(store: SessionStore, name: str = "w", **fields: Any) -> str:
    """A session with plain fields."""
    values: dict[str, Any] = {
        "workflow_path": "/flows/w.yaml",
        "workflow_hash": "abc123",
        "workflow_text": "name: w\n",
        "inputs": {"topic": "batteries"},
        "options": {"auto": "approve"},
        **fields,
    }
    return await store.create_session(name, **values)


# --- sessions ------------------------------------------------------------------------------------


async def test_sessions_are_created_listed_newest_first_and_read_back(store: SessionStore, clock: Clock) -> None:
    first = await new_session(store, "one")
    clock.advance(1)
    second = await new_session(store, "two", inputs={"n": 2}, parent=first, fork_step="write")
    clock.advance(1)
    third = await new_session(store, "three")
    assert len({first, second, third}) == 3 and all(len(i) == 8 for i in (first, second, third))
    assert [r.id for r in await store.sessions()] == [third, second, first]
    assert [r.id for r in await store.sessions(limit=2)] == [third, second]
    row = await store.session(second)
    assert (row.workflow, row.workflow_path, row.workflow_hash, row.workflow_text) == (
        "two",
        "/flows/w.yaml",
        "abc123",
        "name: w\n",
    )
    assert row.inputs_dict == {"n": 2} and row.options_dict == {"auto": "approve"}
    assert (row.parent, row.fork_step, row.status, row.created_at) == (first, "write", "new", T0 + 1)
    assert (row.last_seq, row.projected_seq, row.inbox, row.cost_usd) == (0, 0, 0, 0.0)
    with pytest.raises(StoreError, match="no session 'nope'"):
        await store.session("nope")


async def test_a_prefix_resolves_to_one_session(store: SessionStore) -> None:
    ids = [await new_session(store) for _ in range(6)]
    for sid in ids:
        assert await store.resolve(sid) == sid
        unique = next(sid[:n] for n in range(1, 9) if sum(i.startswith(sid[:n]) for i in ids) == 1)
        assert await store.resolve(unique) == sid
    with pytest.raises(StoreError, match="no session"):
        await store.resolve("zzzzzzzzz")
    with pytest.raises(StoreError, match="ambiguous"):
        await store.resolve("")


async def test_deleting_a_session_removes_everything_recorded_for_it_and_nothing_else(store: SessionStore) -> None:
    keep, gone = await new_session(store), await new_session(store)
    for sid in (keep, gone):
        await store.append(sid, 1, [ev.SessionStarted(workflow="w")], deltas=[("a", "c1", "text")])
        await store.send(sid, Command(kind="pause"))
        await store.acquire_lease(sid)
        await projection.rebuild(store, sid)
    await store.delete_session(gone)
    with pytest.raises(StoreError):
        await store.session(gone)
    assert await store.events(gone) == [] and await store.deltas(gone) == []
    assert await store.pending_commands(gone) == [] and await store.lease(gone) is None
    assert await store.steps(gone) == [] and await store.state(gone) == {} and await store.checkpoints(gone) == []
    assert [r.id for r in await store.sessions()] == [keep]
    assert len(await store.events(keep)) == 1 and len(await store.deltas(keep)) == 1
    assert len(await store.pending_commands(keep)) == 1 and await store.runner_alive(keep)


async def test_secrets_never_reach_the_store(store: SessionStore) -> None:
    sid = await new_session(store, workflow_text=f"key: {SECRET}", inputs={"k": SECRET}, options={"o": SECRET})
    await store.append(
        sid, 1, [ev.StepFailed(step="a", error=f"auth failed for {SECRET}")], deltas=[("a", "c", SECRET)]
    )
    await store.send(sid, decide("a:review:1", "reject", feedback=SECRET))
    row = await store.session(sid)
    for text in (row.workflow_text, row.inputs, row.options):
        assert SECRET not in text and REDACTED in text
    (event,) = await store.events(sid)
    assert isinstance(event.event, ev.StepFailed) and event.event.error == f"auth failed for {REDACTED}"
    assert [d.text for d in await store.deltas(sid)] == [REDACTED]
    (command,) = await store.pending_commands(sid)
    assert command.feedback == REDACTED


# --- events ----------------------------------------------------------------------------------------


async def test_events_append_in_order_and_read_back_after_a_sequence_number(store: SessionStore, clock: Clock) -> None:
    sid, elsewhere = await new_session(store), await new_session(store)
    batch = [ev.SessionStarted(workflow="w", inputs={"topic": "x"}), ev.StepStarted(step="a", step_kind="agent")]
    envelopes = await store.append(sid, 1, batch)
    assert [(e.session_id, e.seq, e.ts, e.event) for e in envelopes] == [(sid, 1, T0, batch[0]), (sid, 2, T0, batch[1])]
    clock.advance(2)
    await store.append(sid, 3, [ev.StepCompleted(step="a", output={"answer": [1, 2]}, writes={"answer": [1, 2]})])
    await store.append(elsewhere, 1, [ev.SessionStarted(workflow="other")])
    read = await store.events(sid)
    assert [e.seq for e in read] == [1, 2, 3] and [e.ts for e in read] == [T0, T0, T0 + 2]
    assert [e.event for e in read[:2]] == batch
    assert read[2].event == ev.StepCompleted(step="a", output={"answer": [1, 2]}, writes={"answer": [1, 2]})
    assert [e.seq for e in await store.events(sid, after=1)] == [2, 3]
    assert [e.seq for e in await store.events(sid, after=1, limit=1)] == [2]
    assert [e.seq for e in await store.events(sid, after=3)] == []
    assert await store.last_seq(sid) == 3 and await store.last_seq(elsewhere) == 1
    assert await store.last_seq("nobody") == 0 and await store.events("nobody") == []
    view = await store.view(sid)
    assert view == SessionView(sid).apply_all(read)


async def test_a_batch_that_collides_with_stored_sequence_numbers_keeps_nothing(store: SessionStore) -> None:
    sid = await new_session(store)
    command = await store.send(sid, Command(kind="pause"))
    await store.append(sid, 1, [ev.SessionStarted(workflow="w")])
    with pytest.raises(SequenceConflict):
        await store.append(
            sid,
            1,
            [ev.StepStarted(step="a"), ev.StepStarted(step="b")],
            command_ids=[command],
            deltas=[("a", "c", "t")],
        )
    await store.append(sid, 2, [ev.StepStarted(step="a")])
    with pytest.raises(SequenceConflict):
        await store.append(sid, 1, [ev.StepStarted(step="z"), ev.StepStarted(step="y"), ev.StepStarted(step="x")])
    assert [(e.seq, e.event.step) for e in await store.events(sid)] == [(1, ""), (2, "a")]
    assert await store.deltas(sid) == [] and await store.command_status(command) == ("new", "")


async def test_another_handle_sees_commits_and_data_version_tells_it_when(
    store: SessionStore, other: SessionStore
) -> None:
    sid = await new_session(store)
    before = await other.data_version()
    await store.append(sid, 1, [ev.SessionStarted(workflow="w")], deltas=[("a", "c", "live")])
    assert await other.data_version() != before
    assert [e.seq for e in await other.events(sid)] == [1]
    assert [d.text for d in await other.deltas(sid)] == ["live"]
    quiet = await other.data_version()
    assert await other.data_version() == quiet, "nothing was committed"


async def test_a_waiter_wakes_when_another_handle_commits_and_misses_nothing_between_waits(
    store: SessionStore, other: SessionStore
) -> None:
    sid = await new_session(store)
    mark = await other.wait_for_change(sid, 0)
    assert await other.wait_for_change(sid, 0.05, mark) == mark, "nothing was committed: the wait runs out"
    waiter = asyncio.ensure_future(other.wait_for_change(sid, 60, mark))
    await store.append(sid, 1, [ev.SessionStarted(workflow="w")])
    woke = await waiter
    assert woke != mark, "woken by the commit, not by running out of time"
    assert [e.seq for e in await other.events(sid)] == [1]
    await store.append(sid, 2, [ev.StepStarted(step="a")])  # committed while nobody waits
    assert await other.wait_for_change(None, 60, woke) != woke
    assert [e.seq for e in await other.events(sid)] == [1, 2]


# --- projections -----------------------------------------------------------------------------------


def _run_of_one_step(sid: str) -> list[ev.Event]:
    return [
        ev.SessionStarted(workflow="w", inputs={"topic": "x"}),
        ev.StepStarted(step="write", step_kind="agent", model="mock/fast"),
        ev.LLMCallStarted(step="write", call_id="c1", model="mock/fast", alias="fast", request_hash="h1"),
        ev.LLMCallFinished(
            step="write",
            call_id="c1",
            model="mock/fast",
            alias="fast",
            text=f"draft with {SECRET}",
            request_hash="h1",
            request={"messages": [{"role": "user", "content": "write"}]},
            tokens_in=10,
            tokens_out=20,
            cost_usd=0.002,
            latency_s=0.5,
        ),
        ev.StateUpdated(step="write", ops=[{"key": "draft", "op": "replace", "value": "the draft"}]),
        ev.StepOutput(step="write", output="the draft"),
        ev.CheckpointOpened(step="write", checkpoint_id="write:review:1", reason="review", options=["approve"]),
    ]


async def test_projections_are_the_fold_of_the_events(store: SessionStore, clock: Clock) -> None:
    sid = await new_session(store)
    await store.append(sid, 1, _run_of_one_step(sid), deltas=[("write", "c1", "dra"), ("write", "c2", "other call")])
    clock.advance(3)
    view = await projection.rebuild(store, sid)
    row = await store.session(sid)
    assert (row.status, row.last_seq, row.projected_seq, row.inbox) == (view.status, 7, 7, 1)
    assert (row.tokens_in, row.tokens_out, row.steps_total) == (10, 20, 1)
    assert row.cost_usd == pytest.approx(0.002) and row.updated_at == T0 + 3
    (step,) = await store.steps(sid)
    assert (step.session_id, step.path, step.kind, step.status, step.model) == (
        sid,
        "write",
        "agent",
        view.steps["write"].status,
        view.steps["write"].model,
    )
    assert (step.tokens_in, step.tokens_out, step.error) == (10, 20, "")
    assert await store.state(sid) == {"draft": '"the draft"'}
    (call,) = await store.calls(sid)
    assert (call.call_id, call.step, call.request_hash, call.status, call.tokens_in, call.tokens_out) == (
        "c1",
        "write",
        "h1",
        "ok",
        10,
        20,
    )
    assert call.response == f"draft with {REDACTED}" and '"write"' in call.request
    (checkpoint,) = await store.checkpoints(sid)
    assert (checkpoint.checkpoint_id, checkpoint.step, checkpoint.reason, checkpoint.status) == (
        "write:review:1",
        "write",
        "review",
        "open",
    )
    assert [d.call_id for d in await store.deltas(sid)] == ["c2"], "a finished call's live text is dropped"


async def test_projected_rows_read_back_exactly_as_written(store: SessionStore) -> None:
    """Every field of every row survives the store (types included): what a viewer reads is what was
    written, and the recorded call keeps its request hash and answer for replay."""
    sid = await new_session(store)
    events = _run_of_one_step(sid)
    await store.append(sid, 1, events)
    view = await store.view(sid)
    update = projection.update(view, projection.Dirty().everything(view), store.redact, store.clock())
    await store.write_projection(update)
    assert await store.steps(sid) == sorted(update.steps, key=lambda r: r.path)
    assert await store.calls(sid) == sorted(update.calls, key=lambda r: r.call_id)
    assert await store.checkpoints(sid) == update.checkpoints
    assert await store.state(sid) == update.state
    row = await store.session(sid)
    assert {k: getattr(row, k) for k in update.summary._fields} == update.summary._asdict()
    (finished,) = [e.event for e in await store.events(sid) if isinstance(e.event, ev.LLMCallFinished)]
    assert finished.request_hash == "h1" and finished.text == f"draft with {REDACTED}"
    assert finished.request == {"messages": [{"role": "user", "content": "write"}]}


async def test_checkpoints_across_sessions_oldest_first_and_decided_ones_left_out_on_request(
    store: SessionStore, clock: Clock
) -> None:
    first, second = await new_session(store), await new_session(store)
    await store.append(first, 1, _run_of_one_step(first))
    await projection.rebuild(store, first)
    clock.advance(5)
    await store.append(second, 1, _run_of_one_step(second))
    await projection.rebuild(store, second)
    assert [(c.session_id, c.status) for c in await store.checkpoints(open_only=True)] == [
        (first, "open"),
        (second, "open"),
    ]
    await store.append(
        first, 8, [ev.DecisionMade(step="write", checkpoint_id="write:review:1", decision="approve", by="ann")]
    )
    await projection.rebuild(store, first)
    assert [c.session_id for c in await store.checkpoints(open_only=True)] == [second]
    decided = (await store.checkpoints(first))[0]
    assert (decided.status, decided.decision, decided.decided_by) == ("decided", "approve", "ann")
    assert len(await store.checkpoints()) == 2


async def test_a_projection_write_touches_only_what_changed(store: SessionStore) -> None:
    sid = await new_session(store)
    events = _run_of_one_step(sid)
    await store.append(sid, 1, events[:2])
    view = await projection.rebuild(store, sid)
    await store.append(sid, 3, events[2:4])
    for env in await store.events(sid, after=2):
        view.apply(env)
    dirty = projection.Dirty()
    for env in await store.events(sid, after=2):
        dirty.note(env, view)
    await projection.write(store, view, dirty)
    assert [c.call_id for c in await store.calls(sid)] == ["c1"]
    assert await store.state(sid) == {}, "state was not dirty, so it was not rewritten"
    assert (await store.session(sid)).projected_seq == 4


# --- commands --------------------------------------------------------------------------------------


async def test_commands_are_queued_taken_in_order_done_or_rejected(store: SessionStore, other: SessionStore) -> None:
    sid, elsewhere = await new_session(store), await new_session(store)
    pause = await other.send(sid, Command(kind="pause", by="ann"))
    approve = await other.send(sid, decide("a:review:1", "approve", by="bob"))
    await other.send(elsewhere, Command(kind="cancel"))
    assert approve > pause
    pending = await store.pending_commands(sid)
    assert [(c.id, c.kind, c.by) for c in pending] == [(pause, "pause", "ann"), (approve, "decide", "bob")]
    assert pending[1].checkpoint_id == "a:review:1" and pending[1].decision == "approve"
    assert [c.id for c in await store.pending_commands(sid, after_id=pause)] == [approve]
    await store.append(sid, 1, [ev.SessionPaused(reason="paused by ann")], command_ids=[pause])
    await store.reject_command(approve, "no open checkpoint 'a:review:1'")
    assert await other.command_status(pause) == ("done", "")
    assert await other.command_status(approve) == ("rejected", "no open checkpoint 'a:review:1'")
    assert await other.command_status(10_000) == ("missing", "")
    assert await store.pending_commands(sid) == []
    unknown = await other.send(sid, Command(kind="explode"))
    assert await store.pending_commands(sid) == []
    status, reason = await other.command_status(unknown)
    assert status == "rejected" and "unreadable command" in reason


# --- live text -------------------------------------------------------------------------------------


async def test_live_text_is_read_after_an_id_per_session(store: SessionStore, other: SessionStore) -> None:
    sid, elsewhere = await new_session(store), await new_session(store)
    await store.append(sid, 1, [], deltas=[("a", "c1", "Hel"), ("b", "c2", "Wor")])
    await store.append(elsewhere, 1, [], deltas=[("z", "c9", "not yours")])
    await store.append(sid, 1, [ev.SessionStarted(workflow="w")], deltas=[("a", "c1", "lo")])
    rows = await other.deltas(sid)
    assert [(d.step, d.call_id, d.text) for d in rows] == [("a", "c1", "Hel"), ("b", "c2", "Wor"), ("a", "c1", "lo")]
    assert rows[0].id < rows[1].id < rows[2].id
    assert [d.text for d in await other.deltas(sid, after_id=rows[1].id)] == ["lo"]
    assert await other.last_delta_id(sid) == rows[2].id
    assert await other.last_delta_id("nobody") == 0


# --- leases ----------------------------------------------------------------------------------------


async def test_one_runner_holds_a_session_until_it_lets_go(
    store: SessionStore, other: SessionStore, clock: Clock
) -> None:
    sid = await new_session(store)
    assert await store.lease(sid) is None and not await store.runner_alive(sid)
    token = await store.acquire_lease(sid, ttl=15)
    assert await store.lease(sid) == (os.getpid(), socket.gethostname(), T0 + 15)
    assert await other.runner_alive(sid)
    for handle in (store, other):
        with pytest.raises(SessionInUse, match=f"session {sid} in use by pid {os.getpid()}$") as info:
            await handle.acquire_lease(sid)
        assert info.value.code == 3 and info.value.pid == os.getpid()
    clock.advance(10)
    assert await store.renew_lease(sid, token, ttl=15)
    assert (await store.lease(sid)) == (os.getpid(), socket.gethostname(), T0 + 25)
    assert not await store.renew_lease(sid, "not-the-token")
    await store.release_lease(sid, "not-the-token")
    assert await store.runner_alive(sid), "only the holder can release its lease"
    await store.release_lease(sid, token)
    assert await store.lease(sid) is None and not await other.runner_alive(sid)
    again = await other.acquire_lease(sid)
    assert again != token and await store.runner_alive(sid)
    await other.release_lease(sid, again)


async def test_a_lease_on_another_host_is_honoured_until_it_expires(store: SessionStore, clock: Clock) -> None:
    sid = await new_session(store)
    elsewhere = LeaseOwner(4242, socket.gethostname() + "-elsewhere")
    theirs = await store.acquire_lease(sid, ttl=30, owner=elsewhere)
    assert await store.lease(sid) == (4242, elsewhere.host, T0 + 30)
    with pytest.raises(SessionInUse, match=f"in use by pid 4242 on {elsewhere.host}"):
        await store.acquire_lease(sid)
    clock.advance(29)
    assert await store.runner_alive(sid)
    clock.advance(2)
    assert not await store.runner_alive(sid)
    ours = await store.acquire_lease(sid)
    assert (await store.lease(sid))[:2] == (os.getpid(), socket.gethostname())
    assert not await store.renew_lease(sid, theirs), "a lease taken over is no longer the old holder's"
    await store.release_lease(sid, ours)


async def test_a_dead_runners_lease_is_taken_over_at_once(store: SessionStore) -> None:
    sid = await new_session(store)
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = LeaseOwner(int(finished.stdout), socket.gethostname())
    await store.acquire_lease(sid, ttl=3600, owner=dead)
    assert not await store.runner_alive(sid)
    token = await store.acquire_lease(sid)
    assert await store.runner_alive(sid)
    await store.release_lease(sid, token)


async def test_a_lease_left_behind_by_a_runner_of_this_process_is_taken_over(store: SessionStore) -> None:
    sid = await new_session(store)
    left = await store.acquire_lease(sid, ttl=3600)
    drop(left)  # the runner ended without releasing it (as a crashed task would)
    assert not await store.runner_alive(sid)
    token = await store.acquire_lease(sid)
    assert await store.runner_alive(sid) and not await store.renew_lease(sid, left)
    await store.release_lease(sid, token)
