"""Tools that misbehave, through the real `baton` command and a background runner process per session
(`BATON_HOST=off`: these tests watch that process; a runner host's own isolation is tested in
`tests/sessions/test_runner_host.py`).

- A tool returning what JSON cannot hold (a set, bytes, an object) fails its step with the type named;
  the session fails cleanly (no lost runner) or a person supplies the result.
- A tool that never returns: its timeout fails the session and the runner process exits; a runner stuck
  in such a tool ends on SIGTERM.
- A side-effecting call left ambiguous by a crash, in a session started with `--auto approve`: a person's
  `baton decide`, queued while no runner holds the session, is applied by `baton resume`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from baton.core import events as ev
from tests.conftest import baton_env
from tests.e2e.hitl_e2e import baton_argv, of_kind, session_events, write_flow

pytestmark = pytest.mark.slow


def _env(home: Path, db: Path) -> dict[str, str]:
    return {**baton_env(home, db), "BATON_HOST": "off"}

TOOLS = '''
import os
import signal
import threading
import time
from pathlib import Path


class Receipt:
    pass


def a_set():
    return {"a", "b"}


def raw_bytes():
    return b"\\x00\\x01"


def an_object():
    return Receipt()


def never_returns():
    threading.Event().wait()


def send_once(to: str) -> str:
    """Sends; the first time, the runner dies while it is sending (its result is never recorded)."""
    marker = Path(__file__).with_name("sent.log")
    with marker.open("a", encoding="utf-8") as out:
        out.write(to + "\\n")
    if len(marker.read_text(encoding="utf-8").splitlines()) == 1:
        os.kill(os.getpid(), signal.SIGKILL)
    return f"sent to {to}"
'''


def _flow(tmp_path: Path, call: str, *, side_effects: bool = False, timeout_s: int | None = None) -> Path:
    (tmp_path / "flaky_tools.py").write_text(TOOLS, encoding="utf-8")
    args = "{to: ana}" if call == "send_once" else "{}"
    limit = f"\n    timeout_s: {timeout_s}" if timeout_s else ""
    text = (
        "name: tool-failure\n"
        "state:\n"
        "  out: {type: str}\n"
        "steps:\n"
        "  - id: t\n"
        "    kind: tool\n"
        f'    call: "flaky_tools:{call}"\n'
        f"    side_effects: {str(side_effects).lower()}\n"
        f"    review: never{limit}\n"
        f"    args: {args}\n"
        "    writes: [out]\n"
    )
    return write_flow(tmp_path, text)


def _baton(env: dict[str, str], *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*baton_argv(), *args], env=env, capture_output=True, text=True, timeout=timeout)


def _lines(stdout: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def runner_processes(session_id: str) -> list[int]:
    """Pids of every live runner process of a session (whether or not it still holds the lease)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[-1].split()[0]
        except OSError:
            continue
        if state != "Z" and b"baton.sessions.runner_main" in argv and session_id.encode() in argv:
            pids.append(int(entry.name))
    return pids


