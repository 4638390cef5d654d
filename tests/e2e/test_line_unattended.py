"""The command line around checkpoints: `--json` (events out, decisions in), `--auto`, `--decisions`,
`baton step` and `--break` — the real `baton` command with its background runner."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from baton.core import events as ev
from tests.core.hitl_support import AGENT
from tests.e2e.hitl_e2e import (
    Terminal,
    baton_argv,
    env_for,
    live_calls,
    of_kind,
    only_session,
    session_events,
    write_flow,
)

pytestmark = pytest.mark.slow


def _json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


@contextmanager
def _json_run(flow: Path, home: Path, db: Path) -> Iterator[subprocess.Popen[str]]:
    """`baton run FLOW --json`: events on its stdout, decisions on its stdin; killed if left running."""
    proc = subprocess.Popen(
        [*baton_argv(), "run", str(flow), "--json"],
        env=env_for(home, db),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdin is not None and proc.stdout is not None
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_auto_approve_json_prints_checkpoints_and_decisions(tmp_path: Path, private_home: Path, db: Path) -> None:
    flow = write_flow(tmp_path, AGENT)
    done = subprocess.run(
        [*baton_argv(), "run", str(flow), "--auto", "approve", "--json"],
        env=env_for(private_home, db),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    lines = _json_lines(done.stdout)
    kinds = [(x["kind"], x.get("step")) for x in lines]
    assert ("CheckpointOpened", "write") in kinds and ("DecisionMade", "write") in kinds
    opened = next(x for x in lines if x["kind"] == "CheckpointOpened")
    assert opened["checkpoint_id"] == "write:review:1" and opened["options"][0] == "approve"
    made = next(x for x in lines if x["kind"] == "DecisionMade")
    assert (made["decision"], made["by"]) == ("approve", "auto")
    assert lines[-1]["kind"] == "SessionCompleted"


def test_json_reads_decisions_from_stdin(tmp_path: Path, private_home: Path, db: Path) -> None:
    flow = write_flow(tmp_path, AGENT)
    seen: list[dict[str, Any]] = []
    answers = iter(
        [
            {"step": "write", "decision": "reject", "feedback": "Name a tidal power station."},
            {"checkpoint_id": "write:review:2", "decision": "edit", "edited": "La Rance, since 1966."},
        ]
    )
    with _json_run(flow, private_home, db) as proc:
        assert proc.stdin is not None and proc.stdout is not None
        for raw in proc.stdout:
            event = json.loads(raw)
            seen.append(event)
            if event["kind"] == "CheckpointOpened":
                proc.stdin.write(json.dumps(next(answers)) + "\n")
                proc.stdin.flush()
            if event["kind"] in ("SessionCompleted", "SessionFailed", "SessionPaused"):
                break
        assert proc.wait(timeout=60) == 0, proc.stderr.read() if proc.stderr else ""
    results = [x for x in seen if x["kind"] == "CommandResult"]
    assert [r["status"] for r in results] == ["done", "done"]
    log = session_events(db, only_session(db))
    made = of_kind(log, ev.DecisionMade, "write")
    assert [(d.decision, d.feedback) for d in made] == [("reject", "Name a tidal power station."), ("edit", "")]
    assert "Name a tidal power station." in live_calls(log, "write")[1].request["messages"][-1]["content"]
    assert of_kind(log, ev.StepCompleted, "write")[0].output == "La Rance, since 1966."


def test_json_refusals_come_back_as_command_results(tmp_path: Path, private_home: Path, db: Path) -> None:
    flow = write_flow(tmp_path, AGENT)
    results = []
    with _json_run(flow, private_home, db) as proc:
        assert proc.stdin is not None and proc.stdout is not None
        for raw in proc.stdout:
            event = json.loads(raw)
            if event["kind"] == "CheckpointOpened":
                proc.stdin.write(json.dumps({"step": "write", "decision": "reroute", "target": "extra"}) + "\n")
                proc.stdin.write("not json\n")
                proc.stdin.write(json.dumps({"step": "write", "decision": "approve"}) + "\n")
                proc.stdin.flush()
            if event["kind"] == "CommandResult":
                results.append(event)
            if event["kind"] == "SessionCompleted":
                break
        assert proc.wait(timeout=60) == 0, proc.stderr.read() if proc.stderr else ""
    assert [(r["status"], r["reason"]) for r in results[:2]] == [
        ("rejected", "cannot reroute to 'extra'; allowed: polish, end"),
        ("rejected", "unreadable command: Expecting value: line 1 column 1 (char 0)"),
    ]
    assert results[2]["status"] == "done"


def test_decisions_file_pauses_when_unanswered_then_resume_answers(
    tmp_path: Path, private_home: Path, db: Path
) -> None:
    flow = write_flow(tmp_path, AGENT + "    review: always\n")
    first = tmp_path / "first.json"
    first.write_text(json.dumps({"write": "approve"}))
    env = env_for(private_home, db)
    done = subprocess.run(
        [*baton_argv(), "run", str(flow), "--decisions", str(first), "--json"],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 4, done.stderr
    paused = _json_lines(done.stdout)[-1]
    assert paused["kind"] == "SessionPaused" and "no decision for step 'polish' (review)" in paused["reason"]
    session_id = only_session(db)
    second = tmp_path / "second.json"
    second.write_text(json.dumps({"polish": {"decision": "edit", "edited": "Polished."}}))
    done = subprocess.run(
        [*baton_argv(), "resume", session_id, "--decisions", str(second), "--json"],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    log = session_events(db, session_id)
    made = [(d.step, d.decision, d.by) for d in of_kind(log, ev.DecisionMade)]
    assert made == [("write", "approve", f"decisions:{first}"), ("polish", "edit", f"decisions:{second}")]
    assert len(live_calls(log, "polish")) == 1


def test_a_bad_decisions_file_is_refused_with_its_position(tmp_path: Path, private_home: Path, db: Path) -> None:
    flow = write_flow(tmp_path, AGENT)
    bad = tmp_path / "bad.json"
    bad.write_text('{"write": "approve",\n  oops}\n')
    done = subprocess.run(
        [*baton_argv(), "run", str(flow), "--decisions", str(bad)],
        env=env_for(private_home, db),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.strip().startswith(f"{bad}:2:3: ")
    assert "Traceback" not in done.stderr


def test_unknown_breakpoint_is_refused(tmp_path: Path, private_home: Path, db: Path) -> None:
    flow = write_flow(tmp_path, AGENT)
    done = subprocess.run(
        [*baton_argv(), "run", str(flow), "--break", "nowhere", "--line"],
        env=env_for(private_home, db),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == "--break nowhere: no step 'nowhere' in this workflow (steps: write, extra, polish)"


def test_baton_step_pauses_before_every_step(tmp_path: Path, private_home: Path, db: Path) -> None:
    flow = write_flow(tmp_path, AGENT.replace("    review: always\n", ""))
    t = Terminal(["step", str(flow), "--line"], env_for(private_home, db))
    try:
        for step in ("write", "extra", "polish"):
            screen = t.expect(rf"step mode · {step}\b")
            screen = t.expect(r"decision>")
            assert "[a] run" in screen and "[e] edit prompt" in screen
            t.line("a")
            t.expect(rf"✎ {step}: approve by tester")
        assert t.wait_exit() == 0
    finally:
        t.close()
    log = session_events(db, only_session(db))
    assert [o.checkpoint_id for o in of_kind(log, ev.CheckpointOpened)] == [
        "write:step_mode:1",
        "extra:step_mode:1",
        "polish:step_mode:1",
    ]
    opened_at = {e.event.step: e.seq for e in log if isinstance(e.event, ev.CheckpointOpened)}
    started = {e.event.step: e.seq for e in log if isinstance(e.event, ev.LLMCallStarted)}
    assert all(opened_at[s] < started[s] for s in ("write", "extra", "polish"))


def test_break_and_step_mode_switched_from_the_viewer(tmp_path: Path, private_home: Path, db: Path) -> None:
    flow = write_flow(tmp_path, AGENT)
    t = Terminal(["run", str(flow), "--break", "extra", "--line"], env_for(private_home, db))
    try:
        t.expect(r"review · write")
        t.expect(r"decision>")
        t.send("\x03")
        t.expect(r"\[s\] step mode on")
        t.expect(r">")
        t.line("s")
        t.expect(r"step mode on: pausing before every step")
        t.expect(r"decision>")
        t.line("a")
        t.expect(r"breakpoint · extra")
        t.expect(r"decision>")
        t.line("a")
        t.expect(r"step mode · polish")
        t.expect(r"decision>")
        t.line("a")
        assert t.wait_exit() == 0
    finally:
        t.close()
    log = session_events(db, only_session(db))
    assert [o.checkpoint_id for o in of_kind(log, ev.CheckpointOpened)] == [
        "write:review:1",
        "extra:breakpoint:1",
        "polish:step_mode:1",
    ]
    assert [(c.step_mode, c.by) for c in of_kind(log, ev.ControlChanged)] == [(True, "tester")]
