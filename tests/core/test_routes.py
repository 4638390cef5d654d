"""Routing taught by decisions: each decision on an answer counts for the model that wrote it, a cheaper model
judged often enough and accepted at least as often is suggested with its savings, and `save_model_alias`
points the alias at it in the config file."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from baton.core import events as ev
from baton.core.config import load_config, save_model_alias
from baton.core.learn.routes import Observed, observe, report
from baton.core.learn.shadow import shadow_request, side_by_side
from baton.core.runner import RunOptions
from baton.core.spec.model import ModelSpec
from baton.sessions.routes import routes
from baton.sessions.store import Store
from tests.helpers import run, workflow


def _answer(seq: int, step: str, alias: str, called: str, cost: float, decision: str, **extra: str) -> list[ev.Event]:
    cid = f"{step}:review:{seq}"
    return [
        ev.LLMCallFinished(step=step, call_id=f"c{seq}", alias=alias, model=called, cost_usd=cost, text="a"),
        ev.CheckpointOpened(step=step, checkpoint_id=cid, reason="review", output="a"),
        ev.DecisionMade(step=step, checkpoint_id=cid, decision=decision, **extra),  # type: ignore[arg-type]
    ]


def _observed(session: str, *events: ev.Event) -> Observed:
    return observe("brief", session, [ev.Envelope(session, i, float(i), e) for i, e in enumerate(events, 1)])


def test_each_decision_counts_for_the_model_that_wrote_the_answer() -> None:
    seen = _observed(
        "s1",
        ev.StepStarted(step="each[0]", model="dear"),
        *_answer(1, "each[0]", "dear", "mock/strong", 0.01, "retry_model", model="cheap"),
        *_answer(2, "each[0]", "cheap", "mock/fast", 0.001, "approve"),
        *_answer(3, "each[1]", "dear", "mock/strong", 0.01, "reject", feedback="no"),
        *_answer(4, "each[1]", "dear", "mock/strong", 0.01, "edit"),
        *_answer(5, "each[2]", "dear", "mock/strong", 0.01, "retry_model", model="dear"),
        *_answer(6, "each[3]", "dear", "mock/strong", 0.01, "skip"),
        ev.CheckpointOpened(step="each[4]", checkpoint_id="t", reason="tool_call"),
        ev.DecisionMade(step="each[4]", checkpoint_id="t", decision="reject", feedback="no"),
    )
    assert [(v.step, v.alias, v.verdict) for v in seen.verdicts] == [
        ("each", "dear", "retried"),
        ("each", "cheap", "approved"),
        ("each", "dear", "rejected"),
        ("each", "dear", "rejected"),
    ]
    assert len(seen.calls) == 6 and seen.configured == {("brief", "each"): "dear"}
    (step,) = report(seen, minimum=1)
    assert (step.step, step.current, step.volume) == ("each", "dear", 6)
    dear, cheap = step.record("dear"), step.record("cheap")
    assert dear is not None and cheap is not None
    assert (dear.approved, dear.rejected, dear.retried, dear.acceptance) == (0, 2, 1, 0.0)
    assert (cheap.approved, cheap.acceptance, cheap.mean_cost) == (1, 1.0, pytest.approx(0.001))
    assert step.suggestion is not None
    assert (step.suggestion.alias, step.suggestion.model, step.suggestion.instead_of) == ("cheap", "mock/fast", "dear")
    assert step.suggestion.projected_savings == pytest.approx(0.009 * 6)


def test_decisions_by_auto_or_a_rule_judge_nothing() -> None:
    seen = _observed(
        "s1",
        *_answer(1, "write", "dear", "mock/strong", 0.01, "approve", by="auto"),
        *_answer(2, "write", "dear", "mock/strong", 0.01, "approve", by="rule:3fa9c1e2"),
        *_answer(3, "write", "dear", "mock/strong", 0.01, "approve", by="decisions:d.json"),
        *_answer(4, "write", "dear", "mock/strong", 0.01, "reject", by="ann", feedback="shorter"),
    )
    assert [(v.step, v.verdict) for v in seen.verdicts] == [("write", "approved"), ("write", "rejected")]
    assert len(seen.calls) == 4, "every call still counts as the step's volume"


def test_a_cheaper_model_needs_enough_decisions_and_as_good_a_record() -> None:
    def seen(cheap: list[str], dear: list[str]) -> Observed:
        events: list[ev.Event] = [ev.StepStarted(step="write", model="dear")]
        for i, d in enumerate(dear):
            events += _answer(i, "write", "dear", "mock/strong", 0.01, d)
        for i, d in enumerate(cheap, 100):
            events += _answer(i, "write", "cheap", "mock/fast", 0.001, d)
        return _observed("s", *events)

    (few,) = report(seen(["approve"] * 2, ["approve", "reject"]), minimum=3)
    assert few.suggestion is None and few.why_not == "no cheaper model has 3 decisions yet"
    (worse,) = report(seen(["approve", "reject", "reject"], ["approve", "approve", "reject"]), minimum=3)
    assert worse.suggestion is None and "accepted less often" in worse.why_not
    (good,) = report(seen(["approve", "approve", "reject"], ["approve", "approve", "reject"]), minimum=3)
    assert good.suggestion is not None and good.suggestion.alias == "cheap"
    (unjudged,) = report(seen(["approve"] * 3, []), minimum=3)
    assert unjudged.suggestion is None and unjudged.why_not == "no decisions yet on dear's answers"
    (none_cheaper,) = report(_observed("s", *_answer(1, "write", "cheap", "mock/fast", 0.001, "approve")), minimum=1)
    assert none_cheaper.suggestion is None and "no cheaper model" in none_cheaper.why_not


def test_replayed_calls_cost_nothing_and_are_not_counted_as_volume() -> None:
    finished = ev.LLMCallFinished(step="w", call_id="c", alias="a", model="mock/fast", cost_usd=0.0, replayed=True)
    assert _observed("s", finished).calls == []


def test_an_alias_pointed_at_another_model_keeps_a_record_per_model() -> None:
    seen = _observed(
        "s",
        *_answer(1, "write", "dear", "mock/strong", 0.01, "reject"),
        *_answer(2, "write", "dear", "mock/fast", 0.001, "approve"),
    )
    (step,) = report(seen, minimum=1)
    assert sorted((m.alias, m.model, m.approved) for m in step.models) == [
        ("dear", "mock/fast", 1),
        ("dear", "mock/strong", 0),
    ]
    assert step.record("dear") is not None and step.record("dear").model == "mock/fast"  # type: ignore[union-attr]


def test_a_shadow_request_is_the_recorded_one_on_the_candidate() -> None:
    recorded = {
        "model": "mock/strong",
        "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}],
        "max_tokens": 200,
        "response_format": {"type": "json_object"},
    }
    request = shadow_request(recorded, "cheap", ModelSpec(model="mock/fast", temperature=0.2))
    assert (request.model, request.alias, request.messages, request.max_tokens) == (
        "mock/fast",
        "cheap",
        recorded["messages"],
        200,
    )
    assert request.response_format == {"type": "json_object"} and request.temperature == 0.2
    with pytest.raises(ValueError):
        shadow_request({"model": "x"}, "cheap", ModelSpec(model="mock/fast"))
    rows = side_by_side(("left", "a b c " * 20), ("right", "short"), width=60)
    assert rows[0].startswith("left") and "│ right" in rows[0]
    assert all(len(r) <= 60 for r in rows) and rows[2].endswith("│ short")


def test_save_model_alias_points_an_alias_and_keeps_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[ui]\ntheme = "nord"\n\n[models.dear]\nmodel = "openai/gpt-4o"\napi_base = "http://h"\n')
    save_model_alias("dear", "mock/fast", path)
    save_model_alias("other", "mock/tiny", path)
    save_model_alias("other", "mock/fast", path)
    data = tomllib.loads(path.read_text())
    assert data["ui"] == {"theme": "nord"}
    assert data["models"]["dear"] == {"model": "mock/fast", "api_base": "http://h"}
    assert data["models"]["other"] == "mock/fast"
    assert load_config(path).models["other"].model == "mock/fast"


FLOW = """
name: brief
state:
  topic: {type: str}
  draft: {type: str}
