"""The fold of agents' tool loops (core/view_tools.py through core/view.py), from synthetic envelopes: turns,
every status a tool call can have, results kept whole, grants, and what a tool-call checkpoint does to its
step."""

from __future__ import annotations

import json
from typing import Any

import pytest

from baton.core import events as ev
from baton.core.view import SessionView
from baton.core.view_tools import ToolCallView, ToolLoop, first_lines, result_text

STEP = "research"


class Log:
    """Envelopes with increasing sequence numbers and timestamps, as the store would hand them out."""

    def __init__(self) -> None:
        self.envelopes: list[ev.Envelope] = []
        self.ts = 1000.0

    def add(self, *events: ev.Event, after_s: float = 1.0) -> Log:
        for event in events:
            self.ts += after_s
            self.envelopes.append(ev.Envelope("s1", len(self.envelopes) + 1, self.ts, event))
        return self

    def view(self) -> SessionView:
        return SessionView("s1").apply_all(self.envelopes)

    def loop(self) -> ToolLoop:
        return self.view().tools.loops[STEP]

    def call(self, call_id: str) -> ToolCallView:
        return self.loop().calls[call_id]


def turn(number: int, text: str, calls: list[tuple[str, str, dict[str, Any]]], cost: float = 0.001) -> list[ev.Event]:
    """One model turn of the agent: its call started and finished, asking for `calls` (id, name, args)."""
    call_id = f"m{number}"
    asked = [{"id": i, "name": n, "arguments": json.dumps(a)} for i, n, a in calls]
    return [
        ev.LLMCallStarted(step=STEP, call_id=call_id, model="mock/fast", alias="fast", turn=number),
        ev.LLMCallFinished(
            step=STEP,
            call_id=call_id,
            model="mock/fast",
            alias="fast",
            text=text,
            tokens_in=10,
            tokens_out=5,
            cost_usd=cost,
            latency_s=0.5,
            tool_calls=asked,
            turn=number,
        ),
    ]


def requested(call_id: str, tool: str, args: dict[str, Any], policy: str = "run", turn_: int = 1) -> ev.Event:
    return ev.ToolCallRequested(
        step=STEP,
        call_id=call_id,
        idempotency_key=f"s1:{call_id}",
        tool=tool,
        source="mcp",
        origin="files",
        args=args,
        args_digest="d",
        policy=policy,
        reason=f"policy said {policy}",
        turn=turn_,
    )


def finished(call_id: str, tool: str, outcome: str = "done", result: Any = None, error: str = "") -> ev.Event:
    return ev.ToolCallFinished(
        step=STEP,
        tool=tool,
        idempotency_key=f"s1:{call_id}",
        ok=outcome in ("done", "supplied"),
        result=result,
        error=error,
        latency_s=0.012,
        call_id=call_id,
        outcome=outcome,
    )


def asked(call_id: str, tool: str, args: dict[str, Any], turn_: int = 1) -> ev.CheckpointOpened:
    return ev.CheckpointOpened(
        step=STEP,
        checkpoint_id=f"{STEP}:tool_call:1:t{turn_}:{call_id}",
        reason="tool_call",
        output=args,
        context={"tool": tool, "source": "mcp", "origin": "files", "args": args, "call_id": call_id, "turn": turn_},
        options=["approve", "edit", "reject", "deny", "always", "pause"],
    )


def decided(call_id: str, decision: str, turn_: int = 1, **details: Any) -> ev.DecisionMade:
    return ev.DecisionMade(
        step=STEP, checkpoint_id=f"{STEP}:tool_call:1:t{turn_}:{call_id}", decision=decision, by="ann", **details
    )


def started() -> Log:
    return Log().add(
        ev.SessionStarted(workflow="w"),
        ev.StepStarted(step=STEP, step_kind="agent", model="fast"),
        ev.ToolsListed(
            step=STEP,
            tools=[
                {"name": "search", "source": "python", "origin": "tools:search", "approval": "never"},
                {"name": "write", "source": "mcp", "origin": "files", "approval": "always", "side_effects": True},
            ],
        ),
    )


def test_turns_carry_their_text_figures_and_the_calls_they_asked_for() -> None:
    log = started().add(*turn(1, "Searching first.", [("c1", "search", {"q": "grid"}), ("c2", "search", {"q": "x"})]))
    loop = log.loop()
    assert [t["name"] for t in loop.tools] == ["search", "write"]
    assert (loop.turn, loop.turns[1].text, loop.turns[1].tool_calls) == (1, "Searching first.", ["c1", "c2"])
    assert [(c.tool, c.args, c.status) for c in loop.ordered_calls()] == [
        ("search", {"q": "grid"}, "requested"),
        ("search", {"q": "x"}, "requested"),
    ]
    log.add(*turn(2, "Done.", [], cost=0.002))
    view = log.view()
    loop = view.tools.loops[STEP]
    assert loop.turn == 2 and [t.number for t in loop.ordered_turns()] == [1, 2]
    assert (loop.turns[2].cost_usd, loop.turns[2].tokens_in, loop.turns[2].status) == (0.002, 10, "ok")
    assert view.steps[STEP].cost_usd == pytest.approx(0.003), "the step's running cost is every turn's"


