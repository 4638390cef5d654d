"""The application layer on the in-memory store with runners in this process: what the CLI, the Home
screen and line mode do to sessions, with no file and no subprocess (the real runner, no mocks)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from baton.core.commands import decide
from baton.core.view import SessionView
from baton.sessions.app import InProcessRunners, Sessions, exit_code, plan_run
from baton.sessions.errors import AppError, DecisionRefused, InvalidInput, SessionInUse, StoreError
from baton.sessions.memory import MemoryStore
from baton.tui.input_form import check_inputs
from baton.tui.screens.launcher import Launcher

GATED = """\
name: gated
state:
  note: {type: str}
  count: {type: int}
inputs:
  note: {default: "hello"}
  count: {default: 1}
steps:
  - {id: check, kind: gate, reads: [note], message: "Go on?"}
  - {id: again, kind: gate, reads: [note, count], message: "Really?"}
"""


@pytest.fixture
def flow(tmp_path: Path) -> Path:
    """A workflow of two gates (no model: nothing to wait for but the person)."""
    path = tmp_path / "gated.yaml"
    path.write_text(GATED, encoding="utf-8")
    return path


@pytest.fixture
async def app() -> AsyncIterator[Sessions]:
    """The application layer over a fresh memory store."""
    store = MemoryStore()
    yield Sessions(store, InProcessRunners())
    await store.close()


async def until(app: Sessions, session: str, holds: Callable[[SessionView], bool]) -> SessionView:
    """The session's view once `holds` is true of it."""
    for _ in range(1500):
        view = (await app.open(session)).view
        if holds(view):
            return view
        await asyncio.sleep(0.02)
    raise AssertionError(f"session {session} never reached the condition; status {view.status}")


def waiting_at(step: str) -> Callable[[SessionView], bool]:
    """Is a checkpoint open at `step`?"""
    return lambda view: any(c.step == step for c in view.open_checkpoints)


async def test_start_list_decide_and_finish(app: Sessions, flow: Path) -> None:
    started = await app.start(plan_run(str(flow), inputs=["note=hi", "count=2"]))
    sid = started.session_id
    await until(app, sid, waiting_at("check"))
    (entry,) = await app.list_sessions()
    assert (entry.row.id, entry.alive, entry.row.inputs_dict) == (sid, True, {"note": "hi", "count": 2})
    with pytest.raises(SessionInUse, match=f"session {sid} in use by pid {os.getpid()}") as refused:
        await app.resume(sid[:5])
    assert refused.value.code == 3
    found, cp = await app.waiting_checkpoint(sid[:3], "check")
    assert found == sid and cp.checkpoint_id == "check:gate:1"
    assert not (await app.decide(sid, decide(cp.checkpoint_id, "approve", by="ann"))).queued
    _, cp = await app.waiting_checkpoint(sid, "again")
    with pytest.raises(DecisionRefused, match="^refused: ") as wrong:
        await app.decide(sid, decide(cp.checkpoint_id, "retry_model", by="ann", model="fast"))
    assert wrong.value.code == 2
    await app.decide(sid, decide(cp.checkpoint_id, "approve", by="ann"))
    assert exit_code(await started.finish("completed")) == 0
    opened = await app.open(sid)
    assert (opened.status, opened.alive, opened.view.state["note"]) == ("completed", False, "hi")


async def test_a_checkpoint_that_is_not_waiting_is_named_with_those_that_are(app: Sessions, flow: Path) -> None:
    started = await app.start(plan_run(str(flow)))
    await until(app, started.session_id, waiting_at("check"))
    with pytest.raises(InvalidInput, match=r"no open checkpoint 'again' in session \w+ \(waiting: check\)$"):
        await app.waiting_checkpoint(started.session_id, "again")
    assert await started.finish("detached") == "detached", "a runner in this process stops with its viewer"


async def test_a_decision_with_no_runner_is_queued_and_the_session_resumes(app: Sessions, flow: Path) -> None:
    started = await app.start(plan_run(str(flow)))
    sid = started.session_id
    await until(app, sid, waiting_at("check"))
    _, cp = await app.waiting_checkpoint(sid, "check")
    await app.decide(sid, decide(cp.checkpoint_id, "pause", by="ann"))
    assert exit_code(await started.finish("paused")) == 4
    queued = await app.decide(sid, decide(cp.checkpoint_id, "approve", by="bob"))
    assert queued.queued and queued.checkpoint_id == cp.checkpoint_id
    resumed = await app.resume(sid, auto="approve")
    assert await resumed.finish("completed") == "completed"


