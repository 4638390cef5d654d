"""The seed's worked example, reproduced from measured usage: $0.037 per run (routing $0.001, research
$0.006, writer $0.030, review $0.0001), orchestration 2.7% of the cost.

Prices (USD per token) and token counts chosen so each step costs exactly the example's figure:
  cheap  in 0.1e-6, out 0.4e-6  ·  strong in 3e-6, out 15e-6
  routing  (cheap)   2,000 in /  2,000 out → 0.0002 + 0.0008 = $0.0010
  research (cheap)  20,000 in / 10,000 out → 0.0020 + 0.0040 = $0.0060
  writer   (strong)  5,000 in /  1,000 out → 0.0150 + 0.0150 = $0.0300
  review   (cheap)     600 in /    100 out → 0.00006 + 0.00004 = $0.0001
The fake provider reports those usages; the gateway prices them with litellm's registered prices; the
session is folded from the store and summarised exactly as `baton show` does.
"""

from __future__ import annotations

import pytest
from rich.console import Console

from baton.core.economics import summarize, usd
from baton.core.llm.gateway import LiteLLMGateway
from baton.core.runner import RunOptions
from baton.sessions.store import Store
from baton.tui.report import summary
from tests.fakes.harness import canary, fake, start
from tests.fakes.openai_server import FakeOpenAI
from tests.helpers import workflow

__all__ = ["canary", "fake"]

FLOW = """\
name: worked-example
state:
  topic: {{type: str}}
  route: {{type: str}}
  answer: {{type: str}}
  notes: {{type: str}}
  draft: {{type: str}}
  verdict: {{type: str}}
inputs:
  topic: {{default: "solid-state batteries"}}
models:
  cheap: {{model: openai/fake-cheap, api_base: "{base}", api_key_env: FAKE_PROVIDER_CRED_VALUE}}
  strong: {{model: openai/fake-strong, api_base: "{base}", api_key_env: FAKE_PROVIDER_CRED_VALUE}}
steps:
  - id: routing
    kind: router
    model: cheap
    reads: [topic]
    writes: [route]
    prompt: "How much work does this need? {{topic}}"
    routes: {{simple: quick, complex: research}}
  - id: quick
    kind: agent
    model: cheap
    reads: [topic]
    writes: [answer]
    prompt: "Answer briefly: {{topic}}"
    next: end
  - id: research
    kind: agent
    model: cheap
    reads: [topic]
    writes: [notes]
    prompt: "Research {{topic}}"
  - id: writer
    kind: agent
    model: strong
    reads: [topic, notes]
    writes: [draft]
    prompt: "Write a brief on {{topic}} from {{notes}}"
  - id: review
    kind: agent
    model: cheap
    reads: [draft]
    writes: [verdict]
    prompt: "Review: {{draft}}"
"""


@pytest.fixture
async def priced() -> LiteLLMGateway:
    llm = LiteLLMGateway()
    await llm.warm_up()
    llm.register_price("openai/fake-cheap", 0.1e-6, 0.4e-6)
    llm.register_price("openai/fake-strong", 3e-6, 15e-6)
    return llm


async def test_the_worked_example(store: Store, fake: FakeOpenAI, priced: LiteLLMGateway, canary: str) -> None:
    fake.reply(
        "fake-cheap", '{"route": "complex", "reason": "needs research"}', prompt_tokens=2000, completion_tokens=2000
    )
    fake.reply("fake-cheap", "notes on cells and costs", prompt_tokens=20_000, completion_tokens=10_000)
    fake.reply("fake-strong", "a one-page brief", prompt_tokens=5_000, completion_tokens=1_000)
    fake.reply("fake-cheap", "looks right", prompt_tokens=600, completion_tokens=100)
    run = await start(store, workflow(FLOW.format(base=fake.base_url)), priced, RunOptions(auto="approve"))
    assert await run.finish() == "completed"
    view = await run.session.view()
    s = summarize(view)

    costs = {line.name: line.cost_usd for line in s.steps if line.calls}
    assert costs == pytest.approx({"routing": 0.001, "research": 0.006, "writer": 0.030, "review": 0.0001}, abs=1e-12)
    assert s.total_usd == pytest.approx(0.0371, abs=1e-12)
    assert f"{s.total_usd:.3f}" == "0.037"
    assert s.orchestration_steps == ["routing"]
    assert s.orchestration_usd == pytest.approx(0.001, abs=1e-12)
    assert f"{s.orchestration_cost_share:.1%}" == "2.7%"
    assert (s.tokens_in, s.tokens_out) == (27_600, 13_100)
    models = {line.name: (line.calls, line.tokens_in, line.tokens_out, round(line.cost_usd, 10)) for line in s.models}
    assert models == {
        "openai/fake-strong": (1, 5_000, 1_000, 0.03),
        "openai/fake-cheap": (3, 22_600, 12_100, 0.0071),
    }
    # Routing: `research` was routed; on the strong model its measured tokens would cost
    # 20,000 × 3e-6 + 10,000 × 15e-6 = $0.21, against $0.006 + the router's $0.001.
    assert s.routed == ["research"] and s.strong_model == "openai/fake-strong"
    assert s.routed_strong_usd == pytest.approx(0.21, abs=1e-12)
    assert s.routing_savings_usd == pytest.approx(0.21 - 0.007, abs=1e-12)
    assert s.projection(1000) == pytest.approx(37.1, abs=1e-9)

    console = Console(record=True, width=200, color_system=None)
    console.print(summary(view, runs=1000))
    text = console.export_text()
    assert "$0.0371" in text
    assert "orchestration (⚙ routing): 2.7% of cost" in text
    assert "routing saved ~$0.2030 (97%)" in text and "an estimate" in text
    assert f"at 1,000 runs: ~{usd(37.1)}" in text
    assert "writer" in text and "80.9%" in text  # the writer's share of the cost, in the per-step table


def test_no_router_means_no_routing_claim() -> None:
    from baton.core.view import SessionView

    s = summarize(SessionView("x"))
    assert s.routing_savings_usd is None and s.orchestration_cost_share is None
