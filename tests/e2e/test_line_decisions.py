"""Line mode, end to end: the real `baton` command in a pseudo-terminal, its runner in the background.

A person approves, edits in `$EDITOR` (a stub script here), reroutes with completion, rejects with
feedback (in the editor, and in the fallback prompt), pauses and resumes, and answers a detached run's
inbox with `baton attach`. What the runner did is read back from the session's SQLite file.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from baton.core import events as ev
from tests.core.hitl_support import AGENT
from tests.core.test_hitl_steps import MAP
from tests.e2e.hitl_e2e import (
    OpenTerminal,
    env_for,
    live_calls,
    of_kind,
    only_session,
    session_events,
    stub_editor,
    write_flow,
)

pytestmark = pytest.mark.slow


def test_approve(tmp_path: Path, private_home: Path, db: Path, open_terminal: OpenTerminal) -> None:
    flow = write_flow(tmp_path, AGENT)
    t = open_terminal(["run", str(flow), "--line"], env_for(private_home, db))
    screen = t.expect(r"decision>")
    assert "review · write" in screen and "[a] approve" in screen and "[R] reroute" in screen
    assert "reads: topic (11 chars)" in screen
    assert "this call · fast · 13→" in screen and "1 attempt" in screen
    assert "next: extra on fast · forecast $" in screen
    assert "── forecast cost of a call, per model ──" in screen
    assert re.search(r"fast +\$", screen) and re.search(r"strong +\$", screen)
    assert screen.rstrip().endswith("[esc] later"), "the Review screen's words: esc, not [l]"
    t.line("a")
    t.expect(r"✎ write: approve by tester")
    assert t.wait_exit() == 0
    log = session_events(db, only_session(db))
    made = of_kind(log, ev.DecisionMade, "write")
    assert [(d.decision, d.by) for d in made] == [("approve", "tester")]
    assert of_kind(log, ev.SessionCompleted)


def test_bell_rings_when_a_checkpoint_opens(
    tmp_path: Path, private_home: Path, db: Path, open_terminal: OpenTerminal
) -> None:
    flow = write_flow(tmp_path, AGENT)
    t = open_terminal(["run", str(flow), "--line"], env_for(private_home, db))
    before = t.expect(r"⏸ write: review — waiting for a decision")
    assert "\a" in before
    t.expect(r"decision>")
    t.line("a")
    assert t.wait_exit() == 0


def test_edit_in_the_editor(tmp_path: Path, private_home: Path, db: Path, open_terminal: OpenTerminal) -> None:
    flow = write_flow(tmp_path, AGENT)
    editor = stub_editor(tmp_path, "Tides rise twice a day.\n")
    t = open_terminal(["run", str(flow), "--line"], env_for(private_home, db, EDITOR=str(editor)))
    t.expect(r"decision>")
    t.line("e")
    t.expect(r"✎ write: edit by tester")
    assert t.wait_exit() == 0
    log = session_events(db, only_session(db))
    made = of_kind(log, ev.DecisionMade, "write")[0]
    assert made.edited == "Tides rise twice a day.\n"
    assert "+Tides rise twice a day." in made.diff
    polish = live_calls(log, "polish")[0]
    assert "Tides rise twice a day." in polish.request["messages"][-1]["content"]


def test_an_invalid_edit_is_refused_and_the_reason_shown(
    tmp_path: Path, private_home: Path, db: Path, open_terminal: OpenTerminal
) -> None:
    flow = write_flow(tmp_path, AGENT)
    editor = stub_editor(tmp_path, "x" * 450)
    t = open_terminal(["run", str(flow), "--line"], env_for(private_home, db, EDITOR=str(editor)))
    t.expect(r"decision>")
    t.line("e")
    t.expect(r"refused: edited output is invalid: 'draft' has 450 chars, over its limit of 400")
    t.expect(r"decision>")
    t.line("a")
    assert t.wait_exit() == 0
    made = of_kind(session_events(db, only_session(db)), ev.DecisionMade, "write")
    assert [d.decision for d in made] == ["approve"]


def test_edit_in_the_fallback_multiline_editor(
    tmp_path: Path, private_home: Path, db: Path, open_terminal: OpenTerminal
) -> None:
    flow = write_flow(tmp_path, AGENT)
    t = open_terminal(["run", str(flow), "--line"], env_for(private_home, db))
    t.expect(r"decision>")
    t.line("e")
    t.expect(r"edit \(Esc then Enter to finish\)")
    t.send(" And the moon pulls.")
    t.send("\x1b\r")
    t.expect(r"✎ write: edit by tester")
    assert t.wait_exit() == 0
    made = of_kind(session_events(db, only_session(db)), ev.DecisionMade, "write")[0]
    assert made.edited.rstrip().endswith("And the moon pulls.")


def test_reroute_with_completion(tmp_path: Path, private_home: Path, db: Path, open_terminal: OpenTerminal) -> None:
    flow = write_flow(tmp_path, AGENT)
    t = open_terminal(["run", str(flow), "--line"], env_for(private_home, db))
    t.expect(r"decision>")
    t.line("R")
    t.expect(r"reroute to \(polish, end\)>")
    t.send("po")
    t.expect(r"po")
    t.send("\t")
    t.expect(r"lish")  # the completion is written after what was typed
    t.send("\r")
    t.expect(r"→ polish \(rerouted by tester\)")
    assert t.wait_exit() == 0
    log = session_events(db, only_session(db))
    assert [(r.target, r.skipped) for r in of_kind(log, ev.Rerouted, "write")] == [("polish", ["extra"])]
    assert live_calls(log, "extra") == []
    assert of_kind(log, ev.StepSkipped, "extra")


def test_reject_with_feedback_in_the_editor_then_approve(
    tmp_path: Path, private_home: Path, db: Path, open_terminal: OpenTerminal
) -> None:
    flow = write_flow(tmp_path, AGENT)
    editor = stub_editor(tmp_path, "# feedback: write your feedback below, save and quit.\n\nMention the moon.\n")
    t = open_terminal(["run", str(flow), "--line"], env_for(private_home, db, EDITOR=str(editor)))
    t.expect(r"decision>")
    t.line("r")
    t.expect(r"✎ write: reject by tester from line on \S+ \(\S+\): Mention the moon\.")
    screen = t.expect(r"decision>")
    assert "review · write · round 2" in screen
    t.line("a")
    assert t.wait_exit() == 0
    log = session_events(db, only_session(db))
    assert [(d.decision, d.feedback) for d in of_kind(log, ev.DecisionMade, "write")] == [
        ("reject", "Mention the moon."),
        ("approve", ""),
    ]
    rerun = live_calls(log, "write")[1]
    assert "## Reviewer feedback (round 1)\n\nMention the moon." in rerun.request["messages"][-1]["content"]


def test_reject_with_feedback_typed_at_the_prompt(
    tmp_path: Path, private_home: Path, db: Path, open_terminal: OpenTerminal
) -> None:
    flow = write_flow(tmp_path, AGENT)
    t = open_terminal(["run", str(flow), "--line"], env_for(private_home, db))
    t.expect(r"decision>")
    t.line("r")
    t.expect(r"feedback>")
    t.line("Shorter, please.")
    t.expect(r"round 2")
    t.expect(r"decision>")
    t.line("a")
    assert t.wait_exit() == 0
    log = session_events(db, only_session(db))
    assert "Shorter, please." in live_calls(log, "write")[1].request["messages"][-1]["content"]


def test_pause_then_resume_shows_the_same_checkpoint(
    tmp_path: Path, private_home: Path, db: Path, open_terminal: OpenTerminal
) -> None:
    flow = write_flow(tmp_path, AGENT)
    env = env_for(private_home, db)
    t = open_terminal(["run", str(flow), "--line"], env)
    first = t.expect(r"decision>")
    t.line("p")
    t.expect(r"resume with: baton resume (\w+)")
    assert t.wait_exit() == 4
    session_id = only_session(db)
    output = of_kind(session_events(db, session_id), ev.CheckpointOpened, "write")[0].output
    assert output.splitlines()[0] in first
    again = open_terminal(["resume", session_id, "--line"], env)
    screen = again.expect(r"decision>")
    assert "review · write" in screen and output.splitlines()[0] in screen
    again.line("a")
    assert again.wait_exit() == 0
    log = session_events(db, session_id)
    assert len(live_calls(log, "write")) == 1
    assert len(of_kind(log, ev.CheckpointOpened, "write")) == 1
    assert [d.decision for d in of_kind(log, ev.DecisionMade, "write")] == ["pause", "approve"]


def test_attach_answers_a_detached_runs_inbox(
    tmp_path: Path, private_home: Path, db: Path, open_terminal: OpenTerminal
) -> None:
    flow = write_flow(tmp_path, MAP)
    env = env_for(private_home, db)
    start = open_terminal(["run", str(flow), "--detach"], env)
    assert start.wait_exit() == 0
    session_id = start.seen.strip().splitlines()[-1].strip()
    t = open_terminal(["attach", session_id, "--line"], env)
    t.expect(r"inbox: 3 waiting, oldest first")
    screen = t.expect(r"decision>")
    assert "[1-3] pick" in screen
    opened = [o.step for o in of_kind(session_events(db, session_id), ev.CheckpointOpened)]
    sections = ["alpha", "beta", "gamma"]
    titles = {path: f"each[{sections[int(path[5:-1])]}]" for path in opened}
    listed = [m.group(1) for m in re.finditer(r"^\s*[▶ ] \d\. (\S+) · ", screen, re.M)]
    assert listed == [titles[p] for p in opened], "the inbox names map items by their labels"
    t.line("3")
    t.expect(rf"▶ 3\. {re.escape(titles[opened[2]])}")
    screen = t.expect(r"decision>")
    assert f"review · {titles[opened[2]]}" in screen
    t.line("s")
    t.expect(rf"✎ {re.escape(titles[opened[2]])}: skip by tester")
    for step in opened[:2]:
        t.expect(rf"review · {re.escape(titles[step])}")
        t.expect(r"decision>")
        t.line("a")
        t.expect(rf"✎ {re.escape(titles[step])}: approve by tester")
    assert t.wait_exit() == 0
    log = session_events(db, session_id)
    made = {d.step: d.decision for d in of_kind(log, ev.DecisionMade)}
    assert made == {opened[2]: "skip", opened[0]: "approve", opened[1]: "approve"}


HOSTILE = """
name: hostile
state:
  topic: {type: str}
  draft: {type: str}
