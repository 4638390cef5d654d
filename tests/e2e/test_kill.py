"""The commit contract under SIGKILL: real runner processes killed at random moments, resumed to the end.

A 27-step workflow with two parallel fan-outs, a map and fourteen counted tool steps runs in
`python -m sessions.runner_main`; the test kills the process at random moments (the RNG seed is
printed; set BATON_KILL_SEED to replay one), resumes with a new runner process, and checks after
every kill and at the end:

- every step whose completion committed before a kill ran exactly once (external counter file: no
  process ever runs a step again after its completion committed, no process runs a step twice, and
  only killed processes lost a run);
- no committed event is lost or changed, sequence numbers are contiguous, `PRAGMA integrity_check`
  is ok, a state update is never committed without its step's completion;
- the final state and every step's output equal those of an uninterrupted run, and the projections
  equal the fold of the events.
"""

from __future__ import annotations

import json
import os
import random
import signal
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from baton.core.view import SessionView
from tests.conftest import baton_env
from tests.e2e.kill_flow import harness as h

KILLS = int(os.environ.get("BATON_KILL_TRIALS", "20"))
WORKERS = 2
SESSIONS_PER_WORKER = 3
MAX_KILLS_PER_SESSION = 4
DONE = ("completed", "degraded", "skipped")


def _check_log(c: h.Campaign, stored: list[h.Row], context: str) -> None:
    seqs = [r.seq for r in stored]
    assert seqs == list(range(1, len(seqs) + 1)), f"{context}: sequence numbers not contiguous: {seqs}"
    for earlier in c.snapshots:
        assert stored[: len(earlier)] == earlier, f"{context}: a committed event was lost or changed"
    ended = {r.step for r in stored if r.kind in ("StepCompleted", "StepSkipped")}
    for r in stored:
        if r.kind == "StateUpdated" and r.step:
            assert r.step in ended, f"{context}: state update of '{r.step}' committed without its completion"
    done = h.completions(stored)
    by_seq = {r.seq: r for r in stored}
    for path, seq in done.items():
        if path and by_seq.get(seq - 1) and by_seq[seq - 1].kind == "StateUpdated" and by_seq[seq - 1].step == path:
            assert by_seq[seq - 1].ts == by_seq[seq].ts, f"{context}: '{path}' state and completion in two commits"


def _drive(db: Path, env: dict[str, str], home: Path, c: h.Campaign, rng: random.Random, ref_wall: float) -> None:
    total_steps = 27
    while True:
        before = h.last_seq(db, c.session_id)
        proc = h.spawn(db, c.session_id, env)
        c.pids.append(proc.pid)
        kill_now = len(c.killed) < MAX_KILLS_PER_SESSION
        if not kill_now:
            rc = proc.wait(timeout=120)
            assert rc == 0, f"final runner exited {rc}: {proc.stderr.read().decode() if proc.stderr else ''}\n" + (
                h.log_tail(home, c.session_id)
            )
            return
        h.wait_for_seq(db, c.session_id, before, proc)
        done = len(h.completions(h.rows(db, c.session_id)))
        remaining = ref_wall * max(0.15, 1 - done / total_steps)
        delay = rng.uniform(0, 1.1 * remaining)
        c.delays.append(delay)
        try:
            proc.wait(timeout=delay)
        except Exception:
            pass
        if proc.poll() is not None:
            assert proc.returncode == 0, h.log_tail(home, c.session_id)
            c.finished_early += 1
            return
        os.kill(proc.pid, signal.SIGKILL)
        rc = proc.wait(timeout=30)
        if rc == 0:  # the runner finished between the poll and the kill
            c.finished_early += 1
            return
        assert rc == -signal.SIGKILL, h.log_tail(home, c.session_id)
        if proc.stderr:
            proc.stderr.close()
        c.killed.append(proc.pid)
        context = f"session {c.session_id}, kill {len(c.killed)} after {delay:.3f}s"
        assert h.integrity(db) == "ok", context
        stored = h.rows(db, c.session_id)
        _check_log(c, stored, context)
        c.snapshots.append(stored)
        c.counts_at_kill.append((set(h.completions(stored)), h.counter_lines(c.counter)))


