"""Crash safety of checkpoints: real runner processes killed with SIGKILL.

- Killed while a checkpoint waits: `baton resume` shows the very same checkpoint (same id, same output) and
  the step is not run again (call counts in the recorded events).
- Killed between "decision persisted" and "decision applied": the decision is applied exactly once by the
  next runner, never asked again and never applied twice.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from baton.core import events as ev
from baton.sessions.store import Store
from tests.conftest import ROOT
from tests.core.hitl_support import AGENT, MODELS
from tests.core.test_hitl_steps import PARALLEL
from tests.e2e.hitl_e2e import (
    Terminal,
    baton_argv,
    env_for,
    live_calls,
    of_kind,
    runner_pid,
    session_events,
    write_flow,
)

pytestmark = pytest.mark.slow

SLOW_MODELS = """
models:
  fast: {model: mock/fast, mock: {min_tokens: 8, max_tokens: 16, latency_s: 2.0}}
  strong: {model: mock/strong, mock: {min_tokens: 8, max_tokens: 16}}
"""


def _baton(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*baton_argv(), *args], env=env, capture_output=True, text=True, timeout=timeout)


def _detach(env: dict[str, str], flow: Path) -> str:
    done = _baton(env, "run", str(flow), "--detach")
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def _wait(
    db: Path, session_id: str, holds: Callable[[list[ev.Envelope]], bool], timeout: float = 60
) -> list[ev.Envelope]:
    deadline = time.monotonic() + timeout
    while True:
        log = session_events(db, session_id)
        if holds(log):
            return log
        if time.monotonic() > deadline:
            kinds = [f"{e.event.kind}:{e.event.step}" for e in log]
            raise AssertionError(f"timed out; events so far: {kinds}")
        time.sleep(0.05)


def _sigkill_runner(db: Path, session_id: str) -> None:
    pid = runner_pid(db, session_id)
    assert pid is not None and pid != os.getpid()
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while runner_pid(db, session_id) is not None:
        assert time.monotonic() < deadline, "the killed runner still holds the session"
        time.sleep(0.05)


def _opened(log: list[ev.Envelope], step: str) -> list[ev.CheckpointOpened]:
    return of_kind(log, ev.CheckpointOpened, step)


def test_sigkill_while_a_checkpoint_waits_then_resume_shows_it(tmp_path: Path, private_home: Path, db: Path) -> None:
    env = env_for(private_home, db)
    session_id = _detach(env, write_flow(tmp_path, AGENT))
    log = _wait(db, session_id, lambda log: bool(_opened(log, "write")))
    checkpoint = _opened(log, "write")[0]
    _sigkill_runner(db, session_id)
    killed = session_events(db, session_id)
    assert not of_kind(killed, ev.SessionPaused) and not of_kind(killed, ev.SessionCompleted)

    t = Terminal(["resume", session_id, "--line"], env)
    try:
        screen = t.expect(r"decision>")
        assert "review · write" in screen and checkpoint.output.splitlines()[0] in screen
        t.line("a")
        t.expect(r"✎ write: approve by tester")
        assert t.wait_exit() == 0
    finally:
        t.close()
    log = session_events(db, session_id)
    assert [o.checkpoint_id for o in _opened(log, "write")] == ["write:review:1"]
    assert len(live_calls(log, "write")) == 1
    assert len(of_kind(log, ev.LLMCallStarted, "write")) == 1
    assert [d.decision for d in of_kind(log, ev.DecisionMade, "write")] == ["approve"]
    assert len(of_kind(log, ev.SessionResumed)) == 1
    completed = of_kind(log, ev.StepCompleted, "write")
    assert len(completed) == 1 and completed[0].output == checkpoint.output


def test_sigkill_with_a_branch_waiting_keeps_the_finished_branches(
    tmp_path: Path, private_home: Path, db: Path
) -> None:
    env = env_for(private_home, db)
    session_id = _detach(env, write_flow(tmp_path, PARALLEL))

    def others_done(log: list[ev.Envelope]) -> bool:
        ended = {e.event.step for e in log if isinstance(e.event, ev.StepCompleted)}
        return bool(_opened(log, "views/slow")) and {"views/pro", "views/con"} <= ended

    checkpoint = _opened(_wait(db, session_id, others_done), "views/slow")[0]
    _sigkill_runner(db, session_id)
    done = _baton(env, "resume", session_id, "--detach")
    assert done.returncode == 0, done.stderr
    _wait(db, session_id, lambda log: len(of_kind(log, ev.SessionResumed)) == 1)
    decided = _baton(env, "decide", session_id, "views/slow", "approve")
    assert decided.returncode == 0, decided.stderr
    assert decided.stdout.strip() == f"approve: {checkpoint.checkpoint_id}"
    log = _wait(db, session_id, lambda log: bool(of_kind(log, ev.SessionCompleted)))
    for branch in ("views/slow", "views/pro", "views/con"):
        assert len(live_calls(log, branch)) == 1, branch
        assert len(of_kind(log, ev.StepCompleted, branch)) == 1, branch
    assert len(_opened(log, "views/slow")) == 1


def test_sigkill_after_a_rejection_is_persisted_reruns_exactly_once(
    tmp_path: Path, private_home: Path, db: Path
) -> None:
    env = env_for(private_home, db)
    flow = write_flow(tmp_path, AGENT.replace(MODELS, SLOW_MODELS))
    session_id = _detach(env, flow)
    _wait(db, session_id, lambda log: bool(_opened(log, "write")))
    pid = runner_pid(db, session_id)
    assert pid is not None
    decide = subprocess.Popen(
        [*baton_argv(), "decide", session_id, "write", "reject", "--feedback", "Cite the tide tables."],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait(db, session_id, lambda log: bool(of_kind(log, ev.DecisionMade, "write")), timeout=30)
        os.kill(pid, signal.SIGKILL)
    finally:
        decide.wait(timeout=30)
    while runner_pid(db, session_id) is not None:
        time.sleep(0.05)
    killed = session_events(db, session_id)
    assert [d.decision for d in of_kind(killed, ev.DecisionMade, "write")] == ["reject"]
    assert [o.round for o in _opened(killed, "write")] == [1], "the rejection was acted on before the kill"
    assert len(live_calls(killed, "write")) == 1

    done = _baton(env, "resume", session_id, "--detach")
    assert done.returncode == 0, done.stderr
    log = _wait(db, session_id, lambda log: len(_opened(log, "write")) == 2)
    assert [o.checkpoint_id for o in _opened(log, "write")] == ["write:review:1", "write:review:2"]
    decided = _baton(env, "decide", session_id, "write", "approve")
    assert decided.returncode == 0, decided.stderr
    log = _wait(db, session_id, lambda log: bool(of_kind(log, ev.SessionCompleted)))
    assert [(d.decision, d.feedback) for d in of_kind(log, ev.DecisionMade, "write")] == [
        ("reject", "Cite the tide tables."),
        ("approve", ""),
    ]
    calls = live_calls(log, "write")
    assert len(calls) == 2
    assert "## Reviewer feedback (round 1)\n\nCite the tide tables." in calls[1].request["messages"][-1]["content"]
    assert len(of_kind(log, ev.StepCompleted, "write")) == 1


def test_a_decision_persisted_before_the_kill_is_applied_once_by_the_next_runner(
    tmp_path: Path, private_home: Path, db: Path
) -> None:
    env = env_for(private_home, db)
    session_id = _detach(env, write_flow(tmp_path, AGENT))
    checkpoint = _opened(_wait(db, session_id, lambda log: bool(_opened(log, "write"))), "write")[0]
    _sigkill_runner(db, session_id)

    async def persist_decision() -> None:
        store = await Store.open(db)
        try:
            made = ev.DecisionMade(
                step="write", checkpoint_id=checkpoint.checkpoint_id, decision="approve", by="tester"
            )
            await store.append(session_id, await store.last_seq(session_id) + 1, [made])
        finally:
            await store.close()

    asyncio.run(persist_decision())
    runner = subprocess.run(
        [sys.executable, "-m", "baton.sessions.runner_main", "--db", str(db), "--session", session_id],
        env=env,
        cwd=ROOT,
        capture_output=True,
        timeout=120,
    )
    assert runner.returncode == 0, runner.stderr
    log = session_events(db, session_id)
    assert of_kind(log, ev.SessionCompleted)
    assert len(of_kind(log, ev.DecisionMade, "write")) == 1
    assert len(_opened(log, "write")) == 1
    assert len(of_kind(log, ev.StepCompleted, "write")) == 1
    assert len(live_calls(log, "write")) == 1
    completed = of_kind(log, ev.StepCompleted, "write")[0]
    assert completed.output == checkpoint.output and completed.note == "approve by tester"
