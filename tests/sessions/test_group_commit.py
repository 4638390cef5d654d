"""Group commit: branches of a fan-out that finish in the same tick share one transaction, and each is
durable before anything acts on it.

The runner's writer takes everything handed to it since its last transaction as one batch, so a fan-out
of quick branches costs one commit, not one per branch. These tests hold it to the promise that comes
with it: a batch is on disk before any of its branches is told it committed (another connection sees
every completion; a runner killed with SIGKILL once a branch's next step has started loses none of
them, and a new runner never runs them again), and a branch that finishes later does not hold back
the ones that finished first.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path

from baton.core import events as ev
from baton.core.llm.gateway import LiteLLMGateway
from baton.core.runner import RunOptions
from baton.core.spec.load import load_workflow
from baton.sessions.create import create_session
from baton.sessions.host import SessionHost
from baton.sessions.store import Store
from tests.conftest import baton_env
from tests.e2e.kill_flow import harness as h
from tests.helpers import wait_for

BRANCHES = 24

TOOLS = '''
import asyncio
import os


async def quick(i: int) -> str:
    """Returns at once."""
    return f"b{i}"


async def slow(flag: str) -> str:
    """Returns once the file `flag` exists."""
    while not os.path.exists(flag):
        await asyncio.sleep(0.005)
    return "slow"


def _count(path: str) -> None:
    fd = os.open(os.environ["GROUP_COUNTER"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, f"{os.getpid()} {path}\\n".encode())
    finally:
        os.close(fd)


async def work(path: str) -> str:
    """Counts this run of the step at `path` (an effect outside the session's record)."""
    _count(path)
    return path


async def after(path: str, release: str) -> str:
    """Counts this run, then waits until the file `release` exists."""
    _count(path)
    while not os.path.exists(release):
        await asyncio.sleep(0.005)
    return path
'''


class CountingStore(Store):
    """The real SQLite store, remembering the kinds and steps of each batch it appends."""

    batches: list[list[tuple[str, str]]]

    async def append(
        self,
        session_id: str,
        first_seq: int,
        events: Sequence[ev.Event],
        command_ids: Sequence[int] = (),
        deltas: Sequence[tuple[str, str, str]] = (),
    ) -> list[ev.Envelope]:
        envelopes = await super().append(session_id, first_seq, events, command_ids, deltas)
        self.batches.append([(e.kind, e.step) for e in events])
        return envelopes


def _flow(folder: Path, branches: list[str], tail: str = "") -> Path:
    (folder / "group_tools.py").write_text(TOOLS, encoding="utf-8")
    lines = [
        "name: group-commit",
        "state:",
        "  parts: {type: 'list[str]', reducer: append}",
        "  last: {type: str}",
        "steps:",
        "  - id: fan",
        "    kind: parallel",
        "    branches:",
        *[f"      - {b}" for b in branches],
        "  - {id: join, kind: tool, call: 'group_tools:quick', side_effects: false, args: {i: 0}, writes: [last]}",
        tail,
    ]
    path = folder / "flow.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _quick(i: int) -> str:
    call = "call: 'group_tools:quick', side_effects: false"
    return f"{{id: b{i}, kind: tool, {call}, args: {{i: {i}}}, writes: [parts]}}"


def _stored(db: Path, session_id: str, kind: str) -> set[str]:
    conn = sqlite3.connect(str(db))
    try:
        rows = conn.execute("SELECT step FROM events WHERE session_id = ? AND kind = ?", (session_id, kind))
        return {r[0] for r in rows}
    finally:
        conn.close()


async def _until(check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def _open(db: Path) -> CountingStore:
    store = await CountingStore.open(db)
    store.batches = []
    return store


async def test_branches_that_finish_in_one_tick_share_one_commit(tmp_path: Path) -> None:
    db = tmp_path / "baton.db"
    wf = load_workflow(_flow(tmp_path, [_quick(i) for i in range(BRANCHES)]))
    store = await _open(db)
    try:
        sid = await create_session(store, wf, options=RunOptions(auto="approve"))
        host = SessionHost(store, sid, llm=LiteLLMGateway(), options=RunOptions(auto="approve"), workflow=wf)
        assert await host.run() == "completed"
        branches = {f"fan/b{i}" for i in range(BRANCHES)}
        carrying = [b for b in store.batches if any(k == "StepCompleted" and s in branches for k, s in b)]
        assert len(carrying) == 1, f"branch completions spread over {len(carrying)} commits"
        (batch,) = carrying
        assert {s for k, s in batch if k == "StepCompleted"} == branches
        # Each branch's start rides in the same transaction as the completions.
        assert branches <= {s for k, s in batch if k == "StepStarted"}
        # The whole session: start, the branches (the fan-out's own start may go ahead of them when the
        # writer's timer fires just then), the fan-in, the join, the end.
        assert len(store.batches) <= 6, store.batches
        # Durable: another connection reads every completion.
        assert _stored(db, sid, "StepCompleted") >= branches | {"fan", "join"}
    finally:
        await store.close()


async def test_a_later_branch_does_not_hold_back_the_ones_that_finished(tmp_path: Path) -> None:
    db = tmp_path / "baton.db"
    flag = tmp_path / "go"
    call = "call: 'group_tools:slow', side_effects: false"
    slow = f"{{id: late, kind: tool, {call}, args: {{flag: '{flag}'}}, writes: [parts]}}"
    wf = load_workflow(_flow(tmp_path, [_quick(i) for i in range(8)] + [slow]))
    store = await _open(db)
    try:
        sid = await create_session(store, wf, options=RunOptions(auto="approve"))
        host = SessionHost(store, sid, llm=LiteLLMGateway(), options=RunOptions(auto="approve"), workflow=wf)
        run = asyncio.ensure_future(host.run())
        quick = {f"fan/b{i}" for i in range(8)}
        await _until(lambda: quick <= _stored(db, sid, "StepCompleted") or run.done())
        assert quick <= _stored(db, sid, "StepCompleted")
        assert "fan/late" not in _stored(db, sid, "StepCompleted")
        assert not run.done()
        flag.touch()
        assert await asyncio.wait_for(run, 30) == "completed"
        assert _stored(db, sid, "StepCompleted") >= quick | {"fan/late", "fan", "join"}
    finally:
        await store.close()


def _counts(counter: Path) -> dict[str, list[int]]:
    runs: dict[str, list[int]] = {}
    for pid, path in h.counter_lines(counter):
        runs.setdefault(path, []).append(pid)
    return runs


def test_sigkill_after_a_branch_completion_is_acknowledged_never_loses_it(tmp_path: Path, private_home: Path) -> None:
    """Each branch is a `work` step, then an `after` step that starts only once the first one's completion is
    acknowledged. With every `after` started, the runner is killed: every `work` completion is on disk, and
    the next runner runs none of them again."""
    db = tmp_path / "baton.db"
    counter, release = tmp_path / "counter", tmp_path / "release"
    count = 12
    branches = [
        f"{{id: b{i}, kind: sequence, steps: ["
        f"{{id: w{i}, kind: tool, call: 'group_tools:work', side_effects: false, args: {{path: fan/b{i}/w{i}}},"
        f" writes: [parts]}}, "
        f"{{id: a{i}, kind: tool, call: 'group_tools:after', side_effects: false,"
        f" args: {{path: fan/b{i}/a{i}, release: '{release}'}}, writes: [parts]}}]}}"
        for i in range(count)
    ]
    sid = h.create(db, _flow(tmp_path, branches))
    env = h.env_with(baton_env(private_home, db), GROUP_COUNTER=str(counter))
    work = {f"fan/b{i}/w{i}" for i in range(count)}
    after = {f"fan/b{i}/a{i}" for i in range(count)}

    first = h.spawn(db, sid, env)
    try:
        wait_for(lambda: after <= set(_counts(counter)) or first.poll() is not None, "every branch's next step", 60)
        assert first.poll() is None, h.log_tail(private_home, sid)
    finally:
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=30)
        if first.stderr:
            first.stderr.close()
    assert first.returncode == -signal.SIGKILL
    assert h.integrity(db) == "ok"
    assert work <= _stored(db, sid, "StepCompleted"), "a completion acknowledged before the kill was lost"
    assert not after & _stored(db, sid, "StepCompleted")

    release.touch()
    second = h.spawn(db, sid, env)
    assert second.wait(timeout=120) == 0, h.log_tail(private_home, sid)
    if second.stderr:
        second.stderr.close()
    assert h.fold(sid, h.rows(db, sid)).status == "completed"
    runs = _counts(counter)
    for path in work:
        assert runs[path] == [first.pid], f"'{path}' ran again after its completion committed: {runs[path]}"
    for path in after:
        assert runs[path] == [first.pid, second.pid], runs[path]
