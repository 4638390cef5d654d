"""Every decision kind at an agent's review checkpoint, through the real runner, store and litellm path.

Each decision goes through the commands table (as a viewer in another process sends it), is persisted as
`DecisionMade` before the runner acts, and what the runner then did is read back from the session's events.
"""

from __future__ import annotations

import asyncio

from baton.core import events as ev
from baton.core.commands import decide
from baton.core.runner import RunOptions
from tests.core.hitl_support import (
    AGENT,
    MODELS,
    calls,
    events,
    of_kind,
    start_fixture,  # noqa: F401 - the `start` fixture
    statuses,
)

STRUCTURED = f"""
name: hitl-structured
state:
  ticket: {{type: str}}
  category: {{type: str}}
  confidence: {{type: float}}
  summary: {{type: str, max_chars: 80}}
inputs:
  ticket: {{default: "CSV export times out"}}
{MODELS}
steps:
  - id: classify
    kind: agent
    model: fast
    reads: [ticket]
    writes: [category, confidence, summary]
    prompt: "Classify: {{ticket}}"
    output: {{category: "enum[bug, billing]", confidence: float, summary: str}}
    review: always
"""


def _seq(envelopes: list[ev.Envelope], kind: type[ev.Event], step: str) -> list[int]:
    return [e.seq for e in envelopes if isinstance(e.event, kind) and e.event.step == step]


async def test_approve_is_recorded_before_the_step_completes(start) -> None:
    s = await start(AGENT)
    cp = await s.checkpoint("write")
    assert cp.checkpoint_id == "write:review:1"
    assert cp.options == ["approve", "edit", "reject", "reroute", "retry_model", "skip", "pause"]
    output = cp.output
    assert isinstance(output, str) and output.strip()
    assert await s.decide(cp, "approve") == ("done", "")
    assert await s.finish() == "completed"
    log = await events(s)
    made = of_kind(log, ev.DecisionMade, "write")
    assert [(d.decision, d.by, d.checkpoint_id) for d in made] == [("approve", "tester", "write:review:1")]
    assert _seq(log, ev.DecisionMade, "write")[0] < _seq(log, ev.StepCompleted, "write")[0]
    view = await s.view()
    assert view.state["draft"] == output
    assert view.checkpoints["write:review:1"].decision is not None
    assert len(calls(log, "write")) == 1


async def test_context_at_decision_time(start) -> None:
    s = await start(AGENT)
    cp = await s.checkpoint("write")
    ctx = cp.context
    assert ctx["reads"] == {"topic": "tidal power"}
    assert ctx["model"] == "fast"
    assert ctx["tokens_in"] > 0 and ctx["tokens_out"] > 0
    assert ctx["cost_usd"] > 0
    assert ctx["latency_s"] is not None
    assert ctx["attempts"] == 1 and ctx["retries"] == 0
    assert "Write a note about tidal power" in ctx["prompt"]
    assert set(cp.forecasts) == {"fast", "strong"}
    assert all(lo <= hi for lo, hi in cp.forecasts.values())
    nxt = cp.context["next"]
    assert (nxt["step"], nxt["model"]) == ("extra", "fast") and nxt["forecast"][0] <= nxt["forecast"][1]
    await s.decide(cp, "approve")
    await s.finish()


async def test_edit_replaces_the_output_and_records_a_diff(start) -> None:
    s = await start(AGENT)
    cp = await s.checkpoint("write")
    assert await s.decide(cp, "edit", edited="Tides are predictable.\n") == ("done", "")
    assert await s.finish() == "completed"
    log = await events(s)
    made = of_kind(log, ev.DecisionMade, "write")[0]
    assert made.decision == "edit" and made.edited == "Tides are predictable.\n"
    assert made.diff.startswith("--- output (before)\n+++ output (after)\n")
    assert "+Tides are predictable." in made.diff
    assert "-" + cp.output.splitlines()[0] in made.diff
    view = await s.view()
    assert view.state["draft"] == "Tides are predictable.\n"
    polish = calls(log, "polish")[0]
    assert "Tides are predictable." in polish.request["messages"][-1]["content"]


