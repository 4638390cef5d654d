"""The real `baton` in a real terminal (tmux): what the screens say is true — the review header after a
reject and a retry on another model, a gate's values edited as text (a refused edit keeps the text),
a map's items by label with the queued ones queued, and the inputs form on its own."""

from __future__ import annotations

import json
import re
import sqlite3
import sys
import time
from pathlib import Path

import pytest

from baton.core.economics import usd
from tests.e2e.test_tui_journeys import BATON, Terminal, _sessions, _wait_ended, _wait_file
from tests.e2e.test_tui_journeys import terminal as terminal  # the fixture
from tests.tui.drive import PER_FILE

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

REVIEWED = """
name: reviewed-brief
state:
  ask: {type: str}
  draft: {type: str}
inputs:
  ask: {default: "the tide"}
models:
  fast: {model: mock/fast, mock: {tokens_per_s: 80, min_tokens: 20, max_tokens: 30}}
  strong: {model: mock/strong, mock: {tokens_per_s: 80, min_tokens: 60, max_tokens: 80}}
steps:
  - {id: draft, kind: agent, model: fast, reads: [ask], writes: [draft], prompt: "Draft {ask}", review: always}
"""
GATE = """
name: reply-gate
state:
  request: {type: str}
  draft: {type: str, max_chars: 60}
inputs:
  request: {default: "a reply"}
models:
  fast: {model: mock/fast, mock: {replies: [{text: "First paragraph.\\n\\nSecond paragraph."}]}}
steps:
  - {id: draft, kind: agent, model: fast, reads: [request], writes: [draft], prompt: "{request}"}
  - {id: sign_off, kind: gate, reads: [draft], message: "Send this reply?"}
"""


