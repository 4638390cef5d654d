"""Checkpoints on every step kind: router, gate, tool (before_tools), parallel branch, map item, loop body,
supervisor manager. Real runner, real store file, real litellm path with the offline model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from baton.core import events as ev
from baton.core.commands import Command
from tests.core.hitl_support import (
    AGENT,
    MODELS,
    calls,
    events,
    of_kind,
    start_fixture,  # noqa: F401 - the `start` fixture
    statuses,
)

ROUTER = """
name: hitl-router
state:
  question: {type: str}
  route: {type: str}
  answer: {type: str}
inputs:
  question: {default: "How do tides work?"}
models:
  fast:
    model: mock/fast
    mock:
      replies:
        - {match: "Is this simple", json: {route: simple, reason: "one fact"}}
      min_tokens: 8
      max_tokens: 16
steps:
  - id: triage
    kind: router
    model: fast
    reads: [question]
    writes: [route]
    prompt: "Is this simple or complex? {question}"
    routes: {simple: quick, complex: expert}
    review: always
  - id: quick
    kind: agent
    model: fast
    reads: [question]
    writes: [answer]
    prompt: "Answer briefly: {question}"
    next: end
  - id: expert
    kind: agent
    model: fast
    reads: [question]
    writes: [answer]
    prompt: "Answer in depth: {question}"
  - id: archive
    kind: agent
    model: fast
    reads: [question]
    writes: [answer]
    prompt: "File this question: {question}"
"""

PARALLEL = f"""
name: hitl-parallel
state:
  question: {{type: str}}
  notes: {{type: "list[str]", reducer: append}}
  answer: {{type: str}}
inputs:
  question: {{default: "Should we adopt event sourcing?"}}
{MODELS}
steps:
  - id: views
    kind: parallel
    branches:
      - {{id: slow, kind: agent, model: fast, reads: [question], writes: [notes], prompt: "Risks of {{question}}",
          review: always}}
      - {{id: pro, kind: agent, model: fast, reads: [question], writes: [notes], prompt: "Case for {{question}}"}}
      - {{id: con, kind: agent, model: fast, reads: [question], writes: [notes], prompt: "Case against {{question}}"}}
  - id: answer
    kind: agent
    model: fast
    reads: [question, notes]
    writes: [answer]
    prompt: "Weigh: {{notes}}"
"""

MAP = f"""
name: hitl-map
state:
  sections: {{type: "list[str]", default: ["alpha", "beta", "gamma"]}}
  summaries: {{type: "list[str]", reducer: append}}
{MODELS}
steps:
  - id: each
    kind: map
    over: sections
    as: section
    concurrency: 3
    step:
      id: summarise
      kind: agent
      model: fast
      writes: [summaries]
      prompt: "Summarise section {{index}}: {{section}}"
      review: always
"""

LOOP = """
name: hitl-loop
state:
  brief: {type: str}
  draft: {type: str}
  feedback: {type: str}
inputs:
  brief: {default: "A short announcement"}
models:
  fast:
    model: mock/fast
    mock:
      min_tokens: 8
      max_tokens: 16
      replies:
        - {match: "Does this draft meet", json: {pass: true, feedback: "fine"}}
steps:
  - id: refine
    kind: loop
    max_iterations: 2
    steps:
      - id: write
        kind: agent
        model: fast
        reads: [brief, "feedback?"]
        writes: [draft]
        prompt: "Write: {brief}"
        review: always
    judge:
      id: judge
      kind: agent
      model: fast
      reads: [brief, draft]
      writes: [feedback]
      prompt: "Does this draft meet the brief?\\n{draft}"
"""

SUPERVISOR = """
name: hitl-supervisor
state:
  plan: {type: str}
  reviews: {type: "list[str]", reducer: append}
  verdict: {type: str}
inputs:
  plan: {default: "Ship on Friday"}
models:
  fast:
    model: mock/fast
    mock:
      min_tokens: 8
      max_tokens: 16
      replies:
        - {match: "Which reviews", json: {workers: [security], reason: "it touches payments"}}
