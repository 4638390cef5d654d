"""The circuit breaker per model: its transitions as plain logic, then shared by the steps of a real runner
against the fake provider, every change an event that viewers fold into `view.breakers`."""

from __future__ import annotations

import re

import pytest

from baton.core import events as ev
from baton.core.llm.gateway import LiteLLMGateway
from baton.core.runner import RunOptions
from baton.core.runner.guards import Breaker, Breakers
from baton.sessions.store import Store
from tests.fakes.harness import canary, fake, gateway, start
from tests.fakes.openai_server import FakeOpenAI, Fault
from tests.helpers import workflow

__all__ = ["canary", "fake", "gateway"]


def test_closed_until_threshold_consecutive_failures() -> None:
    b = Breaker("m", threshold=3, cooldown_s=10)
    assert b.failure(0.0, "server") is None
    assert b.failure(0.0, "rate_limit") is None
    assert b.success() is None and b.failures == 0, "a success resets the count"
    assert [b.failure(1.0, "server") for _ in range(3)] == [None, None, "open"]
    assert b.state == "open" and b.opened_at == 1.0


def test_request_faults_say_nothing_about_model_health() -> None:
    b = Breaker("m", threshold=1, cooldown_s=10)
    for category in ("content_policy", "context_window", "bad_request", "invalid_output"):
        assert b.failure(0.0, category) is None
    assert b.state == "closed" and b.failures == 0


def test_open_refuses_until_the_cooldown_then_lets_one_trial_through() -> None:
    b = Breaker("m", threshold=1, cooldown_s=10)
    b.failure(100.0, "server")
    assert b.allow(105.0) == (False, None)
    assert b.remaining(105.0) == 5.0 and b.wait(105.0) == 5.0
    assert b.allow(110.0) == (True, "half_open")
    assert b.allow(110.0) == (False, None), "one trial at a time"
    assert b.wait(110.0) == 1.0, "while a trial is out, others look again shortly"
    assert b.success() == "closed"
    assert b.allow(111.0) == (True, None)


def test_a_failed_trial_opens_again_with_a_fresh_cooldown() -> None:
    b = Breaker("m", threshold=2, cooldown_s=10)
    b.failure(0.0, "server")
    b.failure(0.0, "server")
    assert b.allow(10.0) == (True, "half_open")
    assert b.failure(10.5, "timeout") == "open"
    assert b.opened_at == 10.5 and b.allow(15.0) == (False, None)
    assert b.allow(20.5) == (True, "half_open")


def test_a_trial_that_was_never_sent_frees_the_slot() -> None:
    b = Breaker("m", threshold=1, cooldown_s=1)
    b.failure(0.0, "server")
    assert b.allow(1.0) == (True, "half_open")
    b.release_trial()
    assert b.allow(1.0) == (True, None)


def test_one_breaker_per_model() -> None:
    breakers = Breakers(threshold=2, cooldown_s=5)
    assert breakers.get("a") is breakers.get("a")
    assert breakers.get("a") is not breakers.get("b")
    assert breakers.get("b").threshold == 2


FLOW = """\
name: breaker
state:
  topic: {{type: str}}
  one: {{type: str}}
  two: {{type: str}}
inputs:
  topic: {{default: "grid storage"}}
models:
  primary: {{model: openai/fake-primary, api_base: "{base}", api_key_env: FAKE_PROVIDER_CRED_VALUE}}
  backup: {{model: openai/fake-backup, api_base: "{base}", api_key_env: FAKE_PROVIDER_CRED_VALUE}}
steps:
  - id: first
    kind: agent
    model: primary
    reads: [topic]
    writes: [one]
    prompt: "First on {{topic}}"
    retry: {{attempts: 2, backoff_s: [1]}}
    fallback: [backup]
  - id: second
    kind: agent
    model: primary
    reads: [topic]
    writes: [two]
    prompt: "Second on {{topic}}"
    retry: {{attempts: {second_attempts}, backoff_s: [1]}}
"""


def changes(run_events: list[ev.Envelope]) -> list[tuple[str, str]]:
    return [(e.event.step, e.event.state) for e in run_events if isinstance(e.event, ev.BreakerChanged)]


