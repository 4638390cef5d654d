"""The real runner on a scripted model and an in-memory sink: review figures, queued map items, labels,
tool results that cannot be stored, unattended answers and replay — no SQLite, no litellm."""

from __future__ import annotations

import pytest

from baton.core import events as ev
from baton.core.commands import Command
from baton.core.llm.scripted import Reply, ScriptedLLM, prompt_of
from baton.core.llm.types import LLMRequest, ModelError
from baton.core.runner import History, RunOptions
from tests.core.runner_kit import PRICES, calls_of, flow, run

REVIEWED = flow(
    """
    name: reviewed
    state:
      topic: {type: str}
      draft: {type: str}
    inputs:
      topic: {default: tides}
    models:
      cheap: test/cheap
      dear: test/dear
    defaults:
      retry: {attempts: 2, backoff_s: [1], jitter: false}
    steps:
      - {id: a, kind: agent, model: cheap, reads: [topic], writes: [draft], prompt: "Write on {topic}", review: always}
    """
)


def _answer(request: LLMRequest) -> str:
    return f"{request.alias} answer to: {prompt_of(request)[:20]}"


async def test_a_review_shows_the_reviewed_call_apart_from_the_steps_totals() -> None:
    """Round 1 is rejected; round 2 is retried on another model after a failed attempt. The second review
    shows the accepted call's own model and figures, and the step's totals over both rounds and all
    three attempts."""
    failed_once: list[str] = []

    def script(request: LLMRequest) -> str | Reply:
        if request.alias == "dear" and not failed_once:
            failed_once.append("x")
            return Reply("partial", ModelError("server", "HTTP 503 busy"))
        return _answer(request)

    rounds = [{"decision": "reject", "feedback": "shorter"}, {"decision": "retry_model", "model": "dear"}, "approve"]
    answers = {"a": rounds}
    done = await run(REVIEWED, script, options=RunOptions(decisions=answers, decisions_file="d.json"))
    assert done.status == "completed"
    opened = done.of(ev.CheckpointOpened, "a")
    assert [o.checkpoint_id for o in opened] == ["a:review:1", "a:review:2", "a:review:3"]
    calls = calls_of(done.sink.events, "a")
    assert [(c.alias, c.model, c.status) for c in calls] == [
        ("cheap", "test/cheap", "ok"),
        ("cheap", "test/cheap", "ok"),
        ("dear", "test/dear", "discarded"),
        ("dear", "test/dear", "ok"),
    ]
    third = opened[2].context
    accepted = calls[3]
    assert third["call"] == {
        "model": "test/dear",
        "alias": "dear",
        "tokens_in": accepted.tokens_in,
        "tokens_out": accepted.tokens_out,
        "cost_usd": accepted.cost_usd,
        "latency_s": 0.0,
    }
    assert (third["model"], third["tokens_in"], third["tokens_out"], third["cost_usd"]) == (
        "dear",
        accepted.tokens_in,
        accepted.tokens_out,
        accepted.cost_usd,
    ), "the flat keys are the call's figures"
    step = third["step"]
    assert step["calls"] == 4
    assert step["tokens_in"] == sum(c.tokens_in for c in calls)
    assert step["tokens_out"] == sum(c.tokens_out for c in calls)
    assert step["cost_usd"] == pytest.approx(sum(c.cost_usd or 0.0 for c in calls))
    assert opened[0].context["step"]["calls"] == 1 and opened[0].context["call"]["alias"] == "cheap"
    completed = done.of(ev.StepCompleted, "a")[0]
    assert completed.tokens_in == step["tokens_in"] and completed.note == "approve by decisions:d.json"


MAP = """
name: mapped
state:
  items: {type: "list[dict]", default: [{file: a.py, size: 1}, {file: b.py, size: 2}, {file: c.py, size: 3}]}
  notes: {type: "list[str]", reducer: append}
models:
  cheap: test/cheap
defaults:
  concurrency: 1
steps:
  - id: each
    kind: map
    over: items
    as: entry
    concurrency: 3
    LABEL
    step: {id: sum, kind: agent, model: cheap, reads: [], writes: [notes], prompt: "Summarise {entry}"}
"""