async def test_an_invalid_edit_is_refused_with_the_reason_and_the_checkpoint_stays_open(start) -> None:
    s = await start(AGENT)
    cp = await s.checkpoint("write")
    assert await s.decide(cp, "edit", edited="   ") == ("rejected", "edited output must be non-empty text")
    status, reason = await s.decide(cp, "edit", edited="x" * 401)
    assert status == "rejected"
    assert reason == "edited output is invalid: 'draft' has 401 chars, over its limit of 400"
    view = await s.view()
    assert [c.checkpoint_id for c in view.open_checkpoints] == ["write:review:1"]
    assert of_kind(await events(s), ev.DecisionMade) == []
    assert await s.decide(cp, "approve") == ("done", "")
    assert await s.finish() == "completed"


async def test_structured_edit_is_revalidated_against_the_schema(start) -> None:
    s = await start(STRUCTURED)
    cp = await s.checkpoint("classify")
    assert set(cp.output) == {"category", "confidence", "summary"}
    status, reason = await s.decide(cp, "edit", edited={"category": "weather", "confidence": 0.9, "summary": "x"})
    assert status == "rejected" and reason.startswith("edited output is invalid:") and "category" in reason
    status, reason = await s.decide(cp, "edit", edited={"category": "bug", "summary": "x"})
    assert status == "rejected" and "confidence" in reason
    status, reason = await s.decide(
        cp, "edit", edited='{"category": "bug", "confidence": 0.9, "summary": "' + "y" * 81 + '"}'
    )
    assert status == "rejected" and "over its limit of 80" in reason
    edited = '{"category": "billing", "confidence": 0.99, "summary": "refund"}'
    assert await s.decide(cp, "edit", edited=edited) == ("done", "")
    assert await s.finish() == "completed"
    view = await s.view()
    assert (view.state["category"], view.state["confidence"], view.state["summary"]) == ("billing", 0.99, "refund")
    made = of_kind(await events(s), ev.DecisionMade, "classify")
    assert [d.decision for d in made] == ["edit"]
    assert made[0].edited == {"category": "billing", "confidence": 0.99, "summary": "refund"}
    assert '+ "category": "billing"' in made[0].diff


async def test_reject_until_approved_three_rounds_with_feedback_in_every_rerun(start) -> None:
    s = await start(AGENT)
    feedback = ["Mention the moon.", "Shorter, please.", "Add a number."]
    outputs = []
    for round_, text in enumerate(feedback, 1):
        cp = await s.checkpoint("write")
        assert cp.checkpoint_id == f"write:review:{round_}" and cp.round == round_
        outputs.append(cp.output)
        assert await s.decide(cp, "reject", feedback=text) == ("done", "")
    final = await s.checkpoint("write")
    assert final.checkpoint_id == "write:review:4"
    assert await s.decide(final, "approve") == ("done", "")
    assert await s.finish() == "completed"
    log = await events(s)
    prompts = [c.request["messages"][-1]["content"] for c in calls(log, "write")]
    assert len(prompts) == 4
    assert "Reviewer feedback" not in prompts[0]
    for rerun in range(1, 4):
        prompt = prompts[rerun]
        for i in range(rerun):
            assert f"## Reviewer feedback (round {i + 1})\n\n{feedback[i]}" in prompt
            assert outputs[i].strip()[:40] in prompt
        for later in feedback[rerun:]:
            assert later not in prompt
    opened = of_kind(log, ev.CheckpointOpened, "write")
    assert [o.round for o in opened] == [1, 2, 3, 4]
    assert [o.output for o in opened[:3]] == outputs
    made = of_kind(log, ev.DecisionMade, "write")
    assert [(d.decision, d.feedback) for d in made] == [("reject", f) for f in feedback] + [("approve", "")]
    assert (await s.view()).state["draft"] == final.output