def _payloads(db: Path, session_id: str, kind: str) -> list[dict[str, object]]:
    """The payloads of a session's events of one kind, in order, read from the file."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT payload FROM events WHERE session_id = ? AND kind = ? ORDER BY seq", (session_id, kind)
        ).fetchall()
    return [json.loads(row[0]) for row in rows]


def replace_text(terminal: Terminal, window: str, text: str) -> None:
    """Select all in the focused editor (F7) and type `text`; a select-all sent in the instant before the
    editor takes the focus is lost, so try again until the editor holds `text` alone."""
    for _ in range(5):
        terminal.keys(window, "F7")
        terminal.type(window, text)
        screen = terminal.wait(window, text)
        if _editor_lines(screen) == [text]:
            return
    raise AssertionError(f"the editor did not end up holding {text!r} alone:\n{screen}")


def _editor_lines(screen: str) -> list[str]:
    """The non-empty lines inside the (one) text editor on screen."""
    rows = screen.splitlines()
    top = next(i for i, row in enumerate(rows) if "▊▔" in row)
    bottom = next(i for i, row in enumerate(rows) if "▊▁" in row and i > top)
    inside = [row.split("▊", 1)[1].rsplit("▎", 1)[0].strip(" ▌") for row in rows[top + 1 : bottom]]
    return [line for line in inside if line]


def test_review_header_after_reject_then_another_model(terminal: Terminal, db_path: Path, tmp_path: Path) -> None:
    flow = tmp_path / "reviewed.yaml"
    flow.write_text(REVIEWED)
    w = terminal.start(f"{BATON} run {flow}", tmp_path / "exit")
    screen = terminal.wait(w, "checkpoint 1/1 · review · draft", timeout=90)
    assert "this call · fast · " in screen and "step total" not in screen
    terminal.keys(w, "r")
    terminal.wait(w, "feedback for draft")
    terminal.type(w, "shorter please")
    terminal.wait(w, "▊ shorter please")
    terminal.keys(w, "C-s")
    terminal.wait(w, "review · draft · round 2", timeout=60)
    terminal.keys(w, "m")
    terminal.wait(w, lambda s: "retry on model (forecast cost)" in s and " choose " in s.splitlines()[-1])
    terminal.keys(w, "Down", "Enter")
    screen = terminal.wait(w, lambda s: "round 3" in s and "this call · strong" in s, timeout=60)
    ((session_id, _),) = _sessions(db_path)
    calls = _payloads(db_path, session_id, "LLMCallFinished")
    assert [c["alias"] for c in calls] == ["fast", "fast", "strong"]
    last = calls[-1]
    line = next(row for row in screen.splitlines() if "this call · strong" in row)
    assert f"{last['tokens_in']:,}→{last['tokens_out']:,} tok · {usd(last['cost_usd'])}" in line  # type: ignore[arg-type]
    total = next(row for row in screen.splitlines() if "step total" in row)
    assert "3 calls" in total and usd(sum(float(c["cost_usd"]) for c in calls)) in total  # type: ignore[arg-type]
    terminal.wait(w, lambda s: " a approve " in f" {s.splitlines()[-1]} ", timeout=10)
    terminal.keys(w, "a")
    terminal.wait(w, lambda s: "completed" in s.splitlines()[0], timeout=60)
    terminal.keys(w, "q")
    assert _wait_ended(db_path, session_id) == "SessionCompleted"


def test_gate_edit_is_text_and_a_refused_edit_keeps_it(terminal: Terminal, db_path: Path, tmp_path: Path) -> None:
    flow = tmp_path / "gate.yaml"
    flow.write_text(GATE)
    w = terminal.start(f"{BATON} run {flow}", tmp_path / "exit")
    screen = terminal.wait(
        w, lambda s: "checkpoint 1/1 · gate · sign_off" in s and " e edit values " in s.splitlines()[-1], timeout=90
    )
    footer = f" {screen.splitlines()[-1]} "
    assert " e edit values " in footer
    for absent in (" R reroute ", " m other model ", " s skip "):
        assert absent not in footer, f"{absent.strip()} is not offered at this gate"
    terminal.keys(w, "e")
    screen = terminal.wait(w, "edit values · sign_off")
    assert "First paragraph." in screen and "Second paragraph." in screen
    assert '{"draft"' not in screen and "\\n" not in screen, "prose, not JSON with escapes"
    replace_text(terminal, w, "A reply far too long for the sixty characters the workflow allows here.")
    terminal.keys(w, "C-s")
    screen = terminal.wait(w, "refused:", timeout=30)
    assert "over its limit of 60" in screen.replace("\n", " ") or "over its limit of 60" in "".join(screen.split())
    assert "far too long for the sixty" in screen, "the person's text stays"
    replace_text(terminal, w, "Short reply.")
    terminal.keys(w, "C-s")
    terminal.wait(w, lambda s: "completed" in s.splitlines()[0], timeout=60)
    ((session_id, _),) = _sessions(db_path)
    made = _payloads(db_path, session_id, "DecisionMade")
    assert [(d["decision"], d["edited"]) for d in made] == [("edit", {"draft": "Short reply."})]
    terminal.keys(w, "q")


def test_map_tree_shows_labels_and_queued_items(terminal: Terminal, db_path: Path, tmp_path: Path) -> None:
    flow = tmp_path / "map.yaml"
    flow.write_text(PER_FILE)
    w = terminal.start(f"{BATON} run {flow}", tmp_path / "exit")
    screen = terminal.wait(w, lambda s: "1 running · 2 queued" in s, timeout=90)
    rows = screen.splitlines()
    first = next(row for row in rows if "▶ core/view.py" in row)
    assert "[0]" not in first and "fast" in first
    assert any("◦ tui/app.py" in row and "queued" in row for row in rows)
    assert any("◦ README.md" in row and "queued" in row for row in rows)
    screen = terminal.wait(w, lambda s: "completed" in s.splitlines()[0], timeout=90)
    assert re.search(r"✓ README\.md\s+fast", screen)
    terminal.keys(w, "q")


def test_the_inputs_form_asks_in_a_terminal(terminal: Terminal, tmp_path: Path) -> None:
    flow = tmp_path / "typed.yaml"
    flow.write_text(
        "name: typed\nstate:\n  topic: {type: str}\n  count: {type: int}\n  out: {type: str}\n"
        'inputs:\n  topic: {description: "What to write about"}\n  count: {default: 2}\n'
        "models:\n  fast: {model: mock/fast}\n"
        "steps:\n  - {id: w, kind: agent, model: fast, reads: [topic, count], writes: [out], prompt: '{topic}'}\n"
    )
    out = tmp_path / "inputs.json"
    script = (
        "import json, sys; from pathlib import Path; from baton.core.spec.load import load_workflow; "
        "from baton.tui.input_form import ask_inputs; "
        f"v = ask_inputs(load_workflow(Path({str(flow)!r})), {{'count': '3'}}); "
        f"Path({str(out)!r}).write_text(json.dumps(v))"
    )
    w = terminal.start(f"{sys.executable} -c {json.dumps(script)}", tmp_path / "exit")
    screen = terminal.wait(w, "new session · typed", timeout=60)
    assert "topic (str) *" in screen and "What to write about" in screen
    terminal.keys(w, "C-s")
    terminal.wait(w, "required: topic")
    terminal.type(w, "tides")
    terminal.wait(w, "▊  tides")
    terminal.keys(w, "C-s")
    assert _wait_file(tmp_path / "exit") == "0", terminal.screen(w)
    deadline = time.monotonic() + 10
    while not out.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert json.loads(out.read_text()) == {"topic": "tides", "count": 3}
