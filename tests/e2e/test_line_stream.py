"""Line mode through the real `baton` command: the followed step's text streams while its call runs and
is printed once, parallel steps show compact progress lines, automatic decisions say nothing of a
terminal to answer on, and a missing input is asked for when there is a terminal to ask on."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from pathlib import Path

import pytest

from baton.core import events as ev
from tests.e2e.hitl_e2e import (
    OpenTerminal,
    all_sessions,
    baton_argv,
    env_for,
    of_kind,
    only_session,
    runner_pid,
    session_events,
    write_flow,
)
from tests.e2e.test_tui_journeys import BATON, _wait_file
from tests.e2e.test_tui_journeys import Terminal as Tmux

pytestmark = pytest.mark.slow

ANSWER = [
    "First line of a long answer about tides.",
    "Second line: the moon pulls the sea.",
    "Third line: springs and neaps follow.",
    "Fourth line: La Rance has run since 1966.",
]
TEXT = json.dumps("\n".join(ANSWER))
SLOW = f"""
name: slow-brief
state:
  topic: {{type: str}}
  draft: {{type: str}}
inputs:
  topic: {{default: "tides"}}
models:
  slow:
    model: mock/fast
    mock:
      latency_s: 0
      tokens_per_s: 12
      replies:
        - match: "."
          text: {TEXT}
steps:
  - {{id: write, kind: agent, model: slow, reads: [topic], writes: [draft], prompt: "{{topic}}", review: always}}
"""
PARALLEL = """
name: two-at-once
state:
  topic: {type: str}
  notes: {type: "list[str]", reducer: append}
inputs:
  topic: {default: "tides"}
models:
  quick: {model: mock/fast, mock: {latency_s: 0, tokens_per_s: 40, min_tokens: 60, max_tokens: 60}}
  slow: {model: mock/fast, mock: {latency_s: 0, tokens_per_s: 8, min_tokens: 60, max_tokens: 60}}
steps:
  - id: fan
    kind: parallel
    branches:
      - {id: lead, kind: agent, model: quick, reads: [topic], writes: [notes], prompt: "Lead on {topic}"}
      - {id: tail, kind: agent, model: slow, reads: [topic], writes: [notes], prompt: "Tail on {topic}"}
"""
NEEDS = """
name: needs-topic
state:
  topic: {type: str, description: "What the note is about"}
  length: {type: str}
  draft: {type: str}
inputs:
  topic: {}
  length: {choices: [short, long]}
models:
  fast: {model: mock/fast, mock: {latency_s: 0, tokens_per_s: 0, min_tokens: 4, max_tokens: 8}}
steps:
  - {id: write, kind: agent, model: fast, reads: [topic, length], writes: [draft], prompt: "{topic} {length}"}
"""
GATE = """
name: gated
state:
  draft: {type: str}
models:
  fast: {model: mock/fast, mock: {latency_s: 0, tokens_per_s: 0, min_tokens: 4, max_tokens: 8}}
steps:
  - {id: write, kind: agent, model: fast, writes: [draft], prompt: "Write"}
  - {id: sign_off, kind: gate, reads: [draft], message: "Send it?"}
