"""Budgets are checked before each call with a forecast; a call that could pass a cap is never sent (the
fake server counts requests) and the session pauses at a checkpoint instead."""

from __future__ import annotations

import pytest

from baton.core import events as ev
from baton.core.llm.gateway import LiteLLMGateway
from baton.core.runner import RunOptions
from baton.core.runner.guards import BudgetScope, Ledger, scopes_for, under
from baton.sessions.store import Store
from tests.fakes.harness import canary, fake, gateway, start
from tests.fakes.openai_server import FakeOpenAI
from tests.helpers import Session, workflow

__all__ = ["canary", "fake", "gateway"]


def test_scopes_cover_subtrees_only() -> None:
    assert under("research/papers", "research") and under("each[3]", "each") and under("refine#2/draft", "refine")
    assert not under("researcher", "research")
    assert under("anything", "session")
    caps = scopes_for("research/papers", {"research": 0.5, "write": 1.0}, 2.0)
    assert caps == [BudgetScope("session", 2.0), BudgetScope("research", 0.5)]


def test_ledger_reserves_before_and_settles_after() -> None:
    ledger = Ledger()
    caps = [BudgetScope("session", 1.0)]
    assert ledger.check(caps, 0.6) is None
    settle = ledger.reserve("a", 0.6)
    verdict = ledger.check(caps, 0.6)
    assert verdict is not None and verdict.spent_usd == pytest.approx(0.6), "the reservation counts"
    settle(0.1)
    settle(0.1)  # idempotent
    assert ledger.used("session") == pytest.approx(0.1)
    assert ledger.check(caps, 0.6) is None
    assert ledger.check(caps, None) is not None, "an unknown price could pass any cap"


FLOW = """\
name: budgeted
state:
  topic: {{type: str}}
  one: {{type: str}}
  two: {{type: str}}
inputs:
  topic: {{default: "grid storage"}}
models:
  primary: {{model: {model}, api_base: "{base}", api_key_env: FAKE_PROVIDER_CRED_VALUE, max_tokens: 200}}
{budget}steps:
  - id: one
    kind: agent
    model: primary
    reads: [topic]
    writes: [one]
    prompt: "First on {{topic}}"
{one_extra}  - id: two
    kind: agent
    model: primary
    reads: [topic]
    writes: [two]
    prompt: "Second on {{topic}}"
"""
# primary: $1/M in, $2/M out. A call forecasts ≈ 15 prompt tokens + 200 output = ~$0.000415 at most; the
# fake server bills 50 in + 12 out = $0.000074. A cap of $0.00045 fits the first call, not the second.
CAP = 0.00045


def flow(server: FakeOpenAI, budget: str = "", one_extra: str = "", model: str = "openai/fake-primary") -> object:
    return workflow(FLOW.format(base=server.base_url, budget=budget, one_extra=one_extra, model=model))


def blocked(run_events: list[ev.Envelope]) -> list[ev.BudgetWarning]:
    return [e.event for e in run_events if isinstance(e.event, ev.BudgetWarning) and e.event.blocked]


async def test_a_session_cap_stops_the_call_that_could_pass_it(
    store: Store, fake: FakeOpenAI, gateway: LiteLLMGateway, canary: str
) -> None:
    run = await start(store, flow(fake), gateway, RunOptions(auto="approve", max_usd=CAP))
    assert await run.finish() == "paused"
    assert fake.count("fake-primary") == 1, "the second call was never sent"
    (warning,) = blocked(run.recorder.events)
    assert warning.step == "two" and warning.scope == "session" and warning.limit_usd == CAP
    assert warning.spent_usd == pytest.approx(50 * 1e-6 + 12 * 2e-6)
    assert warning.spent_usd + warning.forecast_usd > CAP >= warning.forecast_usd
    view = await run.session.view()
    assert view.status == "paused" and "budget" in view.reason
    assert view.cost_usd <= CAP
    assert view.steps["two"].status != "completed"


