"""A decision recorded while no runner acts on it is acted on exactly once when the session resumes.

The runner persists `DecisionMade` before it acts; if it dies in between, the log holds a decision that was
never applied. These tests put the session in exactly that state through the store (the same append the
runner uses), with no runner running, then resume it and check the decision was applied once and only once.
"""

from __future__ import annotations

from typing import Any

import pytest

from baton.core import events as ev
from baton.core.commands import Command, decide
from baton.core.runner import RunOptions
from tests.core.hitl_support import (
    AGENT,
    calls,
    events,
    of_kind,
    start_fixture,  # noqa: F401 - the `start` fixture
    statuses,
)
from tests.helpers import Session


async def _stopped_at_checkpoint(start: Any, flow: str = AGENT, step: str = "write", **kwargs: Any) -> Session:
    s = await start(flow, **kwargs)
    await s.checkpoint(step)
    assert s.host.runner is not None
    s.host.runner.cancel("cancelled: the runner stopped")
    assert await s.finish() == "cancelled"
    return s


async def _record(s: Session, decision: ev.DecisionMade) -> None:
    """What a runner that died right after persisting the decision leaves behind."""
    await s.store.append(s.id, await s.store.last_seq(s.id) + 1, [decision])


def _made(decision: str, **details: Any) -> ev.DecisionMade:
    return ev.DecisionMade(step="write", checkpoint_id="write:review:1", decision=decision, by="tester", **details)


async def test_a_recorded_approve_is_applied_once(start) -> None:
    s = await _stopped_at_checkpoint(start)
    output = (await s.view()).checkpoints["write:review:1"].output
    await _record(s, _made("approve"))
    view = await s.view()
    assert view.open_checkpoints == []
    await s.resume()
    assert await s.finish() == "completed"
    log = await events(s)
    assert len(of_kind(log, ev.DecisionMade, "write")) == 1
    assert len(of_kind(log, ev.CheckpointOpened, "write")) == 1
    assert len(of_kind(log, ev.StepCompleted, "write")) == 1
    assert len(calls(log, "write")) == 1
    assert (await s.view()).state["draft"] == output


async def test_a_recorded_reject_reruns_exactly_once_with_its_feedback(start) -> None:
    s = await _stopped_at_checkpoint(start)
    await _record(s, _made("reject", feedback="Cite a source."))
    await s.resume()
    cp = await s.checkpoint("write")
    assert cp.checkpoint_id == "write:review:2"
    await s.decide(cp, "approve")
    assert await s.finish() == "completed"
    log = await events(s)
    write_calls = calls(log, "write")
    assert len(write_calls) == 2
    assert "Cite a source." in write_calls[1].request["messages"][-1]["content"]
    assert [o.checkpoint_id for o in of_kind(log, ev.CheckpointOpened, "write")] == ["write:review:1", "write:review:2"]
    assert [d.decision for d in of_kind(log, ev.DecisionMade, "write")] == ["reject", "approve"]


@pytest.mark.parametrize(
    ("decision", "details", "expect"),
    [
        ("edit", {"edited": "Recorded edit.", "diff": "-a\n+b\n"}, {"write": "completed", "extra": "completed"}),
        ("reroute", {"target": "polish"}, {"write": "completed", "extra": "skipped"}),
        ("skip", {"supplied": {"draft": "Supplied."}}, {"write": "skipped", "extra": "completed"}),
    ],
)
async def test_other_recorded_decisions_are_applied_once(
    start, decision: str, details: dict[str, Any], expect: dict[str, str]
) -> None:
    s = await _stopped_at_checkpoint(start)
    await _record(s, _made(decision, **details))
    await s.resume()
    assert await s.finish() == "completed"
    log = await events(s)
    view = await s.view()
    assert {k: statuses(view)[k] for k in expect} == expect
    assert len(of_kind(log, ev.DecisionMade, "write")) == 1
    assert len(of_kind(log, ev.CheckpointOpened, "write")) == 1
    assert len(calls(log, "write")) == 1
    assert len(of_kind(log, ev.StepCompleted, "write")) + len(of_kind(log, ev.StepSkipped, "write")) == 1
    if decision == "edit":
        assert view.state["draft"] == "Recorded edit."
    if decision == "skip":
        assert view.state["draft"] == "Supplied."
    if decision == "reroute":
        assert len(of_kind(log, ev.Rerouted, "write")) == 1