inputs:
  topic: {default: owls}
models:
  cheap: {model: mock/fast, mock: {latency_s: 0, tokens_per_s: 0}}
  dear: {model: mock/strong, mock: {latency_s: 0, tokens_per_s: 0}}
steps:
  - id: write
    kind: agent
    model: dear
    review: always
    reads: [topic]
    writes: [draft]
    prompt: "Write a brief about {topic}."
"""


async def test_routes_from_sessions_a_person_decided_on_the_offline_model(store: Store) -> None:
    flow = workflow(FLOW)
    retry = {"decision": "retry_model", "model": "cheap"}
    for topic in ("owls", "bats", "moles"):
        status, _ = await run(
            store, flow, inputs={"topic": topic}, options=RunOptions(decisions={"write": [retry, "approve"]})
        )
        assert status == "completed"
    status, _ = await run(store, flow, inputs={"topic": "eels"}, options=RunOptions(decisions={"write": ["approve"]}))
    (step,) = await routes(store, "brief", minimum=3)
    assert (step.workflow, step.step, step.current, step.volume) == ("brief", "write", "dear", 7)
    dear, cheap = step.record("dear"), step.record("cheap")
    assert dear is not None and cheap is not None
    assert (dear.approved, dear.retried, dear.decisions) == (1, 3, 4)
    assert (cheap.approved, cheap.decisions, cheap.calls) == (3, 3, 3)
    assert cheap.mean_cost is not None and dear.mean_cost is not None and cheap.mean_cost < dear.mean_cost
    assert step.suggestion is not None and step.suggestion.alias == "cheap"
    assert step.suggestion.projected_savings == pytest.approx((dear.mean_cost - cheap.mean_cost) * 7)
    assert await routes(store, "other") == []
    (strict,) = await routes(store, "brief", minimum=4)
    assert strict.suggestion is None