async def test_a_map_item_waiting_for_the_model_call_slot_has_not_started() -> None:
    done = await run(flow(MAP.replace("LABEL", "")), _answer)
    assert done.status == "completed"
    (started,) = done.of(ev.StepStarted, "each")
    assert (started.concurrency, started.concurrency_capped_by) == (1, "defaults.concurrency")
    running: set[str] = set()
    most = 0
    for e in done.sink.events:
        if isinstance(e, ev.StepStarted) and e.step.startswith("each["):
            running.add(e.step)
        elif isinstance(e, ev.LLMCallFinished):
            most = max(most, len(running))
            running.discard(e.step)
    assert most == 1, "an item starts only once it holds the one model-call slot"
    assert [e.step for e in done.of(ev.StepScheduled)] == ["each[0]", "each[1]", "each[2]"]


async def test_a_maps_own_concurrency_is_not_capped_by_the_model_call_limit_when_it_calls_no_model() -> None:
    text = MAP.replace("LABEL", "").replace(
        'step: {id: sum, kind: agent, model: cheap, reads: [], writes: [notes], prompt: "Summarise {entry}"}',
        'step: {id: sum, kind: tool, call: "tests.core.runner_kit:returns_text", side_effects: false, writes: [notes]}',
    )
    done = await run(flow(text), _answer)
    (started,) = done.of(ev.StepStarted, "each")
    assert (started.concurrency, started.concurrency_capped_by) == (3, "")


@pytest.mark.parametrize(
    ("label", "labels"),
    [
        ('label: "{file} ({index})"', ["a.py (0)", "b.py (1)", "c.py (2)"]),
        ("", ["a.py", "b.py", "c.py"]),
        ('label: "{missing}"', ["a.py", "b.py", "c.py"]),
    ],
)
async def test_map_items_are_labelled(label: str, labels: list[str]) -> None:
    done = await run(flow(MAP.replace("LABEL", label)), _answer)
    assert [e.label for e in done.of(ev.StepScheduled)] == labels


@pytest.mark.parametrize(
    ("items", "labels"),
    [
        ('["first line\\nsecond", "", "x"]', ["first line", "#1", "x"]),
        ("[1, 2]", ["#0", "#1"]),
        ('[{n: 1, note: "' + "y" * 70 + '", name: short}]', ["short"]),
    ],
)
async def test_default_labels_are_the_first_short_text(items: str, labels: list[str]) -> None:
    text = f"""
    name: labels
    state:
      items: {{type: list, default: {items}}}
      out: {{type: list, reducer: append}}
    steps:
      - id: each
        kind: map
        over: items
        step: {{id: t, kind: tool, call: "tests.core.runner_kit:returns_text", side_effects: false, writes: [out]}}
    """
    done = await run(flow(text), _answer)
    assert [e.label for e in done.of(ev.StepScheduled)] == labels


TOOL = """
name: tools
state:
  out: {type: str}
steps:
  - {id: t, kind: tool, call: "tests.core.runner_kit:CALL", side_effects: false, writes: [out]}
"""


async def test_a_tool_result_json_cannot_hold_fails_the_step_unattended() -> None:
    done = await run(flow(TOOL.replace("CALL", "returns_set")), _answer)
    assert done.status == "failed"
    (failed,) = done.of(ev.SessionFailed)
    tool = "tests.core.runner_kit:returns_set"
    assert failed.error == f"tool '{tool}' at 't' returned a set, which cannot be stored as JSON"
    assert failed.error_type == "tool_error"
    (finished,) = done.of(ev.ToolCallFinished)
    assert not finished.ok and "returned a set" in finished.error


async def test_a_person_supplies_what_a_failed_tool_should_have_returned() -> None:
    answers = {"t": {"decision": "edit", "edited": "fixed by hand"}}
    done = await run(flow(TOOL.replace("CALL", "returns_set")), _answer, options=RunOptions(decisions=answers))
    assert done.status == "completed" and done.state["out"] == "fixed by hand"
    (opened,) = done.of(ev.CheckpointOpened)
    assert opened.message == "tool 'tests.core.runner_kit:returns_set' returned a set, which cannot be stored as JSON"
    assert [f.ok for f in done.of(ev.ToolCallFinished)] == [False, True]