async def test_fork_replays_the_record_and_runs_the_rest(app: Sessions, flow: Path) -> None:
    first = await app.start(plan_run(str(flow), auto="approve"))
    assert await first.finish("completed") == "completed"
    with pytest.raises(InvalidInput, match="--set 'nope=1': expected KEY=VALUE with a state key"):
        await app.fork(first.session_id, "again", ["nope=1"])
    forked = await app.fork(first.session_id[:6], "again", ["count=7"])
    assert (forked.source, forked.at_step) == (first.session_id, "again")
    run = await app.run(forked.session_id)
    assert await run.finish("completed") == "completed", "it keeps the options it was started with (auto)"
    view = (await app.open(forked.session_id)).view
    assert (view.parent, view.state["count"]) == (first.session_id, 7)
    kinds = [(e.event.kind, e.event.step) for e in await app.events(forked.session_id)]
    assert kinds.count(("StepStarted", "check")) == 1, "the step before the fork point is not run again"
    assert kinds.index(("Forked", "")) < kinds.index(("StepStarted", "again"))


async def test_a_running_session_is_not_deleted(app: Sessions, flow: Path) -> None:
    started = await app.start(plan_run(str(flow)))
    sid = started.session_id
    await until(app, sid, waiting_at("check"))
    with pytest.raises(AppError, match=f"session {sid} is running; cancel it first or use --force") as refused:
        await app.removable([sid[:4]])
    assert refused.value.code == 3
    assert await app.removable([sid], force=True) == [sid]
    await started.finish("detached")
    assert await app.removable([sid]) == [sid]
    await app.delete(sid)
    assert await app.list_sessions() == []
    with pytest.raises(StoreError, match="no session"):
        await app.open(sid)


async def test_a_plan_is_checked_before_anything_is_recorded(app: Sessions, flow: Path, tmp_path: Path) -> None:
    problems = {
        "unknown input 'colour' (inputs: note, count)": {"inputs": ["colour=red"]},
        "input 'count': ": {"inputs": ["count=many"]},
        "input 'note' is not valid UTF-8 text": {"inputs": [os.fsdecode(b"note=caf\xe9")]},
        "--break nowhere: no step 'nowhere' in this workflow (steps: check, again)": {"breakpoints": ["nowhere"]},
        "--model 'fast': expected ALIAS=MODEL": {"models": ["fast"]},
    }
    for message, given in problems.items():
        with pytest.raises(InvalidInput) as refused:
            plan_run(str(flow), **given)  # type: ignore[arg-type]
        assert str(refused.value).startswith(message)
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    with pytest.raises(InvalidInput, match=f"^{fifo}: not a regular file$"):
        plan_run(str(fifo))
    assert await app.list_sessions() == []


async def test_the_home_screens_launcher_starts_resumes_and_deletes_through_the_layer(flow: Path) -> None:
    store = MemoryStore()
    launcher = Launcher(store, Path("unused.db"), runners=InProcessRunners())
    workflow = launcher.load(flow)
    assert check_inputs(workflow, {"count": "many"}) is not None
    assert check_inputs(workflow, {"note": "x", "count": ""}) is None
    sid = await launcher.start(workflow, {"note": "from home", "count": ""})
    await until(launcher.app, sid, waiting_at("check"))
    for _ in range(500):
        (entry,) = await launcher.sessions()
        if entry.row.status != "new":  # the projection follows the events a moment later
            break
        await asyncio.sleep(0.02)
    assert (entry.row.id, entry.status) == (sid, "waiting")
    with pytest.raises(SessionInUse):
        await launcher.resume(sid)
    with pytest.raises(AppError, match="is running; cancel it first"):
        await launcher.delete(sid)
    _, cp = await launcher.app.waiting_checkpoint(sid, "check")
    await launcher.app.decide(sid, decide(cp.checkpoint_id, "pause", by="ann"))
    await until(launcher.app, sid, lambda v: v.status == "paused")
    for _ in range(500):
        if not await store.runner_alive(sid):
            break
        await asyncio.sleep(0.02)
    await launcher.delete(sid)
    assert await launcher.sessions() == []
