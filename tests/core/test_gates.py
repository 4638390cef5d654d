"""Checkpoints are gates: each kind says what it shows and allows, and what each decision does; one
inbox opens them, records decisions and answers unattended runs. Tested on an in-memory sink and a
scripted model (no SQLite, no litellm)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from baton.core import events as ev
from baton.core.commands import decide
from baton.core.llm.scripted import ScriptedLLM
from baton.core.runner import History, Paused, RunOptions, SessionStop
from baton.core.runner.context import StepFailure
from baton.core.runner.gates import edits
from baton.core.runner.gates.ambiguous import Ambiguous
from baton.core.runner.gates.base import Accept, Gate, Jump, Proceed, Rerun, Skip, pass_gate
from baton.core.runner.gates.before_step import BeforeModelStep, BeforeStep
from baton.core.runner.gates.before_tool import BeforeTool
from baton.core.runner.gates.budget import BudgetOver
from baton.core.runner.gates.cost import CostOver
from baton.core.runner.gates.escalation import CallFailed, JudgeFailed, ToolFailed
from baton.core.runner.gates.human import HumanGate
from baton.core.runner.gates.invalid_input import InvalidInput
from baton.core.runner.gates.review import Review
from baton.core.runner.guards import BudgetVerdict
from baton.core.runner.runtime import Runtime
from baton.core.spec.model import GateStep, ToolStep
from tests.core.runner_kit import PRICES, VirtualClock, flow
from tests.fakes.memory_sink import MemorySink

WF = flow(
    """
    name: gates
    state:
      topic: {type: str}
      draft: {type: str}
      out: {type: str}
    inputs:
      topic: {default: tides}
    models:
      cheap: test/cheap
      dear: test/dear
    steps:
      - {id: a, kind: agent, model: cheap, reads: [topic], writes: [draft], prompt: "a {topic}"}
      - {id: t, kind: tool, call: "json:dumps", reads: [draft], args: {obj: "{draft}"}, writes: [out]}
      - {id: g, kind: gate, reads: [draft], message: "ok?"}
    """
)
TOOL = WF.spec.steps[1]
GATE = WF.spec.steps[2]
assert isinstance(TOOL, ToolStep) and isinstance(GATE, GateStep)


def runtime(
    options: RunOptions | None = None, history: History | None = None, sink: MemorySink | None = None
) -> Runtime:
    rt = Runtime(
        "s",
        WF,
        dict(WF.spec.models),
        ScriptedLLM(lambda request: "x", prices=PRICES),
        sink or MemorySink(),
        VirtualClock(),
        options or RunOptions(),
        history or History(),
    )
    rt.state.root.state.update({"topic": "tides"})
    return rt


def made(decision: str, **details: Any) -> ev.DecisionMade:
    return ev.DecisionMade(step="x", checkpoint_id="x:r:1", decision=decision, by="ana", **details)


def review(**changes: Any) -> Review:
    values: dict[str, Any] = {
        "path": "a",
        "reason": "review",
        "round": 2,
        "output": "the draft",
        "message": "review the output of 'a'",
        "context": {},
        "forecasts": {},
        "can_reject": True,
        "can_reroute": True,
        "edit": edits.prompt("x"),
        "to_jump": lambda output: None,
    }
    return Review(**{**values, **changes})


FAILURE = StepFailure("server: down", "server", 3, "3 attempts: call ✗ 503")
CASES: list[tuple[Gate, str, list[str]]] = [
    (
        BeforeModelStep("a", "step_mode", "cheap", "a tides", {"topic": "tides"}, {}, True),
        "a:step_mode:1",
        ["approve", "edit", "retry_model", "skip", "pause", "reroute"],
    ),
    (BeforeStep("a", "breakpoint", "parallel", False), "a:breakpoint:1", ["approve", "skip", "pause"]),
    (CostOver("a", 1, 0.01, 0.5, "p", {}), "a:cost:1", ["approve", "edit", "retry_model", "skip", "pause"]),
    (
        BudgetOver("a", 2, BudgetVerdict("session", 1.0, 0.9, 0.2), "cheap", "p", {}),
        "a:budget:2",
        ["approve", "retry_model", "skip", "pause"],
    ),
    (CallFailed("a", 1, FAILURE, "p", {}), "a:escalation:1", ["approve", "retry_model", "edit", "skip", "pause"]),
    (review(), "a:review:2", ["approve", "edit", "reject", "reroute", "retry_model", "skip", "pause"]),
    (review(can_reject=False, can_reroute=False), "a:review:2", ["approve", "edit", "retry_model", "skip", "pause"]),
    (BeforeTool("t", "before_tool", "json:dumps", {"obj": "d"}, True, True), "t:before_tool:1", []),
    (Ambiguous("t", "json:dumps", {"obj": "d"}, "s:t:k", edits.any_value), "t:ambiguous:1", []),
    (
        ToolFailed("t", 2, "json:dumps", "failed: ValueError: x", "ValueError: x", {}, edits.any_value),
        "t:escalation:2",
        ["approve", "edit", "skip", "pause"],
    ),
    (InvalidInput("t", 1, TOOL, "input 'draft' is missing", {}), "t:escalation:1", ["edit", "skip", "pause"]),
    (JudgeFailed("l", "the judge did not pass", 3), "l:escalation:1", ["approve", "pause"]),
    (HumanGate("g", GATE, "ok?", {"draft": "d"}, True), "g:gate:1", []),
]


@pytest.mark.parametrize(("gate", "checkpoint_id", "options"), CASES)
def test_each_gate_says_what_it_asks(gate: Gate, checkpoint_id: str, options: list[str]) -> None:
    rt = runtime()
    rt.state.root.state.update({"draft": "d"})
    ask = gate.ask(rt)
    assert ask.checkpoint_id == checkpoint_id
    if options:
        assert ask.options == options
    assert ask.opened().checkpoint_id == checkpoint_id


def test_before_a_tool_the_targets_are_the_steps_it_can_do_without() -> None:
    rt = runtime()
    ask = BeforeTool("t", "before_tool", "json:dumps", {"obj": "d"}, True, True).ask(rt)
    assert ask.options == ["approve", "edit", "skip", "pause", "reroute"] and ask.targets == ["end"]
    assert ask.message == "run json:dumps(obj) — it has side effects"


def test_the_gate_step_offers_edit_and_reroute_only_when_they_apply() -> None:
    rt = runtime()
    assert HumanGate("g", GATE, "ok?", {"draft": "d"}, False).ask(rt).options == ["approve", "edit", "reject", "pause"]


@pytest.mark.parametrize(
    ("gate", "decision", "verdict"),
    [
        (BeforeModelStep("a", "step_mode", "cheap", "p", {}, {}, True), made("edit", edited="new"), Proceed),
        (BeforeModelStep("a", "step_mode", "cheap", "p", {}, {}, True), made("reroute", target="g"), Jump),
        (BeforeModelStep("a", "step_mode", "cheap", "p", {}, {}, True), made("skip"), Skip),
        (BudgetOver("a", 1, BudgetVerdict("session", 1, 1, 1), "cheap", "p", {}), made("approve"), Proceed),
        (review(), made("approve"), Accept),
        (review(), made("edit", edited="better"), Accept),
        (review(), made("reroute", target="g"), Accept),
        (review(), made("reject", feedback="shorter"), Rerun),
        (review(), made("retry_model", model="dear"), Rerun),
        (Ambiguous("t", "m:f", {}, "k", edits.any_value), made("edit", edited={"r": 1}), Accept),
        (Ambiguous("t", "m:f", {}, "k", edits.any_value), made("approve"), Proceed),
        (ToolFailed("t", 1, "m:f", "w", "d", {}, edits.any_value), made("skip"), Skip),
    ],
)
def test_a_decision_becomes_one_verdict(gate: Gate, decision: ev.DecisionMade, verdict: type) -> None:
    assert isinstance(gate.apply(decision), verdict)


def test_verdicts_carry_what_changes() -> None:
    before = BeforeModelStep("a", "step_mode", "cheap", "p", {}, {}, True)
    assert before.apply(made("edit", edited="new")) == Proceed(made("edit", edited="new"), step_prompt="new")
    assert before.apply(made("retry_model", model="dear")).model == "dear"  # type: ignore[union-attr]
    cost = CostOver("a", 1, 0.01, None, "p", {}).apply(made("edit", edited="shorter"))
    assert isinstance(cost, Proceed) and cost.prompt == "shorter" and cost.step_prompt is None
    budget = BudgetOver("a", 1, BudgetVerdict("session", 1, 1, 1), "cheap", "p", {}).apply(made("approve"))
    assert isinstance(budget, Proceed) and budget.past_budget
    rerouted = review(to_jump=lambda output: "g").apply(made("reroute", target="end"))
    assert isinstance(rerouted, Accept) and (rerouted.jump, rerouted.jump_by) == ("end", "ana")
    approved = review(to_jump=lambda output: "g").apply(made("approve"))
    assert isinstance(approved, Accept) and approved.jump == "g" and approved.jump_by == ""
    skipped = CallFailed("a", 1, FAILURE, "p", {}).apply(made("skip"))
    assert isinstance(skipped, Skip) and skipped.degraded, "skipping a failure degrades the session"
    assert not BeforeStep("a", "step_mode", "x", True).apply(made("skip")).degraded  # type: ignore[union-attr]


def test_a_rejected_gate_step_stops_the_session_with_the_steps_failure() -> None:
    with pytest.raises(SessionStop) as stopped:
        HumanGate("g", GATE, "ok?", {}, True).apply(made("reject", feedback="no"))
    assert stopped.value.error_type == "rejected"
    assert [type(e) for e in stopped.value.events] == [ev.StepFailed]


# --- the inbox: who answers ----------------------------------------------------------------------


async def test_auto_approve_answers_and_records_with_the_opening() -> None:
    sink = MemorySink()
    rt = runtime(RunOptions(auto="approve"), sink=sink)
    verdict = await pass_gate(rt, review())
    assert isinstance(verdict, Accept) and verdict.decision.by == "auto"
    assert [type(e) for e in sink.events] == [ev.CheckpointOpened, ev.DecisionMade]


async def test_auto_reject_rejects_where_it_can_and_stops_where_it_cannot() -> None:
    rt = runtime(RunOptions(auto="reject"))
    verdict = await pass_gate(rt, review())
    assert isinstance(verdict, Rerun) and verdict.feedback == "Rejected automatically (--auto reject)."
    with pytest.raises(SessionStop, match=r"step 'a' rejected \(--auto reject\)"):
        await pass_gate(rt, review(round=3, can_reject=False))


@pytest.mark.parametrize(
    ("gate", "raised", "opened"),
    [
        (BudgetOver("a", 1, BudgetVerdict("session", 1, 1, 1), "cheap", "p", {}), Paused, True),
        (Ambiguous("t", "m:f", {}, "k", edits.any_value), Paused, True),
        (CallFailed("a", 1, FAILURE, "p", {}), SessionStop, True),
        (JudgeFailed("l", "never passed", 3), SessionStop, True),
        (ToolFailed("t", 1, "m:f", "timed out after 3s", "x", {}, edits.any_value), SessionStop, False),
        (InvalidInput("t", 1, TOOL, "input 'draft' is missing", {}), SessionStop, False),
    ],
)
async def test_unattended_runs_never_guess_where_a_person_must_decide(
    gate: Gate, raised: type[Exception], opened: bool
) -> None:
    sink = MemorySink()
    rt = runtime(RunOptions(auto="approve"), sink=sink)
    with pytest.raises(raised):
        await pass_gate(rt, gate)
    assert bool(sink.of(ev.CheckpointOpened)) is opened
    assert sink.of(ev.DecisionMade) == []


async def test_a_tool_failure_stops_an_unattended_run_with_a_sentence() -> None:
    rt = runtime(RunOptions(auto="approve"))
    gate = ToolFailed("t", 1, "m:f", "returned a set, which cannot be stored as JSON", "x", {}, edits.any_value)
    with pytest.raises(SessionStop) as stopped:
        await pass_gate(rt, gate)
    assert stopped.value.message == "tool 'm:f' at 't' returned a set, which cannot be stored as JSON"
    assert stopped.value.error_type == "tool_error"


async def test_a_queued_persons_decision_beats_the_automatic_policy() -> None:
    """A person answered an ambiguous tool call while no runner held the session; the session runs on
    with --auto approve: the person's decision is applied, not the pause the policy would make."""
    first = MemorySink()
    gate = Ambiguous("t", "m:f", {"x": 1}, "s:t:k", edits.any_value)
    with pytest.raises(Paused):
        await pass_gate(runtime(RunOptions(auto="approve"), sink=first), gate)
    history = History.from_envelopes(first.envelopes())
    sink = MemorySink()
    rt = runtime(RunOptions(auto="approve"), history=history, sink=sink)
    command = dataclasses.replace(decide("t:ambiguous:1", "edit", by="ana", edited='{"sent": true}'), id=7)
    await rt.checkpoints.submit(command)
    assert sink.events == [], "not asked yet: the decision waits for its checkpoint"
    verdict = await pass_gate(rt, gate)
    assert isinstance(verdict, Accept) and verdict.output == {"sent": True}
    assert verdict.decision.by == "ana" and verdict.decision.command_id == 7
    assert sink.acknowledged == [7] and sink.of(ev.CheckpointOpened) == [], "re-opened, not opened twice"