async def test_the_person_may_lift_the_cap_for_that_call(
    store: Store, fake: FakeOpenAI, gateway: LiteLLMGateway, canary: str
) -> None:
    run = await start(store, flow(fake), gateway, RunOptions(max_usd=CAP))
    cp = await run.session.checkpoint("two")
    assert cp.reason == "budget" and fake.count("fake-primary") == 1
    assert "session budget $0.0004" in cp.message and "could cost up to" in cp.message
    assert set(cp.options) >= {"approve", "retry_model", "skip", "pause"}
    await run.session.decide(cp, "approve")
    assert await run.finish() == "completed"
    assert fake.count("fake-primary") == 2


async def test_a_resume_with_a_larger_budget_continues(
    store: Store, fake: FakeOpenAI, gateway: LiteLLMGateway, canary: str
) -> None:
    run = await start(store, flow(fake), gateway, RunOptions(auto="approve", max_usd=CAP))
    assert await run.finish() == "paused"
    session = Session(store, run.session.id, run.session.host)
    await session.resume(RunOptions(auto="approve", max_usd=0.01), llm=gateway)
    assert await session.finish() == "completed"
    assert fake.count("fake-primary") == 2


async def test_the_workflow_budget_applies_without_options(
    store: Store, fake: FakeOpenAI, gateway: LiteLLMGateway, canary: str
) -> None:
    run = await start(store, flow(fake, budget=f"budget: {{max_usd: {CAP}}}\n"), gateway, RunOptions(auto="approve"))
    assert await run.finish() == "paused"
    assert fake.count("fake-primary") == 1


async def test_a_step_budget_blocks_only_that_step(
    store: Store, fake: FakeOpenAI, gateway: LiteLLMGateway, canary: str
) -> None:
    run = await start(
        store, flow(fake, one_extra="    budget: {max_usd: 0.0001}\n"), gateway, RunOptions(auto="approve")
    )
    assert await run.finish() == "paused"
    assert fake.count("fake-primary") == 0
    (warning,) = blocked(run.recorder.events)
    assert (warning.step, warning.scope, warning.limit_usd) == ("one", "one", 0.0001)


async def test_an_unknown_price_cannot_be_checked_so_it_is_not_sent(
    store: Store, fake: FakeOpenAI, gateway: LiteLLMGateway, canary: str
) -> None:
    run = await start(store, flow(fake, model="openai/fake-unpriced"), gateway, RunOptions(auto="approve", max_usd=5))
    assert await run.finish() == "paused"
    assert fake.count("fake-unpriced") == 0
    (warning,) = blocked(run.recorder.events)
    assert warning.forecast_usd == 0.0


PARALLEL = """\
name: budgeted-branches
state:
  topic: {{type: str}}
  notes: {{type: "list[str]", reducer: append}}
inputs:
  topic: {{default: "grid storage"}}
models:
  primary: {{model: openai/fake-primary, api_base: "{base}", api_key_env: FAKE_PROVIDER_CRED_VALUE, max_tokens: 200}}
steps:
  - id: fan
    kind: parallel
    budget: {{max_usd: {cap}}}
    branches:
      - {{id: a, kind: agent, model: primary, reads: [topic], writes: [notes], prompt: "A on {{topic}}"}}
      - {{id: b, kind: agent, model: primary, reads: [topic], writes: [notes], prompt: "B on {{topic}}"}}
      - {{id: c, kind: agent, model: primary, reads: [topic], writes: [notes], prompt: "C on {{topic}}"}}
"""


async def test_concurrent_branches_cannot_jointly_pass_a_branch_budget(
    store: Store, fake: FakeOpenAI, gateway: LiteLLMGateway, canary: str
) -> None:
    """Three branches start at once under a cap that fits one forecast: the reservation of the first stops
    the others before they send anything (peers overshoot a cap by starting every call on the same
    'spent so far')."""
    fake.chunk_interval_s = 0.02
    run = await start(
        store, workflow(PARALLEL.format(base=fake.base_url, cap=CAP)), gateway, RunOptions(auto="approve")
    )
    assert await run.finish() == "paused"
    assert fake.count("fake-primary") == 1
    warnings = blocked(run.recorder.events)
    assert warnings and all(w.scope == "fan" for w in warnings)
    view = await run.session.view()
    assert view.cost_usd <= CAP