def test_a_turn_retried_is_one_turn_and_a_call_outside_a_loop_is_none() -> None:
    log = started().add(
        ev.LLMCallStarted(step=STEP, call_id="m1a", turn=1),
        ev.LLMCallFinished(step=STEP, call_id="m1a", status="error", error_type="server", cost_usd=None, turn=1),
        *turn(1, "again", []),
        ev.LLMCallStarted(step="plain", call_id="p1"),
        ev.LLMCallFinished(step="plain", call_id="p1", text="no loop"),
    )
    view = log.view()
    turn1 = view.tools.loops[STEP].turns[1]
    assert (turn1.model_calls, turn1.text, turn1.cost_unknown) == (["m1a", "m1"], "again", True)
    assert "plain" not in view.tools.loops


def test_a_call_the_policy_runs_is_running_then_done_with_its_whole_result() -> None:
    result = {"hits": [f"line {i}" for i in range(50)]}
    log = started().add(*turn(1, "", [("c1", "search", {"q": "grid"})]), requested("c1", "search", {"q": "grid"}))
    call = log.call("c1")
    assert (call.status, call.source, call.origin, call.policy) == ("running", "mcp", "files", "run")
    log.add(finished("c1", "search", result=result))
    call = log.call("c1")
    assert (call.status, call.result, call.latency_s) == ("done", result, 0.012)
    lines, more = first_lines(result_text(call.result), 3)
    assert lines == ["{", '  "hits": [', '    "line 0",'] and more == 51


def test_a_granted_call_runs_and_an_invalid_one_never_does() -> None:
    log = started().add(
        *turn(1, "", [("c1", "write", {"path": "r.md"}), ("c2", "serch", {})]),
        requested("c1", "write", {"path": "r.md"}, policy="granted"),
        requested("c2", "serch", {}, policy="invalid"),
    )
    assert (log.call("c1").status, log.call("c2").status) == ("running", "invalid")
    log.add(finished("c2", "serch", outcome="invalid", error="no tool named 'serch'"))
    assert (log.call("c2").status, log.call("c2").error) == ("invalid", "no tool named 'serch'")


@pytest.mark.parametrize(
    ("decision", "details", "status"),
    [
        ("approve", {}, "running"),
        ("always", {"edited": {"path": "reports/*"}}, "running"),
        ("edit", {"edited": {"path": "safe.md"}}, "running"),
        ("reject", {"feedback": "write to drafts/ instead"}, "rejected"),
        ("deny", {}, "denied"),
    ],
)
def test_a_call_that_asks_waits_for_approval_until_a_decision(
    decision: str, details: dict[str, Any], status: str
) -> None:
    log = started().add(
        *turn(1, "", [("c1", "write", {"path": "r.md"})]),
        requested("c1", "write", {"path": "r.md"}, policy="ask"),
        asked("c1", "write", {"path": "r.md"}),
    )
    view = log.view()
    call = view.tools.loops[STEP].calls["c1"]
    assert (call.status, call.checkpoint_id) == ("waiting", f"{STEP}:tool_call:1:t1:c1")
    assert view.steps[STEP].status == "awaiting"
    assert view.steps[STEP].output is None, "a tool call's arguments are not the step's output"
    log.add(decided("c1", decision, **details))
    view = log.view()
    call = view.tools.loops[STEP].calls["c1"]
    assert (call.status, call.decision, call.decided_by) == (status, decision, "ann")
    if decision == "edit":
        assert (call.args, call.asked_args) == ({"path": "safe.md"}, {"path": "r.md"})
    if decision == "reject":
        assert call.feedback == "write to drafts/ instead"
    assert f"{decision} write by ann" in view.steps[STEP].timeline


def test_an_outcome_settles_the_call_whatever_was_decided() -> None:
    log = started().add(
        *turn(1, "", [("c1", "write", {}), ("c2", "fetch", {}), ("c3", "write", {}), ("c4", "write", {})]),
        requested("c1", "write", {}, policy="ask"),
        asked("c1", "write", {}),
        decided("c1", "reject", feedback="no"),
        finished("c1", "write", outcome="rejected", result="no"),
        requested("c2", "fetch", {}),
        finished("c2", "fetch", outcome="failed", error="timeout after 5s"),
        requested("c3", "write", {}),
        finished("c3", "write", outcome="supplied", result="a person's result"),
        requested("c4", "write", {}, policy="ask"),
        finished("c4", "write", outcome="denied", error="denied"),
    )
    loop = log.loop()
    assert [(c.call_id, c.status) for c in loop.ordered_calls()] == [
        ("c1", "rejected"),
        ("c2", "failed"),
        ("c3", "supplied"),
        ("c4", "denied"),
    ]
    assert loop.calls["c2"].error == "timeout after 5s"
    assert (loop.count("failed"), loop.count("done")) == (1, 0)