"""


def _piped(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*baton_argv(), *args], env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120
    )


def _tmux(private_home: Path, db: Path) -> Tmux:
    return Tmux({**env_for(private_home, db), "BATON_LINE": "1"}, width=140, height=80)


def _scrollback(term: Tmux, window: str) -> str:
    """Everything the terminal shows and has scrolled off, as a person would scroll back through it."""
    return term.tmux("capture-pane", "-p", "-J", "-S", "-", "-t", window)


def test_the_followed_step_streams_while_its_call_runs_and_is_printed_once(
    tmp_path: Path, private_home: Path, db: Path
) -> None:
    flow = write_flow(tmp_path, SLOW)
    term = _tmux(private_home, db)
    try:
        window = term.start(f"{BATON} run {flow} --line", tmp_path / "exit")
        term.tmux("set-option", "-t", window, "remain-on-exit", "on")  # scroll back once it has ended
        term.wait(window, f"│ {ANSWER[0]}")
        log = session_events(db, only_session(db))
        assert of_kind(log, ev.LLMCallStarted, "write") and not of_kind(log, ev.LLMCallFinished, "write"), (
            "the first line shows while the call still runs"
        )
        screen = term.wait(window, "decision>")
        assert "output: as streamed above (4 lines)" in screen
        lines = _scrollback(term, window).splitlines()
        assert [line for line in lines if line.startswith("    │ ")] == [f"    │ {line}" for line in ANSWER], "once"
        assert lines.index("  ▸ write · slow") < lines.index(f"    │ {ANSWER[0]}")
        term.keys(window, "a", "Enter")
        assert _wait_file(tmp_path / "exit") == "0"
        rows = [line for line in _scrollback(term, window).splitlines() if line.startswith("    │ ")]
        assert rows == [f"    │ {line}" for line in ANSWER], "nothing of it is printed again when the run ends"
    finally:
        term.close()


def test_without_a_terminal_each_line_is_printed_once_behind_the_gutter(
    tmp_path: Path, private_home: Path, db: Path
) -> None:
    flow = write_flow(tmp_path, SLOW)
    done = _piped(env_for(private_home, db), "run", str(flow), "--line", "--auto", "approve")
    assert done.returncode == 0, done.stderr
    printed = [line for line in done.stdout.splitlines() if "│ " in line]
    assert printed == [f"    │ {line}" for line in ANSWER]
    assert done.stdout.index("▸ write · slow") < done.stdout.index(ANSWER[0]) < done.stdout.index("✓ write")


def test_a_parallel_step_shows_progress_lines_beside_the_followed_one(
    tmp_path: Path, private_home: Path, db: Path
) -> None:
    flow = write_flow(tmp_path, PARALLEL)
    term = _tmux(private_home, db)
    try:
        window = term.start(f"{BATON} run {flow} --line", tmp_path / "exit")
        term.tmux("set-option", "-t", window, "remain-on-exit", "on")  # scroll back once it has ended
        progress = re.compile(r"▶ fan/tail · slow · [\d,]+ chars")
        screen = term.wait(window, lambda text: progress.search(text) is not None)
        assert "▸ fan/lead · quick" in screen and re.search(r"▶ fan · [01] of 2 done", screen), screen
        assert _wait_file(tmp_path / "exit") == "0"
        lines = [line.strip() for line in _scrollback(term, window).splitlines()]
        order = [i for i, line in enumerate(lines) if line.startswith(("▸ fan/", "✓ fan/"))]
        assert [lines[i].split(" · ")[0].split()[:2] for i in order] == [
            ["▸", "fan/lead"],
            ["✓", "fan/lead"],
            ["▸", "fan/tail"],
            ["✓", "fan/tail"],
        ], "one agent's text at a time, each under its own header"
        assert not progress.search("\n".join(lines)), "progress lines live only while the steps run"
    finally:
        term.close()


def test_automatic_decisions_say_nothing_of_a_terminal_to_answer_on(
    tmp_path: Path, private_home: Path, db: Path
) -> None:
    flow = write_flow(tmp_path, GATE)
    env = env_for(private_home, db)
    auto = _piped(env, "run", str(flow), "--line", "--auto", "approve")
    assert auto.returncode == 0, auto.stderr
    assert "⏸ sign_off: gate" in auto.stdout and "✎ sign_off: approve by auto" in auto.stdout
    assert "no terminal to ask on" not in auto.stdout and "waiting for a decision" not in auto.stdout
    answers = tmp_path / "answers.json"
    answers.write_text('{"sign_off": "approve"}', encoding="utf-8")
    filed = _piped(env, "run", str(flow), "--line", "--decisions", str(answers))
    assert filed.returncode == 0, filed.stderr
    assert "✎ sign_off: approve by decisions:" in filed.stdout and "no terminal to ask on" not in filed.stdout


def test_a_missing_input_is_asked_for_in_a_terminal(
    tmp_path: Path, private_home: Path, db: Path, open_terminal: OpenTerminal
) -> None:
    flow = write_flow(tmp_path, NEEDS)
    t = open_terminal(["run", str(flow), "--line"], env_for(private_home, db))
    t.expect(r"needs-topic needs these inputs to start:")
    t.expect(r"topic \(str\) — What the note is about")
    t.expect(r"topic>")
    t.line("")
    t.expect(r"a value is needed")
    t.line("tidal power")
    t.expect(r"length \(str\) · one of: short, long")
    t.expect(r"length>")
    t.line("medium")
    t.expect(r"must be one of short, long")
    t.line("short")
    t.expect(r"✓ write")
    assert t.wait_exit() == 0
    started = of_kind(session_events(db, only_session(db)), ev.SessionStarted)[0]
    assert started.inputs == {"topic": "tidal power", "length": "short"}


def test_a_missing_input_is_an_error_when_nobody_can_answer(
    tmp_path: Path, private_home: Path, db: Path, open_terminal: OpenTerminal
) -> None:
    flow = write_flow(tmp_path, NEEDS)
    env = env_for(private_home, db)
    piped = _piped(env, "run", str(flow), "--line")
    assert piped.returncode == 2
    assert piped.stderr.splitlines() == [
        "missing input 'topic': pass --input topic=...",
        "missing input 'length': pass --input length=...",
    ]
    for unattended in (["--json"], ["--auto", "approve"]):
        t = open_terminal(["run", str(flow), "--line", *unattended], env)
        assert t.wait_exit() == 2, t.seen
        assert "missing input 'topic'" in t.seen and "topic>" not in t.seen
    t = open_terminal(["run", str(flow), "--line"], env)
    t.expect(r"topic>")
    t.send("\x03")
    assert t.wait_exit() == 2
    assert "no session started: the workflow's inputs were not given" in t.seen
    assert all_sessions(db) == [], "no session was started"


def test_a_lost_runner_is_said_and_how_to_continue(
    tmp_path: Path, private_home: Path, db: Path, open_terminal: OpenTerminal
) -> None:
    flow = write_flow(tmp_path, SLOW.replace("tokens_per_s: 12", "tokens_per_s: 3"))
    t = open_terminal(["run", str(flow), "--line"], env_for(private_home, db))
    t.expect(r"▸ write · slow")
    sid = only_session(db)
    pid = runner_pid(db, sid)
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    t.expect(r"⚠ no runner holds this session")
    t.expect(rf"continue it with: baton resume {sid}")
    assert t.wait_exit() == 1


def test_a_tool_checkpoint_shows_its_arguments_once_as_arguments(
    tmp_path: Path, private_home: Path, db: Path, open_terminal: OpenTerminal
) -> None:
    env = env_for(private_home, db, BATON_PUBLISH_FILE=str(tmp_path / "published.jsonl"))
    t = open_terminal(["run", "tool", "--line"], env)
    screen = t.expect(r"decision>")
    assert "── arguments ──" in screen and "── output ──" not in screen
    assert screen.count("text: baton keeps a person") == 1
    t.line("a")
    assert t.wait_exit() == 0


def test_the_status_line_says_waiting_for_you_while_only_a_checkpoint_is_left(
    tmp_path: Path, private_home: Path, db: Path, open_terminal: OpenTerminal
) -> None:
    flow = write_flow(tmp_path, GATE)
    t = open_terminal(["run", str(flow), "--line"], env_for(private_home, db))
    t.expect(r"decision>")
    t.line("later")
    t.expect(r"put off until the next one opens")
    t.expect(r"waiting for you · \$[\d.]+ · [\d.]+s · 1 waiting")
    t.send("\x03")
    t.expect(r"\[Enter\] back to the inbox \(1 waiting\)")
    t.line("")
    t.expect(r"decision>")
    t.line("a")
    assert t.wait_exit() == 0
