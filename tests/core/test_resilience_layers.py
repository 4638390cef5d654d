"""Layer 1 (validate before spending tokens, validate after) and the loop judge: bad input never reaches the
provider, a bad answer is a failure (retried, then escalated), and work a judge failed never flows on
silently."""

from __future__ import annotations

import pytest

from baton.core import events as ev
from baton.core.llm.gateway import LiteLLMGateway
from baton.core.runner import RunOptions
from baton.sessions.store import Store
from tests.fakes.harness import canary, fake, gateway, start
from tests.fakes.openai_server import FakeOpenAI
from tests.helpers import workflow

__all__ = ["canary", "fake", "gateway"]

FLOW = """\
name: layers
state:
  topic: {{type: str, max_chars: 20}}
  facts: {{type: dict}}
  answer: {{type: str, max_chars: 40}}
  tags: {{type: "list[str]", max_items: 2}}
inputs:
  topic: {{default: "grid storage"}}
models:
  primary: {{model: openai/fake-primary, api_base: "{base}", api_key_env: FAKE_PROVIDER_CRED_VALUE, max_tokens: 100}}
steps:
{steps}
"""


def flow(server: FakeOpenAI, steps: str) -> object:
    return workflow(FLOW.format(base=server.base_url, steps=steps))


async def test_an_input_over_its_limit_stops_before_any_token(
    store: Store, fake: FakeOpenAI, gateway: LiteLLMGateway, canary: str
) -> None:
    steps = """\
  - {id: write, kind: agent, model: primary, reads: [topic], writes: [answer], prompt: "On {topic}"}"""
    run = await start(store, flow(fake, steps), gateway, inputs={"topic": "x" * 21})
    cp = await run.session.checkpoint("write")
    assert cp.reason == "escalation" and cp.context["category"] == "input_invalid"
    assert "input 'topic' has 21 chars, over its limit of 20" in cp.message
    assert set(cp.options) == {"edit", "skip", "pause"}
    assert fake.count() == 0, "no token was spent on a bad input"
    await run.session.decide(cp, "edit", edited={"topic": "grid"})
    assert await run.finish() == "completed"
    assert fake.count() == 1 and "On grid" in fake.seen[0].messages[-1]["content"]


async def test_an_input_check_failure_unattended_stops_the_session(
    store: Store, fake: FakeOpenAI, gateway: LiteLLMGateway, canary: str
) -> None:
    steps = """\
  - {id: write, kind: agent, model: primary, reads: [topic], writes: [answer], prompt: "On {topic}"}"""
    run = await start(store, flow(fake, steps), gateway, RunOptions(auto="approve"), inputs={"topic": "y" * 30})
    assert await run.finish() == "failed"
    assert fake.count() == 0


@pytest.mark.parametrize(
    ("output", "reply", "why"),
    [
        ("output: {facts: dict, confidence: float}", "not json at all", "not JSON"),
        ("output: {facts: dict, confidence: float}", '{"facts": {}}', "confidence"),
        ("", "w " * 30, "'answer' has"),
    ],
    ids=["not json", "missing field", "over the key's limit"],
)
async def test_a_bad_answer_is_a_failure_not_an_output(
    store: Store, fake: FakeOpenAI, gateway: LiteLLMGateway, canary: str, output: str, reply: str, why: str
) -> None:
    writes = "[facts]" if output else "[answer]"
    extra = f", {output}" if output else ""
    steps = f"""\
  - {{id: write, kind: agent, model: primary, reads: [topic], writes: {writes}, prompt: "On {{topic}}"{extra},
     retry: {{attempts: 2, backoff_s: [1]}}}}
  - {{id: after, kind: agent, model: primary, reads: [topic], writes: [tags], output: {{tags: "list[str]"}},
     prompt: "Tags for {{topic}}"}}"""
    fake.reply("fake-primary", reply, reply)
    run = await start(store, flow(fake, steps), gateway)
    cp = await run.session.checkpoint("write")
    assert cp.reason == "escalation" and cp.context["category"] == "invalid_output"
    assert why in cp.message and "2 attempts" in cp.message
    assert fake.count() == 2 and run.clock.sleeps == [0.5]
    finished = [e for e in run.recorder.of(ev.LLMCallFinished) if e.step == "write"]
    assert [f.error_type for f in finished] == ["invalid_output", "invalid_output"]
    view = await run.session.view()
    assert "after" not in view.steps or view.steps["after"].status == "pending"
    assert "facts" not in view.state and "answer" not in view.state, "nothing was written"
    assert view.steps["write"].timeline_text.startswith("call ✗ invalid output → retry 1 (wait 0.5s) ✗ invalid output")
    await run.stop()


LOOP = """\
name: judged
state:
  brief: {{type: str}}
  draft: {{type: str}}
  feedback: {{type: str}}
  published: {{type: str}}
inputs:
  brief: {{default: "an announcement"}}
models:
  primary: {{model: openai/fake-primary, api_base: "{base}", api_key_env: FAKE_PROVIDER_CRED_VALUE, max_tokens: 100}}
  judge: {{model: openai/fake-backup, api_base: "{base}", api_key_env: FAKE_PROVIDER_CRED_VALUE, max_tokens: 100}}
steps:
  - id: refine
    kind: loop
    max_iterations: 2
    steps:
      - {{id: write, kind: agent, model: primary, reads: [brief, "feedback?"], writes: [draft],
          prompt: "Write {{brief}}"}}
    judge: {{id: check, kind: agent, model: judge, reads: [draft], writes: [feedback], prompt: "Judge {{draft}}"}}
  - {{id: publish, kind: agent, model: primary, reads: [draft], writes: [published], prompt: "Publish {{draft}}"}}
"""


async def test_work_the_judge_never_passed_does_not_flow_on_unattended(
    store: Store, fake: FakeOpenAI, gateway: LiteLLMGateway, canary: str
) -> None:
    fake.reply("fake-backup", *['{"pass": false, "feedback": "too vague"}'] * 2)
    run = await start(store, workflow(LOOP.format(base=fake.base_url)), gateway, RunOptions(auto="approve"))
    assert await run.finish() == "failed"
    assert fake.count("fake-primary") == 2, "two drafts, and no publish call"
    view = await run.session.view()
    assert "did not pass the work after 2 iterations" in view.error
    assert view.steps.get("publish") is None or view.steps["publish"].status in ("pending", "skipped")


async def test_a_person_may_accept_what_the_judge_failed_and_the_session_is_degraded(
    store: Store, fake: FakeOpenAI, gateway: LiteLLMGateway, canary: str
) -> None:
    fake.reply("fake-backup", *['{"pass": false, "feedback": "too vague"}'] * 2)
    run = await start(store, workflow(LOOP.format(base=fake.base_url)), gateway)
    cp = await run.session.checkpoint("refine")
    assert cp.reason == "escalation" and cp.context["category"] == "judge_failed"
    assert set(cp.options) == {"approve", "pause"}
    await run.session.decide(cp, "approve")
    assert await run.finish() == "degraded"
    view = await run.session.view()
    assert view.steps["refine"].status == "degraded" and view.steps["publish"].status == "completed"
