"""Where checkpoints open (review policies, validated at load) and who answers them when nobody watches
(`--auto`, a decisions file)."""

from __future__ import annotations

import pytest

from baton.core import events as ev
from baton.core.runner import RunOptions
from baton.core.spec.problems import WorkflowInvalid
from tests.core.hitl_support import (
    AGENT,
    MODELS,
    calls,
    events,
    of_kind,
    start_fixture,  # noqa: F401 - the `start` fixture
)
from tests.helpers import workflow

HEAD = f"""
name: policies
state:
  topic: {{type: str}}
  draft: {{type: str}}
  confidence: {{type: float}}
  notes: {{type: "list[str]", reducer: append}}
inputs:
  topic: {{default: "tides"}}
{MODELS}
steps:
"""

AGENT_STEP = (
    "  - {id: a, kind: agent, model: fast, reads: [topic], writes: [draft], prompt: 'x {topic}', review: REVIEW}\n"
)
TOOL_STEP = (
    "  - {id: t, kind: tool, call: 'flows.baton_tools:word_stats', reads: [topic], args: {text: '{topic}'},"
    " review: REVIEW}\n"
)


def _agent(review: str) -> str:
    return AGENT_STEP.replace("REVIEW", review)


def _tool(review: str) -> str:
    return TOOL_STEP.replace("REVIEW", review)


@pytest.mark.parametrize(
    ("review", "parsed"),
    [
        ("never", {"mode": "never"}),
        ("always", {"mode": "always"}),
        ("on_failure", {"mode": "on_failure"}),
        ("{when: 'confidence < 0.8'}", {"when": "confidence < 0.8"}),
        ("{cost_over: 0.05}", {"cost_over": 0.05}),
        ("{sample: 0.1}", {"sample": 0.1}),
        ("{mode: always, max_rejections: 2}", {"mode": "always", "max_rejections": 2}),
    ],
)
def test_review_policies_load(review: str, parsed: dict[str, object]) -> None:
    step = (
        "  - {id: a, kind: agent, model: fast, reads: [topic], writes: [draft, confidence], prompt: 'x {topic}',"
        f" output: {{draft: str, confidence: float}}, review: {review}}}\n"
    )
    policy = workflow(HEAD + step).spec.steps[0].review
    for name, value in parsed.items():
        assert getattr(policy, name) == value
    assert policy.max_rejections == parsed.get("max_rejections", 5)


def test_before_tools_loads_on_a_tool() -> None:
    assert workflow(HEAD + _tool("before_tools")).spec.steps[0].review.before_tools is True


@pytest.mark.parametrize(
    ("step", "message"),
    [
        (_agent("sometimes"), "must be never, always, on_failure, before_tools, or a mapping"),
        (_agent("{when: 'confidence < 0.8'}"), "review.when uses 'confidence', which the step neither reads"),
        (_agent("{when: 'draft <'}"), "invalid expression"),
        (_agent("{cost_over: -1}"), "cost_over: must be at least 0"),
        (_agent("{sample: 1.5}"), "sample: must be at most 1"),
        (_agent("{max_rejections: 0}"), "max_rejections: must be at least 1"),
        (_agent("{often: true}"), "unknown field 'often'"),
        (_agent("before_tools"), "before_tools applies to tool steps, not to an agent step"),
        (_agent("{mode: never, sample: 0.5}"), "review mode 'never' contradicts sample"),
        (_tool("{cost_over: 0.1}"), "a tool step takes review: never, always or before_tools, not cost_over"),
        (
            "  - {id: p, kind: parallel, review: always, branches: [{id: b, kind: agent, model: fast, reads: [topic],"
            " writes: [notes], prompt: 'x {topic}'}]}\n",
            "review has no effect on a parallel step: set it on the steps inside it",
        ),
        ("  - {id: g, kind: gate, reads: [topic], review: always}\n", "a gate is a checkpoint already"),
    ],
)
def test_bad_review_policies_are_refused_at_load_with_a_position(step: str, message: str) -> None:
    with pytest.raises(WorkflowInvalid) as caught:
        workflow(HEAD + step)
    text = str(caught.value)
    assert message in text, text
    assert text.startswith("<test>:16:"), text


# --- policies that open checkpoints -----------------------------------------------------------------

CONFIDENT = """
name: confidence
state:
  ticket: {type: str}
  category: {type: str}
  confidence: {type: float}
inputs:
  ticket: {default: "export fails"}
models:
  fast:
    model: mock/fast
    mock:
      replies:
        - {match: "unsure", json: {category: bug, confidence: 0.5}}
        - {match: "sure", json: {category: billing, confidence: 0.95}}
steps:
  - id: classify
    kind: agent
    model: fast
    reads: [ticket]
    writes: [category, confidence]
    prompt: "Classify: {ticket}"
    output: {category: "enum[bug, billing]", confidence: float}
    review: {when: "confidence < 0.8"}
"""


async def test_low_confidence_opens_a_checkpoint(start) -> None:
    s = await start(CONFIDENT, inputs={"ticket": "I am unsure"})
    cp = await s.checkpoint("classify")
    assert cp.reason == "confidence" and cp.message == "review because confidence < 0.8"
    assert cp.output == {"category": "bug", "confidence": 0.5}
    await s.decide(cp, "approve")
    assert await s.finish() == "completed"


async def test_high_confidence_runs_through(start) -> None:
    s = await start(CONFIDENT, inputs={"ticket": "I am sure"})
    assert await s.finish() == "completed"
    log = await events(s)
    assert of_kind(log, ev.CheckpointOpened) == []
    assert (await s.view()).state["confidence"] == 0.95


