"""Forecasts before running: `baton estimate` ranges hold the actual cost of a run on the offline model,
and a review checkpoint shows the next step's cost range, the same the runner then checks before the call."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from baton.core import events as ev
from baton.core.config import resolve_models
from baton.core.llm.gateway import LiteLLMGateway
from baton.core.runner import RunOptions
from baton.core.view import SessionView
from baton.sessions.store import Store
from baton.tui.estimate import estimate
from tests.conftest import ROOT, baton_env
from tests.fakes.harness import canary, fake, gateway, start
from tests.fakes.openai_server import FakeOpenAI
from tests.helpers import run, workflow

__all__ = ["canary", "fake", "gateway"]


def _actual(view: SessionView, top: str) -> float:
    """What a top-level step (and everything inside it) cost in the run."""
    total = 0.0
    for call in view.calls.values():
        inside = call.step == top or call.step.startswith((top + "/", top + "[", top + "#"))
        if inside and call.cost_usd is not None:
            total += call.cost_usd
    return total


@pytest.mark.parametrize("name", ["demo", "agent", "parallel", "router", "loop", "supervisor", "gate", "map"])
async def test_the_estimate_holds_the_actual_cost(store: Store, name: str, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("BATON_PUBLISH_FILE", str(tmp_path / "published.jsonl"))
    wf = workflow(name, instant=True)
    llm = LiteLLMGateway()
    await llm.warm_up()
    before = estimate(wf, resolve_models(wf.spec), llm, {})
    status, view = await run(store, wf, options=RunOptions(auto="approve"), llm=llm)
    assert status == "completed", view.error
    ran = {p.split("/", 1)[0].split("[", 1)[0].split("#", 1)[0] for p in view.steps if view.steps[p].calls}
    assert ran, "the flow made model calls"
    for row in before.steps:
        actual = _actual(view, row.path)
        assert row.usd is not None
        low, high = row.usd
        if row.path not in ran:
            assert actual == 0.0
            continue
        assert low - 1e-12 <= actual, (row.path, low, actual)
        assert high is None or actual <= high + 1e-12, (row.path, high, actual)
    assert before.total is not None
    low, high = before.total
    assert low - 1e-12 <= view.cost_usd and (high is None or view.cost_usd <= high + 1e-12)
    # The likely figure of the route the run took is a useful guess: within a factor of two of the actual.
    skipped = _routed_over(view)
    taken = [p for p in before.paths if ran <= set(p.steps) and not set(p.steps) & skipped]
    if name in LIKELY_IS_CLOSE:
        assert len(taken) == 1 and taken[0].likely_usd is not None, (name, before.paths)
        assert view.cost_usd / 2 <= taken[0].likely_usd <= view.cost_usd * 2, (name, taken[0], view.cost_usd)
        assert taken[0].usd is not None and taken[0].usd[0] <= taken[0].likely_usd <= (taken[0].usd[1] or 1.0)


LIKELY_IS_CLOSE = ("demo", "agent", "parallel", "router", "gate")
"""Flows whose run takes a fixed path with a fixed number of calls (loops and managers vary by design)."""


def _routed_over(view: SessionView) -> set[str]:
    return {p for p, s in view.steps.items() if "/" not in p and s.status == "skipped"}


async def test_prompt_tokens_of_the_low_end_are_exact_when_everything_is_known(store: Store) -> None:
    """A first step reads only inputs: its forecast prompt tokens equal the offline model's reported usage."""
    wf = workflow("agent", instant=True)
    llm = LiteLLMGateway()
    await llm.warm_up()
    before = estimate(wf, resolve_models(wf.spec), llm, {})
    status, view = await run(store, wf, options=RunOptions(auto="approve"), llm=llm)
    assert status == "completed"
    (call,) = view.calls.values()
    assert before.steps[0].prompt_tokens == (call.tokens_in, call.tokens_in)
    assert before.steps[0].output_tokens[0] <= call.tokens_out <= before.steps[0].output_tokens[1]