async def test_a_tool_result_that_does_not_fit_its_key_is_a_tool_failure_not_a_crash() -> None:
    done = await run(flow(TOOL.replace("CALL", "returns_number")), _answer)
    assert done.status == "failed"
    (failed,) = done.of(ev.SessionFailed)
    assert failed.error_type == "tool_error"
    assert failed.error.endswith("returned a result that cannot be written: 'out' must be str, got int")


async def test_a_supplied_result_must_fit_what_the_step_writes() -> None:
    answers = {"t": {"decision": "edit", "edited": 7}}
    done = await run(flow(TOOL.replace("CALL", "returns_set")), _answer, options=RunOptions(decisions=answers))
    assert done.status == "failed"
    assert "the result cannot be written: 'out' must be str, got int" in done.of(ev.SessionFailed)[0].error


# --- unattended answers (the policies of the inbox, through the whole runner) --------------------------


async def test_auto_reject_reruns_until_the_limit_then_fails() -> None:
    text = REVIEWED.text.replace("review: always", "review: {mode: always, max_rejections: 2}")
    done = await run(flow(text), _answer, options=RunOptions(auto="reject"))
    assert done.status == "failed"
    assert [(d.decision, d.by) for d in done.of(ev.DecisionMade)] == [("reject", "auto"), ("reject", "auto")]
    assert len(calls_of(done.sink.events, "a")) == 3
    assert "rejected (--auto reject)" in done.of(ev.SessionFailed)[0].error


async def test_decisions_file_answers_by_step_id_and_round_and_feedback_reaches_the_prompt() -> None:
    answers = {"a": [{"decision": "reject", "feedback": "More numbers."}, "approve"]}
    done = await run(REVIEWED, _answer, options=RunOptions(decisions=answers, decisions_file="answers.json"))
    assert done.status == "completed"
    assert [(d.decision, d.feedback, d.by) for d in done.of(ev.DecisionMade)] == [
        ("reject", "More numbers.", "decisions:answers.json"),
        ("approve", "", "decisions:answers.json"),
    ]
    assert "More numbers." in prompt_of(done.llm.requests[1])


# --- replay ------------------------------------------------------------------------------------


async def test_a_resumed_review_reopens_the_same_checkpoint_without_calling_again() -> None:
    first = await run(REVIEWED, _answer, options=RunOptions(decisions={}, decisions_file="d.json"))
    assert first.status == "paused" and len(first.llm.requests) == 1
    again = await run(
        REVIEWED,
        _answer,
        options=RunOptions(decisions={"a:review:1": "approve"}, decisions_file="d2.json"),
        history=first.history(),
        sink=first.sink,
    )
    assert again.status == "completed"
    assert again.llm.requests == [], "the recorded output is shown again, not re-generated"
    assert [o.checkpoint_id for o in again.of(ev.CheckpointOpened)] == ["a:review:1"], "opened once, ever"


async def test_a_forked_step_replays_its_recorded_answer_at_no_cost() -> None:
    text = REVIEWED.text.replace("review: always", "review: never")
    first = await run(flow(text), _answer)
    history = History()
    history.add_recorded_calls(first.sink.envelopes())
    llm = ScriptedLLM(_answer, prices=PRICES)
    second = await run(flow(text), _answer, history=history, llm=llm)
    assert second.status == "completed" and llm.requests == []
    (replayed,) = second.of(ev.LLMCallFinished)
    assert replayed.replayed and replayed.cost_usd == 0.0
    assert second.state["draft"] == first.state["draft"]
    assert second.of(ev.LLMCallStarted) == [], "nothing was sent"


async def test_a_control_queued_while_no_runner_held_the_session_wins_over_recorded_ones() -> None:
    """Step mode was switched on in an earlier run, then off while no runner held the session: the
    queued command is applied after what the record says, so the run does not stop before each step."""
    text = REVIEWED.text.replace("review: always", "review: never")
    recorded = ev.Envelope("s", 1, 0.0, ev.ControlChanged(step_mode=True, by="ana"))
    off = Command(kind="step_mode", enabled=False, by="ana", id=5)
    done = await run(flow(text), _answer, history=History.from_envelopes([recorded]), commands=[off])
    assert done.status == "completed"
    assert done.of(ev.CheckpointOpened) == [], "step mode stayed off"
    assert done.sink.acknowledged == [5]