async def test_on_failure_reviews_a_fallback_answer(start) -> None:
    flow = AGENT.replace(
        "fast: {model: mock/fast, mock: {min_tokens: 8, max_tokens: 16}}",
        "fast: {model: mock/fast, mock: {min_tokens: 8, max_tokens: 16,"
        " faults: [{error: server_error, match: 'Write a note'}]}}",
    ).replace("    review: always\n", "    review: on_failure\n    fallback: [strong]\n    retry: {attempts: 1}\n")
    s = await start(flow)
    cp = await s.checkpoint("write")
    assert cp.reason == "on_failure" and cp.context["degraded"] is True
    assert cp.context["model"] == "strong"
    await s.decide(cp, "approve")
    assert await s.finish() == "degraded"


async def test_on_failure_stays_quiet_when_nothing_failed(start) -> None:
    s = await start(AGENT.replace("    review: always\n", "    review: on_failure\n"))
    assert await s.finish() == "completed"
    assert of_kind(await events(s), ev.CheckpointOpened) == []


async def test_cost_over_asks_before_the_call_is_sent(start) -> None:
    s = await start(AGENT.replace("    review: always\n", "    review: {cost_over: 0.0000001}\n"))
    cp = await s.checkpoint("write")
    assert cp.reason == "cost" and "is over cost_over $1e-07" in cp.message
    assert cp.options == ["approve", "edit", "retry_model", "skip", "pause"]
    assert set(cp.forecasts) == {"fast", "strong"}
    assert of_kind(await events(s), ev.LLMCallStarted) == []
    assert await s.decide(cp, "retry_model", model="strong") == ("done", "")
    assert await s.finish() == "completed"
    assert [c.model for c in calls(await events(s), "write")] == ["mock/strong"]


async def test_cost_under_the_limit_runs_without_asking(start) -> None:
    s = await start(AGENT.replace("    review: always\n", "    review: {cost_over: 5}\n"))
    assert await s.finish() == "completed"
    assert of_kind(await events(s), ev.CheckpointOpened) == []


@pytest.mark.parametrize(("fraction", "asked"), [(1.0, True), (0.0, False)])
async def test_sample_audits_a_fraction(start, fraction: float, asked: bool) -> None:
    s = await start(AGENT.replace("    review: always\n", f"    review: {{sample: {fraction}}}\n"))
    if asked:
        cp = await s.checkpoint("write")
        assert cp.reason == "sample" and cp.message == "random audit (100% of runs)"
        await s.decide(cp, "approve")
    assert await s.finish() == "completed"
    assert bool(of_kind(await events(s), ev.CheckpointOpened)) is asked


async def test_review_always_on_a_pure_tool_asks_before_it_runs(start) -> None:
    s = await start(HEAD + _tool("always"))
    cp = await s.checkpoint("t")
    assert cp.reason == "before_tool" and cp.output == {"text": "tides"}
    await s.decide(cp, "approve")
    assert await s.finish() == "completed"


async def test_review_never_runs_a_side_effecting_tool_unasked(start, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("BATON_PUBLISH_FILE", str(tmp_path / "out.jsonl"))
    step = (
        "  - {id: t, kind: tool, call: 'flows.baton_tools:publish', reads: [topic],"
        " args: {text: '{topic}', words: 1}, review: never}\n"
    )
    s = await start(HEAD + step)
    assert await s.finish() == "completed"
    assert of_kind(await events(s), ev.CheckpointOpened) == []
    assert (tmp_path / "out.jsonl").exists()


# --- unattended ------------------------------------------------------------------------------------


async def test_auto_reject_at_a_gate_stops_the_session(start) -> None:
    s = await start("gate", options=RunOptions(auto="reject"))
    assert await s.finish() == "failed"


async def test_decisions_file_keys_by_checkpoint_id_path_reason_and_template_id(start) -> None:
    from tests.core.test_hitl_steps import MAP

    answers = {
        "each[0]:review:1": "approve",
        "each[1]:review": {"decision": "edit", "edited": "B."},
        "summarise": "skip",
    }
    s = await start(MAP, options=RunOptions(decisions=answers))
    assert await s.finish() == "completed"
    log = await events(s)
    made = {d.step: d.decision for d in of_kind(log, ev.DecisionMade)}
    assert made == {"each[0]": "approve", "each[1]": "edit", "each[2]": "skip"}
    assert (await s.view()).state["summaries"][1] == "B."


async def test_an_unanswered_checkpoint_pauses_instead_of_blocking(start) -> None:
    s = await start("gate", options=RunOptions(decisions={"draft": "approve"}, decisions_file="d.json"))
    assert await s.finish() == "paused"
    view = await s.view()
    assert "no decision for step 'approve_draft' (gate) in d.json" in view.reason
    assert [c.checkpoint_id for c in view.open_checkpoints] == ["approve_draft:gate:1"]
    assert view.step("approve_draft").status == "awaiting"
    await s.resume(options=RunOptions(decisions={"approve_draft": "approve"}, decisions_file="d2.json"))
    assert await s.finish() == "completed"
    made = of_kind(await events(s), ev.DecisionMade)
    assert [(d.step, d.by) for d in made] == [("approve_draft", "decisions:d2.json")]


async def test_an_invalid_decision_in_the_file_stops_with_the_reason(start) -> None:
    s = await start(AGENT, options=RunOptions(decisions={"write": {"decision": "reroute", "target": "extra"}}))
    assert await s.finish() == "failed"
    assert "cannot reroute to 'extra'; allowed: polish, end" in (await s.view()).error