def _check_final(db: Path, c: h.Campaign, ref_view: SessionView, ref_counts: dict[str, int]) -> None:
    stored = h.rows(db, c.session_id)
    context = f"session {c.session_id} (pids {c.pids}, killed {c.killed})"
    _check_log(c, stored, context)
    view = h.fold(c.session_id, stored)
    assert view.status == "completed", f"{context}: {view.status} {view.error}"

    # Which process committed each completion: SessionStarted is the first runner, SessionResumed names its pid.
    order = {pid: i for i, pid in enumerate(c.pids)}
    resumed = [r.event().pid for r in stored if r.kind == "SessionResumed"]  # type: ignore[attr-defined]
    assert resumed == c.pids[1:], f"{context}: runners recorded {resumed}"
    committer: dict[str, int] = {}
    current = c.pids[0]
    for r in stored:
        if r.kind == "SessionResumed":
            current = r.event().pid  # type: ignore[attr-defined]
        elif r.kind == "StepCompleted":
            assert r.step not in committer, f"{context}: '{r.step}' completed twice"
            committer[r.step] = current

    # Once a completion committed, nothing about that step happens again.
    done_at = h.completions(stored)
    for r in stored:
        if r.step in done_at and r.seq > done_at[r.step]:
            assert r.kind not in ("StepStarted", "LLMCallStarted", "ToolCallIntent", "StepOutput"), (
                f"{context}: '{r.step}' ran again after its completion (seq {done_at[r.step]}): {r.kind} at {r.seq}"
            )

    # The external counter: runs of each tool step, by process.
    lines = h.counter_lines(c.counter)
    runs: dict[str, list[int]] = {}
    for pid, path in lines:
        runs.setdefault(path, []).append(pid)
    assert set(runs) == set(ref_counts), f"{context}: counted steps differ: {sorted(runs)}"
    for path, pids in runs.items():
        owner = committer[path]
        assert pids.count(owner) == 1, f"{context}: '{path}' ran {pids.count(owner)}× in the committing runner"
        assert len(pids) == len(set(pids)), f"{context}: one runner ran '{path}' twice: {pids}"
        assert all(order[p] <= order[owner] for p in pids), f"{context}: '{path}' ran after it committed: {pids}"
        lost = [p for p in pids if p != owner]
        assert all(p in c.killed for p in lost), f"{context}: '{path}' re-ran though no runner was killed: {pids}"
    for committed, counted in c.counts_at_kill:
        for path in committed & set(runs):
            then = sum(1 for _, p in counted if p == path)
            assert len(runs[path]) == then, f"{context}: '{path}' committed before a kill, ran again after it"

    # Same result as an uninterrupted run.
    assert view.state == ref_view.state, f"{context}: final state differs"
    assert {p: s.status for p, s in view.steps.items()} == {p: s.status for p, s in ref_view.steps.items()}
    for path, step in ref_view.steps.items():
        assert view.steps[path].output == step.output, f"{context}: output of '{path}' differs"
        assert view.steps[path].writes == step.writes, f"{context}: writes of '{path}' differ"

    # Projections equal the fold (they are rebuilt after a crash).
    projected = dict(h.table(db, "SELECT path, status FROM steps WHERE session_id = ?", c.session_id))
    assert projected == {p: s.status for p, s in view.steps.items()}, f"{context}: steps projection is stale"
    state = dict(h.table(db, "SELECT key, value FROM state WHERE session_id = ?", c.session_id))
    assert {k: json.loads(v) for k, v in state.items()} == view.state
    ((status, last, projected_seq),) = h.table(
        db, "SELECT status, last_seq, projected_seq FROM sessions WHERE id = ?", c.session_id
    )
    assert (status, last, projected_seq) == ("completed", stored[-1].seq, stored[-1].seq)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_sigkill_at_random_moments_loses_nothing_and_never_reruns_committed_steps(
    tmp_path: Path, private_home: Path
) -> None:
    seed = int(os.environ.get("BATON_KILL_SEED", random.randrange(2**32)))
    print(f"kill test seed: {seed} (BATON_KILL_SEED={seed} replays the same kill delays)")
    db = tmp_path / "baton.db"
    base = baton_env(private_home, db)

    # An uninterrupted run of the same workflow, in a runner process of its own.
    ref_counter = tmp_path / "reference.counter"
    ref_id = h.create(db)
    proc = h.spawn(db, ref_id, h.env_with(base, DRILL_COUNTER=str(ref_counter)))
    assert proc.wait(timeout=120) == 0, h.log_tail(private_home, ref_id)
    ref_rows = h.rows(db, ref_id)
    ref_view = h.fold(ref_id, ref_rows)
    assert ref_view.status == "completed"
    assert len(ref_view.steps) >= 20 and sum(1 for s in ref_view.steps.values() if s.status == "completed") >= 20
    ref_counts: dict[str, int] = {}
    for _, path in h.counter_lines(ref_counter):
        ref_counts[path] = ref_counts.get(path, 0) + 1
    assert all(n == 1 for n in ref_counts.values()) and len(ref_counts) == 14, ref_counts
    ref_wall = ref_rows[-1].ts - ref_rows[0].ts

    campaigns: list[h.Campaign] = []

    def worker(index: int) -> list[h.Campaign]:
        rng = random.Random(seed * 31 + index)
        mine: list[h.Campaign] = []
        target = -(-KILLS // WORKERS)
        sessions = 0
        while sum(len(c.killed) for c in mine) < target or sessions < SESSIONS_PER_WORKER:
            sessions += 1
            assert sessions <= 4 * SESSIONS_PER_WORKER, "too many runs finished before their kill"
            counter = tmp_path / f"w{index}s{sessions}.counter"
            c = h.Campaign(h.create(db), counter)
            mine.append(c)
            _drive(db, h.env_with(base, DRILL_COUNTER=str(counter)), private_home, c, rng, ref_wall)
        return mine

    with ThreadPoolExecutor(WORKERS) as pool:
        for result in pool.map(worker, range(WORKERS)):
            campaigns += result

    kills = sum(len(c.killed) for c in campaigns)
    print(
        f"{kills} kills over {len(campaigns)} sessions, {sum(c.finished_early for c in campaigns)} runs finished"
        f" before their kill; delays {[round(d, 3) for c in campaigns for d in c.delays]}"
    )
    assert kills >= KILLS
    for c in campaigns:
        _check_final(db, c, ref_view, ref_counts)
    assert h.integrity(db) == "ok"
