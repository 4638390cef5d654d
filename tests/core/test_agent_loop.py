"""The agent tool loop on a scripted model: turns, policies, every decision at an approval, tool errors,
limits, and resuming from the record without re-sending a committed turn or re-running a committed call."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from baton.core import events as ev
from baton.core.llm.scripted import Reply
from baton.core.llm.types import LLMRequest, ModelToolCall
from baton.core.runner import RunOptions
from tests.core.runner_kit import flow, run

FLOW = """
name: act
state:
  topic: str
  report: str
inputs: [topic]
models:
  cheap: test/cheap
defaults:
  model: cheap
steps:
  - id: write
    kind: agent
    reads: [topic]
    writes: [report]
    prompt: "Research {topic}, then write it up."
    {extra}
    tools:
      - call: tests.core.agent_tools_kit:search
        side_effects: false
      - call: tests.core.agent_tools_kit:write_report
      {more}
"""


def agent(extra: str = "", more: str = "") -> Any:
    return flow(FLOW.replace("{extra}", extra).replace("{more}", more))


def call(tool: str, call_id: str, **args: Any) -> ModelToolCall:
    return ModelToolCall(call_id, tool, json.dumps(args))


def tool_messages(request: LLMRequest) -> list[str]:
    return [str(m.get("content")) for m in request.messages if m.get("role") == "tool"]


def turn_of(request: LLMRequest) -> int:
    """Turns answered so far in this round (assistant messages with tool calls)."""
    return sum(1 for m in request.messages if m.get("role") == "assistant" and m.get("tool_calls"))


def research_then_write(request: LLMRequest) -> Reply:
    """Turn 1 searches, turn 2 writes the report, turn 3 answers."""
    turn = turn_of(request)
    if turn == 0:
        return Reply("Looking.", tool_calls=(call("search", "c1", q="tides"),))
    if turn == 1:
        return Reply("", tool_calls=(call("write_report", "c2", path="out/tides.md", text="Tides rise."),))
    return Reply("Report written: " + " | ".join(tool_messages(request)))


@pytest.fixture
def tool_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "tools.log"
    monkeypatch.setenv("BATON_TEST_TOOL_LOG", str(path))
    return path


def runs(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


async def test_the_loop_calls_tools_turn_after_turn_and_asks_before_a_side_effect(tool_log: Path) -> None:
    done = await run(agent(), research_then_write, inputs={"topic": "tides"})
    assert done.status == "completed"
    assert [len(turn_of_messages) for turn_of_messages in [r.messages for r in done.llm.requests]] == [1, 3, 5]
    assert done.llm.requests[0].tools and {t["function"]["name"] for t in done.llm.requests[0].tools} == {
        "search",
        "write_report",
    }
    requested = done.of(ev.ToolCallRequested)
    assert [(r.tool, r.policy, r.turn) for r in requested] == [("search", "run", 1), ("write_report", "ask", 2)]
    assert requested[1].reason == "it has side effects"
    opened = done.of(ev.CheckpointOpened)
    assert [o.checkpoint_id for o in opened] == ["write:tool_call:1:t2:c2"]
    assert opened[0].context["args"] == {"path": "out/tides.md", "text": "Tides rise."}
    assert [i.tool for i in done.of(ev.ToolCallIntent)] == ["write_report"]
    finished = done.of(ev.ToolCallFinished)
    assert [(f.tool, f.outcome, f.call_id) for f in finished] == [
        ("search", "done", "c1"),
        ("write_report", "done", "c2"),
    ]
    assert runs(tool_log) == ["write_report out/tides.md new Tides rise."]
    report = done.state["report"]
    assert "tides hit 1" in report and "wrote 11 characters to out/tides.md" in report
    turns = [c.turn for c in done.of(ev.LLMCallFinished)]
    assert turns == [1, 2, 3]
    assert [len(c.tool_calls) for c in done.of(ev.LLMCallFinished)] == [1, 1, 0]
    assert len(done.of(ev.ToolsListed)) == 1


async def test_a_rejection_goes_back_to_the_model_as_the_result_and_the_loop_goes_on(tool_log: Path) -> None:
    decisions = {"write:tool_call:write_report": {"decision": "reject", "feedback": "not in out/, use reports/"}}
    done = await run(
        agent(), research_then_write, inputs={"topic": "tides"}, options=RunOptions(decisions=decisions)
    )
    assert done.status == "completed"
    assert runs(tool_log) == []
    last = done.llm.requests[-1]
    assert tool_messages(last)[-1] == "rejected by the user: not in out/, use reports/"
    assert done.of(ev.ToolCallFinished)[-1].outcome == "rejected"


async def test_edited_arguments_are_checked_against_the_schema_and_the_edit_runs(tool_log: Path) -> None:
    edited = {"path": "reports/tides.md", "text": "Tides rise twice a day."}
    decisions = {"write:tool_call:write_report": {"decision": "edit", "edited": edited}}
    done = await run(agent(), research_then_write, inputs={"topic": "tides"}, options=RunOptions(decisions=decisions))
    assert done.status == "completed"
    assert runs(tool_log) == ["write_report reports/tides.md new Tides rise twice a day."]
    made = done.of(ev.DecisionMade)[-1]
    assert "reports/tides.md" in made.diff

    bad = {"write:tool_call:write_report": {"decision": "edit", "edited": {"path": 3}}}
    failed = await run(agent(), research_then_write, inputs={"topic": "tides"}, options=RunOptions(decisions=bad))
    assert failed.status == "failed"
    assert "edited arguments do not fit the tool" in failed.of(ev.SessionFailed)[-1].error


async def test_always_for_the_session_grants_later_calls_and_is_recorded(tool_log: Path) -> None:
    def twice(request: LLMRequest) -> Reply:
        turn = turn_of(request)
        if turn < 2:
            return Reply("", tool_calls=(call("write_report", f"w{turn}", path=f"reports/{turn}.md", text="x"),))
        return Reply("two written")

    decisions = {"write:tool_call:write_report": {"decision": "always", "pattern": {"path": "reports/*"}}}
    done = await run(agent(), twice, inputs={"topic": "t"}, options=RunOptions(decisions=decisions))
    assert done.status == "completed"
    assert len(runs(tool_log)) == 2
    assert len(done.of(ev.CheckpointOpened)) == 1
    grants = done.of(ev.ToolGrantChanged)
    assert [(g.tool, g.pattern, g.granted) for g in grants] == [("write_report", {"path": "reports/*"}, True)]
    assert [r.policy for r in done.of(ev.ToolCallRequested)] == ["ask", "granted"]


async def test_deny_stops_the_step_and_a_checkpoint_for_the_step_follows(tool_log: Path) -> None:
    decisions = {
        "write:tool_call:write_report": {"decision": "deny", "feedback": "no writing today"},
        "write:tool_denied": {"decision": "edit", "edited": "A report a person wrote."},
    }
    done = await run(agent(), research_then_write, inputs={"topic": "t"}, options=RunOptions(decisions=decisions))
    assert done.status == "completed"
    assert runs(tool_log) == []
    assert done.state["report"] == "A report a person wrote."
    assert [o.reason for o in done.of(ev.CheckpointOpened)] == ["tool_call", "tool_denied"]
    assert done.of(ev.ToolCallFinished)[-1].outcome == "denied"


async def test_auto_reject_returns_the_rejection_to_the_model(tool_log: Path) -> None:
    done = await run(agent(), research_then_write, inputs={"topic": "t"}, options=RunOptions(auto="reject"))
    assert done.status == "completed"
    assert runs(tool_log) == []
    assert "Rejected automatically" in tool_messages(done.llm.requests[-1])[-1]


async def test_bad_calls_are_told_to_the_model_not_run(tool_log: Path) -> None:
    def clumsy(request: LLMRequest) -> Reply:
        if turn_of(request) == 0:
            return Reply(
                "",
                tool_calls=(
                    ModelToolCall("a", "nosuch", "{}"),
                    ModelToolCall("b", "search", "{not json"),
                    ModelToolCall("c", "search", json.dumps({"q": 5})),
                    ModelToolCall("d", "search", json.dumps({"q": "ok", "limit": 1})),
                ),
            )
        return Reply("done: " + " | ".join(tool_messages(request)))

    done = await run(agent(), clumsy, inputs={"topic": "t"})
    assert done.status == "completed"
    seen = tool_messages(done.llm.requests[-1])
    assert seen[0].startswith("error: there is no tool 'nosuch' (tools: search, write_report)")
    assert seen[1].startswith("error: arguments are not JSON")
    assert seen[2].startswith("error: ") and "'q'" in seen[2]
    assert seen[3] == '["ok hit 1"]'
    assert [r.policy for r in done.of(ev.ToolCallRequested)] == ["invalid", "invalid", "invalid", "run"]


@pytest.mark.parametrize("how", ["return_to_model", "fail", "ask"])
async def test_a_failing_tool_is_handled_as_on_tool_error_says(how: str) -> None:
    workflow = agent(
        extra=f"on_tool_error: {how}",
        more="- call: tests.core.agent_tools_kit:explode\n        side_effects: false",
    )

    def script(request: LLMRequest) -> Reply:
        if turn_of(request) == 0:
            return Reply("", tool_calls=(call("explode", "x1", reason="kaput"),))
        return Reply("after: " + tool_messages(request)[-1])

    decisions = {"write:escalation": {"decision": "edit", "edited": "a result a person gave"}}
    done = await run(workflow, script, inputs={"topic": "t"}, options=RunOptions(decisions=decisions))
    if how == "return_to_model":
        assert done.status == "completed"
        assert done.state["report"] == "after: error: tool 'explode' failed: RuntimeError: kaput"
    elif how == "fail":
        assert done.status == "failed"
        assert "tool 'explode' at 'write' failed: RuntimeError: kaput" in done.of(ev.SessionFailed)[-1].error
    else:
        assert done.status == "completed"
        assert done.state["report"] == "after: a result a person gave"
        assert done.of(ev.ToolCallFinished)[-1].outcome == "supplied"


async def test_calls_of_one_turn_run_at_once() -> None:
    workflow = agent(more="- call: tests.core.agent_tools_kit:meet\n        side_effects: false")

    def script(request: LLMRequest) -> Reply:
        if turn_of(request) == 0:
            pair = (call("meet", "m1", name="a", other="b"), call("meet", "m2", name="b", other="a"))
            return Reply("", tool_calls=pair)
        return Reply(" & ".join(tool_messages(request)))

    done = await run(workflow, script, inputs={"topic": "t"})
    assert done.status == "completed"
    assert done.state["report"] == "a met b & b met a"


async def test_max_turns_ends_degraded_at_a_checkpoint_and_results_are_cut_to_size() -> None:
    workflow = agent(
        extra="max_turns: 2\n    max_result_chars: 100",
        more="- call: tests.core.agent_tools_kit:long_text\n        side_effects: false",
    )

    def forever(request: LLMRequest) -> Reply:
        return Reply(f"turn {turn_of(request) + 1}", tool_calls=(call("long_text", f"l{turn_of(request)}"),))

    done = await run(workflow, forever, inputs={"topic": "t"})
    assert done.status == "degraded"
    assert len(done.llm.requests) == 2
    assert [o.reason for o in done.of(ev.CheckpointOpened)] == ["max_turns"]
    assert done.state["report"] == "turn 2"
    content = tool_messages(done.llm.requests[-1])[-1]
    assert content == "x" * 100 + "\n[truncated: the first 100 of 5000 characters]"


async def test_resume_serves_committed_turns_from_the_record_and_never_reruns_a_committed_call(
    tool_log: Path,
) -> None:
    workflow = agent()
    first = await run(workflow, research_then_write, inputs={"topic": "tides"}, options=RunOptions(decisions={}))
    assert first.status == "paused"  # waiting on the approval of write_report
    assert len(first.llm.requests) == 2
    decisions = {"write:tool_call:write_report": "approve"}
    resumed = await run(
        workflow, research_then_write, history=first.history(), options=RunOptions(decisions=decisions)
    )
    assert resumed.status == "completed"
    assert len(resumed.llm.requests) == 1  # only the turn after the approval is new
    assert [c.replayed for c in resumed.of(ev.LLMCallFinished)] == [True, True, False]
    assert runs(tool_log) == ["write_report out/tides.md new Tides rise."]


async def test_a_side_effect_with_an_intent_and_no_result_is_ambiguous_and_a_person_decides(tool_log: Path) -> None:
    workflow = agent()
    done = await run(workflow, research_then_write, inputs={"topic": "tides"})
    assert done.status == "completed"
    # the record as a runner killed while write_report ran would have left it
    kept = []
    for env in done.sink.envelopes():
        if isinstance(env.event, ev.ToolCallFinished) and env.event.tool == "write_report":
            break
        kept.append(env)
    from baton.core.runner.history import History

    history = History.from_envelopes(kept)
    assert len(runs(tool_log)) == 1
    unattended = await run(workflow, research_then_write, history=history, options=RunOptions(auto="approve"))
    assert unattended.status == "paused"
    assert len(runs(tool_log)) == 1
    decisions = {"write:ambiguous": {"decision": "skip"}}
    history = History.from_envelopes(kept)
    settled = await run(workflow, research_then_write, history=history, options=RunOptions(decisions=decisions))
    assert settled.status == "completed"
    assert len(runs(tool_log)) == 1
    assert "error: the call may or may not have run" in tool_messages(settled.llm.requests[-1])[-1]


DELEGATING = """
name: manage
state:
  topic: str
  report: str