async def test_a_recorded_retry_on_another_model_runs_it_once(start) -> None:
    s = await _stopped_at_checkpoint(start)
    await _record(s, _made("retry_model", model="strong"))
    await s.resume()
    cp = await s.checkpoint("write")
    assert cp.checkpoint_id == "write:review:2" and cp.context["model"] == "strong"
    await s.decide(cp, "approve")
    assert await s.finish() == "completed"
    assert [c.model for c in calls(await events(s), "write")] == ["mock/fast", "mock/strong"]


async def test_a_decision_sent_while_no_runner_runs_is_acted_on_at_resume(start) -> None:
    s = await _stopped_at_checkpoint(start)
    command_id = await s.store.send(s.id, decide("write:review:1", "approve", by="tester"))
    assert await s.store.command_status(command_id) == ("new", "")
    await s.resume()
    assert await s.finish() == "completed"
    assert (await s.store.command_status(command_id))[0] == "done"
    made = of_kind(await events(s), ev.DecisionMade, "write")
    assert [(d.decision, d.command_id) for d in made] == [("approve", command_id)]


async def test_a_second_answer_to_a_decided_checkpoint_is_refused(start) -> None:
    s = await start(AGENT)
    cp = await s.checkpoint("write")
    await s.decide(cp, "reject", feedback="again")
    status, reason = await s.decide(cp, "approve")
    assert status == "rejected" and reason == "checkpoint 'write:review:1' was already decided"
    await s.decide(await s.checkpoint("write"), "approve")
    assert await s.finish() == "completed"


async def test_a_waiting_step_mode_checkpoint_comes_back_after_a_stop(start) -> None:
    s = await _stopped_at_checkpoint(start, options=RunOptions(step_mode=True))
    assert [c.checkpoint_id for c in (await s.view()).open_checkpoints] == ["write:step_mode:1"]
    await s.resume(options=RunOptions(step_mode=False))
    cp = await s.checkpoint("write")
    assert cp.checkpoint_id == "write:step_mode:1"
    await s.wait_for(lambda v: v.status == "running")
    await s.decide(cp, "approve")
    review = await s.checkpoint("write")
    assert review.checkpoint_id == "write:review:1"
    await s.decide(review, "approve")
    assert await s.finish() == "completed"
    log = await events(s)
    assert len(of_kind(log, ev.CheckpointOpened, "write")) == 2
    assert of_kind(log, ev.CheckpointOpened, "extra") == []


async def test_pause_command_lets_running_branches_finish(start) -> None:
    from tests.core.test_hitl_steps import PARALLEL

    slow = PARALLEL.replace("{id: pro, kind: agent, model: fast", "{id: pro, kind: agent, model: strong")
    slow = slow.replace(
        "strong: {model: mock/strong, mock: {min_tokens: 8, max_tokens: 16}}",
        "strong: {model: mock/strong, mock: {min_tokens: 8, max_tokens: 16, latency_s: 1.0}}",
    )
    s = await start(slow)
    cp = await s.checkpoint("views/slow")
    assert (await s.view()).step("views/pro").status != "completed"
    assert await s.command(Command(kind="pause", by="tester")) == ("done", "")
    assert await s.finish() == "paused"
    view = await s.view()
    assert statuses(view)["views/pro"] == "completed" and statuses(view)["views/con"] == "completed"
    assert [c.checkpoint_id for c in view.open_checkpoints] == [cp.checkpoint_id]
    await s.resume()
    await s.wait_for(lambda v: v.status == "running")
    await s.decide(await s.checkpoint("views/slow"), "approve")
    assert await s.finish() == "completed"
    assert len(calls(await events(s), "views/pro")) == 1
