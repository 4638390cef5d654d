"""A fan-out that asks for more concurrency than the run allows model calls in flight: validate warns at
the `concurrency:` field (and still passes), the start event can say so, and the step lines show it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from baton.core import events as ev
from baton.core.spec.fan_out import fan_out
from baton.core.view import SessionView, StepView
from baton.tui.report import step_line
from tests.conftest import ROOT, baton_env
from tests.helpers import workflow

WIDE = """
name: wide
state:
  files: {type: "list[str]", default: [a.py, b.py, c.py]}
  notes: {type: "list[str]", reducer: append}
  counts: {type: "list[dict]", reducer: append}
defaults:
  concurrency: 8
steps:
  - id: each
    kind: map
    over: files
    as: file
    concurrency: 50
    step: {id: review, kind: agent, model: mock/fast, writes: [notes], prompt: "Review {file}"}
  - id: stats
    kind: map
    over: files
    as: file
    concurrency: 50
    step:
      id: count
      kind: tool
      call: "json:dumps"
      side_effects: false
      args: {obj: "{file}"}
      writes: [counts]
  - id: views
    kind: parallel
    branches:
%s
"""
BRANCHES = "\n".join(
    f"      - {{id: b{i}, kind: agent, model: mock/fast, writes: [notes], prompt: 'view {i}'}}" for i in range(10)
)


def test_what_runs_at_once() -> None:
    wf = workflow(WIDE % BRANCHES)
    each, stats, views = wf.spec.steps
    assert fan_out(wf.spec, each) == fan_out(wf.spec, each)
    found = fan_out(wf.spec, each)
    assert found is not None and (found.asked, found.at_once, found.capped_by) == (50, 8, "defaults.concurrency")
    tools = fan_out(wf.spec, stats)  # tools hold no model-call slot: nothing caps them
    assert tools is not None and (tools.at_once, tools.capped_by) == (50, "")
    branches = fan_out(wf.spec, views)  # asked for nothing: all ten, capped at eight model calls
    assert branches is not None and (branches.asked, branches.at_once, branches.capped_by) == (
        None,
        8,
        "defaults.concurrency",
    )
    assert fan_out(wf.spec, wf.spec.steps[0].step) is None  # type: ignore[attr-defined]


def test_validate_warns_at_the_concurrency_field_and_passes(tmp_path: Path, private_home: Path) -> None:
    path = tmp_path / "wide.yaml"
    path.write_text((WIDE % BRANCHES).lstrip("\n"), encoding="utf-8")
    out = subprocess.run(
        [sys.executable, "-m", "baton", "validate", str(path)],
        capture_output=True,
        text=True,
        env={**baton_env(private_home, tmp_path / "db"), "PYTHONPATH": str(ROOT)},
        timeout=60,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    warnings = [line for line in out.stdout.splitlines() if "warning:" in line]
    assert warnings == [
        f"{path}:13:18: warning: map 'each' asks for concurrency 50, but at most 8 model calls run at once "
        "(defaults.concurrency: 8), so it will run 8 at a time; raise defaults.concurrency to run more"
    ]


def test_the_start_event_carries_it_and_step_lines_show_it() -> None:
    started = ev.StepStarted(step="each", step_kind="map", concurrency=8, concurrency_capped_by="defaults.concurrency")
    env = ev.Envelope("s1", 3, 1.0, started)
    assert ev.envelope_from_json(env.to_json()) == env
    assert ev.event_from_payload("StepStarted", "each", {"step_kind": "map"}).concurrency is None  # type: ignore[attr-defined]
    step = StepView("each", kind="map", status="running")
    assert "at a time" not in step_line(step).plain
    view = SessionView("s1").apply_all([env])
    assert (view.steps["each"].concurrency, view.steps["each"].concurrency_capped_by) == (8, "defaults.concurrency")
    assert "8 at a time (capped by defaults.concurrency)" in step_line(view.steps["each"]).plain
