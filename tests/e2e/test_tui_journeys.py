"""The real `baton` in a real terminal (tmux): the journeys a person takes through the full-screen UI.

Each test runs its own tmux server (a private socket), drives it with send-keys, reads it with
capture-pane, and checks the session store afterwards. The runner is the real background process.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT, baton_env

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
]
BATON = str(Path(sys.executable).parent / "baton")
REVIEWED = """
name: reviewed
state:
  ask: {type: str}
  draft: {type: str}
  final: {type: str}
inputs:
  ask: {default: "a status update"}
models:
  fast: {model: mock/fast, mock: {tokens_per_s: 40, min_tokens: 30, max_tokens: 30}}
steps:
  - {id: draft, kind: agent, model: fast, reads: [ask], writes: [draft], prompt: "Draft {ask}", review: always}
  - {id: polish, kind: agent, model: fast, reads: [draft], writes: [final], prompt: "Polish {draft}"}
"""
SLOW = """
name: slow-chain
state:
  q: {type: str}
  a: {type: str}
  b: {type: str}
  c: {type: str}
inputs:
  q: {default: "x"}
models:
  fast: {model: mock/fast, mock: {tokens_per_s: 25, min_tokens: 50, max_tokens: 50}}
steps:
  - {id: one, kind: agent, model: fast, reads: [q], writes: [a], prompt: "one {q}"}
  - {id: two, kind: agent, model: fast, reads: [a], writes: [b], prompt: "two {a}"}
  - {id: three, kind: agent, model: fast, reads: [b], writes: [c], prompt: "three {b}"}
"""


class Terminal:
    """One tmux server and session running a command; read with `screen()`, type with `keys()`."""

    def __init__(self, env: dict[str, str], width: int = 160, height: int = 45) -> None:
        self.socket = f"baton-test-{uuid.uuid4().hex[:8]}"
        self.env = {k: v for k, v in env.items() if k not in ("COLUMNS", "LINES")} | {"TERM": "xterm-256color"}
        self.width, self.height = width, height
        self.windows = 0

    def tmux(self, *args: str) -> str:
        result = subprocess.run(
            ["tmux", "-L", self.socket, *args], env=self.env, capture_output=True, text=True, timeout=30
        )
        if result.returncode != 0:
            raise AssertionError(f"tmux {args[0]} failed: {result.stderr}")
        return result.stdout

    def start(self, command: str, exit_file: Path) -> str:
        """Run `command` (a shell line) in a new window; its exit code goes to `exit_file`."""
        line = f"cd {ROOT} && {command}; echo $? > {exit_file}"
        name = f"w{self.windows}"
        self.windows += 1
        size = ("-x", str(self.width), "-y", str(self.height))
        self.tmux("new-session", "-d", "-s", name, *size, line)
        self.tmux("set-option", "-s", "escape-time", "0")
        return name

    def screen(self, window: str) -> str:
        return self.tmux("capture-pane", "-p", "-t", window)

    def keys(self, window: str, *keys: str) -> None:
        for key in keys:
            self.tmux("send-keys", "-t", window, key)
            time.sleep(0.3 if key == "Escape" else 0.05)  # a key right after Escape would read as Alt+key

    def type(self, window: str, text: str) -> None:
        self.tmux("send-keys", "-t", window, "-l", text)

    def wait(self, window: str, check: Callable[[str], bool] | str, timeout: float = 60.0) -> str:
        """Wait until the screen shows `check` (a string or a predicate)."""
        predicate = (lambda s: check in s) if isinstance(check, str) else check
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            try:
                text = self.screen(window)
            except AssertionError:
                text = ""
            if predicate(text):
                return text
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {check!r}; screen:\n{text}")

    def pane_pid(self, window: str) -> int:
        return int(self.tmux("display-message", "-p", "-t", window, "#{pane_pid}").strip())

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, timeout=30)


def _children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        text = (task / "children").read_text().split()
        out += [int(p) for p in text]
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def _wait_file(path: Path, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return path.read_text().strip()
        time.sleep(0.1)
    raise AssertionError(f"{path} never written")


def _sessions(db: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(db) as conn:
        return list(conn.execute("SELECT id, workflow FROM sessions ORDER BY created_at"))


def _ended(db: Path, session_id: str) -> str:
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT kind, payload FROM events WHERE session_id = ? AND kind IN "
            "('SessionCompleted', 'SessionFailed', 'SessionPaused') ORDER BY seq DESC LIMIT 1",
            (session_id,),
        ).fetchall()
    return rows[0][0] if rows else ""


def _wait_ended(db: Path, session_id: str, timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        kind = _ended(db, session_id)
        if kind:
            return kind
        time.sleep(0.2)
    raise AssertionError(f"session {session_id} did not end")


def _first_match(screen: str) -> str:
    """The command palette's first match, the one enter takes: the first line of text under its search line."""
    lines = [line.strip() for line in screen.splitlines()]
    search = next((i for i, line in enumerate(lines) if line.startswith("🔎")), len(lines))
    return next((line for line in lines[search + 1 :] if line), "")


