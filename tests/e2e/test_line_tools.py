"""Line mode, end to end, at an agent's tool calls: the real `baton --line` in a pseudo-terminal approves a
call, grants the tool for the session scoped by a pattern (a matching call then runs unasked, one that does
not match asks again), and rejects a call with a message (written in `$EDITOR`) that the model's next turn
reads. What ran and what was decided is read back from the session's SQLite file."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from baton.core import events as ev
from tests.conftest import ROOT
from tests.e2e.hitl_e2e import OpenTerminal, env_for, of_kind, only_session, session_events, stub_editor, write_flow

pytestmark = pytest.mark.slow

FLOW = """
name: acts
state:
  report: {type: str}
models:
  m:
    model: mock/act
    mock:
      replies:
        - {turn: 1, tool_calls: [{name: write_report, args: {path: reports/a.md, text: first}}]}
        - {turn: 2, tool_calls: [{name: write_report, args: {path: reports/b.md, text: second}}]}
        - {turn: 3, tool_calls: [{name: write_report, args: {path: reports/c.md, text: third}}]}
        - {turn: 4, tool_calls: [{name: write_report, args: {path: out/d.md, text: fourth}}]}
        - {turn: 5, text: "done"}
steps:
  - id: writer
    kind: agent
    model: m
    writes: [report]
    prompt: "Write the reports."
    tools:
      - call: "agent_tools_kit:write_report"
"""


def test_approve_always_with_a_pattern_and_reject_with_a_message(
    tmp_path: Path, private_home: Path, db: Path, open_terminal: OpenTerminal
) -> None:
    flow = write_flow(tmp_path, FLOW)
    shutil.copy(ROOT / "tests" / "core" / "agent_tools_kit.py", tmp_path / "agent_tools_kit.py")
    tools_log = tmp_path / "tools.log"
    editor = stub_editor(tmp_path, "keep it under reports/\n")
    env = env_for(private_home, db, EDITOR=str(editor), BATON_TEST_TOOL_LOG=str(tools_log))
    t = open_terminal(["run", str(flow), "--line"], env)

    screen = t.expect(r"decision>")
    assert "write_report" in screen and "reports/a.md" in screen and "it has side effects" in screen
    t.line("a")
    t.expect(r"⏸ writer: write_report\(path=\"reports/b\.md\"")
    t.expect(r"decision>")
    t.line("always path=reports/*")
    t.expect(r"⏸ writer: write_report\(path=\"out/d\.md\"")  # a call outside the pattern asks again
    t.expect(r"decision>")
    t.line("r")
    assert t.wait_exit() == 0

    log = session_events(db, only_session(db))
    made = [(d.decision, d.edited, d.feedback) for d in of_kind(log, ev.DecisionMade, "writer")]
    assert made == [
        ("approve", None, ""),
        ("always", {"path": "reports/*"}, ""),
        ("reject", None, "keep it under reports/"),
    ]
    assert [r.policy for r in of_kind(log, ev.ToolCallRequested, "writer")] == ["ask", "ask", "granted", "ask"]
    last = [c for c in of_kind(log, ev.LLMCallFinished, "writer") if c.turn == 5][0]
    seen = [m["content"] for m in last.request["messages"] if m["role"] == "tool"]
    assert seen[-1] == "rejected by the user: keep it under reports/"
    assert tools_log.read_text().splitlines() == [
        "write_report reports/a.md new first",
        "write_report reports/b.md new second",
        "write_report reports/c.md new third",
    ]