def test_the_calls_of_one_turn_wait_together_and_the_step_runs_once_none_waits() -> None:
    log = started().add(*turn(1, "", [("c1", "write", {"n": 1}), ("c2", "write", {"n": 2})]))
    for call_id in ("c1", "c2"):
        log.add(requested(call_id, "write", {}, policy="ask"), asked(call_id, "write", {}))
    view = log.view()
    assert [c.checkpoint_id for c in view.open_checkpoints] == [f"{STEP}:tool_call:1:t1:{c}" for c in ("c1", "c2")]
    log.add(decided("c1", "approve"))
    assert log.view().steps[STEP].status == "awaiting", "c2 still waits"
    log.add(decided("c2", "approve"))
    assert log.view().steps[STEP].status == "running"


def test_a_pause_keeps_a_call_waiting_and_a_stopped_step_interrupts_what_ran() -> None:
    log = started().add(
        *turn(1, "", [("c1", "slow", {}), ("c2", "write", {})]),
        requested("c1", "slow", {}),
        requested("c2", "write", {}, policy="ask"),
        asked("c2", "write", {}),
        decided("c2", "pause"),
        ev.SessionPaused(reason="paused by ann"),
    )
    assert (log.call("c1").status, log.call("c2").status) == ("running", "waiting"), "awaiting steps are not cancelled"
    log.add(ev.StepCancelled(step=STEP, reason="paused"))
    assert (log.call("c1").status, log.call("c2").status) == ("interrupted", "waiting")
    log.add(ev.SessionResumed(pid=2), asked("c2", "write", {}), finished("c1", "slow", result="late"))
    assert (log.call("c1").status, log.call("c2").status) == ("done", "waiting")
    log.add(ev.StepSkipped(step=STEP, reason="skipped by ann"))
    assert log.call("c2").status == "interrupted", "a skipped step's waiting call never runs"


def test_a_failed_step_interrupts_its_unfinished_calls() -> None:
    log = started().add(
        *turn(1, "", [("c1", "slow", {})]), requested("c1", "slow", {}), ev.StepFailed(step=STEP, error="x")
    )
    assert log.call("c1").status == "interrupted"


def test_grants_are_given_replaced_and_revoked() -> None:
    log = started().add(
        ev.ToolGrantChanged(step=STEP, tool="write", pattern={"path": "reports/*"}, granted=True, by="ann"),
        ev.ToolGrantChanged(step=STEP, tool="search", granted=True, by="bob"),
        ev.ToolGrantChanged(step=STEP, tool="write", pattern={"path": "reports/*"}, granted=True, by="cy"),
    )
    grants = log.view().tools.grants
    assert [(g.tool, g.pattern, g.by) for g in grants] == [
        ("search", {}, "bob"),
        ("write", {"path": "reports/*"}, "cy"),
    ]
    log.add(ev.ToolGrantChanged(step=STEP, tool="write", pattern={"path": "reports/*"}, granted=False, by="ann"))
    assert [g.tool for g in log.view().tools.grants] == ["search"]


def test_a_checkpoint_for_a_call_never_requested_still_shows_the_call() -> None:
    log = started().add(asked("c9", "write", {"path": "x"}, turn_=3))
    call = log.call("c9")
    assert (call.tool, call.args, call.turn, call.status, call.source) == ("write", {"path": "x"}, 3, "waiting", "mcp")
    assert [c.call_id for c in log.loop().ordered_calls()] == ["c9"]


def test_arguments_that_are_not_json_are_kept_as_written() -> None:
    log = started().add(
        ev.LLMCallFinished(
            step=STEP, call_id="m1", tool_calls=[{"id": "c1", "name": "search", "arguments": "{q: broken"}], turn=1
        )
    )
    call = log.call("c1")
    assert (call.args, call.arguments_text) == ({}, "{q: broken")


def test_a_tool_steps_call_is_an_intent_not_a_loop() -> None:
    log = Log().add(
        ev.SessionStarted(workflow="w"),
        ev.ToolCallIntent(step="publish", tool="m:f", idempotency_key="k", args={"a": 1}),
        ev.ToolCallFinished(step="publish", tool="m:f", idempotency_key="k", result="r"),
    )
    view = log.view()
    assert view.tool_intents["k"]["finished"] and view.tool_intents["k"]["result"] == "r"
    assert view.tools.loops == {}