@pytest.fixture
def terminal(private_home: Path, db_path: Path) -> Iterator[Terminal]:
    term = Terminal(baton_env(private_home, db_path))
    try:
        yield term
    finally:
        term.close()


def test_new_session_from_home_checkpoint_approve_done(terminal: Terminal, db_path: Path, tmp_path: Path) -> None:
    exit_file = tmp_path / "exit"
    w = terminal.start(BATON, exit_file)
    terminal.wait(w, "workflows")
    terminal.keys(w, "C-p")
    terminal.wait(w, "Search for commands")
    terminal.type(w, "new session: gate")
    terminal.wait(w, lambda s: _first_match(s) == "new session: sign-off (gate.yaml)")
    terminal.keys(w, "Enter")
    terminal.wait(w, "new session · sign-off")
    terminal.keys(w, "C-s")
    screen = terminal.wait(w, "Send this reply?", timeout=90)
    assert "checkpoint 1/1 · gate · approve_draft" in screen
    terminal.keys(w, "a")
    screen = terminal.wait(w, lambda s: "completed" in s.splitlines()[0], timeout=60)
    ((session_id, workflow),) = _sessions(db_path)
    assert session_id in screen.splitlines()[0] and workflow == "sign-off"
    terminal.keys(w, "q")
    terminal.wait(w, "workflows")
    terminal.wait(w, lambda s: session_id in s and "completed" in s)
    terminal.keys(w, "q")
    assert _wait_file(exit_file) == "0"
    assert _ended(db_path, session_id) == "SessionCompleted"


def test_detach_then_attach_and_finish(terminal: Terminal, db_path: Path, tmp_path: Path) -> None:
    flow = tmp_path / "reviewed.yaml"
    flow.write_text(REVIEWED)
    first = tmp_path / "exit1"
    # the window stays open after baton exits, to read what it leaves on the terminal
    w = terminal.start(f"{BATON} run {flow}; echo $? > {first}; sleep 60", tmp_path / "window1")
    terminal.wait(w, "checkpoint 1/1 · review · draft", timeout=90)
    terminal.keys(w, "Escape")
    terminal.wait(w, lambda s: "[a] approve" not in s and "1 waiting" in s.splitlines()[0])
    terminal.keys(w, "q")
    assert _wait_file(first) == "0", "detaching is not a failure"
    ((session_id, _),) = _sessions(db_path)
    terminal.wait(w, f"detached; the runner goes on — baton attach {session_id}", timeout=10)
    assert _ended(db_path, session_id) == "", "the runner keeps the session open"
    second = tmp_path / "exit2"
    w2 = terminal.start(f"{BATON} attach {session_id}; echo $? > {second}; sleep 60", tmp_path / "window2")
    terminal.wait(w2, "checkpoint 1/1 · review · draft", timeout=60)
    terminal.keys(w2, "a")
    terminal.wait(w2, lambda s: "completed" in s.splitlines()[0], timeout=60)
    terminal.keys(w2, "q")
    assert _wait_file(second) == "0"
    assert _ended(db_path, session_id) == "SessionCompleted"
    after = terminal.wait(w2, "at 1,000 runs: ~$", timeout=10)
    assert "completed · $" in after and "tokens in" in after, "the cost summary stays on the terminal"


def test_killing_the_viewer_leaves_the_runner_running(terminal: Terminal, db_path: Path, tmp_path: Path) -> None:
    flow = tmp_path / "slow.yaml"
    flow.write_text(SLOW)
    w = terminal.start(f"{BATON} run {flow}", tmp_path / "exit")
    terminal.wait(w, lambda s: "▶ one" in s or "▶ two" in s, timeout=90)
    shell = terminal.pane_pid(w)
    viewers = [p for p in _children(shell) if b"baton" in _cmdline(p)]
    assert len(viewers) == 1, "the viewer process"
    viewer = viewers[0]
    runners = [
        p for p in _all_pids() if b"baton.sessions.host_main" in _cmdline(p) and str(db_path).encode() in _cmdline(p)
    ]
    assert len(runners) == 1, "the runner host's process"
    os.kill(viewer, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while _alive(viewer) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(viewer)
    ((session_id, _),) = _sessions(db_path)
    assert _wait_ended(db_path, session_id) == "SessionCompleted"
    with sqlite3.connect(db_path) as conn:
        done = conn.execute(
            "SELECT COUNT(*) FROM events WHERE session_id = ? AND kind = 'StepCompleted'", (session_id,)
        ).fetchone()[0]
    assert done == 3
    deadline = time.monotonic() + 30
    while _alive(runners[0]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(runners[0]), "the host started on demand exits once idle (BATON_HOST_IDLE_EXIT)"


def _all_pids() -> list[int]:
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""