async def test_breaker_is_shared_by_the_steps_of_a_runner(
    store: Store, fake: FakeOpenAI, gateway: LiteLLMGateway, canary: str
) -> None:
    """`first` trips the breaker (2 failures) and falls back; `second` finds it open, waits out the cooldown,
    sends one trial call, which closes it."""
    fake.fail("fake-primary", Fault("unavailable"), Fault("unavailable"))
    flow = workflow(FLOW.format(base=fake.base_url, second_attempts=2))
    run = await start(store, flow, gateway, RunOptions(breaker_threshold=2, breaker_cooldown_s=30))
    assert await run.finish() == "degraded"
    assert changes(run.recorder.events) == [("first", "open"), ("second", "half_open"), ("second", "closed")]
    assert (fake.count("fake-primary"), fake.count("fake-backup")) == (3, 1)
    assert run.clock.sleeps[0] == 0.5
    assert run.clock.sleeps[1] == pytest.approx(30.0, abs=0.5), "waited for the cooldown, not a backoff"
    view = await run.session.view()
    assert view.breakers == {"openai/fake-primary": "closed"}
    assert view.steps["first"].status == "degraded" and view.steps["second"].status == "completed"
    assert view.steps["first"].timeline_text == (
        "call ✗ 503 → retry 1 (wait 0.5s) ✗ 503 → breaker openai/fake-primary open → fallback backup ✓"
    )
    # the wait is the cooldown left when `second` asked: 30 s less the (real) time since `first` tripped it
    assert re.fullmatch(r"retry 1 \(wait (29\.\d|30\.0)s, breaker open\) ✓", view.steps["second"].timeline_text)


async def test_a_failed_trial_reopens_and_the_step_escalates(
    store: Store, fake: FakeOpenAI, gateway: LiteLLMGateway, canary: str
) -> None:
    fake.fail("fake-primary", *[Fault("unavailable")] * 3)
    flow = workflow(FLOW.format(base=fake.base_url, second_attempts=3))
    run = await start(store, flow, gateway, RunOptions(breaker_threshold=2, breaker_cooldown_s=30))
    cp = await run.session.checkpoint("second")
    assert cp.reason == "escalation" and cp.context["category"] == "breaker_open"
    assert "circuit breaker open" in cp.message
    assert changes(run.recorder.events) == [("first", "open"), ("second", "half_open"), ("second", "open")]
    assert fake.count("fake-primary") == 3, "no call went out while the breaker was open"
    view = await run.session.view()
    assert view.breakers["openai/fake-primary"] == "open"
    await run.stop()


PARALLEL = """\
name: breaker-parallel
state:
  topic: {{type: str}}
  notes: {{type: "list[str]", reducer: append}}
inputs:
  topic: {{default: "grid storage"}}
models:
  primary: {{model: openai/fake-primary, api_base: "{base}", api_key_env: FAKE_PROVIDER_CRED_VALUE}}
  backup: {{model: openai/fake-backup, api_base: "{base}", api_key_env: FAKE_PROVIDER_CRED_VALUE}}
steps:
  - id: trip
    kind: agent
    model: primary
    reads: [topic]
    writes: [notes]
    prompt: "Trip on {{topic}}"
    retry: {{attempts: 1}}
    fallback: [backup]
  - id: fan
    kind: parallel
    branches:
      - {{id: a, kind: agent, model: primary, reads: [topic], writes: [notes], prompt: "A {{topic}}",
          fallback: [backup]}}
      - {{id: b, kind: agent, model: primary, reads: [topic], writes: [notes], prompt: "B {{topic}}",
          fallback: [backup]}}
"""


async def test_open_breaker_sends_branches_straight_down_their_chain(
    store: Store, fake: FakeOpenAI, gateway: LiteLLMGateway, canary: str
) -> None:
    fake.fail("fake-primary", Fault("server_error"))
    flow = workflow(PARALLEL.format(base=fake.base_url))
    run = await start(store, flow, gateway, RunOptions(breaker_threshold=1, breaker_cooldown_s=600))
    assert await run.finish() == "degraded"
    assert fake.count("fake-primary") == 1, "both branches skipped the open breaker without a request"
    assert fake.count("fake-backup") == 3
    fallbacks = [e.event for e in run.recorder.events if isinstance(e.event, ev.FallbackUsed)]
    assert sorted(f.step for f in fallbacks) == ["fan/a", "fan/b", "trip"]
    assert all("breaker" in f.reason for f in fallbacks if f.step != "trip")