async def test_a_queued_decision_also_beats_a_decisions_file() -> None:
    options = RunOptions(decisions={"a": "approve"}, decisions_file="d.json")
    rt = runtime(options, history=History.from_envelopes([_opened("a:review:2")]))
    command = dataclasses.replace(decide("a:review:2", "reject", by="ana", feedback="more"), id=3)
    await rt.checkpoints.submit(command)
    verdict = await pass_gate(rt, review())
    assert isinstance(verdict, Rerun) and verdict.decision.by == "ana"


async def test_a_recorded_decision_is_acted_on_without_asking_again() -> None:
    recorded = ev.DecisionMade(step="a", checkpoint_id="a:review:2", decision="edit", by="ana", edited="kept")
    history = History.from_envelopes([_opened("a:review:2"), ev.Envelope("s", 2, 0.0, recorded)])
    sink = MemorySink()
    verdict = await pass_gate(runtime(history=history, sink=sink), review())
    assert isinstance(verdict, Accept) and verdict.output == "kept" and sink.events == []


@pytest.mark.parametrize(
    ("entries", "expected"),
    [
        ({"a:review:2": "approve", "a:review": "skip", "a": "skip"}, Accept),
        ({"a:review": {"decision": "skip", "supplied": {"draft": "d"}}, "a": "approve"}, Skip),
        ({"a": ["approve", {"decision": "reject", "feedback": "f"}]}, Rerun),
    ],
)
async def test_a_decisions_file_answers_most_specific_first_and_by_round(
    entries: dict[str, Any], expected: type
) -> None:
    rt = runtime(RunOptions(decisions=entries, decisions_file="d.json"))
    verdict = await pass_gate(rt, review())
    assert isinstance(verdict, expected) and verdict.decision.by == "decisions:d.json"


async def test_a_decisions_file_that_does_not_cover_a_checkpoint_pauses() -> None:
    rt = runtime(RunOptions(decisions={"other": "approve"}, decisions_file="d.json"))
    with pytest.raises(Paused, match=r"no decision for step 'a' \(review\) in d.json"):
        await pass_gate(rt, review())
    assert "a" in rt.state.awaiting


def _opened(checkpoint_id: str) -> ev.Envelope:
    path, reason, round_ = checkpoint_id.split(":")
    options = ["approve", "edit", "reject", "reroute", "retry_model", "skip", "pause"]
    opened = ev.CheckpointOpened(
        step=path, checkpoint_id=checkpoint_id, reason=reason, options=options, round=int(round_)
    )
    return ev.Envelope("s", 1, 0.0, opened)