async def test_rejections_stop_at_max_rejections(start) -> None:
    flow = AGENT.replace("review: always", "review: {mode: always, max_rejections: 2}")
    s = await start(flow)
    for _ in range(2):
        cp = await s.checkpoint("write")
        assert "reject" in cp.options
        await s.decide(cp, "reject", feedback="again")
    cp = await s.checkpoint("write")
    assert cp.round == 3 and "reject" not in cp.options
    status, reason = await s.decide(cp, "reject", feedback="once more")
    assert status == "rejected" and "'reject' is not offered here" in reason
    assert await s.decide(cp, "approve") == ("done", "")
    assert await s.finish() == "completed"


async def test_a_rejection_needs_feedback(start) -> None:
    s = await start(AGENT)
    cp = await s.checkpoint("write")
    assert await s.decide(cp, "reject", feedback="  ") == ("rejected", "a rejection needs feedback for the re-run")
    await s.decide(cp, "approve")
    await s.finish()


async def test_reroute_offers_only_allowed_targets_and_records_skipped_steps(start) -> None:
    s = await start(AGENT)
    cp = await s.checkpoint("write")
    assert cp.targets == ["polish", "end"]
    status, reason = await s.decide(cp, "reroute", target="extra")
    assert status == "rejected" and reason == "cannot reroute to 'extra'; allowed: polish, end"
    assert await s.decide(cp, "reroute", target="polish") == ("done", "")
    assert await s.finish() == "completed"
    log = await events(s)
    rerouted = of_kind(log, ev.Rerouted, "write")
    assert [(r.target, r.by, r.skipped) for r in rerouted] == [("polish", "tester", ["extra"])]
    skipped = of_kind(log, ev.StepSkipped, "extra")
    assert len(skipped) == 1 and "tester rerouted from 'write' to 'polish'" in skipped[0].reason
    assert statuses(await s.view()) == {"write": "completed", "extra": "skipped", "polish": "completed"}
    assert calls(log, "extra") == []


async def test_reroute_to_the_end(start) -> None:
    s = await start(AGENT)
    cp = await s.checkpoint("write")
    assert await s.decide(cp, "reroute", target="end") == ("done", "")
    assert await s.finish() == "completed"
    view = await s.view()
    assert statuses(view) == {"write": "completed", "extra": "skipped", "polish": "skipped"}


async def test_retry_on_another_model_shows_forecasts_and_reopens_on_the_new_output(start) -> None:
    s = await start(AGENT)
    cp = await s.checkpoint("write")
    fast, strong = cp.forecasts["fast"], cp.forecasts["strong"]
    assert fast[1] < strong[1]
    status, reason = await s.decide(cp, "retry_model", model="huge")
    assert status == "rejected" and reason == "unknown model alias 'huge' (one of fast, strong)"
    assert await s.decide(cp, "retry_model", model="strong") == ("done", "")
    again = await s.checkpoint("write")
    assert again.checkpoint_id == "write:review:2"
    assert again.context["model"] == "strong"
    assert again.output != cp.output
    assert await s.decide(again, "approve") == ("done", "")
    assert await s.finish() == "completed"
    log = await events(s)
    assert [c.model for c in calls(log, "write")] == ["mock/fast", "mock/strong"]
    assert of_kind(log, ev.DecisionMade, "write")[0].model == "strong"
    assert (await s.view()).state["draft"] == again.output


async def test_skip_needs_values_for_later_steps(start) -> None:
    s = await start(AGENT)
    cp = await s.checkpoint("write")
    assert cp.context["skip_needs"] == ["draft"]
    status, reason = await s.decide(cp, "skip")
    assert status == "rejected" and reason == "later steps need 'draft': supply values to skip this step"
    status, reason = await s.decide(cp, "skip", supplied={"draft": 42})
    assert status == "rejected" and "'draft' must be str" in reason
    status, reason = await s.decide(cp, "skip", supplied={"draft": "mine", "topic": "other"})
    assert status == "rejected" and reason == "'topic' is not written by 'write' (it writes draft)"
    assert await s.decide(cp, "skip", supplied={"draft": "A draft I wrote."}) == ("done", "")
    assert await s.finish() == "completed"
    log = await events(s)
    skipped = of_kind(log, ev.StepSkipped, "write")
    assert len(skipped) == 1 and skipped[0].supplied == {"draft": "A draft I wrote."}
    assert "skipped by tester" in skipped[0].reason
    assert "A draft I wrote." in calls(log, "polish")[0].request["messages"][-1]["content"]
    assert statuses(await s.view())["write"] == "skipped"