inputs: [topic]
models:
  cheap: test/cheap
  dear: test/dear
defaults:
  model: dear
steps:
  - id: lead
    kind: agent
    reads: [topic]
    writes: [report]
    prompt: "Lead the work on {topic}."
    tools:
      - step:
          id: helper
          model: cheap
          system: "You dig things up."
          tools:
            - call: tests.core.agent_tools_kit:search
              side_effects: false
        description: "Give the helper a research task."
"""


def manager_and_helper(request: LLMRequest) -> Reply:
    if request.model == "test/dear":
        if turn_of(request) == 0:
            tasks = (call("helper", "h1", task="find tides"), call("helper", "h2", task="find moons"))
            return Reply("", tool_calls=tasks)
        return Reply("lead: " + " + ".join(tool_messages(request)))
    if turn_of(request) == 0:
        task = str(request.messages[-1]["content"])
        return Reply("", tool_calls=(call("search", "s1", q=task.split()[-1], limit=1),))
    return Reply("helper found " + tool_messages(request)[-1])


async def test_an_agent_delegates_to_a_sub_agent_that_runs_as_a_child_step_with_its_own_tools() -> None:
    workflow = flow(DELEGATING)
    done = await run(workflow, manager_and_helper, inputs={"topic": "sea"})
    assert done.status == "completed"
    assert done.state["report"] == 'lead: helper found ["tides hit 1"] + helper found ["moons hit 1"]'
    completed = [c.step for c in done.of(ev.StepCompleted)]
    assert completed == ["lead/helper#1", "lead/helper#2", "lead"] or completed == [
        "lead/helper#2",
        "lead/helper#1",
        "lead",
    ]
    helper_calls = [c for c in done.of(ev.LLMCallFinished) if c.step.startswith("lead/helper")]
    assert {c.model for c in helper_calls} == {"test/cheap"} and len(helper_calls) == 4
    requested = {r.step: r.tool for r in done.of(ev.ToolCallRequested)}
    assert requested["lead"] == "helper" and requested["lead/helper#1"] == "search"

    resumed = await run(workflow, manager_and_helper, history=done.history())
    assert resumed.status == "completed"
    assert resumed.llm.requests == []


async def test_a_revoked_grant_asks_again(tool_log: Path) -> None:
    from baton.core.commands import Command

    explode = "- call: tests.core.agent_tools_kit:explode\n        side_effects: false\n        approval: always"
    workflow = agent(more=explode)

    def script(request: LLMRequest) -> Reply:
        turn = turn_of(request)
        if turn == 2:
            return Reply("", tool_calls=(call("explode", "x2"),))
        if turn < 4:
            return Reply("", tool_calls=(call("write_report", f"w{turn}", path=f"reports/{turn}.md", text="x"),))
        return Reply("done")

    granting = {"write:tool_call:write_report": "always"}
    first = await run(workflow, script, inputs={"topic": "t"}, options=RunOptions(decisions=granting))
    assert first.status == "paused"  # the explode call asks, and the decisions say nothing of it
    assert [r.policy for r in first.of(ev.ToolCallRequested)] == ["ask", "granted", "ask"]

    revoke = Command(kind="revoke", target="write_report", by="ann")
    decisions = {
        "write:tool_call:write_report": "approve",
        "write:tool_call:explode": {"decision": "reject", "feedback": "no"},
    }
    again = await run(
        workflow, script, history=first.history(), options=RunOptions(decisions=decisions), commands=[revoke]
    )
    assert again.status == "completed", again.of(ev.SessionFailed)
    changes = [(g.tool, g.granted, g.by) for g in again.of(ev.ToolGrantChanged)]
    assert changes == [("write_report", False, "ann")]
    assert [(r.call_id, r.policy) for r in again.of(ev.ToolCallRequested)] == [("w3", "ask")]
    assert len(runs(tool_log)) == 3

    nothing = Command(kind="revoke", target="search", by="ann")
    refused = await run(workflow, script, history=again.history(), commands=[nothing])
    assert refused.of(ev.ToolGrantChanged) == []
