"""Figures are true and labelled: each call's cost on the model that made it, routing savings only where a
router chose between models, a fork's copied steps at $0 everywhere and its projection from a full run.
Real sessions: the real runner, the real store and the offline model through litellm."""

from __future__ import annotations

import pytest
from rich.console import Console

from baton.core.economics import summarize
from baton.core.result import stored_spec
from baton.core.runner import RunOptions
from baton.core.view import SessionView
from baton.sessions.fork import fork_session
from baton.sessions.store import Store
from baton.tui.report import step_line, summary
from tests.helpers import Session, run, workflow


def text_of(renderable: object) -> str:
    console = Console(record=True, width=240, color_system=None)
    console.print(renderable)
    return console.export_text()


RETRY_ON_FAST = {"write": [{"decision": "retry_model", "model": "fast"}, "approve"], "publish": "approve"}


async def test_a_retry_on_another_model_is_charged_to_each_model(store: Store) -> None:
    status, view = await run(store, workflow("demo", instant=True), options=RunOptions(decisions=RETRY_ON_FAST))
    assert status == "completed"
    calls = [view.calls[c] for c in view.steps["write"].calls]
    assert [c.alias for c in calls] == ["strong", "fast"]
    s = summarize(view, spec=stored_spec(view))
    write = next(line for line in s.steps if line.name == "write")
    assert write.model == "strong→fast"
    assert [(p.name, p.cost_usd) for p in write.parts] == [("strong", calls[0].cost_usd), ("fast", calls[1].cost_usd)]
    assert calls[0].cost_usd > 20 * calls[1].cost_usd  # the strong call is most of the step's cost
    by_model = {line.name: line.cost_usd for line in s.models}
    strong_calls = [c for c in view.calls.values() if c.model == "mock/strong"]
    assert by_model["mock/strong"] == pytest.approx(sum(c.cost_usd or 0 for c in strong_calls))
    shown = text_of(summary(view))
    assert "strong→fast" in shown and "↳ strong" in shown and "↳ fast" in shown
    assert "strong→fast" in step_line(view.steps["write"], view=view).plain
    assert "strong→fast" not in step_line(view.steps["write"]).plain  # without the view: the last call's model


RULES_ONLY = """
name: rules-router
state:
  q: {type: str}
  a: {type: str}
inputs:
  q: {default: "a short one"}
models:
  fast: {model: mock/fast, mock: {min_tokens: 5, max_tokens: 8}}
  strong: {model: mock/strong, mock: {min_tokens: 5, max_tokens: 8}}
steps:
  - id: triage
    kind: router
    reads: [q]
    rules: [{when: "len(q) < 20", route: small}]
    routes: {small: quick, big: thorough}
    default: big
  - {id: quick, kind: agent, model: fast, reads: [q], writes: [a], prompt: "{q}", next: end}
  - {id: thorough, kind: agent, model: %s, reads: [q], writes: [a], prompt: "In depth: {q}"}
"""


async def test_a_rules_router_that_picks_a_path_claims_no_routing_savings(store: Store) -> None:
    status, view = await run(store, workflow(RULES_ONLY % "fast"))
    assert status == "completed" and view.routed == {"quick": "triage"}
    s = summarize(view, spec=stored_spec(view))
    assert s.routing_savings_usd is None and s.routed == []
    assert "routing saved" not in text_of(summary(view))


async def test_a_rules_router_that_picks_a_model_claims_them(store: Store) -> None:
    status, view = await run(store, workflow(RULES_ONLY % "strong"))
    assert status == "completed"
    s = summarize(view, spec=stored_spec(view))
    assert s.routed == ["quick"] and s.strong_model == "mock/strong"
    assert s.routing_savings_usd is not None and s.routing_savings_usd > 0
    assert "routing saved ~" in text_of(summary(view))


async def test_a_fork_shows_its_copied_steps_at_zero_and_projects_a_full_run(store: Store) -> None:
    status, parent = await run(store, workflow("demo", instant=True), options=RunOptions(auto="approve"))
    assert status == "completed"
    fork_id = await fork_session(store, parent.session_id, "write", {})
    forked = Session(store, fork_id, None)  # type: ignore[arg-type]
    await forked.resume(RunOptions(auto="approve"))
    assert await forked.finish() == "completed"

    # As a viewer folds the fork event by event, a copied step's line says $0 the moment it is printed
    # (the copied events come before the fork marker), and never the parent's cost.
    live = SessionView(fork_id)
    printed: dict[str, str] = {}
    for env in await store.events(fork_id):
        live.apply(env)
        if type(env.event).__name__ == "StepCompleted" and env.event.step in ("triage", "research/papers"):
            printed[env.event.step] = step_line(live.step(env.event.step), view=live).plain
    for path, line in printed.items():
        assert "$0 inherited" in line, line
        assert f"{parent.steps[path].cost_usd:.4f}"[:6] not in line

    view = await forked.view()
    s = summarize(view, spec=stored_spec(view))
    rerun = parent.steps["write"].cost_usd + parent.steps["publish"].cost_usd
    assert s.total_usd == 0.0  # the write call and the publisher's turns replayed from the parent's record
    assert s.inherited_usd == pytest.approx(parent.cost_usd - rerun)
    assert s.replayed_usd == pytest.approx(rerun, rel=1e-9)
    assert s.projection(1000) == pytest.approx(parent.cost_usd * 1000, rel=1e-9)
    shown = text_of(summary(view))
    assert "from a full run's" in shown and f"inherited from {parent.session_id}" in shown
    assert "~$0.0000 at" not in shown and "at 1,000 runs: ~$0.0000" not in shown
    assert "routing saved" not in shown  # nothing was routed (or paid) in the fork itself
