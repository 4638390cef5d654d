"""A cancelled or killed run, resumed with the real `baton resume`, does not re-run completed steps.

The crash-drill workflow counts every run of its tool steps in an external file, so a re-run is seen
even where the session's own log would not show it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.e2e.kill_flow import harness as h
from tests.e2e.test_cli_commands import Baton, events_of

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture
def drill(private_home: Path, db_path: Path, tmp_path: Path) -> Baton:
    work = tmp_path / "work"
    work.mkdir()
    return Baton(private_home, db_path, work, DRILL_COUNTER=str(tmp_path / "counter"))


def _wait_completed(db: Path, sid: str, count: int, timeout: float = 90) -> list[h.Row]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stored = h.rows(db, sid)
        if sum(1 for r in stored if r.kind == "StepCompleted") >= count:
            return stored
        time.sleep(0.01)
    raise AssertionError(f"fewer than {count} steps completed within {timeout}s")


def _check_no_rerun(db: Path, sid: str, before: list[h.Row], counter: Path, counted: list[tuple[int, str]]) -> None:
    after = h.rows(db, sid)
    assert after[: len(before)] == before, "a committed event was lost"
    assert [r.seq for r in after] == list(range(1, len(after) + 1))
    done = h.completions(before)
    assert done, "nothing had completed before the interruption"
    for r in after[len(before) :]:
        if r.step in done:
            assert r.kind not in ("StepStarted", "LLMCallStarted", "StepCompleted"), f"'{r.step}' ran again: {r.kind}"
    runs: dict[str, int] = {}
    for _, path in h.counter_lines(counter):
        runs[path] = runs.get(path, 0) + 1
    for path in done:
        if path in runs:
            assert runs[path] == sum(1 for _, p in counted if p == path) == 1, f"tool step '{path}' ran again"
    assert len(runs) == 14 and all(n >= 1 for n in runs.values())
    assert h.fold(sid, after).status == "completed"
    assert h.integrity(db) == "ok"


def test_a_killed_run_resumes_without_rerunning_completed_steps(drill: Baton, db_path: Path) -> None:
    started = drill("run", str(h.FLOW), "--auto", "approve", "--detach")
    assert started.returncode == 0, started.stderr
    sid = started.stdout.strip().splitlines()[-1]
    _wait_completed(db_path, sid, 5)
    (pid,) = h.table(db_path, "SELECT pid FROM leases WHERE session_id = ?", sid)[0]
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while h.table(db_path, "SELECT 1 FROM leases WHERE session_id = ?", sid) and time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    before = h.rows(db_path, sid)
    counted = h.counter_lines(Path(drill.env["DRILL_COUNTER"]))
    listed = {s["session_id"]: s for s in map(json.loads, drill("sessions", "--json").stdout.splitlines())}
    assert listed[sid]["status"] == "interrupted"

    resumed = drill("resume", sid, "--json")
    assert resumed.returncode == 0, resumed.stderr
    lines = events_of(resumed.stdout)
    assert lines[-1]["kind"] == "SessionCompleted"
    assert any(x["kind"] == "SessionResumed" for x in lines)
    _check_no_rerun(db_path, sid, before, Path(drill.env["DRILL_COUNTER"]), counted)


def test_a_cancelled_run_resumes_without_rerunning_completed_steps(drill: Baton, db_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "baton.tui.cli", "run", str(h.FLOW), "--auto", "approve", "--json"],
        cwd=drill.cwd,
        env={**drill.env, "PYTHONPATH": str(ROOT)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdin is not None and proc.stdout is not None
    completed = 0
    lines = []
    for raw in proc.stdout:
        lines.append(json.loads(raw))
        completed += lines[-1]["kind"] == "StepCompleted"
        if completed == 6:
            proc.stdin.write(json.dumps({"kind": "cancel"}) + "\n")
            proc.stdin.flush()
            break
    rest, err = proc.communicate(timeout=60)
    lines += [json.loads(raw) for raw in rest.splitlines()]
    assert proc.returncode == 4, err
    results = [x for x in lines if x["kind"] == "CommandResult"]
    assert results and results[0]["status"] == "done", results
    paused = [x for x in lines if x["kind"] == "SessionPaused"]
    assert paused and paused[-1]["reason"].startswith("cancelled by"), paused
    sid = lines[0]["session_id"]

    deadline = time.monotonic() + 30
    while h.table(db_path, "SELECT 1 FROM leases WHERE session_id = ?", sid) and time.monotonic() < deadline:
        time.sleep(0.05)
    before = h.rows(db_path, sid)
    counted = h.counter_lines(Path(drill.env["DRILL_COUNTER"]))
    assert drill("show", sid, "--json").returncode == 0
    resumed = drill("resume", sid, "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert events_of(resumed.stdout)[-1]["kind"] == "SessionCompleted"
    _check_no_rerun(db_path, sid, before, Path(drill.env["DRILL_COUNTER"]), counted)
