"""How quickly a person sees a checkpoint, and how quickly the runner acts on their key press.

    python bench/checkpoint_latency.py [--checkpoints 20] [--runs 1]

A workflow of N agent steps, each with `review: always`, runs in a real background runner process
(`baton run --detach`); a real line-mode viewer (`baton attach ID --line`) runs in a pseudo-terminal
(pexpect) and this script types its keys. For every checkpoint it measures:

- open → visible: from the runner's `CheckpointOpened` commit (the event's timestamp) to the moment the
  viewer's `decision>` prompt for that checkpoint arrives on the terminal;
- key → acted: from sending `a` + Enter to the runner's `DecisionMade` commit (that event's timestamp).

Both clocks are this machine's wall clock. Prints the median, p90, min and max of each, in ms; the target
is ≤ 100 ms median for each. Numbers on a shared machine are noisy.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pexpect

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from baton.core import events as ev  # noqa: E402

ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[()][A-Za-z0-9]|\x1b[=>]|\r")
TARGET_MS = 100.0


def workflow(steps: int) -> str:
    """N agents in a row, each reviewed; the offline model answers at once."""
    lines = [
        "name: checkpoint-latency",
        "state:",
        "  topic: {type: str}",
        *[f"  out{i}: {{type: str}}" for i in range(steps)],
        "inputs:",
        "  topic: {default: latency}",
        "models:",
        "  fast: {model: mock/fast, mock: {min_tokens: 8, max_tokens: 12}}",
        "steps:",
    ]
    for i in range(steps):
        lines += [
            f"  - id: step{i}",
            "    kind: agent",
            "    model: fast",
            "    reads: [topic]",
            f"    writes: [out{i}]",
            f'    prompt: "Note {i} on {{topic}}"',
            "    review: always",
        ]
    return "\n".join(lines) + "\n"


def baton() -> list[str]:
    """The installed command, else the module."""
    script = ROOT / ".venv" / "bin" / "baton"
    return [str(script)] if script.exists() else [sys.executable, "-m", "baton.tui.cli"]


def stamps(db: sqlite3.Connection, session_id: str, kind: type[ev.Event]) -> dict[str, float]:
    """Step → timestamp of the first event of `kind` there (read-only, straight from the file)."""
    rows = db.execute(
        "SELECT step, ts FROM events WHERE session_id = ? AND kind = ? ORDER BY seq", (session_id, kind.kind)
    ).fetchall()
    out: dict[str, float] = {}
    for step, ts in rows:
        out.setdefault(str(step), float(ts))
    return out


def command_stamp(db: sqlite3.Connection, session_id: str, after: float) -> float | None:
    """When the viewer wrote its first command after `after` (the commands table's own timestamp)."""
    row = db.execute("SELECT MIN(ts) FROM commands WHERE session_id = ? AND ts >= ?", (session_id, after)).fetchone()
    return float(row[0]) if row and row[0] is not None else None


class Screen:
    """The viewer's terminal, read as it arrives; remembers when each pattern first appeared."""

    def __init__(self, child: pexpect.spawn) -> None:
        self.child = child
        self.text = ""

    def wait(self, pattern: str, timeout: float = 60.0) -> float:
        """Block until `pattern` shows after what was already consumed; returns the arrival time."""
        compiled = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            match = compiled.search(self.text)
            if match is not None:
                self.text = self.text[match.end() :]
                return self.arrived
            if time.monotonic() > deadline:
                raise SystemExit(f"timed out waiting for {pattern!r}; screen tail:\n{self.text[-2000:]}")
            try:
                chunk = self.child.read_nonblocking(65536, timeout=0.2)
            except pexpect.TIMEOUT:
                continue
            self.arrived = time.time()
            self.text += ANSI.sub("", chunk)


def wait_for(db: sqlite3.Connection, session_id: str, kind: type[ev.Event], step: str, timeout: float = 30.0) -> float:
    """Poll the file until an event of `kind` at `step` is committed; returns its timestamp."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = stamps(db, session_id, kind).get(step)
        if found is not None:
            return found
        time.sleep(0.002)
    raise SystemExit(f"no {kind.__name__} at {step} within {timeout}s")


def run_once(steps: int, home: Path) -> tuple[list[float], list[float], list[float]]:
    """One session: returns (open→visible, key→acted, key→command written) in ms for each checkpoint."""
    db = home / "baton.db"
    flow = home / "latency.yaml"
    flow.write_text(workflow(steps), encoding="utf-8")
    env = dict(os.environ)
    env.update(
        {
            "XDG_DATA_HOME": str(home / "data"),
            "XDG_CONFIG_HOME": str(home / "config"),
            "XDG_STATE_HOME": str(home / "state"),
            "BATON_DB": str(db),
            "BATON_USER": "bench",
            "BATON_LINE": "1",
            "TERM": "xterm-256color",
            "PROMPT_TOOLKIT_NO_CPR": "1",
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "LITELLM_MODE": "PRODUCTION",
            "HF_HUB_OFFLINE": "1",
        }
    )
    env.pop("EDITOR", None)
    env.pop("VISUAL", None)
    started = subprocess.run([*baton(), "run", str(flow), "--detach"], env=env, capture_output=True, text=True)
    if started.returncode != 0:
        raise SystemExit(f"baton run failed: {started.stderr}")
    session_id = started.stdout.strip().splitlines()[-1]
    argv = [*baton(), "attach", session_id, "--line"]
    child = pexpect.spawn(argv[0], argv[1:], env=env, dimensions=(50, 140), encoding="utf-8", timeout=60)
    child.delaybeforesend = None  # pexpect sleeps 50 ms before every send unless told not to
    screen = Screen(child)
    reader = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    visible: list[float] = []
    acted: list[float] = []
    written: list[float] = []
    try:
        for i in range(steps):
            step = f"step{i}"
            screen.wait(rf"review · {step}\b")
            shown = screen.wait(r"decision>")
            opened = wait_for(reader, session_id, ev.CheckpointOpened, step)
            visible.append((shown - opened) * 1000)
            pressed = time.time()
            child.send("a\r")
            decided = wait_for(reader, session_id, ev.DecisionMade, step)
            acted.append((decided - pressed) * 1000)
            sent = command_stamp(reader, session_id, pressed)
            if sent is not None:
                written.append((sent - pressed) * 1000)
        child.expect(pexpect.EOF, timeout=60)
    finally:
        reader.close()
        if child.isalive():
            child.terminate(force=True)
    return visible, acted, written


def summary(name: str, values: list[float]) -> str:
    """`name: median … p90 … min … max …` in ms, with the verdict against the target."""
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, int(round(0.9 * (len(ordered) - 1))))]
    median = statistics.median(ordered)
    verdict = "ok" if median <= TARGET_MS else "OVER TARGET"
    return (
        f"{name:18} median {median:7.1f} ms   p90 {p90:7.1f}   min {ordered[0]:7.1f}   max {ordered[-1]:7.1f}"
        f"   (n={len(ordered)}, target ≤ {TARGET_MS:.0f} ms median: {verdict})"
    )


def main() -> None:
    """Parse arguments, run, print."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoints", type=int, default=20, help="checkpoints per session")
    parser.add_argument("--runs", type=int, default=1, help="sessions (each with its own runner and viewer)")
    args = parser.parse_args()
    visible: list[float] = []
    acted: list[float] = []
    written: list[float] = []
    for _ in range(args.runs):
        home = Path(tempfile.mkdtemp(prefix="baton-bench-"))
        try:
            v, a, w = run_once(args.checkpoints, home)
        finally:
            shutil.rmtree(home, ignore_errors=True)
        visible += v
        acted += a
        written += w
    print(f"checkpoint latency: {args.runs} session(s) × {args.checkpoints} checkpoints, line viewer in a pty")
    print(summary("open → visible", visible))
    print(summary("key → acted", acted))
    if written:
        print(f"  of which key → command written by the viewer: median {statistics.median(written):.1f} ms")


if __name__ == "__main__":
    main()
