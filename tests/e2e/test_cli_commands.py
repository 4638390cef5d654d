"""The real `baton` command in subprocesses: exit codes of run, --detach, attach, resume, sessions, show,
rm and validate, and the documented `--json` shape (one JSON object per line)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from baton.core import events as ev
from tests.conftest import ROOT, baton_env

pytestmark = pytest.mark.e2e
ENVELOPE_KEYS = ("session_id", "seq", "ts", "kind", "step")


class Baton:
    """`baton …` with a private home and database."""

    def __init__(self, home: Path, db: Path, cwd: Path, **env: str) -> None:
        self.env = baton_env(home, db, BATON_LINE="1", **env)
        self.cwd = cwd

    def __call__(self, *args: str, stdin: str = "", timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "baton.tui.cli", *args],
            cwd=self.cwd,
            env={**self.env, "PYTHONPATH": str(ROOT)},
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
        )


@pytest.fixture
def baton(private_home: Path, db_path: Path, tmp_path: Path) -> Baton:
    work = tmp_path / "work"
    work.mkdir()
    return Baton(private_home, db_path, work, BATON_PUBLISH_FILE=str(tmp_path / "published.jsonl"))


def events_of(stdout: str) -> list[dict[str, Any]]:
    """Every line is a JSON object; event lines have the documented shape and parse back to events."""
    lines = [json.loads(line) for line in stdout.splitlines() if line.strip()]
    out = []
    for obj in lines:
        assert isinstance(obj, dict), obj
        if obj["kind"] in ("CommandResult", "RunnerLost"):
            continue
        assert all(k in obj for k in ENVELOPE_KEYS), obj
        assert isinstance(obj["seq"], int) and isinstance(obj["ts"], float | int) and isinstance(obj["step"], str)
        env = ev.envelope_from_json(obj)
        assert env.to_json() == obj, "the line is not an event's documented JSON form"
        out.append(obj)
    return out


def test_validate_exit_codes(baton: Baton) -> None:
    ok = baton("validate", "demo")
    assert ok.returncode == 0 and ": ok" in ok.stdout
    bad = baton.cwd / "bad.yaml"
    bad.write_text("name: x\nsteps:\n  - id: a\n    kind: agent\n    prompt: hi\n    model: nope\n", encoding="utf-8")
    out = baton("validate", str(bad))
    assert out.returncode == 2
    assert out.stdout.startswith(f"{bad}:") and "Traceback" not in out.stdout + out.stderr
    line, col = out.stdout.split(":")[1:3]
    assert line.isdigit() and col.isdigit()
    missing = baton("validate", "no-such-flow")
    assert missing.returncode == 2 and "no workflow 'no-such-flow'" in missing.stdout


@pytest.mark.slow
def test_run_json_completes_with_the_documented_shape(baton: Baton) -> None:
    out = baton("run", "parallel", "--auto", "approve", "--json")
    assert out.returncode == 0, out.stderr
    events = events_of(out.stdout)
    assert events[0]["kind"] == "SessionStarted" and events[-1]["kind"] == "SessionCompleted"
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert len({e["session_id"] for e in events}) == 1


@pytest.mark.slow
def test_exit_codes_of_a_session_lifecycle(baton: Baton) -> None:
    # invalid input: 2, nothing created
    assert baton("run", "no-such-flow").returncode == 2
    unknown = baton("run", "agent", "--input", "nonsense=1", "--auto", "approve")
    assert unknown.returncode == 2 and "unknown input 'nonsense'" in unknown.stderr
    assert baton("sessions", "--json").stdout == ""

    # --detach prints the id and leaves the runner working; attach follows it to the end: 0
    detached = baton("run", "agent", "--auto", "approve", "--detach")
    assert detached.returncode == 0, detached.stderr
    sid = detached.stdout.strip().splitlines()[-1]
    attached = baton("attach", sid, "--json")
    assert attached.returncode == 0, attached.stderr
    assert events_of(attached.stdout)[-1]["kind"] == "SessionCompleted"
    assert baton("attach", sid[:4], "--line").returncode == 0

    # a gate rejected: failed, 1
    rejected = baton("run", "gate", "--auto", "reject", "--json")
    assert rejected.returncode == 1
    assert events_of(rejected.stdout)[-1]["kind"] == "SessionFailed"

    # a decisions file that pauses: 4; resumed with one that approves: 0
    decisions = baton.cwd / "decisions.json"
    decisions.write_text(json.dumps({"approve_draft": "pause"}), encoding="utf-8")
    paused = baton("run", "gate", "--decisions", str(decisions), "--json")
    assert paused.returncode == 4, paused.stderr
    paused_id = events_of(paused.stdout)[0]["session_id"]
    assert events_of(paused.stdout)[-1]["kind"] == "SessionPaused"
    approve = baton.cwd / "approve.json"
    approve.write_text(json.dumps({"approve_draft": "approve"}), encoding="utf-8")
    resumed = baton("resume", paused_id, "--decisions", str(approve), "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert events_of(resumed.stdout)[-1]["kind"] == "SessionCompleted"

    # sessions and show
    listed = [json.loads(line) for line in baton("sessions", "--json").stdout.splitlines()]
    by_id = {s["session_id"]: s for s in listed}
    assert by_id[sid]["status"] == "completed" and by_id[paused_id]["status"] == "completed"
    assert len(listed) == 3
    table = baton("sessions")
    assert table.returncode == 0 and sid in table.stdout
    shown = baton("show", sid, "--json")
    assert shown.returncode == 0 and json.loads(shown.stdout)["status"] == "completed"
    assert baton("show", sid).returncode == 0
    every = baton("show", sid, "--events")
    assert events_of(every.stdout)[-1]["kind"] == "SessionCompleted"

    # unknown sessions: 2
    for args in (("show", "zzzz"), ("attach", "zzzz"), ("resume", "zzzz"), ("rm", "zzzz", "--yes")):
        out = baton(*args)
        assert out.returncode == 2, (args, out)
        assert "no session 'zzzz'" in out.stderr and "Traceback" not in out.stderr

    # rm: asks first (no answer: nothing deleted), then deletes
    assert baton("rm", sid, stdin="n\n").returncode == 1
    assert baton("show", sid).returncode == 0
    removed = baton("rm", sid, "--yes")
    assert removed.returncode == 0 and f"deleted {sid}" in removed.stdout
    assert baton("show", sid).returncode == 2