steps:
  - id: review
    kind: supervisor
    reads: [plan]
    review: always
    manager:
      model: fast
      prompt: "Which reviews does this plan need? {plan}"
    workers:
      - {id: security, kind: agent, model: fast, reads: [plan], writes: [reviews], prompt: "Security of {plan}"}
      - {id: legal, kind: agent, model: fast, reads: [plan], writes: [reviews], prompt: "Legal view of {plan}"}
      - {id: ops, kind: agent, model: fast, reads: [plan], writes: [reviews], prompt: "Ops view of {plan}"}
    synthesis:
      id: verdict
      kind: agent
      model: fast
      reads: [plan, reviews]
      writes: [verdict]
      prompt: "Go or no-go: {plan} {reviews}"
"""


def _seqs(log: list[ev.Envelope], kind: type[ev.Event], step: str) -> list[int]:
    return [e.seq for e in log if isinstance(e.event, kind) and e.event.step == step]


# --- router ----------------------------------------------------------------------------------------


async def test_router_edit_changes_the_route(start) -> None:
    s = await start(ROUTER)
    cp = await s.checkpoint("triage")
    assert cp.output == {"route": "simple", "reason": "one fact"}
    assert cp.reasoning == "one fact"
    assert cp.targets == ["archive", "end"]
    status, reason = await s.decide(cp, "edit", edited={"route": "weird", "reason": "x"})
    assert status == "rejected" and "route" in reason
    assert await s.decide(cp, "edit", edited={"route": "complex", "reason": "needs depth"}) == ("done", "")
    assert await s.finish() == "completed"
    view = await s.view()
    assert view.state["route"] == "complex"
    assert statuses(view) == {"triage": "completed", "quick": "skipped", "expert": "completed", "archive": "completed"}


async def test_router_reject_reruns_with_feedback_and_reroute_jumps(start) -> None:
    s = await start(ROUTER)
    cp = await s.checkpoint("triage")
    assert await s.decide(cp, "reject", feedback="Think about the audience.") == ("done", "")
    again = await s.checkpoint("triage")
    assert again.round == 2
    assert await s.decide(again, "reroute", target="archive") == ("done", "")
    assert await s.finish() == "completed"
    log = await events(s)
    prompts = [c.request["messages"][-1]["content"] for c in calls(log, "triage")]
    assert len(prompts) == 2 and "Think about the audience." in prompts[1]
    view = await s.view()
    assert statuses(view) == {"triage": "completed", "quick": "skipped", "expert": "skipped", "archive": "completed"}
    assert [r.by for r in of_kind(log, ev.Rerouted, "triage")] == ["tester"]


# --- gate ------------------------------------------------------------------------------------------


async def test_gate_approve_and_edit_values(start) -> None:
    s = await start("gate")
    cp = await s.checkpoint("approve_draft")
    assert cp.reason == "gate" and cp.options == ["approve", "edit", "reject", "reroute", "pause"]
    assert cp.targets == ["end"]
    status, reason = await s.decide(cp, "edit", edited={"draft": 3})
    assert status == "rejected" and reason == "'draft' must be str"
    status, reason = await s.decide(cp, "edit", edited={"request": "x", "nope": 1})
    assert status == "rejected"
    assert await s.decide(cp, "edit", edited={"draft": "We expect a fix by noon."}) == ("done", "")
    assert await s.finish() == "completed"
    log = await events(s)
    made = of_kind(log, ev.DecisionMade, "approve_draft")[0]
    assert made.edited == {"draft": "We expect a fix by noon."}
    assert '+ "draft": "We expect a fix by noon."' in made.diff
    assert f'- "draft": {json.dumps(cp.output["draft"])}' in made.diff
    assert "We expect a fix by noon." in calls(log, "polish")[0].request["messages"][-1]["content"]


GATE_ON_A_LIST = """
name: gate-on-a-list
state:
  topic: {type: str, default: tides}
  notes: {type: "list[str]", reducer: append}
models:
  fast: {model: mock/fast, mock: {min_tokens: 4, max_tokens: 8}}