async def test_skip_where_nothing_later_needs_the_writes(start) -> None:
    flow = AGENT.replace("    review: always\n", "").replace(
        'prompt: "Add a fact about {topic}"', 'prompt: "Add a fact about {topic}"\n    review: always'
    )
    s = await start(flow)
    cp = await s.checkpoint("extra")
    assert "skip_needs" not in cp.context
    assert await s.decide(cp, "skip") == ("done", "")
    assert await s.finish() == "completed"
    view = await s.view()
    assert statuses(view) == {"write": "completed", "extra": "skipped", "polish": "completed"}
    assert view.state.get("extra") is None


async def test_pause_then_resume_reopens_the_same_checkpoint_without_rerunning(start) -> None:
    s = await start(AGENT)
    cp = await s.checkpoint("write")
    assert await s.decide(cp, "pause") == ("done", "")
    assert await s.finish() == "paused"
    view = await s.view()
    assert view.status == "paused"
    assert [c.checkpoint_id for c in view.open_checkpoints] == ["write:review:1"]
    assert view.step("write").status == "awaiting"
    assert of_kind(await events(s), ev.StepCancelled) == []
    await s.resume()
    again = await s.checkpoint("write")
    assert again.checkpoint_id == cp.checkpoint_id and again.output == cp.output
    await s.wait_for(lambda v: v.status == "running")
    assert await s.decide(again, "approve") == ("done", "")
    assert await s.finish() == "completed"
    log = await events(s)
    assert len(calls(log, "write")) == 1
    assert len(of_kind(log, ev.CheckpointOpened, "write")) == 1
    assert [d.decision for d in of_kind(log, ev.DecisionMade, "write")] == ["pause", "approve"]
    assert (await s.view()).state["draft"] == cp.output


async def test_auto_approve_records_who_decided(start) -> None:
    s = await start(AGENT, options=RunOptions(auto="approve"))
    assert await s.finish() == "completed"
    made = of_kind(await events(s), ev.DecisionMade)
    assert [(d.step, d.decision, d.by) for d in made] == [("write", "approve", "auto")]


async def test_an_answer_that_could_not_be_stored_goes_to_a_person(start) -> None:
    flow = AGENT.replace("draft: {type: str, max_chars: 400}", "draft: {type: str, max_chars: 10}").replace(
        "    review: always\n", "    retry: {attempts: 2, backoff_s: [0.01]}\n", 1
    )
    s = await start(flow)
    cp = await s.checkpoint("write")
    assert cp.reason == "escalation"
    assert "'draft' has" in cp.message and "over its limit of 10" in cp.message
    await s.decide(cp, "skip", supplied={"draft": "Short."})
    assert await s.finish() == "degraded"
    view = await s.view()
    assert view.state["draft"] == "Short." and not view.error


async def test_two_answers_at_once_only_one_is_recorded(start) -> None:
    s = await start(AGENT)
    cp = await s.checkpoint("write")
    bus = s.host.bus
    assert bus is not None
    ids = await asyncio.gather(
        bus.send(decide(cp.checkpoint_id, "approve", by="ann")),
        bus.send(decide(cp.checkpoint_id, "reroute", by="bob", target="end")),
    )
    outcomes = [await bus.outcome(i) for i in ids]
    assert sorted(status for status, _ in outcomes) == ["done", "rejected"]
    assert "checkpoint 'write:review:1' was already decided" in [reason for _, reason in outcomes]
    assert await s.finish() == "completed"
    made = of_kind(await events(s), ev.DecisionMade, "write")
    assert len(made) == 1