def wait_until_gone(session_id: str, deadline_s: float = 30) -> list[int]:
    """Wait for every runner of the session to exit; returns the ones still alive at the deadline."""
    deadline = time.monotonic() + deadline_s
    while (alive := runner_processes(session_id)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return alive


@pytest.fixture
def cleanup() -> Iterator[list[str]]:
    """Sessions whose runners must not outlive the test, whatever it asserted."""
    sessions: list[str] = []
    yield sessions
    for session_id in sessions:
        for pid in runner_processes(session_id):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize(
    ("call", "what"), [("a_set", "a set"), ("raw_bytes", "bytes"), ("an_object", "a Receipt object")]
)
def test_a_result_json_cannot_hold_fails_the_step_not_the_runner(
    tmp_path: Path, db: Path, call: str, what: str, cleanup: list[str]
) -> None:
    env = _env(tmp_path, db)
    done = _baton(env, "run", str(_flow(tmp_path, call)), "--auto", "approve", "--json")
    lines = _lines(done.stdout)
    session_id = str(lines[0]["session_id"])
    cleanup.append(session_id)
    assert done.returncode == 1, done.stderr
    assert lines[-1]["kind"] == "SessionFailed", lines[-1]
    assert lines[-1]["error"] == f"tool 'flaky_tools:{call}' at 't' returned {what}, which cannot be stored as JSON"
    assert lines[-1]["error_type"] == "tool_error"
    assert not [line for line in lines if line["kind"] == "RunnerLost"]
    log = session_events(db, session_id)
    (finished,) = of_kind(log, ev.ToolCallFinished)
    assert not finished.ok and what in finished.error
    assert wait_until_gone(session_id) == []


def test_a_person_supplies_the_result_a_tool_could_not_store(tmp_path: Path, db: Path, cleanup: list[str]) -> None:
    env = _env(tmp_path, db)
    answers = tmp_path / "answers.json"
    answers.write_text(json.dumps({"t": {"decision": "edit", "edited": "by hand"}}), encoding="utf-8")
    done = _baton(env, "run", str(_flow(tmp_path, "a_set")), "--decisions", str(answers), "--json")
    lines = _lines(done.stdout)
    cleanup.append(str(lines[0]["session_id"]))
    assert done.returncode == 0, (done.stdout[-2000:], done.stderr)
    opened = [line for line in lines if line["kind"] == "CheckpointOpened"]
    assert opened and opened[0]["message"] == "tool 'flaky_tools:a_set' returned a set, which cannot be stored as JSON"
    assert lines[-1]["kind"] == "SessionCompleted"


def test_a_tool_that_never_returns_times_out_and_its_runner_exits(tmp_path: Path, db: Path, cleanup: list[str]) -> None:
    env = _env(tmp_path, db)
    done = _baton(env, "run", str(_flow(tmp_path, "never_returns", timeout_s=3)), "--auto", "approve", "--json")
    lines = _lines(done.stdout)
    session_id = str(lines[0]["session_id"])
    cleanup.append(session_id)
    assert done.returncode == 1, done.stderr
    assert lines[-1]["kind"] == "SessionFailed"
    assert lines[-1]["error"] == "tool 'flaky_tools:never_returns' at 't' timed out after 3s"
    assert wait_until_gone(session_id) == [], "the runner process outlived its session"
    again = _baton(env, "resume", session_id, "--json")
    assert again.returncode == 1 and _lines(again.stdout)[-1]["kind"] == "SessionFailed"
    assert wait_until_gone(session_id) == [], "a resumed runner outlived its session"


def test_sigterm_ends_a_runner_stuck_in_a_tool(tmp_path: Path, db: Path, cleanup: list[str]) -> None:
    env = _env(tmp_path, db)
    started = _baton(env, "run", str(_flow(tmp_path, "never_returns")), "--auto", "approve", "--detach")
    assert started.returncode == 0, started.stderr
    session_id = started.stdout.strip().splitlines()[-1]
    cleanup.append(session_id)
    deadline = time.monotonic() + 60
    while not of_kind(session_events(db, session_id), ev.StepStarted, "t"):
        assert time.monotonic() < deadline, "the tool step never started"
        time.sleep(0.1)
    (pid,) = runner_processes(session_id)
    os.kill(pid, signal.SIGTERM)
    assert wait_until_gone(session_id) == [], "SIGTERM did not end a runner stuck in a tool"
    log = session_events(db, session_id)
    (paused,) = of_kind(log, ev.SessionPaused)
    assert paused.reason == "cancelled: SIGTERM"
    assert [c.step for c in of_kind(log, ev.StepCancelled)] == ["t"]


def test_a_queued_decision_on_an_ambiguous_call_is_applied_on_resume(
    tmp_path: Path, db: Path, cleanup: list[str]
) -> None:
    env = _env(tmp_path, db)
    flow = _flow(tmp_path, "send_once", side_effects=True)
    crashed = _baton(env, "run", str(flow), "--auto", "approve", "--json")
    session_id = str(_lines(crashed.stdout)[0]["session_id"])
    cleanup.append(session_id)
    assert wait_until_gone(session_id) == []
    log = session_events(db, session_id)
    assert of_kind(log, ev.ToolCallIntent) and not of_kind(log, ev.ToolCallFinished), "killed mid-call"

    paused = _baton(env, "resume", session_id, "--json")
    assert paused.returncode == 4, (paused.stdout[-2000:], paused.stderr)
    assert "may or may not have run: a person must decide" in _lines(paused.stdout)[-1]["reason"]  # type: ignore[operator]

    queued = _baton(env, "decide", session_id, "t", "approve")
    assert queued.returncode == 0 and "queued" in queued.stdout, (queued.stdout, queued.stderr)

    resumed = _baton(env, "resume", session_id, "--json")
    assert resumed.returncode == 0, (resumed.stdout[-3000:], resumed.stderr)
    lines = _lines(resumed.stdout)
    assert lines[-1]["kind"] == "SessionCompleted"
    log = session_events(db, session_id)
    (decision,) = of_kind(log, ev.DecisionMade, "t")
    assert (decision.checkpoint_id, decision.decision, decision.by) == ("t:ambiguous:1", "approve", "tester")
    assert decision.command_id > 0, "the queued command was applied"
    assert (tmp_path / "sent.log").read_text(encoding="utf-8").splitlines() == ["ana", "ana"], "run again, once"
    assert wait_until_gone(session_id) == []