def test_baton_estimate_prints_a_range_per_step_and_in_total(tmp_path: Path, private_home: Path) -> None:
    env = baton_env(private_home, tmp_path / "baton.db")
    out = subprocess.run(
        [sys.executable, "-m", "baton.tui.cli", "estimate", "demo", "--runs", "100"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "estimate for 'research-brief'" in out.stdout
    for step in ("triage", "quick_answer", "research", "write"):
        assert step in out.stdout
    assert "likely per run: ~$" in out.stdout and "range per run: $" in out.stdout
    flat = " ".join(out.stdout.split())
    assert "via quick_answer" in flat and "via research → write → publish" in flat
    assert "at 100 runs: likely ~$" in out.stdout
    as_json = subprocess.run(
        [sys.executable, "-m", "baton.tui.cli", "estimate", "demo", "--json", "-i", "topic=tidal power"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )
    data = json.loads(as_json.stdout)
    assert [s["step"] for s in data["steps"]] == ["triage", "quick_answer", "research", "write", "publish"]
    low, high = data["total_usd"]
    assert 0 < low < high
    for row in data["steps"]:
        if row["calls"][1]:
            assert row["usd"][0] <= row["likely_usd"] <= row["usd"][1], row
    assert [p["steps"] for p in data["paths"]] == [
        ["triage", "quick_answer"],
        ["triage", "research", "write", "publish"],
    ]
    research = data["paths"][1]
    assert research["usd"][1] / research["usd"][0] < 5, "the research route's range is a useful one"
    assert data["likely_usd"] == [data["paths"][0]["likely_usd"], research["likely_usd"]]
    named = subprocess.run(
        [sys.executable, "-m", "baton.tui.cli", "estimate", "demo", "--model", "strong=anthropic/claude-sonnet-4-5"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**env, "COLUMNS": "80"},
        timeout=120,
    )
    assert named.returncode == 0, named.stderr
    assert "strong = anthropic/claude-sonnet-4-5" in named.stdout and "strong, fast" in named.stdout
    assert "…" not in named.stdout.replace("short answers … every", "")
    bad = subprocess.run(
        [sys.executable, "-m", "baton.tui.cli", "estimate", "demo", "-i", "nope=1"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )
    assert bad.returncode == 2 and "unknown input 'nope'" in bad.stderr and "Traceback" not in bad.stderr


NEXT = """\
name: next-forecast
state:
  topic: {{type: str}}
  one: {{type: str}}
  two: {{type: str}}
inputs:
  topic: {{default: "grid storage"}}
models:
  primary: {{model: openai/fake-primary, api_base: "{base}", api_key_env: FAKE_PROVIDER_CRED_VALUE, max_tokens: 200}}
steps:
  - id: one
    kind: agent
    model: primary
    reads: [topic]
    writes: [one]
    prompt: "First on {{topic}}"
    review: always
  - id: two
    kind: agent
    model: primary
    reads: [topic, one]
    writes: [two]
    prompt: "Expand {{one}} about {{topic}}"
"""


async def test_a_review_shows_the_next_steps_forecast(
    store: Store, fake: FakeOpenAI, gateway: LiteLLMGateway, canary: str
) -> None:
    run_ = await start(store, workflow(NEXT.format(base=fake.base_url)), gateway)
    cp = await run_.session.checkpoint("one")
    nxt = cp.context["next"]
    assert nxt["step"] == "two" and nxt["model"] == "primary"
    low, high = nxt["forecast"]
    assert 0 < low < high
    assert high - low == pytest.approx(200 * 2e-6), "the max output tokens at the output price"
    await run_.session.decide(cp, "approve")
    assert await run_.finish() == "completed"
    started = [e for e in run_.recorder.of(ev.LLMCallStarted) if e.step == "two"]
    assert started[0].forecast_usd == pytest.approx([low, high], abs=1e-8), "the runner forecast the same call"
    view = await run_.session.view()
    (call,) = [c for c in view.calls.values() if c.step == "two"]
    assert call.cost_usd is not None and call.cost_usd <= high


async def test_the_last_step_has_no_next(store: Store, fake: FakeOpenAI, gateway: LiteLLMGateway, canary: str) -> None:
    flow = NEXT.replace("    review: always\n", "").replace(
        '    prompt: "Expand {{one}} about {{topic}}"\n',
        '    prompt: "Expand {{one}} about {{topic}}"\n    review: always\n',
    )
    run_ = await start(store, workflow(flow.format(base=fake.base_url)), gateway)
    cp = await run_.session.checkpoint("two")
    assert cp.context["next"] is None
    await run_.stop()