inputs:
  topic: {default: "tides"}
models:
  fast:
    model: mock/fast
    mock:
      replies:
        - match: "Write"
          text: "LOUD [bold red]markup[/bold red] \\e[2J cleared? \\e]52;c;ZXZpbA==\\a copied? \\u202eevil"
steps:
  - id: write
    kind: agent
    model: fast
    reads: [topic]
    writes: [draft]
    prompt: "Write about {topic}"
    review: always
"""


def test_model_text_is_shown_inert(tmp_path: Path, private_home: Path, db: Path, open_terminal: OpenTerminal) -> None:
    flow = write_flow(tmp_path, HOSTILE)
    t = open_terminal(["run", str(flow), "--line"], env_for(private_home, db))
    screen = t.expect(r"decision>")
    assert "LOUD [bold red]markup[/bold red] ␛[2J cleared? ␛]52;c;ZXZpbA==␇ copied? ⟨RLO⟩evil" in screen
    assert "\x1b[2J" not in t.raw and "\x1b]52" not in t.raw and "\u202e" not in t.raw
    t.line("a")
    assert t.wait_exit() == 0
    stored = of_kind(session_events(db, only_session(db)), ev.StepCompleted, "write")[0].output
    assert "\x1b[2J" in stored and "\u202e" in stored