steps:
  - {id: note, kind: agent, model: fast, reads: [topic], writes: [notes], prompt: "A note on {topic}"}
  - {id: check, kind: gate, reads: [notes], message: "Keep these notes?"}
  - {id: last, kind: gate, reads: [notes], message: "Done?"}
"""


async def test_an_edited_value_replaces_it_even_under_an_append_reducer_and_on_resume(start) -> None:
    s = await start(GATE_ON_A_LIST)
    cp = await s.checkpoint("check")
    assert await s.decide(cp, "edit", edited={"notes": ["only this"]}) == ("done", "")
    last = await s.checkpoint("last")
    assert (await s.view()).state["notes"] == ["only this"], "the person's list, not appended to the old one"
    assert await s.decide(last, "pause") == ("done", "")
    assert await s.finish() == "paused"
    await s.resume()
    last = await s.checkpoint("last")
    assert last.output == {"notes": ["only this"]}, "a resumed run replays the edit as a replacement too"
    assert await s.decide(last, "approve") == ("done", "")
    assert await s.finish() == "completed"
    assert (await s.view()).state["notes"] == ["only this"]
    (done,) = of_kind(await events(s), ev.StepCompleted, "check")
    assert done.replaced == ["notes"]


async def test_gate_reject_stops_the_session_with_the_feedback(start) -> None:
    s = await start("gate")
    cp = await s.checkpoint("approve_draft")
    assert await s.decide(cp, "reject", feedback="Too vague.") == ("done", "")
    assert await s.finish() == "failed"
    view = await s.view()
    assert "rejected by tester: Too vague." in view.error
    assert statuses(view).get("polish") is None
    assert calls(await events(s), "polish") == []


async def test_gate_reroute_to_end(start) -> None:
    s = await start("gate")
    cp = await s.checkpoint("approve_draft")
    assert await s.decide(cp, "reroute", target="end") == ("done", "")
    assert await s.finish() == "completed"
    assert statuses(await s.view())["polish"] == "skipped"


# --- tool (before_tools) ---------------------------------------------------------------------------


@pytest.fixture
def published(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    target = tmp_path / "published.jsonl"
    monkeypatch.setenv("BATON_PUBLISH_FILE", str(target))
    return target


async def test_tool_waits_for_approval_with_its_exact_arguments(start, published: Path) -> None:
    s = await start("tool")
    cp = await s.checkpoint("publish")
    assert cp.reason == "before_tool"
    assert cp.output == {
        "text": "baton keeps a person in the loop of multi-agent pipelines, in the terminal.",
        "words": {"words": 13, "chars": 75, "longest": "multi-agent"},
    }
    assert not published.exists()
    assert await s.decide(cp, "approve") == ("done", "")
    assert await s.finish() == "completed"
    log = await events(s)
    decided = _seqs(log, ev.DecisionMade, "publish")[0]
    assert decided < _seqs(log, ev.ToolCallIntent, "publish")[0]
    assert len(published.read_text().splitlines()) == 1


async def test_tool_edit_arguments_and_refuse_unknown_ones(start, published: Path) -> None:
    s = await start("tool")
    cp = await s.checkpoint("publish")
    status, reason = await s.decide(cp, "edit", edited={"text": "x", "words": 1, "to": "everyone"})
    assert status == "rejected" and reason == "unknown argument: to"
    assert await s.decide(cp, "edit", edited='{"text": "edited text", "words": 2}') == ("done", "")
    assert await s.finish() == "completed"
    record = json.loads(published.read_text())
    assert record["text"] == "edited text" and record["words"] == 2
    intent = of_kind(await events(s), ev.ToolCallIntent, "publish")[0]
    assert intent.args == {"text": "edited text", "words": 2}


async def test_tool_skip_never_runs_it(start, published: Path) -> None:
    s = await start("tool")
    cp = await s.checkpoint("publish")
    assert await s.decide(cp, "skip") == ("done", "")
    assert await s.finish() == "completed"
    assert not published.exists()
    assert of_kind(await events(s), ev.ToolCallIntent) == []


async def test_before_tools_on_a_pure_tool(start, published: Path) -> None:
    flow = (Path(__file__).resolve().parents[2] / "flows" / "tool.yaml").read_text()
    flow = flow.replace("side_effects: false\n", "side_effects: false\n    review: before_tools\n", 1)
    s = await start(flow)
    cp = await s.checkpoint("count")
    assert cp.reason == "before_tool" and cp.output == {
        "text": "baton keeps a person in the loop of multi-agent pipelines, in the terminal."
    }
    await s.decide(cp, "approve")
    cp = await s.checkpoint("publish")
    await s.decide(cp, "approve")
    assert await s.finish() == "completed"


# --- parallel branch -------------------------------------------------------------------------------


@pytest.mark.parametrize("concurrency", [None, 1])
async def test_a_waiting_branch_never_stops_the_others(start, concurrency: int | None) -> None:
    flow = PARALLEL if concurrency is None else PARALLEL.replace("kind: parallel", "kind: parallel\n    concurrency: 1")
    s = await start(flow)
    cp = await s.checkpoint("views/slow")
    view = await s.wait_for(
        lambda v: v.step("views/pro").status == "completed" and v.step("views/con").status == "completed"
    )
    assert view.step("views/slow").status == "awaiting"
    assert await s.decide(cp, "approve") == ("done", "")
    assert await s.finish() == "completed"
    log = await events(s)
    decided = _seqs(log, ev.DecisionMade, "views/slow")[0]
    for other in ("views/pro", "views/con"):
        assert _seqs(log, ev.StepCompleted, other)[0] < decided
    view = await s.view()
    notes = view.state["notes"]
    assert len(notes) == 3 and notes[0] == cp.output


async def test_branch_reject_edit_retry_and_skip(start) -> None:
    s = await start(PARALLEL)
    cp = await s.checkpoint("views/slow")
    assert "reroute" not in cp.options and cp.targets == []
    assert "skip_needs" not in cp.context
    await s.decide(cp, "reject", feedback="Name one risk.")
    cp2 = await s.checkpoint("views/slow")
    assert cp2.round == 2
    await s.decide(cp2, "retry_model", model="strong")
    cp3 = await s.checkpoint("views/slow")
    assert cp3.context["model"] == "strong"
    assert await s.decide(cp3, "edit", edited="Risk: replay cost.") == ("done", "")
    assert await s.finish() == "completed"
    view = await s.view()
    assert view.state["notes"][0] == "Risk: replay cost."
    log = await events(s)
    assert "Name one risk." in calls(log, "views/slow")[1].request["messages"][-1]["content"]
    assert [c.model for c in calls(log, "views/slow")] == ["mock/fast", "mock/fast", "mock/strong"]


async def test_branch_skip_and_pause_resume(start) -> None:
    s = await start(PARALLEL)
    cp = await s.checkpoint("views/slow")
    await s.wait_for(lambda v: v.step("views/pro").status == "completed" and v.step("views/con").status == "completed")
    assert await s.decide(cp, "pause") == ("done", "")
    assert await s.finish() == "paused"
    await s.resume()
    again = await s.checkpoint("views/slow")
    assert again.checkpoint_id == cp.checkpoint_id and again.output == cp.output
    await s.wait_for(lambda v: v.status == "running")
    assert await s.decide(again, "skip") == ("done", "")
    assert await s.finish() == "completed"
    log = await events(s)
    for branch in ("views/slow", "views/pro", "views/con"):
        assert len(calls(log, branch)) == 1
    view = await s.view()
    assert statuses(view)["views/slow"] == "skipped"
    assert len(view.state["notes"]) == 2


# --- map item --------------------------------------------------------------------------------------


async def test_map_items_queue_in_the_inbox_and_any_can_be_answered_first(start) -> None:
    s = await start(MAP)
    view = await s.wait_for(lambda v: len(v.open_checkpoints) == 3)
    inbox = view.open_checkpoints
    assert [c.step for c in inbox] == sorted(
        (c.step for c in inbox), key=lambda p: view.checkpoints[p + ":review:1"].opened_seq
    )
    assert [c.opened_seq for c in inbox] == sorted(c.opened_seq for c in inbox)
    assert {c.step for c in inbox} == {"each[0]", "each[1]", "each[2]"}
    assert all("reroute" not in c.options for c in inbox)
    by_step = {c.step: c for c in inbox}
    assert await s.decide(by_step["each[2]"], "edit", edited="Gamma, edited.") == ("done", "")
    assert await s.decide(by_step["each[0]"], "reject", feedback="Mention alpha twice.") == ("done", "")
    again = await s.checkpoint("each[0]")
    assert again.round == 2
    assert len((await s.view()).open_checkpoints) == 2
    assert await s.decide(by_step["each[1]"], "skip") == ("done", "")
    assert await s.decide(again, "approve") == ("done", "")
    assert await s.finish() == "completed"
    view = await s.view()
    assert view.state["summaries"] == [again.output, "Gamma, edited."]
    assert statuses(view)["each[1]"] == "skipped"
    log = await events(s)
    assert "Mention alpha twice." in calls(log, "each[0]")[1].request["messages"][-1]["content"]


# --- loop body -------------------------------------------------------------------------------------


async def test_loop_body_reject_then_approve(start) -> None:
    s = await start(LOOP)
    cp = await s.checkpoint("refine#1/write")
    assert "reroute" not in cp.options
    assert cp.context["skip_needs"] == ["draft"]
    await s.decide(cp, "reject", feedback="Use fewer adjectives.")
    again = await s.checkpoint("refine#1/write")
    assert again.checkpoint_id == "refine#1/write:review:2"
    await s.decide(again, "approve")
    assert await s.finish() == "completed"
    log = await events(s)
    assert "Use fewer adjectives." in calls(log, "refine#1/write")[1].request["messages"][-1]["content"]
    view = await s.view()
    assert view.state["draft"] == again.output
    assert statuses(view)["refine#1/judge"] == "completed"


async def test_loop_body_skip_must_supply_what_the_judge_reads(start) -> None:
    s = await start(LOOP)
    cp = await s.checkpoint("refine#1/write")
    status, reason = await s.decide(cp, "skip")
    assert status == "rejected" and "'draft'" in reason
    assert await s.decide(cp, "skip", supplied={"draft": "My own draft."}) == ("done", "")
    assert await s.finish() == "completed"
    log = await events(s)
    assert "My own draft." in calls(log, "refine#1/judge")[0].request["messages"][-1]["content"]


# --- supervisor manager ----------------------------------------------------------------------------


async def test_manager_edit_picks_the_workers(start) -> None:
    s = await start(SUPERVISOR)
    cp = await s.checkpoint("review/manager")
    assert cp.output == {"workers": ["security"], "reason": "it touches payments"}
    assert "reroute" not in cp.options
    status, reason = await s.decide(cp, "edit", edited={"workers": ["security", "marketing"], "reason": "x"})
    assert status == "rejected" and "marketing" in reason
    assert await s.decide(cp, "edit", edited={"workers": ["legal", "ops"], "reason": "EU launch"}) == ("done", "")
    assert await s.finish() == "completed"
    view = await s.view()
    assert statuses(view)["review/security"] == "skipped"
    assert statuses(view)["review/legal"] == "completed" and statuses(view)["review/ops"] == "completed"
    assert len(view.state["reviews"]) == 2


async def test_manager_reject_and_skip(start) -> None:
    s = await start(SUPERVISOR)
    cp = await s.checkpoint("review/manager")
    await s.decide(cp, "reject", feedback="Legal must always look.")
    again = await s.checkpoint("review/manager")
    assert again.round == 2
    assert await s.decide(again, "skip") == ("done", "")
    assert await s.finish() == "completed"
    view = await s.view()
    assert all(statuses(view)[f"review/{w}"] == "completed" for w in ("security", "legal", "ops"))
    log = await events(s)
    assert "Legal must always look." in calls(log, "review/manager")[1].request["messages"][-1]["content"]


# --- step mode and breakpoints --------------------------------------------------------------------


async def test_step_mode_command_and_breakpoint_command_while_running(start) -> None:

    s = await start(AGENT)
    cp = await s.checkpoint("write")
    status, reason = await s.command(Command(kind="breakpoint", step="nowhere", by="tester"))
    assert status == "rejected" and reason == "no step 'nowhere' in this workflow"
    assert await s.command(Command(kind="step_mode", enabled=True, by="tester")) == ("done", "")
    await s.decide(cp, "approve")
    stop = await s.checkpoint("extra")
    assert stop.checkpoint_id == "extra:step_mode:1"
    assert stop.context["prompt"] == "Add a fact about tidal power"
    assert await s.command(Command(kind="step_mode", enabled=False, by="tester")) == ("done", "")
    assert await s.command(Command(kind="breakpoint", step="polish", by="tester")) == ("done", "")
    await s.decide(stop, "approve")
    at = await s.checkpoint("polish")
    assert at.checkpoint_id == "polish:breakpoint:1" and at.reason == "breakpoint"
    await s.decide(at, "approve")
    assert await s.finish() == "completed"
    log = await events(s)
    controls = of_kind(log, ev.ControlChanged)
    assert [(c.step_mode, c.breakpoint, c.by) for c in controls] == [
        (True, "", "tester"),
        (False, "", "tester"),
        (None, "polish", "tester"),
    ]
    view = await s.view()
    assert view.breakpoints == {"polish"} and view.step_mode is False


async def test_step_mode_edit_prompt_survives_a_rejection(start) -> None:
    from baton.core.runner import RunOptions

    s = await start(AGENT, options=RunOptions(step_mode=True))
    cp = await s.checkpoint("write")
    assert cp.reason == "step_mode" and cp.options[:5] == ["approve", "edit", "retry_model", "skip", "pause"]
    assert cp.targets == ["end"], "polish reads the draft this step has not written yet"
    assert await s.decide(cp, "edit", edited="Write a haiku about tidal power") == ("done", "")
    review = await s.checkpoint("write")
    assert review.reason == "review"
    await s.decide(review, "reject", feedback="More syllables.")
    review2 = await s.checkpoint("write")
    assert review2.round == 2
    await s.decide(review2, "approve")
    for step in ("extra", "polish"):
        stop = await s.checkpoint(step)
        await s.decide(stop, "approve")
    assert await s.finish() == "completed"
    prompts = [c.request["messages"][-1]["content"] for c in calls(await events(s), "write")]
    assert prompts[0] == "Write a haiku about tidal power"
    assert prompts[1].startswith("Write a haiku about tidal power") and "More syllables." in prompts[1]


async def test_breakpoint_on_a_composite_step_and_skip_from_it(start) -> None:
    from baton.core.runner import RunOptions

    flow = PARALLEL.replace("\n          review: always", "")
    s = await start(flow, options=RunOptions(breakpoints={"views"}))
    cp = await s.checkpoint("views")
    assert cp.reason == "breakpoint" and cp.options == ["approve", "skip", "pause", "reroute"]
    assert cp.targets == ["end"]
    assert "skip_needs" not in cp.context
    assert of_kind(await events(s), ev.LLMCallStarted) == []
    assert await s.decide(cp, "skip") == ("done", "")
    assert await s.finish() == "completed"
    view = await s.view()
    assert statuses(view)["views"] == "skipped" and statuses(view)["answer"] == "completed"


async def test_step_mode_stops_before_a_rules_router(start) -> None:
    from baton.core.runner import RunOptions

    s = await start("router", inputs={"question": "Is it up?"}, options=RunOptions(step_mode=True))
    cp = await s.checkpoint("triage")
    assert cp.checkpoint_id == "triage:step_mode:1" and cp.context == {"kind": "router"}
    await s.decide(cp, "approve")
    nxt = await s.checkpoint("quick")
    assert nxt.reason == "step_mode"
    await s.decide(nxt, "approve")
    assert await s.finish() == "completed"
    log = await events(s)
    assert calls(log, "triage") == []
    assert [r.route for r in of_kind(log, ev.Rerouted, "triage")] == ["short"]
