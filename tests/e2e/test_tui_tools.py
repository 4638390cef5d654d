"""The real `baton` in a real terminal (tmux): a person answers an agent's tool calls — edits the
arguments, rejects one with a message the model's next turn reads, approves one, grants the tool for the
session (the next call runs unasked), then revokes the grant from the command palette (the call after
asks again) — and the store shows what they decided and what ran."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, baton_env
from tests.e2e.test_tui_journeys import BATON, Terminal, _sessions, _wait_ended, _wait_file

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
]

ACTS = """
name: acts
state:
  report: {type: str}
models:
  m:
    model: mock/act
    mock:
      replies:
        - {turn: 1, tool_calls: [{name: write_report, args: {path: out/a.md, text: first}}]}
        - {turn: 2, tool_calls: [{name: write_report, args: {path: reports/b.md, text: second}}]}
        - {turn: 3, tool_calls: [{name: write_report, args: {path: reports/c.md, text: third}}]}
        - {turn: 4, tool_calls: [{name: write_report, args: {path: reports/d.md, text: fourth}}]}
        - {turn: 5, tool_calls: [{name: write_report, args: {path: reports/e.md, text: fifth}}]}
        - {turn: 6, tool_calls: [{name: search, args: {q: sixth}}]}
        - {turn: 7, tool_calls: [{name: write_report, args: {path: reports/g.md, text: seventh}}]}
        - {turn: 8, text: "six reports handled"}
steps:
  - id: writer
    kind: agent
    model: m
    writes: [report]
    prompt: "Write the reports."
    tools:
      - call: "agent_tools_kit:write_report"
      - call: "agent_tools_kit:search"
        approval: always
"""


@pytest.fixture
def terminal(private_home: Path, db_path: Path, tmp_path: Path) -> Iterator[Terminal]:
    term = Terminal(baton_env(private_home, db_path, BATON_TEST_TOOL_LOG=str(tmp_path / "tools.log")))
    try:
        yield term
    finally:
        term.close()


def _events(db: Path, session_id: str, kind: str) -> list[dict[str, Any]]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT payload FROM events WHERE session_id = ? AND kind = ? ORDER BY seq", (session_id, kind)
        ).fetchall()
    return [json.loads(r[0]) for r in rows]


def test_a_person_edits_rejects_and_grants_tool_calls_in_the_terminal(
    terminal: Terminal, db_path: Path, tmp_path: Path
) -> None:
    flow = tmp_path / "acts.yaml"
    flow.write_text(ACTS)
    shutil.copy(ROOT / "tests" / "core" / "agent_tools_kit.py", tmp_path / "agent_tools_kit.py")
    exit_file = tmp_path / "exit"
    w = terminal.start(f"{BATON} run {flow}", exit_file)

    screen = terminal.wait(w, "out/a.md", timeout=90)
    assert "write_report" in screen and "it has side effects" in screen
    terminal.keys(w, "e")
    terminal.wait(w, lambda s: s.splitlines()[-1].strip().startswith("^s send"))  # the editor has the keys
    terminal.keys(w, "F7")
    terminal.type(w, '{"path": "reports/a.md", "text": "first, edited"}')
    terminal.wait(w, '"first, edited"}')
    terminal.keys(w, "C-s")

    terminal.wait(w, "reports/b.md", timeout=60)
    terminal.keys(w, "r")
    terminal.wait(w, lambda s: "message for the model" in s and s.splitlines()[-1].strip().startswith("^s send"))
    terminal.type(w, "not b: skip it")
    terminal.wait(w, "not b: skip it")
    terminal.keys(w, "C-s")

    terminal.wait(w, "reports/c.md", timeout=60)
    terminal.keys(w, "a")

    terminal.wait(w, "reports/d.md", timeout=60)
    terminal.keys(w, "A")
    terminal.wait(w, lambda s: "always run write_report" in s and "^s" in s.splitlines()[-1])
    terminal.keys(w, "C-s")

    # reports/e.md runs unasked; the search asks (approval: always). Meanwhile the grant is revoked.
    terminal.wait(w, "sixth", timeout=60)
    terminal.keys(w, "Escape")
    terminal.wait(w, lambda s: "always: write_report" in s.splitlines()[0])
    terminal.keys(w, "C-p")
    terminal.wait(w, "Search for commands")
    terminal.type(w, "revoke always")
    terminal.wait(w, "revoke always: write_report")
    terminal.keys(w, "Enter")
    terminal.wait(w, lambda s: "always:" not in s.splitlines()[0])
    terminal.keys(w, "v")
    terminal.wait(w, "sixth")
    terminal.keys(w, "a")
    terminal.wait(w, "reports/g.md", timeout=60)  # asks again
    terminal.keys(w, "a")

    screen = terminal.wait(w, lambda s: "completed" in s.splitlines()[0], timeout=90)
    ((session_id, _),) = _sessions(db_path)
    terminal.keys(w, "q")
    assert _wait_file(exit_file) == "0"
    assert _wait_ended(db_path, session_id) == "SessionCompleted"

    made = [(d["decision"], d.get("edited"), d.get("feedback")) for d in _events(db_path, session_id, "DecisionMade")]
    assert made == [
        ("edit", {"path": "reports/a.md", "text": "first, edited"}, ""),
        ("reject", None, "not b: skip it"),
        ("approve", None, ""),
        ("always", {}, ""),
        ("approve", None, ""),
        ("approve", None, ""),
    ]
    policies = [r["policy"] for r in _events(db_path, session_id, "ToolCallRequested")]
    assert policies == ["ask", "ask", "ask", "ask", "granted", "ask", "ask"]
    grants = [(g["tool"], g["granted"]) for g in _events(db_path, session_id, "ToolGrantChanged")]
    assert grants == [("write_report", True), ("write_report", False)]
    turns = {c["turn"]: c for c in _events(db_path, session_id, "LLMCallFinished")}
    seen = [m["content"] for m in turns[3]["request"]["messages"] if m["role"] == "tool"]
    assert seen[-1] == "rejected by the user: not b: skip it", "the model's next turn reads the message"
    ran = (tmp_path / "tools.log").read_text().splitlines()
    assert ran == [
        "write_report reports/a.md new first, edited",
        "write_report reports/c.md new third",
        "write_report reports/d.md new fourth",
        "write_report reports/e.md new fifth",
        "write_report reports/g.md new seventh",
    ]
